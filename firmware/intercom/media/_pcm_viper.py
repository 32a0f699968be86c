"""Native (@micropython.viper) kernels for media/pcm.py; MicroPython only."""

# Native code for the CPU that runs it: the kernels are source text compiled
# when this module is imported, as in media/_viper.py (which says why).
#
# Imported by pcm.py inside try/except: on CPython, or on a MicroPython build
# without native emitters, importing this module fails and the pure-Python
# kernels in pcm.py (py_*) are used instead. Every kernel here must stay
# bit-exact with its twin there; pcm.py runs a small self-check before
# binding these, and host_tests/core/test_media_pcm_viper.py compares both
# on random and extreme input over several frames.
#
# Invariants:
# - Viper ints are machine words: 32-bit signed on ESP32 (64-bit on the unix
#   port, so host runs cannot show an overflow). Every expression below is
#   bounded in pcm.py's header comment; the tests recompute the bounds.
# - `>>` on a viper int is an arithmetic shift: floor division by 2**k for
#   negatives too, exactly as in Python.
# - Sample buffers are read and written with ptr8 (no alignment needed,
#   little-endian everywhere). Filter work buffers are pcm.py's array("H")
#   (offset samples, 0..65535) read with ptr16: heap-allocated, so aligned,
#   and zero-extended on every target.
# - The filter constants are literals (a module global would be an object
#   lookup per use); they mirror pcm.C0..C7, DEC_BIAS and INT_BIAS.
# - No bounds checks, no allocation: callers size buffers once at setup.
#   Viper has no default arguments; pcm.py wraps i2s32_to_16 for shift=0.

import micropython  # noqa: F401  (ImportError on CPython: the pure kernels are used)

# The kernels (compiled into this module's globals when it is imported).
exec("""
@micropython.viper
def i2s32_to_16(src, dst, n: int, shift: int):
    if shift < 0 or shift > 8:
        raise ValueError("shift must be 0..8")
    sp = ptr8(src)
    dp = ptr8(dst)
    j = 0
    k = 0
    end = n << 2
    if shift == 0:
        while j < end:
            dp[k] = sp[j + 2]
            dp[k + 1] = sp[j + 3]
            j += 4
            k += 2
        return
    lo_shift = 8 - shift
    while j < end:
        hi = sp[j + 3]
        v = ((hi - ((hi & 0x80) << 1)) << 8) | sp[j + 2]      # signed top 16 bits
        v = (v << shift) | (sp[j + 1] >> lo_shift)              # |v| < 2**24
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        dp[k] = v
        dp[k + 1] = v >> 8
        j += 4
        k += 2


@micropython.viper
def pcm16_to_i2s32(src, dst, n: int):
    sp = ptr8(src)
    dp = ptr8(dst)
    j = 0
    k = 0
    end = n << 1
    while j < end:
        dp[k] = 0
        dp[k + 1] = 0
        dp[k + 2] = sp[j]
        dp[k + 3] = sp[j + 1]
        j += 2
        k += 4


@micropython.viper
def mono_to_stereo16(src, dst, n: int):
    sp = ptr8(src)
    dp = ptr8(dst)
    j = 0
    k = 0
    end = n << 1
    while j < end:
        lo = sp[j]
        hi = sp[j + 1]
        dp[k] = lo
        dp[k + 1] = hi
        dp[k + 2] = lo
        dp[k + 3] = hi
        j += 2
        k += 4


@micropython.viper
def apply_gain(buf, n: int, gain_q8: int):
    if gain_q8 < 0 or gain_q8 > 65536:
        raise ValueError("gain_q8 must be 0..65536")
    bp = ptr8(buf)
    k = 0
    end = n << 1
    while k < end:
        u = bp[k] | (bp[k + 1] << 8)
        v = ((u - ((u & 0x8000) << 1)) * gain_q8) >> 8      # product in [-2**31, 2**31)
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        bp[k] = v
        bp[k + 1] = v >> 8
        k += 2


@micropython.viper
def peak16(buf, n: int) -> int:
    bp = ptr8(buf)
    best = 0
    k = 0
    end = n << 1
    while k < end:
        u = bp[k] | (bp[k + 1] << 8)
        if u & 0x8000:
            u = 0x10000 - u
        if u > best:
            best = u
        k += 2
    return best


@micropython.viper
def decimate2(w, src, dst, n_out: int):
    wp = ptr16(w)
    sp = ptr8(src)
    dp = ptr8(dst)
    n_in = n_out << 1
    i = 14                                   # DEC_HISTORY
    k = 0
    end = n_in + 14
    while i < end:
        wp[i] = (sp[k] | (sp[k + 1] << 8)) ^ 0x8000
        i += 1
        k += 2
    c = 8
    k = 0
    end = n_in + 8
    while c < end:
        # C0, C1, C3, C5, C7 = 8192, 4995, -1168, 319, -50; DEC_BIAS = -536862720
        acc = (8192 * wp[c] + 4995 * (wp[c - 1] + wp[c + 1]) - 1168 * (wp[c - 3] + wp[c + 3])
               + 319 * (wp[c - 5] + wp[c + 5]) - 50 * (wp[c - 7] + wp[c + 7]) - 536862720) >> 14
        if acc > 32767:
            acc = 32767
        elif acc < -32768:
            acc = -32768
        dp[k] = acc
        dp[k + 1] = acc >> 8
        c += 2
        k += 2
    i = 0
    while i < 14:
        wp[i] = wp[n_in + i]
        i += 1


@micropython.viper
def interpolate2(w, src, dst, n_in: int):
    wp = ptr16(w)
    sp = ptr8(src)
    dp = ptr8(dst)
    i = 7                                    # INT_HISTORY
    k = 0
    end = n_in + 7
    while i < end:
        wp[i] = (sp[k] | (sp[k + 1] << 8)) ^ 0x8000
        i += 1
        k += 2
    a = 3
    k = 0
    end = n_in + 3
    while a < end:
        u = wp[a] ^ 0x8000
        dp[k] = u
        dp[k + 1] = u >> 8
        # INT_BIAS = -268431360
        acc = (4995 * (wp[a] + wp[a + 1]) - 1168 * (wp[a - 1] + wp[a + 2])
               + 319 * (wp[a - 2] + wp[a + 3]) - 50 * (wp[a - 3] + wp[a + 4]) - 268431360) >> 13
        if acc > 32767:
            acc = 32767
        elif acc < -32768:
            acc = -32768
        dp[k + 2] = acc
        dp[k + 3] = acc >> 8
        a += 1
        k += 4
    i = 0
    while i < 7:
        wp[i] = wp[n_in + i]
        i += 1
""")
