"""RFC 4733 telephone-events: sender timeline (§2.5.1) and receiver digit detection (§2.5.2)."""

import sys

from _helpers import raises, heap_locked as _heap_locked
from intercom.media.dtmf import DIGITS, DtmfReceiver, DtmfSender, event_code

MICROPYTHON = sys.implementation.name == "micropython"



def halves(ts):
    ts &= 0xFFFFFFFF
    return ts >> 16, ts & 0xFFFF


def feed(rx, ts, event, end, duration):
    hi, lo = halves(ts)
    return rx.on_event(hi, lo, event, end, duration)


def frames(tx, n):
    """n frames of the sender: (length, marker, new_event, event, end, duration) per frame."""
    out = bytearray(4)
    res = []
    for _ in range(n):
        k = tx.next_payload(out)
        if k:
            assert out[0] == tx.event
            assert bool(out[1] & 0x80) == tx.end and out[1] & 0x40 == 0
            assert (out[2] << 8) | out[3] == tx.duration
            res.append((k, tx.marker, tx.new_event, tx.event, tx.end, tx.duration))
        else:
            assert not tx.marker and not tx.new_event
            res.append((0,))
    return res


def test_rfc4733_3_2_event_codes():
    assert [event_code(c) for c in "0123456789*#ABCD"] == list(range(16))
    assert event_code("a") == 12 and event_code("d") == 15
    assert event_code("E") == -1 and event_code("") == -1 and event_code("12") == -1
    assert "".join(DIGITS) == "0123456789*#ABCD"


def test_rfc4733_2_3_payload_layout():
    tx = DtmfSender()
    tx.start("9")
    out = bytearray(6)
    assert tx.next_payload(out, 2) == 4
    # event 9 | E=0 R=0 volume=10 | duration 160, big-endian
    assert bytes(out) == bytes([0, 0, 9, 10, 0, 160])


def test_rfc4733_2_5_1_1_first_packet_marks_a_new_event_and_duration_grows():
    tx = DtmfSender(on_ms=100, gap_ms=60)
    tx.start("5")
    got = frames(tx, 5)
    assert got[0] == (4, True, True, 5, False, 160)
    assert [f[5] for f in got] == [160, 320, 480, 640, 800]
    assert [f[1] for f in got] == [True, False, False, False, False]
    assert [f[2] for f in got] == [True, False, False, False, False]


def test_rfc4733_2_5_1_3_end_packet_sent_three_times_then_gap():
    tx = DtmfSender(on_ms=100, gap_ms=60)
    tx.start("5")
    got = frames(tx, 12)
    ends = [f for f in got if len(f) > 1 and f[4]]
    assert ends == [(4, False, False, 5, True, 800)] * 3
    assert got[4:7] == ends
    assert got[7:] == [(0,)] * 5
    assert not tx.busy


def test_sender_digit_timeline_100ms_on_60ms_gap():
    tx = DtmfSender(on_ms=100, gap_ms=60)
    tx.start("1#")
    got = frames(tx, 22)
    one = [(4, True, True, 1, False, 160), (4, False, False, 1, False, 320), (4, False, False, 1, False, 480),
           (4, False, False, 1, False, 640)] + [(4, False, False, 1, True, 800)] * 3
    hsh = [(4, True, True, 11, False, 160), (4, False, False, 11, False, 320), (4, False, False, 11, False, 480),
           (4, False, False, 11, False, 640)] + [(4, False, False, 11, True, 800)] * 3
    assert got == one + [(0,)] * 3 + hsh + [(0,)] * 5


def test_sender_short_event_is_a_single_end_packet_three_times():
    tx = DtmfSender(on_ms=20, gap_ms=0)
    tx.start("**")
    got = frames(tx, 7)
    star = (4, True, True, 10, True, 160)
    again = (4, False, False, 10, True, 160)
    assert got == [star, again, again, star, again, again, (0,)]


def test_sender_queues_digits_started_while_busy():
    tx = DtmfSender(on_ms=40, gap_ms=20)
    tx.start("1")
    frames(tx, 2)
    tx.start("2")
    events = [f[3] for f in frames(tx, 20) if f[0] and f[1]]
    assert events == [2]
    tx.start("34")
    tx.cancel()
    assert [f for f in frames(tx, 5) if f[0]] == []
    assert not tx.busy


def test_sender_rejects_non_dtmf_characters():
    tx = DtmfSender()
    raises(ValueError, tx.start, "12x")
    assert not tx.busy
    tx.start("ab")
    assert tx.busy
    raises(ValueError, DtmfSender, 10)          # shorter than one frame
    raises(ValueError, DtmfSender, 9000)        # duration would pass 0xFFFF


