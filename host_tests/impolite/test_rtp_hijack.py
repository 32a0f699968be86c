"""RTP hijack (issue 9 item 3; RFC 3550 §5.1, §8.2): a host spraying valid RTP
at the door's RTP port neither hears the door nor is heard.

Two tools/sim phones call peer to peer on 127.0.0.1: "flat" (the real peer,
its microphone a 1 kHz tone) calls "door" (microphone 600 Hz). A Python RTP
injector on another port sprays valid PCMU RTP carrying 2 kHz (one random
SSRC, strict sequence, 100 packets/s: the strongest spray, and it even comes
from the signalling peer's IP) at the door's RTP port, from before the call
is answered to after it ends. Then:
  - no datagram from the door reaches the injector (it never hears the door),
  - the door's speaker plays 1 kHz and never 2 kHz (zero-crossing frequency
    of every 20 ms frame, and the 2 kHz power against 1 kHz over the call),
  - the real peer's audio flows both ways (received, nothing lost).
Both runtimes; every wait bounded; every process stopped by its PID.
"""

import math
import os
import random
import socket
import struct
import sys
import threading
import time
import wave

import pytest

from ._rig import HOST, RUNTIMES, Rig

CORE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "core")
if CORE not in sys.path:
    sys.path.insert(0, CORE)
from _helpers import zc_freq  # noqa: E402

RATE = 8000
FRAME = 160
PEER_HZ = 1000          # the real peer's microphone
DOOR_HZ = 600           # the door's microphone
INJECTED_HZ = 2000      # the injector's payload
CALL_S = 4.0
SPRAY_BEFORE_ANSWER_S = 1.0


def write_tone(path, hz, amplitude=10000, seconds=1.0):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(b"".join(struct.pack("<h", int(amplitude * math.sin(2 * math.pi * hz * i / RATE)))
                               for i in range(int(RATE * seconds))))
    return str(path)


