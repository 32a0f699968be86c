"""Native (@micropython.viper) kernels for ITU-T G.711 and byte moves; MicroPython only."""

# Native code for the CPU that runs it: the kernels are source text that
# this module compiles when imported (exec), with the running MicroPython's
# own native emitter. Viper needs the target CPU at compile time, so as
# decorated functions in the file itself they would make plain `mpy-cross`
# fail ("invalid arch") and tie every .mpy to one -march; as text, every
# firmware module precompiles with any mpy-cross, and a device compiles
# these for itself once at boot.
#
# Imported by g711.py inside try/except: on CPython, or on a MicroPython build
# without native emitters, importing this module fails and the pure-Python
# kernels in media/_g711_py.py are used instead. Every kernel here must stay
# bit-exact with its pure twin there (host_tests/core/test_media_g711.py checks all
# 65,536 samples and 256 codes through both).
#
# Invariants:
# - Only ptr8 is used: 16-bit samples are assembled from two bytes, so
#   buffers need no 2-byte alignment (Xtensa faults on unaligned l16ui)
#   and byte order is little-endian on every target.
# - Arguments are (src, dst, n) or (dst, doff, src, soff, n)-shaped with at
#   most 4 positional viper args where possible; n counts samples or bytes
#   as documented on the twin in _g711_py.py. No bounds checks: callers size
#   their buffers once at setup.

import micropython  # noqa: F401  (ImportError on CPython: the pure kernels are used)

from intercom.media._g711_tables import SEG as _seg  # noqa: F401  (ptr8 reads these constant bytes in place)

# The kernels (compiled into this module's globals when it is imported).
exec("""
@micropython.viper
def encode_ulaw(src, dst, n: int):
    sp = ptr8(src)
    dp = ptr8(dst)
    seg_t = ptr8(_seg)
    i = 0
    j = 0
    while i < n:
        u = sp[j] | (sp[j + 1] << 8)
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
            m = 8191                  # same code as the out-of-range case
        seg = seg_t[m >> 5]
        dp[i] = ((seg << 4) | ((m >> (seg + 1)) & 0x0F)) ^ mask
        i += 1
        j += 2


@micropython.viper
def encode_alaw(src, dst, n: int):
    sp = ptr8(src)
    dp = ptr8(dst)
    seg_t = ptr8(_seg)
    i = 0
    j = 0
    while i < n:
        u = sp[j] | (sp[j + 1] << 8)
        if u & 0x8000:
            m = (65535 - u) >> 3      # ~floor(s / 8) for s < 0
            mask = 0x55
        else:
            m = u >> 3
            mask = 0xD5
        seg = seg_t[m >> 4]
        sh = seg
        if sh < 1:
            sh = 1
        dp[i] = ((seg << 4) | ((m >> sh) & 0x0F)) ^ mask
        i += 1
        j += 2


@micropython.viper
def decode(src, dst, n: int, table):
    sp = ptr8(src)
    dp = ptr8(dst)
    tp = ptr8(table)
    i = 0
    j = 0
    while i < n:
        k = sp[i] << 1
        dp[j] = tp[k]
        dp[j + 1] = tp[k + 1]
        i += 1
        j += 2


@micropython.viper
def translate(buf, n: int, table):
    bp = ptr8(buf)
    tp = ptr8(table)
    i = 0
    while i < n:
        bp[i] = tp[bp[i]]
        i += 1


@micropython.viper
def peak(buf, n: int, table) -> int:
    bp = ptr8(buf)
    tp = ptr8(table)
    best = 0
    i = 0
    while i < n:
        v = int(tp[bp[i]])
        if v > best:
            best = v
        i += 1
    return best


@micropython.viper
def copy(dst, doff: int, src, soff: int, n: int):
    dp = ptr8(dst)
    sp = ptr8(src)
    i = 0
    while i < n:
        dp[doff + i] = sp[soff + i]
        i += 1


@micropython.viper
def fill(dst, doff: int, value: int, n: int):
    dp = ptr8(dst)
    i = 0
    while i < n:
        dp[doff + i] = value
        i += 1
""")
