"""PCM kernels: viper (media/_pcm_viper.py) == pure Python (pcm.py_*), frame after frame; no allocation."""

import sys
from array import array

from _helpers import pack16, raises, heap_locked
from intercom.media import pcm

MICROPYTHON = sys.implementation.name == "micropython"
INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1

# Sample values that stress saturation, sign handling and floor shifts.
EXTREMES = (0, 1, -1, 2, -2, 127, -128, 128, -129, 255, -256, 256, 16383, -16384,
            32767, -32768, 32766, -32767, 20000, -20000)


class _Lcg:
    """Deterministic pseudo-random numbers, the same on CPython and MicroPython."""

    def __init__(self, seed):
        self.x = seed

    def next(self, bound):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.x >> 8) % bound


def random16(rng, n):
    """n samples: half uniform over int16, half picked from EXTREMES."""
    out = []
    for _ in range(n):
        if rng.next(2):
            out.append(rng.next(65536) - 32768)
        else:
            out.append(EXTREMES[rng.next(len(EXTREMES))])
    return pack16(out)


def signals(n):
    """Hostile 16-bit signals of n samples (n even): random, full-scale squares, impulses, DC."""
    rng = _Lcg(n + 11)
    yield random16(rng, n)
    yield pack16([32767, 32767, -32768, -32768] * (n // 4) + [32767] * (n % 4))   # 4 kHz square overshoots
    yield pack16([32767, -32768] * (n // 2))                                   # Nyquist, full scale
    yield pack16([-32768] * n)
    yield pack16([-1] * n)
    imp = [0] * n
    imp[n // 2] = -32768
    imp[0] = 32767
    yield pack16(imp)
    yield random16(rng, n)


def test_implementation_is_viper_on_micropython_and_python_on_cpython():
    if MICROPYTHON:
        assert pcm.IMPLEMENTATION == "viper"
        assert pcm.decimate2 is not pcm.py_decimate2
        assert pcm.interpolate2 is not pcm.py_interpolate2
        assert pcm.peak16 is not pcm.py_peak16
    else:
        assert pcm.IMPLEMENTATION == "python"
        assert pcm.decimate2 is pcm.py_decimate2
        assert pcm.i2s32_to_16 is pcm.py_i2s32_to_16
    assert pcm.Decimator()._kernel is pcm.decimate2
    assert pcm.Interpolator()._kernel is pcm.interpolate2


def test_viper_module_cannot_load_on_cpython():
    # The fallback is real: CPython takes the pure path because the import fails.
    if MICROPYTHON:
        return
    raises(Exception, __import__, "intercom.media._pcm_viper")


def test_32bit_accumulators_cannot_overflow():
    # Viper ints are 32-bit signed on ESP32; the unix port's 64-bit words
    # would hide an overflow, so bound every partial sum from the constants.
    # Work-buffer entries are offset samples, 0..65535.
    top = 65535
    for taps, bias in (
        ((pcm.C0, pcm.C1, pcm.C1, pcm.C3, pcm.C3, pcm.C5, pcm.C5, pcm.C7, pcm.C7), pcm.DEC_BIAS),
        ((pcm.C1, pcm.C1, pcm.C3, pcm.C3, pcm.C5, pcm.C5, pcm.C7, pcm.C7), pcm.INT_BIAS),
    ):
        hi = sum([c * top for c in taps if c > 0])
        lo = sum([c * top for c in taps if c < 0])
        assert hi <= INT32_MAX and lo + bias >= INT32_MIN, (hi, lo)
        assert INT32_MIN <= bias <= INT32_MAX
        # and a pair sum times its tap (evaluated before the running sum)
        assert max([abs(c) for c in taps]) * 2 * top <= INT32_MAX
    assert pcm.DEC_BIAS == 8192 - (32768 << 14) == -536862720
    assert pcm.INT_BIAS == 4096 - (32768 << 13) == -268431360
    # apply_gain: |sample| * gain_q8, the only product that reaches 2**31, is negative then
    assert 32767 * pcm.MAX_GAIN_Q8 <= INT32_MAX and -32768 * pcm.MAX_GAIN_Q8 >= INT32_MIN
    # i2s32_to_16: a signed 16-bit value << 8 | 8 bits stays inside 24 bits
    assert (32767 << 8 | 0xFF) <= INT32_MAX and (-32768 << 8) >= INT32_MIN


def test_arithmetic_shift_of_negatives_matches_python_floor():
    # -1 * 128 >> 8 is -1 in Python (floor), not 0 (truncation).
    for fn in (pcm.apply_gain, pcm.py_apply_gain):
        buf = pack16([-1, -3, -32768, 1, 3, -255, -257])
        fn(buf, 7, 128)
        assert buf == pack16([-1, -2, -16384, 0, 1, -128, -129])
    # Decimator rounding of negative sums: DC -1 and -32768 come out exact.
    for kernel in (pcm.decimate2, pcm.py_decimate2):
        for dc in (-1, -32768, -3):
            d = pcm.Decimator(8, kernel)
            out = bytearray(16)
            for _ in range(3):
                d.process(pack16([dc] * 16), out, 8)
            assert out == pack16([dc] * 8), (dc, list(out))
    for kernel in (pcm.interpolate2, pcm.py_interpolate2):
        it = pcm.Interpolator(8, kernel)
        out = bytearray(32)
        for _ in range(3):
            it.process(pack16([-7] * 8), out, 8)
        assert out == pack16([-7] * 16)


def test_i2s32_to_16_identical_for_every_top_byte_pattern_and_shift():
    edge = (0x00, 0x01, 0x7F, 0x80, 0x81, 0xFE, 0xFF, 0x55)
    words = bytearray()
    rng = _Lcg(3)
    for b3 in edge:
        for b2 in edge:
            for b1 in edge:
                words += bytes((rng.next(256), b1, b2, b3))
    for _ in range(200):
        words += bytes((rng.next(256), rng.next(256), rng.next(256), rng.next(256)))
    n = len(words) // 4
    for shift in range(9):
        a = bytearray(2 * n)
        b = bytearray(2 * n)
        pcm.i2s32_to_16(words, a, n, shift)
        pcm.py_i2s32_to_16(words, b, n, shift)
        assert a == b, shift
    a = bytearray(2 * n)
    pcm.i2s32_to_16(words, a, n)            # default shift 0
    pcm.py_i2s32_to_16(words, b, n, 0)
    assert a == b
    for fn in (pcm.i2s32_to_16, pcm.py_i2s32_to_16):
        raises(ValueError, fn, words, a, 4, 9)
        raises(ValueError, fn, words, a, 4, -1)


def test_i2s32_to_16_reads_through_memoryview_offsets():
    words = bytearray(range(256)) + bytearray(range(256))
    mv = memoryview(words)
    for off in (0, 4, 12):
        a = bytearray(40)
        b = bytearray(40)
        pcm.i2s32_to_16(mv[off:off + 80], a, 20, 5)
        pcm.py_i2s32_to_16(mv[off:off + 80], b, 20, 5)
        assert a == b


def test_byte_moves_identical():
    rng = _Lcg(5)
    src = random16(rng, 161)
    for n in (0, 1, 160, 161):
        a = bytearray(4 * 161 + 4)
        b = bytearray(4 * 161 + 4)
        pcm.mono_to_stereo16(src, a, n)
        pcm.py_mono_to_stereo16(src, b, n)
        assert a == b, n
        a = bytearray(4 * 161 + 4)
        b = bytearray(4 * 161 + 4)
        pcm.pcm16_to_i2s32(src, a, n)
        pcm.py_pcm16_to_i2s32(src, b, n)
        assert a == b, n


def test_gain_and_peak_identical():
    rng = _Lcg(9)
    src = random16(rng, 320) + pack16(list(EXTREMES))
    n = len(src) // 2
    for gain in (0, 1, 127, 128, 255, 256, 257, 300, 1000, 4096, 30000, 65535, 65536):
        a = bytearray(src)
        b = bytearray(src)
        pcm.apply_gain(a, n, gain)
        pcm.py_apply_gain(b, n, gain)
        assert a == b, gain
        assert pcm.peak16(a, n) == pcm.py_peak16(b, n)
    for fn in (pcm.apply_gain, pcm.py_apply_gain):
        raises(ValueError, fn, bytearray(src), 4, -1)
        raises(ValueError, fn, bytearray(src), 4, 65537)
    for k in range(n + 1):
        assert pcm.peak16(src, k) == pcm.py_peak16(src, k), k
    assert pcm.peak16(pack16([-32768]), 1) == 32768
    assert pcm.peak16(src, 0) == 0


def test_decimator_identical_over_consecutive_frames():
    for frame in (160, 1, 7, 80):
        fast = pcm.Decimator(frame)
        slow = pcm.Decimator(frame, pcm.py_decimate2)
        a = bytearray(2 * frame)
        b = bytearray(2 * frame)
        count = 0
        for sig in signals(2 * frame):
            fast.process(sig, a, frame)
            slow.process(sig, b, frame)
            assert a == b, (frame, count)
            assert fast._w == slow._w          # the carried history too
            count += 1
        fast.reset()
        slow.reset()
        assert fast._w[:pcm.DEC_HISTORY] == slow._w[:pcm.DEC_HISTORY]


def test_interpolator_identical_over_consecutive_frames():
    for frame in (160, 1, 7, 80):
        fast = pcm.Interpolator(frame)
        slow = pcm.Interpolator(frame, pcm.py_interpolate2)
        a = bytearray(4 * frame)
        b = bytearray(4 * frame)
        count = 0
        for sig in signals(frame + (frame & 1)):
            fast.process(sig, a, frame)
            slow.process(sig, b, frame)
            assert a == b, (frame, count)
            assert fast._w == slow._w
            count += 1


def test_decimator_and_interpolator_saturate_identically():
    # A full-scale 500 Hz square: each step overshoots (Gibbs) past the rails
    # (unclamped: decimator +-36363, interpolator +-39959).
    sq = pack16(([32767] * 16 + [-32768] * 16) * 10)
    outs = []
    for kernel in (pcm.decimate2, pcm.py_decimate2):
        d = pcm.Decimator(160, kernel)
        out = bytearray(320)
        d.process(sq, out, 160)
        d.process(sq, out, 160)
        vals = array("h", bytes(out))
        assert max(vals) == 32767 and min(vals) == -32768
        outs.append(bytes(out))
    assert outs[0] == outs[1]
    outs = []
    for kernel in (pcm.interpolate2, pcm.py_interpolate2):
        it = pcm.Interpolator(160, kernel)
        out = bytearray(640)
        it.process(sq, out, 160)
        it.process(sq, out, 160)
        vals = array("h", bytes(out))
        assert max(vals) == 32767 and min(vals) == -32768
        outs.append(bytes(out))
    assert outs[0] == outs[1]


def test_viper_kernels_allocate_nothing():
    words = bytearray(4 * 320)
    rng = _Lcg(1)
    for i in range(len(words)):
        words[i] = rng.next(256)
    mic16 = bytearray(640)
    mic8 = bytearray(320)
    spk16 = bytearray(640)
    stereo = bytearray(1280)
    i2s = bytearray(2560)
    d = pcm.Decimator(160)
    it = pcm.Interpolator(160)
    peaks = array("i", [0])
    # One captured tuple: calling a closure over more than a few cells allocates on MicroPython.
    st = (memoryview(words), memoryview(mic16), memoryview(mic8), spk16, stereo, i2s, d, it, peaks)

    def frames():
        mv_words, mv_mic16, mv_mic8, spk16, stereo, i2s, d, it, peaks = st
        for _ in range(50):
            pcm.i2s32_to_16(mv_words, mv_mic16, 320)
            pcm.i2s32_to_16(mv_words, mv_mic16, 320, 3)
            d.process(mv_mic16, mv_mic8, 160)
            pcm.apply_gain(mv_mic8, 160, 300)
            peaks[0] = pcm.peak16(mv_mic8, 160)
            it.process(mv_mic8, spk16, 160)
            pcm.mono_to_stereo16(spk16, stereo, 320)
            pcm.pcm16_to_i2s32(spk16, i2s, 320)
    frames()                                       # warm up outside the lock
    heap_locked(frames)
    if MICROPYTHON:
        import gc
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        frames()
        used = gc.mem_alloc() - before
        gc.enable()
        assert used == 0, "%d bytes allocated in 50 frames" % used
