"""Whose RTP a call takes and when a silent call ends (RFC 3550 §5.1, §8.2; RFC 3261 §15; issue 9 items 3 and 6).

The source rule: RTP from exactly the SDP address and port always wins; only
after a second of silence from there may a NAT'd peer be latched, from the
signalling peer's IP, one SSRC in strict sequence; nothing else ever takes
the stream. The media timeout: a connected call that hears no RTP and no
RTCP from its accepted source for calls.media_timeout ends with BYE."""

from _net import Net, states, last_call
from intercom import config
from intercom.audio import AudioControl
from intercom.app import App
from intercom.media.rtp import RtpSender
from intercom.media.session import MediaSession, FRAME_SAMPLES
from intercom.ticks import ticks_diff

SDP = ("192.0.2.7", 4000)            # where the peer's SDP says its RTP is
PEER_IP = "192.0.2.7"                # where its signalling comes from
ATTACKER = ("198.51.100.66", 40000)  # another host on the LAN


def seeds(n):
    return bytes(range(1, n + 1))


class Source:
    """One RTP sender: an address, an SSRC, consecutive sequence numbers."""

    def __init__(self, addr, ssrc, pt=0, seq=1000):
        self.addr = addr
        self.tx = RtpSender(ssrc, pt, seq=seq)

    def packet(self, code=0x55):
        for i in range(FRAME_SAMPLES):
            self.tx.payload[i] = code
        return bytes(self.tx.packet_for(FRAME_SAMPLES))

    def digit(self, event):
        p = self.tx.payload
        p[0], p[1], p[2], p[3] = event, 0x8A, 0x03, 0x20           # E bit, 800 samples
        return bytes(self.tx.packet_for(4, 0, 101, True))


def session(address=SDP, peer_ip=PEER_IP):
    s = MediaSession(seeds, "door")
    s.start(1, address[0], address[1], 0, 101, True, True, peer_ip)
    return s


def feed(s, src, t0, count, step=20, code=0x55):
    """count packets from src, one every step ms from t0; the last time used."""
    t = t0
    for i in range(count):
        t = t0 + i * step
        s.receive(src.packet(code), src.addr, t)
    return t


# --- item 3: the source rule ---------------------------------------------------------


def test_rtp_from_the_sdp_address_always_wins():
    s = session()
    attacker = Source(ATTACKER, b"\x66\x66\x66\x66")
    real = Source(SDP, b"\x01\x02\x03\x04")
    feed(s, attacker, 0, 10, code=0x11)                 # sprayed before the peer's first packet
    assert s.dest == SDP and s.source is None and s.jitter.received == 0
    feed(s, real, 200, 10, code=0x22)
    assert s.source == SDP and s.dest == SDP and not s.nat
    assert s.jitter.received == 10 and s.receiver.ssrc_hi == 0x0102
    feed(s, attacker, 400, 50, code=0x11)               # and afterwards: never left for another
    assert s.source == SDP and s.dest == SDP and s.jitter.received == 10
    stats = s.stop()
    assert stats["foreign_source"] == 60 and stats["rtp_source"] == "sdp"

    # even a NAT latch gives way the moment the SDP address is heard
    s = session()
    nat = Source(("192.0.2.7", 61000), b"\x0a\x0a\x0a\x0a")
    feed(s, nat, 0, 60)
    assert s.source == nat.addr and s.nat
    s.receive(real.packet(), SDP, 1300)
    assert s.source == SDP and s.dest == SDP and not s.nat and s.rtcp_dest == ("192.0.2.7", 4001)
    feed(s, nat, 1320, 200)                             # 4 s later the NAT source is still refused
    assert s.source == SDP and s.dest == SDP


