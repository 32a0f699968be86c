"""ESP32 I2S in a G.722 call: 16 kHz mic straight to the encoder, speaker opened at 16 kHz, 8 kHz after."""

import struct

import _device  # noqa: F401  (puts the fake machine module on the path)
import machine  # noqa: E402
from test_device_audio import MIC, SPK, ack, flush, incoming, phone, run, sent, states  # noqa: E402

SDP_G722 = ("v=0\r\no=- 1 1 IN IP4 192.168.1.1\r\ns=-\r\nc=IN IP4 192.168.1.1\r\nt=0 0\r\n"
            "m=audio 41000 RTP/AVP 0 9 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:9 G722/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n").encode()


def _connected(codecs):
    board, clock, ua, app = phone()
    ua.cfg["media"]["codecs"] = codecs
    incoming(ua, app, clock, SDP_G722)
    app.on_button("talk", "press", clock())
    flush(ua, app)
    ok = [m for m in sent(ua) if m.status == 200][-1]
    ack(ua, app, clock, ok.get("to").split("tag=")[1].split(";")[0])
    return board, clock, ua, app, ok


def test_g722_call_runs_the_speaker_at_16khz_and_the_mic_without_decimation():
    board, clock, ua, app, ok = _connected(["G722", "PCMU"])
    assert "a=rtpmap:9 G722/8000" in ok.body.decode()
    # the INMP441: 24-bit samples in 32-bit words at 16 kHz, a ramp we can recognise
    words = b"".join(struct.pack("<i", (i * 100) << 16) for i in range(320))
    machine.fake_i2s_source(MIC, words)
    run(board, clock, ua, app, 3)
    assert states(app, ua) == ["connected"] and app.audio.session.codec.name == "G722"
    audio = board.audio
    assert audio.wideband and app.audio.wide
    spk = machine.fake_i2s_active(SPK)
    assert spk is not None and spk.rate == 16000          # the board says 8000: a G.722 call plays 16 kHz
    assert machine.fake_i2s_active(MIC).rate == 16000
    before = len(machine.fake_i2s_sent(SPK))
    mic = bytearray(640)
    machine.fake_run_scheduled()
    assert audio.read_frame(memoryview(mic))
    samples = struct.unpack("<320h", bytes(mic))
    # every 16 kHz sample of the ramp (100 a sample, x4 by the board's "shift": 2),
    # none dropped or filtered by an 8 kHz decimation
    assert [samples[k + 1] - samples[k] for k in range(1, 80)] == [400] * 79     # (then it saturates)
    run(board, clock, ua, app, 5)
    assert (len(machine.fake_i2s_sent(SPK)) - before) % 640 == 0 and len(machine.fake_i2s_sent(SPK)) > before


def test_g722_call_end_returns_the_speaker_to_its_board_rate():
    board, clock, ua, app, ok = _connected(["G722", "PCMU"])
    run(board, clock, ua, app, 3)
    assert machine.fake_i2s_active(SPK).rate == 16000
    ua.hangup()
    flush(ua, app)
    run(board, clock, ua, app, 2)
    assert not board.audio.wideband and not app.audio.wide
    spk = machine.fake_i2s_active(SPK)
    assert spk is None or spk.rate == 8000


def test_g711_first_keeps_the_8khz_board_rates():
    board, clock, ua, app, ok = _connected(["PCMU", "G722"])
    run(board, clock, ua, app, 3)
    assert app.audio.session.codec.name == "PCMU" and not board.audio.wideband
    assert machine.fake_i2s_active(SPK).rate == 8000
