"""ITU-T G.711 mu-law / A-law: bit-exact with CPython audioop for every input and code; viper == pure."""

import binascii
import hashlib
import sys

from intercom.media import g711
from intercom.media import _g711_py as pure      # the reference kernels

# sha256 of audioop's output (CPython 3.11) for all 65,536 int16 samples in
# order 0x0000..0xFFFF (little-endian) and for the 256 codes 0x00..0xFF.
# Hard-coded so MicroPython, which has no audioop, still proves bit-exactness;
# cross-checked against audioop itself whenever it can be imported.
GOLDEN = {
    "ULAW_ENCODE": "617fa4850d68d3906597e949f7625fb2fc46db479e29707f33159b3d131721cb",
    "ALAW_ENCODE": "f77c76aa923ee25617453f87514828a12896227f82ff383bf3bb53d6ac7c2a0f",
    "ULAW_DECODE": "3dab54339e520bb2c924826e3b72a917a2b612e9fd12fc867500f1d983a75827",
    "ALAW_DECODE": "e04788d110e58ff8c70c93b8480190d973e3b67876b6119abbaec766cc75c174",
}

MICROPYTHON = sys.implementation.name == "micropython"
_cache = {}


def _audioop():
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import audioop
        return audioop
    except ImportError:  # MicroPython, or CPython >= 3.13
        return None


def _sha(data):
    return binascii.hexlify(hashlib.sha256(bytes(data)).digest()).decode()


def all_samples():
    """Every int16 value once, little-endian, in unsigned order."""
    if "pcm" not in _cache:
        pcm = bytearray(131072)
        for k in range(65536):
            pcm[2 * k] = k & 0xFF
            pcm[2 * k + 1] = k >> 8
        _cache["pcm"] = bytes(pcm)
    return _cache["pcm"]


ALL_CODES = bytes(range(256))


def _encode_all(fn):
    out = bytearray(65536)
    fn(all_samples(), out, 65536)
    return out


def _pure_decode(table):
    return lambda src, dst, n: pure.decode(src, dst, n, table)


def _decode_all(fn):
    out = bytearray(512)
    fn(ALL_CODES, out, 256)
    return out


def test_golden_digests_match_audioop():
    ao = _audioop()
    if ao is None:
        return  # nothing to cross-check on this runtime; the digests stand
    pcm = all_samples()
    assert _sha(ao.lin2ulaw(pcm, 2)) == GOLDEN["ULAW_ENCODE"]
    assert _sha(ao.lin2alaw(pcm, 2)) == GOLDEN["ALAW_ENCODE"]
    assert _sha(ao.ulaw2lin(ALL_CODES, 2)) == GOLDEN["ULAW_DECODE"]
    assert _sha(ao.alaw2lin(ALL_CODES, 2)) == GOLDEN["ALAW_DECODE"]


def test_ulaw_encode_every_input_bit_exact():
    out = _encode_all(g711.encode_ulaw)
    assert _sha(out) == GOLDEN["ULAW_ENCODE"]
    ao = _audioop()
    if ao is not None:
        assert out == ao.lin2ulaw(all_samples(), 2)


def test_alaw_encode_every_input_bit_exact():
    out = _encode_all(g711.encode_alaw)
    assert _sha(out) == GOLDEN["ALAW_ENCODE"]
    ao = _audioop()
    if ao is not None:
        assert out == ao.lin2alaw(all_samples(), 2)


def test_ulaw_decode_every_code_bit_exact():
    out = _decode_all(g711.decode_ulaw)
    assert _sha(out) == GOLDEN["ULAW_DECODE"]
    assert bytes(g711.ULAW_DECODE) == bytes(out)
    ao = _audioop()
    if ao is not None:
        assert out == ao.ulaw2lin(ALL_CODES, 2)


def test_alaw_decode_every_code_bit_exact():
    out = _decode_all(g711.decode_alaw)
    assert _sha(out) == GOLDEN["ALAW_DECODE"]
    ao = _audioop()
    if ao is not None:
        assert out == ao.alaw2lin(ALL_CODES, 2)


def test_fallback_every_input_bit_exact():
    # The pure-Python kernels against the same references, whatever is active.
    assert _sha(_encode_all(pure.encode_ulaw)) == GOLDEN["ULAW_ENCODE"]
    assert _sha(_encode_all(pure.encode_alaw)) == GOLDEN["ALAW_ENCODE"]
    assert _sha(_decode_all(_pure_decode(g711.ULAW_DECODE))) == GOLDEN["ULAW_DECODE"]
    assert _sha(_decode_all(_pure_decode(g711.ALAW_DECODE))) == GOLDEN["ALAW_DECODE"]


def test_implementation_is_viper_on_micropython_and_python_on_cpython():
    if MICROPYTHON:
        assert g711.IMPLEMENTATION == "viper"
        assert g711.encode_ulaw is not pure.encode_ulaw and g711.copy is not pure.copy
    else:
        assert g711.IMPLEMENTATION == "python"
        assert g711.encode_ulaw is pure.encode_ulaw and g711.copy is pure.copy
    assert g711.PCMU.encode is g711.encode_ulaw
    assert g711.PCMA.decode is g711.decode_alaw


def _noise(n, seed):
    # A deterministic byte pattern (LCG), no random module needed.
    out = bytearray(n)
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = (x >> 16) & 0xFF
    return out


