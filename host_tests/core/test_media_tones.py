"""Local tones (ITU-T E.180 / ETSI ES 201 970 cadences): frequencies, cadences, mixing, no allocation."""

import math
import sys
from array import array

from _helpers import zc_freq, raises, heap_locked as _heap_locked
from intercom.media import tones
from intercom.media.tones import SINE, TONES, ToneGenerator, phase_increment

MICROPYTHON = sys.implementation.name == "micropython"


def samples(buf, n=None):
    """The 16-bit LE samples of buf (first n) as an array('h')."""
    n = len(buf) // 2 if n is None else n
    return array("h", bytes(buf[0:2 * n]))


def render(gen, ms, frame=None):
    """ms milliseconds of 20 ms frames as one array('h'), and the fill() results."""
    n = gen.rate // 50
    buf = bytearray(2 * n) if frame is None else frame
    raw = bytearray()
    flags = []
    for _ in range(ms // 20):
        flags.append(gen.fill(buf, n))
        raw.extend(buf)
    return array("h", bytes(raw)), flags


def runs(x, rate=8000):
    """[(sounding, ms), ...] over 1 ms blocks; a block sounds if any sample in it is nonzero."""
    step = rate // 1000
    out = []
    for i in range(0, len(x) - step + 1, step):
        b = 0
        for k in range(i, i + step):
            if x[k]:
                b = 1
                break
        if out and out[-1][0] == b:
            out[-1][1] += 1
        else:
            out.append([b, 1])
    return [(b, n) for b, n in out]


def goertzel(x, f, rate):
    """Relative power of frequency f in x (Goertzel)."""
    k = 2.0 * math.cos(2.0 * math.pi * f / rate)
    s1 = s2 = 0.0
    for v in x:
        s1, s2 = v + k * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - k * s1 * s2) / (len(x) * len(x))


def db(a, b):
    return 10.0 * math.log10(a / b)


def test_sine_table_within_one_lsb_of_sin():
    assert len(SINE) == 256
    for i in range(256):
        assert abs(SINE[i] - 32767 * math.sin(2 * math.pi * i / 256)) <= 1.0, i


def test_phase_increment_is_exact_and_small():
    for rate in (8000, 16000):
        for f in (300, 425, 440, 480, 620, 800, 1000, 1320, 3999):
            inc = phase_increment(f, rate)
            assert inc == (f << 24) // rate
            assert inc < (1 << 24)


def cadence(name):
    """TONES[name] read as (repeat, [(ms, f1, f2, level1, level2), ...])."""
    text = TONES[name]
    return text[:1] == b"*", [tuple(int(x) for x in seg.split(b",")) for seg in text.lstrip(b"*").split()]


def test_every_tone_level_keeps_sums_below_2_30():
    for name in TONES:
        for seg in cadence(name)[1]:
            assert 0 <= seg[3] < 4096 and 0 <= seg[4] < 4096
            assert 32767 * (seg[3] + seg[4]) < (1 << 30)
            assert (seg[3] + seg[4]) * 32767 >> 12 <= 32767


def test_e180_ringback_default_is_425hz_1s_on_4s_off():
    g = ToneGenerator(8000)
    g.start("ringback")
    x, flags = render(g, 10000)
    assert all(flags)
    assert runs(x[:40000]) == [(1, 1000), (0, 4000)]
    assert runs(x[40000:]) == [(1, 1000), (0, 4000)]
    assert abs(zc_freq(x[:8000], 8000) - 425) < 2


def test_ringback_us_is_440_plus_480_2s_on_4s_off():
    g = ToneGenerator(8000)
    g.start("ringback_us")
    x, _ = render(g, 6000)
    assert runs(x) == [(1, 2000), (0, 4000)]
    on = x[:8000]
    p440 = goertzel(on, 440, 8000)
    p480 = goertzel(on, 480, 8000)
    assert db(p440, p480) < 1 and db(p480, p440) < 1
    for other in (350, 400, 425, 520, 620, 1000):
        assert db(p440, goertzel(on, other, 8000)) > 25, other


