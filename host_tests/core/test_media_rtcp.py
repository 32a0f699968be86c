"""RTCP receiver reports: loss, extended sequence, jitter, SR timing (RFC 3550 §6.4, §A.1, §A.3)."""

import struct

from intercom.media.rtcp import RtcpReporter, ReceptionStats, PT_RR, PT_SDES
from intercom.media.rtp import RtpSender
from intercom.media.session import MediaSession, FRAME_SAMPLES
from intercom.ticks import ticks_diff

SEED = b"\x11\x22\x33\x44\x01\x02\x03\x04"       # our SSRC, first seq, timestamp's high half
PEER = ("192.0.2.7", 4000)
PEER_SSRC = b"\x0a\x0b\x0c\x0d"
PT_SR = 200                 # RFC 3550 §12.1
PT_BYE = 203


def test_rfc3550_a_1_extended_sequence_counts_cycles_across_wrap():
    st = ReceptionStats()
    for seq in (65533, 65534, 65535, 0, 1):
        st.update(seq)
    assert st.cycles == 1 and st.max_seq == 1 and st.expected() == 5 and st.cumulative_lost() == 0


def test_rfc3550_a_3_fraction_and_cumulative_loss():
    st = ReceptionStats()
    for seq in range(100):
        if seq % 10 != 3:          # 10 % loss
            st.update(seq)
    assert st.cumulative_lost() == 10
    assert st.fraction_lost() == (10 << 8) // 100
    for seq in range(100, 200):
        st.update(seq)
    assert st.fraction_lost() == 0          # the interval restarts at every report


def test_rfc3550_6_4_2_receiver_report_layout_with_cname():
    rep = RtcpReporter(b"\x01\x02\x03\x04", "door@192.0.2.1")
    for seq in range(10):
        if seq != 5:
            rep.stats.update(seq)
    pkt = bytes(rep.build(0xABCD, 0x1234, 77, 0))
    assert pkt[0] == 0x81 and pkt[1] == PT_RR and struct.unpack(">H", pkt[2:4])[0] == 7
    assert pkt[4:8] == b"\x01\x02\x03\x04" and pkt[8:12] == b"\xab\xcd\x12\x34"
    assert pkt[12] == (1 << 8) // 10 and pkt[13:16] == b"\x00\x00\x01"
    assert struct.unpack(">I", pkt[16:20])[0] == 9 and struct.unpack(">I", pkt[20:24])[0] == 77
    assert pkt[33] == PT_SDES and b"door@192.0.2.1" in pkt and len(pkt) % 4 == 0


def test_rfc3550_6_4_1_peer_sr_sets_lsr_and_dlsr_and_its_report_block_is_read():
    sr = bytearray(52)
    sr[0] = 0x81
    sr[1] = 200
    struct.pack_into(">H", sr, 2, 12)
    sr[4:8] = b"\x09\x09\x09\x09"
    sr[8:16] = b"\x11\x22\x33\x44\x55\x66\x77\x88"            # NTP timestamp
    sr[28:32] = b"\x01\x02\x03\x04"                             # report block about us
    sr[32] = 64                                                 # 25 % lost
    sr[33:36] = b"\x00\x00\x07"
    struct.pack_into(">I", sr, 40, 120)                         # jitter
    rep = RtcpReporter(b"\x01\x02\x03\x04", "door")
    assert rep.parse(bytes(sr), 1000)
    assert rep.remote == {"reports": 1, "fraction_lost": 64, "cumulative_lost": 7, "jitter": 120,
                          "rtt_ms": None}
    pkt = bytes(rep.build(0x0909, 0x0909, 0, 1500))
    assert pkt[24:28] == b"\x33\x44\x55\x66"                    # LSR: middle 32 bits
    assert struct.unpack(">I", pkt[28:32])[0] == (500 << 16) // 1000


def test_malformed_rtcp_is_refused():
    rep = RtcpReporter(b"\x01\x02\x03\x04", "door")
    assert rep.parse(b"\x00\x01\x02", 0) is False
    assert rep.parse(b"\x81\xc9\x00\x07" + b"\x00" * 8, 0) is False   # length beyond the datagram


def u32(pkt, pos):
    return struct.unpack(">I", pkt[pos:pos + 4])[0]


def session(send=True):
    s = MediaSession(lambda n: SEED[:n], "door")
    s.start("c1", PEER[0], PEER[1], 0, 101, send, True)
    return s


