"""RTP header build/parse (RFC 3550 §5.1, §5.3.1, §A.1), SSRC latching, RFC 4733 §2.3 events."""

from _helpers import raises
from intercom.media.rtp import (RtpSender, RtpReceiver, TelephoneEvent, seq_diff, ts_diff,
                                PT_PCMU, PT_PCMA)

SSRC = b"\xde\xad\xbe\xef"


def header(seq=1, ts=0, ssrc=0x11223344, pt=0, marker=0, cc=0, x=False, p=False, v=2):
    """A raw RTP fixed header (values may exceed 2**30: test side only)."""
    b0 = (v << 6) | (0x20 if p else 0) | (0x10 if x else 0) | cc
    return bytes([b0, (marker << 7) | pt, seq >> 8, seq & 0xFF,
                  (ts >> 24) & 0xFF, (ts >> 16) & 0xFF, (ts >> 8) & 0xFF, ts & 0xFF,
                  (ssrc >> 24) & 0xFF, (ssrc >> 16) & 0xFF, (ssrc >> 8) & 0xFF, ssrc & 0xFF])


def test_rfc3550_5_1_sender_header_fields():
    tx = RtpSender(SSRC, PT_PCMA, seq=0x1234, ts_hi=0xA0B0, ts_lo=0xC0D0)
    for i in range(160):
        tx.payload[i] = i
    pkt = tx.packet_for(160)
    assert len(pkt) == 172
    assert pkt[0] == 0x80                 # V=2, no padding, extension or CSRC
    assert pkt[1] == 0x80 | 8             # first packet: marker (talk spurt) + PT 8
    assert bytes(pkt[2:12]) == b"\x12\x34\xa0\xb0\xc0\xd0" + SSRC
    assert bytes(pkt[12:14]) == b"\x00\x01" and pkt[171] == 159
    pkt = tx.packet_for(160)
    assert pkt[1] == 8                    # marker only on the first
    assert bytes(pkt[2:8]) == b"\x12\x35\xa0\xb0\xc1\x70"   # seq + 1, ts + 160
    assert tx.packets == 2 and tx.octets_lo == 320


def test_rfc3551_4_1_marker_on_talkspurt_start_only():
    tx = RtpSender(SSRC, PT_PCMU)
    marks = []
    for i in range(6):
        if i == 3:
            tx.talkspurt()
        marks.append(tx.packet_for(160)[1] >> 7)
    assert marks == [1, 0, 0, 1, 0, 0]


def test_sender_views_are_made_once():
    tx = RtpSender(SSRC, PT_PCMU)
    a = tx.packet_for(160)
    b = tx.packet_for(160)
    assert a is b
    e1 = tx.packet_for(4, 0, 101)
    e2 = tx.packet_for(4, 0, 101)
    assert e1 is e2 and len(e1) == 16
    assert len(tx.packet_for(80)) == 92   # other sizes work (and allocate)
    assert raises(ValueError, RtpSender, b"\x01\x02\x03", PT_PCMU)


def test_sequence_and_timestamp_wrap_round_trip():
    # seq 65535 -> 0 and timestamp 2**32 - 160 -> 0 through sender and receiver.
    tx = RtpSender(SSRC, PT_PCMU, seq=65534, ts_hi=0xFFFF, ts_lo=0x10000 - 320)
    rx = RtpReceiver()
    got = []
    for _ in range(4):
        pkt = tx.packet_for(160)
        assert rx.parse(pkt, len(pkt))
        got.append((rx.seq, rx.ts_hi, rx.ts_lo))
    assert got == [(65534, 0xFFFF, 0xFEC0), (65535, 0xFFFF, 0xFF60), (0, 0, 0), (1, 0, 160)]
    assert rx.ssrc_hi == 0xDEAD and rx.ssrc_lo == 0xBEEF
    assert rx.offset == 12 and rx.length == 160 and rx.payload_type == 0


