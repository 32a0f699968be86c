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


# --- sending the negotiated packetization -----------------------------------------------

PEER = ("192.0.2.7", 4000)


def session_with(ptime, seed=b"\x11\x22\x33\x44\x01\x02\x03\x04"):
    from intercom.media.session import MediaSession
    s = MediaSession(lambda n: seed[:n], "door")
    s.start("c1", PEER[0], PEER[1], 0, 101, True, True, ptime=ptime)
    return s


def tone_pcm(frames, freq=TONE, amp=8000):
    """frames of 16-bit little-endian PCM (bytearrays of 320 bytes), a continuous sine."""
    out = []
    for f in range(frames):
        pcm = bytearray(2 * FB)
        for i in range(FB):
            v = int(amp * math.sin(2 * math.pi * freq * (f * FB + i) / 8000)) & 0xFFFF
            pcm[2 * i] = v & 0xFF
            pcm[2 * i + 1] = v >> 8
        out.append(pcm)
    return out


def send_frames(s, frames):
    """Every datagram a session sends for these mic frames: [(frame, bytes)]."""
    sent = []
    for f, pcm in enumerate(frames):
        p = s.next_packet(pcm)
        while p is not None:
            sent.append((f, bytes(p)))
            p = s.more()
    return sent


def header(p):
    return p[1] & 0x7F, p[1] >> 7, (p[2] << 8) | p[3], (p[4] << 24) | (p[5] << 16) | (p[6] << 8) | p[7]


def check_stream(sent, samples, frames):
    """Packets of `samples` each, seq +1 and timestamp + samples, carrying the mic audio in order."""
    pt0, m0, seq0, ts0 = header(sent[0][1])
    assert m0 == 1                                   # the first packet starts a talk spurt
    audio = bytearray()
    for k, (_f, p) in enumerate(sent):
        pt, _m, seq, ts = header(p)
        assert pt == 0 and len(p) == 12 + samples
        assert seq == (seq0 + k) & 0xFFFF and ts == (ts0 + k * samples) & 0xFFFFFFFF
        audio.extend(p[12:])
    codes = bytearray(FB * len(frames))
    pcm = bytearray()
    for f in frames:
        pcm.extend(f)
    g711.PCMU.encode(pcm, codes, FB * len(frames))
    assert audio == codes[:len(audio)]
    return audio


def test_send_40_ms_packets_with_timestamp_advancing_320():
    s = session_with(40)
    frames = tone_pcm(20)
    sent = send_frames(s, frames)
    assert [f for f, _p in sent] == list(range(1, 20, 2))   # every second frame
    check_stream(sent, 320, frames)
    assert s.sender.packets == 10 and s.sender.octets_lo == 3200


def test_send_30_ms_packets_240_samples_when_available():
    s = session_with(30)
    frames = tone_pcm(12)
    sent = send_frames(s, frames)
    assert [f for f, _p in sent] == [1, 2, 4, 5, 7, 8, 10, 11]  # 240 of 320, then 240 of 240
    check_stream(sent, 240, frames)
    # between packets the samples still pending keep the SR timestamp on the sampling clock
    s.next_packet(frames[0])
    assert s.held_samples() == 160


def test_send_10_ms_packets_two_per_frame():
    s = session_with(10)
    frames = tone_pcm(10)
    sent = send_frames(s, frames)
    assert [f for f, _p in sent] == [f for f in range(10) for _ in (0, 1)]
    check_stream(sent, 80, frames)


def test_rfc3550_5_1_dtmf_between_40_ms_packets_keeps_the_sampling_clock():
    s = session_with(40)
    frames = tone_pcm(40)
    sent = send_frames(s, frames[:3])               # one packet sent, one frame pending
    ts0 = header(sent[0][1])[3]
    s.send_digits("5")
    sent = send_frames(s, frames[3:40])
    events = [(f, p) for f, p in sent if p[1] & 0x7F == 101]
    audio = [(f, p) for f, p in sent if p[1] & 0x7F == 0]
    assert events and header(events[0][1])[1] == 1
    # the pending frame is dropped but its time passes: the event is
    # stamped with the instant of the frame it starts in (frame 3)
    assert header(events[0][1])[3] == (ts0 + 3 * FB) & 0xFFFFFFFF
    f, p = audio[0]
    _pt, marker, _seq, ts = header(p)
    # the first audio after the event: marker, stamped with the instant its
    # first sample was taken (frame f - 1: 40 ms packets wait for a second frame)
    assert marker == 1 and ts == (ts0 + (f + 3 - 1) * FB) & 0xFFFFFFFF
    assert len(p) == 12 + 320


def test_rfc4566_a_ptime_of_the_peer_sets_our_send_packetization():
    from intercom import config
    from intercom.audio import AudioControl
    from test_sdp_interop import answer, sdp, Board
    media_30 = answer(sdp("m=audio 30000 RTP/AVP 0\r\na=ptime:30\r\n"))[2]
    assert media_30["ptime"] == 30
    # one we cannot produce (or none): ours, media.ptime
    assert answer(sdp("m=audio 30000 RTP/AVP 0\r\na=ptime:25\r\n"))[2]["ptime"] == 20
    assert answer(sdp("m=audio 30000 RTP/AVP 0\r\n"))[2]["ptime"] == 20
    cfg = config.defaults()
    audio = AudioControl(cfg, Board([]), lambda ev: None, lambda n: bytes(n), "door")
    audio.on_media_event(media_30)
    audio.on_call_event({"id": media_30["id"], "state": "connected"}, 0)
    assert audio.session.ptime == 30
    mic = bytearray(2 * FB)
    lengths = []
    for _ in range(6):
        p = audio.session.next_packet(mic)
        while p is not None:
            lengths.append(len(p) - 12)
            p = audio.session.more()
    assert lengths == [240] * 4


def test_our_media_ptime_is_sent_when_the_peer_names_none():
    from test_sdp_interop import invite_with, sdp
    from _sipfakes import make_ua, drain, events
    ua = make_ua()
    ua.cfg["media"]["ptime"] = 40
    ua.cfg["calls"].update({"accept_from": "any", "auto_answer": True})
    ua.receive(invite_with(sdp("m=audio 30000 RTP/AVP 0\r\n")), ("192.0.2.30", 5060), 0)
    drain(ua)
    media = [e for e in events(ua) if e["event"] == "media"][-1]
    assert media["ptime"] == 40


def test_send_40_receive_30_tone_end_to_end():
    # our 40 ms packets through a peer's session, and the peer's 30 ms ones through ours
    for send_ms in (10, 30, 40):
        a = session_with(send_ms)
        b = session_with(20, b"\x55\x66\x77\x88\x09\x0a\x0b\x0c")
        frames = tone_pcm(150)
        spk = bytearray(2 * FB)
        x = []
        for f, pcm in enumerate(frames):
            p = a.next_packet(pcm)
            while p is not None:
                b.receive(bytes(p), PEER, 20 * f)
                p = a.more()
            b.play(spk)
            for i in range(FB):
                v = spk[2 * i] | (spk[2 * i + 1] << 8)
                x.append(v - 0x10000 if v & 0x8000 else v)
        x = x[20 * FB:]
        assert abs(zc_freq(x, 8000) - TONE) < 5, send_ms
        assert snr_median(x) > 35, send_ms
        assert b.jitter.lost == 0 and b.jitter.late == 0
