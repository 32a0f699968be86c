"""Jitter buffer scenarios: loss, reorder, duplicates, bursts, drift, RFC 3550 §A.8 jitter."""

from intercom.media import g711, _g711_py
from intercom.media.jitter import JitterBuffer, FRAME, CONCEALED, SILENCE

FB = 160


def frame(seq, loud=True):
    """A payload whose first 4 codes carry seq (5 bits each); quiet or loud codes."""
    base = 0x00 if loud else 0xE0      # mu-law: 0x00.. loud, 0xE0.. near silence
    b = bytearray(bytes([base | 0x10]) * FB)
    for i in range(4):
        b[i] = base | ((seq >> (5 * i)) & 0x1F)
    return b


def token(status, out):
    """The seq of a played frame, or 'C' (concealed/inserted) / 'S' (silence)."""
    if status == FRAME:
        return sum([(out[i] & 0x1F) << (5 * i) for i in range(4)])
    return "C" if status == CONCEALED else "S"


def put(jb, seq, arrival_ms, loud=True):
    ts = seq * 160
    return jb.put(seq & 0xFFFF, (ts >> 16) & 0xFFFF, ts & 0xFFFF, frame(seq, loud), 0, FB,
                  arrival_ms)


def run(jb, schedule, ticks):
    """schedule: {tick: [seq, ...]} delivered just before that tick's get()."""
    out = bytearray(FB)
    got = []
    for t in range(ticks):
        for s in schedule.get(t, ()):
            put(jb, s, t * 20)
        got.append(token(jb.get(out), out))
    return got


def stream(n, drop=(), move=None, dup=()):
    """Packet k at tick k, minus drops, with moves {seq: tick} and duplicates one tick later."""
    sched = {}
    for s in range(n):
        if s in drop:
            continue
        t = move[s] if move and s in move else s
        sched.setdefault(t, []).append(s)
        if s in dup:
            sched.setdefault(t + 1, []).append(s)
    return sched


