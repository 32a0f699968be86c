"""The transaction layer: owns, matches and times every transaction (RFC 3261 §17.1.3, §17.2.3, §9.2)."""

from intercom.ticks import earliest
from intercom.sip.transaction import (Timers, ClientNonInvite, ServerNonInvite, TERMINATED,
                                      server_key, client_key)
from intercom.sip.invite_transaction import ClientInvite, ServerInvite

# Live server transactions at most. Only requests that belong to a call keep
# a transaction past their final response (UserAgent._on_request), so a
# handful serve any real traffic; at the cap new requests are refused
# statelessly and a flood costs no memory.
MAX_SERVER_TRANSACTIONS = 16


class TransactionLayer:
    """Owns every live transaction; the UA core feeds it messages and time.

    `send(data, addr)` is the transport callback (the core's outbox)."""

    def __init__(self, send, timers=None):
        self.send = send
        self.timers = timers or Timers()
        self.now = 0
        self.clients = {}
        self.servers = {}
        self.transports = {}      # (ip, port) -> "tcp" | "tls" (sip.transport); absent: UDP

    def transport_to(self, addr):
        """ "udp", "tcp" or "tls": how messages to addr travel. The rest of
        TCP/TLS (intercom.sip.transport) is imported only when one is used."""
        return self.transports.get(addr, "udp")

    def route(self, request, addr):
        """Name addr's transport in request's top Via (§18.1.1: it is chosen
        with the next hop); UDP leaves the request untouched."""
        transport = self.transport_to(addr)
        if transport != "udp":
            from intercom.sip.transport import set_via_transport
            set_via_transport(request, transport)

    def start_client(self, request, addr, tu):
        branch = request.vias[0].branch
        key = client_key(branch, request.method)
        cls = ClientInvite if request.method == "INVITE" else ClientNonInvite
        self.route(request, addr)
        tx = cls(self, key, request, addr, tu)
        self.clients[key] = tx
        tx.start()
        return tx

    def match_response(self, resp):
        """The client transaction a response belongs to (§17.1.3), or None."""
        via = resp.vias[0]
        method = resp.cseq[1]
        branch = via.branch
        if branch:
            tx = self.clients.get(client_key(branch, method))
            # a CSeq number other than our request's is not a response to it
            if tx is not None and tx.cseq[0] != resp.cseq[0]:
                return None
            return tx
        # RFC 2543 peers may not echo a branch: fall back to Call-ID + CSeq.
        for tx in self.clients.values():
            if tx.call_id == resp.call_id and tx.cseq == resp.cseq:
                return tx
        return None

    def match_request(self, request):
        """An existing server transaction for a retransmitted request, or None."""
        return self.servers.get(server_key(request))

    def invite_for_cancel(self, cancel):
        """The INVITE server transaction a CANCEL refers to (§9.2), or None."""
        key = server_key(cancel, "INVITE")
        return self.servers.get(key)

    def start_server(self, request, addr):
        """A new server transaction, or None when MAX_SERVER_TRANSACTIONS are live."""
        if len(self.servers) >= MAX_SERVER_TRANSACTIONS:
            return None
        key = server_key(request)
        cls = ServerInvite if request.method == "INVITE" else ServerNonInvite
        tx = cls(self, key, request, addr)
        self.servers[key] = tx
        return tx

    def forget_server(self, tx):
        """Drop a server transaction now (a stateless answer, §8.2.7)."""
        if self.servers.get(tx.key) is tx:
            del self.servers[tx.key]
        tx.terminate()

    def response_addr(self, request, addr):
        """Where responses go (§18.2.2, RFC 3581): on TCP/TLS, back on the
        connection the request came in on; with rport, the packet's
        source address and port; else the source IP (what `received` would
        say) and the Via's sent-by port. Never the Via's host: a forged Via
        would turn us into a reflector towards a third party."""
        if self.transport_to(addr) != "udp" or request.vias[0].param("rport") is not None:
            return addr
        return addr[0], request.vias[0].port or 5060

    def next_deadline(self):
        best = self._earliest_in(self.clients, None)
        return self._earliest_in(self.servers, best)

    def _earliest_in(self, table, best):
        # no .values(), no tuples of tables: this runs on every loop iteration
        for key in table:
            best = earliest(best, table[key].deadline(), self.now)
        return best

    def _any_due(self, table, now):
        for key in table:
            if table[key].is_due(now):
                return True
        return False

    def tick(self, now):
        self.now = now
        self._tick_table(self.clients, now)
        self._tick_table(self.servers, now)
        # transactions terminated by a TU callback are collected too
        self._collect(self.clients)
        self._collect(self.servers)

    def _tick_table(self, table, now):
        if not self._any_due(table, now):
            return            # the common case allocates nothing
        for key in list(table):
            tx = table[key]
            tx.fire_due(now)
            if tx.state == TERMINATED:
                del table[key]

    @staticmethod
    def _collect(table):
        dead = None
        for key in table:
            if table[key].state == TERMINATED:
                if dead is None:
                    dead = []
                dead.append(key)
        if dead:
            for key in dead:
                del table[key]
