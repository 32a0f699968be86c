"""Non-blocking MQTT 3.1.1 connection for the one polling loop (MQTT 3.1.1 §3.1-3.2, §3.1.2.10 keep alive) (I/O).

Why not micropython-lib's umqtt.simple: its connect() blocks in
socket.connect() and then in sock.read() until the CONNACK comes, and
wait_msg() blocks on the socket too. A broker that is down, unreachable or
silent would then stall the loop that carries SIP and the 20 ms audio (for
the TCP timeout: tens of seconds). This client never waits: the TCP
connect runs in the background (EINPROGRESS, then POLLOUT), the CONNACK,
PINGRESP and commands arrive through the driver's poll, and every step is
a deadline: connect and CONNACK time out, pings keep the session, a lost
connection is retried after 1, 2, 4 ... 300 s (a connection counts as
good only after STABLE_MS, so a broker that accepts and drops cannot make
it retry faster: at most 5 attempts in any 30 s). Bounded: a packet from
the broker larger than packet.MAX_PACKET drops the connection, at most
PACKETS_PER_WAKE packets are handled per wake-up, and the send queue holds
at most OUT_MAX bytes (more is dropped with a log line). QoS 0 only.
TLS: wrap() (intercom/ha.py: ssl.SSLContext(PROTOCOL_TLS_CLIENT), the
broker verified against mqtt.tls_ca) turns the connected socket into a TLS
one whose handshake advances each time the CONNECT is offered, never
waiting; `hold` keeps a new connection from starting (the owner's call).
"""

import socket
import select
import sys

from intercom.ticks import ticks_add, ticks_diff, earliest
from intercom.mqtt import packet

CONNECT_TIMEOUT_MS = 5000    # TCP connect to the broker
CONNACK_TIMEOUT_MS = 5000    # CONNECT sent, CONNACK awaited
BACKOFF_FIRST_MS = 1000      # retry delays double from here ...
BACKOFF_MAX_MS = 300000      # ... up to 5 minutes
STABLE_MS = 30000            # a connection that lasted this long resets the backoff
PACKETS_PER_WAKE = 4         # broker packets handled per loop wake-up; the rest wait a pass
RECV_CHUNK = 512
HANDSHAKE_POLL_MS = 50       # a TLS handshake is offered the CONNECT at least this often
OUT_MAX = 8192               # bytes queued for the broker at most

IDLE = "idle"                # not connected; retry_at says when to try again
CONNECTING = "connecting"    # TCP connect in progress (waiting for POLLOUT)
HANDSHAKE = "handshake"      # TLS handshake running (it advances as the CONNECT is offered)
CONNACK = "connack"          # CONNECT sent, waiting for CONNACK
CONNECTED = "connected"      # session up: publish, subscribe, ping

_IN_PROGRESS = (115, 119, 11)   # EINPROGRESS (Linux, lwIP), EAGAIN
_MICROPYTHON = sys.implementation.name == "micropython"


