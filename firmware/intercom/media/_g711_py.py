"""Pure-Python ITU-T G.711 kernels: the reference, and the path where viper is missing (CPython)."""

# Same functions and arguments as the native twins in media/_viper.py, so
# g711.py binds one module or the other. Only that fallback and the tests
# import this module: on a device where the viper kernels pass g711.py's
# self-check, it is never loaded (no heap for its functions). Bit-exact with
# CPython audioop (host_tests/core/test_media_g711.py checks all 65,536
# samples and 256 codes) and with _viper.py (same test, both ways).

from intercom.media._g711_tables import SEG as _SEG


def encode_ulaw(src, dst, n):
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


def encode_alaw(src, dst, n):
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


def decode(src, dst, n, table):
    """Decode n codes from src into n int16 LE samples in dst via a 512-byte table."""
    j = 0
    for i in range(n):
        k = src[i] << 1
        dst[j] = table[k]
        dst[j + 1] = table[k + 1]
        j += 2


def translate(buf, n, table):
    """buf[i] = table[buf[i]] for the first n bytes."""
    for i in range(n):
        buf[i] = table[buf[i]]


def peak(buf, n, table):
    """Largest table[buf[i]] over the first n bytes (0 when n == 0)."""
    best = 0
    for i in range(n):
        v = table[buf[i]]
        if v > best:
            best = v
    return best


def copy(dst, doff, src, soff, n):
    """dst[doff:doff+n] = src[soff:soff+n] without slicing."""
    for i in range(n):
        dst[doff + i] = src[soff + i]


def fill(dst, doff, value, n):
    """dst[doff:doff+n] = value repeated, without slicing."""
    for i in range(doff, doff + n):
        dst[i] = value
