"""Host-only WAV (RIFF/WAVE, WAVE_FORMAT_PCM) reader and writer for the simulator's mic and speaker."""

# Runs on CPython and on the MicroPython unix port with plain open / read /
# readinto / write / seek and struct. Only mono 16-bit little-endian PCM at
# 8 or 16 kHz is accepted: that is what the audio pump consumes (16 kHz goes
# through pcm.Decimator). Frames are read into and written from the
# caller's preallocated buffers; MicroPython's readinto(buf, n) and
# write(buf, n) take a byte count, CPython's get a memoryview slice instead.

import struct
import sys

_MICROPYTHON = sys.implementation.name == "micropython"

RATES = (8000, 16000)
HEADER_LEN = 44
WAVE_FORMAT_PCM = 1
WAVE_FORMAT_EXTENSIBLE = 0xFFFE


class WavError(ValueError):
    """The file is not a WAV file this module can play."""


def _describe(fmt, channels, bits, rate):
    parts = ["%d channel%s" % (channels, "" if channels == 1 else "s")]
    if bits != 16:
        parts.append("%d-bit" % bits)
    if fmt != WAVE_FORMAT_PCM:
        parts.append("format %d" % fmt)
    parts.append("%d Hz" % rate)
    return " ".join(parts)


class WavReader:
    """Reads mono 16-bit PCM samples from a WAV file, looping at the end if asked.

    Raises WavError for anything else, e.g. "expected mono 16-bit PCM at 8
    or 16 kHz, got 2 channels 44100 Hz". Attributes: rate, nsamples."""

    def __init__(self, path, loop=True):
        self.loop = loop
        self._f = open(path, "rb")
        try:
            self._parse()
        except Exception:
            self._f.close()
            raise
        self._stage = bytearray(0)
        self._left = self._data_len

    def _parse(self):
        f = self._f
        head = f.read(12)
        if len(head) < 12 or head[0:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise WavError("not a RIFF/WAVE file")
        fmt = None
        while True:
            ch = f.read(8)
            if len(ch) < 8:
                raise WavError("no fmt and data chunks" if fmt is None else "no data chunk")
            cid = ch[0:4]
            size = struct.unpack("<I", ch[4:8])[0]
            if cid == b"fmt ":
                body = f.read(size)
                if len(body) < 16:
                    raise WavError("short fmt chunk")
                tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[0:16])
                if tag == WAVE_FORMAT_EXTENSIBLE and len(body) >= 26:
                    tag = struct.unpack("<H", body[24:26])[0]   # SubFormat GUID's first field
                fmt = (tag, channels, bits, rate)
                if size & 1:
                    f.read(1)
                if not (tag == WAVE_FORMAT_PCM and channels == 1 and bits == 16 and rate in RATES):
                    raise WavError("expected mono 16-bit PCM at 8 or 16 kHz, got "
                                   + _describe(tag, channels, bits, rate))
            elif cid == b"data":
                if fmt is None:
                    raise WavError("data chunk before fmt chunk")
                break
            else:
                f.seek(size + (size & 1), 1)
        self.rate = fmt[3]
        self._data_off = f.tell()
        end = f.seek(0, 2)
        # A writer killed before patching leaves 0 or 0xFFFFFFFF: use the file size.
        if size == 0 or size > end - self._data_off:
            size = end - self._data_off
        self._data_len = size & ~1
        self.nsamples = self._data_len >> 1
        f.seek(self._data_off)

    def read_into(self, buf, nsamples):
        """Fill nsamples 16-bit samples of buf from the file; return how many came from it.

        With loop=True the file repeats and the result is always nsamples
        (unless it holds no samples); otherwise the tail past the end is silence."""
        need = nsamples << 1
        if _MICROPYTHON and len(self._stage) < need:
            self._stage = bytearray(need)     # once, for reads at an offset (loop wrap)
        got = 0
        while got < need:
            if self._left == 0:
                if not self.loop or self._data_len == 0:
                    break
                self._f.seek(self._data_off)
                self._left = self._data_len
            chunk = need - got
            if chunk > self._left:
                chunk = self._left
            n = self._readinto(buf, got, chunk)
            if not n:
                self._left = 0        # file shrank under us: treat as its end
                if self._data_len == 0 or not self.loop:
                    break
                self._data_len = 0
                continue
            got += n
            self._left -= n
        for k in range(got, need):
            buf[k] = 0
        return got >> 1

    def _readinto(self, buf, off, n):
        f = self._f
        if not _MICROPYTHON:
            return f.readinto(memoryview(buf)[off:off + n])
        if off == 0:
            return f.readinto(buf, n)
        got = f.readinto(self._stage, n)
        st = self._stage
        for k in range(got or 0):
            buf[off + k] = st[k]
        return got

    def rewind(self):
        """Go back to the first sample."""
        self._f.seek(self._data_off)
        self._left = self._data_len

    def close(self):
        """Close the file (idempotent)."""
        if self._f is not None:
            self._f.close()
            self._f = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class WavWriter:
    """Writes mono 16-bit PCM (8 kHz by default) to a WAV file.

    The RIFF and data sizes are patched on close() and every sync_every
    writes (default 50, one second of 20 ms frames), so a killed process
    still leaves a playable file that ends at most that far back."""

    def __init__(self, path, rate=8000, sync_every=50):
        if rate not in RATES:
            raise ValueError("rate must be 8000 or 16000")
        self.rate = rate
        self.sync_every = sync_every
        self.nsamples = 0
        self._writes = 0
        self._size = bytearray(4)
        self._f = open(path, "wb")
        self._f.write(struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36, b"WAVE", b"fmt ", 16,
                                  WAVE_FORMAT_PCM, 1, rate, rate * 2, 2, 16, b"data", 0))

    def write(self, buf, nsamples):
        """Append the first nsamples 16-bit samples of buf."""
        n = nsamples << 1
        if _MICROPYTHON:
            self._f.write(buf, n)
        elif n == len(buf):
            self._f.write(buf)
        else:
            self._f.write(memoryview(buf)[0:n])
        self.nsamples += nsamples
        self._writes += 1
        if self.sync_every and self._writes >= self.sync_every:
            self._writes = 0
            self.sync()

    def sync(self):
        """Patch the header sizes for the samples written so far and flush."""
        f = self._f
        data = self.nsamples << 1
        f.seek(4)
        struct.pack_into("<I", self._size, 0, 36 + data)
        f.write(self._size)
        f.seek(40)
        struct.pack_into("<I", self._size, 0, data)
        f.write(self._size)
        f.seek(HEADER_LEN + data)
        f.flush()

    def close(self):
        """Patch the sizes and close the file (idempotent)."""
        if self._f is not None:
            self.sync()
            self._f.close()
            self._f = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
