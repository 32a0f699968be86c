"""SIP over TCP/TLS for the driver: non-blocking client connections (RFC 3261 §18, §26; RFC 5923-style reuse).

Imported only when a TCP/TLS message is first sent: a UDP phone never
loads it (nor `ssl`). Each peer (the registrar, a dialed sips: peer) gets
one connection we open, reused for our requests, their responses and the
requests the peer sends us (incoming calls), so no inbound listener is
needed behind NAT. Framing is intercom.sip.stream (sans-I/O, bounded).
"""

import errno
import select
import sys

from intercom.ticks import ticks_add, ticks_diff, earliest
from intercom.netcompat import sockaddr
from intercom.sip.stream import StreamFramer, StreamError, PING, PONG
from intercom.sip.transport import transport_failed, set_transport
from intercom.tls_context import TlsSetupError, make_context

CPYTHON = sys.implementation.name == "cpython"
CONNECT_MS = 8000        # TCP connect plus TLS handshake must finish within this
BACKOFF_MIN_MS = 1000    # after a failure, the next connect waits 1, 2, 4 ... s
BACKOFF_MAX_MS = 60000
MAX_OUT = 16384          # bytes queued per connection (a few messages); beyond: refused
READS = 4                # reads per wake-up: a flooding peer cannot stall the loop
READ_SIZE = 1024
PONG_MS = 10000          # RFC 5626 §4.4.1: no pong 10 s after a ping means the flow failed
MAX_CONNECTIONS = 4      # as many as the core's stream peers (ua.MAX_STREAM_PEERS)

# connection states
CONNECTING = "connecting"   # TCP connect in progress
HANDSHAKE = "handshake"     # TLS handshake in progress
OPEN = "open"               # messages flow
CLOSED = "closed"           # failed or closed; `retry_at` gates the next connect

_IN_PROGRESS = (errno.EINPROGRESS, getattr(errno, "EWOULDBLOCK", 11), errno.EAGAIN,
                getattr(errno, "EALREADY", 114))


def _text(err):
    text = str(err).strip() or repr(err)
    return text.replace("\n", " ")


