"""Packetization (RFC 3551 §4.5, RFC 4566 a=ptime, RFC 3550 §5.1): any packet size in, the negotiated one out."""

import math

from intercom.media import g711
from intercom.media.jitter import JitterBuffer, FRAME, CONCEALED
from _helpers import zc_freq

FB = 160
TONE = 997         # not a divisor of 8000: every frame differs, so a skip shows


def tone_codes(n, freq=TONE, amp=8000, codec=g711.PCMU):
    """n samples of a sine, G.711-encoded (one byte per sample)."""
    pcm = bytearray(2 * n)
    for i in range(n):
        v = int(amp * math.sin(2 * math.pi * freq * i / 8000)) & 0xFFFF
        pcm[2 * i] = v & 0xFF
        pcm[2 * i + 1] = v >> 8
    codes = bytearray(n)
    codec.encode(pcm, codes, n)
    return codes


def decoded(codes, codec=g711.PCMU):
    n = len(codes)
    pcm = bytearray(2 * n)
    codec.decode(codes, pcm, n)
    out = []
    for i in range(n):
        v = pcm[2 * i] | (pcm[2 * i + 1] << 8)
        out.append(v - 0x10000 if v & 0x8000 else v)
    return out


def snr_db(x, freq=TONE, rate=8000):
    """SNR of a sine at freq in x: least-squares fit of sin/cos, residual as noise."""
    n = len(x)
    s = c = 0.0
    for i in range(n):
        w = 2 * math.pi * freq * i / rate
        s += x[i] * math.sin(w)
        c += x[i] * math.cos(w)
    s *= 2.0 / n
    c *= 2.0 / n
    sig = noise = 0.0
    for i in range(n):
        w = 2 * math.pi * freq * i / rate
        f = s * math.sin(w) + c * math.cos(w)
        sig += f * f
        noise += (x[i] - f) * (x[i] - f)
    return 10 * math.log10(sig / max(noise, 1e-9))


