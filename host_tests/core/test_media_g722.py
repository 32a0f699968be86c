"""ITU-T G.722 mode 1: bit-exact with the spandsp/libg722 reference (PyPI G722), viper == pure, SNR, delay."""

import binascii
import hashlib
import math
import sys
from array import array

from intercom.media import g722
from intercom.media import _g722_py as pure
from intercom.media.tones import SINE, phase_increment

MICROPYTHON = sys.implementation.name == "micropython"

# sha256 of the reference's output (PyPI G722 1.2.8: sippy's libg722, the
# spandsp code, at 64 kbit/s) for signal() encoded and for codes() decoded.
# Hard-coded so MicroPython, where the reference cannot be imported, still
# proves bit-exactness; cross-checked against it whenever it imports.
GOLDEN_ENCODE = "b313bbdb098737f26b06858ac66228ac65f9fb732d4ed8e1406d8b170e6525ee"
GOLDEN_DECODE = "3498d40f078fd5345f69fa6fe3b9e48311b8ef31b9bf0bb15e8e76793368c7fd"
DELAY = 22      # samples at 16 kHz: the QMF analysis + synthesis pair (24 taps each)
_cache = {}


def _sha(data):
    return binascii.hexlify(hashlib.sha256(bytes(data)).digest()).decode()


def _tone(out, start, n, freq, level):
    # n samples of freq Hz at 16 kHz, level in Q12, from the tone table (no floats).
    inc = phase_increment(freq, 16000)
    p = 0
    for i in range(n):
        v = (SINE[p >> 16] * level) >> 12
        p = (p + inc) & 0xFFFFFF
        out[2 * (start + i)] = v & 0xFF
        out[2 * (start + i) + 1] = (v >> 8) & 0xFF


def signal():
    """2 s at 16 kHz, int16 LE: a stepped sweep 100..7900 Hz at -6 dBFS,
    full-scale noise, full-scale square wave and silence (every quantizer
    range and both LIMIT blocks)."""
    if "sig" not in _cache:
        n = 32000
        out = bytearray(2 * n)
        k = 0
        for step in range(40):
            _tone(out, k, 400, 100 + 200 * step, 2048)
            k += 400
        x = 12345
        for i in range(8000):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            out[2 * (k + i)] = (x >> 8) & 0xFF
            out[2 * (k + i) + 1] = (x >> 16) & 0xFF
        k += 8000
        for i in range(4000):
            v = 0x7FFF if (i >> 3) & 1 else 0x8000
            out[2 * (k + i)] = v & 0xFF
            out[2 * (k + i) + 1] = v >> 8
        _cache["sig"] = bytes(out)
    return _cache["sig"]


def codes():
    """Every code, then 8000 pseudo-random ones (the decoder must take any byte)."""
    out = bytearray(range(256)) + bytearray(8000)
    x = 99
    for i in range(256, len(out)):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = (x >> 16) & 0xFF
    return bytes(out)


def _state():
    st = array("h", bytes(2 * pure.STATE_LEN))
    pure.reset(st)
    return st


def _encode(kernel, pcm):
    n = len(pcm) // 4
    out = bytearray(n)
    st = _state()
    # in 20 ms frames, as the session calls it: state carries across calls
    for f in range(0, n, 160):
        kernel(st, memoryview(pcm)[4 * f:], memoryview(out)[f:], min(160, n - f))
    return out


def _decode(kernel, data):
    n = len(data)
    out = bytearray(4 * n)
    st = _state()
    for f in range(0, n, 160):
        kernel(st, memoryview(data)[f:], memoryview(out)[4 * f:], min(160, n - f))
    return out


def _reference():
    try:
        import G722      # PyPI G722 (requirements.txt), CPython only
    except ImportError:
        return None
    return G722


def _pure_results():
    if "enc" not in _cache:
        _cache["enc"] = _encode(pure.encode, signal())
        _cache["dec"] = _decode(pure.decode, codes())
    return _cache["enc"], _cache["dec"]


def test_g722_encoder_bit_exact_with_reference():
    enc, _ = _pure_results()
    ref = _reference()
    if ref is not None:
        want = ref.G722(16000, 64000).encode(array("h", signal()))
        assert bytes(enc) == bytes(want)
        assert _sha(want) == GOLDEN_ENCODE, _sha(want)
    assert _sha(enc) == GOLDEN_ENCODE