def test_foreign_source_never_takes_the_stream():
    s = session()
    attacker = Source(ATTACKER, b"\x66\x66\x66\x66")    # one SSRC, perfect sequence, for 10 s
    feed(s, attacker, 0, 500, code=0x11)
    assert s.dest == SDP and s.jitter.received == 0 and s.receiver.received == 0
    assert s.source is None and s.settled(10000) is None
    s.receive(attacker.digit(5), ATTACKER, 10000)       # its DTMF opens nothing
    assert s.digit is None
    # a foreign port on the signalling peer's own IP, while the SDP address is live
    s.receive(Source(SDP, b"\x01\x02\x03\x04").packet(), SDP, 10020)
    same_ip = Source(("192.0.2.7", 4010), b"\x77\x77\x77\x77")
    feed(s, same_ip, 10040, 200)
    assert s.source == SDP and s.dest == SDP and s.jitter.received == 1
    assert s.stop()["foreign_source"] == 701


def test_nat_latch_only_after_silence_from_sdp_address_and_only_from_signalling_ip_with_one_ssrc_in_sequence():
    private = ("10.0.0.5", 4000)                        # the SDP names the peer's private address
    public = ("203.0.113.5", 61000)                     # its packets come from the NAT's
    s = session(private, "203.0.113.5")
    nat = Source(public, b"\x0b\x0b\x0b\x0b")
    last = feed(s, nat, 0, 50)                          # 0..980 ms: not yet a second of silence
    assert s.dest == private and s.jitter.received == 0 and s.source is None
    s.receive(nat.packet(), public, last + 20)          # 1000 ms: latched, media goes there
    assert s.source == public and s.nat and s.dest == public and s.rtcp_dest == ("203.0.113.5", 61001)
    assert s.settled(last + 20) == public and s.jitter.received == 1
    assert s.stop()["rtp_source"] == "nat"

    # from another IP than the signalling peer's: never
    s = session(private, "203.0.113.5")
    feed(s, Source(("203.0.113.6", 61000), b"\x0b\x0b\x0b\x0b"), 0, 200)
    assert s.source is None and s.dest == private
    # a new SSRC on every packet: never
    s = session(private, "203.0.113.5")
    for i in range(200):
        s.receive(Source(public, bytes([1, 2, 3, i])).packet(), public, 20 * i)
    assert s.source is None and s.dest == private
    # gaps in the sequence (every other number): never
    s = session(private, "203.0.113.5")
    gappy = Source(public, b"\x0b\x0b\x0b\x0b")
    for i in range(200):
        gappy.tx.seq = (2 * i) & 0xFFFF
        s.receive(gappy.packet(), public, 20 * i)
    assert s.source is None and s.dest == private
    # another payload type than the call's: never
    s = session(private, "203.0.113.5")
    feed(s, Source(public, b"\x0b\x0b\x0b\x0b", pt=8), 0, 200)
    assert s.source is None
    # no signalling IP known: never
    s = session(private, None)
    feed(s, Source(public, b"\x0b\x0b\x0b\x0b"), 0, 200)
    assert s.source is None and s.stop()["foreign_source"] == 200


def test_reinvite_moving_media_does_not_reopen_the_hijack_window():
    s = session()
    real = Source(SDP, b"\x01\x02\x03\x04")
    attacker = Source(ATTACKER, b"\x66\x66\x66\x66")
    feed(s, real, 0, 10)
    assert s.source == SDP
    # a re-INVITE that only changes the direction keeps the source
    s.update(SDP[0], SDP[1], 0, 101, True, False, PEER_IP)
    assert s.source == SDP and s.settled(220) == SDP
    s.update(SDP[0], SDP[1], 0, 101, True, True, PEER_IP)
    # a re-INVITE that moves the media: the attacker sprays first, for 5 s
    moved = ("192.0.2.7", 5000)
    s.update(moved[0], moved[1], 0, 101, True, True, PEER_IP)
    received = s.jitter.received
    feed(s, attacker, 300, 250)
    assert s.dest == moved and s.jitter.received == received and s.source is None
    new = Source(moved, b"\x05\x06\x07\x08")
    feed(s, new, 5400, 5)
    assert s.source == moved and s.dest == moved and s.receiver.ssrc_hi == 0x0506
    feed(s, attacker, 5500, 100)
    assert s.source == moved and s.jitter.received == received + 5


