"""Call manager: request routing, busy, call waiting, targets, ghost-call filter (RFC 3261 §8.2, §12.2.2)."""

from intercom.ticks import earliest
from intercom.sip.message import make_response
from intercom.sip.uri import parse_uri, SyntaxErr, unescape, is_unicast_ipv4
from intercom.sip.dialog import uri_addr
from intercom.sip.auth import DigestClient
from intercom.sip.call import INCOMING, LIVE, ENDED, CONNECTED, ON_HOLD, REMOTE_HOLD
from intercom.sip.call_out import OutgoingCall
from intercom.sip.call_in import IncomingCall

# attempts that end like this move on to the next target (calls.targets)
NEXT_TARGET_REASONS = ("busy", "no_answer", "timeout", "unavailable", "not_found",
                       "declined", "failed", "forbidden", "incompatible_media", "unresolvable")


class _OrphanTU:
    """Transaction user for requests that outlive their call (BYE, CANCEL)."""

    def on_response(self, tx, resp):
        pass

    def on_timeout(self, tx):
        pass


class CallManager:
    """Every call of the phone; the UA core hands it call-related requests."""

    def __init__(self, ua, cfg, registrar_addr):
        self.ua = ua
        self.cfg = cfg
        self.registrar_addr = registrar_addr
        self.calls = []
        self.next_number = 1
        self.orphan_tu = _OrphanTU()
        self.targets = []            # remaining targets of the current dial sequence
        self.attempt = 0
        self.total = 0
        self.answer_after_hold = None    # a waiting call answered once the first one is held

    # --- helpers used by calls ----------------------------------------------------
    def session_id(self):
        return str(int(self.ua.random_hex(7), 16))

    def random_ms(self, span):
        return int(self.ua.random_hex(4), 16) % span

    def local_aor(self):
        sip = self.cfg["sip"]
        if sip["registrar"]:
            return "sip:%s@%s" % (sip["user"], sip["registrar"])
        return "sip:%s@%s:%d" % (sip["user"], self.ua.contact_host, self.ua.contact_port)

    def resolve(self, uri_text):
        """(ip, port) for a next-hop URI; names go to the registrar (no DNS in
        the core). A URI asking for TCP or TLS (;transport=, sips:) makes that
        the transport to its address (§18.1.1, §26.2)."""
        try:
            host, port, transport = uri_addr(uri_text)
        except SyntaxErr:
            host, port, transport = "", 0, "udp"
        if is_unicast_ipv4(host):
            if transport != "udp":        # never a downgrade: a URI without it changes nothing
                from intercom.sip.transport import set_transport
                set_transport(self.ua, (host, port), transport)
            return host, port
        if host and host[0].isdigit():
            self.ua.log("warn", "refusing to send to %r (no unicast address)" % uri_text)
            return None
        if self.registrar_addr is not None:
            return self.registrar_addr
        self.ua.emit({"event": "error", "message": "cannot resolve %r without DNS; use an IP address" % uri_text})
        return None

    def first_hop(self, uri_text):
        """Out-of-dialog requests go through the registrar (our outbound proxy) when there is one."""
        if self.registrar_addr is not None:
            return self.registrar_addr
        return self.resolve(uri_text)

    def may_authenticate(self, challenge):
        """Credentials go only to the registrar / outbound proxy (issue: no leaks to peers)."""
        ok = self.registrar_addr is not None and tuple(challenge.source) == tuple(self.registrar_addr)
        if not ok:
            self.ua.log("warn", "not answering a %d challenge from %s:%d" % (
                challenge.status, challenge.source[0], challenge.source[1]))
        return ok

    def digest_client(self):
        sip = self.cfg["sip"]
        return DigestClient(sip.get("auth_user") or sip["user"], sip["password"],
                            lambda: self.ua.random_hex(16))

    def forget(self, call):
        if call in self.calls:
            self.calls.remove(call)
        if call is self.answer_after_hold:
            self.answer_after_hold = None
        else:
            self.exchange_done(call)     # the call we were holding is gone: answer now

    def exchange_done(self, call):
        """A call's re-INVITE exchange is over (or the call ended): a waiting
        call answered meanwhile is answered now, once the first call's
        hold has completed or failed, so the two never share the stream."""
        waiting = self.answer_after_hold
        if waiting is not None and call is not waiting:
            self.answer_after_hold = None
            waiting.answer()

    def _new_number(self):
        number = self.next_number
        self.next_number += 1
        return number

    # --- commands --------------------------------------------------------------------
    def dial(self, uri=None):
        """Call uri, or the configured targets in order."""
        targets = [uri] if uri else list(self.cfg["calls"]["targets"])
        if not targets:
            self.ua.emit({"event": "error", "message": "nothing to dial: calls.targets is empty"})
            return None
        if any(c.state != ENDED for c in self.calls):
            self.ua.emit({"event": "error", "message": "already in a call"})
            return None
        for target in targets:
            try:
                if not parse_uri(target).is_sip:
                    raise SyntaxErr("not a sip: URI")
            except SyntaxErr as err:
                self.ua.emit({"event": "error", "message": "cannot dial %r: %s" % (target, err)})
                return None
        self.targets = targets[1:]
        self.attempt = 1
        self.total = len(targets)
        return self._place(targets[0])

    def _place(self, uri):
        call = OutgoingCall(self, self._new_number(), uri)
        if self.total > 1:
            call.extra["attempt"] = self.attempt
            call.extra["of"] = self.total
        self.calls.append(call)
        call.start()
        return call

    def attempt_ended(self, call, reason):
        if reason in NEXT_TARGET_REASONS and self.targets:
            uri = self.targets.pop(0)
            self.attempt += 1
            self.ua.log("info", "call %d ended (%s); trying next target %s" % (call.id, reason, uri))
            self._place(uri)
        else:
            self.targets = []

    def find(self, number=None, states=None):
        for call in self.calls:
            if (number is None or call.id == number) and (states is None or call.state in states):
                return call
        return None

    def answer(self, number=None):
        call = self.find(number, (INCOMING,))
        if call is None:
            self.ua.emit({"event": "error", "message": "no ringing call to answer"})
            return False
        other = self.find(None, (CONNECTED, REMOTE_HOLD))
        if other is not None and other is not call and not other.local_hold and other.hold(True):
            # call waiting: hold the first call, answer this one when that
            # hold has completed (exchange_done), never both at once
            self.answer_after_hold = call
            return True
        return call.answer()

    def hangup(self, number=None, reason="local_hangup"):
        """End a call: BYE when live, CANCEL while dialing, reject while ringing.
        `reason` is the ended event's reason for a live call (media_timeout...)."""
        self.targets = []
        call = (self.find(number, (CONNECTED,)) or self.find(number, ("dialing", "ringing_out"))
                or self.find(number, LIVE) or self.find(number, (INCOMING,)))
        if call is None:
            self.ua.emit({"event": "error", "message": "no call to hang up"})
            return False
        return call.hangup(reason)

    def hold(self, on, number=None):
        call = self.find(number, (CONNECTED, "remote_hold") if on else (ON_HOLD,))
        if call is None or not call.hold(on):
            self.ua.emit({"event": "error", "message": "no call to %s" % ("hold" if on else "resume")})
            return False
        return True

    def on_connected(self, call):
        limit = self.cfg["calls"].get("max_duration", 0)
        if limit:
            call.start_timer("max_duration", limit * 1000)
        self.targets = []

    def on_dtmf(self, call, digit):
        # secure: the INFO came over TLS (door.require_secure trusts no other)
        self.ua.emit({"event": "dtmf", "id": call.id, "digit": digit, "via": "info",
                      "secure": call.secure_signalling})

    # --- incoming requests ----------------------------------------------------------
    def by_dialog(self, req):
        for call in self.calls:
            if call.dialog is not None and call.dialog.matches(req, True):
                return call
        return None

    def accepts_from(self, req):
        """Ghost-call protection: who may make this phone ring."""
        rule = self.cfg["calls"]["accept_from"]
        ip = req.source[0]
        if rule == "any":
            allowed = True
        elif rule == "registrar":
            # the PBX sends from its SIP socket: address and port must both match
            allowed = self.registrar_addr is not None and tuple(req.source) == tuple(self.registrar_addr)
        else:
            allowed = ip in rule
        if not allowed:
            return False
        user = parse_uri(req.uri).user
        return user is not None and unescape(user) == self.cfg["sip"]["user"]

    def dialog_call(self, req, tx):
        """The call a mid-dialog request belongs to; else answers it 481 (no
        such dialog, §12.2.2) or 500 (CSeq out of order) and returns None."""
        call = self.by_dialog(req)
        if call is None:
            tx.respond(make_response(req, 481))
        elif not call.dialog.check_remote_cseq(req):
            tx.respond(make_response(req, 500))
            call = None
        else:
            tx.stateful = True       # retransmissions must get the same answer
        return call

    def on_invite(self, req, tx):
        if req.to.tag:
            call = self.dialog_call(req, tx)
            if call is not None:
                call.on_peer_reinvite(req, tx)
            return None
        if not self.accepts_from(req):
            self.ua.log("warn", "refused INVITE from %s:%d for %s (accept_from)" % (
                req.source[0], req.source[1], req.uri))
            return tx.respond(make_response(req, 403, to_tag=self.ua.stateless_tag(req)))
        if not req.get_all("contact"):
            # §8.1.1.8: a request that makes a dialog needs a Contact, or we
            # would have nowhere to send our BYE (RFC 2543 INVITEs may lack
            # one; the ghost-call filter above answers those first)
            return tx.respond(make_response(req, 400, "Missing Contact"))
        live = [c for c in self.calls if c.state != ENDED]
        waiting = False
        if live:
            if self.cfg["calls"]["call_waiting"] and len(live) == 1 and live[0].state in LIVE:
                waiting = True
            else:
                tx.respond(make_response(req, 100))     # as for any INVITE, then busy
                return tx.respond(make_response(req, 486, to_tag=self.ua.stateless_tag(req)))
        call = IncomingCall(self, self._new_number(), req, tx, waiting)
        self.calls.append(call)
        if not call.start():
            self.forget(call)
            return None
        if self.cfg["calls"]["auto_answer"] and not waiting:
            call.answer()
        return None

    def on_ack(self, req):
        call = self.by_dialog(req)
        if call is not None:
            call.on_ack(req)

    def on_bye(self, req, tx):
        call = self.dialog_call(req, tx)
        if call is not None:
            call.on_bye(req, tx)

    def on_cancel(self, req, tx):
        invite_tx = self.ua.layer.invite_for_cancel(req)
        if invite_tx is None:
            return tx.respond(make_response(req, 481))
        tx.stateful = True
        call = invite_tx.tu          # the IncomingCall, or None if it was refused
        # §9.2: the same To tag as the responses to the INVITE
        tag = call.dialog.local_tag if call is not None else self.ua.stateless_tag(req)
        tx.respond(make_response(req, 200, to_tag=tag))
        if call is not None:
            call.on_cancel()

    def on_info(self, req, tx):
        call = self.dialog_call(req, tx)
        if call is not None:
            call.on_info(req, tx)

    # --- time ----------------------------------------------------------------------
    def next_deadline(self):
        best = None
        for call in self.calls:
            best = earliest(best, call.deadline(), self.ua.now)
        return best

    def tick(self, now):
        # index loop: a call may end (and leave the list) while its timer fires,
        # and copying the list would allocate on every loop of the audio path
        i = 0
        while i < len(self.calls):
            call = self.calls[i]
            call.fire_due(now)
            if i < len(self.calls) and self.calls[i] is call:
                i += 1
