"""Sans-I/O SIP user agent core: UAS request handling and usages (RFC 3261 §8, §18.1-18.2)."""

from intercom.ticks import earliest, ticks_diff
from intercom.sip.message import ParseError, KNOWN_METHODS, make_response, parse
from intercom.sip.validate import check_request, check_response
from intercom.sip.transaction import Timers, MAGIC_COOKIE, COMPLETED, TERMINATED
from intercom.sip.invite_transaction import ACCEPTED
from intercom.sip.txlayer import TransactionLayer
from intercom.sip.registration import Registration
from intercom.sip.calls import CallManager

ALLOWED = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO")
ALLOW = ", ".join(ALLOWED)


class UserAgent:
    """The whole SIP stack without I/O, in the shape of h11 plus timers.

    Feed it with receive(data, addr, now) and tick(now); drain
    pop_datagram() and next_event(); sleep until next_deadline().
    `random_hex(n)` returns n random hex digits; `log(level, text)` logs."""

    ALLOW = ALLOW
    USER_AGENT = "intercom-upy/0.1"

    def __init__(self, cfg, local_ip, registrar_addr=None, random_hex=None, log=None, now=0):
        sip = cfg["sip"]
        self.cfg = cfg
        self.user = sip["user"]
        self.local_ip = local_ip
        self.local_port = sip["local_port"]
        self.contact_host = local_ip        # corrected by received/rport (RFC 3581)
        self.contact_port = self.local_port
        self.random_hex = random_hex
        self.log = log or (lambda level, text: None)
        self.now = now
        self.outbox = []
        self.events = []
        self.last_sent = now
        self.tag_salt = random_hex(4) if random_hex is not None else "0000"
        self.stats = {"received": 0, "sent": 0, "malformed_dropped": 0,
                      "bad_request_answered": 0, "stray_responses": 0,
                      "answered_statelessly": 0, "overload_refused": 0, "handler_errors": 0}
        self.layer = TransactionLayer(self._send, Timers(
            sip.get("t1_ms", 500), sip.get("t2_ms", 4000), sip.get("t4_ms", 5000)))
        self.layer.now = now
        self.registration = None
        self.calls = CallManager(self, cfg, None)
        if registrar_addr is not None:
            self.set_registrar(registrar_addr)

    # --- the sans-I/O interface ------------------------------------------------
    def receive(self, data, addr, now):
        """Handle one message from addr=(ip, port): a datagram, or one framed
        off a TCP/TLS connection to addr (layer.transport_to(addr) says). Never raises."""
        self._advance(now)
        self.stats["received"] += 1
        try:
            self._receive(data, addr)
        except Exception as err:   # the stack must survive any input; report, don't hide
            self.stats["malformed_dropped"] += 1
            self.log("error", "dropped datagram from %s:%d: %r" % (addr[0], addr[1], err))
            self.emit({"event": "error", "message": "internal error on received message: %r" % err})

    def tick(self, now):
        """Fire every timer that is due at now."""
        self._advance(now)
        self.layer.tick(now)
        self.calls.tick(now)
        self.layer.tick(now)
        reg = self.registration
        due = reg.deadline() if reg is not None else None    # refresh/retry or keep-alive
        if due is not None and ticks_diff(now, due) >= 0:
            reg.on_timer()
            self.layer.tick(now)

    def next_deadline(self):
        """The earliest pending deadline (ticks), or None when idle."""
        best = earliest(self.layer.next_deadline(), self.calls.next_deadline(), self.now)
        if self.registration is not None:
            best = earliest(best, self.registration.deadline(), self.now)
        return best

    def pop_datagram(self):
        """Next (bytes, (ip, port)) to send, or None; layer.transport_to(addr)
        says whether it goes as a UDP datagram or on a TCP/TLS connection."""
        return self.outbox.pop(0) if self.outbox else None

    def next_event(self):
        """Next event dict (each has an "event" key), or None."""
        return self.events.pop(0) if self.events else None

    # --- transports (RFC 3261 §18) -----------------------------------------------
    # --- commands -------------------------------------------------------------
    def set_registrar(self, addr):
        """The registrar's (ip, port) became known (DNS failed at boot, or the
        network changed): registration and outbound calls use it from now on."""
        if not self.cfg["sip"]["registrar"]:
            return
        self.calls.registrar_addr = addr
        transport = self.cfg["sip"].get("transport", "udp")
        if transport != "udp":
            self.layer.transports[addr] = transport
        if self.registration is None:
            self.registration = Registration(self, self.cfg["sip"], addr)
        else:
            self.registration.target = addr

    def register(self):
        if self.registration is None:
            self.emit({"event": "error", "message": "no registrar configured (peer-to-peer mode)"})
            return
        self.registration.start()

    def unregister(self):
        """Start unregistering; True if an unregistered event will follow."""
        return self.registration is not None and self.registration.stop()

    def dial(self, uri=None):
        """Call uri (or the configured targets in turn); progress comes as call events."""
        return self.calls.dial(uri)

    def answer(self, number=None):
        return self.calls.answer(number)

    def hangup(self, number=None, reason="local_hangup"):
        """Hang up call `number` (or the current one); `reason` goes in its ended event."""
        return self.calls.hangup(number, reason)

    def hold(self, number=None):
        return self.calls.hold(True, number)

    def resume(self, number=None):
        return self.calls.hold(False, number)

    @property
    def registered(self):
        return self.registration is not None and self.registration.state == "registered"

    # --- helpers for usages ---------------------------------------------------
    def emit(self, event):
        self.events.append(event)

    def stateless_tag(self, req):
        """A To tag for a stateless answer: the same for every retransmission
        of one request (§8.2.7), without keeping state (a small hash of
        Call-ID, From tag and branch; 24 bits keep it a small int on ESP32)."""
        h = 5381
        for text in (req.call_id, req.from_.tag or "", req.vias[0].branch or ""):
            for ch in text:
                h = ((h * 33) ^ ord(ch)) & 0xFFFFFF
        return "%06x%s" % (h, self.tag_salt)

    def contact_uri(self, transport="udp"):
        """Our Contact URI; on TCP/TLS with `;transport=` (§19.1.1): the
        registrar then reaches us on the connection we opened, whose port
        the 200's rport made our contact_port (RFC 5923 style reuse)."""
        return "sip:%s@%s:%d%s" % (self.user, self.contact_host, self.contact_port,
                                   "" if transport == "udp" else ";transport=" + transport)

    def add_via(self, request):
        """A new top Via; its transport is set when the next hop is known (route())."""
        branch = MAGIC_COOKIE + self.random_hex(16)
        request.add("Via", "SIP/2.0/UDP %s:%d;branch=%s;rport" % (self.local_ip, self.local_port, branch))
        return branch

    def send_raw(self, data, addr):
        """Queue a datagram outside any transaction (2xx and its ACK, §13)."""
        self._send(data, addr)

    def _send(self, data, addr):
        self.stats["sent"] += 1
        reg = self.registration
        if reg is not None and addr == reg.target:
            # the NAT binding towards the registrar was just refreshed: the
            # keep-alive goes only when nothing else went there for a while
            self.last_sent = self.now
        self.outbox.append((data, addr))

    def _advance(self, now):
        self.now = now
        self.layer.now = now

    # --- incoming ---------------------------------------------------------------
    def _receive(self, data, addr):
        try:
            msg = parse(data)
            if msg.is_request:
                check_request(msg)
            else:
                check_response(msg)
        except ParseError as err:
            return self._reject(err, addr)
        msg.source = addr
        if msg.is_request:
            stamp_via(msg, addr)
            self._on_request(msg, addr)
        else:
            tx = self.layer.match_response(msg)
            if tx is None:
                self.stats["stray_responses"] += 1
                self.log("debug", "stray response %d %s" % (msg.status, msg.cseq[1]))
            else:
                tx.on_response(msg)

    def _reject(self, err, addr):
        """400/505/501 to a broken request that can still be answered; else drop."""
        msg = err.message
        if err.reason == "keep-alive":
            return
        answerable = (err.status is not None and msg is not None and msg.is_request
                      and msg.method != "ACK")
        if answerable:
            for key in ("via", "call-id", "cseq", "from", "to"):
                if msg.get(key) is None:
                    answerable = False
        if not answerable:
            self.stats["malformed_dropped"] += 1
            self.log("warn", "dropped malformed datagram from %s:%d: %s" % (addr[0], addr[1], err.reason))
            return
        self.stats["bad_request_answered"] += 1
        self.log("warn", "answering %d to %s:%d: %s" % (err.status, addr[0], addr[1], err.reason))
        reason = err.reason if err.status == 400 else None
        resp = make_response(msg, err.status, reason)
        if err.status == 501:
            resp.add("Allow", ALLOW)
        try:
            dest = self.layer.response_addr(msg, addr)
        except Exception:
            dest = addr      # an unparsable Via: answer where the request came from
        self._send(resp.encode(), dest)

    def _on_request(self, req, addr):
        tx = self.layer.match_request(req)
        if tx is not None:
            if req.method != "ACK":
                tx.on_retransmission()
            elif tx.state == COMPLETED:
                tx.on_ack()                # ACK for our error response (§17.2.1)
            elif tx.state == ACCEPTED:
                self.calls.on_ack(req)     # a 2xx ACK that reused the INVITE branch
            return
        if req.method == "ACK":
            self.calls.on_ack(req)         # ACK for a 2xx: its own transaction (§17.1.1.3)
            return
        tx = self.layer.start_server(req, addr)
        if tx is None:
            # at the cap: a stateless 503 (§21.5.4) keeps no state for the flood
            self.stats["overload_refused"] += 1
            resp = make_response(req, 503)
            resp.add("Retry-After", "5")
            self._send(resp.encode(), self.layer.response_addr(req, addr))
            return
        try:
            resp = self._uas_checks(req)
            if resp is not None:
                tx.respond(resp)
            else:
                self._dispatch(req, tx)
        except Exception as err:     # a handler bug must not leave a mute transaction
            self.stats["handler_errors"] += 1
            self.log("error", "%s from %s:%d failed: %r" % (req.method, addr[0], addr[1], err))
            self.emit({"event": "error", "message": "internal error handling %s: %r" % (req.method, err)})
            try:
                tx.respond(make_response(req, 500))
            except Exception:
                pass                 # the request cannot even be answered: drop it
            self.layer.forget_server(tx)
            return
        if not tx.stateful and (tx.state == COMPLETED or tx.state == TERMINATED):
            # Requests that belong to no call are answered statelessly (§8.2.7):
            # a retransmission is simply answered again, and scanners,
            # refused INVITEs and floods keep nothing in memory.
            self.stats["answered_statelessly"] += 1
            self.layer.forget_server(tx)

    def _uas_checks(self, req):
        """§8.2.1-8.2.2: method, URI scheme and Require inspection."""
        method = req.method
        if method not in KNOWN_METHODS:
            resp = make_response(req, 501)
            resp.add("Allow", ALLOW)
            return resp
        scheme = req.uri.split(":", 1)[0].lower()
        if scheme != "sip" and scheme != "sips":
            return make_response(req, 416)
        require = req.get_all("require")
        if require and method != "CANCEL":
            resp = make_response(req, 420)
            resp.add("Unsupported", ", ".join(require))
            return resp
        if method not in ALLOWED:
            resp = make_response(req, 405)
            resp.add("Allow", ALLOW)
            return resp
        if method == "INVITE":
            return self._check_invite_body(req)
        return None

    def _check_invite_body(self, req):
        """§8.2.3: we understand application/sdp only, and answer with it."""
        ctype = (req.get("content-type") or "").split(";")[0].strip().lower()
        if req.body and ctype != "application/sdp":
            resp = make_response(req, 415)
            resp.add("Accept", "application/sdp")
            return resp
        accept = req.get_all("accept")
        if accept:
            kinds = [a.split(";")[0].strip().lower() for a in accept]
            if "application/sdp" not in kinds and "application/*" not in kinds and "*/*" not in kinds:
                resp = make_response(req, 406)
                resp.add("Warning", '399 %s "only application/sdp answers can be formed"' % self.local_ip)
                return resp
        return None

    def _dispatch(self, req, tx):
        method = req.method
        if method == "OPTIONS":
            resp = make_response(req, 200, to_tag=req.to.tag or self.stateless_tag(req))
            resp.add("Allow", ALLOW)
            resp.add("Accept", "application/sdp")
            resp.add("User-Agent", self.USER_AGENT)
            tx.respond(resp)
        elif method == "INVITE":
            self.calls.on_invite(req, tx)
        elif method == "BYE":
            self.calls.on_bye(req, tx)
        elif method == "CANCEL":
            self.calls.on_cancel(req, tx)
        elif method == "INFO":
            self.calls.on_info(req, tx)
        else:
            tx.respond(make_response(req, 481))


def stamp_via(request, addr):
    """§18.2.1 and RFC 3581 §4: tell the sender where its request came from,
    in the top Via that every response copies: `received` when the sent-by
    host is not the source IP (always, when rport was asked for) and the
    source port as the value of an empty `rport`. The parsed Via stays as
    it was (response_addr reads the request's own rport flag)."""
    via = request.vias[0]
    rport = via.param("rport")
    if via.host == addr[0] and rport is None:
        return
    item = request._index["via"][0]
    value = item[2]
    end = value.find(",")                     # several Vias may share one header line
    top, rest = (value, "") if end < 0 else (value[:end], value[end:])
    if rport is not None and not rport:
        low = top.lower()
        at = low.find(";rport")
        after = at + 6
        if at >= 0 and (after == len(top) or top[after] in "; \t"):
            top = top[:after] + "=%d" % addr[1] + top[after:]
    if via.param("received") is None:
        top = top.rstrip() + ";received=" + addr[0]
    item[2] = top + rest