class Board:
    """Just enough board for the App and AudioControl."""

    def __init__(self):
        self.description = {"roles": {"talk": {"kind": "button"}, "hangup": {"kind": "button"}},
                            "capabilities": {}}
        self.events = []
        self.logs = []
        self.audio = None

    def emit(self, event):
        self.events.append(event)

    def log(self, level, text):
        self.logs.append(text)

    def set_led(self, pattern):
        pass

    def set_relay(self, on, pulse_ms=None):
        pass

    def set_in_call(self, on):
        pass


def audio_control():
    cfg = config.defaults()
    return AudioControl(cfg, Board(), lambda ev: None, seeds, "door")


def test_held_calls_late_packets_do_not_feed_the_new_call():
    # Call waiting through one PBX (signalling from 192.0.2.10): call 1 is
    # behind NAT (its SDP is private, its RTP comes from the PBX's 30000),
    # call 2 is answered while call 1's packets are still on their way.
    audio = audio_control()
    pbx = "192.0.2.10"
    audio.on_media_event({"id": 1, "address": "10.0.0.5", "port": 4000, "pt": 0, "dtmf_pt": 101,
                          "direction": "sendrecv", "peer_ip": pbx})
    audio.on_call_event({"id": 1, "state": "connected"}, 0)
    first = Source((pbx, 30000), b"\x01\x01\x01\x01")
    last = feed(audio.session, first, 0, 60, code=0x11)
    assert audio.session.dest == (pbx, 30000) and audio.session.nat

    audio.on_call_event({"id": 2, "state": "incoming", "waiting": True}, last)
    audio.on_media_event({"id": 2, "address": pbx, "port": 4002, "pt": 0, "dtmf_pt": 101,
                          "direction": "sendrecv", "peer_ip": pbx})
    audio.on_call_event({"id": 2, "state": "connected"}, last)
    audio.on_media_event({"id": 1, "address": "10.0.0.5", "port": 4000, "pt": 0, "dtmf_pt": 101,
                          "direction": "sendonly", "peer_ip": pbx})
    audio.on_call_event({"id": 1, "state": "on_hold"}, last)
    s = audio.session
    assert s.call_id == 2 and s.dest == (pbx, 4002)
    # the held party keeps sending in sequence for 3 s, from its latched
    # source and from its SDP address, while call 2's peer is still silent
    t = feed(s, first, last + 20, 150, code=0x11)
    feed(s, Source(("10.0.0.5", 4000), b"\x01\x01\x01\x01"), t, 10, code=0x11)
    assert s.dest == (pbx, 4002) and s.jitter.received == 0 and s.source is None
    second = Source((pbx, 4002), b"\x02\x02\x02\x02")
    t = feed(s, second, t + 200, 10, code=0x22)
    feed(s, first, t + 20, 50, code=0x11)
    assert s.source == (pbx, 4002) and s.jitter.received == 10 and s.receiver.ssrc_hi == 0x0202
    assert s.stop()["foreign_source"] == 210


# --- item 6: the media timeout ---------------------------------------------------------


A = ("192.0.2.1", 5060)
B = ("192.0.2.2", 5060)
A_RTP = ("192.0.2.1", 40000)         # A's SDP: its host and the default rtp_port


