"""One call's media stream (RFC 3550 §5.1, §6.4; RFC 4733): reuse across calls, a clean start for each."""

from _helpers import heap_locked
from intercom.media import g711
from intercom.media.session import MediaSession, FRAME_SAMPLES
from intercom.media.rtp import RtpSender, RtpReceiver
from intercom.media.jitter import JitterBuffer
from intercom.media.rtcp import RtcpReporter
from intercom.media.dtmf import DtmfReceiver, DtmfSender


def seeds(*values):
    """random_bytes for MediaSession: each call returns the next 8-byte seed."""
    left = list(values)

    def random_bytes(n):
        return left.pop(0)[:n]
    return random_bytes


SEED_A = b"\x11\x22\x33\x44\x01\x02\x03\x04"
SEED_B = b"\xaa\xbb\xcc\xdd\x05\x06\x07\x08"
PEER = ("192.0.2.7", 4000)


def run_call(session, peer_ssrc, frames=10, pt=0):
    """Peer packets in, our packets out, frames times; then a DTMF '5' event."""
    peer = RtpSender(peer_ssrc, pt, seq=100)
    mic = bytearray(2 * FRAME_SAMPLES)
    spk = bytearray(2 * FRAME_SAMPLES)
    for i in range(frames):
        peer.payload[0] = i
        session.receive(bytes(peer.packet_for(FRAME_SAMPLES)), PEER, 20 * i)
        session.next_packet(mic)
        session.play(spk)
    peer.payload[0:4] = b"\x05\x8a\x03\x20"          # event 5, E bit, volume 10, 800
    session.receive(bytes(peer.packet_for(4, 0, 101)), PEER, 20 * frames)
    return session.digit


def test_second_call_reuses_the_stream_objects_and_starts_clean():
    s = MediaSession(seeds(SEED_A, SEED_B), "door")
    s.start("c1", PEER[0], PEER[1], 0, 101, True, True)
    objects = (s.sender, s.receiver, s.jitter, s.rtcp, s.dtmf_rx, s.dtmf_tx)
    assert run_call(s, b"\x01\x01\x01\x01") == "5"
    first = s.stop()
    assert first["packets_sent"] == 10 and first["received"] >= 10
    remote = first["remote"]
    frozen = dict(remote)

    s.start("c2", PEER[0], PEER[1], 8, 101, True, True)     # PCMA this time
    assert (s.sender, s.receiver, s.jitter, s.rtcp, s.dtmf_rx, s.dtmf_tx) == objects
    for new, old in zip((s.sender, s.receiver, s.jitter, s.rtcp, s.dtmf_rx, s.dtmf_tx), objects):
        assert new is old
    # a new SSRC (RFC 3550 §8.1) from the new seed, in RTP and in RTCP RR + SDES
    assert bytes(s.sender.buf[8:12]) == SEED_B[:4]
    assert bytes(s.rtcp.buf[4:8]) == SEED_B[:4] and bytes(s.rtcp.sdes[4:8]) == SEED_B[:4]
    assert s.sender.seq == 0x0506 and s.sender.ts_hi == 0x0708 and s.sender.ts_lo == 0
    assert s.sender.payload_type == 8 and s.codec is g711.PCMA
    assert s.sender.packets == 0 and not s.receiver.latched and s.receiver.received == 0
    assert s.jitter.received == 0 and s.jitter.silence == g711.SILENCE_ALAW
    assert s.rtcp.remote is not remote and s.rtcp.lsr_at is None and not s.rtcp.stats.started
    assert s.dtmf_rx.digits == 0 and not s.dtmf_tx.active
    assert remote == frozen                     # the first call's statistics stay as they were
    # the first packet of the new stream carries the marker bit (a talk spurt)
    packet = s.next_packet(bytearray(2 * FRAME_SAMPLES))
    assert packet[1] == 0x80 | 8 and packet[2:4] == b"\x05\x06"
    assert run_call(s, b"\x02\x02\x02\x02", pt=8) == "5"
    second = s.stop()
    assert second["packets_sent"] == 11 and second["foreign_ssrc"] == 0


