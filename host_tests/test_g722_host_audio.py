"""The simulator's audio device in a G.722 call: 16 kHz mic straight through, the speaker WAV turned to 16 kHz."""

import array
import math
import os
import sys
import wave

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "firmware"))
from intercom.hal.host_audio import HostAudio  # noqa: E402


def _wav(path, rate, samples):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(array.array("h", samples).tobytes())
    return str(path)


def _read(path):
    with wave.open(str(path), "rb") as w:
        return w.getframerate(), array.array("h", w.readframes(w.getnframes()))


def test_16khz_mic_reaches_a_wideband_frame_unchanged(tmp_path):
    samples = [int(9000 * math.sin(2 * math.pi * 6000 * i / 16000)) for i in range(640)]
    audio = HostAudio(_wav(tmp_path / "mic.wav", 16000, samples), None)
    audio.set_wideband(True)
    frame = bytearray(640)
    assert audio.read_frame(memoryview(frame))
    assert list(array.array("h", bytes(frame))) == samples[:320]     # no 8 kHz round trip
    narrow = bytearray(320)
    audio.read_frame(memoryview(narrow))        # a G.711 call after it: decimated again
    assert len(array.array("h", bytes(narrow))) == 160


def test_8khz_mic_is_interpolated_for_a_wideband_frame(tmp_path):
    samples = [int(9000 * math.sin(2 * math.pi * 500 * i / 8000)) for i in range(400)]
    audio = HostAudio(_wav(tmp_path / "mic8.wav", 8000, samples), None)
    audio.set_wideband(True)
    frame = bytearray(640)
    audio.read_frame(memoryview(frame))
    out = array.array("h", bytes(frame))
    assert max(out[100:]) > 8000          # the tone, at 16 kHz


def test_speaker_wav_turns_16khz_at_the_first_wideband_call(tmp_path):
    spk = tmp_path / "spk.wav"
    audio = HostAudio(None, str(spk))
    before = array.array("h", [1000] * 160).tobytes()
    for _ in range(5):                           # 100 ms at 8 kHz (ringback, silence)
        audio.write_frame(memoryview(bytearray(before)))
    audio.set_wideband(True)
    wide = array.array("h", [-2000] * 320).tobytes()
    for _ in range(10):                          # 200 ms of the G.722 call
        audio.write_frame(memoryview(bytearray(wide)))
    audio.set_wideband(False)
    for _ in range(5):                           # 100 ms after it, 8 kHz frames again
        audio.write_frame(memoryview(bytearray(before)))
    audio.close()
    rate, got = _read(spk)
    assert rate == 16000
    assert len(got) == 16000 * 400 // 1000       # 400 ms in real time, at 16 kHz throughout
    assert got[800] == 1000 and got[1600 + 100] == -2000 and got[-100] == 1000
    assert not os.path.exists(str(spk) + ".8k")
