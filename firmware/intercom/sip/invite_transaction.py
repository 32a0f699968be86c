"""INVITE client and server transactions over UDP (RFC 3261 §17.1.1, §17.2.1; RFC 6026 §7)."""

from intercom.sip.message import Message
from intercom.sip.transaction import Transaction, ClientTransaction, PROCEEDING, COMPLETED

# Extra INVITE states:
CALLING = "calling"      # client: INVITE sent, nothing heard yet (Timer A retransmits)
ACCEPTED = "accepted"    # RFC 6026: a 2xx passed; 2xx retransmissions go to the TU
CONFIRMED = "confirmed"  # server: ACK for a non-2xx final received; Timer I absorbs ACKs


def mirror_request(request, method, to_value):
    """A request that mirrors an INVITE hop by hop: CANCEL (§9.1) and the ACK
    for a non-2xx final (§17.1.1.3) share its Request-URI, top Via (so its
    branch), Route set, From, Call-ID and CSeq number."""
    req = Message.request(method, request.uri)
    req.add("Via", request.get_all("via")[0])
    for route in request.get_all("route"):
        req.add("Route", route)
    req.add("Max-Forwards", "70")
    req.add("From", request.get("from"))
    req.add("To", to_value)
    req.add("Call-ID", request.call_id)
    req.add("CSeq", "%d %s" % (request.cseq[0], method))
    return req


def build_ack(request, response):
    """The ACK for a non-2xx final response: To (with its tag) from the response."""
    return mirror_request(request, "ACK", response.get("to"))


class ClientInvite(ClientTransaction):
    """§17.1.1.2: Calling -> Proceeding -> Completed/Accepted -> Terminated.

    tu.on_response(tx, resp) for every provisional, the final, and (in
    Accepted) every 2xx retransmission, which the TU must ACK itself;
    tu.on_timeout(tx) when Timer B fires before any response. A TU that
    has ACKed the 2xx may set tx.tu to a smaller object that only re-ACKs."""

    is_invite = True

    def __init__(self, layer, key, request, addr, tu):
        ClientTransaction.__init__(self, layer, key, request, addr, tu)
        self.state = CALLING
        self.ack = None

    def start(self):
        self.layer.send(self.data, self.addr)
        if self.wait(1):
            self.start_timer("A", self.interval)     # §17.1.1.2: UDP only
        self.start_timer("B", 64 * self.layer.timers.t1)

    def timer_A(self):
        # Timer A doubles without a cap while Calling (§17.1.1.2).
        self.layer.send(self.data, self.addr)
        self.interval *= 2
        self.start_timer("A", self.interval)

    def timer_B(self):
        self.terminate()
        self.tu.on_timeout(self)

    def abandon(self, tu):
        """The call gave up on this INVITE: `tu` takes whatever still comes,
        and the transaction ends 64*T1 from now if no final response has
        (§9.1: a CANCELled INVITE is not kept for ever)."""
        self.tu = tu
        if self.state in (CALLING, PROCEEDING):
            self.start_timer("abandon", 64 * self.layer.timers.t1)

    def timer_abandon(self):
        self.terminate()

    def timer_D(self):
        self.terminate()

    def timer_M(self):
        self.terminate()

    def on_response(self, resp):
        status = resp.status
        if self.state in (CALLING, PROCEEDING):
            self.stop_timer("A")
            if status < 200:
                self.state = PROCEEDING
                self.stop_timer("B")
                self.tu.on_response(self, resp)
                return
            self.stop_timers()
            if status < 300:
                self.state = ACCEPTED
                self.start_timer("M", 64 * self.layer.timers.t1)
            else:
                self.state = COMPLETED
                self.ack = build_ack(self.request, resp).encode()
                self.layer.send(self.ack, self.addr)
                self.start_timer("D", self.wait(32000))   # Timer D: >= 32 s on UDP, 0 on TCP/TLS
            self.tu.on_response(self, resp)
            # Completed only re-sends the ACK; Accepted still hands 2xx
            # retransmissions to the TU (RFC 6026 §7.2)
            self.settle(keep_tu=status < 300)
        elif self.state == COMPLETED and status >= 300:
            self.layer.send(self.ack, self.addr)    # the ACK got lost: send it again
        elif self.state == ACCEPTED and 200 <= status < 300:
            self.tu.on_response(self, resp)         # RFC 6026: the TU re-ACKs


class ServerInvite(Transaction):
    """§17.2.1: Proceeding -> Completed -> Confirmed -> Terminated, or
    Proceeding -> Accepted (RFC 6026) on a 2xx, which the TU retransmits.

    `tu` (the call, set by it) is only consulted while Proceeding, to
    route a CANCEL; a final response drops it, and Timer H (no ACK for an
    error response) has nobody to tell: the TU ended when it sent the error."""

    is_invite = True

    def __init__(self, layer, key, request, addr):
        Transaction.__init__(self, layer, key, layer.response_addr(request, addr))
        self.state = PROCEEDING
        self.last = None
        self.interval = layer.timers.t1
        self.tu = None

    def respond(self, resp):
        """Send resp; returns the bytes sent (None once final), so a TU
        retransmitting its 2xx (§13.3.1.4) need not encode it again."""
        if self.state != PROCEEDING:
            return None
        data = resp.encode()
        self.layer.send(data, self.addr)
        if resp.status < 200:
            self.last = data
            return data
        self.tu = None
        if resp.status < 300:
            self.last = None       # Accepted: the TU retransmits the 2xx itself
            self.state = ACCEPTED
            self.start_timer("L", 64 * self.layer.timers.t1)
        else:
            self.last = data
            self.state = COMPLETED
            if self.wait(1):
                self.start_timer("G", self.interval)  # §17.2.1: UDP only
            self.start_timer("H", 64 * self.layer.timers.t1)
        return data

    def on_retransmission(self):
        """A retransmitted INVITE (or the ACK for our error response)."""
        if self.state in (PROCEEDING, COMPLETED) and self.last is not None:
            self.layer.send(self.last, self.addr)

    def on_ack(self):
        if self.state == COMPLETED:
            self.state = CONFIRMED
            self.stop_timers()
            self.last = None
            self.start_timer("I", self.wait(self.layer.timers.t4))

    def timer_G(self):
        self.layer.send(self.last, self.addr)
        self.interval = min(2 * self.interval, self.layer.timers.t2)
        self.start_timer("G", self.interval)

    def timer_H(self):
        self.terminate()

    def timer_I(self):
        self.terminate()

    def timer_L(self):
        self.terminate()
