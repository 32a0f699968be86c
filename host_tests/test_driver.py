"""The polling loop (driver.py) never stops: a guarded step, a bounded SIP read, a bounded destination cache.

Real UserAgent, App and host board; real UDP sockets on 127.0.0.1 (a fake
socket where a queue of 1,000 datagrams is needed: the kernel's receive
buffer would drop most of them)."""

import io
import os
import socket

from intercom import config, netcompat
from intercom.app import App
from intercom.board import load_board
from intercom import driver as driver_mod
from intercom.driver import Driver
from intercom.hal.host import HostBoard
from intercom.netcompat import UdpSocket, ticks_ms
from intercom.sip.ua import UserAgent

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPTIONS = (b"OPTIONS sip:door@127.0.0.1 SIP/2.0\r\n"
           b"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s\r\n"
           b"From: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:door@127.0.0.1>\r\n"
           b"Call-ID: %s@probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")


class QuietBoard(HostBoard):
    """The host board without stdin; events and logs kept in memory; watchdog feeds counted."""

    def __init__(self):
        self.out = io.StringIO()
        self.err = io.StringIO()
        HostBoard.__init__(self, load_board("host", [os.path.join(REPO, "boards")]), "info",
                           stdout=self.out, stderr=self.err)
        self.input_open = False
        self.feeds = 0

    def feed_watchdog(self):
        self.feeds += 1


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def no_wait(drv):
    """Steps that do not sleep until the next deadline (the tests step by hand)."""
    drv.wait = lambda ms: drv.poll.poll(0)


def make_driver(sip_sock=None):
    cfg = config.defaults()
    cfg["sip"].update({"registrar": "", "user": "door"})
    cfg["calls"]["accept_from"] = "any"
    board = QuietBoard()
    ua = UserAgent(cfg, "127.0.0.1", None, lambda n: os.urandom(n).hex()[:n], board.log, ticks_ms())
    app = App(ua, board, cfg, os.urandom)
    sip_sock = sip_sock or UdpSocket("127.0.0.1", free_udp_port())
    drv = Driver(ua, app, board, sip_sock)
    ua.tick(ticks_ms())
    app.start(ticks_ms())
    return drv, ua, app, board


def client():
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.bind(("127.0.0.1", 0))
    c.settimeout(0.05)
    return c


def options(c, n):
    port = c.getsockname()[1]
    return OPTIONS % (port, b"%d" % n, b"%d" % n)


def answers(drv, c, want, steps=50):
    """Step the driver until `want` datagrams reached the client (bounded)."""
    got = []
    for _ in range(steps):
        drv.step()
        try:
            while True:
                got.append(c.recv(4096))
        except OSError:
            pass
        if len(got) >= want:
            break
    return got


def test_exception_in_ua_receive_is_counted_logged_and_the_loop_goes_on():
    drv, ua, app, board = make_driver()
    real = ua.receive

    def receive(data, addr, now):
        if data.startswith(b"BOOM"):
            raise RuntimeError("injected fault in receive")
        return real(data, addr, now)
    ua.receive = receive
    c = client()
    dest = drv.sip_sock.local
    c.sendto(b"BOOM 1", dest)
    c.sendto(options(c, 1), dest)              # queued behind the one that raises
    got = answers(drv, c, 1)
    assert got and got[0].startswith(b"SIP/2.0 200")
    c.sendto(b"BOOM 2", dest)
    c.sendto(options(c, 2), dest)
    assert answers(drv, c, 1)[0].startswith(b"SIP/2.0 200")
    assert drv.errors == 2 and board.feeds > 0
    memory = board.memory()
    assert memory["errors"] == 2
    log = board.err.getvalue()
    assert "Traceback" in log and "RuntimeError: injected fault in receive" in log and "receive" in log
    assert "Traceback" not in board.out.getvalue()   # stdout carries only JSON events
    c.close()


def test_exception_in_app_on_event_is_counted_and_later_events_still_arrive():
    drv, ua, app, board = make_driver()
    seen = []
    real = app.on_event

    def on_event(event):
        if event.get("event") == "boom":
            raise ValueError("injected fault in on_event")
        seen.append(event["event"])
        real(event)
    app.on_event = on_event
    no_wait(drv)
    ua.emit({"event": "boom"})
    ua.emit({"event": "error", "message": "after the fault"})
    feeds = board.feeds
    drv.step()
    assert seen == ["error"] and drv.errors == 1 and board.feeds == feeds + 1
    assert '"after the fault"' in board.out.getvalue()
    assert "ValueError: injected fault in on_event" in board.err.getvalue()


def test_exception_in_a_timer_still_feeds_the_watchdog_and_flushes():
    drv, ua, app, board = make_driver()

    def tick(now):
        raise KeyError("injected fault in tick")
    app.tick = tick
    no_wait(drv)
    ua.emit({"event": "error", "message": "queued"})
    for _ in range(3):
        drv.step()
    assert drv.errors == 3 and board.feeds == 3 and '"queued"' in board.out.getvalue()


class QueueSocket(UdpSocket):
    """A bound UDP socket that is always readable (one datagram left in it for
    poll) and whose recvfrom() hands out a queue of datagrams."""

    def __init__(self, queue):
        UdpSocket.__init__(self, "127.0.0.1", free_udp_port())
        self.queue = queue
        poke = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        poke.sendto(b"x", self.local)
        poke.close()

    def recvfrom(self, size=4096):
        return self.queue.pop(0) if self.queue else None


