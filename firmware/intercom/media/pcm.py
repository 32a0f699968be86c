"""PCM sample format and rate conversion for the I2S audio pump (INMP441 24-in-32 RX, half-band 2:1 FIR)."""

# All buffers hold little-endian samples and are preallocated by the caller:
#   - "16-bit" buffers: 2 bytes per sample, signed (the G.711 codec's format),
#   - "32-bit" buffers: 4 bytes per I2S word, audio left-justified (the
#     INMP441 sends 24 significant bits in bits 31..8, bits 7..0 are zero).
# 32-bit words are never assembled into one Python int: a word >= 2**30 is a
# heap-allocated long on a 31-bit port. Bytes are read individually and only
# the top 16..24 bits are combined, so every value stays below 2**24.
#
# Rate conversion uses one 15-tap half-band low-pass (Kaiser window, beta 6)
# with Q14 integer coefficients; every other tap is zero, so one output costs
# four multiplies. Response at 16 kHz: 0 dB to 1 kHz, -0.9 dB at 3 kHz,
# -2.2 dB at 3.4 kHz, -6 dB at 4 kHz, -20 dB at 5 kHz, < -50 dB from 5.6 kHz.
# Sums stay below 2**29: |sample| <= 32768 and the sum of |coefficients| is
# 21256 < 2**15.

from array import array

# Half-band taps h[7 +- d] for d = 0, 1, 3, 5, 7 (h[7 +- even d] = 0), Q14.
C0 = 8192
C1 = 4995
C3 = -1168
C5 = 319
C7 = -50
FIR_SHIFT = 14
# DC gain is exactly 1: C0 + 2 * (C1 + C3 + C5 + C7) == 1 << FIR_SHIFT.


def i2s32_to_16(src, dst, n, shift=0):
    """Convert n 32-bit left-justified I2S words in src to 16-bit samples in dst.

    shift = 0 takes the top 16 bits (an arithmetic >> 16 of the word);
    shift = 1..8 adds 6 dB each by taking lower bits (>> (16 - shift)),
    saturating at the 16-bit limits. Only bytes 1..3 of each word are read."""
    j = 0
    k = 0
    if shift == 0:
        while j < n:
            dst[k] = src[(j << 2) + 2]
            dst[k + 1] = src[(j << 2) + 3]
            j += 1
            k += 2
        return
    lo_shift = 8 - shift
    while j < n:
        w = j << 2
        hi = src[w + 3]
        v = ((hi - ((hi & 0x80) << 1)) << 8) | src[w + 2]        # signed top 16 bits
        v = (v << shift) | (src[w + 1] >> lo_shift)
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        dst[k] = v & 0xFF
        dst[k + 1] = (v >> 8) & 0xFF
        j += 1
        k += 2


def pcm16_to_i2s32(src, dst, n):
    """Widen n 16-bit samples into 32-bit left-justified I2S words (low 16 bits zero)."""
    j = 0
    k = 0
    while j < n:
        dst[k] = 0
        dst[k + 1] = 0
        dst[k + 2] = src[j << 1]
        dst[k + 3] = src[(j << 1) + 1]
        j += 1
        k += 4


def mono_to_stereo16(src, dst, n):
    """Duplicate n 16-bit mono samples into n left/right 16-bit pairs (4n bytes)."""
    j = 0
    k = 0
    while j < n:
        lo = src[j << 1]
        hi = src[(j << 1) + 1]
        dst[k] = lo
        dst[k + 1] = hi
        dst[k + 2] = lo
        dst[k + 3] = hi
        j += 1
        k += 4


def apply_gain(buf, n, gain_q8):
    """Scale n 16-bit samples in place by gain_q8 / 256 (0..4096, i.e. up to +24 dB), saturating."""
    k = 0
    end = n << 1
    while k < end:
        u = buf[k] | (buf[k + 1] << 8)
        v = ((u - ((u & 0x8000) << 1)) * gain_q8) >> 8
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        buf[k] = v & 0xFF
        buf[k + 1] = (v >> 8) & 0xFF
        k += 2


