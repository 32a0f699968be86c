"""One INVITE session in either role: offer/answer, ACK, CANCEL, BYE, re-INVITE, hold (RFC 3261 §13-15, RFC 3264)."""

from intercom.sip.timers import Timed
from intercom.sip.message import make_response
from intercom.sip.call_media import CallMedia
from intercom.sip.auth import DigestError

# States reported in `call` events (DESIGN.md); every transition goes through Call.set_state.
DIALING = "dialing"          # we sent an INVITE, nothing but 100 yet
RINGING_OUT = "ringing_out"  # the callee is alerting (180/183)
INCOMING = "incoming"        # an INVITE arrived; we are ringing (or waiting)
CONNECTED = "connected"      # 2xx sent or received; media flows both ways
ON_HOLD = "on_hold"          # we put the peer on hold (sendonly/inactive)
REMOTE_HOLD = "remote_hold"  # the peer put us on hold
ENDED = "ended"              # final; the call object is about to be forgotten

LIVE = (CONNECTED, ON_HOLD, REMOTE_HOLD)

# On hold no RTP need flow, so the media timeout cannot tell a dead peer:
# an in-dialog OPTIONS this often does (408/481 end the call, §12.2.1.2).
HOLD_PROBE_MS = 30000


class Call(CallMedia, Timed):
    """A call's shared state; the role-specific halves live in CallManager.

    Timers are named deadlines; the manager fires `timer_<name>`."""

    # Our hop's transport, set by the role when not UDP. secure_signalling is
    # THE predicate "this call's signalling travels over TLS" (our INVITE
    # went, or theirs came, on a TLS connection): the condition for SDES
    # keys (RFC 4568 §8.4). Class attributes: no cost per UDP call.
    transport = "udp"
    secure_signalling = False
    want_refresh = False        # our Contact moved while an exchange was pending
    reinvite_holds = True       # our pending re-INVITE changes local_hold (a target refresh does not)

    def __init__(self, manager, number, role, peer):
        self.mgr = manager
        self.ua = manager.ua
        self.id = number
        self.role = role                  # "uac" or "uas"
        self.peer = peer
        self.state = None
        self.dialog = None
        self.invite = None                # the initial INVITE (ours or theirs) until answered
        self.invite_tx = None
        self.media = None
        self.local_hold = False
        self.remote_hold = False
        self.remote_dir = "sendrecv"      # the peer's direction, c=0.0.0.0 folded in
        self.sdp_session = manager.session_id()
        self.sdp_version = 0
        self.last_sdp = None
        self.offer_sent = None            # body of our outstanding offer, if any
        self.reinvite_tx = None           # our pending re-INVITE
        self.pending_2xx = None           # (bytes, addr, interval) until the ACK arrives
        self.auth = None                  # DigestClient once the PBX challenged us
        self.want_hold = None             # hold/resume asked while an exchange was pending
        self.probe_tx = None              # the in-dialog OPTIONS asking a held peer if it lives
        self.bye_after_ack = None         # hang-up asked before the ACK of our 2xx (§15)
        self.extra = {}                   # fields added to every call event (attempt, waiting)
        self.signal_ip = None             # IP the peer's signalling comes from (RTP latch rule)

    # --- state and events -----------------------------------------------------
    def set_state(self, state, **info):
        if state == self.state and not info:
            return
        self.state = state
        if state == ON_HOLD or state == REMOTE_HOLD:
            if self.timers is None or "probe" not in self.timers:
                self.start_timer("probe", HOLD_PROBE_MS)
        else:
            self.stop_timer("probe")
        event = {"event": "call", "id": self.id, "state": state, "peer": self.peer}
        event.update(self.extra)
        event.update(info)
        self.ua.emit(event)

    def end(self, reason, status=None):
        """Report the call as ended (once) and release its timers."""
        if self.state == ENDED:
            return
        self.stop_timers()
        tx = self.reinvite_tx
        if tx is not None:
            # our re-INVITE is still open: it is freed 64*T1 from now at the
            # latest, and a late 2xx is ACKed without reviving the call
            self.reinvite_tx = None
            from intercom.sip.invite_tu import InviteLeftover
            tx.abandon(InviteLeftover(self.mgr, tx.cseq[0], chosen=self.dialog))
        info = {"reason": reason}
        if status is not None:
            info["status"] = status
        self.set_state(ENDED, **info)
        self.mgr.forget(self)

    def live_state(self):
        if self.local_hold:
            return ON_HOLD
        if self.remote_hold:
            return REMOTE_HOLD
        return CONNECTED

    # --- timers (sip.timers.Timed; the manager fires `timer_<name>`) -----------
    def _now(self):
        return self.ua.now

    def timer_max_duration(self):
        self.hangup("max_duration")

    def timer_probe(self):
        if self.state == ON_HOLD or self.state == REMOTE_HOLD:
            if self.probe_tx is None:
                self.probe_tx = self.send_in_dialog("OPTIONS")
            self.start_timer("probe", HOLD_PROBE_MS)

    # --- sending helpers ------------------------------------------------------
    def send_bye(self):
        """BYE; it outlives the call and answers one PBX challenge (§22.3)."""
        self.send_in_dialog("BYE", tu=_Challenged(self))

    def add_credentials(self, req, challenge):
        """Answer a 401/407 from the registrar/outbound proxy; False if we may not."""
        if not self.mgr.may_authenticate(challenge):
            return False
        if self.auth is None:
            self.auth = self.mgr.digest_client()
        header = "WWW-Authenticate" if challenge.status == 401 else "Proxy-Authenticate"
        try:
            self.auth.challenge(challenge.get_all(header))
        except DigestError as err:
            self.ua.log("warn", "call %d: %s" % (self.id, err))
            return False
        name = "Authorization" if challenge.status == 401 else "Proxy-Authorization"
        req.add(name, self.auth.authorization(req.method, req.uri, req.body))
        return True

    def send_in_dialog(self, method, body=None, tu=None, challenge=None):
        """Send a request inside the dialog through a client transaction;
        `challenge` is a 401/407 to the previous attempt, answered here."""
        req, hop = self.dialog.new_request(self.ua, method)
        if method == "INVITE":
            req.add("Contact", "<%s>" % self.ua.contact_uri(self.transport))
            req.add("Allow", self.ua.ALLOW)
        req.add("User-Agent", self.ua.USER_AGENT)
        if body is not None:
            req.add("Content-Type", "application/sdp")
            req.body = body
        if challenge is not None and not self.add_credentials(req, challenge):
            return None
        addr = self.mgr.resolve(hop)
        if addr is None:
            return None
        return self.ua.layer.start_client(req, addr, tu or self)

    def send_ack(self, tx, response):
        """ACK a 2xx end to end (§13.2.2.4): new branch, CSeq of the INVITE.
        Our INVITEs always carry the offer, so the ACK never carries SDP.

        The INVITE transaction stays Accepted for 64*T1 (RFC 6026) and hands
        retransmissions of the 2xx to its TU; from now on that TU is a small
        object re-sending this ACK, not the call, which may end before."""
        number = tx.cseq[0]          # our INVITE's, never a number the peer made up
        from intercom.sip.invite_tu import InviteLeftover, ack_for_2xx    # first answer: loaded then
        ack = ack_for_2xx(self.mgr, self.dialog, number, tx.request)
        tx.tu = InviteLeftover(self.mgr, number, chosen=self.dialog, chosen_ack=ack)

    # --- in-call commands -----------------------------------------------------
    def hangup(self, reason="local_hangup"):
        """BYE a live call (the BYE transaction runs on after the call ends)."""
        if self.state in LIVE:
            if self.pending_2xx is not None and self.role == "uas" and self.offer_sent is None:
                # §15: no BYE before the ACK of our 2xx (or its timeout)
                self.bye_after_ack = reason
                return True
            self.send_bye()
            self.end(reason)
            return True
        return False

    def hold(self, on):
        """Local hold (a=sendonly) or resume (a=sendrecv) by re-INVITE (§14)."""
        if self.state not in LIVE or self.local_hold == on:
            return False
        if self.reinvite_tx is not None or self.pending_2xx is not None:
            self.want_hold = on          # sent when the pending exchange completes
            return True
        self.local_hold = on
        self.send_reinvite()
        return True

    def refresh_target(self):
        """Our Contact moved (the TCP/TLS connection failed and a new one took
        its place, or the registrar saw a new NAT port): a target-refresh
        re-INVITE (§12.2.1.2) with the session as it is, so the peer's next
        request (its BYE) comes to where we are now, not to nobody."""
        if self.state not in LIVE:
            return
        self.ua.log("info", "call %d: our Contact moved; target refresh (re-INVITE)" % self.id)
        if self.reinvite_tx is not None or self.pending_2xx is not None:
            self.want_refresh = True     # sent when the pending exchange completes
            return
        self.send_reinvite(holds=False)

    def send_reinvite(self, holds=True):
        if holds is not self.reinvite_holds:
            # set on the instance only once a refresh was sent: a hold/resume
            # re-INVITE adds nothing to the call's attributes mid-call
            self.reinvite_holds = holds
        body = self.build_sdp()
        self.offer_sent = body
        self.reinvite_tx = self.send_in_dialog("INVITE", body)
        if self.reinvite_tx is not None:
            # Timer B stops at the first provisional: a peer that answers
            # 100 and nothing more must not block hold/resume for ever
            self.start_timer("reinvite_wait", 64 * self.ua.layer.timers.t1)

    def timer_reinvite_wait(self):
        if self.reinvite_tx is not None:
            self.send_bye()
            self.end("timeout", 408)

    def timer_glare(self):
        if self.state in LIVE:
            self.send_reinvite(self.reinvite_holds)

    def on_reinvite_response(self, tx, resp):
        """Responses to our re-INVITE (§14.1)."""
        status = resp.status
        if status < 200:
            return
        if tx is self.reinvite_tx:
            self.reinvite_tx = None
            self.stop_timer("reinvite_wait")
        if status in (401, 407) and tx.request.get("authorization") is None \
                and tx.request.get("proxy-authorization") is None:
            self.reinvite_tx = self.send_in_dialog("INVITE", tx.request.body, challenge=resp)
            if self.reinvite_tx is not None:
                return
        if status < 300:
            self.dialog.refresh_target(resp)
            self.send_ack(tx, resp)
            if resp.body and not self.take_answer(resp.body):
                # an answer we cannot use leaves no working media (§14.1):
                # end the call rather than go on with the old stream
                self.send_bye()
                return self.end("incompatible_media", 488)
            self.set_state(self.live_state())
        elif status == 491:
            # §14.1: the Call-ID owner waits 2.1-4 s, the other side 0-2 s
            owner = self.role == "uac"
            span = self.mgr.random_ms(1900 if owner else 2000)
            self.start_timer("glare", (2100 if owner else 0) + span)
            return
        elif status in (408, 481):
            self.send_bye()
            return self.end("dialog_lost", status)
        else:
            # the re-INVITE failed; the session stays as it was (§14.1)
            if self.reinvite_holds:
                self.local_hold = not self.local_hold
            self.ua.emit({"event": "error", "message": "call %d: re-INVITE refused with %d" % (self.id, status)})
        self._apply_wanted_hold()
        if self.reinvite_tx is None:
            self.mgr.exchange_done(self)

    def _apply_wanted_hold(self):
        pending = self.want_hold
        self.want_hold = None
        if pending is not None and pending != self.local_hold:
            self.local_hold = pending
            if self.want_refresh:
                self.want_refresh = False    # this re-INVITE carries the new Contact too
            self.send_reinvite()
        elif self.want_refresh:
            self.want_refresh = False
            self.send_reinvite(holds=False)

    # --- UAS side of a confirmed dialog -------------------------------------------
    def send_2xx(self, tx, request, body):
        """200 to an INVITE, retransmitted by us until the ACK (§13.3.1.4)."""
        resp = make_response(request, 200, to_tag=self.dialog.local_tag)
        copy_record_route(request, resp)
        resp.add("Contact", "<%s>" % self.ua.contact_uri(self.transport))
        resp.add("Allow", self.ua.ALLOW)
        resp.add("Content-Type", "application/sdp")
        resp.body = body
        t1 = self.ua.layer.timers.t1
        self.pending_2xx = (tx.respond(resp), tx.addr, t1)
        self.start_timer("retransmit_2xx", t1)
        self.start_timer("ack_wait", 64 * t1)

    def timer_retransmit_2xx(self):
        if self.pending_2xx is None:
            return
        data, addr, interval = self.pending_2xx
        self.ua.send_raw(data, addr)
        interval = min(2 * interval, self.ua.layer.timers.t2)
        self.pending_2xx = (data, addr, interval)
        self.start_timer("retransmit_2xx", interval)

    def timer_ack_wait(self):
        # §13.3.1.4: no ACK within 64*T1 -> the session is torn down with BYE
        self.pending_2xx = None
        self.stop_timer("retransmit_2xx")
        self.send_bye()
        self.end("no_ack", 408)

    def on_ack(self, ack):
        if self.pending_2xx is None:
            return
        self.pending_2xx = None
        self.stop_timer("retransmit_2xx")
        self.stop_timer("ack_wait")
        if self.bye_after_ack is not None:
            self.send_bye()
            return self.end(self.bye_after_ack)
        if self.offer_sent is not None and ack.body:
            if not self.take_answer(ack.body):
                self.send_bye()
                return self.end("incompatible_media", 488)
        self.offer_sent = None
        self._apply_wanted_hold()

    def on_peer_reinvite(self, req, tx):
        """A re-INVITE from the peer: new media, hold or resume (§14.2)."""
        if self.state not in LIVE:
            # §14.2: an INVITE inside a dialog whose first INVITE has no final
            # response yet gets 500 + Retry-After (0-10 s); nothing goes live
            # without answer()
            resp = make_response(req, 500)
            resp.add("Retry-After", str(self.mgr.random_ms(11000) // 1000))
            tx.respond(resp)
            return
        if self.reinvite_tx is not None or self.pending_2xx is not None:
            tx.respond(make_response(req, 491))
            return
        self.dialog.refresh_target(req)
        if req.body:
            body = self.answer_offer(req.body)
            if body is None:
                tx.respond(make_response(req, 488))
                return
            self.offer_sent = None
        else:
            body = self.build_sdp()          # they want our offer; the answer is in the ACK
            self.offer_sent = body
        self.send_2xx(tx, req, body)
        self.set_state(self.live_state())

    def on_bye(self, req, tx):
        tx.respond(make_response(req, 200))
        if self.state == INCOMING and self.invite_tx is not None:
            self.invite_tx.respond(make_response(self.invite, 487, to_tag=self.dialog.local_tag))
        self.end("remote_hangup")

    def on_info(self, req, tx):
        """SIP INFO DTMF (application/dtmf-relay, application/dtmf)."""
        ctype = (req.get("content-type") or "").split(";")[0].strip().lower()
        digit = None
        try:
            text = req.body.decode() if req.body else ""
        except UnicodeError:
            tx.respond(make_response(req, 400, "INFO body is not UTF-8"))
            return
        if ctype == "application/dtmf-relay":
            for line in text.replace("\r", "").split("\n"):
                key, _, value = line.partition("=")
                if key.strip().lower() == "signal":
                    digit = value.strip()
        elif ctype == "application/dtmf":
            digit = text.strip()
        else:
            resp = make_response(req, 415)
            resp.add("Accept", "application/dtmf-relay, application/dtmf")
            tx.respond(resp)
            return
        tx.respond(make_response(req, 200))
        if self.state not in LIVE:
            # digits count only in a confirmed dialog, as RFC 4733 ones do:
            # no PIN attempt before somebody answered
            self.ua.log("info", "call %d: INFO digit before the answer ignored" % self.id)
            return
        if digit and len(digit) == 1 and digit in "0123456789*#ABCDabcd":
            self.mgr.on_dtmf(self, digit.upper())

    # --- transaction-user callbacks -------------------------------------------
    def on_response(self, tx, resp):
        """Responses to our in-dialog requests (the INVITE's own are the roles')."""
        if self.state == ENDED:
            if tx.is_invite and 200 <= resp.status < 300:
                self.send_ack(tx, resp)       # the answer to a re-INVITE crossed our BYE
            return
        if tx.is_invite:
            self.on_reinvite_response(tx, resp)
        elif tx is self.probe_tx and resp.status >= 200:
            self.probe_tx = None
            if resp.status == 481 or resp.status == 408:
                # §12.2.1.2: the dialog is gone; a BYE is pointless after 481
                if resp.status == 408:
                    self.send_bye()
                self.end("dialog_lost", resp.status)

    def on_timeout(self, tx):
        if tx is self.reinvite_tx:
            self.reinvite_tx = None
            self.send_bye()
            self.end("timeout", 408)
        elif tx is self.probe_tx:
            self.probe_tx = None
            self.send_bye()
            self.end("dialog_lost", 408)


def copy_record_route(request, response):
    """§12.1.1: a UAS copies Record-Route into responses that make a dialog."""
    for route in request.get_all("record-route"):
        response.add("Record-Route", route)


class _Challenged:
    """Transaction user for a BYE: answers one 401/407, then lets it be."""

    def __init__(self, call):
        self.call = call
        self.retried = False

    def on_response(self, tx, resp):
        if resp.status in (401, 407) and not self.retried:
            self.retried = True
            self.call.send_in_dialog(tx.request.method, tx.request.body or None, tu=self, challenge=resp)

    def on_timeout(self, tx):
        pass