def test_read_sip_takes_at_most_8_datagrams_per_wakeup():
    queue = [(b"garbage %d" % i, ("127.0.0.1", 20000 + i % 5000)) for i in range(1000)]
    drv, ua, app, board = make_driver(QueueSocket(queue))
    real = ua.receive
    counted = [0]

    def receive(data, addr, now):
        counted[0] += 1
        return real(data, addr, now)
    ua.receive = receive
    per_step = []
    for _ in range(200):
        before = counted[0]
        drv.step()
        per_step.append(counted[0] - before)
        if not queue:
            break
    assert max(per_step) == 8 and sum(per_step) == 1000 and driver_mod.SIP_READS == 8
    assert len(per_step) == 1000 // 8 and board.feeds == len(per_step)
    assert drv.errors == 0


class FragmentedHeapSocket(UdpSocket):
    """A real UDP socket on a heap with no block of `largest` bytes free:
    recvfrom(size) raises MemoryError before reading when size > largest,
    as MicroPython's unix and ESP32 ports do (the buffer comes first)."""

    def __init__(self, largest):
        UdpSocket.__init__(self, "127.0.0.1", free_udp_port())
        self.largest = largest
        self.sizes = []

    def recvfrom(self, size=4096):
        self.sizes.append(size)
        if size > self.largest:
            raise MemoryError("memory allocation failed, allocating %d bytes" % size)
        return UdpSocket.recvfrom(self, size)

    def recv(self, size=1500):
        self.sizes.append(size)
        if size > self.largest:
            raise MemoryError("memory allocation failed, allocating %d bytes" % size)
        return UdpSocket.recv(self, size)


def test_no_4096_byte_block_reads_the_sip_datagram_into_1500_bytes():
    # it used to raise on every pass while the datagram stayed queued (poll is
    # level-triggered): SIP stood still until a 4 KB block came free
    drv, ua, app, board = make_driver(FragmentedHeapSocket(2000))
    c = client()
    c.sendto(options(c, 1), drv.sip_sock.local)
    got = answers(drv, c, 1)
    assert got and got[0].startswith(b"SIP/2.0 200")
    assert drv.sip_sock.sizes[:2] == [4096, 1500] and drv.small_reads == 1 and drv.errors == 0
    assert "SIP datagram read into 1500 bytes: no 4096-byte block free" in board.err.getvalue()
    c.close()


def test_no_heap_for_any_sip_buffer_drops_the_datagram_instead_of_failing_every_pass():
    drv, ua, app, board = make_driver(FragmentedHeapSocket(1))
    no_wait(drv)
    c = client()
    c.sendto(options(c, 1), drv.sip_sock.local)
    for _ in range(5):
        drv.step()
    assert drv.sip_sock.sizes[:3] == [4096, 1500, 1] and drv.small_reads == 1
    assert drv.errors == 0 and "SIP datagram dropped: no heap to read it" in board.err.getvalue()
    c.sendto(options(c, 2), drv.sip_sock.local)
    drv.sip_sock.largest = 4096                              # the heap came back
    assert answers(drv, c, 1)[0].startswith(b"SIP/2.0 200")
    c.close()


def test_no_1500_byte_block_reads_rtp_into_512_bytes_and_the_audio_goes_on():
    # the same MemoryError on every pass used to leave RTP queued (no audio in)
    drv, ua, app, board = make_driver()
    rtp = FragmentedHeapSocket(600)
    drv.rtp_sock = rtp
    drv.poll.register(rtp.sock, driver_mod.select.POLLIN)
    heard = []
    app.audio.on_rtp = lambda data, addr, now: heard.append((bytes(data), addr))
    no_wait(drv)
    c = client()
    packets = [b"\x80\x00" + bytes([0, n]) + bytes(168) for n in range(3)]     # 172-byte G.711 packets
    for packet in packets:
        c.sendto(packet, rtp.local)
    for _ in range(6):
        drv.step()
    assert [data for data, _addr in heard] == packets and heard[0][1] == c.getsockname()
    assert rtp.sizes[:2] == [1500, 512] and drv.small_reads == 3 and drv.errors == 0
    assert "RTP datagram read into 512 bytes: no 1500-byte block free (1 so far)" in board.err.getvalue()
    c.close()


def test_destination_cache_stays_bounded_after_1000_senders():
    sock = UdpSocket("127.0.0.1", free_udp_port())
    conversions = []
    real = netcompat.sockaddr

    def counting(addr):
        conversions.append(addr)
        return real(addr)
    netcompat.sockaddr = counting
    try:
        hot = ("127.0.0.1", 9)                 # e.g. the registrar: used all along
        for i in range(1000):
            sock.sendto(b"x", ("127.0.0.1", 10000 + i))
            if i % 4 == 0:
                sock.sendto(b"x", hot)
    finally:
        netcompat.sockaddr = real
    cached = len(sock._dest) + len(getattr(sock, "_old", {}))
    assert cached <= 2 * netcompat.DEST_CACHE
    assert conversions.count(hot) == 1        # the peer in use never left the cache
    assert len(conversions) == 1001
    sock.close()
