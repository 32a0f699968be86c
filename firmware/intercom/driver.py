"""The polling loop: select.poll() over SIP, RTP, RTCP and inputs, timed by deadlines and the audio clock (I/O)."""

import select
import sys

from intercom.ticks import ticks_add, ticks_diff, earliest
from intercom.netcompat import ticks_ms

MAX_WAIT_MS = 1000     # wake at least once a second (watchdog, input)
RECV_SIZE = 4096       # a SIP datagram over UDP stays below the path MTU (§18.1.1)
RTP_RECV_SIZE = 1500
# When a fragmented heap has no block of the full size left, the datagram
# (still queued: the buffer is allocated before the read, on the unix and
# ESP32 ports) is read into the smaller size instead (a longer SIP message
# is cut, then refused as malformed; an RTP packet of a 20 ms frame is 172
# bytes), then into 1 byte, which drops it: never the same MemoryError on
# every pass while the datagram stays queued (poll is level-triggered).
SMALL_RECV_SIZES = (1500, 1)
RTP_SMALL_RECV_SIZES = (512, 1)
RTP_DRAIN = 64         # datagrams read with their sources right after connect()
FRAME_MS = 20
RESYNC_MS = 200        # this far behind, the frame clock restarts instead of bursting
DEVICE_POLL_MS = 5     # I2S-paced boards: how often to look for a finished frame
SIP_READS = 8          # SIP datagrams per wake-up; the rest wait one pass (audio, watchdog)
TRACEBACKS = 10        # loop errors logged with a traceback; later only every 100th


