"""Host audio device for the simulator: microphone from a WAV file, speaker to a WAV file (no RFC; I/O)."""

from intercom.media.wav import WavReader, WavWriter
from intercom.media.pcm import Decimator
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
    hw = None                # hal/host_wide.py from the first wideband call on (no slot before)

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

    def frame_ready(self):
        return None      # no device clock: the driver paces frames by ticks_ms

    def set_wideband(self, wide):
        """A wideband (16 kHz) stream starts or ends: see hal/host_wide.py."""
        if wide and self.hw is None:
            from intercom.hal import host_wide
            host_wide.widen(self)
            self.hw = host_wide

    def read_frame(self, pcm):
        """Fill pcm with the next 20 ms of microphone audio; True (always ready)."""
        if len(pcm) >= 4 * FRAME:
            return self.hw.read(self, pcm)           # 16 kHz (set_wideband came first)
        if self.reader is None:
            g711.fill(pcm, 0, 0, 2 * FRAME)              # no microphone file: silence
        elif self.decimator is None:
            self.reader.read_into(pcm, FRAME)
        else:
            self.reader.read_into(self.wide, 2 * FRAME)
            self.decimator.process(self.wide, pcm, FRAME)
        return True

    def write_frame(self, pcm):
        if self.writer is not None:
            if self.hw is None:
                self.writer.write(pcm, FRAME)
            else:
                self.hw.write(self, pcm)

    def close(self):
        if self.reader is not None:
            self.reader.close()
        if self.writer is not None:
            self.writer.close()
