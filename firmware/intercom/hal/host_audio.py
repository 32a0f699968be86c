"""Host audio device for the simulator: microphone from a WAV file, speaker to a WAV file (no RFC; I/O)."""

from intercom.media.wav import WavReader, WavWriter
from intercom.media.pcm import Decimator
from intercom.media import g711

FRAME = 160          # samples per 20 ms at 8 kHz


class HostAudio:
    """Same interface as the ESP32 I2S device: read_frame/write_frame of
    160 16-bit samples at 8 kHz. Paced by the driver's clock (frame_ready()
    is None), and always on when a file is attached, so the speaker WAV runs in real
    time (silence between calls)."""

    half_duplex = False

    def __init__(self, mic_path=None, speaker_path=None):
        self.reader = WavReader(mic_path, loop=True) if mic_path else None
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

    def read_frame(self, pcm):
        """Fill pcm with the next 20 ms of microphone audio; True (always ready)."""
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
            self.writer.write(pcm, FRAME)

    def close(self):
        if self.reader is not None:
            self.reader.close()
        if self.writer is not None:
            self.writer.close()