def test_g722_decoder_bit_exact_with_reference():
    _, dec = _pure_results()
    ref = _reference()
    if ref is not None:
        want = ref.G722(16000, 64000).decode(codes())
        assert bytes(dec) == bytes(array("h", want))
        assert _sha(bytes(array("h", want))) == GOLDEN_DECODE
    assert _sha(dec) == GOLDEN_DECODE


def test_g722_kernels_bound_are_identical_to_pure():
    # On MicroPython with native emitters g722 binds the viper kernels: the
    # same input through both must give the same bytes and samples.
    enc, dec = _pure_results()
    assert bytes(_encode(g722._k.encode, signal())) == bytes(enc)
    assert bytes(_decode(g722._k.decode, codes())) == bytes(dec)
    if MICROPYTHON:
        assert g722.IMPLEMENTATION == "viper"


def test_g722_self_check_matches_pure():
    assert g722._exercise(pure) == g722._SELF_CHECK


def test_g722_silence_code_decays_the_decoder_to_silence():
    # the jitter buffer fills gaps with this code: after loud noise the
    # decoder's output falls below -50 dBFS within one frame and stays there
    c = g722.Codec()
    loud = bytearray(160)
    c.encode(memoryview(signal())[2 * 16000:], loud, 160)    # the noise part
    pcm = bytearray(640)
    c.decode(loud, pcm, 160)
    fill = bytes([g722.SILENCE]) * 160
    c.decode(fill, pcm, 160)
    for _ in range(5):
        c.decode(fill, pcm, 160)
        peak = max(abs(v) for v in array("h", bytes(pcm)))
        assert peak < 104, peak


def _snr_db(freq, level=2048):
    n = 4000
    pcm = bytearray(4 * n)
    _tone(pcm, 0, 2 * n, freq, level)
    back = _decode(g722._k.decode, _encode(g722._k.encode, pcm))
    sig = 0
    err = 0
    for i in range(2000, 2 * n - DELAY):     # after the predictors settled
        a = pcm[2 * i] | (pcm[2 * i + 1] << 8)
        a -= (a & 0x8000) << 1
        b = back[2 * (i + DELAY)] | (back[2 * (i + DELAY) + 1] << 8)
        b -= (b & 0x8000) << 1
        sig += a * a
        err += (a - b) * (a - b)
    return 10 * math.log10(sig / max(err, 1))


def test_g722_round_trip_snr_lower_band_at_least_35_db():
    # -6 dBFS tones in the 0-4 kHz sub-band (6-bit ADPCM)
    for freq in (300, 1000, 3000):
        snr = _snr_db(freq)
        assert snr >= 35, (freq, snr)


def test_g722_round_trip_snr_upper_band_at_least_20_db():
    # the 4-8 kHz sub-band has 2 bits: what G.711 cannot carry at all
    for freq in (5000, 6000, 7000):
        snr = _snr_db(freq)
        assert snr >= 20, (freq, snr)


def test_g722_delay_is_22_samples():
    # pseudo-random input: the cross-correlation peaks at the codec delay
    n = 3000
    pcm = bytearray(4 * n)
    x = 7
    for i in range(2 * n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        v = ((x >> 16) & 0x3FFF) - 0x2000
        pcm[2 * i] = v & 0xFF
        pcm[2 * i + 1] = (v >> 8) & 0xFF
    back = _decode(g722._k.decode, _encode(g722._k.encode, pcm))
    a = array("h", bytes(pcm))
    b = array("h", bytes(back))
    best = None
    for d in range(0, 48):
        c = 0
        for i in range(500, 2 * n - 48):
            c += a[i] * b[i + d]
        if best is None or c > best[0]:
            best = (c, d)
    assert best[1] == DELAY, best


def test_g722_codec_reset_restarts_the_stream():
    c = g722.Codec()
    pcm = signal()
    first = bytearray(160)
    c.encode(pcm, first, 160)
    again = bytearray(160)
    c.encode(pcm, again, 160)
    assert again != first          # state carried on
    c.reset()
    c.encode(pcm, again, 160)
    assert again == first


def test_g722_rtp_framing_is_160_bytes_per_20_ms():
    # RFC 3551 §4.5.2: 8000 Hz clock, one byte per timestamp unit
    c = g722.Codec()
    assert c.payload_type == 9 and c.name == "G722" and c.wideband and c.rate == 16000
    pcm = bytearray(640)
    out = bytearray(161)
    out[160] = 0xAB
    c.encode(pcm, out, 160)
    assert out[160] == 0xAB        # 320 samples -> exactly 160 bytes
    spk = bytearray(641)
    spk[640] = 0xCD
    c.decode(out, spk, 160)
    assert spk[640] == 0xCD