class MqttClient:
    """One broker connection driven by the polling loop.

    The driver polls `sock` for `poll_mask` and calls on_ready(now) when it
    is ready, service(now) every pass, and honours next_deadline(). The
    owner gets on_connect(), on_message(topic, payload, retain) and
    on_drop(reason) callbacks; publish() queues a QoS 0 message."""

    def __init__(self, host, port, client_id, keepalive_s, log, user=None, password=None,
                 will=None, now=0, wrap=None):
        self.host = host
        self.port = port
        self.client_id = client_id
        self.keepalive_ms = keepalive_s * 1000
        self.keepalive_s = keepalive_s
        self.log = log
        self.user = user
        self.password = password
        self.will = will             # (topic, payload, retain) or None
        self.wrap = wrap             # TLS: wrap(tcp socket) -> TLS socket that handshakes as it sends
        self.hold = False            # True: start no connection now (the owner's call is on)
        self.pending = None          # the CONNECT, while the TLS handshake runs
        self.on_connect = None
        self.on_message = None
        self.on_drop = None
        self.on_refused = None       # on_refused(message): a failure worth telling the owner
        self.addr = None             # resolved once, at the first attempt
        self.sock = None
        self.poll_mask = 0
        self.state = IDLE
        self.retry_at = now          # first attempt at once
        self.deadline = None         # connect / CONNACK / PINGRESP deadline
        self.ping_at = None
        self.connected_at = None
        self.failures = 0
        self.last_problem = None     # the last failure reason, logged loudly once
        self.reader = packet.PacketReader()
        self.out = []
        self.out_bytes = 0
        self.out_pos = 0             # bytes of out[0] already sent
        self.packet_id = 0
        self.closed = False
        self.polled = None           # the socket registered with the driver's poll ...
        self.polled_key = None       # ... under this key (CPython: its descriptor) ...
        self.polled_mask = 0         # ... for these events

    # --- the owner's side ------------------------------------------------------
    def connected(self):
        return self.state == CONNECTED

    def publish(self, topic, payload, retain=False):
        """Queue a QoS 0 PUBLISH; False (and a log line) if not connected or the queue is full."""
        if self.state != CONNECTED:
            return False
        queued = self._queue(packet.publish(topic, payload, retain), topic)
        self._flush()          # now, not at the next pass (which may be a second away)
        return queued

    def subscribe(self, topics):
        if self.state != CONNECTED:
            return False
        self.packet_id = self.packet_id % 65535 + 1
        return self._queue(packet.subscribe(self.packet_id, topics), "SUBSCRIBE")

    def retry_now(self, now):
        """The network came back: if not connected, the next attempt is now, the backoff reset."""
        if self.state == IDLE and not self.closed:
            self.failures = 0
            self.retry_at = now

    def close(self):
        """A clean DISCONNECT (the broker then discards the last will), best effort, never waiting."""
        if self.state == CONNECTED:
            self._queue(packet.DISCONNECT_PACKET, "DISCONNECT")
            self._flush()
        self._close_socket()
        self.closed = True

    # --- the driver's side -------------------------------------------------------
    def next_deadline(self, now):
        if self.closed:
            return None
        if self.state == IDLE:
            return None if self.hold else self.retry_at
        if self.state == HANDSHAKE:
            return earliest(self.deadline, ticks_add(now, HANDSHAKE_POLL_MS), now)
        if self.state == CONNECTED and self.reader.buf:
            return now                      # packets left over from the last wake-up
        return earliest(self.deadline, self.ping_at, now)

    def owns(self, obj):
        """True if obj, from the driver's poll, is this client's socket."""
        return self.polled is not None and (obj is self.polled or obj == self.polled_key)

    def watch(self, poll):
        """Keep the driver's poll in step with the socket, which comes and goes with
        the connection, and with its mask (POLLOUT while connecting or queueing)."""
        sock = self.sock
        if self.polled is not None and (sock is not self.polled or self.poll_mask != self.polled_mask):
            self.polled = None           # first: an unregister that raises is not retried for ever
            poll.unregister(self.polled_key)
        if sock is not None and self.polled is None and self.poll_mask:
            # CPython: by descriptor, since a closed socket has none left to unregister by
            key = sock if _MICROPYTHON else sock.fileno()
            poll.register(key, self.poll_mask)
            self.polled, self.polled_key, self.polled_mask = sock, key, self.poll_mask

    def on_ready(self, now):
        """The socket polled ready: finish the connect, or read and handle packets."""
        if self.state == CONNECTING:
            self._connect_done(now)
            return
        if self.state == HANDSHAKE:
            self._send_connect(now)
            return
        self._flush()
        if self.state == CONNACK or self.state == CONNECTED:
            self._read(now)

    def service(self, now):
        """Timers: the retry, connect/CONNACK/PINGRESP timeouts, pings; leftover packets."""
        if self.closed:
            return
        if self.state == IDLE:
            if not self.hold and self.retry_at is not None and ticks_diff(now, self.retry_at) >= 0:
                self._start(now)
            return
        if self.state == HANDSHAKE and (self.deadline is None or ticks_diff(now, self.deadline) < 0):
            self._send_connect(now)
            return
        if self.deadline is not None and ticks_diff(now, self.deadline) >= 0:
            what = {CONNECTING: "TCP connect", HANDSHAKE: "TLS handshake", CONNACK: "CONNACK"}.get(
                self.state, "PINGRESP")
            self._fail(now, "no %s in %d ms" % (what, self._timeout_ms()))
            return
        if self.state == CONNECTED:
            if self.reader.buf:
                self._handle(now)
            if self.state == CONNECTED and self.ping_at is not None and ticks_diff(now, self.ping_at) >= 0:
                self._queue(packet.PINGREQ_PACKET, "PINGREQ")
                self.ping_at = None
                self.deadline = ticks_add(now, self.keepalive_ms)   # a silent broker is a dead one
            if self.connected_at is not None and ticks_diff(now, self.connected_at) >= STABLE_MS:
                self.failures = 0
                self.connected_at = None
        self._flush()

    # --- internals ---------------------------------------------------------------
    def _timeout_ms(self):
        if self.state == CONNECTING or self.state == HANDSHAKE:
            return CONNECT_TIMEOUT_MS
        if self.state == CONNACK:
            return CONNACK_TIMEOUT_MS
        return self.keepalive_ms

    def _start(self, now):
        self.retry_at = None
        try:
            if self.addr is None:
                # once: an IP literal costs nothing; a name blocks for the resolver's time
                self.addr = socket.getaddrinfo(self.host, self.port, socket.AF_INET, socket.SOCK_STREAM)[0][-1]
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setblocking(False)
            try:
                self.sock.connect(self.addr)
            except OSError as err:
                if _errno(err) not in _IN_PROGRESS:
                    raise
        except (OSError, IndexError) as err:
            self._fail(now, "cannot connect: %s" % (err,))
            return
        self.state = CONNECTING
        self.poll_mask = select.POLLOUT
        self.deadline = ticks_add(now, CONNECT_TIMEOUT_MS)

    def _connect_done(self, now):
        # POLLOUT (or POLLERR/POLLHUP): the connect finished one way or the other;
        # sending the CONNECT tells which (a refused connect raises here)
        will = self.will or (None, b"", False)
        self.pending = packet.connect(self.client_id, self.keepalive_s, self.user, self.password,
                                      will[0], will[1], will[2])
        if self.wrap is not None:
            try:
                self.sock = self.wrap(self.sock)
            except (OSError, ValueError) as err:
                self._fail(now, "TLS: %s" % (err,), True)
                return
            self.state = HANDSHAKE
            self.poll_mask = select.POLLIN
            self.deadline = ticks_add(now, CONNECT_TIMEOUT_MS)
        self._send_connect(now)

    def _send_connect(self, now):
        # Plain TCP: the connect's outcome. TLS: each offer runs the handshake a
        # step further (MicroPython's send returns None, CPython raises
        # SSLWantRead/WriteError until it is done); a bad certificate raises here.
        data = self.pending
        try:
            sent = self.sock.send(data)
        except OSError as err:
            if not _would_block(err):
                tls = self.wrap is not None and self.state == HANDSHAKE
                self._fail(now, ("TLS handshake failed: %s" if tls else "cannot connect: %s") % (err,), tls)
                return
            sent = None
        if sent is None and self.state == HANDSHAKE:
            return                                  # the handshake goes on
        if sent != len(data):
            self._fail(now, "CONNECT not sent whole")
            return
        self.pending = None
        self.state = CONNACK
        self.poll_mask = select.POLLIN
        self.reader.clear()
        self.deadline = ticks_add(now, CONNACK_TIMEOUT_MS)

    def _read(self, now):
        space = self.reader.space()
        if space:
            try:
                data = self.sock.recv(min(space, RECV_CHUNK))
            except OSError as err:
                if _would_block(err):
                    data = None
                else:
                    self._fail(now, "receive failed: %s" % (err,))
                    return
            if data is not None:
                if not data:
                    self._fail(now, "the broker closed the connection")
                    return
                self.reader.feed(data)
        self._handle(now)

    def _handle(self, now):
        for _ in range(PACKETS_PER_WAKE):
            try:
                got = self.reader.next_packet()
                if got is None:
                    return
                self._packet(got[0], got[1], got[2], now)
            except packet.MqttError as err:
                self._fail(now, "bad packet from the broker: %s" % (err,))
                return
            if self.state != CONNACK and self.state != CONNECTED:
                return

    def _packet(self, kind, flags, body, now):
        if self.state == CONNACK:
            if kind != packet.CONNACK:
                raise packet.MqttError("expected CONNACK, got packet type %d" % kind)
            _session, code = packet.parse_connack(flags, body)
            if code:
                reason = packet.CONNACK_REASONS.get(code, "refused")
                self._fail(now, "the broker refused the connection: %s (CONNACK %d)" % (reason, code), True)
                return
            self.state = CONNECTED
            self.deadline = None
            self.ping_at = ticks_add(now, self.keepalive_ms // 2)
            self.connected_at = now
            self.last_problem = None
            self.log("info", "mqtt: connected to %s:%d" % (self.host, self.port))
            if self.on_connect is not None:
                self.on_connect(now)
            return
        if kind == packet.PUBLISH:
            topic, payload, retain = packet.parse_publish(flags, body)
            if self.on_message is not None:
                self.on_message(topic, payload, retain, now)
        elif kind == packet.PINGRESP:
            self.deadline = None
            self.ping_at = ticks_add(now, self.keepalive_ms // 2)
        elif kind == packet.SUBACK:
            for code in packet.parse_suback(body):
                if code & 0x80:
                    self.log("warn", "mqtt: the broker refused a subscription")
        else:
            raise packet.MqttError("unexpected packet type %d from the broker" % kind)

    def _queue(self, data, what):
        if self.out_bytes + len(data) > OUT_MAX:
            self.log("warn", "mqtt: send queue full (%d bytes); %s dropped" % (self.out_bytes, what))
            return False
        self.out.append(data)
        self.out_bytes += len(data)
        return True

    def _flush(self):
        # as much as the socket takes now; the rest waits for POLLOUT
        while self.out and self.sock is not None:
            chunk = self.out[0]
            try:
                n = self.sock.send(memoryview(chunk)[self.out_pos:] if self.out_pos else chunk)
            except OSError as err:
                if _would_block(err):
                    n = 0
                else:
                    self.out = []
                    self.out_bytes = 0
                    self.out_pos = 0
                    return
            if n is None:
                n = 0
            self.out_pos += n
            if self.out_pos < len(chunk):
                break
            self.out.pop(0)
            self.out_bytes -= len(chunk)
            self.out_pos = 0
        if self.state == CONNACK or self.state == CONNECTED:     # (a tuple of globals would allocate)
            self.poll_mask = select.POLLIN | (select.POLLOUT if self.out else 0)

    def _fail(self, now, reason, refused=False):
        was_connected = self.state == CONNECTED
        self._close_socket()
        delay = BACKOFF_FIRST_MS << self.failures
        if delay >= BACKOFF_MAX_MS:
            delay = BACKOFF_MAX_MS
        else:
            self.failures += 1
        self.retry_at = ticks_add(now, delay)
        loud = reason != self.last_problem
        self.last_problem = reason
        self.log("warn" if loud else "debug", "mqtt: %s:%d: %s; retry in %d s" % (
            self.host, self.port, reason, delay // 1000))
        if was_connected and self.on_drop is not None:
            self.on_drop(reason)
        elif loud and refused and self.on_refused is not None:
            self.on_refused(reason)

    def _close_socket(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.poll_mask = 0
        self.state = IDLE
        self.pending = None
        self.deadline = None
        self.ping_at = None
        self.connected_at = None
        self.reader.clear()
        self.out = []
        self.out_bytes = 0
        self.out_pos = 0


def _errno(err):
    return err.args[0] if err.args else None


def _would_block(err):
    # EAGAIN/EINPROGRESS, or CPython's TLS wanting the socket again
    return _errno(err) in _IN_PROGRESS or type(err).__name__ in ("SSLWantReadError", "SSLWantWriteError")