def test_rfc4733_2_5_2_digit_reported_once_on_the_first_packet():
    rx = DtmfReceiver()
    ts = 0x12345678
    assert feed(rx, ts, 9, False, 160) == "9"
    for d in (320, 480, 640):
        assert feed(rx, ts, 9, False, d) is None
    assert rx.digits == 1 and rx.duration == 640 and not rx.ended


def test_rfc4733_2_5_1_3_end_packet_retransmissions_count_once():
    rx = DtmfReceiver()
    ts = 4000
    got = [feed(rx, ts, 1, False, 160), feed(rx, ts, 1, False, 320)]
    got += [feed(rx, ts, 1, True, 800) for _ in range(3)]
    assert got == ["1", None, None, None, None]
    assert rx.ended and rx.duration == 800 and rx.digits == 1


def test_rfc4733_2_5_2_lost_start_still_yields_the_digit_once():
    rx = DtmfReceiver()
    got = [feed(rx, 8000, 11, True, 800) for _ in range(3)]
    assert got == ["#", None, None]
    # every packet lost but the last retransmission: still one digit
    rx2 = DtmfReceiver()
    assert feed(rx2, 8000, 3, True, 800) == "3"


def test_new_timestamp_is_a_new_event_even_for_the_same_digit():
    rx = DtmfReceiver()
    got = []
    for ts in (1000, 2600):
        got.append(feed(rx, ts, 1, False, 160))
        got += [feed(rx, ts, 1, True, 800) for _ in range(3)]
    assert got == ["1", None, None, None, "1", None, None, None]
    assert rx.digits == 2


def test_same_digit_twice_with_all_end_packets_lost_is_two_digits():
    rx = DtmfReceiver()
    assert feed(rx, 1000, 7, False, 160) == "7"
    assert feed(rx, 1000, 7, False, 640) is None
    assert feed(rx, 2600, 7, False, 160) == "7"


def test_late_packet_of_the_previous_event_is_ignored():
    rx = DtmfReceiver()
    assert feed(rx, 1000, 1, False, 160) == "1"
    assert feed(rx, 1000, 1, True, 800) is None
    assert feed(rx, 2600, 2, False, 160) == "2"
    assert feed(rx, 1000, 1, True, 800) is None          # reordered retransmission
    assert feed(rx, 2600, 2, True, 800) is None
    assert rx.digits == 2


def test_timestamps_wrap_around_2_32():
    rx = DtmfReceiver()
    t0 = 0xFFFFFF00
    assert feed(rx, t0, 4, True, 800) == "4"
    t1 = t0 + 1600                                       # wraps to 0x00000540
    assert feed(rx, t1, 4, False, 160) == "4"
    assert feed(rx, t0, 4, True, 800) is None            # older, across the wrap
    assert feed(rx, t1, 4, True, 800) is None


def test_rfc4733_2_5_2_3_long_duration_continuation_is_one_digit():
    rx = DtmfReceiver()
    t0 = 0x00100000
    assert feed(rx, t0, 0, False, 160) == "0"
    assert feed(rx, t0, 0, False, 0xFF00) is None
    assert feed(rx, t0, 0, False, 0xFFFF) is None
    # §2.5.1.2: the next segment starts at t0 + 0xFFFF with the same event
    assert feed(rx, t0 + 0xFFFF, 0, False, 160) is None
    assert feed(rx, t0 + 0xFFFF, 0, True, 4000) is None
    assert rx.digits == 1 and rx.ended
    assert feed(rx, t0 + 0xFFFF + 8000, 0, False, 160) == "0"


def test_non_dtmf_events_are_tracked_but_not_reported():
    rx = DtmfReceiver()
    assert feed(rx, 100, 16, False, 160) is None         # flash
    assert rx.event == 16 and rx.digits == 0
    assert feed(rx, 2000, 6, False, 160) == "6"


def test_on_payload_parses_the_4_byte_event():
    rx = DtmfReceiver()
    pkt = bytes([0xAA, 12, 0x80 | 10, 0x03, 0x20])      # junk byte, then 'A', E, vol 10, 800
    assert rx.on_payload(0x0001, 0x0002, pkt, 1, 4) == "A"
    assert rx.ended and rx.duration == 800
    assert rx.on_payload(0x0001, 0x0002, pkt, 1, 3) is None


def test_reset_forgets_the_event():
    rx = DtmfReceiver()
    assert feed(rx, 100, 5, False, 160) == "5"
    rx.reset()
    assert feed(rx, 100, 5, False, 320) == "5"


def test_rfc4733_2_5_1_1_timestamp_held_per_event_then_caught_up():
    tx = DtmfSender(on_ms=100, gap_ms=60)
    tx.start("12")
    out = bytearray(4)
    adv = []
    for _ in range(20):
        adv.append(tx.ts_advance if tx.next_payload(out) else None)
    # 7 packets per digit share one timestamp; the last moves it on by 7 frames.
    assert adv == [0] * 6 + [1120] + [None] * 3 + [0] * 6 + [1120] + [None] * 3