class Driver:
    """Runs the app until it is finished.

    Everything that touches sockets, stdin or the clock lives here; the
    UserAgent and App only see bytes, addresses, events and `now`."""

    # Class attributes: no instance slot on a UDP phone without MQTT.
    streams = None          # TCP/TLS connections (stream_conn), made on first use
    # Home Assistant over MQTT (intercom/ha.py), set by boot.py when configured:
    # its client's socket is polled with ours (HomeAssistant.service)
    integration = None
    max_step_ms = 0         # longest pass after its wait (the `memory` event's max_step_ms)
    small_reads = 0         # datagrams read into SMALL_RECV_SIZES / RTP_SMALL_RECV_SIZES

    def __init__(self, ua, app, board, sip_sock, rtp_sock=None, rtcp_sock=None, trace=None):
        self.ua = ua
        self.app = app
        self.board = board
        self.audio = getattr(board, "audio", None)
        self.sip_sock = sip_sock
        self.rtp_sock = rtp_sock
        self.rtcp_sock = rtcp_sock
        self.trace = trace          # trace(direction, data, addr) for logs and pcap
        self.poll = select.poll()
        self.poll.register(sip_sock.sock, select.POLLIN)
        for sock in (rtp_sock, rtcp_sock):
            if sock is not None:
                self.poll.register(sock.sock, select.POLLIN)
        for obj in board.pollables():
            self.poll.register(obj, select.POLLIN)
        self.next_frame = None      # the audio frame clock (ticks), None when idle
        self.late_frames = 0
        self.resyncs = 0
        self.rtp_peer = None        # the address the RTP socket is connected to
        self.errors = 0             # exceptions caught by the loop (the `memory` event's errors)
        # MicroPython's ipoll() reuses one result tuple: no allocation per wake-up
        self.wait = getattr(self.poll, "ipoll", self.poll.poll)

    def run(self):
        now = ticks_ms()
        try:
            self.ua.tick(now)
            self.app.start(now)
        except Exception as err:
            self.failed("start", err)
        self.flush(now)
        while not self.app.finished:
            self.step()
        self.flush(ticks_ms())
        if self.integration is not None:
            try:
                self.integration.close()
            except Exception as err:
                self.failed("integration", err)

    def failed(self, where, err):
        """An exception escaped one part of the loop: count it, log it with its
        traceback (board log: stderr on the host, never stdout), and go on.

        The parts are guarded one by one, so one bad datagram or callback
        skips nothing else (the watchdog is still fed, the queues flushed).
        SystemExit and KeyboardInterrupt are not caught. Under heap_lock the
        logging itself raises MemoryError, which then propagates: an
        allocation in the audio path is never hidden."""
        self.errors = (self.errors + 1) & 0x3FFFFFFF
        self.board.errors = self.errors
        if isinstance(err, MemoryError):
            import gc
            gc.collect()            # the failed work is garbage now: room to log
        if self.errors <= TRACEBACKS or self.errors % 100 == 0:
            self.board.log("error", "loop error %d in %s: %s" % (self.errors, where, format_exception(err)))

    def pumping(self):
        return self.app.audio.running() or (self.audio is not None and self.audio.always_on)

    def step(self):
        """One loop iteration: wait, read, advance timers, pump audio, send, report.

        Never raises (but for SystemExit/KeyboardInterrupt): each part is
        guarded on its own, see failed(). A try block costs no allocation."""
        now = ticks_ms()
        started = now
        waited = 0
        board = self.board
        wait = FRAME_MS             # if the deadlines cannot be had, audio still runs
        device_paced = False
        try:
            deadline = earliest(self.ua.next_deadline(), self.app.next_deadline(), now)
            deadline = earliest(deadline, board.next_deadline(), now)
            if self.streams is not None:   # connect/handshake timeouts fire, then their next one
                deadline = earliest(deadline, self.streams.tick(now), now)
            if self.integration is not None:
                deadline = earliest(deadline, self.integration.next_deadline(now), now)
            if self.pumping():
                # I2S boards pace frames by the device (frame_ready() True/False);
                # None, or the host's WAV files, means: pace by the clock
                device_paced = self.audio is not None and self.audio.frame_ready() is not None
                if self.next_frame is None:
                    self.next_frame = now
                if not device_paced:
                    deadline = earliest(deadline, self.next_frame, now)
            else:
                self.next_frame = None
            wait = MAX_WAIT_MS
            if deadline is not None:
                wait = max(0, min(wait, ticks_diff(deadline, now)))
            if device_paced:
                wait = min(wait, DEVICE_POLL_MS)
        except Exception as err:
            self.failed("deadlines", err)
        try:
            before = ticks_ms()
            ready = self.wait(wait)
            waited = ticks_diff(ticks_ms(), before)
            for obj, _flags in ready:
                now = ticks_ms()
                try:
                    if self._is(obj, self.rtp_sock):
                        self.read_rtp(now)
                    elif self._is(obj, self.sip_sock):
                        self.read_sip(now)
                    elif self._is(obj, self.rtcp_sock):
                        self.read_rtcp(now)
                    elif self.board.owns(obj):
                        self.read_input(obj, now)
                    elif self.integration is not None and self.integration.owns(obj):
                        self.integration.on_ready(now)
                    elif self.streams is not None:
                        self.streams.on_ready(obj, _flags, now)
                except Exception as err:
                    self.failed("input", err)
        except Exception as err:
            self.failed("poll", err)
        now = ticks_ms()
        try:
            board.service(now)
        except Exception as err:
            self.failed("board", err)
        try:
            for role, action in board.take_button_events():
                try:
                    self.ua.tick(now)
                    self.app.on_button(role, action, now)
                except Exception as err:
                    self.failed("button", err)
            for event in board.take_events():
                try:
                    self.app.on_board_event(event, now)
                except Exception as err:
                    self.failed("board event", err)
        except Exception as err:
            self.failed("board", err)
        try:
            if device_paced:
                if self.audio.frame_ready():
                    self.next_frame = now
                    self.pump(now)
            elif self.next_frame is not None and ticks_diff(now, self.next_frame) >= 0:
                self.pump(now)
        except Exception as err:
            self.next_frame = ticks_add(now, FRAME_MS)   # a pump that keeps failing: no busy loop
            self.failed("audio", err)
        try:
            self.ua.tick(now)
        except Exception as err:
            self.failed("sip timers", err)
        try:
            self.app.tick(now)
        except Exception as err:
            self.failed("app timers", err)
        if self.integration is not None:
            try:
                self.integration.service(now, self.poll)
            except Exception as err:
                self.failed("integration", err)
        self.flush(now)
        try:
            self.board.feed_watchdog()
        except Exception as err:
            self.failed("watchdog", err)
        spent = ticks_diff(ticks_ms(), started) - waited
        if spent > self.max_step_ms:
            self.max_step_ms = spent
            board.max_step_ms = spent

    @staticmethod
    def _is(obj, sock):
        return sock is not None and (obj is sock.sock or obj == sock.fileno())

    # --- audio: the 20 ms path (allocates nothing but received datagrams) -------------
    def pump(self, now):
        """One audio frame each way, on the frame clock (drift-free: the
        deadline advances by exactly 20 ms; far behind, it restarts)."""
        audio = self.app.audio
        session = audio.session
        if self.rtp_peer is not None and self.rtp_peer != session.settled(now):
            self._unconnect_rtp()       # the stream moved or ended: see every source again
        packet = audio.frame(self.audio)
        while packet is not None and self.rtp_sock is not None:
            if self.rtp_peer is not None:
                self.rtp_sock.send(packet)
            else:
                self.rtp_sock.sendto(packet, session.dest)
            packet = session.more()     # 10 ms packets: a frame makes two
        report = session.rtcp_report(now)
        if report is not None and self.rtcp_sock is not None:
            self.rtcp_sock.sendto(report, session.rtcp_dest)
        self.next_frame = ticks_add(self.next_frame, FRAME_MS)
        behind = ticks_diff(now, self.next_frame)
        if behind > 0:
            self.late_frames = (self.late_frames + 1) & 0x3FFFFFFF    # small int for ever
            if behind > RESYNC_MS:
                self.resyncs += 1
                self.next_frame = ticks_add(now, FRAME_MS)

    def read_rtp(self, now):
        """One datagram per wake-up (a second read would raise, and raising allocates).

        Until the session settles on a source (MediaSession.settled: the
        SDP address, or a NAT latch by its rule) each datagram is read with
        its source (recvfrom) and the session judges it; then the socket is
        connected there, the kernel drops every other source, and recv()
        allocates nothing but the datagram."""
        if self.rtp_peer is not None:
            try:
                data = self.rtp_sock.recv(RTP_RECV_SIZE)
            except MemoryError:         # preallocated: raising it allocates nothing
                data = self._recv_small(self.rtp_sock, "RTP", RTP_RECV_SIZE, RTP_SMALL_RECV_SIZES, False)
            if data is not None:
                self.app.audio.on_rtp(data, self.rtp_peer, now)
            return
        try:
            got = self.rtp_sock.recvfrom(RTP_RECV_SIZE)
        except MemoryError:
            got = self._recv_small(self.rtp_sock, "RTP", RTP_RECV_SIZE, RTP_SMALL_RECV_SIZES, True)
        if got is None:
            return
        self.app.audio.on_rtp(got[0], got[1], now)
        peer = self.app.audio.session.settled(now)
        if peer is not None:
            self._connect_rtp(peer, now)

    def _connect_rtp(self, peer, now):
        # Datagrams queued before connect() passed no kernel filter: they are
        # read with their sources, so none is taken for the peer's. A queue
        # longer than RTP_DRAIN (a flood) is dropped with the socket instead.
        for _attempt in range(2):
            try:
                self.rtp_sock.connect(peer)
            except OSError as err:
                self.board.log("warn", "cannot connect the RTP socket: %s" % err)
                return
            self.rtp_peer = peer
            for _ in range(RTP_DRAIN):
                got = self.rtp_sock.recvfrom(RTP_RECV_SIZE)
                if got is None:
                    return
                self.app.audio.on_rtp(got[0], got[1], now)
            self._unconnect_rtp()
        self.board.log("warn", "RTP socket flooded; left unconnected")

    def _unconnect_rtp(self):
        # A UDP socket cannot be portably disconnected: open it again.
        from intercom.netcompat import UdpSocket
        local = self.rtp_sock.local
        self.poll.unregister(self.rtp_sock.sock)
        self.rtp_sock.close()
        self.rtp_sock = UdpSocket(local[0], local[1])
        self.poll.register(self.rtp_sock.sock, select.POLLIN)
        self.rtp_peer = None

    def read_rtcp(self, now):
        try:
            data = self.rtcp_sock.recv(RTP_RECV_SIZE)
        except MemoryError:
            data = self._recv_small(self.rtcp_sock, "RTCP", RTP_RECV_SIZE, RTP_SMALL_RECV_SIZES, False)
        if data is not None:
            self.app.audio.session.receive_rtcp(data, now)

    # --- SIP and inputs ------------------------------------------------------------
    def read_sip(self, now):
        """At most SIP_READS datagrams, then back to the loop: a flood must not
        starve audio or the watchdog (poll is level-triggered, so the rest
        wake the next pass at once). One datagram that raises skips nothing
        but itself."""
        for _ in range(SIP_READS):
            try:
                got = self.sip_sock.recvfrom(RECV_SIZE)
            except MemoryError:
                got = self._recv_small(self.sip_sock, "SIP", RECV_SIZE, SMALL_RECV_SIZES, True)
            if got is None:
                return
            data, addr = got
            try:
                if self.trace:
                    self.trace("in", data, addr)
                self.ua.receive(data, addr, now)
            except Exception as err:
                self.failed("SIP datagram from %r" % (addr,), err)

    def _recv_small(self, sock, what, full, sizes, source):
        # The `what` datagram (recvfrom's pair when `source`, else recv's
        # bytes) when its `full`-size buffer cannot be had: see SMALL_RECV_SIZES.
        # None when it was dropped or nothing was queued. Logged the first
        # 10 times, then every 100th (RTP brings 50 a second).
        for size in sizes:
            try:
                got = sock.recvfrom(size) if source else sock.recv(size)
            except MemoryError:
                continue
            if got is None:
                return None                 # nothing was queued after all
            self.small_reads += 1
            if self.small_reads <= TRACEBACKS or self.small_reads % 100 == 0:
                if size == 1:
                    self.board.log("error", "%s datagram dropped: no heap to read it (%d so far)"
                                   % (what, self.small_reads))
                else:
                    self.board.log("warn", "%s datagram read into %d bytes: no %d-byte block free (%d so far)"
                                   % (what, size, full, self.small_reads))
            return None if size == 1 else got
        raise MemoryError("no heap for a %s datagram" % what)

    def read_input(self, obj, now):
        # Commands start timers relative to the core's idea of now: bring it up
        # to date first, or a retransmission timer would fire at once.
        self.ua.tick(now)
        line = self.board.read_command()
        if line is None:
            self.poll.unregister(obj)
            self.app.quit(now)        # end of input means quit
        else:
            self.app.on_command(line, now)

    def flush(self, now):
        """Send queued datagrams and hand queued events to the app; an
        exception in one of them is counted and the rest still go."""
        try:
            while True:
                item = self.ua.pop_datagram()
                if item is None:
                    break
                data, addr = item
                try:
                    if self.trace:
                        self.trace("out", data, addr)
                    if addr in self.ua.layer.transports:      # TCP/TLS: on its connection
                        if self.streams is None:        # first use: import stream_conn (and ssl) now
                            from intercom.stream_conn import StreamTransport
                            self.streams = StreamTransport(self)
                        self.streams.send(data, addr, now)
                    elif not self.sip_sock.sendto(data, addr):
                        self.board.log("warn", "send to %s:%d failed" % addr)
                except Exception as err:
                    self.failed("send", err)
        except Exception as err:
            self.failed("datagram queue", err)
        try:
            while True:
                event = self.ua.next_event()
                if event is None:
                    break
                try:
                    self.app.on_event(event)
                except Exception as err:
                    self.failed("app.on_event", err)
        except Exception as err:
            self.failed("event queue", err)
        try:
            self.send_rtcp_bye()
        except Exception as err:
            self.failed("RTCP BYE", err)

    def send_rtcp_bye(self):
        """A stream that stopped (on a call event just handled) leaves its RTCP
        BYE (RFC 3550 §6.6) in the session: send it once."""
        audio = getattr(self.app, "audio", None)
        session = getattr(audio, "session", None)
        if session is None or session.bye is None:
            return
        bye = session.bye
        session.bye = None
        if self.rtcp_sock is not None:
            self.rtcp_sock.sendto(bye, session.bye_dest)


def format_exception(err):
    """The traceback of err as text (sys.print_exception on MicroPython)."""
    if hasattr(sys, "print_exception"):
        import io
        buf = io.StringIO()
        sys.print_exception(err, buf)
        return buf.getvalue()
    import traceback
    return "".join(traceback.format_exception(type(err), err, err.__traceback__))
