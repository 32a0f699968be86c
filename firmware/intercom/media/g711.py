"""ITU-T G.711 mu-law and A-law (bit-exact with CPython audioop), in-place over preallocated buffers."""

# Linear PCM is 16-bit signed little-endian, as in WAV files and I2S frames.
# mu-law uses the top 14 bits of a sample and A-law the top 13, exactly as
# CPython's audioop (lin2ulaw/lin2alaw with width 2) does, so the oracle in
# the tests is audioop for all 65,536 inputs and all 256 codes.
#
# Tables (media/_g711_tables.py, about 2 KB of constant bytes: in flash, not
# heap, with frozen or ROMFS firmware; host_tests/core/media_tables.py holds
# the formulas, generates the module and test_media_g711.py checks it):
#   SEG       256 B   segment (exponent) of a biased magnitude >> 4 or >> 5
#   *_DECODE  512 B   code -> int16 little-endian sample
#   *_FADE    256 B   code -> code of the same sample at half amplitude (-6 dB)
#   *_LEVEL   256 B   code -> magnitude rank 0..127 (0 = silence), for peak()
#
# Every kernel exists twice with the same arguments: native viper in
# media/_viper.py and pure Python in media/_g711_py.py (the reference, and
# the CPython path). One of the two is loaded and bound to the public names
# below; IMPLEMENTATION says which. Tests import _g711_py to compare them.

from intercom.media._g711_tables import (ULAW_DECODE, ALAW_DECODE,
                                        ULAW_FADE, ALAW_FADE, ULAW_LEVEL, ALAW_LEVEL)

IMPLEMENTATION = "python"

SILENCE_ULAW = 0xFF  # mu-law code for +0
SILENCE_ALAW = 0xD5  # A-law code for +0 (even bits inverted)


# ---- kernel selection -----------------------------------------------------

# What every kernel writes for a few extreme inputs (see _exercise), as the
# pure kernels compute it; test_media_g711.py checks this against them.
_SELF_CHECK = b"\x00\x80\xff\x7e\x2a\xaa\xd5\x55\x10\xff\xff\x11\x18\xe1\xe1\xff\x6f\x7f"


def _exercise(k):
    # Every kernel of module k once: mu-law and A-law codes of -32768,
    # 32767, 1, -5, then the A-law ones decoded, moved, faded and measured.
    pcm = b"\x00\x80\xff\x7f\x01\x00\xfb\xff"
    u = bytearray(4)
    a = bytearray(4)
    k.encode_ulaw(pcm, u, 4)
    k.encode_alaw(pcm, a, 4)
    d = bytearray(8)
    k.decode(a, d, 4, ALAW_DECODE)
    k.copy(d, 1, pcm, 2, 3)
    k.fill(d, 5, 0xD5, 2)
    k.translate(d, 8, ULAW_FADE)
    return bytes(u + a + d) + bytes((k.peak(d, 8, ULAW_LEVEL), k.peak(a, 4, ALAW_LEVEL)))


# The native kernels when they import and pass the self-check; otherwise
# (no native emitter, CPython, a mis-compiled kernel) the pure ones, which
# are then the only ones loaded.
_k = None
try:
    from intercom.media import _viper
    if _exercise(_viper) == _SELF_CHECK:
        _k = _viper
        IMPLEMENTATION = "viper"
except Exception:  # noqa: BLE001 - ImportError, SyntaxError, ViperTypeError...: keep pure
    pass
if _k is None:
    from intercom.media import _g711_py as _k

encode_ulaw = _k.encode_ulaw
encode_alaw = _k.encode_alaw
translate = _k.translate
peak = _k.peak
copy = _k.copy
fill = _k.fill
_decode = _k.decode


def decode_ulaw(src, dst, n):
    """Decode n mu-law codes from src into n int16 LE samples in dst."""
    _decode(src, dst, n, ULAW_DECODE)


def decode_alaw(src, dst, n):
    """Decode n A-law codes from src into n int16 LE samples in dst."""
    _decode(src, dst, n, ALAW_DECODE)


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