def snr_median(x, block=800):
    """The median SNR of 100 ms blocks (a skipped or repeated frame moves
    the phase: one fit over the whole signal would count it as noise)."""
    v = sorted([snr_db(x[i:i + block]) for i in range(0, len(x) - block + 1, block)])
    return v[len(v) // 2]


def packets(sizes, ts0=0x12345678, seq0=100):
    """(seq, ts, offset, n): packets of the given sizes (samples) back to back."""
    out = []
    off = 0
    for k, n in enumerate(sizes):
        ts = (ts0 + off) & 0xFFFFFFFF
        out.append(((seq0 + k) & 0xFFFF, ts, off, n))
        off += n
    return out


def play(pkts, codes, ticks, drop=(), delay_ms=0, jb=None):
    """Send pkts in real time (packet sent when its last sample is
    captured, plus delay_ms), get() a frame every 20 ms; the played codes
    and the statuses."""
    jb = jb or JitterBuffer()
    t0 = pkts[0][1]
    arrivals = []
    for k, (_seq, _ts, off, n) in enumerate(pkts):
        if k in drop:
            continue
        arrivals.append(((off + n) // 8 + delay_ms, k))
    arrivals.sort()
    out = bytearray(FB)
    played = bytearray()
    statuses = []
    ai = 0
    jb.underruns_in_stream = 0           # before the last packet (the end drains)
    for i in range(ticks):
        now = 20 * i + 5
        while ai < len(arrivals) and arrivals[ai][0] <= now:
            t, k = arrivals[ai]
            ai += 1
            seq, ts, off, n = pkts[k]
            jb.put(seq, ts >> 16, ts & 0xFFFF, codes, off, n, t)
            if ai == len(arrivals):
                jb.underruns_in_stream = jb.underruns
        statuses.append(jb.get(out))
        played.extend(out)
    assert t0 == pkts[0][1]
    return jb, played, statuses


def first_sound(played, silence=0xFF):
    """Where playout began: the first frame with a non-silent code."""
    for i in range(len(played)):
        if played[i] != silence:
            return i - i % FB
    return -1


def in_order(played, codes, start):
    """Walk the played frames from start: each must be the next FB codes
    sent (or, for one adaptation step, the one after: a skip; the last
    again: an insert). Returns (samples matched, adaptation steps)."""
    p = 0
    steps = 0
    for f in range(start, len(played) - FB + 1, FB):
        if p + FB > len(codes):
            break                        # the stream ended: the rest is concealment
        got = played[f:f + FB]
        if got == codes[p:p + FB]:
            p += FB
        elif p + 2 * FB <= len(codes) and got == codes[p + FB:p + 2 * FB]:
            p += 2 * FB
            steps += 1
        elif p >= FB and (got == codes[p - FB:p] or got == b"\xff" * FB):
            steps += 1
        else:
            raise AssertionError("gap or cut in the playout at sample %d" % p)
    return p, steps


def check_seamless(sizes, ticks, steps_max=1, underruns_max=0):
    total = sum(sizes)
    codes = tone_codes(total)
    jb, played, statuses = play(packets(sizes), codes, ticks)
    start = first_sound(played)
    assert start >= 0
    # every sample sent plays once, in order, with nothing cut or padded
    n, steps = in_order(played, codes, start)
    assert n >= total - 6 * FB and steps <= steps_max
    assert steps == jb.skipped + jb.inserted + jb.underruns_in_stream
    assert jb.lost == 0 and jb.late == 0 and jb.underruns_in_stream <= underruns_max
    x = decoded(played[start:start + n])
    return jb, x


def test_rfc3551_4_5_receive_30_ms_packets_without_gaps():
    jb, x = check_seamless([240] * 100, 160)
    assert abs(zc_freq(x, 8000) - TONE) < 5
    assert snr_median(x) > 35
    assert jb.depth_ms <= 80


def test_receive_10_ms_packets():
    jb, x = check_seamless([80] * 300, 160)
    assert abs(zc_freq(x, 8000) - TONE) < 5 and snr_median(x) > 35


def test_rfc3551_4_5_receive_60_ms_packets():
    jb, x = check_seamless([480] * 50, 160)
    assert abs(zc_freq(x, 8000) - TONE) < 5 and snr_median(x) > 35


def test_peer_changing_packetization_mid_call():
    sizes = [160] * 30 + [240] * 20 + [80] * 60 + [480] * 10 + [160] * 30
    # 10 -> 60 ms: the first long packet comes 50 ms after the last short
    # one, so playout waits once (an underrun, a repeated frame, no loss)
    jb, x = check_seamless(sizes, sum(sizes) // FB + 10, 2, 1)
    assert abs(zc_freq(x, 8000) - TONE) < 5 and snr_median(x) > 35
    assert jb.received == len(sizes)


def test_jitter_buffer_loss_concealment_in_samples():
    # A lost 30 ms packet: the frame it shares with its neighbour is
    # patched from the last frame, the one wholly inside it repeated.
    sizes = [240] * 60
    codes = tone_codes(sum(sizes))
    jb, played, statuses = play(packets(sizes), codes, 90, drop=(30,))
    assert jb.lost == 1 and jb.late == 0 and jb.concealed == 2
    assert statuses.count(CONCEALED) == 2 and statuses.count(FRAME) == 85
    start = first_sound(played)
    x = decoded(played[start:start + 80 * FB])
    assert abs(zc_freq(x, 8000) - TONE) < 10
    # the stream around the loss is played sample-exact
    gap = 30 * 240
    assert played[start:start + gap - FB] == codes[:gap - FB]
    after = (gap + 240) // FB * FB + FB
    assert played[start + after:start + after + 10 * FB] == codes[after:after + 10 * FB]
    # a lost 10 ms packet leaves half a frame: patched, not a lost frame
    sizes = [80] * 100
    codes = tone_codes(sum(sizes))
    jb, played, statuses = play(packets(sizes), codes, 50, drop=(41,))
    assert jb.lost == 0 and jb.concealed == 1 and statuses.count(FRAME) >= 45


def test_jittery_30_ms_packets_keep_the_target_depth():
    sizes = [240] * 400
    codes = tone_codes(sum(sizes))
    pkts = packets(sizes)
    jb = JitterBuffer()
    state = [777]

    def rnd(k):
        state[0] = (state[0] * 1103515245 + 12345) & 0x7FFFFFFF
        return (state[0] >> 8) % 30
    arrivals = sorted([((off + n) // 8 + rnd(k), k) for k, (seq, ts, off, n) in enumerate(pkts)])
    out = bytearray(FB)
    ai = 0
    for i in range(590):
        now = 20 * i + 5
        while ai < len(arrivals) and arrivals[ai][0] <= now:
            t, k = arrivals[ai]
            ai += 1
            seq, ts, off, n = pkts[k]
            jb.put(seq, ts >> 16, ts & 0xFFFF, codes, off, n, t)
        jb.get(out)
    assert 5 <= jb.jitter_ms <= 15
    assert jb.lost + jb.late <= 4 and jb.underruns <= 4
    assert 40 <= jb.target_ms() <= 80 and jb.depth_ms <= 140
