"""G.722 in a call: SDP (RFC 3551 §4.5.2: PT 9, G722/8000), list order, fallback, 8 kHz clocks, wideband frames."""

import math
import sys
from array import array

from _helpers import heap_locked
from _net import Net, states
from _sipfakes import make_ua, drain, events
from test_sdp_interop import Callee, sdp, invite_with
from intercom.audio import AudioControl
from intercom.media.rtp import RtpSender, RtpReceiver
from intercom.media.session import MediaSession, FRAME_SAMPLES
from intercom.media.tones import ToneGenerator, phase_increment
from intercom.media.wideband import retune
from intercom import config

PEER = ("192.0.2.30", 30000)
G722_FIRST = ["G722", "PCMU", "PCMA"]
BARESIP = ("m=audio 30000 RTP/AVP 0 8 9 101\r\n"
           "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:9 G722/8000\r\n"
           "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n")
NARROW_ONLY = ("m=audio 30000 RTP/AVP 0 8 101\r\n"
               "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
               "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")
# impolite: static 9 without a=rtpmap, and a G722/16000 line (the sampling
# rate, which RFC 3551 §4.5.2 says not to write) that must not be taken
STATIC_ONLY = "m=audio 30000 RTP/AVP 9 0\r\na=sendrecv\r\n"
WRONG_RATE = ("m=audio 30000 RTP/AVP 96 0\r\na=rtpmap:96 G722/16000\r\na=rtpmap:0 PCMU/8000\r\n"
              "a=sendrecv\r\n")


def answer(offer_body, codecs):
    ua = make_ua()
    ua.cfg["calls"].update({"accept_from": "any", "auto_answer": True})
    ua.cfg["media"]["codecs"] = codecs
    ua.receive(invite_with(sdp(offer_body)), ("192.0.2.30", 5060), 0)
    finals = [resp for resp, _addr in drain(ua) if resp.status >= 200]
    media = [e for e in events(ua) if e["event"] == "media"]
    body = finals[-1].body.decode() if finals and finals[-1].body else ""
    return finals[-1].status, body, media[-1] if media else None


def m_line(text):
    return [line for line in text.split("\r\n") if line.startswith("m=")][0]


# --- negotiation -------------------------------------------------------------------------

def test_config_accepts_g722_in_media_codecs():
    cfg = config.defaults()
    cfg["media"]["codecs"] = G722_FIRST
    assert config.validate(cfg)["media"]["codecs"] == G722_FIRST


def test_rfc3551_4_5_2_offer_lists_g722_on_9_with_clock_8000_in_list_order():
    net = Net()
    door = net.phone("192.0.2.1", "door")
    door.cfg["media"]["codecs"] = G722_FIRST
    callee = Callee(BARESIP.replace("0 8 9 101", "9 101"))
    net.attach(("192.0.2.9", 5060), callee)
    door.dial("sip:peer@192.0.2.9:5060")
    net.run(10)
    offer = callee.offers[0]
    assert m_line(offer).endswith("RTP/AVP 9 0 8 101")
    assert "a=rtpmap:9 G722/8000" in offer and "a=rtpmap:101 telephone-event/8000" in offer
    assert states(door)[-1] == "connected"


def test_answer_takes_g722_when_listed_first_though_the_offer_lists_it_last():
    status, body, media = answer(BARESIP, G722_FIRST)
    assert status == 200 and media["codec"] == "G722" and media["pt"] == 9
    assert m_line(body).endswith("RTP/AVP 9 101") and "a=rtpmap:9 G722/8000" in body
    assert media["dtmf_pt"] == 101          # telephone-event/8000 with G.722 too


def test_answer_follows_our_list_order_g711_first():
    status, _body, media = answer(BARESIP, ["PCMA", "G722"])
    assert status == 200 and media["codec"] == "PCMA"


def test_peer_without_g722_falls_back_to_g711_in_the_same_setup():
    status, body, media = answer(NARROW_ONLY, G722_FIRST)
    assert status == 200 and media["codec"] == "PCMU" and "G722" not in body


def test_g722_only_door_refuses_a_g711_only_offer_with_488():
    status, _body, media = answer(NARROW_ONLY, ["G722"])
    assert status == 488 and media is None


def test_static_9_without_rtpmap_is_g722():
    status, _body, media = answer(STATIC_ONLY, G722_FIRST)
    assert status == 200 and media["codec"] == "G722" and media["pt"] == 9


def test_g722_16000_in_rtpmap_is_not_taken_for_g722():
    # the RTP clock of G.722 is 8000: "G722/16000" is a different clock we
    # would mis-time, so the G.711 alternative is chosen
    status, _body, media = answer(WRONG_RATE, G722_FIRST)
    assert status == 200 and media["codec"] == "PCMU"


def test_our_offer_answered_with_g711_falls_back():
    net = Net()
    door = net.phone("192.0.2.1", "door")
    door.cfg["media"]["codecs"] = G722_FIRST
    net.attach(("192.0.2.9", 5060), Callee(NARROW_ONLY.replace("0 8 101", "8 101")))
    door.dial("sip:peer@192.0.2.9:5060")
    net.run(10)
    media = [e for e in door.seen if e["event"] == "media"][-1]
    assert states(door)[-1] == "connected" and media["codec"] == "PCMA"