def test_sender_ints_stay_below_2_30():
    # ESP32 small ints are 31-bit: every int the sender keeps must stay < 2**30
    # through a sequence and a timestamp wrap (2**32 - 160 -> wrap).
    tx = RtpSender(b"\xff\xff\xff\xff", 127, seq=65530, ts_hi=0xFFFF, ts_lo=0xFF60 - 800)
    worst = 0
    for i in range(20):
        tx.packet_for(160 if i % 3 else 4, 0 if i % 7 == 0 else -1, 101 if i % 5 == 0 else -1)
        tx.advance(65535 if i == 10 else 0)
        for name in dir(tx):
            v = getattr(tx, name)
            if isinstance(v, int) and not isinstance(v, bool):
                assert 0 <= v < (1 << 30), name
                worst = max(worst, v)
    assert tx.seq < 20 and worst <= 0xFFFF


def test_receiver_ints_stay_below_2_30():
    rx = RtpReceiver()
    pkt = header(seq=65535, ts=0xFFFFFFFF, ssrc=0xFFFFFFFF, pt=127, marker=1) + bytes(4)
    assert rx.parse(pkt, len(pkt))
    for name in dir(rx):
        v = getattr(rx, name)
        if isinstance(v, int) and not isinstance(v, bool):
            assert 0 <= v < (1 << 30), name
    assert (rx.seq, rx.ts_hi, rx.ts_lo, rx.payload_type, rx.marker) == (65535, 0xFFFF, 0xFFFF, 127, 1)


def test_rfc3550_5_1_csrc_extension_and_padding_are_skipped():
    rx = RtpReceiver()
    csrc = b"\x00\x00\x00\x01\x00\x00\x00\x02"
    ext = b"\xbe\xde\x00\x02" + bytes(8)          # profile, length 2 words, 8 bytes
    payload = b"\x11\x22\x33"
    pad = b"\x00\x00\x03"
    pkt = header(cc=2, x=True, p=True) + csrc + ext + payload + pad
    assert rx.parse(pkt, len(pkt))
    assert rx.offset == 12 + 8 + 12 and rx.length == 3
    assert pkt[rx.offset:rx.offset + rx.length] == payload
    assert rx.malformed == 0 and rx.received == 1


def test_rfc3550_a1_malformed_packets_dropped_and_counted():
    rx = RtpReceiver()
    bad = [
        header()[:11],                                   # shorter than the fixed header
        header(v=1) + b"xx",                             # version 1
        header(v=3) + b"xx",
        header(cc=3) + bytes(8),                         # CSRC list runs past the end
        header(x=True) + b"\xbe\xde",                    # extension header cut
        header(x=True) + b"\xbe\xde\x00\x05" + bytes(4),  # extension longer than packet
        header(p=True) + b"ab\x00",                      # padding count 0
        header(p=True) + b"ab\x09",                      # padding past the header
    ]
    for pkt in bad:
        assert not rx.parse(pkt, len(pkt))
    assert rx.malformed == len(bad) and rx.received == 0 and not rx.latched
    good = header() + b"ab"
    assert rx.parse(good, len(good))
    # n shorter than the buffer: only n bytes count (recv into a bigger buffer)
    buf = bytearray(64)
    buf[:14] = good
    assert rx.parse(buf, 14) and rx.length == 2


def test_rtcp_on_the_rtp_port_is_not_audio():
    rx = RtpReceiver()
    rr = bytes([0x81, 201, 0, 7]) + bytes(28)
    assert not rx.parse(rr, len(rr))
    assert rx.rtcp == 1 and rx.malformed == 0