class Door:
    """Phone B with the App on top, driven like the driver does: clock, events, tick."""

    def __init__(self, media_timeout=None):
        self.net = Net()
        self.a = self.net.phone(A[0], "alice")
        self.b = self.net.phone(B[0], "door")
        if media_timeout is not None:
            self.b.cfg["calls"]["media_timeout"] = media_timeout
        self.board = Board()
        self.app = App(self.b, self.board, self.b.cfg, seeds)
        self.seen = 0
        self.rtp = Source(A_RTP, b"\x0a\x0b\x0c\x0d")

    def run(self, ms, step=1000, rtp=False):
        """ms of time in step-ms slices: the network, the App's events and tick,
        and with rtp=True a packet from A's SDP address every slice."""
        for _ in range(ms // step):
            self.net.run(step)
            self.events()
            now = self.net.now
            if rtp:
                self.app.audio.on_rtp(self.rtp.packet(), A_RTP, now)
            self.app.tick(now)
            self.net.run(0)
            self.events()

    def events(self):
        while self.seen < len(self.b.seen):
            self.app.on_event(self.b.seen[self.seen])
            self.seen += 1

    def connect(self):
        self.a.dial("sip:door@192.0.2.2:5060")
        self.run(1000)
        self.b.answer()
        self.run(1000)
        assert states(self.b)[-1] == "connected" and self.app.audio.session.active

    def ended(self):
        ev = last_call(self.b)
        return ev["reason"] if ev["state"] == "ended" else None

    def rtcp_sr(self, ssrc=b"\x0a\x0b\x0c\x0d"):
        return (b"\x80\xc8\x00\x06" + ssrc + b"\x00" * 20)


def test_media_timeout_ends_a_connected_call():
    door = Door()
    door.connect()
    door.run(5000, step=20, rtp=True)                  # 5 s of audio, then the peer vanishes
    quiet_from = door.net.now
    deadline = door.app.next_deadline()
    assert ticks_diff(deadline, quiet_from) == 30000
    door.run(29000)
    assert door.ended() is None
    door.run(2000)
    assert door.ended() == "media_timeout"
    ended_at = [e for e in door.b.seen if e["event"] == "call" and e["state"] == "ended"][-1]
    assert ended_at["media"]["received"] >= 200
    assert door.net.summaries()[-2:] == ["BYE", "200 BYE"]
    assert last_call(door.a)["reason"] == "remote_hangup"

    # calls.media_timeout 0: off
    door = Door(media_timeout=0)
    door.connect()
    door.run(120000, step=10000)
    assert door.ended() is None and states(door.b)[-1] == "connected"


def test_rtcp_keeps_the_call_alive():
    door = Door()
    door.connect()
    door.run(2000, step=20, rtp=True)
    for _ in range(12):                                # 60 s of RTCP only, one SR every 5 s
        door.run(5000)
        assert door.app.audio.session.receive_rtcp(door.rtcp_sr(), door.net.now)
    assert door.ended() is None and states(door.b)[-1] == "connected"
    # RTCP from another stream's SSRC (anyone can send to our RTCP port) keeps nothing alive
    for _ in range(7):
        door.run(5000)
        assert not door.app.audio.session.receive_rtcp(door.rtcp_sr(b"\x66\x66\x66\x66"), door.net.now)
    assert door.ended() == "media_timeout"


def test_no_media_timeout_while_on_hold():
    door = Door()
    door.connect()
    door.run(2000, step=20, rtp=True)
    door.b.hold()                                      # we hold: on_hold, the SIP side probes instead
    door.run(1000)
    assert states(door.b)[-1] == "on_hold"
    door.run(90000, step=5000)
    assert door.ended() is None
    door.b.resume()
    door.run(1000)
    assert states(door.b)[-1] == "connected"
    door.a.hold()                                      # the peer holds us: remote_hold
    door.run(1000)
    assert states(door.b)[-1] == "remote_hold"
    door.run(90000, step=5000)
    assert door.ended() is None
    door.a.resume()
    door.run(1000)
    assert states(door.b)[-1] == "connected"
    door.run(27000)                                    # silence counts from the resume, not the hold
    assert door.ended() is None
    door.run(4000)
    assert door.ended() == "media_timeout"