# --- the stream ----------------------------------------------------------------------------

def _tone16(freq, n, level=10000, phase=0):
    out = bytearray(2 * n)
    for i in range(n):
        v = int(level * math.sin(2 * math.pi * freq * (i + phase) / 16000))
        out[2 * i] = v & 0xFF
        out[2 * i + 1] = (v >> 8) & 0xFF
    return out


def _g722_session():
    s = MediaSession(lambda n: bytes(n), "door")
    s.start("c1", PEER[0], PEER[1], 9, 101, True, True, None, 9, 101, "G722")
    return s


def test_rfc3551_4_5_2_g722_rtp_timestamps_count_160_per_20_ms():
    s = _g722_session()
    assert s.wideband and s.codec.name == "G722"
    rx = RtpReceiver()
    mic = bytearray(4 * FRAME_SAMPLES)
    stamps = []
    for _ in range(3):
        pkt = s.next_packet(mic)
        assert rx.parse(bytes(pkt), len(pkt))
        assert rx.payload_type == 9 and rx.length == 160
        stamps.append((rx.ts_hi << 16) | rx.ts_lo)
    assert (stamps[1] - stamps[0]) & 0xFFFFFFFF == 160 and (stamps[2] - stamps[1]) & 0xFFFFFFFF == 160


def test_g722_ptime_40_sends_320_bytes_and_320_timestamp_units():
    s = MediaSession(lambda n: bytes(n), "door")
    s.start("c1", PEER[0], PEER[1], 9, None, True, True, None, 9, None, "G722", 40)
    mic = bytearray(4 * FRAME_SAMPLES)
    assert s.next_packet(mic) is None
    pkt = s.next_packet(mic)
    rx = RtpReceiver()
    assert rx.parse(bytes(pkt), len(pkt)) and rx.length == 320


def _snr(sent, got, delay):
    a = array("h", bytes(sent))
    b = array("h", bytes(got))
    sig = err = 0
    for i in range(len(a) - delay):
        sig += a[i] * a[i]
        err += (a[i] - b[i + delay]) ** 2
    return 10 * math.log10(sig / max(err, 1))


def test_g722_6khz_tone_crosses_a_session_both_ways():
    # our mic -> RTP -> a peer session -> its speaker, and back: 6 kHz, which
    # no 8 kHz path can carry, arrives at 16 kHz within 20 dB SNR
    a = _g722_session()
    b = MediaSession(lambda n: bytes(n), "peer")
    b.start("c1", "192.0.2.1", 40000, 9, None, True, True, None, 9, None, "G722")
    n = 2 * FRAME_SAMPLES
    sent = bytearray()
    heard = bytearray()
    spk = bytearray(4 * FRAME_SAMPLES)
    for f in range(30):
        mic = _tone16(6000, n, phase=f * n)
        pkt = a.next_packet(mic)
        b.receive(bytes(pkt), ("192.0.2.1", 40000), 20 * f)
        b.play(spk)
        sent += mic
        heard += spk
    # the jitter buffer holds start_ms (40 ms) first; then the codec's 22 samples
    assert b.jitter.received == 30
    delay = 2 * 320 + 22
    start = 3200        # after the predictors settled
    snr = _snr(sent[2 * start:2 * (start + 2400)], heard[2 * start:2 * (start + 2400 + delay)], delay)
    assert snr >= 20, snr


def test_g722_session_receive_and_send_allocate_nothing():
    s = _g722_session()
    peer = RtpSender(b"\x03\x03\x03\x03", 9, seq=5)
    mic = _tone16(1000, 2 * FRAME_SAMPLES)
    spk = bytearray(4 * FRAME_SAMPLES)
    packets = [bytes(peer.packet_for(FRAME_SAMPLES)) for _ in range(50)]
    s.receive(packets[0], PEER, 0)

    def frames():
        for i in range(1, 50):
            s.receive(packets[i], PEER, 20 * i)
            s.next_packet(mic)
            s.play(spk)
    heap_locked(frames)
    assert s.sender.packets == 49


def test_rfc3550_6_4_1_g722_sender_report_rtp_clock_is_8000():
    # the SR's RTP timestamp maps `now` on the 8 kHz clock: two reports 1 s
    # apart differ by 8000, not 16000
    s = _g722_session()
    mic = bytearray(4 * FRAME_SAMPLES)
    reports = []
    rtp_ts = []
    for f in range(1000):
        s.next_packet(mic)
        rep = s.rtcp_report(20 * f)
        if rep is not None and rep[1] == 200:
            reports.append(20 * f)
            r = bytes(rep)
            rtp_ts.append((r[16] << 24) | (r[17] << 16) | (r[18] << 8) | r[19])
    assert len(reports) >= 2
    dt = reports[-1] - reports[0]
    assert (rtp_ts[-1] - rtp_ts[0]) & 0xFFFFFFFF == dt * 8