def run(s, peer, frames, first=0, reports=None):
    """frames of 20 ms: the peer's packet in, ours out, then RTCP if due
    (the driver's order); the reports as (now, packet, our RTP timestamp)."""
    mic = bytearray(2 * FRAME_SAMPLES)
    if reports is None:
        reports = []
    for i in range(first, first + frames):
        now = 20 * i
        s.receive(bytes(peer.packet_for(FRAME_SAMPLES)), PEER, now)
        s.next_packet(mic)
        r = s.rtcp_report(now)
        if r is not None:
            reports.append((now, bytes(r), (s.sender.ts_hi << 16) | s.sender.ts_lo))
    return reports


def parts(pkt):
    """The compound packet's (pt, count, offset, length) in order; asserts the lengths add up."""
    out = []
    pos = 0
    while pos < len(pkt):
        assert pkt[pos] >> 6 == 2
        length = (struct.unpack(">H", pkt[pos + 2:pos + 4])[0] + 1) * 4
        out.append((pkt[pos + 1], pkt[pos] & 0x1F, pos, length))
        pos += length
    assert pos == len(pkt)
    return out


def ntp(pkt):
    return u32(pkt, 8) + u32(pkt, 12) / 2.0 ** 32


def test_rfc3550_6_4_1_sender_report_while_sending():
    s = session()
    reports = run(s, RtpSender(PEER_SSRC, 0, seq=100), 500)
    assert len(reports) >= 2
    (t0, p0, ts0), (t1, p1, _ts1) = reports[0], reports[1]
    assert [(pt, rc) for pt, rc, _pos, _len in parts(p0)] == [(PT_SR, 1), (PT_SDES, 1)]
    assert p0[0] == 0x81 and p0[1] == PT_SR and struct.unpack(">H", p0[2:4])[0] == 12   # 52 bytes
    assert p0[4:8] == SEED[:4]
    # sender info: RTP timestamp on the sampling clock (the initial one plus
    # 160 per 20 ms frame), packet and payload octet counts so far
    frames = t0 // 20 + 1
    assert u32(p0, 16) == ts0 == ((0x0304 << 16) + frames * FRAME_SAMPLES) & 0xFFFFFFFF
    assert u32(p0, 20) == frames and u32(p0, 24) == frames * FRAME_SAMPLES
    # the NTP timestamp runs with real time; RTP and NTP time advance together
    assert ntp(p0) > 0 and abs((ntp(p1) - ntp(p0)) - (t1 - t0) / 1000.0) < 0.002
    assert (u32(p1, 16) - u32(p0, 16)) & 0xFFFFFFFF == (t1 - t0) * 8
    # the report block about the peer's stream follows the sender info
    assert p0[28:32] == PEER_SSRC and p0[53] == PT_SDES and b"door" in p0


