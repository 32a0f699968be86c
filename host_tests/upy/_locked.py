"""Shared by the heap-lock proofs: a socket whose recv() alone may allocate, a quiet host board, two phones."""

import gc
import sys
import time
import micropython

from intercom import config
from intercom.netcompat import UdpSocket
from intercom.hal.host import HostBoard
from intercom.hal.host_audio import HostAudio
from intercom.board import load_board
from intercom.sip.ua import UserAgent
from intercom.app import App
from intercom.driver import Driver

allowed = [0]          # datagrams received while unlocked
received_bytes = [0]   # heap taken by those reads (the one allocation allowed)
locked = [False]       # the heap is locked by the frame loop


class LockedSocket(UdpSocket):
    """recv() is the only call allowed to allocate: it runs with the heap unlocked."""

    def recv(self, size=1500):
        if not locked[0]:
            return UdpSocket.recv(self, size)
        micropython.heap_unlock()
        try:
            before = gc.mem_alloc()
            data = UdpSocket.recv(self, size)
            received_bytes[0] += gc.mem_alloc() - before
        finally:
            micropython.heap_lock()
        allowed[0] += 1
        return data


class QuietBoard(HostBoard):
    """A host board without stdin: events are kept, not printed."""

    def __init__(self, description):
        HostBoard.__init__(self, description, "error")
        self.events = []
        self.input_open = False

    def pollables(self):
        return []

    def emit(self, event):
        self.events.append(event)


# --- two phones in a call, and the frame loop under the lock ------------------------------

def rand_hex(n):
    import os
    import binascii
    return binascii.hexlify(os.urandom(n)).decode()[:n]


def rand_bytes(n):
    import os
    return os.urandom(n)


def write_tone(path, rate=8000):
    """One second of the busy tone as a WAV file: the host phones' microphone."""
    from intercom.media.wav import WavWriter
    from intercom.media.tones import ToneGenerator
    gen = ToneGenerator(rate)
    gen.start("busy")
    n = rate // 50
    buf = bytearray(2 * n)
    w = WavWriter(path, rate=rate)
    for _ in range(50):
        gen.fill(buf, n)
        w.write(buf, n)
    w.close()


def phone_config(user, sip_port, rtp_port, codecs=None):
    """A phone's config: no registrar, auto-answers 127.0.0.1."""
    cfg = config.defaults()
    cfg["sip"].update({"registrar": "", "user": user, "local_port": sip_port})
    cfg["media"]["rtp_port"] = rtp_port
    if codecs:
        cfg["media"]["codecs"] = codecs
    cfg["calls"].update({"accept_from": ["127.0.0.1"], "auto_answer": True})
    return cfg


def driver(cfg, board):
    """UserAgent, App and Driver on 127.0.0.1 (the RTP and RTCP sockets are LockedSockets)."""
    sip_port = cfg["sip"]["local_port"]
    rtp_port = cfg["media"]["rtp_port"]
    ua = UserAgent(cfg, "127.0.0.1", None, rand_hex, lambda lvl, txt: None, time.ticks_ms())
    app = App(ua, board, cfg, rand_bytes)
    drv = Driver(ua, app, board, UdpSocket("127.0.0.1", sip_port), LockedSocket("127.0.0.1", rtp_port),
                 LockedSocket("127.0.0.1", rtp_port + 1))
    return ua, app, board, drv


def host_phone(cfg, mic_path):
    """A host phone (QuietBoard, the WAV file as its microphone): (ua, app, board, driver)."""
    board = QuietBoard(load_board("host", ["../../boards"]))
    board.audio = HostAudio(mic_path, None)
    return driver(cfg, board)


def step_both(drv_a, drv_b):
    drv_a.step()
    drv_b.step()


def start_phones(*drvs):
    for drv in drvs:
        drv.ua.tick(time.ticks_ms())
        drv.app.start(time.ticks_ms())


def settle(drv_a, drv_b, step=step_both, serve=None, least_ms=3000, most_ms=8000):
    """Set up and warm up, unlocked: steps for least_ms, then on until both sides
    sent their first RTCP report (its randomised first interval is 1.25-3.75 s;
    the first datagram to a new destination converts its address once per call,
    then cached, which is not per-frame work), for most_ms at the most.
    serve() (if given) runs each pass: a peer in this process."""
    start = time.ticks_ms()
    app_a = drv_a.app
    app_b = drv_b.app
    while (time.ticks_diff(time.ticks_ms(), start) < least_ms
           or (time.ticks_diff(time.ticks_ms(), start) < most_ms
               and not (app_a.audio.session.rtcp.reports and app_b.audio.session.rtcp.reports))):
        step(drv_a, drv_b)
        if serve is not None:
            serve()


def lock_frames(drv_a, drv_b, frames, step=step_both, both=True):
    """Runs step(drv_a, drv_b) with micropython.heap_lock() held until B (and,
    if both, A) played `frames` more frames. Only LockedSocket.recv() may
    allocate. Returns a dict: error (the MemoryError, or None), grown (heap
    bytes taken), datagrams (reads let through), frames_a, frames_b."""
    app_a = drv_a.app
    app_b = drv_b.app
    gc.collect()
    before_a = app_a.audio.frames
    before_b = app_b.audio.frames
    received_before = allowed[0]
    gc.disable()
    mem_before = gc.mem_alloc()
    error = None
    micropython.heap_lock()
    locked[0] = True
    try:
        while app_b.audio.frames - before_b < frames or (both and app_a.audio.frames - before_a < frames):
            step(drv_a, drv_b)
    except MemoryError as err:
        error = err
    finally:
        locked[0] = False
        micropython.heap_unlock()
    grown = gc.mem_alloc() - mem_before
    gc.enable()
    return {"error": error, "grown": grown, "datagrams": allowed[0] - received_before,
            "frames_a": app_a.audio.frames - before_a, "frames_b": app_b.audio.frames - before_b}


def allocation_failure(result, what="allocation under heap_lock"):
    """1 (and the traceback printed) if the locked frames raised MemoryError, else 0."""
    error = result["error"]
    if error is None:
        return 0
    print("FAILED: %s:" % what, repr(error))
    sys.print_exception(error)
    return 1


def hang_up(drv_a, drv_b, step=step_both, serve=None):
    """A hangs up; 50 passes let the BYE and its answer through."""
    drv_a.ua.hangup()
    for _ in range(50):
        step(drv_a, drv_b)
        if serve is not None:
            serve()


class TcpPeer:
    """A peer in this process (a proxy, a broker) on 127.0.0.1:port, served unlocked between
    steps: accepts one connection and keeps what it receives in .got; answer() may reply."""

    def __init__(self, port):
        import socket
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
        self.srv.listen(1)
        self.srv.setblocking(False)
        self.conn = None
        self.got = b""

    def serve(self):
        if self.conn is None:
            try:
                self.conn = self.srv.accept()[0]
                self.conn.setblocking(False)
            except OSError:
                return
        try:
            data = self.conn.recv(4096)
        except OSError:
            return
        if data:
            self.got += data
        self.answer()

    def answer(self):
        pass

    def close(self):
        for s in (self.conn, self.srv):
            if s is not None:
                s.close()


def close_phones(*drvs):
    for drv in drvs:
        for sock in (drv.sip_sock, drv.rtp_sock, drv.rtcp_sock):
            sock.close()
