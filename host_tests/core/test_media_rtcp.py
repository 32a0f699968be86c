"""RTCP receiver reports: loss, extended sequence, jitter, SR timing (RFC 3550 §6.4, §A.1, §A.3)."""

import struct

from intercom.media.rtcp import RtcpReporter, ReceptionStats, PT_RR, PT_SDES


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
    assert rep.remote == {"reports": 1, "fraction_lost": 64, "cumulative_lost": 7, "jitter": 120}
    pkt = bytes(rep.build(0x0909, 0x0909, 0, 1500))
    assert pkt[24:28] == b"\x33\x44\x55\x66"                    # LSR: middle 32 bits
    assert struct.unpack(">I", pkt[28:32])[0] == (500 << 16) // 1000


def test_rtcp_report_every_5_seconds():
    rep = RtcpReporter(b"\x01\x02\x03\x04", "door")
    assert rep.due(0)
    rep.build(0, 0, 0, 0)
    assert not rep.due(4999) and rep.due(5000)


def test_malformed_rtcp_is_refused():
    rep = RtcpReporter(b"\x01\x02\x03\x04", "door")
    assert rep.parse(b"\x00\x01\x02", 0) is False
    assert rep.parse(b"\x81\xc9\x00\x07" + b"\x00" * 8, 0) is False   # length beyond the datagram