def test_foreign_ssrc_dropped_after_latching_first():
    rx = RtpReceiver()
    a = header(seq=1, ssrc=0xAAAA0001) + b"a"
    b = header(seq=900, ssrc=0xBBBB0002) + b"b"
    assert rx.parse(a, len(a)) and rx.latched
    for _ in range(3):
        assert not rx.parse(b, len(b))
        assert rx.parse(a, len(a))        # the latched source resets the count
    assert rx.foreign == 3 and rx.received == 4
    assert rx.ssrc_hi == 0xAAAA and rx.ssrc_lo == 0x0001


def test_ssrc_relatched_after_a_sustained_change():
    # A PBX re-bridging changes SSRC: RELATCH packets in a row from one new
    # source, and none from the old, move the latch.
    rx = RtpReceiver()
    a = header(ssrc=0xAAAA0001) + b"a"
    assert rx.parse(a, len(a))
    results = []
    for i in range(RtpReceiver.RELATCH + 2):
        b = header(seq=i, ssrc=0xBBBB0002) + b"b"
        results.append(rx.parse(b, len(b)))
    assert results == [False] * (RtpReceiver.RELATCH - 1) + [True, True, True]
    assert rx.ssrc_changes == 1 and rx.ssrc_hi == 0xBBBB
    assert not rx.parse(a, len(a))        # now the old source is foreign
    rx.unlatch()
    assert rx.parse(a, len(a)) and rx.ssrc_hi == 0xAAAA


def test_seq_diff_and_ts_diff_across_wraps():
    assert seq_diff(0, 65535) == 1 and seq_diff(65535, 0) == -1
    assert seq_diff(5, 5) == 0 and seq_diff(32767, 0) == 32767 and seq_diff(32768, 0) == -32768
    assert ts_diff(0, 0, 0xFFFF, 0xFF60) == 160                    # 0 - (2**32 - 160)
    assert ts_diff(0xFFFF, 0xFF60, 0, 0) == -160
    assert ts_diff(1, 0x10, 0, 0xFFF0) == 0x20
    assert ts_diff(0x4000, 0, 0, 0) is None                        # too far: no long
    assert ts_diff(0x1000, 0, 0, 0) == 0x1000 << 16


def test_rfc4733_2_3_telephone_event_parse_and_pack():
    ev = TelephoneEvent()
    pkt = header(pt=101) + bytes([11, 0x80 | 10, 0x03, 0x20])
    rx = RtpReceiver()
    assert rx.parse(pkt, len(pkt)) and rx.payload_type == 101
    assert ev.parse(pkt, rx.offset, rx.length)
    assert (ev.event, ev.end, ev.volume, ev.duration) == (11, True, 10, 800)
    assert ev.digit() == "#"
    assert not ev.parse(pkt, rx.offset, 3)
    ev.event, ev.end, ev.volume, ev.duration = 5, False, 63, 0xFFFF
    tx = RtpSender(SSRC, PT_PCMU)
    ev.pack_into(tx.payload, 0)
    out = tx.packet_for(4, 0, 101, True)
    assert out[1] == 0x80 | 101 and bytes(out[12:16]) == b"\x05\x3f\xff\xff"
    back = TelephoneEvent()
    assert back.parse(out, 12, 4) and back.digit() == "5" and not back.end
    back.event = 16
    assert back.digit() is None


def test_rfc4733_event_packets_share_a_timestamp_and_keep_audio_marker():
    tx = RtpSender(SSRC, PT_PCMU, ts_lo=1000)
    tx.packet_for(160)                                  # audio, consumes the marker
    first = bytes(tx.packet_for(4, 0, 101, True))       # event start: M=1, ts 1160
    second = bytes(tx.packet_for(4, 0, 101))
    assert first[1] == 0x80 | 101 and second[1] == 101
    assert first[4:8] == second[4:8] == b"\x00\x00\x04\x88"
    assert seq_diff((second[2] << 8) | second[3], (first[2] << 8) | first[3]) == 1
    tx.advance(320)
    audio = tx.packet_for(160)
    assert audio[1] == PT_PCMU and bytes(audio[4:8]) == b"\x00\x00\x05\xc8"
