"""Native (viper) SHA-1 (FIPS 180-4 §6.1) for HMAC-SHA1 (RFC 2104), keystream XOR; MicroPython only."""

# Why our own SHA-1: MicroPython's hashlib.sha1 objects cannot be copied and
# every new one (and every digest()) allocates, so HMAC on hashlib costs four
# heap blocks a packet; the 20 ms path must allocate nothing. Here the state
# lives in one preallocated bytearray (`ctx`, see srtp.Hmac), and the HMAC's
# inner and outer pad states are computed once per key (RFC 2104 §4 "the
# intermediate results ... may be precomputed").
#
# Source text compiled at import (exec), for the reasons given in _viper.py;
# on CPython, or a MicroPython without native emitters, importing fails and
# srtp.py uses the hashlib/hmac kernels in _srtp_py.py (same arguments,
# host_tests/core/test_srtp.py checks both against RFC 2202 vectors).
#
# Invariants:
# - ctx is native-order 32-bit words (ptr32): 0-4 the working state, 5-9 the
#   inner pad state, 10-14 the outer one, 16-95 the message schedule W; bytes
#   384-511 are the padded tail. Its buffer is a heap bytearray, so it is
#   word aligned (Xtensa faults on unaligned l32i).
# - Words are 32 bits on every target: on a 64-bit host a uint has more, so
#   every value that is shifted right is masked with M first.
# - Constants above 2**30 are no small ints on 32-bit ports: built from halves.

import micropython  # noqa: F401  (ImportError on CPython: the _srtp_py kernels are used)

exec("""
@micropython.viper
def compress(ctx, src, off: int):
    h = ptr32(ctx)
    p = ptr8(src)
    m = uint(0xFFFF)
    m = (m << 16) | m
    i = 0
    while i < 16:
        j = off + (i << 2)
        h[16 + i] = (p[j] << 24) | (p[j + 1] << 16) | (p[j + 2] << 8) | p[j + 3]
        i += 1
    while i < 80:
        x = uint(h[13 + i] ^ h[8 + i] ^ h[2 + i] ^ h[i]) & m
        h[16 + i] = (x << 1) | (x >> 31)
        i += 1
    a = uint(h[0]) & m
    b = uint(h[1]) & m
    c = uint(h[2]) & m
    d = uint(h[3]) & m
    e = uint(h[4]) & m
    k1 = (uint(0x5A82) << 16) | uint(0x7999)
    k2 = (uint(0x6ED9) << 16) | uint(0xEBA1)
    k3 = (uint(0x8F1B) << 16) | uint(0xBCDC)
    k4 = (uint(0xCA62) << 16) | uint(0xC1D6)
    i = 0
    while i < 80:
        if i < 20:
            f = (b & c) | ((b ^ m) & d)
            k = k1
        elif i < 40:
            f = b ^ c ^ d
            k = k2
        elif i < 60:
            f = (b & c) | (b & d) | (c & d)
            k = k3
        else:
            f = b ^ c ^ d
            k = k4
        t = (((a << 5) | (a >> 27)) + f + e + k + uint(h[16 + i])) & m
        e = d
        d = c
        c = ((b << 30) | (b >> 2)) & m
        b = a
        a = t
        i += 1
    h[0] = uint(h[0]) + a
    h[1] = uint(h[1]) + b
    h[2] = uint(h[2]) + c
    h[3] = uint(h[3]) + d
    h[4] = uint(h[4]) + e


@micropython.viper
def _load(ctx, state: int):
    h = ptr32(ctx)
    i = 0
    while i < 5:
        h[i] = h[state + i]
        i += 1


@micropython.viper
def _tail(ctx, src, n: int, total: int) -> int:
    # Copy the message's last n % 64 bytes to the tail area, pad it (FIPS
    # 180-4 §5.1.1: 0x80, zeros, the bit length in 64 bits); total is the
    # whole length in bytes (< 2**26). Returns the number of tail blocks.
    d = ptr8(ctx)
    p = ptr8(src)
    full = n & ~63
    r = n - full
    i = 0
    while i < r:
        d[384 + i] = p[full + i]
        i += 1
    d[384 + r] = 0x80
    end = 64
    if r >= 56:
        end = 128
    i = r + 1
    while i < end - 4:
        d[384 + i] = 0
        i += 1
    bits = total << 3
    d[384 + end - 4] = (bits >> 24) & 0xFF
    d[384 + end - 3] = (bits >> 16) & 0xFF
    d[384 + end - 2] = (bits >> 8) & 0xFF
    d[384 + end - 1] = bits & 0xFF
    return end >> 6


@micropython.viper
def _digest(ctx, dst, doff: int):
    # The working state, big-endian, into dst at doff (20 bytes).
    h = ptr32(ctx)
    d = ptr8(dst)
    i = 0
    while i < 5:
        x = uint(h[i])
        j = doff + (i << 2)
        d[j] = (x >> 24) & 0xFF
        d[j + 1] = (x >> 16) & 0xFF
        d[j + 2] = (x >> 8) & 0xFF
        d[j + 3] = x & 0xFF
        i += 1


def hmac(ctx, src, n, out):
    # HMAC-SHA1 of src[0:n] into out[0:20], from the precomputed pad states.
    _load(ctx, 5)
    off = 0
    full = n & ~63
    while off < full:
        compress(ctx, src, off)
        off += 64
    blocks = _tail(ctx, src, n, 64 + n)
    compress(ctx, ctx, 384)
    if blocks == 2:
        compress(ctx, ctx, 448)
    _digest(ctx, ctx, 384)
    _load(ctx, 10)
    _tail(ctx, ctx, 20 + 384, 64 + 20)    # the 20 digest bytes are in place already
    compress(ctx, ctx, 384)
    _digest(ctx, out, 0)


@micropython.viper
def xor_into(dst, doff: int, src, n: int):
    dp = ptr8(dst)
    sp = ptr8(src)
    i = 0
    while i < n:
        dp[doff + i] = dp[doff + i] ^ sp[i]
        i += 1
""")