def test_in_order_stream_plays_after_prebuffer():
    jb = JitterBuffer()
    assert run(jb, stream(10), 11) == ["S", 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert (jb.received, jb.lost, jb.late, jb.duplicates, jb.concealed) == (10, 0, 0, 0, 0)
    assert jb.target_ms() == 40 and jb.jitter_ms == 0


def test_single_loss_is_concealed_once():
    jb = JitterBuffer()
    assert run(jb, stream(10, drop=(5,)), 11) == ["S", 0, 1, 2, 3, 4, "C", 6, 7, 8, 9]
    assert jb.lost == 1 and jb.concealed == 1 and jb.late == 0


def test_concealment_repeats_then_fades_then_silence():
    jb = JitterBuffer(fade_steps=2)
    out = bytearray(FB)
    for s in range(3):
        put(jb, s, s * 20)
    put(jb, 9, 60)                       # 3..8 missing while 9 is buffered: holes
    outs = []
    for _ in range(10):
        st = jb.get(out)
        outs.append((st, bytes(out)))
    last = frame(2)
    half = bytearray(last)
    _g711_py.translate(half, FB, g711.ULAW_FADE)
    quarter = bytearray(half)
    _g711_py.translate(quarter, FB, g711.ULAW_FADE)
    assert outs[2] == (FRAME, bytes(last))
    assert outs[3] == (CONCEALED, bytes(last))        # repeat
    assert outs[4] == (CONCEALED, bytes(half))        # -6 dB
    assert outs[5] == (CONCEALED, bytes(quarter))     # -12 dB
    assert outs[6] == (SILENCE, b"\xff" * FB)
    assert outs[8] == (SILENCE, b"\xff" * FB)
    assert outs[9] == (FRAME, bytes(frame(9)))
    assert jb.lost == 6 and jb.concealed == 6


def test_reorder_within_the_depth_is_repaired():
    jb = JitterBuffer()
    assert run(jb, stream(10, move={5: 6, 6: 5}), 11) == ["S", 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert jb.late == 0 and jb.lost == 0


def test_late_packet_is_dropped_and_counted():
    jb = JitterBuffer()
    assert run(jb, stream(10, move={5: 8}), 11) == ["S", 0, 1, 2, 3, 4, "C", 6, 7, 8, 9]
    assert jb.late == 1 and jb.lost == 1 and jb.duplicates == 0


def test_duplicates_are_dropped_and_counted():
    jb = JitterBuffer()
    assert run(jb, stream(10, dup=(3, 7)), 11) == ["S", 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert jb.duplicates == 2 and jb.received == 12
    assert not put(jb, 4, 300)           # long after playing, slot still tagged
    assert jb.duplicates == 3 and jb.late == 0


def test_burst_loss_keeps_the_playout_timing():
    jb = JitterBuffer()
    got = run(jb, stream(14, drop=(5, 6, 7)), 15)
    assert got == ["S", 0, 1, 2, 3, 4, "C", "C", "C", 8, 9, 10, 11, 12, 13]
    assert jb.lost == 3 and jb.late == 0 and jb.concealed == 3


def test_long_outage_goes_idle_and_prebuffers_again():
    jb = JitterBuffer()
    got = run(jb, stream(16, drop=(5, 6, 7, 8, 9)), 17)
    assert got == ["S", 0, 1, 2, 3, 4, "C", "C", "C", "S", "S", 10, 11, 12, 13, 14, 15]
    assert jb.lost == 5 and jb.late == 0


def test_sequence_and_timestamp_wrap():
    jb = JitterBuffer()
    out = bytearray(FB)
    seqs = [65533, 65534, 65535, 0, 1, 2, 3]
    got = []
    for i, s in enumerate(seqs):
        ts = (0x100000000 - 3 * 160 + i * 160) & 0xFFFFFFFF
        jb.put(s, ts >> 16, ts & 0xFFFF, frame(i), 0, FB, 1000 + i * 20)
        got.append(token(jb.get(out), out))
    assert got == ["S", 0, 1, 2, 3, 4, 5]
    assert jb.lost == 0 and jb.late == 0 and jb.jitter == 0


def test_arrival_clock_wrap_keeps_jitter_zero():
    jb = JitterBuffer()
    for k in range(10):
        put(jb, k, ((1 << 30) - 60 + 20 * k) & ((1 << 30) - 1))
    assert jb.jitter == 0


def test_restart_on_a_big_sequence_jump():
    # RFC 3550 §A.1: a jump beyond MAX_DROPOUT is a new stream, not 16,000 losses.
    jb = JitterBuffer()
    sched = stream(5)
    sched[5] = [20000]
    sched[6] = [20001]
    sched[7] = [20002]
    got = run(jb, sched, 9)
    assert got == ["S", 0, 1, 2, 3, "S", 20000, 20001, 20002]
    assert jb.restarts == 1 and jb.lost == 0 and jb.late == 0
    assert jb.jitter == 0                # the jump is not counted as jitter


def test_too_far_ahead_gives_up_the_oldest():
    jb = JitterBuffer(slots=12)
    for s in range(20):
        put(jb, s, 0)                    # a burst of 20 before playing
    assert jb.overflow == 8
    out = bytearray(FB)
    assert token(jb.get(out), out) == 8


def lcg(amp, seed=12345):
    state = [seed]

    def f(_k):
        state[0] = (state[0] * 1103515245 + 12345) & 0x7FFFFFFF
        return (state[0] >> 8) % amp
    return f


def clocked(period, frames, loud=True, delay=None, **kw):
    """Sender every `period` x 0.1 ms (200 = exact 20 ms), receiver get() every
    20 ms; optional extra network delay per packet (0.1 ms units)."""
    jb = JitterBuffer(**kw)
    arrivals = []
    for k in range(frames):
        arrivals.append((50 + k * period + (delay(k) if delay else 0), k))
    arrivals.sort()
    out = bytearray(FB)
    got = []
    depths = []
    ai = 0
    for i in range(1, frames * period // 200):
        now = i * 200
        while ai < len(arrivals) and arrivals[ai][0] <= now:
            t, k = arrivals[ai]
            ai += 1
            put(jb, k, t // 10, loud)
        got.append(token(jb.get(out), out))
        depths.append(jb.depth_ms)
    return jb, got, depths


def played(got):
    return [x for x in got if isinstance(x, int)]


def increasing(seq):
    for i in range(1, len(seq)):
        if seq[i] <= seq[i - 1]:
            return False
    return True


def test_sender_fast_by_half_percent_skips_frames_without_growing_latency():
    for loud in (True, False):
        jb, got, depths = clocked(199, 3000, loud)       # 60 s, 15 frames too many
        frames = played(got)
        assert increasing(frames)
        assert jb.lost == 0 and jb.late == 0 and jb.concealed == 0 and jb.underruns == 0
        assert 15 <= jb.skipped <= 17 and jb.overflow == 0
        assert max(depths[100:]) <= 40 and depths[-1] <= 40
        assert got.count("C") == 0


def test_sender_slow_by_half_percent_inserts_frames_without_loss():
    # With a 40 ms floor the buffer inserts ahead of time: silence in quiet
    # passages, a repeated frame in loud ones; nothing is lost or late.
    for loud in (True, False):
        jb, got, depths = clocked(201, 3000, loud, min_ms=40)
        frames = played(got)
        assert frames == list(range(frames[0], frames[0] + len(frames)))
        assert jb.lost == 0 and jb.late == 0 and jb.underruns == 0 and jb.skipped == 0
        assert 13 <= jb.inserted <= 16
        assert got[1:].count("C" if loud else "S") == jb.inserted
        assert max(depths[100:]) <= 60
    # With the default 20 ms floor the underrun itself holds playout back:
    # one repeated frame every ~4 s, still nothing lost or late.
    jb, got, depths = clocked(201, 3000)
    frames = played(got)
    assert increasing(frames) and jb.skipped <= 1   # the start-up 40 -> 20 ms step
    assert frames[-1] - frames[0] + 1 == len(frames) + jb.skipped
    assert jb.lost == 0 and jb.late == 0 and 14 <= jb.concealed <= 16
    assert max(depths[100:]) <= 40


def test_skip_waits_for_a_quiet_frame_but_not_forever():
    loud = clocked(199, 400, True)[0]
    quiet = clocked(199, 400, False)[0]
    assert loud.skipped >= 1 and quiet.skipped >= loud.skipped


def test_rfc3550_a8_interarrival_jitter():
    jb = JitterBuffer()
    for k in range(200):
        put(jb, k, 1000 + 20 * k + 37)   # constant delay: no jitter
    assert jb.jitter == 0 and jb.jitter_ms == 0
    jb = JitterBuffer()
    for k in range(400):
        put(jb, k, 1000 + 20 * k + (10 if k % 2 else 0))
    # |D| = 10 ms = 80 units every packet: J converges to 80.
    assert 78 <= jb.jitter <= 80 and jb.jitter_ms in (9, 10)


def test_target_follows_jitter_up_and_down():
    jb, got, depths = clocked(200, 1500, delay=lcg(600))   # 0..60 ms delay
    assert 15 <= jb.jitter_ms <= 25
    assert 60 <= jb.target_ms() <= 120
    assert got[1000:].count("C") <= 2 and jb.lost + jb.late <= 10
    assert increasing(played(got))
    # then the network calms down: the target and the depth come back down
    noisy = lcg(600)

    def calm(k):
        return noisy(k) if k < 500 else 0
    jb, got, depths = clocked(200, 2000, delay=calm)
    assert jb.jitter_ms <= 2 and jb.target_ms() <= 40 and jb.skipped >= 1
    assert depths[-1] <= 40
    assert increasing(played(got))


def test_short_and_long_payloads():
    jb = JitterBuffer(g711.PCMA)
    out = bytearray(FB)
    jb.put(1, 0, 0, b"\x01\x02\x03", 0, 3, 0)
    jb.put(2, 0, 160, bytes(200), 0, 200, 20)
    assert jb.get(out) == FRAME
    assert out[:3] == b"\x01\x02\x03" and out[3:] == b"\xd5" * (FB - 3)   # A-law silence
    assert jb.get(out) == FRAME and out == bytes(FB)


def test_stats_report():
    jb = JitterBuffer()
    run(jb, stream(10, drop=(4,), dup=(2,)), 11)
    s = jb.stats()
    for key in ("received", "lost", "late", "duplicates", "concealed", "depth_ms", "jitter_ms",
                "target_ms", "inserted", "skipped"):
        assert key in s
    assert s["received"] == 10 and s["lost"] == 1 and s["duplicates"] == 1


def test_late_frame_after_an_underrun_still_plays_when_the_next_one_follows_at_once():
    # seq 10 misses its slot (underrun), then 10 and 11 arrive together:
    # 10 was received and must play, not be counted lost
    jb = JitterBuffer(start_ms=20)
    out = bytearray(160)
    for s in range(10):
        jb.put(s, 0, s * 160, bytes([s]) * 160, 0, 160, s * 20)
        jb.get(out)
    jb.get(out)
    jb.put(10, 0, 1600, bytes([10]) * 160, 0, 160, 225)
    jb.put(11, 0, 1760, bytes([11]) * 160, 0, 160, 226)
    jb.get(out)
    assert out[0] == 10 and jb.lost == 0
    jb.get(out)
    assert out[0] == 11