class StreamConn:
    """One client connection to `addr` over "tcp" or "tls"."""

    def __init__(self, owner, addr, transport):
        self.owner = owner
        self.addr = addr
        self.transport = transport
        self.state = CLOSED
        self.sock = None             # the socket polled and read (the TLS one once wrapped)
        self.fd = None               # what CPython's poll() returns for it
        self.out = []                # queued messages (bytes), sent in order
        self.offset = 0              # bytes of out[0] already sent
        self.queued = 0
        self.framer = owner.framer(self)
        self.deadline = None         # connect/handshake deadline
        self.retry_at = None         # no new connect before this (backoff)
        self.backoff = BACKOFF_MIN_MS
        self.failures = 0
        self.delivered = 0           # messages received on this connection
        self.last_error = None
        self.polled = None           # the object registered with poll (MicroPython)
        self.pong_due = None         # a ping is unanswered until then (ticks)
        self.pongs = 0               # framer.pongs when that ping was sent

    # --- life cycle -------------------------------------------------------------
    def open(self, now):
        import socket
        self.framer.reset()
        self.delivered = 0
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        self.sock = sock
        self.state = CONNECTING
        self.deadline = ticks_add(now, CONNECT_MS)
        try:
            sock.connect(sockaddr(self.addr))
        except OSError as err:
            if not err.args or err.args[0] not in _IN_PROGRESS:
                self._watch(0)
                return self.fail("connect: %s" % _text(err), now)
        self._watch(select.POLLOUT)

    def _watch(self, flags):
        poll = self.owner.poll
        if self.polled is not None:
            try:
                poll.unregister(self.fd if CPYTHON else self.polled)
            except (OSError, KeyError, ValueError):
                pass
        self.polled = self.sock
        # CPython's poll() returns file descriptors; MicroPython's the object
        # (its SSLSocket has no fileno())
        self.fd = self.sock.fileno() if CPYTHON else None
        if flags:
            poll.register(self.sock, flags | select.POLLIN)
        else:
            poll.register(self.sock, select.POLLIN)

    def close(self):
        if self.sock is not None:
            try:
                self.owner.poll.unregister(self.fd if CPYTHON else self.polled)
            except (OSError, KeyError, ValueError):
                pass
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.fd = None
        self.polled = None
        self.state = CLOSED
        self.deadline = None
        self.pong_due = None

    def fail(self, message, now):
        """Close, arm the doubling backoff and tell the SIP core (no fallback)."""
        self.close()
        if not self.delivered:
            self.failures += 1
            self.backoff = min(BACKOFF_MIN_MS << min(self.failures - 1, 8), BACKOFF_MAX_MS)
        else:
            self.failures = 0            # it worked for a while: reconnect soon
            self.backoff = BACKOFF_MIN_MS
        self.retry_at = ticks_add(now, self.backoff)
        self.last_error = message
        self.out = []
        self.offset = 0
        self.queued = 0
        self.owner.failed(self, message)

    # --- sending ---------------------------------------------------------------
    def send(self, data, now):
        """Queue one message; connect first if needed. False if refused."""
        if self.state == CLOSED:
            if self.retry_at is not None and ticks_diff(now, self.retry_at) < 0:
                self.owner.failed(self, "%s; next connection attempt in %d ms" % (
                    self.last_error, ticks_diff(self.retry_at, now)))
                return False
            self.out = []
            self.offset = 0
            self.queued = 0
        if self.queued + len(data) > MAX_OUT:
            self.owner.log("warn", "%s to %s:%d: %d bytes already queued; message dropped" % (
                self.transport, self.addr[0], self.addr[1], self.queued))
            return False
        self.out.append(data)
        self.queued += len(data)
        if data == PING and self.pong_due is None:
            self.pong_due = ticks_add(now, PONG_MS)
            self.pongs = self.framer.pongs
        if self.state == CLOSED:
            self.open(now)
        elif self.state == OPEN:
            self._flush(now)
        return True

    def _flush(self, now):
        sock = self.sock
        while self.out and self.state == OPEN:
            data = self.out[0]
            try:
                if CPYTHON:
                    n = sock.send(memoryview(data)[self.offset:])
                else:
                    n = sock.write(memoryview(data)[self.offset:])
            except OSError as err:
                if _would_block(err):
                    n = None
                else:
                    return self.fail("send: %s" % _text(err), now)
            if not n:
                break
            self.offset += n
            if self.offset >= len(data):
                self.out.pop(0)
                self.queued -= len(data)
                self.offset = 0
        if self.state == OPEN:
            self._watch_out(bool(self.out))

    def _watch_out(self, pending):
        flags = select.POLLIN | (select.POLLOUT if pending else 0)
        self.owner.poll.modify(self.fd if CPYTHON else self.polled, flags)

    # --- events ----------------------------------------------------------------
    def on_ready(self, flags, now):
        if self.state == CONNECTING:
            if flags & (select.POLLERR | select.POLLHUP) or _so_error(self.sock):
                return self.fail("connection refused or unreachable", now)
            if flags & select.POLLOUT:
                self._connected(now)
        elif self.state == HANDSHAKE:
            self._handshake(now)
        elif self.state == OPEN:
            if flags & select.POLLOUT:
                self._flush(now)
            if self.state == OPEN and flags & (select.POLLIN | select.POLLERR | select.POLLHUP):
                self._read(now)

    def _connected(self, now):
        if self.transport != "tls":
            self.state = OPEN
            self.deadline = None
            self._watch(0)
            self._flush(now)
            return
        ctx = self.owner.context(self, now)
        if ctx is None:
            return                      # already failed (TlsSetupError reported)
        try:
            self.sock = ctx.wrap_socket(self.sock, server_side=False, do_handshake_on_connect=False,
                                        server_hostname=self.owner.hostname(self.addr))
        except (OSError, ValueError) as err:
            return self.fail("TLS: %s" % _text(err), now)
        self.state = HANDSHAKE
        self._watch(0)
        self._handshake(now)

    def _handshake(self, now):
        """Advance the TLS handshake without blocking. CPython: do_handshake()
        until it stops wanting I/O. MicroPython has no do_handshake(): its
        SSLSocket shakes hands inside write(), which returns None until the
        handshake is done; the first queued message is that write."""
        sock = self.sock
        try:
            if CPYTHON:
                import ssl
                try:
                    sock.do_handshake()
                except ssl.SSLWantReadError:
                    return self._watch_handshake(False)
                except ssl.SSLWantWriteError:
                    return self._watch_handshake(True)
            else:
                data = self.out[0] if self.out else b""
                n = sock.write(memoryview(data)[self.offset:]) if data else sock.write(b"")
                if n is None:
                    return
                if data and n:
                    self.offset += n
                    if self.offset >= len(data):
                        self.out.pop(0)
                        self.queued -= len(data)
                        self.offset = 0
        except (OSError, ValueError) as err:     # certificate, name or protocol
            if isinstance(err, OSError) and _would_block(err):
                return
            return self.fail("TLS handshake with %s:%d failed: %s" % (self.addr[0], self.addr[1], _text(err)), now)
        self.state = OPEN
        self.deadline = None
        self.owner.log("info", "TLS connection to %s:%d established%s" % (
            self.addr[0], self.addr[1], "" if self.owner.verify else " WITHOUT certificate verification"))
        self._flush(now)

    def _watch_handshake(self, write):
        flags = select.POLLIN | (select.POLLOUT if write else 0)
        self.owner.poll.modify(self.fd if CPYTHON else self.polled, flags)

    def _read(self, now):
        framer = self.framer
        for _ in range(READS):
            room = framer.room()
            if room <= 0:
                room = 1        # the framer raises on the next message: let it say why
            try:
                if CPYTHON:
                    data = self.sock.recv(min(room, READ_SIZE))
                else:
                    data = self.sock.read(min(room, READ_SIZE))
            except OSError as err:
                if _would_block(err):
                    return
                return self.fail("receive: %s" % _text(err), now)
            if data is None:
                return
            if not data:
                if framer.used:
                    return self.fail("connection closed in the middle of a message (%d bytes unframed)"
                                     % framer.used, now)
                return self.fail("connection closed by the peer", now)
            try:
                framer.feed(data)
                while self.state == OPEN:
                    msg = framer.next_message()
                    if msg is None:
                        break
                    self.delivered += 1
                    self.owner.deliver(self, msg, now)
                while framer.pings:
                    framer.pings -= 1
                    self.send(PONG, now)
                if framer.pongs != self.pongs:
                    self.pong_due = None        # the flow is alive
            except StreamError as err:
                return self.fail("bad framing: %s" % err, now)
            if self.state != OPEN:
                return

    def tick(self, now):
        if self.deadline is not None and ticks_diff(now, self.deadline) >= 0:
            what = "TLS handshake" if self.state == HANDSHAKE else "connect"
            self.fail("%s timed out after %d ms" % (what, CONNECT_MS), now)
        elif self.pong_due is not None and ticks_diff(now, self.pong_due) >= 0:
            self.fail("no CRLF pong within %d ms of a keep-alive ping (RFC 5626 §4.4.1)" % PONG_MS, now)

    def next_due(self, now):
        return earliest(self.deadline, self.pong_due, now)


