"""Incoming calls (UAS): 100/180, answer, reject, CANCEL, no-answer timeout (RFC 3261 §13.3, §9.2)."""

from intercom.sip.message import make_response
from intercom.sip.dialog import Dialog
from intercom.sip.call import Call, INCOMING, CONNECTED, ENDED, copy_record_route


class IncomingCall(Call):
    """A call that rings here. States: incoming -> connected -> ended."""

    def __init__(self, manager, number, request, tx, waiting=False):
        Call.__init__(self, manager, number, "uas", str(request.from_.uri))
        self.invite = request
        self.invite_tx = tx
        tx.tu = self
        tx.stateful = True
        self.dialog = Dialog.as_uas(request, self.ua.random_hex(8))
        self.answer_body = None
        self.signal_ip = request.source[0]
        if request.source in self.ua.layer.transports:
            self.transport = self.ua.layer.transports[request.source]
            self.secure_signalling = self.transport == "tls"
        if waiting:
            self.extra["waiting"] = True

    def start(self):
        """Check the offer, then send 100 and 180 and start ringing.

        Returns False (after answering 488) when no codec is shared."""
        req = self.invite
        mark = len(self.ua.events)
        if req.body:
            self.answer_body = self.answer_offer(req.body)
            if self.answer_body is None:
                self.invite_tx.respond(make_response(req, 488, to_tag=self.dialog.local_tag))
                self.ua.log("warn", "call from %s refused: no common codec" % self.peer)
                self.state = ENDED
                return False
        self.invite_tx.respond(make_response(req, 100))
        ringing = make_response(req, 180, to_tag=self.dialog.local_tag)
        copy_record_route(req, ringing)
        ringing.add("Contact", "<%s>" % self.ua.contact_uri(self.transport))
        self.invite_tx.respond(ringing)
        self.set_state(INCOMING)
        # The offer's `media` event (emitted by answer_offer) goes after
        # `call incoming`: a listener hears of a call before its media.
        events = self.ua.events
        for _ in range(len(events) - 1 - mark):
            events.append(events.pop(mark))
        timeout = self.mgr.cfg["calls"]["ring_timeout"]
        if timeout:
            self.start_timer("ring", timeout * 1000)
        return True

    def answer(self):
        """Accept the call with 200 OK (our answer, or our offer if the INVITE had none)."""
        if self.state != INCOMING:
            return False
        self.stop_timer("ring")
        body = self.answer_body
        if body is None:
            body = self.build_sdp()           # delayed offer: the answer comes in the ACK
            self.offer_sent = body
        self.send_2xx(self.invite_tx, self.invite, body)
        # only a ringing call answers the INVITE (reject, CANCEL, BYE)
        self.invite = None
        self.answer_body = None
        self.extra.pop("waiting", None)
        self.set_state(CONNECTED)
        self.mgr.on_connected(self)
        return True

    def reject(self, status, reason):
        if self.state != INCOMING:
            return False
        self.invite_tx.respond(make_response(self.invite, status, to_tag=self.dialog.local_tag))
        self.end(reason, status)
        return True

    def hangup(self, reason="local_hangup"):
        if self.state == INCOMING:
            code = self.mgr.cfg["calls"].get("reject_code", 486)
            return self.reject(code, "rejected")
        return Call.hangup(self, reason)

    def timer_ring(self):
        code = self.mgr.cfg["calls"].get("no_answer_code", 480)
        self.reject(code, "no_answer")

    def on_cancel(self):
        """CANCEL while ringing: 487 to the INVITE (the CANCEL got its 200)."""
        if self.state == INCOMING:
            self.invite_tx.respond(make_response(self.invite, 487, to_tag=self.dialog.local_tag))
            self.end("cancelled", 487)
