"""ITU-T G.711 mu-law and A-law (bit-exact with CPython audioop), in-place over preallocated buffers."""

# Linear PCM is 16-bit signed little-endian, as in WAV files and I2S frames.
# mu-law uses the top 14 bits of a sample and A-law the top 13, exactly as
# CPython's audioop (lin2ulaw/lin2alaw with width 2) does, so the oracle in
# the tests is audioop for all 65,536 inputs and all 256 codes.
#
# Tables are computed once at import and are small (about 2 KB in total):
#   _SEG      256 B   segment (exponent) of a biased magnitude >> 4 or >> 5
#   *_DECODE  512 B   code -> int16 little-endian sample
#   *_FADE    256 B   code -> code of the same sample at half amplitude (-6 dB)
#   *_LEVEL   256 B   code -> magnitude rank 0..127 (0 = silence), for peak()
#
# Every kernel exists twice: a native viper one (media/_viper.py) and a
# pure-Python one here (py_*). IMPLEMENTATION says which the public names
# are bound to; the py_* names always exist so tests can compare the two.

IMPLEMENTATION = "python"

SILENCE_ULAW = 0xFF  # mu-law code for +0
SILENCE_ALAW = 0xD5  # A-law code for +0 (even bits inverted)


def _bitlen(v):
    n = 0
    while v:
        n += 1
        v >>= 1
    return n


# _SEG[i] = floor(log2(i)) for i >= 1, 0 for i = 0: the segment of a mu-law
# biased magnitude m is _SEG[m >> 5], of an A-law magnitude m it is _SEG[m >> 4].
_SEG = bytes([max(_bitlen(i) - 1, 0) for i in range(256)])


# ---- pure-Python kernels (the reference; also the CPython path) ----------

def py_encode_ulaw(src, dst, n):
    """Encode n int16 LE samples from src into n mu-law codes in dst."""
    seg_t = _SEG
    j = 0
    for i in range(n):
        u = src[j] | (src[j + 1] << 8)
        if u & 0x8000:
            m = (65539 - u) >> 2      # |floor(s / 4)| for s < 0
            mask = 0x7F
        else:
            m = u >> 2
            mask = 0xFF
        if m > 8159:                  # CLIP
            m = 8159
        m += 33                       # BIAS >> 2
        if m > 8191:
            m = 8191                  # yields 0x7F, same as the out-of-range case
        seg = seg_t[m >> 5]
        dst[i] = ((seg << 4) | ((m >> (seg + 1)) & 0x0F)) ^ mask
        j += 2


def py_encode_alaw(src, dst, n):
    """Encode n int16 LE samples from src into n A-law codes in dst."""
    seg_t = _SEG
    j = 0
    for i in range(n):
        u = src[j] | (src[j + 1] << 8)
        if u & 0x8000:
            m = (65535 - u) >> 3      # ~floor(s / 8) for s < 0
            mask = 0x55
        else:
            m = u >> 3
            mask = 0xD5
        seg = seg_t[m >> 4]
        dst[i] = ((seg << 4) | ((m >> (seg if seg > 1 else 1)) & 0x0F)) ^ mask
        j += 2


def py_decode(src, dst, n, table):
    """Decode n codes from src into n int16 LE samples in dst via a 512-byte table."""
    j = 0
    for i in range(n):
        k = src[i] << 1
        dst[j] = table[k]
        dst[j + 1] = table[k + 1]
        j += 2


def py_translate(buf, n, table):
    """buf[i] = table[buf[i]] for the first n bytes."""
    for i in range(n):
        buf[i] = table[buf[i]]


def py_peak(buf, n, table):
    """Largest table[buf[i]] over the first n bytes (0 when n == 0)."""
    best = 0
    for i in range(n):
        v = table[buf[i]]
        if v > best:
            best = v
    return best


def py_copy(dst, doff, src, soff, n):
    """dst[doff:doff+n] = src[soff:soff+n] without slicing."""
    for i in range(n):
        dst[doff + i] = src[soff + i]


def py_fill(dst, doff, value, n):
    """dst[doff:doff+n] = value repeated, without slicing."""
    for i in range(doff, doff + n):
        dst[i] = value


# ---- decode tables (straight from the G.711 expansion rules) --------------

def _ulaw_sample(code):
    c = ~code & 0xFF
    t = (((c & 0x0F) << 3) + 0x84) << ((c & 0x70) >> 4)
    return 0x84 - t if c & 0x80 else t - 0x84


