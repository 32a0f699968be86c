"""The polling loop: one select.poll() over sockets and inputs, the core's deadlines as timeout (I/O only)."""

import select

from intercom.ticks import ticks_diff, earliest
from intercom.netcompat import ticks_ms

MAX_WAIT_MS = 1000     # wake at least once a second (watchdog, input)
RECV_SIZE = 4096       # a SIP datagram over UDP stays below the path MTU (§18.1.1)


class Driver:
    """Runs the app until it is finished.

    Everything that touches sockets, stdin or the clock lives here; the
    UserAgent and App only see bytes, addresses, events and `now`."""

    def __init__(self, ua, app, board, sip_sock, trace=None):
        self.ua = ua
        self.app = app
        self.board = board
        self.sip_sock = sip_sock
        self.trace = trace          # trace(direction, data, addr) for logs and pcap
        self.poll = select.poll()
        self.poll.register(sip_sock.sock, select.POLLIN)
        self.inputs = []
        for obj in board.pollables():
            self.poll.register(obj, select.POLLIN)
            self.inputs.append(obj)

    def run(self):
        now = ticks_ms()
        self.ua.tick(now)
        self.app.start(now)
        self.flush(now)
        while not self.app.finished:
            self.step()
        self.flush(ticks_ms())

    def step(self):
        """One loop iteration: wait, read, advance timers, send, report."""
        now = ticks_ms()
        deadline = earliest(self.ua.next_deadline(), self.app.next_deadline(), now)
        wait = MAX_WAIT_MS
        if deadline is not None:
            wait = max(0, min(wait, ticks_diff(deadline, now)))
        for obj, _flags in self.poll.poll(wait):
            now = ticks_ms()
            if obj is self.sip_sock.sock or obj == self.sip_sock.fileno():
                self.read_sip(now)
            elif self.board.owns(obj):
                self.read_input(obj, now)
        now = ticks_ms()
        self.ua.tick(now)
        self.app.tick(now)
        self.flush(now)
        self.board.feed_watchdog()

    def read_sip(self, now):
        while True:
            got = self.sip_sock.recvfrom(RECV_SIZE)
            if got is None:
                return
            data, addr = got
            if self.trace:
                self.trace("in", data, addr)
            self.ua.receive(data, addr, now)

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
        """Send queued datagrams and hand queued events to the app."""
        while True:
            item = self.ua.pop_datagram()
            if item is None:
                break
            data, addr = item
            if self.trace:
                self.trace("out", data, addr)
            if not self.sip_sock.sendto(data, addr):
                self.board.log("warn", "send to %s:%d failed" % addr)
        while True:
            event = self.ua.next_event()
            if event is None:
                break
            self.app.on_event(event)
