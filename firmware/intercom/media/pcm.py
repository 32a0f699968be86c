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
#
# Filter work buffers are array("H") holding each sample offset by 32768
# (the 16-bit pattern ^ 0x8000, 0..65535): the viper kernels read them with
# ptr16, which zero-extends on every target (ptr32 would not sign-extend on
# a 64-bit host), and the offset comes back out as one constant per output
# (offset x DC gain), so nothing is sign-extended per tap.
#
# Every kernel exists twice: a native viper one (media/_pcm_viper.py) and a
# pure-Python one here (py_*). IMPLEMENTATION says which the public names
# are bound to; the py_* names always exist so tests can compare the two.
#
# 32-bit machine words (viper on ESP32): with offset samples b in 0..65535,
# the largest partial sum of a decimator output is the positive taps times
# 65535, (C0 + 2 * (C1 + C5)) * 65535 = 1,233,368,700 < 2**31, the smallest
# 2 * (C3 + C7) * 65535 - 2**29 > -2**30; the interpolator's are smaller.
# apply_gain's product is at most 32768 * 65536 = 2**31 in magnitude, and
# only negative (-2**31 fits). host_tests/core/test_media_pcm_viper.py
# recomputes these bounds from the constants.

from array import array

IMPLEMENTATION = "python"

# Half-band taps h[7 +- d] for d = 0, 1, 3, 5, 7 (h[7 +- even d] = 0), Q14.
C0 = 8192
C1 = 4995
C3 = -1168
C5 = 319
C7 = -50
FIR_SHIFT = 14
# DC gain is exactly 1: C0 + 2 * (C1 + C3 + C5 + C7) == 1 << FIR_SHIFT.
OFFSET = 32768
# Rounding term minus the sample offset times the taps' sum, per kernel:
# decimator taps sum to 2**14, the interpolator's odd phase (doubled) to 2**13.
DEC_BIAS = (1 << (FIR_SHIFT - 1)) - (OFFSET << FIR_SHIFT)               # -536862720
INT_BIAS = (1 << (FIR_SHIFT - 2)) - (OFFSET << (FIR_SHIFT - 1))         # -268431360
MAX_GAIN_Q8 = 65536      # +48 dB; keeps apply_gain's product inside 32 bits
DEC_HISTORY = 14
INT_HISTORY = 7


# ---- pure-Python kernels (the reference; also the CPython path) ----------

def py_i2s32_to_16(src, dst, n, shift=0):
    """Convert n 32-bit left-justified I2S words in src to 16-bit samples in dst.

    shift = 0 takes the top 16 bits (an arithmetic >> 16 of the word);
    shift = 1..8 adds 6 dB each by taking lower bits (>> (16 - shift)),
    saturating at the 16-bit limits. Only bytes 1..3 of each word are read.
    Any other shift raises ValueError."""
    if shift < 0 or shift > 8:
        raise ValueError("shift must be 0..8")
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


def py_pcm16_to_i2s32(src, dst, n):
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


def py_mono_to_stereo16(src, dst, n):
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


def py_apply_gain(buf, n, gain_q8):
    """Scale n 16-bit samples in place by gain_q8 / 256, saturating.

    gain_q8 is 0..MAX_GAIN_Q8 (65536, +48 dB); others raise ValueError."""
    if gain_q8 < 0 or gain_q8 > MAX_GAIN_Q8:
        raise ValueError("gain_q8 must be 0..65536")
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


def py_peak16(buf, n):
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
    # w[base + i] = sample i of src plus OFFSET (0..65535), for i < n.
    k = 0
    end = base + n
    while base < end:
        w[base] = (src[k] | (src[k + 1] << 8)) ^ 0x8000
        base += 1
        k += 2


def _store(dst, k, v):
    if v > 32767:
        v = 32767
    elif v < -32768:
        v = -32768
    dst[k] = v & 0xFF
    dst[k + 1] = (v >> 8) & 0xFF


def py_decimate2(w, src, dst, n_out):
    """Decimator core: 2 * n_out samples of src -> n_out samples of dst.

    w is the array("H") work buffer (DEC_HISTORY + 2 * n_out entries or
    more); its first DEC_HISTORY entries are the history, updated here."""
    h = DEC_HISTORY
    n_in = n_out << 1
    _load(w, h, src, n_in)
    # Output m is centred on input 2m - 6 of this frame (w index 2m + 8):
    # its newest tap is input 2m + 1, the last sample of its pair.
    c = 8
    k = 0
    end = n_in + 8
    while c < end:
        acc = (C0 * w[c] + C1 * (w[c - 1] + w[c + 1]) + C3 * (w[c - 3] + w[c + 3])
               + C5 * (w[c - 5] + w[c + 5]) + C7 * (w[c - 7] + w[c + 7]) + DEC_BIAS) >> FIR_SHIFT
        _store(dst, k, acc)
        c += 2
        k += 2
    for i in range(h):
        w[i] = w[n_in + i]


def py_interpolate2(w, src, dst, n_in):
    """Interpolator core: n_in samples of src -> 2 * n_in samples of dst.

    w is the array("H") work buffer (INT_HISTORY + n_in entries or more);
    its first INT_HISTORY entries are the history, updated here."""
    h = INT_HISTORY
    _load(w, h, src, n_in)
    # Output pair i sits at w index a = i + 3 (taps reach a - 3 .. a + 4).
    a = 3
    k = 0
    end = n_in + 3
    while a < end:
        u = w[a] ^ 0x8000
        dst[k] = u & 0xFF
        dst[k + 1] = u >> 8
        # Twice the odd-phase taps: gain 2 restores the zero-stuffed level.
        acc = (C1 * (w[a] + w[a + 1]) + C3 * (w[a - 1] + w[a + 2])
               + C5 * (w[a - 2] + w[a + 3]) + C7 * (w[a - 3] + w[a + 4]) + INT_BIAS) >> (FIR_SHIFT - 1)
        _store(dst, k + 2, acc)
        a += 1
        k += 4
    for i in range(h):
        w[i] = w[n_in + i]