def test_g722_dtmf_event_durations_stay_in_8000_units():
    s = _g722_session()
    mic = bytearray(4 * FRAME_SAMPLES)
    s.next_packet(mic)
    s.send_digits("5")
    rx = RtpReceiver()
    pkt = s.next_packet(mic)
    assert rx.parse(bytes(pkt), len(pkt)) and rx.payload_type == 101
    duration = (pkt[rx.offset + 2] << 8) | pkt[rx.offset + 3]
    assert duration == 160          # one 20 ms packet = 160 units (RFC 4733 §2.5.1.3)


def test_g722_jitter_counts_in_8000_units():
    # packets 20 ms apart in arrival and 160 in timestamp: no jitter
    s = _g722_session()
    peer = RtpSender(b"\x03\x03\x03\x03", 9, seq=5)
    spk = bytearray(4 * FRAME_SAMPLES)
    for i in range(20):
        s.receive(bytes(peer.packet_for(FRAME_SAMPLES)), PEER, 20 * i)
        s.play(spk)
    assert s.jitter.jitter == 0 and s.jitter.lost == 0


def test_second_g722_call_reuses_the_codec_and_starts_from_reset():
    s = _g722_session()
    codec = s.codec
    s.next_packet(_tone16(1000, 320))
    s.stop()
    s.start("c2", PEER[0], PEER[1], 0, None, True, True)
    assert not s.wideband and s.codec.name == "PCMU"
    s.start("c3", PEER[0], PEER[1], 9, None, True, True, None, 9, None, "G722")
    assert s.codec is codec and list(codec.enc_state[:10]) == [0] * 9 + [32]


def test_g711_session_does_not_import_g722():
    if sys.implementation.name == "micropython":
        before = "intercom.media.g722" in sys.modules
        s = MediaSession(lambda n: bytes(n), "door")
        s.start("c1", PEER[0], PEER[1], 0, None, True, True)
        assert s.g722 is None
        assert ("intercom.media.g722" in sys.modules) == before
    else:
        s = MediaSession(lambda n: bytes(n), "door")
        s.start("c1", PEER[0], PEER[1], 0, None, True, True)
        assert s.g722 is None


# --- AudioControl: 16 kHz frames, tones at either rate ---------------------------------------

class Board:
    def __init__(self, audio=None):
        self.audio = audio
        self.logs = []

    def log(self, level, text):
        self.logs.append(text)

    def set_relay(self, on):
        pass


class Device:
    """Records the frame sizes AudioControl hands it."""

    def __init__(self):
        self.wide = []
        self.read = []
        self.written = []
        self.record = True

    def set_wideband(self, wide):
        self.wide.append(wide)

    def read_frame(self, buf):
        if self.record:
            self.read.append(len(buf))
        return True

    def write_frame(self, buf):
        if self.record:
            self.written.append(len(buf))


def _control(device):
    cfg = config.defaults()
    return AudioControl(cfg, Board(device), lambda e: None, lambda n: bytes(n), "door")


def _media(codec, pt):
    return {"event": "media", "id": 1, "address": PEER[0], "port": PEER[1], "pt": pt, "codec": codec,
            "dtmf_pt": 101, "recv_pt": pt, "recv_dtmf_pt": 101, "direction": "sendrecv", "ptime": 20}


def test_wideband_call_runs_the_device_at_16khz_and_back():
    dev = Device()
    ac = _control(dev)
    ac.on_call_event({"id": 1, "state": "connected"}, 0)
    ac.on_media_event(_media("G722", 9))
    assert dev.wide == [True] and ac.speaker_tone.rate == 16000 and ac.line_tone.rate == 16000
    ac.frame(dev)
    assert dev.read == [640] and dev.written == [640]
    ac.on_call_event({"id": 1, "state": "ended"}, 100)
    assert dev.wide == [True, False] and ac.speaker_tone.rate == 8000
    ac.frame(dev)
    assert dev.read[-1] == 320 and dev.written[-1] == 320


def test_g711_call_keeps_8khz_frames():
    dev = Device()
    ac = _control(dev)
    ac.on_call_event({"id": 1, "state": "connected"}, 0)
    ac.on_media_event(_media("PCMU", 0))
    ac.frame(dev)
    assert dev.wide == [] and dev.read == [320] and dev.written == [320]


def test_wideband_frame_allocates_nothing():
    dev = Device()
    ac = _control(dev)
    ac.on_call_event({"id": 1, "state": "connected"}, 0)
    ac.on_media_event(_media("G722", 9))
    ac.line_tone.start("door_open")
    ac.frame(dev)
    dev.record = False

    def frames():
        for _ in range(20):
            ac.frame(dev)
    heap_locked(frames)


def test_tone_retune_mid_tone_keeps_the_cadence():
    # 425 Hz busy: 0.5 s on. 0.25 s at 8 kHz then 0.25 s at 16 kHz ends the burst
    t = ToneGenerator(8000)
    t.start("busy")
    buf = bytearray(2 * 4000)
    t.fill(buf, 2000)
    retune(t, 16000)
    assert t._left == 4000 and t._i1 == phase_increment(425, 16000)
    wide = bytearray(2 * 4000)
    t.fill(wide, 4000)
    assert t._k == 1 and t.active       # the burst is over at 0.5 s, the pause began