def test_e180_busy_is_425hz_half_second_on_off():
    g = ToneGenerator(8000)
    g.start("busy")
    x, _ = render(g, 3000)
    assert runs(x) == [(1, 500), (0, 500)] * 3
    assert abs(zc_freq(x[:4000], 8000) - 425) < 3


def test_call_waiting_beep_200ms_every_3s_and_quieter():
    g = ToneGenerator(8000)
    g.start("call_waiting")
    x, _ = render(g, 6000)
    assert runs(x) == [(1, 200), (0, 2800)] * 2
    assert abs(zc_freq(x[:1600], 8000) - 425) < 5
    g.start("ringback")
    y, _ = render(g, 200)
    assert max(x[:1600]) < max(y) * 0.6


def test_door_open_is_a_rising_two_tone_one_shot():
    g = ToneGenerator(8000)
    g.start("door_open")
    x, flags = render(g, 400)
    # 120 ms + 200 ms of tone = 16 frames; fill() says False from the frame it ends in.
    assert flags == [True] * 15 + [False] * 5
    assert g.name is None and not g.active
    assert runs(x) == [(1, 320), (0, 80)]
    assert abs(zc_freq(x[:960], 8000) - 880) < 10
    assert abs(zc_freq(x[960:2560], 8000) - 1320) < 10


def test_door_reject_is_one_low_tone():
    g = ToneGenerator(8000)
    g.start("door_reject")
    x, flags = render(g, 600)
    assert runs(x) == [(1, 500), (0, 100)]
    assert flags.count(True) == 24
    assert zc_freq(x[:4000], 8000) < 400


def test_lockout_is_three_short_low_beeps_distinct_from_reject():
    g = ToneGenerator(8000)
    g.start("lockout")
    x, _ = render(g, 600)
    assert runs(x) == [(1, 100), (0, 100)] * 3
    assert zc_freq(x[:800], 8000) < 400
    g.start("door_reject")
    y, _ = render(g, 600)
    assert runs(x) != runs(y)


def test_ring_on_speaker_is_a_warble_at_16khz():
    g = ToneGenerator(16000)
    g.start("ring")
    x, flags = render(g, 6000)
    assert all(flags)
    assert runs(x[:48000], 16000) == [(1, 400), (0, 200), (1, 400), (0, 2000)]
    assert x[48000:] == x[:48000]            # repeats every 3 s
    a = x[0:400]                             # first 25 ms
    b = x[400:800]                           # next 25 ms
    assert abs(zc_freq(a, 16000) - 800) < 40
    assert abs(zc_freq(b, 16000) - 1000) < 40
    assert max(x) > 12000                    # louder than the network tones


def test_frequency_is_rate_independent():
    for name, f in (("busy", 425), ("door_reject", 330)):
        for rate in (8000, 16000):
            g = ToneGenerator(rate)
            g.start(name)
            x, _ = render(g, 400)
            assert abs(zc_freq(x, rate) - f) < 5, (name, rate)


def test_phase_is_continuous_across_frames_and_segments():
    g = ToneGenerator(16000)
    g.start("ring")
    x, _ = render(g, 400)
    # Largest step of an 1000 Hz sine of peak P at 16 kHz is P * 2 * pi * 1000 / 16000.
    peak = max(x)
    for i in range(1, len(x)):
        assert abs(x[i] - x[i - 1]) <= peak * 0.4 + 2, i


def test_tone_starts_at_a_zero_crossing_after_silence():
    g = ToneGenerator(8000)
    g.start("busy")
    x, _ = render(g, 1020)
    assert x[0] == 0 and x[8000] == 0 and x[8001] > 0


def test_idle_fill_writes_silence_and_returns_false():
    g = ToneGenerator(8000)
    buf = bytearray(b"\x55" * 320)
    assert g.fill(buf, 160) is False
    assert buf == bytearray(320)


