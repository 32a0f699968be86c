"""SIP transaction layer over UDP: matching and non-INVITE state machines (RFC 3261 §17)."""

from intercom.sip.timers import Timed

MAGIC_COOKIE = "z9hG4bK"

# States (RFC 3261 §17.1.2.2 and §17.2.2; INVITE adds "calling", "accepted").
TRYING = "trying"          # request sent / received, no response yet
PROCEEDING = "proceeding"  # a provisional response has been sent / received
COMPLETED = "completed"    # final response sent / received; absorbing retransmissions
TERMINATED = "terminated"  # done; the layer forgets the transaction


class Timers:
    """RFC 3261 timer values in ms (Table 4); T1/T2/T4 are configurable."""

    def __init__(self, t1=500, t2=4000, t4=5000):
        self.t1 = t1
        self.t2 = t2
        self.t4 = t4


class Transaction(Timed):
    """State shared by client and server transactions.

    Timers are named deadlines (ticks); when one expires the layer calls
    the method `timer_<name>`. A transaction never knows about calls.

    Once final, a transaction only absorbs retransmissions for a while
    (Timers D, I, J, K, L, M: up to 64*T1 after the call ended), so on
    entering such a state it drops what that state no longer uses: the
    parsed request and the TU, which would otherwise keep a whole call
    (dialog, SDP, media) alive that long."""

    is_invite = False
    stateful = False     # server: set by the call layer when the request belongs to a call
    error = None         # client: (transport, message) when the transport failed

    def __init__(self, layer, key, addr):
        self.layer = layer
        self.key = key
        self.addr = addr          # client: the next hop; server: where responses go
        self.state = TRYING

    # TCP/TLS: the transport retransmits, so the transaction never does
    # (Timers A, E, G unset) and absorbs nothing afterwards (D, I, J, K = 0).
    # Asked of the layer, not stored: no extra attribute per transaction.
    def wait(self, udp_ms):
        """udp_ms over UDP, 0 over TCP/TLS: how long to wait for retransmissions
        (a retransmission timer runs only while this is not 0)."""
        return udp_ms if self.layer.transport_to(self.addr) == "udp" else 0

    def _now(self):
        return self.layer.now

    def terminate(self):
        self.state = TERMINATED
        self.stop_timers()


class ClientTransaction(Transaction):
    """A request we sent: `request` and `data` (its bytes) until the final
    response; `call_id` and `cseq` stay for RFC 2543 matching (§17.1.3)."""

    def __init__(self, layer, key, request, addr, tu):
        Transaction.__init__(self, layer, key, addr)
        self.request = request
        self.tu = tu
        self.data = request.encode()
        self.call_id = request.call_id
        self.cseq = request.cseq
        self.interval = layer.timers.t1

    def settle(self, keep_tu=False):
        """A final response was handed to the TU: from now on only
        retransmissions are absorbed, which needs neither the request nor
        (unless keep_tu) the TU."""
        self.request = None
        self.data = None
        if not keep_tu:
            self.tu = None


class ClientNonInvite(ClientTransaction):
    """§17.1.2: Trying -> Proceeding -> Completed -> Terminated.

    The TU gets tu.on_response(tx, response) for every new response and
    tu.on_timeout(tx) when Timer F fires."""

    def start(self):
        self.layer.send(self.data, self.addr)
        if self.wait(1):
            self.start_timer("E", self.interval)     # §17.1.2.2: UDP only
        self.start_timer("F", 64 * self.layer.timers.t1)

    def timer_E(self):
        # Retransmit; the interval doubles up to T2, and stays at T2 once a
        # provisional response has arrived (§17.1.2.2).
        self.layer.send(self.data, self.addr)
        if self.state == PROCEEDING:
            self.interval = self.layer.timers.t2
        else:
            self.interval = min(2 * self.interval, self.layer.timers.t2)
        self.start_timer("E", self.interval)

    def timer_F(self):
        self.terminate()
        self.tu.on_timeout(self)

    def timer_K(self):
        self.terminate()

    def on_response(self, resp):
        if self.state in (TRYING, PROCEEDING):
            if resp.status < 200:
                self.state = PROCEEDING
                self.tu.on_response(self, resp)
                return
            self.state = COMPLETED
            self.stop_timers()
            # Timer K absorbs retransmitted finals (T4 on UDP).
            self.start_timer("K", self.wait(self.layer.timers.t4))
            self.tu.on_response(self, resp)
            self.settle()
        # In Completed, retransmitted responses are absorbed silently.


class ServerNonInvite(Transaction):
    """§17.2.2: Trying -> Proceeding -> Completed -> Terminated.

    The TU answers with respond(); request retransmissions are absorbed
    here and answered with the last response sent. The request itself is
    the TU's: the transaction keeps only its key and response address."""

    def __init__(self, layer, key, request, addr):
        Transaction.__init__(self, layer, key, layer.response_addr(request, addr))
        self.last = None

    def respond(self, resp):
        """Send resp (absorbed once final); returns the bytes sent."""
        if self.state in (COMPLETED, TERMINATED):
            return None
        self.last = resp.encode()
        self.layer.send(self.last, self.addr)
        if resp.status < 200:
            self.state = PROCEEDING
        else:
            self.state = COMPLETED
            self.start_timer("J", self.wait(64 * self.layer.timers.t1))
        return self.last

    def on_retransmission(self):
        if self.last is not None:
            self.layer.send(self.last, self.addr)

    def timer_J(self):
        self.terminate()


def server_key(request, method=None):
    """Key matching a request to a server transaction (§17.2.3).

    RFC 3261 branches match on branch, sent-by and method (ACK matching the
    INVITE); anything else falls back to the RFC 2543 rules."""
    via = request.vias[0]
    if method is None:
        method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch
    if branch and branch.startswith(MAGIC_COOKIE) and len(branch) > len(MAGIC_COOKIE):
        return "3261|%s|%s:%s|%s" % (branch, via.host, via.port, method)
    number = request.cseq[0]
    to_tag = request.to.tag if request.method != "ACK" else None
    return "2543|%s|%s|%s|%s|%s|%s|%s" % (
        request.uri, to_tag, request.from_.tag, request.call_id, number, method, str(via))


def client_key(branch, method):
    return branch + "|" + method