def test_rfc3550_6_4_1_sender_report_timestamp_on_the_sampling_clock_during_a_digit():
    s = session()
    peer = RtpSender(PEER_SSRC, 0, seq=100)
    reports = run(s, peer, 50)
    s.send_digits("9")          # 7 event packets keep the event's start timestamp
    for i in range(50, 200):
        if s.dtmf_tx.held_samples():
            s.rtcp.next_report = 20 * i        # a report right inside the event
        run(s, peer, 1, i, reports)
    inside = [r for r in reports if r[0] > 1000 and r[0] <= 1140]
    assert inside and inside[0][1][1] == PT_SR
    now, pkt, _ts = inside[0]
    assert u32(pkt, 16) == ((0x0304 << 16) + (now // 20 + 1) * FRAME_SAMPLES) & 0xFFFFFFFF


def test_rfc3550_6_4_2_receiver_report_when_not_sending():
    s = session()
    peer = RtpSender(PEER_SSRC, 0, seq=100)
    reports = run(s, peer, 200)
    assert reports[-1][1][1] == PT_SR
    s.update(PEER[0], PEER[1], 0, 101, False, True)      # we stop sending (the peer holds us)
    run(s, peer, 1500, 200, reports)
    later = [pkt for now, pkt, _ts in reports if now >= 4000]
    # RFC 3550 §6.4: an SR while we sent since the second previous report
    # (the two reports after the last packet), then RRs
    assert later[0][1] == PT_SR and later[1][1] == PT_SR and len(later) >= 4
    for pkt in later[2:]:
        assert [(pt, rc) for pt, rc, _pos, _len in parts(pkt)] == [(PT_RR, 1), (PT_SDES, 1)]
        assert pkt[4:8] == SEED[:4] and pkt[8:12] == PEER_SSRC


def test_rfc3550_6_4_2_receiver_report_without_block_before_any_rtp():
    s = session(send=False)
    mic = bytearray(2 * FRAME_SAMPLES)
    got = None
    for i in range(400):
        s.next_packet(mic)
        got = got or s.rtcp_report(20 * i)
    pkt = bytes(got)
    assert [(pt, rc) for pt, rc, _pos, _len in parts(pkt)] == [(PT_RR, 0), (PT_SDES, 1)]


def test_rfc3550_6_3_1_interval_is_randomised_0_5_to_1_5():
    # RFC 3550 §6.3.1 and §A.7: Tmin = 5 s (2.5 s before the first report)
    # times a random factor in [0.5, 1.5), divided by e - 3/2 = 1.21828
    lo, hi = 5000 * 0.5 / 1.21828, 5000 * 1.5 / 1.21828
    rep = RtcpReporter(b"\x01\x02\x03\x04", "door")
    assert not rep.due(0)
    first = ticks_diff(rep.next_report, 0)
    assert lo / 2 - 2 <= first <= hi / 2 + 2
    assert rep.due(first) and not rep.due(first - 1)
    gaps = []
    for _ in range(300):
        now = rep.next_report
        rep.build(0, 0, 0, now)
        gaps.append(ticks_diff(rep.next_report, now))
    assert min(gaps) >= lo - 2 and max(gaps) <= hi + 2
    assert min(gaps) < lo + 300 and max(gaps) > hi - 300 and len(set(gaps)) > 100
    assert abs(sum(gaps) / len(gaps) - 5000 / 1.21828) < 250
    # deterministic for one seed (the SSRC, from the session's random source)
    again = RtcpReporter(b"\x01\x02\x03\x04", "door")
    again.due(0)
    other = []
    for _ in range(300):
        now = again.next_report
        again.build(0, 0, 0, now)
        other.append(ticks_diff(again.next_report, now))
    assert other == gaps


def test_rfc3550_6_6_bye_when_the_stream_ends():
    s = session()
    run(s, RtpSender(PEER_SSRC, 0, seq=100), 300)
    assert s.bye is None
    s.stop()
    pkt = bytes(s.bye)
    assert s.bye_dest == (PEER[0], PEER[1] + 1)
    layout = parts(pkt)
    # §6.1: a compound packet starts with SR/RR and carries SDES CNAME; BYE last
    assert [(pt, rc) for pt, rc, _pos, _len in layout] == [(PT_SR, 1), (PT_SDES, 1), (PT_BYE, 1)]
    pos, length = layout[2][2], layout[2][3]
    assert length == 8 and pkt[pos + 4:pos + 8] == SEED[:4] and u32(pkt, 20) == 300
    # the next call's reports do not touch the BYE still to be sent
    s.start("c2", PEER[0], PEER[1], 0, 101, True, True)
    run(s, RtpSender(PEER_SSRC, 0, seq=100), 300)
    assert bytes(s.bye) == pkt


def test_rfc3550_6_3_7_no_bye_when_nothing_was_sent():
    s = session(send=False)
    s.stop()
    assert s.bye is None


def test_rfc3605_a_rtcp_port_honoured():
    # the media event's rtcp_port/rtcp_address (the peer's a=rtcp, RFC 3605 §2.1)
    s = session()
    assert s.rtcp_dest == (PEER[0], PEER[1] + 1)                     # RFC 3550 §11 without it
    s.set_rtcp(53020, "198.51.100.9")
    assert s.rtcp_dest == ("198.51.100.9", 53020)
    s.set_rtcp(53020)
    assert s.rtcp_dest == (PEER[0], 53020)
    run(s, RtpSender(PEER_SSRC, 0, seq=100), 300)
    s.stop()
    assert s.bye_dest == (PEER[0], 53020)
    s.start("c2", PEER[0], PEER[1], 0, 101, True, True)
    s.set_rtcp(None)
    assert s.rtcp_dest == (PEER[0], PEER[1] + 1)



def test_rfc3550_6_4_1_round_trip_from_the_peers_lsr_and_dlsr():
    s = session()
    reports = run(s, RtpSender(PEER_SSRC, 0, seq=100), 300)
    now, sr, _ts = reports[0]
    assert sr[1] == PT_SR
    rr = bytearray(32)
    rr[0] = 0x81
    rr[1] = PT_RR
    struct.pack_into(">H", rr, 2, 7)
    rr[4:8] = PEER_SSRC
    rr[8:12] = SEED[:4]                                          # a block about us
    rr[24:28] = sr[10:14]                                        # LSR: our SR's middle 32 bits
    struct.pack_into(">I", rr, 28, 6554)                         # DLSR: 100 ms held by the peer
    assert s.receive_rtcp(bytes(rr), now + 250)
    assert 149 <= s.rtcp.remote["rtt_ms"] <= 151
    rr[8] ^= 1                                                   # a block about someone else
    s.rtcp.remote["rtt_ms"] = None
    assert s.receive_rtcp(bytes(rr), now + 250) and s.rtcp.remote["rtt_ms"] is None
