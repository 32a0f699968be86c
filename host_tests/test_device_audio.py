"""ESP32 I2S outside calls: ring, ringback, early media, busy tone play; the mic runs only while media is sent.

Each test drives the real UserAgent and App on an Esp32Board over the fake
machine/network, with the peer's SIP scripted here and the loop done as the
driver does it (service, timers, events, one audio frame per 20 ms)."""

from _device import make_board, make_cfg
import machine
from intercom.app import App
from intercom.sip.ua import UserAgent
from intercom.sip.message import parse, make_response
from intercom.media.tones import ToneGenerator
from intercom.media.rtp import RtpSender
from intercom.media import g711

PEER = ("192.168.1.1", 5060)
LOCAL = "192.168.1.50"
PEER_RTP = ("192.168.1.1", 41000)
MIC, SPK = 0, 1             # the devkitc board's I2S ids


def rand_hex(n):
    return ("a1b2c3d4e5f60718" * 4)[:n]


def phone(board_name="esp32-devkitc-inmp441", **calls):
    values = {"accept_from": [PEER[0]], "auto_answer": False}
    values.update(calls)
    cfg = make_cfg(sip={"registrar": ""}, calls=values)
    board, clock, lines = make_board(board_name, cfg=cfg)
    ua = UserAgent(cfg, LOCAL, None, rand_hex, board.log, clock())
    app = App(ua, board, cfg, lambda n: bytes(range(n)))
    app.tick(clock())
    app.start(clock())
    return board, clock, ua, app


def flush(ua, app):
    while True:
        event = ua.next_event()
        if event is None:
            return
        app.on_event(event)


def sent(ua):
    out = []
    while True:
        item = ua.pop_datagram()
        if item is None:
            return out
        out.append(parse(bytes(item[0])))


def deliver(ua, app, clock, data):
    ua.receive(data, PEER, clock())
    flush(ua, app)


def run(board, clock, ua, app, frames):
    """frames x 20 ms of the driver's loop; the pump runs while the app's audio does."""
    for _ in range(frames):
        now = clock.advance(20)
        board.service(now)
        ua.tick(now)
        app.tick(now)
        flush(ua, app)
        if app.audio.running():
            app.audio.frame(board.audio)
        machine.fake_run_scheduled()


def tone_frames(name, frames):
    gen = ToneGenerator(8000)
    gen.start(name)
    out = bytearray()
    buf = bytearray(320)
    for _ in range(frames):
        gen.fill(buf, 160)
        out += buf
    return bytes(out)


def sdp(direction="sendrecv", port=PEER_RTP[1]):
    return ("v=0\r\no=- 1 1 IN IP4 192.168.1.1\r\ns=-\r\nc=IN IP4 192.168.1.1\r\nt=0 0\r\n"
            "m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=%s\r\n" % (port, direction)).encode()


def answer_invite(ua, app, clock, status, body=None):
    """The peer answers our INVITE with status (and an SDP body)."""
    invite = [m for m in sent(ua) if m.method == "INVITE"][-1]
    resp = make_response(invite, status, to_tag="peer1")
    resp.add("Contact", "<sip:flat@192.168.1.1:5060>")
    if body is not None:
        resp.add("Content-Type", "application/sdp")
        resp.body = body
    deliver(ua, app, clock, resp.encode())


def dial(board, clock, ua, app):
    ua.dial("sip:flat@192.168.1.1")
    flush(ua, app)


def incoming(ua, app, clock, body, cseq=1, to_tag=""):
    text = ("INVITE sip:door@192.168.1.50 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 192.168.1.1:5060;branch=z9hG4bK-in%d\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:flat@192.168.1.1>;tag=f1\r\n"
            "To: <sip:door@192.168.1.50>%s\r\nCall-ID: in1@192.168.1.1\r\nCSeq: %d INVITE\r\n"
            "Contact: <sip:flat@192.168.1.1:5060>\r\nContent-Type: application/sdp\r\n"
            "Content-Length: %d\r\n\r\n" % (cseq, to_tag, cseq, len(body))).encode() + body
    deliver(ua, app, clock, text)


def ack(ua, app, clock, to_tag, cseq=1):
    text = ("ACK sip:door@192.168.1.50 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 192.168.1.1:5060;branch=z9hG4bK-ack%d\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:flat@192.168.1.1>;tag=f1\r\n"
            "To: <sip:door@192.168.1.50>;tag=%s\r\nCall-ID: in1@192.168.1.1\r\nCSeq: %d ACK\r\n"
            "Content-Length: 0\r\n\r\n" % (cseq, to_tag, cseq)).encode()
    deliver(ua, app, clock, text)


def states(app, ua):
    return [c.state for c in ua.calls.calls]


def test_esp32_board_plays_ringback_while_dialing():
    board, clock, ua, app = phone()
    dial(board, clock, ua, app)
    answer_invite(ua, app, clock, 180)
    assert states(app, ua) == ["ringing_out"]
    run(board, clock, ua, app, 60)
    assert bytes(machine.fake_i2s_sent(SPK)) == tone_frames("ringback", 60)
    assert machine.fake_i2s_active(MIC) is None          # nothing is sent: no capture


