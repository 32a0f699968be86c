"""Outgoing calls (UAC): INVITE, responses, CANCEL, redirects, auth (RFC 3261 §13.2, §9.1, §8.1.3.4, §22)."""

from intercom.sip.message import Message, make_response, lookup
from intercom.sip.dialog import Dialog
from intercom.sip.auth import DigestError
from intercom.sip.uri import SyntaxErr, format_name_addr
from intercom.sip.call import Call, DIALING, RINGING_OUT, CONNECTED, ENDED

MAX_REDIRECTS = 3
MAX_AUTH_ROUNDS = 2

# why an attempt ended, by final status (the `reason` of the ended event)
REASONS = ("|486:busy|600:busy|603:declined|404:not_found|480:unavailable|408:no_answer"
           "|487:cancelled|488:incompatible_media|403:forbidden|")     # a message.lookup table


def _q_value(contact):
    """A Contact's q (0-1, §20.10); 1 when absent or unreadable. sorted() is
    stable, so equal q keep their header order."""
    try:
        return float(contact.param("q") or 1)
    except ValueError:
        return 0.0


class OutgoingCall(Call):
    """A call we place. States: dialing -> ringing_out -> connected -> ended."""

    def __init__(self, manager, number, uri):
        Call.__init__(self, manager, number, "uac", uri)
        self.target = uri
        self.call_id = self.ua.random_hex(16) + "@" + self.ua.local_ip
        self.from_tag = self.ua.random_hex(8)
        self.cseq = 0
        self.tried = [uri]
        self.provisional = False       # any 1xx, 100 included: CANCEL is allowed (§9.1)
        self.auth_header = None
        self.auth_rounds = 0

    # --- sending -------------------------------------------------------------------
    def start(self):
        self.send_invite()
        if self.state == ENDED:
            return          # no route to the target: already reported as ended
        self.set_state(DIALING)
        timeout = self.mgr.cfg["calls"]["ring_timeout"]
        if timeout:
            self.start_timer("ring", timeout * 1000)

    def send_invite(self):
        ua = self.ua
        addr = self.mgr.first_hop(self.target)
        if addr is None:
            self.end("unresolvable", None)
            return
        transport = ua.layer.transport_to(addr)
        if transport != self.transport:      # a redirect may change it
            self.transport = transport
            self.secure_signalling = transport == "tls"
        self.cseq += 1
        req = Message.request("INVITE", self.target)
        ua.add_via(req)
        req.add("Max-Forwards", "70")
        display = self.mgr.cfg["sip"].get("display_name")
        req.add("From", format_name_addr(display, self.mgr.local_aor(), ";tag=" + self.from_tag))
        req.add("To", "<%s>" % self.tried[0])       # a redirect changes the Request-URI only
        req.add("Call-ID", self.call_id)
        req.add("CSeq", "%d INVITE" % self.cseq)
        req.add("Contact", "<%s>" % ua.contact_uri(self.transport))
        req.add("Allow", ua.ALLOW)
        req.add("User-Agent", ua.USER_AGENT)
        req.add("Content-Type", "application/sdp")
        req.body = self.build_sdp()
        self.offer_sent = req.body
        if self.auth_header is not None:
            req.add(self.auth_header, self.auth.authorization("INVITE", self.target))
        self.invite = req
        self.provisional = False
        self.invite_tx = ua.layer.start_client(req, addr, self)

    # --- commands ------------------------------------------------------------------
    def give_up(self, reason):
        """Stop calling: the call ends for the user now, and a new dial works
        at once. What is left of the INVITE goes to an InviteLeftover: it
        sends the CANCEL now if any provisional (100 included) has arrived,
        else on the first one; ACKs and BYEs an answer that crosses it; and
        the transaction is gone 64*T1 from now whatever the network does."""
        tx = self.invite_tx
        if tx is not None and self.invite is not None:
            from intercom.sip.invite_tu import InviteLeftover     # loaded on first use
            leftover = InviteLeftover(self.mgr, self.invite.cseq[0], invite=self.invite)
            tx.abandon(leftover)
            if self.provisional:
                leftover.cancel(tx)
        self.invite = None
        self.invite_tx = None
        self.finish_attempt(reason, None)

    def hangup(self, reason="local_hangup"):
        if self.state in (DIALING, RINGING_OUT):
            self.give_up("cancelled")
            return True
        return Call.hangup(self, reason)

    def timer_ring(self):
        self.give_up("no_answer")

    def on_bye(self, req, tx):
        """A BYE in the early dialog (some PBXes send one instead of a final
        response): ended like a hang-up, so the INVITE is still CANCELled
        and a late 2xx is ACKed and BYEd, never revived."""
        if self.state in (DIALING, RINGING_OUT):
            tx.respond(make_response(req, 200))
            self.give_up("remote_hangup")
            return
        Call.on_bye(self, req, tx)

    # --- responses -------------------------------------------------------------------
    def on_response(self, tx, resp):
        if tx is self.invite_tx:
            self.on_invite_response(tx, resp)
        else:
            Call.on_response(self, tx, resp)

    def on_timeout(self, tx):
        if tx is self.invite_tx:
            if tx.error is not None:        # no connection / TLS failed (sip.transport.transport_failed)
                self.finish_attempt(tx.error[0], None)
            else:
                self.finish_attempt("timeout", 408)
        else:
            Call.on_timeout(self, tx)

    def on_invite_response(self, tx, resp):
        status = resp.status
        self.signal_ip = resp.source[0]
        if status < 200:
            self.provisional = True
            if status > 100:
                if resp.to.tag and resp.get("contact"):
                    self.dialog = Dialog.as_uac(self.invite, resp)      # early dialog
                if status == 183 and resp.body:
                    self.take_answer(resp.body)                      # early media
                if self.state == DIALING:
                    self.set_state(RINGING_OUT, early_media=bool(status == 183 and resp.body))
            return
        if status < 300:
            return self.on_2xx(tx, resp)
        if 300 <= status < 400 and self.redirect(resp):
            return
        if status in (401, 407) and self.authenticate(resp):
            return
        self.finish_attempt(lookup(REASONS, str(status), "failed"), status)

    def on_2xx(self, tx, resp):
        if self.dialog is None or self.dialog.remote_tag != resp.to.tag:
            self.dialog = Dialog.as_uac(self.invite, resp)
        else:
            self.dialog.refresh_target(resp)
            self.dialog.route_set = list(reversed(resp.get_all("record-route")))
        # the dialog now holds all the INVITE was kept for (CANCEL, §12.1.2)
        self.invite = None
        self.send_ack(tx, resp)
        self.stop_timer("ring")
        if not self.take_answer(resp.body):
            self.send_bye()
            return self.finish_attempt("incompatible_media", 488)
        self.offer_sent = None
        self.set_state(CONNECTED)
        self.mgr.on_connected(self)

    def redirect(self, resp):
        """§8.1.3.4: follow a 3xx Contact, at most MAX_REDIRECTS times, never a loop."""
        if len(self.tried) > MAX_REDIRECTS:
            return False
        try:
            contacts = resp.contacts
        except SyntaxErr as err:
            # a peer's broken Contact ends this attempt with a reason; never a stuck call
            self.ua.log("warn", "call %d: unusable %d Contact: %s" % (self.id, resp.status, err))
            return False
        for contact in sorted(contacts, key=_q_value, reverse=True):    # §8.1.3.4: highest q first
            uri = str(contact.uri)
            if contact.uri.is_sip and uri not in self.tried:
                self.tried.append(uri)
                self.ua.log("info", "call %d: redirected to %s" % (self.id, uri))
                self.target = uri
                self.dialog = None
                self.send_invite()
                if self.state != ENDED:
                    self.set_state(DIALING, redirected_to=uri)
                return True
        return False

    def authenticate(self, resp):
        """Answer 401/407 on INVITE, but only for the registrar/outbound proxy (§22.3)."""
        if not self.mgr.may_authenticate(resp) or self.auth_rounds >= MAX_AUTH_ROUNDS:
            return False
        if self.auth is None:
            self.auth = self.mgr.digest_client()
        header = "WWW-Authenticate" if resp.status == 401 else "Proxy-Authenticate"
        try:
            stale = self.auth.challenge(resp.get_all(header))
        except DigestError as err:
            self.ua.log("warn", "call %d: %s" % (self.id, err))
            return False
        if self.auth_header is not None and not stale:
            return False           # our credentials were refused
        self.auth_rounds += 1
        self.auth_header = "Authorization" if resp.status == 401 else "Proxy-Authorization"
        self.send_invite()
        return True

    def finish_attempt(self, reason, status):
        self.end(reason, status)
        self.mgr.attempt_ended(self, reason)
