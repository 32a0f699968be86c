"""Wideband (16 kHz, G.722) support for the simulator's HostAudio: imported by the first wideband call only (I/O)."""

import os

from intercom.media.pcm import Interpolator
from intercom.media.wav import WavWriter, HEADER_LEN
from intercom.media import g711

FRAME = 160          # samples per 20 ms at 8 kHz


def widen(audio):
    """Make what 16 kHz frames need on `audio` (a HostAudio), once: an
    8 kHz mic WAV is interpolated to 16 kHz, and the speaker WAV turns to
    16 kHz for good (what was written so far is converted)."""
    audio.mic_up = None
    if audio.reader is not None and audio.sample_rate_mic == 8000:
        audio.mic_up = Interpolator(FRAME)
        audio.narrow = memoryview(bytearray(2 * FRAME))
    writer = audio.writer
    if writer is None or writer.rate != 8000:
        return
    # Rewrite the 8 kHz file so far as 16 kHz, a frame at a time (a long
    # simulation must not need its whole file in the heap).
    writer.close()
    path = audio.speaker_path
    old = path + ".8k"
    os.rename(path, old)
    up = Interpolator(FRAME)
    wide = memoryview(bytearray(4 * FRAME))
    writer = WavWriter(path, rate=16000)
    narrow = bytearray(2 * FRAME)
    with open(old, "rb") as f:
        f.seek(HEADER_LEN)
        while True:
            got = f.readinto(narrow)
            if not got:
                break
            n = got // 2
            up.process(narrow, wide, n)
            writer.write(wide, 2 * n)
    os.remove(old)
    up.reset()
    audio.spk_up = up          # narrowband frames after the call: 8 -> 16 kHz
    audio.spk_wide = wide
    audio.writer = writer


def read(audio, pcm):
    """20 ms at 16 kHz into pcm: a 16 kHz mic WAV straight to the encoder
    (no 8 kHz round trip), an 8 kHz one interpolated; True."""
    if audio.reader is None:
        g711.fill(pcm, 0, 0, 4 * FRAME)
    elif audio.mic_up is None:
        audio.reader.read_into(pcm, 2 * FRAME)
    else:
        audio.reader.read_into(audio.narrow, FRAME)
        audio.mic_up.process(audio.narrow, pcm, FRAME)
    return True


def write(audio, pcm):
    """One 20 ms speaker frame into the 16 kHz WAV: 640 bytes as they are,
    a narrowband (320-byte) frame after a wideband call interpolated."""
    if len(pcm) >= 4 * FRAME:
        audio.writer.write(pcm, 2 * FRAME)
    else:
        audio.spk_up.process(pcm, audio.spk_wide, FRAME)
        audio.writer.write(audio.spk_wide, 2 * FRAME)