def test_esp32_board_plays_ring_while_incoming():
    board, clock, ua, app = phone()
    incoming(ua, app, clock, sdp())
    assert states(app, ua) == ["incoming"]
    run(board, clock, ua, app, 50)
    assert bytes(machine.fake_i2s_sent(SPK)) == tone_frames("ring", 50)
    assert machine.fake_i2s_active(MIC) is None          # a ringing door hears nobody


def test_esp32_board_plays_early_media_on_183():
    board, clock, ua, app = phone()
    dial(board, clock, ua, app)
    answer_invite(ua, app, clock, 183, sdp("sendrecv"))
    assert states(app, ua) == ["ringing_out"] and app.audio.session.active
    rtp = RtpSender(b"\x11\x22\x33\x44", 0, seq=7)
    for i in range(160):
        rtp.payload[i] = 0xA0                           # a PBX announcement: one steady level
    level = bytearray(320)
    g711.decode_ulaw(bytes([0xA0] * 160), level, 160)
    for _ in range(40):
        app.audio.on_rtp(bytes(rtp.packet_for(160)), PEER_RTP, clock())
        run(board, clock, ua, app, 1)
    spk = bytes(machine.fake_i2s_sent(SPK))
    assert len(spk) >= 40 * 320 and bytes(level) in spk, "the announcement never reached the speaker"


def test_esp32_board_plays_busy_tone_after_486():
    board, clock, ua, app = phone()
    dial(board, clock, ua, app)
    answer_invite(ua, app, clock, 486)
    assert states(app, ua) == []
    run(board, clock, ua, app, 100)                       # 2 s of the 3 s busy tone
    assert bytes(machine.fake_i2s_sent(SPK)) == tone_frames("busy", 100)
    run(board, clock, ua, app, 60)
    assert machine.fake_i2s_active(SPK) is None          # tone over: the speaker is released


def test_esp32_mic_off_while_not_sending():
    board, clock, ua, app = phone()
    incoming(ua, app, clock, sdp())
    run(board, clock, ua, app, 5)
    assert machine.fake_i2s_active(MIC) is None          # ringing: nothing sent
    app.on_button("talk", "press", clock())
    flush(ua, app)
    ok = [m for m in sent(ua) if m.status == 200][-1]
    tag = ok.get("to").split("tag=")[1].split(";")[0]
    ack(ua, app, clock, tag)
    run(board, clock, ua, app, 5)
    assert states(app, ua) == ["connected"]
    assert machine.fake_i2s_active(MIC) is not None      # sending: the visitor is heard
    incoming(ua, app, clock, sdp("sendonly"), cseq=2, to_tag=";tag=" + tag)   # the flat holds us
    ack(ua, app, clock, tag, cseq=2)
    run(board, clock, ua, app, 5)
    assert states(app, ua) == ["remote_hold"] and not app.audio.session.send_enabled
    assert machine.fake_i2s_active(MIC) is None          # nothing sent: nothing captured
    assert machine.fake_i2s_active(SPK) is not None      # the speaker still plays what comes


def test_esp32_half_duplex_board_rings_on_its_shared_bus():
    board, clock, ua, app = phone("atom-echo")
    incoming(ua, app, clock, sdp())
    run(board, clock, ua, app, 25)
    dev = machine.fake_i2s_active(0)                     # one bus: mic and speaker share I2S 0
    assert dev is not None and dev.mode == machine.I2S.TX
    assert bytes(machine.fake_i2s_sent(0)) == tone_frames("ring", 25)
    ua.hangup()                                          # declined
    flush(ua, app)
    run(board, clock, ua, app, 3)
    assert machine.fake_i2s_active(0) is None and machine.stats["i2s_bus_conflicts"] == 0


def test_esp32_mic_off_on_local_hold():
    board, clock, ua, app = phone()
    incoming(ua, app, clock, sdp())
    app.on_button("talk", "press", clock())
    flush(ua, app)
    ok = [m for m in sent(ua) if m.status == 200][-1]
    tag = ok.get("to").split("tag=")[1].split(";")[0]
    ack(ua, app, clock, tag)
    run(board, clock, ua, app, 5)
    assert machine.fake_i2s_active(MIC) is not None
    ua.hold()
    flush(ua, app)
    reinvite = [m for m in sent(ua) if m.method == "INVITE"][-1]
    resp = make_response(reinvite, 200)
    resp.add("Contact", "<sip:flat@192.168.1.1:5060>")
    resp.add("Content-Type", "application/sdp")
    resp.body = sdp("recvonly")
    deliver(ua, app, clock, resp.encode())
    run(board, clock, ua, app, 5)
    assert states(app, ua) == ["on_hold"]
    assert machine.fake_i2s_active(MIC) is None          # held: the flat hears silence, not the door