def peak16(buf, n):
    """Largest |sample| among n 16-bit samples (0..32768)."""
    best = 0
    k = 0
    end = n << 1
    while k < end:
        u = buf[k] | (buf[k + 1] << 8)
        v = (0x10000 - u) if u & 0x8000 else u
        if v > best:
            best = v
        k += 2
    return best


def _load(w, base, src, n):
    # w[base + i] = signed 16-bit sample i of src, for i < n.
    k = 0
    end = base + n
    while base < end:
        u = src[k] | (src[k + 1] << 8)
        w[base] = u - ((u & 0x8000) << 1)
        base += 1
        k += 2


def _store(dst, k, v):
    if v > 32767:
        v = 32767
    elif v < -32768:
        v = -32768
    dst[k] = v & 0xFF
    dst[k + 1] = (v >> 8) & 0xFF


class Decimator:
    """16 kHz -> 8 kHz: half-band low-pass, then every other sample (7-sample delay).

    process(src, dst, n_out) reads 2 * n_out 16-bit samples from src and
    writes n_out to dst; history carries over between calls, so frames of
    any even size join seamlessly. max_out bounds n_out (preallocation)."""

    HISTORY = 14

    def __init__(self, max_out=160):
        self.max_out = max_out
        self._w = array("i", [0] * (self.HISTORY + 2 * max_out))

    def reset(self):
        """Forget the history (start of a new stream)."""
        w = self._w
        for i in range(self.HISTORY):
            w[i] = 0

    def process(self, src, dst, n_out):
        """Decimate 2 * n_out samples of src into n_out samples of dst."""
        if n_out > self.max_out:
            raise ValueError("frame larger than max_out")
        w = self._w
        h = self.HISTORY
        n_in = n_out << 1
        _load(w, h, src, n_in)
        # Output m is centred on input 2m - 6 of this frame (w index 2m + 8):
        # its newest tap is input 2m + 1, the last sample of its pair.
        c = 8
        k = 0
        end = (n_out << 1) + 8
        while c < end:
            acc = (C0 * w[c] + C1 * (w[c - 1] + w[c + 1]) + C3 * (w[c - 3] + w[c + 3])
                   + C5 * (w[c - 5] + w[c + 5]) + C7 * (w[c - 7] + w[c + 7]) + 8192) >> FIR_SHIFT
            _store(dst, k, acc)
            c += 2
            k += 2
        for i in range(h):
            w[i] = w[n_in + i]


class Interpolator:
    """8 kHz -> 16 kHz: zero-stuffing and the same half-band low-pass (4-sample delay).

    process(src, dst, n_in) reads n_in 16-bit samples and writes 2 * n_in.
    Even outputs are input samples unchanged (the centre tap), odd outputs
    the filtered half-way points."""

    HISTORY = 7

    def __init__(self, max_in=160):
        self.max_in = max_in
        self._w = array("i", [0] * (self.HISTORY + max_in))

    def reset(self):
        """Forget the history (start of a new stream)."""
        w = self._w
        for i in range(self.HISTORY):
            w[i] = 0

    def process(self, src, dst, n_in):
        """Interpolate n_in samples of src into 2 * n_in samples of dst."""
        if n_in > self.max_in:
            raise ValueError("frame larger than max_in")
        w = self._w
        h = self.HISTORY
        _load(w, h, src, n_in)
        # Output pair i sits at w index a = i + 3 (taps reach a - 3 .. a + 4).
        a = 3
        k = 0
        end = n_in + 3
        while a < end:
            v = w[a]
            dst[k] = v & 0xFF
            dst[k + 1] = (v >> 8) & 0xFF
            # Twice the odd-phase taps: gain 2 restores the zero-stuffed level.
            acc = (C1 * (w[a] + w[a + 1]) + C3 * (w[a - 1] + w[a + 2])
                   + C5 * (w[a - 2] + w[a + 3]) + C7 * (w[a - 3] + w[a + 4]) + 4096) >> (FIR_SHIFT - 1)
            _store(dst, k + 2, acc)
            a += 1
            k += 4
        for i in range(h):
            w[i] = w[n_in + i]