def _would_block(err):
    if CPYTHON:
        import ssl
        if isinstance(err, (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError)):
            return True
    return bool(err.args) and err.args[0] in _IN_PROGRESS


def _so_error(sock):
    if not CPYTHON:
        return 0
    import socket
    try:
        return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    except OSError:
        return 0


class StreamTransport:
    """Every TCP/TLS connection of the phone, for the Driver (whose poll,
    board log and trace it shares). The UA gets the framed messages
    (ua.receive) and the failures (sip.transport.transport_failed)."""

    def __init__(self, driver):
        self.ua = ua = driver.ua
        self.poll = driver.poll
        self.sip = sip = ua.cfg["sip"]
        self.log = driver.board.log
        self.trace = driver.trace
        self.conns = {}
        self.ctx = None
        self.verify = sip.get("tls_verify", True)

    def framer(self, conn):
        return StreamFramer()

    def hostname(self, addr):
        """The name the server certificate must carry: the configured
        registrar / outbound proxy name for its address, else the IP."""
        reg = self.ua.registration
        if reg is not None and reg.target == addr:
            proxy = self.sip.get("outbound_proxy")
            return proxy.partition(":")[0] if proxy else self.sip["registrar"]
        return addr[0]

    def context(self, conn, now):
        if self.ctx is None:
            try:
                self.ctx = make_context(self.sip)
            except TlsSetupError as err:
                conn.fail(str(err), now)
                return None
        return self.ctx

    def send(self, data, addr, now):
        transport = self.ua.layer.transport_to(addr)
        conn = self.conns.get(addr)
        if conn is None or conn.transport != transport:
            if conn is not None:
                conn.close()
            elif len(self.conns) >= MAX_CONNECTIONS:
                self._evict()
            conn = StreamConn(self, addr, transport)
            self.conns[addr] = conn
        return conn.send(data, now)

    def _evict(self):
        # the table is bounded: forget a closed connection, else the first one
        victim = None
        for addr in self.conns:
            if victim is None or self.conns[addr].state == CLOSED:
                victim = addr
        self.conns.pop(victim).close()

    def on_ready(self, obj, flags, now):
        for addr in self.conns:
            conn = self.conns[addr]
            if conn.sock is not None and (obj is conn.polled or (CPYTHON and obj == conn.fd)):
                conn.on_ready(flags, now)
                return

    def deliver(self, conn, data, now):
        if self.trace:
            self.trace("in", data, conn.addr)
        if self.ua.layer.transports.get(conn.addr) != conn.transport:
            set_transport(self.ua, conn.addr, conn.transport)
        self.ua.receive(data, conn.addr, now)

    def failed(self, conn, message):
        self.log("error", "%s connection to %s:%d: %s" % (conn.transport, conn.addr[0], conn.addr[1], message))
        transport_failed(self.ua, conn.addr, conn.transport, message)

    def tick(self, now):
        """Fire due connect/handshake timeouts; returns the next one (ticks) or None.

        Runs every loop pass (the audio path too): iterating the dict itself
        allocates nothing, and conn.tick never adds or removes entries."""
        best = None
        for addr in self.conns:
            conn = self.conns[addr]
            conn.tick(now)
            best = earliest(best, conn.next_due(now), now)
        return best

    def close(self):
        for addr in self.conns:
            self.conns[addr].close()