def _alaw_sample(code):
    c = code ^ 0x55
    t = (c & 0x0F) << 4
    seg = (c & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if c & 0x80 else -t


def _decode_table(sample):
    t = bytearray(512)
    for c in range(256):
        v = sample(c) & 0xFFFF
        t[2 * c] = v & 0xFF
        t[2 * c + 1] = v >> 8
    return bytes(t)


ULAW_DECODE = _decode_table(_ulaw_sample)
ALAW_DECODE = _decode_table(_alaw_sample)


def _code_table(sample, encode, halve):
    # Per code: re-encode its sample (halved for a fade table, or the code's
    # own magnitude rank for a level table), using the pure encoder.
    pcm = bytearray(512)
    for c in range(256):
        v = sample(c)
        if halve:
            v = v // 2 if v >= 0 else -((-v) // 2)
        v &= 0xFFFF
        pcm[2 * c] = v & 0xFF
        pcm[2 * c + 1] = v >> 8
    out = bytearray(256)
    encode(pcm, out, 256)
    return bytes(out)


ULAW_FADE = _code_table(_ulaw_sample, py_encode_ulaw, True)
ALAW_FADE = _code_table(_alaw_sample, py_encode_alaw, True)
# Magnitude rank: 0x7F minus the inverted mu-law magnitude bits; A-law's
# magnitude bits are the code with even bits restored. Both 0 for +-0.
ULAW_LEVEL = bytes([0x7F - (c & 0x7F) for c in range(256)])
ALAW_LEVEL = bytes([(c ^ 0x55) & 0x7F for c in range(256)])


# ---- kernel selection -----------------------------------------------------

def py_decode_ulaw(src, dst, n):
    """Pure-Python decode of n mu-law codes to int16 LE samples."""
    py_decode(src, dst, n, ULAW_DECODE)


def py_decode_alaw(src, dst, n):
    """Pure-Python decode of n A-law codes to int16 LE samples."""
    py_decode(src, dst, n, ALAW_DECODE)


encode_ulaw = py_encode_ulaw
encode_alaw = py_encode_alaw
decode_ulaw = py_decode_ulaw
decode_alaw = py_decode_alaw
translate = py_translate
peak = py_peak
copy = py_copy
fill = py_fill


def _viper_works(v):
    # A tiny call of every kernel; any failure (no native emitter, a
    # mis-compiled kernel) keeps the pure path.
    pcm = b"\x00\x80\xff\x7f\x01\x00\xfb\xff"
    a = bytearray(4)
    b = bytearray(4)
    for venc, penc in ((v.encode_ulaw, py_encode_ulaw), (v.encode_alaw, py_encode_alaw)):
        venc(pcm, a, 4)
        penc(pcm, b, 4)
        if a != b:
            return False
    out_v = bytearray(8)
    out_p = bytearray(8)
    v.decode(a, out_v, 4, ALAW_DECODE)
    py_decode(a, out_p, 4, ALAW_DECODE)
    v.copy(out_v, 1, pcm, 2, 3)
    py_copy(out_p, 1, pcm, 2, 3)
    v.fill(out_v, 5, 0xD5, 2)
    py_fill(out_p, 5, 0xD5, 2)
    v.translate(out_v, 8, ULAW_FADE)
    py_translate(out_p, 8, ULAW_FADE)
    return out_v == out_p and v.peak(out_v, 8, ULAW_LEVEL) == py_peak(out_p, 8, ULAW_LEVEL)


try:
    from intercom.media import _viper
    _viper.set_tables(_SEG)
    if _viper_works(_viper):
        encode_ulaw = _viper.encode_ulaw
        encode_alaw = _viper.encode_alaw
        translate = _viper.translate
        peak = _viper.peak
        copy = _viper.copy
        fill = _viper.fill
        _vdecode = _viper.decode

        def decode_ulaw(src, dst, n):
            """Decode n mu-law codes from src into n int16 LE samples in dst."""
            _vdecode(src, dst, n, ULAW_DECODE)

        def decode_alaw(src, dst, n):
            """Decode n A-law codes from src into n int16 LE samples in dst."""
            _vdecode(src, dst, n, ALAW_DECODE)

        IMPLEMENTATION = "viper"
except Exception:  # noqa: BLE001 - ImportError, SyntaxError, ViperTypeError...: keep pure
    pass


class Codec:
    """One G.711 law: payload type, name, silence code and its kernels.

    encode(src, dst, n) / decode(src, dst, n) are plain functions stored on
    the instance, so calling them binds nothing (no allocation)."""

    def __init__(self, name, payload_type, silence, encode, decode, fade, level):
        self.name = name
        self.payload_type = payload_type
        self.silence = silence
        self.encode = encode
        self.decode = decode
        self.fade = fade      # 256-byte code -> code table, -6 dB
        self.level = level    # 256-byte code -> magnitude rank table


PCMU = Codec("PCMU", 0, SILENCE_ULAW, encode_ulaw, decode_ulaw, ULAW_FADE, ULAW_LEVEL)
PCMA = Codec("PCMA", 8, SILENCE_ALAW, encode_alaw, decode_alaw, ALAW_FADE, ALAW_LEVEL)


def codec_for(payload_type):
    """The Codec for static payload type 0 (PCMU) or 8 (PCMA), else None."""
    if payload_type == 0:
        return PCMU
    if payload_type == 8:
        return PCMA
    return None