def test_sender_to_receiver_round_trip_with_rtp_timestamps():
    tx = DtmfSender()
    rx = DtmfReceiver()
    tx.start("147*2580#369ABCD")
    out = bytearray(4)
    ts = 0xFFFFF000                # the RTP sender's clock, wrapping mid-way
    stamps = []
    got = []
    for _ in range(400):
        if tx.next_payload(out):   # like RtpSender.packet_for(4, tx.ts_advance, pt, tx.marker)
            hi, lo = halves(ts)
            if tx.new_event:
                stamps.append(ts & 0xFFFFFFFF)
            d = rx.on_payload(hi, lo, out, 0, 4)
            if d is not None:
                got.append(d)
            ts += tx.ts_advance
        else:                      # an audio frame
            ts += 160
    assert "".join(got) == "147*2580#369ABCD"
    assert not tx.busy and not tx.active
    # 7 packet frames + 3 gap frames per digit: events 1600 timestamp units apart
    assert [(stamps[i + 1] - stamps[i]) & 0xFFFFFFFF for i in range(len(stamps) - 1)] == [1600] * 15


def test_receiver_keeps_small_ints():
    rx = DtmfReceiver()
    feed(rx, 0xFFFFFFFF, 1, False, 0xFFFF)
    for v in (rx._hi, rx._lo, rx.duration, rx.event):
        assert 0 <= v < (1 << 16)


def test_sender_and_receiver_allocate_nothing_per_packet():
    tx = DtmfSender()
    rx = DtmfReceiver()
    tx.start("0123456789")
    out = bytearray(4)
    st = (tx, rx, memoryview(out))

    def run():
        tx, rx, mv = st
        n = 0
        for i in range(200):
            if tx.next_payload(mv, 0):
                if rx.on_payload(0, i >> 4, mv, 0, 4) is not None:
                    n += 1
        return n
    assert _heap_locked(run) > 0


# --- sending through the media session: the RTP timestamp and marker -------------------

def _sent(digits, frames_total=40):
    """A session sending audio, digits queued after frame 0: per frame the
    packet's (frame, payload type, marker, timestamp - first timestamp) or None."""
    from intercom.media.session import MediaSession, FRAME_SAMPLES
    s = MediaSession(lambda n: b"\x11\x22\x33\x44\x01\x02\xff\xff"[:n], "door")
    s.start("c1", "192.0.2.7", 4000, 0, 101, True, True)
    mic = bytearray(2 * FRAME_SAMPLES)
    out = []
    ts0 = None
    for frame in range(frames_total):
        if frame == 1:
            s.send_digits(digits)
        p = s.next_packet(mic)
        if p is None:
            out.append(None)
            continue
        ts = (p[4] << 24) | (p[5] << 16) | (p[6] << 8) | p[7]
        if ts0 is None:
            ts0 = ts
        out.append((frame, p[1] & 0x7F, p[1] >> 7, (ts - ts0) & 0xFFFFFFFF))
    return out


def test_rfc3550_5_1_timestamp_on_the_sampling_clock_after_a_digit():
    sent = _sent("12", 40)
    audio = [p for p in sent if p is not None and p[1] == 0]
    events = [p for p in sent if p is not None and p[1] == 101]
    assert len(events) == 14 and len(audio) > 10 and audio[-1][0] == 39
    # every audio packet is stamped with its frame's sampling instant
    # (160 per 20 ms frame, the first one at 0; the timestamp wraps mid-way)
    for frame, _pt, _m, ts in audio:
        assert ts == frame * 160, (frame, ts)
    # each event keeps its start instant (RFC 4733 §2.5.1.1): digits 10 frames apart
    assert sorted(set(p[3] for p in events)) == [160, 1760]


def test_rfc4733_marker_on_first_audio_packet_after_an_event():
    sent = _sent("1", 30)
    audio = [p for p in sent if p is not None and p[1] == 0]
    # the first audio packet of the stream starts a talk spurt, so does the
    # first after the event (RFC 4733 §2.5.1.2, RFC 3551 §4.1); no others
    assert [p[0] for p in audio if p[2]] == [0, 11]
    events = [p for p in sent if p is not None and p[1] == 101]
    assert [p[2] for p in events] == [1, 0, 0, 0, 0, 0, 0]      # and the event's first packet


def test_held_samples_is_how_far_the_event_timestamp_lags():
    tx = DtmfSender(on_ms=100, gap_ms=60)
    tx.start("1")
    out = bytearray(4)
    held = []
    for _ in range(11):
        tx.next_payload(out)
        held.append(tx.held_samples())
    assert held == [160, 320, 480, 640, 800, 960, 0, 0, 0, 0, 0]
