"""Host audio device for the simulator: microphone from a WAV file, speaker to a WAV file (no RFC; I/O)."""

import os

from intercom.media.wav import WavReader, WavWriter, HEADER_LEN
from intercom.media.pcm import Decimator, Interpolator
from intercom.media import g711

FRAME = 160          # samples per 20 ms at 8 kHz


class HostAudio:
    """Same interface as the ESP32 I2S device: read_frame/write_frame of
    one 20 ms frame of 16-bit samples: 160 at 8 kHz, or 320 at 16 kHz when
    the buffer is 640 bytes (a wideband G.722 call; AudioControl calls
    set_wideband first). Paced by the driver's clock (frame_ready() is
    None), and always on when a file is attached, so the speaker WAV runs
    in real time (silence between calls).

    The speaker file is 8 kHz until the first wideband call; then it is
    converted to 16 kHz (what was written is interpolated) and stays so."""

    half_duplex = False

    def __init__(self, mic_path=None, speaker_path=None):
        self.reader = WavReader(mic_path, loop=True) if mic_path else None
        self.speaker_path = speaker_path
        self.writer = WavWriter(speaker_path, rate=8000) if speaker_path else None
        self.always_on = self.reader is not None or self.writer is not None
        self.sample_rate_mic = self.reader.rate if self.reader else 8000
        self.decimator = None
        self.wide = None
        if self.sample_rate_mic == 16000:
            self.decimator = Decimator(max_out=FRAME)
            self.wide = memoryview(bytearray(4 * FRAME))     # one 20 ms frame at 16 kHz
        self.mic_up = None       # 8 kHz mic WAV in a wideband call: 8 -> 16 kHz
        self.narrow = None       # ... through this 20 ms frame at 8 kHz
        self.spk_up = None       # 16 kHz speaker WAV, narrowband frames: 8 -> 16 kHz
        self.spk_wide = None

    def frame_ready(self):
        return None      # no device clock: the driver paces frames by ticks_ms

    def set_wideband(self, wide):
        """A wideband (16 kHz) stream starts or ends: make what the 16 kHz
        frames need (once), and turn the speaker file to 16 kHz for good."""
        if not wide:
            return
        if self.reader is not None and self.sample_rate_mic == 8000 and self.mic_up is None:
            self.mic_up = Interpolator(FRAME)
            self.narrow = memoryview(bytearray(2 * FRAME))
        if self.writer is not None and self.writer.rate == 8000:
            self._widen_speaker()

    def _widen_speaker(self):
        # Rewrite the 8 kHz file so far as 16 kHz, a frame at a time (a long
        # simulation must not need its whole file in the heap).
        self.writer.close()
        old = self.speaker_path + ".8k"
        os.rename(self.speaker_path, old)
        self.spk_up = Interpolator(FRAME)
        self.spk_wide = memoryview(bytearray(4 * FRAME))
        self.writer = WavWriter(self.speaker_path, rate=16000)
        narrow = bytearray(2 * FRAME)
        with open(old, "rb") as f:
            f.seek(HEADER_LEN)
            while True:
                got = f.readinto(narrow)
                if not got:
                    break
                n = got // 2
                self.spk_up.process(narrow, self.spk_wide, n)
                self.writer.write(self.spk_wide, 2 * n)
        os.remove(old)
        self.spk_up.reset()

    def read_frame(self, pcm):
        """Fill pcm with the next 20 ms of microphone audio; True (always ready)."""
        wide = len(pcm) >= 4 * FRAME
        if self.reader is None:
            g711.fill(pcm, 0, 0, 4 * FRAME if wide else 2 * FRAME)    # no microphone file: silence
        elif wide:
            if self.mic_up is None:
                self.reader.read_into(pcm, 2 * FRAME)       # 16 kHz straight to the encoder
            else:
                self.reader.read_into(self.narrow, FRAME)
                self.mic_up.process(self.narrow, pcm, FRAME)
        elif self.decimator is None:
            self.reader.read_into(pcm, FRAME)
        else:
            self.reader.read_into(self.wide, 2 * FRAME)
            self.decimator.process(self.wide, pcm, FRAME)
        return True

    def write_frame(self, pcm):
        writer = self.writer
        if writer is None:
            return
        if len(pcm) >= 4 * FRAME:
            writer.write(pcm, 2 * FRAME)
        elif writer.rate == 16000:
            self.spk_up.process(pcm, self.spk_wide, FRAME)     # after a wideband call
            writer.write(self.spk_wide, 2 * FRAME)
        else:
            writer.write(pcm, FRAME)

    def close(self):
        if self.reader is not None:
            self.reader.close()
        if self.writer is not None:
            self.writer.close()