def test_fill_touches_only_nsamples():
    g = ToneGenerator(8000)
    g.start("ringback")
    buf = bytearray(b"\x55" * 400)
    g.fill(buf, 160)
    assert buf[320:] == b"\x55" * 80


def test_mix_into_adds_and_saturates():
    g = ToneGenerator(8000)
    buf = bytearray(320)
    for i in range(160):
        buf[2 * i] = 0xFF
        buf[2 * i + 1] = 0x7F                # +32767 everywhere
    g.start("busy")
    assert g.mix_into(buf, 160) is True
    x = samples(buf)
    assert max(x) == 32767 and min(x) < 32767
    neg = bytearray(320)
    for i in range(160):
        neg[2 * i + 1] = 0x80                # -32768 everywhere
    g.start("busy")
    g.mix_into(neg, 160)
    y = samples(neg)
    assert min(y) == -32768 and max(y) > -32768
    z = bytearray(320)
    g.start("busy")
    g.mix_into(z, 160)
    ref = bytearray(320)
    g.start("busy")
    g.fill(ref, 160)
    assert z == ref


def test_mix_into_when_idle_leaves_the_frame_alone():
    g = ToneGenerator(8000)
    buf = bytearray(b"\x12\x34" * 160)
    assert g.mix_into(buf, 160) is False
    assert buf == bytearray(b"\x12\x34" * 160)


def test_stop_silences_and_start_restarts_the_cadence():
    g = ToneGenerator(8000)
    g.start("busy")
    render(g, 300)
    g.stop()
    assert not g.active and g.name is None
    x, flags = render(g, 100)
    assert not any(x) and not any(flags)
    g.start("busy")
    y, _ = render(g, 1000)
    assert runs(y) == [(1, 500), (0, 500)]


def test_unknown_tone_and_rate_raise():
    raises(ValueError, ToneGenerator(8000).start, "dial")
    raises(ValueError, ToneGenerator, 44100)


def test_odd_frame_sizes_keep_the_cadence():
    g = ToneGenerator(8000)
    g.start("busy")
    buf = bytearray(2 * 97)
    raw = bytearray()
    while len(raw) < 32000:
        g.fill(buf, 97)
        raw.extend(buf)
    x = array("h", bytes(raw[0:32000]))
    assert runs(x) == [(1, 500), (0, 500)] * 2


def test_fill_and_mix_allocate_nothing():
    g = ToneGenerator(16000)
    buf = bytearray(640)
    mv = memoryview(buf)
    g.start("ring")
    g.fill(mv, 320)

    def frames():
        for _ in range(200):             # 4 s: every segment and the wrap
            g.fill(mv, 320)
            g.mix_into(mv, 320)
    _heap_locked(frames)
    assert g.active
    g.start("door_open")

    def one_shot():
        for _ in range(30):              # runs past the end of the tone
            g.fill(mv, 320)
    _heap_locked(one_shot)
    assert not g.active


def test_all_tones_have_sane_segments():
    for name in TONES:
        repeat, segs = cadence(name)
        assert segs, name
        for ms, f1, f2, a1, a2 in segs:       # five numbers each: the generator reads no more, no less
            assert ms > 0 and 0 <= f1 < 4000 and 0 <= f2 < 4000
            assert (f1 == 0) == (a1 == 0) and (f2 == 0) == (a2 == 0)
    assert tones.PHASE_MASK == (1 << 24) - 1


def test_generators_share_the_tone_table():
    # Per-rate numbers are computed per segment, so a generator holds no copy
    # of TONES (App has two; each used to cost several KB of tuples).
    if not MICROPYTHON:
        return
    import gc
    gc.collect()
    before = gc.mem_alloc()
    gens = [ToneGenerator(8000), ToneGenerator(16000)]
    gc.collect()
    assert gc.mem_alloc() - before < 1024, gc.mem_alloc() - before
    for g in gens:
        g.start("ring")