def read_wav(path):
    with wave.open(str(path), "rb") as w:
        data = w.readframes(w.getnframes())
    return list(struct.unpack("<%dh" % (len(data) // 2), data))


def ulaw(sample):
    """G.711 mu-law code of one 16-bit sample (ITU-T G.711, the usual bias 0x84)."""
    sign = 0x80 if sample < 0 else 0
    mag = min(-sample if sample < 0 else sample, 32635) + 0x84
    exp = 7
    while exp > 0 and not mag & (0x4000 >> (7 - exp)):
        exp -= 1
    return ~(sign | (exp << 4) | ((mag >> (exp + 3)) & 0x0F)) & 0xFF


def goertzel(samples, hz):
    coeff = 2 * math.cos(2 * math.pi * hz / RATE)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


class Injector:
    """Sprays RTP at target from its own port on 127.0.0.1 and records every
    datagram that comes back to that port."""

    def __init__(self, target, interval=0.01):
        self.target = target
        self.interval = interval
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.001)
        self.port = self.sock.getsockname()[1]
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        self.ts = random.getrandbits(32)
        self.sent = 0
        self.received = []          # (source, length)
        self.marks = {}             # label -> packets sent by then
        self._stop = threading.Event()
        codes = bytes(ulaw(int(16000 * math.sin(2 * math.pi * INJECTED_HZ * i / RATE)))
                      for i in range(FRAME * 4))
        self.payloads = [codes[k * FRAME:(k + 1) * FRAME] for k in range(4)]   # 2 kHz, phase-continuous
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def mark(self, label):
        self.marks[label] = self.sent

    def _run(self):
        deadline = time.monotonic() + 60          # bounded whatever happens
        k = 0
        while not self._stop.is_set() and time.monotonic() < deadline:
            header = struct.pack(">BBHII", 0x80, 0, self.seq, self.ts, self.ssrc)
            try:
                self.sock.sendto(header + self.payloads[k % 4], self.target)
                self.sent += 1
            except OSError:
                pass
            self.seq = (self.seq + 1) & 0xFFFF
            self.ts = (self.ts + FRAME) & 0xFFFFFFFF
            k += 1
            end = time.monotonic() + self.interval
            while time.monotonic() < end:
                try:
                    data, src = self.sock.recvfrom(2048)
                    self.received.append((src, len(data)))
                except (socket.timeout, BlockingIOError):
                    pass
                except OSError:
                    break

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def rig(tmp_path):
    r = Rig(tmp_path)
    injectors = []
    r.injectors = injectors
    try:
        yield r
    finally:
        for inj in injectors:
            inj.stop()
        r.close()


def frames_of(samples, min_rms=3000):
    """(index, zero-crossing Hz) of every 20 ms frame loud enough to be a call tone
    (the ring, at a fifth of their level, is not)."""
    out = []
    for i in range(0, len(samples) - FRAME + 1, FRAME):
        frame = samples[i:i + FRAME]
        rms = math.sqrt(sum(v * v for v in frame) / FRAME)
        if rms >= min_rms:
            out.append((i // FRAME, zc_freq(frame, RATE)))
    return out


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_rtp_injector_never_hears_the_door_nor_reaches_its_speaker(rig, tmp_path, runtime):
    door_spk, flat_spk = tmp_path / "door-speaker.wav", tmp_path / "flat-speaker.wav"
    door = rig.sim(runtime, "door", extra_args=["--mic", write_tone(tmp_path / "door.wav", DOOR_HZ),
                                                "--speaker", str(door_spk)])
    flat = rig.sim(runtime, "flat", extra_args=["--mic", write_tone(tmp_path / "flat.wav", PEER_HZ),
                                                "--speaker", str(flat_spk)])
    inj = Injector((HOST, door.rtp_port)).start()
    rig.injectors.append(inj)

    def explain():
        return "%s\ninjector: sent %d, got back %r" % (rig.report(), inj.sent, inj.received[:5])

    flat.send("dial sip:door@%s:%d" % (HOST, door.sip_port))
    door.wait_event("call", 8, state="incoming")
    time.sleep(SPRAY_BEFORE_ANSWER_S)              # the spray is already running while it rings
    inj.mark("answer")
    door.send("answer")
    door.wait_event("call", 5, state="connected")
    flat.wait_event("call", 5, state="connected")
    time.sleep(CALL_S)
    inj.mark("hangup")
    flat.send("hangup")
    flat_end = flat.wait_event("call", 5, state="ended")
    door_end = door.wait_event("call", 5, state="ended")
    time.sleep(0.3)                                 # the door's tail, if any, would arrive now
    inj.stop()
    assert door.quit(10) == 0, explain()
    assert flat.quit(10) == 0, explain()

    dm, fm = door_end.get("media") or {}, flat_end.get("media") or {}
    during = inj.marks["hangup"] - inj.marks["answer"]
    from_door = [r for r in inj.received if r[0][1] in (door.rtp_port, door.rtp_port + 1)]
    print("runtime %s: injector sent %d RTP packets (%d before the answer, %d during the call), got "
          "%d datagrams back (%d from the door's RTP/RTCP ports); door media: received=%s lost=%s "
          "foreign_source=%s foreign_ssrc=%s rtp_source=%s; flat media: received=%s lost=%s" % (
              runtime, inj.sent, inj.marks["answer"], during, len(inj.received), len(from_door),
              dm.get("received"), dm.get("lost"), dm.get("foreign_source"), dm.get("foreign_ssrc"),
              dm.get("rtp_source"), fm.get("received"), fm.get("lost")))
    assert inj.marks["answer"] >= 50 and during >= 200, "the injector did not spray: " + explain()
    assert not from_door, "the injector heard the door: %r\n%s" % (from_door[:5], explain())
    assert not inj.received, explain()
    # the real peer's audio flows both ways, from the SDP address (a few
    # packets may be lost to a loaded host: the claim is the flow, not zero loss)
    assert dm.get("rtp_source") == "sdp" and dm.get("received", 0) >= 150, explain()
    assert fm.get("received", 0) >= 150, explain()
    assert dm.get("lost", 99) <= 10 and fm.get("lost", 99) <= 10, explain()

    # the door's speaker: the peer's 1 kHz in every loud frame, never the injected 2 kHz
    samples = read_wav(door_spk)
    loud = frames_of(samples)
    freqs = [round(f) for _i, f in loud]
    injected = [f for f in freqs if abs(f - INJECTED_HZ) < 300]
    peer = [f for f in freqs if abs(f - PEER_HZ) < 100]
    start, end = loud[0][0] * FRAME, (loud[-1][0] + 1) * FRAME
    ratio_db = 10 * math.log10(max(goertzel(samples[start:end], INJECTED_HZ), 1e-9)
                               / max(goertzel(samples[start:end], PEER_HZ), 1e-9))
    print("door speaker: %d loud frames, %d at %d Hz +-100, %d near %d Hz; %d Hz at %.1f dB against "
          "%d Hz over the call" % (len(loud), len(peer), PEER_HZ, len(injected), INJECTED_HZ,
                                   INJECTED_HZ, ratio_db, PEER_HZ))
    assert not injected, "injected tone on the door's speaker: %r\n%s" % (freqs, explain())
    assert len(peer) >= 150, "the peer's tone did not play: %r\n%s" % (freqs[:50], explain())
    assert ratio_db < -40, explain()
    # and the real peer hears the door
    flat_frames = [round(f) for _i, f in frames_of(read_wav(flat_spk))]
    assert len([f for f in flat_frames if abs(f - DOOR_HZ) < 100]) >= 150, explain()


# -- the driver over real sockets: connect() only to the settled source ---------------


class _Board:
    """The few board calls Driver and App make outside step()."""

    def __init__(self):
        from intercom.board import load_board
        self.description = load_board("host", [os.path.join(os.path.dirname(CORE), "..", "boards")])
        self.audio = None
        self.logs = []

    def pollables(self):
        return []

    def emit(self, event):
        pass

    def log(self, level, text):
        self.logs.append(text)

    def set_led(self, pattern):
        pass

    def set_relay(self, on, pulse_ms=None):
        pass

    def set_in_call(self, on):
        pass


def _udp(ip):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 0))
    s.setblocking(False)
    return s


class _Rtp:
    """Consecutive PCMU packets of one SSRC."""

    def __init__(self, ssrc):
        self.ssrc = ssrc
        self.seq = random.getrandbits(16)

    def packet(self):
        self.seq = (self.seq + 1) & 0xFFFF
        return struct.pack(">BBHII", 0x80, 0, self.seq, self.seq * FRAME, self.ssrc) + b"\x55" * FRAME


def _drain(sock):
    n = 0
    while True:
        try:
            sock.recvfrom(2048)
            n += 1
        except (BlockingIOError, OSError):
            return n


def test_driver_connects_only_to_the_settled_source_and_follows_a_nat_latch_by_the_rule():
    """In process, real UDP on loopback: the call's SDP names port X; the peer
    (NAT'd) sends from port Y of the signalling IP 127.0.0.1; an attacker on
    127.0.0.2 sprays in sequence all along. The door latches Y after a second
    of silence from X (its socket then connected to Y), never answers the
    attacker, lets the latch go when Y falls silent, and X wins once heard."""
    firmware = os.path.join(os.path.dirname(os.path.dirname(CORE)), "firmware")
    if firmware not in sys.path:
        sys.path.insert(0, firmware)
    from intercom import config
    from intercom.app import App
    from intercom.driver import Driver
    from intercom.netcompat import UdpSocket
    from intercom.sip.ua import UserAgent

    cfg = config.defaults()
    cfg["sip"].update({"registrar": "", "user": "door"})
    board = _Board()
    ua = UserAgent(cfg, HOST, None, lambda n: os.urandom(n).hex()[:n], board.log, 0)
    app = App(ua, board, cfg, os.urandom)
    from peers import free_udp_ports
    socks = [UdpSocket(HOST, port) for port in free_udp_ports(3)]
    sdp, nat, attacker = _udp(HOST), _udp(HOST), _udp("127.0.0.2")
    try:
        drv = Driver(ua, app, board, socks[0], socks[1], socks[2])
        x = sdp.getsockname()
        y = nat.getsockname()
        door = socks[1].local
        app.audio.on_media_event({"id": 1, "address": HOST, "port": x[1], "pt": 0, "dtmf_pt": 101,
                                  "direction": "sendrecv", "peer_ip": HOST})
        app.audio.on_call_event({"id": 1, "state": "connected"}, 0)
        peer_tx, evil_tx = _Rtp(0x0B0B0B0B), _Rtp(0x66666666)
        drv.next_frame = 0
        got = {"sdp": 0, "nat": 0, "attacker": 0}

        def frame(t, senders):
            for sock, src in senders:
                sock.sendto(src.packet(), door)
            for _ in range(4):
                drv.read_rtp(t)
            drv.pump(t)
            for name, sock in (("sdp", sdp), ("nat", nat), ("attacker", attacker)):
                got[name] += _drain(sock)

        for i in range(45):                                    # 0..880 ms: no latch yet
            frame(20 * i, ((nat, peer_tx), (attacker, evil_tx)))
        assert drv.rtp_peer is None and got["nat"] == 0 and got["sdp"] == 45, got
        for i in range(45, 100):                               # from 1000 ms: latched to Y
            frame(20 * i, ((nat, peer_tx), (attacker, evil_tx)))
        assert drv.rtp_peer == (HOST, y[1]) and app.audio.session.nat, (drv.rtp_peer, got)
        assert got["nat"] >= 45 and got["attacker"] == 0, got
        sent_to_nat = got["nat"]
        for i in range(100, 160):                              # Y silent: the latch is let go
            frame(20 * i, ((attacker, evil_tx),))
        assert drv.rtp_peer is None and got["attacker"] == 0, got
        sdp_tx = _Rtp(0x0C0C0C0C)
        for i in range(160, 200):                              # X heard: it wins
            frame(20 * i, ((sdp, sdp_tx), (nat, peer_tx), (attacker, evil_tx)))
        assert drv.rtp_peer == (HOST, x[1]) and not app.audio.session.nat, (drv.rtp_peer, got)
        assert got["attacker"] == 0 and got["nat"] <= sent_to_nat + 60, got
        stats = app.audio.session.stop()
        print("driver over loopback: door sent %r; foreign_source=%d" % (got, stats["foreign_source"]))
        # counted while the socket was unconnected (0-1 s, and 1 s of Y's
        # silence); while connected the kernel drops them uncounted
        assert stats["foreign_source"] >= 100, stats
    finally:
        for s in (sdp, nat, attacker):
            s.close()
        for s in (drv.rtp_sock, socks[0], socks[2]):
            s.close()