# ---- public names: pure by default, viper when it imports and checks out --

i2s32_to_16 = py_i2s32_to_16
pcm16_to_i2s32 = py_pcm16_to_i2s32
mono_to_stereo16 = py_mono_to_stereo16
apply_gain = py_apply_gain
peak16 = py_peak16
decimate2 = py_decimate2
interpolate2 = py_interpolate2


def _viper_works(v):
    # A few samples through every kernel, extremes and negatives included,
    # two frames each so the carried history is exercised too.
    s16 = bytes((0x00, 0x80, 0xFF, 0x7F, 0xFF, 0xFF, 0x01, 0x00, 0x34, 0xC2, 0x10, 0x27, 0x00, 0x00, 0xEF, 0xBE))
    s32 = bytes((0x00, 0xFF, 0xFF, 0x7F, 0x00, 0x00, 0x00, 0x80, 0x00, 0x80, 0xFE, 0xFF, 0x00, 0x12, 0x34, 0x00))
    a = bytearray(32)
    b = bytearray(32)
    for shift in (0, 3):
        v.i2s32_to_16(s32, a, 4, shift)
        py_i2s32_to_16(s32, b, 4, shift)
        if a != b:
            return False
    v.pcm16_to_i2s32(s16, a, 8)
    py_pcm16_to_i2s32(s16, b, 8)
    if a != b:
        return False
    v.mono_to_stereo16(s16, a, 8)
    py_mono_to_stereo16(s16, b, 8)
    if a != b:
        return False
    a[:16] = s16
    b[:16] = s16
    v.apply_gain(a, 8, 700)
    py_apply_gain(b, 8, 700)
    if a != b or v.peak16(s16, 8) != py_peak16(s16, 8) or v.peak16(a, 8) != py_peak16(b, 8):
        return False
    wv = array("H", [OFFSET] * (DEC_HISTORY + 8))
    wp = array("H", [OFFSET] * (DEC_HISTORY + 8))
    for _ in range(3):
        v.decimate2(wv, s16, a, 4)
        py_decimate2(wp, s16, b, 4)
        v.interpolate2(wv, s16, a, 8)
        py_interpolate2(wp, s16, b, 8)
        if a != b or wv != wp:
            return False
    return True


try:
    from intercom.media import _pcm_viper
    if _viper_works(_pcm_viper):
        _vi2s = _pcm_viper.i2s32_to_16

        def i2s32_to_16(src, dst, n, shift=0):
            """Convert n 32-bit left-justified I2S words to 16-bit samples (see py_i2s32_to_16)."""
            _vi2s(src, dst, n, shift)

        pcm16_to_i2s32 = _pcm_viper.pcm16_to_i2s32
        mono_to_stereo16 = _pcm_viper.mono_to_stereo16
        apply_gain = _pcm_viper.apply_gain
        peak16 = _pcm_viper.peak16
        decimate2 = _pcm_viper.decimate2
        interpolate2 = _pcm_viper.interpolate2
        IMPLEMENTATION = "viper"
except Exception:  # noqa: BLE001 - ImportError, SyntaxError, ViperTypeError...: keep pure
    pass


class Decimator:
    """16 kHz -> 8 kHz: half-band low-pass, then every other sample (7-sample delay).

    process(src, dst, n_out) reads 2 * n_out 16-bit samples from src and
    writes n_out to dst; history carries over between calls, so frames of
    any even size join seamlessly. max_out bounds n_out (preallocation).
    kernel defaults to decimate2 (viper when available); tests pass
    py_decimate2 to compare."""

    HISTORY = DEC_HISTORY

    def __init__(self, max_out=160, kernel=None):
        self.max_out = max_out
        self._w = array("H", [OFFSET] * (DEC_HISTORY + 2 * max_out))
        self._kernel = kernel if kernel is not None else decimate2

    def reset(self):
        """Forget the history (start of a new stream)."""
        w = self._w
        for i in range(DEC_HISTORY):
            w[i] = OFFSET

    def process(self, src, dst, n_out):
        """Decimate 2 * n_out samples of src into n_out samples of dst."""
        if n_out > self.max_out:
            raise ValueError("frame larger than max_out")
        self._kernel(self._w, src, dst, n_out)


class Interpolator:
    """8 kHz -> 16 kHz: zero-stuffing and the same half-band low-pass (4-sample delay).

    process(src, dst, n_in) reads n_in 16-bit samples and writes 2 * n_in.
    Even outputs are input samples unchanged (the centre tap), odd outputs
    the filtered half-way points. kernel defaults to interpolate2."""

    HISTORY = INT_HISTORY

    def __init__(self, max_in=160, kernel=None):
        self.max_in = max_in
        self._w = array("H", [OFFSET] * (INT_HISTORY + max_in))
        self._kernel = kernel if kernel is not None else interpolate2

    def reset(self):
        """Forget the history (start of a new stream)."""
        w = self._w
        for i in range(INT_HISTORY):
            w[i] = OFFSET

    def process(self, src, dst, n_in):
        """Interpolate n_in samples of src into 2 * n_in samples of dst."""
        if n_in > self.max_in:
            raise ValueError("frame larger than max_in")
        self._kernel(self._w, src, dst, n_in)