def test_reset_objects_match_fresh_ones():
    # Every reset() leaves exactly the state a new object starts in.
    ssrc = b"\x09\x08\x07\x06"
    used = MediaSession(seeds(SEED_A), "door")
    used.start("c1", PEER[0], PEER[1], 0, 101, True, True)
    run_call(used, b"\x01\x01\x01\x01", frames=30)
    used.dtmf_tx.start("12#")
    used.next_packet(bytearray(2 * FRAME_SAMPLES))

    used.sender.reset(ssrc, 8, seq=7, ts_hi=9)
    fresh = RtpSender(ssrc, 8, seq=7, ts_hi=9)
    # header bytes 1..7 and the payload are written per packet; V and SSRC are kept
    assert used.sender.buf[0] == fresh.buf[0] and used.sender.buf[8:12] == fresh.buf[8:12]
    for name in ("payload_type", "seq", "ts_hi", "ts_lo", "packets", "octets_hi", "octets_lo", "_marker"):
        assert getattr(used.sender, name) == getattr(fresh, name), name
    used.receiver.reset()
    assert used.receiver.__dict__ == RtpReceiver().__dict__
    used.dtmf_rx.reset()
    assert used.dtmf_rx.__dict__ == DtmfReceiver().__dict__
    used.dtmf_tx.reset()
    assert used.dtmf_tx.__dict__ == DtmfSender().__dict__
    used.rtcp.reset(ssrc)
    rtcp = RtcpReporter(ssrc, "door")
    assert used.rtcp.buf == rtcp.buf and used.rtcp.lsr == rtcp.lsr and used.rtcp.remote == rtcp.remote
    assert used.rtcp.sdes == rtcp.sdes and used.rtcp.rand == rtcp.rand and used.rtcp.reports == 0
    assert used.rtcp.stats.__dict__ == rtcp.stats.__dict__ and used.rtcp.next_report is None
    used.jitter.reset(g711.PCMA)
    jb = JitterBuffer(g711.PCMA)
    for name in jb.__dict__:
        # buffers and slot lengths: don't-care while every tag is -1
        if name not in ("_ring", "_views", "_conceal", "_lens"):
            assert getattr(used.jitter, name) == getattr(jb, name), name


def test_the_20ms_path_allocates_nothing_on_a_reused_session():
    s = MediaSession(seeds(SEED_A, SEED_B), "door")
    s.start("c1", PEER[0], PEER[1], 0, 101, True, True)
    run_call(s, b"\x01\x01\x01\x01")
    s.stop()
    s.start("c2", PEER[0], PEER[1], 0, 101, True, True, PEER[0])
    packet = bytes(RtpSender(b"\x03\x03\x03\x03", 0, seq=5).packet_for(FRAME_SAMPLES))
    mic = bytearray(2 * FRAME_SAMPLES)
    spk = bytearray(2 * FRAME_SAMPLES)
    s.receive(packet, PEER, 0)

    # foreign RTP, from another host and from a NAT latch candidate (the
    # signalling IP, another port); one cell, as a MicroPython closure over
    # more than 5 variables allocates its argument array on every call
    foreign = (bytes(RtpSender(b"\x06\x06\x06\x06", 0, seq=9).packet_for(FRAME_SAMPLES)),
               ("198.51.100.66", 40000), (PEER[0], 4010))

    def frames():
        for i in range(50):
            s.receive(packet, PEER, 20 * i)
            s.receive(foreign[0], foreign[1], 20 * i)              # dropped and counted
            s.receive(foreign[0], foreign[2], 20 * i)
            s.next_packet(mic)
            s.play(spk)
            s.receive_rtcp(packet, 20 * i)                          # not an SR/RR of the source
    heap_locked(frames)
    assert s.sender.packets == 50 and s.source == PEER and s.foreign_source == 100


def test_memory_error_while_building_the_stream_leaves_no_half_built_session():
    """A MemoryError in the first start() (a small heap at call setup) must not leave
    some stream objects built and others None: the next start() builds them all."""
    from intercom.media import session as session_module
    real = session_module.JitterBuffer

    def no_memory(codec):
        raise MemoryError("memory allocation failed, allocating 752 bytes")
    s = MediaSession(seeds(SEED_A, SEED_B), "door")
    session_module.JitterBuffer = no_memory
    try:
        try:
            s.start("c1", PEER[0], PEER[1], 0, 101, True, True)
            raised = False
        except MemoryError:
            raised = True
    finally:
        session_module.JitterBuffer = real
    assert raised and not s.active and s.sender is None
    s.start("c1", PEER[0], PEER[1], 0, 101, True, True)        # the retry builds everything
    assert s.active and s.jitter is not None and s.receiver is not None
    assert run_call(s, b"\x01\x01\x01\x01") == "5"