def test_viper_and_fallback_identical():
    pairs = ((g711.encode_ulaw, pure.encode_ulaw), (g711.encode_alaw, pure.encode_alaw))
    for fast, slow in pairs:
        assert _encode_all(fast) == _encode_all(slow)
    for fast, slow in ((g711.decode_ulaw, _pure_decode(g711.ULAW_DECODE)),
                       (g711.decode_alaw, _pure_decode(g711.ALAW_DECODE))):
        assert _decode_all(fast) == _decode_all(slow)
    src = _noise(300, 7)
    for table in (g711.ULAW_FADE, g711.ALAW_FADE):
        a = bytearray(src)
        b = bytearray(src)
        g711.translate(a, 250, table)
        pure.translate(b, 250, table)
        assert a == b
    for table in (g711.ULAW_LEVEL, g711.ALAW_LEVEL):
        assert g711.peak(src, 300, table) == pure.peak(src, 300, table)
        assert g711.peak(src, 0, table) == 0
    a = bytearray(64)
    b = bytearray(64)
    g711.copy(a, 3, src, 17, 40)
    pure.copy(b, 3, src, 17, 40)
    g711.fill(a, 50, 0xD5, 9)
    pure.fill(b, 50, 0xD5, 9)
    assert a == b
    assert a[3:43] == src[17:57] and a[50:59] == b"\xd5" * 9 and a[59] == 0


def test_codecs_work_on_memoryviews_at_offsets():
    # The RTP payload sits at offset 12 of the packet buffer.
    pcm = bytearray(320)
    for i in range(160):
        v = (i * 397 - 30000) & 0xFFFF
        pcm[2 * i] = v & 0xFF
        pcm[2 * i + 1] = v >> 8
    packet = bytearray(12 + 160)
    payload = memoryview(packet)[12:]
    for codec in (g711.PCMU, g711.PCMA):
        codec.encode(memoryview(pcm), payload, 160)
        ref = bytearray(160)
        codec.encode(pcm, ref, 160)
        assert payload == ref and packet[:12] == bytes(12)
        back = bytearray(320)
        codec.decode(memoryview(packet)[12:], back, 160)
        again = bytearray(160)
        codec.encode(back, again, 160)
        assert again == ref  # decode then encode is the identity on codes


def test_decode_then_encode_is_identity_except_negative_zero():
    for enc, dec in ((g711.encode_ulaw, g711.decode_ulaw), (g711.encode_alaw, g711.decode_alaw)):
        pcm = _decode_all(dec)
        codes = bytearray(256)
        enc(pcm, codes, 256)
        for c in range(256):
            if enc is g711.encode_ulaw and c == 0x7F:
                assert codes[c] == 0xFF  # mu-law -0 decodes to 0, which is +0
            else:
                assert codes[c] == c


def test_silence_codes_encode_zero():
    zeros = bytes(8)
    out = bytearray(4)
    g711.encode_ulaw(zeros, out, 4)
    assert out == bytes([g711.SILENCE_ULAW]) * 4
    g711.encode_alaw(zeros, out, 4)
    assert out == bytes([g711.SILENCE_ALAW]) * 4
    assert g711.PCMU.silence == 0xFF and g711.PCMA.silence == 0xD5


def _sample(table, code):
    v = table[2 * code] | (table[2 * code + 1] << 8)
    return v - 65536 if v & 0x8000 else v


def test_fade_tables_halve_the_amplitude():
    for table, fade in ((g711.ULAW_DECODE, g711.ULAW_FADE), (g711.ALAW_DECODE, g711.ALAW_FADE)):
        for c in range(256):
            full = _sample(table, c)
            half = _sample(table, fade[c])
            assert abs(half) <= abs(full)
            assert abs(2 * half - full) <= abs(full) // 8 + 16  # within a quantum
            assert half == 0 or (half < 0) == (full < 0)


def test_level_tables_rank_magnitude():
    assert g711.ULAW_LEVEL[0xFF] == 0 and g711.ULAW_LEVEL[0x7F] == 0
    assert g711.ULAW_LEVEL[0x00] == 0x7F and g711.ULAW_LEVEL[0x80] == 0x7F
    assert g711.ALAW_LEVEL[0xD5] == 0 and g711.ALAW_LEVEL[0x55] == 0
    assert g711.ALAW_LEVEL[0xAA] == 0x7F and g711.ALAW_LEVEL[0x2A] == 0x7F
    for table, level in ((g711.ULAW_DECODE, g711.ULAW_LEVEL), (g711.ALAW_DECODE, g711.ALAW_LEVEL)):
        for a in range(256):
            for b in (0x00, 0x3C, 0x9A, 0xE1):
                if level[a] < level[b]:
                    assert abs(_sample(table, a)) < abs(_sample(table, b))


def test_codec_for_static_payload_types():
    assert g711.codec_for(0) is g711.PCMU
    assert g711.codec_for(8) is g711.PCMA
    assert g711.codec_for(101) is None
    assert g711.PCMU.payload_type == 0 and g711.PCMA.payload_type == 8
    assert g711.PCMU.name == "PCMU" and g711.PCMA.name == "PCMA"


def test_tables_match_formulas():
    # media/_g711_tables.py holds the tables as bytes literals (flash, not
    # heap); media_tables.py recomputes each from the G.711 formulas.
    import media_tables
    from intercom.media import _g711_tables
    for name, data, _comment in media_tables.tables():
        assert getattr(_g711_tables, name) == data, name
        assert isinstance(getattr(_g711_tables, name), bytes), name
    assert g711.ULAW_DECODE is _g711_tables.ULAW_DECODE and g711.ALAW_FADE is _g711_tables.ALAW_FADE
    if not MICROPYTHON:      # the module is exactly what the generator writes
        with open(media_tables.module_path()) as f:
            assert f.read() == media_tables.module_text()


def test_self_check_answers_are_the_pure_kernels():
    # g711.py binds the viper kernels only if they write _SELF_CHECK, the
    # pure kernels' output; the active kernels (either kind) write it too.
    assert g711._exercise(pure) == g711._SELF_CHECK
    assert g711._exercise(g711._k) == g711._SELF_CHECK
