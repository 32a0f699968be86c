"""Pure-Python twins of _srtp_viper: HMAC-SHA1 (RFC 2104) on hashlib and the keystream XOR."""

# Same arguments as media/_srtp_viper.py, so srtp.py binds either set. Here
# `ctx` is what prepare() returns. On CPython hmac objects copy, so the pad
# states are computed once per key; MicroPython has no hmac module and its
# sha1 objects cannot be copied, so there both pads are hashed per packet
# (and allocate: this path is not the 20 ms path of a device, see srtp.py).

import hashlib

try:
    import hmac as _hmac
except ImportError:
    _hmac = None

_IPAD = bytes([0x36] * 64)
_OPAD = bytes([0x5C] * 64)


def prepare(key):
    """The per-key context for hmac()."""
    if _hmac is not None:
        return _hmac.new(bytes(key), digestmod=hashlib.sha1)
    if len(key) > 64:
        key = hashlib.sha1(key).digest()
    key = bytes(key) + bytes(64 - len(key))
    return (bytes([k ^ 0x36 for k in key]), bytes([k ^ 0x5C for k in key]))


def hmac(ctx, src, n, out):
    """HMAC-SHA1 of src[0:n] into out[0:20]."""
    if isinstance(ctx, tuple):
        inner = hashlib.sha1(ctx[0])
        inner.update(memoryview(src)[:n])
        outer = hashlib.sha1(ctx[1])
        outer.update(inner.digest())
        digest = outer.digest()
    else:
        h = ctx.copy()
        h.update(memoryview(src)[:n])
        digest = h.digest()
    for i in range(20):
        out[i] = digest[i]


def xor_into(dst, doff, src, n):
    """dst[doff:doff+n] ^= src[0:n]."""
    for i in range(n):
        dst[doff + i] ^= src[i]
