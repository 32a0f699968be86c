"""Payload numbers per call both ways and answers line for line (RFC 3264 §6, §6.1, §8; RFC 4733 §2.1, §7).

We receive on the numbers in our own SDP and send on the peer's: as
answerer we reuse the offer's numbers, so pjsua's telephone-event on 120
and Asterisk's telephone-event/8000 on 102 (beside 101 at 48 kHz) work.
An answer has exactly the offer's m= lines: one audio stream taken, every
other line refused with port 0 and its own format list."""

from _sipfakes import make_ua, drain, events, RINGING_INVITE
from _net import Net, states
from intercom import config
from intercom.audio import AudioControl
from intercom.sip.message import make_response, Message
from intercom.sip.sdp import parse_sdp
from intercom.media.rtp import RtpSender
from intercom.media.session import MediaSession, FRAME_SAMPLES

PEER_RTP = ("192.0.2.30", 30000)
PEER = ("192.0.2.30", 5060)

PJSUA = ("m=audio 30000 RTP/AVP 0 8 120\r\n"
         "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
         "a=rtpmap:120 telephone-event/8000\r\na=fmtp:120 0-16\r\na=sendrecv\r\n")
ASTERISK_OPUS = ("m=audio 30000 RTP/AVP 107 0 8 101 102\r\n"
                 "a=rtpmap:107 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
                 "a=rtpmap:101 telephone-event/48000\r\na=fmtp:101 0-16\r\n"
                 "a=rtpmap:102 telephone-event/8000\r\na=fmtp:102 0-16\r\na=sendrecv\r\n")
VIDEO = "m=video 30002 RTP/AVP 96 97\r\na=rtpmap:96 H264/90000\r\na=rtpmap:97 VP8/90000\r\n"


def sdp(media, ip="192.0.2.30"):
    return ("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n%s" % (ip, ip, media)).encode()


def invite_with(sdp_body):
    head, _, _old = RINGING_INVITE.partition(b"\r\n\r\n")
    head = head.replace(b"Content-Length: 143", b"Content-Length: %d" % len(sdp_body))
    return head + b"\r\n\r\n" + sdp_body


def answer(offer_body):
    """The door's (status, answer text, media event) for an INVITE with this offer, auto-answered."""
    ua = make_ua()
    ua.cfg["calls"].update({"accept_from": "any", "auto_answer": True})
    ua.receive(invite_with(offer_body), ("192.0.2.30", 5060), 0)
    finals = [resp for resp, _addr in drain(ua) if resp.status >= 200]
    media = [e for e in events(ua) if e["event"] == "media"]
    body = finals[-1].body.decode() if finals and finals[-1].body else ""
    return finals[-1].status, body, media[-1] if media else None, ua


def m_lines(text):
    return [line for line in text.split("\r\n") if line.startswith("m=")]


# --- item 1: payload numbers per call, both ways -------------------------------------------

def test_rfc3264_6_1_answer_reuses_the_offers_payload_type_numbers():
    # a dynamic number for a static codec, and telephone-event on 99
    status, text, media, _ua = answer(sdp("m=audio 30000 RTP/AVP 96 99\r\na=rtpmap:96 PCMA/8000\r\n"
                                          "a=rtpmap:99 telephone-event/8000\r\n"))
    assert status == 200
    assert m_lines(text) == ["m=audio 40000 RTP/AVP 96 99"]
    assert "a=rtpmap:96 PCMA/8000" in text and "a=rtpmap:99 telephone-event/8000" in text
    assert media["codec"] == "PCMA" and media["pt"] == 96 and media["recv_pt"] == 96
    assert media["dtmf_pt"] == 99 and media["recv_dtmf_pt"] == 99


def test_telephone_event_120_from_pjsua_is_received_and_sent_on_120():
    status, text, media, _ua = answer(sdp(PJSUA))
    assert status == 200 and m_lines(text) == ["m=audio 40000 RTP/AVP 0 120"]
    assert "a=rtpmap:120 telephone-event/8000" in text and "101" not in text
    assert media["dtmf_pt"] == 120 and media["recv_dtmf_pt"] == 120
    # the door's AudioControl: pjsua's digits on 120 open the door; ours go out on 120
    audio, relay = door_audio()
    audio.on_media_event(media)
    audio.on_call_event({"id": media["id"], "state": "connected"}, 0)
    key_digits(audio, "1234#", 120)
    assert relay == [True]
    audio.send_digits("5")
    assert audio.session.next_packet(bytearray(2 * FRAME_SAMPLES))[1] & 0x7F == 120


def test_asterisk_opus_offer_telephone_event_8000_chosen_not_48000():
    status, text, media, _ua = answer(sdp(ASTERISK_OPUS))
    assert status == 200 and m_lines(text) == ["m=audio 40000 RTP/AVP 0 102"]
    assert "a=rtpmap:102 telephone-event/8000" in text and "48000" not in text
    assert media["dtmf_pt"] == 102 and media["recv_dtmf_pt"] == 102
    audio, relay = door_audio()
    audio.on_media_event(media)
    audio.on_call_event({"id": media["id"], "state": "connected"}, 0)
    key_digits(audio, "1234#", 101)                 # the 48 kHz events are not ours
    assert relay == [] and audio.session.foreign_pt == 10
    key_digits(audio, "1234#", 102, seq=300)
    assert relay == [True]


class Callee:
    """A peer that answers our INVITE with its own numbers (RFC 3264 §6.1
    says SHOULD reuse: it does not) and remembers the offers it saw."""

    def __init__(self, media):
        self.media = media
        self.offers = []

    def __call__(self, msg, src, net):
        if not msg.is_request or msg.method == "ACK":
            return
        resp = make_response(msg, 200, to_tag="callee")
        if msg.method == "INVITE":
            self.offers.append(msg.body.decode())
            resp.add("Contact", "<sip:peer@192.0.2.9:5060>")
            resp.add("Content-Type", "application/sdp")
            resp.body = sdp(self.media, "192.0.2.9")
        net.send(("192.0.2.9", 5060), src, resp.encode())


def test_we_receive_on_our_numbers_and_send_on_the_peers_in_an_answer_to_our_offer():
    net = Net()
    a = net.phone("192.0.2.1", "door")
    a.seen = []
    callee = Callee("m=audio 30000 RTP/AVP 8 96\r\na=rtpmap:8 PCMA/8000\r\n"
                    "a=rtpmap:96 telephone-event/8000\r\n")
    net.attach(("192.0.2.9", 5060), callee)
    a.dial("sip:peer@192.0.2.9:5060")
    net.run(10)
    seen = a.seen
    assert states(a)[-1] == "connected"
    assert "a=rtpmap:101 telephone-event/8000" in callee.offers[0]
    media = [e for e in seen if e["event"] == "media"][-1]
    assert media["pt"] == 8 and media["recv_pt"] == 8
    assert media["dtmf_pt"] == 96 and media["recv_dtmf_pt"] == 101
    s = MediaSession(lambda n: bytes(n), "door")
    s.start(1, "192.0.2.9", 30000, media["pt"], media["dtmf_pt"], True, True, None,
            media["recv_pt"], media["recv_dtmf_pt"], media["codec"])
    peer = RtpSender(b"\x01\x02\x03\x04", 8, seq=10)
    assert digit_on(s, peer, 101, ("192.0.2.9", 30000)) == "5"      # ours: taken
    assert digit_on(s, peer, 96, ("192.0.2.9", 30000), 11) is None   # theirs: not ours to receive
    assert s.foreign_pt == 1
    s.send_digits("7")
    assert s.next_packet(bytearray(2 * FRAME_SAMPLES))[1] & 0x7F == 96


class Caller:
    """A peer that calls with an offer, ACKs the 2xx and answers re-INVITEs; keeps what it saw."""

    def __init__(self, offer):
        self.offer = offer
        self.seen = []

    def call(self, net, door):
        req = Message.request("INVITE", "sip:door@%s:5060" % door[0])
        self._head(req, "INVITE", 1, "")
        req.add("Content-Type", "application/sdp")
        req.body = self.offer
        net.send(PEER, door, req.encode())

    def _head(self, req, method, cseq, to_tag):
        req.add("Via", "SIP/2.0/UDP %s:%d;branch=z9hG4bKc%s%d" % (PEER[0], PEER[1], method, cseq))
        req.add("From", "<sip:flat@%s>;tag=c1" % PEER[0])
        req.add("To", "<sip:door@192.0.2.20>" + (";tag=" + to_tag if to_tag else ""))
        req.add("Call-ID", "interop-1@192.0.2.30")
        req.add("CSeq", "%d %s" % (cseq, method))
        req.add("Contact", "<sip:flat@%s:%d>" % PEER)
        req.add("Max-Forwards", "70")

    def __call__(self, msg, src, net):
        self.seen.append(msg)
        if not msg.is_request:
            if msg.status == 200 and msg.cseq[1] == "INVITE" and msg.cseq[0] == 1:
                ack = Message.request("ACK", "sip:door@%s:%d" % src)
                tag = msg.get("to").split("tag=")[1]
                self._head(ack, "ACK", 1, tag)
                net.send(PEER, src, ack.encode())
            return
        if msg.method == "ACK":
            return
        resp = make_response(msg, 200, to_tag="c1")
        if msg.method == "INVITE":
            resp.add("Contact", "<sip:flat@%s:%d>" % PEER)
            resp.add("Content-Type", "application/sdp")
            resp.body = sdp(PJSUA.replace("sendrecv", "recvonly"))
        net.send(PEER, src, resp.encode())


def test_rfc3264_8_our_reoffer_keeps_the_numbers_and_m_lines_we_answered_with():
    net = Net()
    door = net.phone("192.0.2.20", "door", auto_answer=True)
    caller = Caller(sdp(VIDEO + PJSUA))
    net.attach(PEER, caller)
    caller.call(net, ("192.0.2.20", 5060))
    net.run(10)
    assert states(door)[-1] == "connected"
    door.hold()
    net.run(10)
    offers = [m.body.decode() for m in caller.seen if m.is_request and m.method == "INVITE"]
    assert len(offers) == 1, "the peer sees our re-INVITE"
    answer_text = [m.body.decode() for m in caller.seen if not m.is_request and m.body][0]
    assert m_lines(answer_text) == ["m=video 0 RTP/AVP 96 97", "m=audio 40000 RTP/AVP 0 120"]
    reoffer = offers[0]
    # never fewer m= lines than before (RFC 3264 §8), and the numbers we answered with (§8.3.2)
    assert m_lines(reoffer) == ["m=video 0 RTP/AVP 96 97", "m=audio 40000 RTP/AVP 0 8 120"]
    assert "a=rtpmap:120 telephone-event/8000" in reoffer and "a=sendonly" in reoffer
    media = [e for e in door.seen if e["event"] == "media"][-1]
    assert media["dtmf_pt"] == 120 and media["recv_dtmf_pt"] == 120


def test_media_session_takes_digits_on_the_advertised_number_and_sends_on_the_peers():
    s = MediaSession(lambda n: bytes(n), "door")
    s.start(1, PEER_RTP[0], PEER_RTP[1], 0, 101, True, True, None, 0, 120, "PCMU")
    peer = RtpSender(b"\x01\x02\x03\x04", 0, seq=10)
    assert digit_on(s, peer, 101, PEER_RTP) is None and s.foreign_pt == 1
    assert digit_on(s, peer, 120, PEER_RTP, 11) == "5"
    s.send_digits("1")
    assert s.next_packet(bytearray(2 * FRAME_SAMPLES))[1] & 0x7F == 101
    # a re-INVITE renumbers: the session follows, without a new stream
    sender = s.sender
    s.update(PEER_RTP[0], PEER_RTP[1], 0, 110, True, True, None, 0, 111, "PCMU")
    assert s.sender is sender and s.dtmf_pt == 110 and s.recv_dtmf_pt == 111
    assert digit_on(s, peer, 111, PEER_RTP, 200) == "5"


def test_g711_on_a_dynamic_number_is_sent_and_received_on_it():
    s = MediaSession(lambda n: bytes(n), "door")
    s.start(1, PEER_RTP[0], PEER_RTP[1], 96, None, True, True, None, 97, None, "PCMA")
    assert s.codec.name == "PCMA"
    assert s.next_packet(bytearray(2 * FRAME_SAMPLES))[1] & 0x7F == 96
    peer = RtpSender(b"\x01\x02\x03\x04", 97, seq=10)
    assert s.receive(bytes(peer.packet_for(FRAME_SAMPLES)), PEER_RTP, 0)
    assert not s.receive(bytes(peer.packet_for(FRAME_SAMPLES, -1, 8)), PEER_RTP, 20)


# --- item 2: answers line for line ------------------------------------------------------------

def test_rfc3264_6_answer_has_as_many_m_lines_as_the_offer_rejected_with_port_0():
    offer = sdp(VIDEO + PJSUA + "m=audio 30004 RTP/AVP 0\r\n"
                "m=application 30006 udp wb\r\n")
    status, text, media, _ua = answer(offer)
    assert status == 200
    assert m_lines(text) == ["m=video 0 RTP/AVP 96 97", "m=audio 40000 RTP/AVP 0 120",
                             "m=audio 0 RTP/AVP 0", "m=application 0 udp wb"]
    assert media["port"] == 30000
    desc = parse_sdp(text)
    assert desc.index == 1 and desc.port == 40000 and len(desc.lines) == 4


def test_port_0_audio_line_is_not_taken():
    status, text, media, _ua = answer(sdp("m=audio 0 RTP/AVP 8\r\n" + PJSUA))
    assert status == 200
    assert m_lines(text) == ["m=audio 0 RTP/AVP 8", "m=audio 40000 RTP/AVP 0 120"]
    assert media["port"] == 30000 and media["codec"] == "PCMU"


def test_savp_port_0_before_avp_line_does_not_cause_488():
    status, text, media, _ua = answer(sdp("m=audio 0 RTP/SAVP 0 8 120\r\n" + PJSUA))
    assert status == 200
    assert m_lines(text) == ["m=audio 0 RTP/SAVP 0 8 120", "m=audio 40000 RTP/AVP 0 120"]
    assert media["port"] == 30000
    # a live SAVP line alone is still refused: we cannot do SRTP
    status, _text, media, _ua = answer(sdp("m=audio 30000 RTP/SAVP 0\r\n"))
    assert status == 488 and media is None


def test_first_audio_line_with_a_common_codec_is_taken():
    status, text, media, _ua = answer(sdp("m=audio 30010 RTP/AVP 107\r\na=rtpmap:107 opus/48000/2\r\n"
                                          + PJSUA))
    assert status == 200
    assert m_lines(text) == ["m=audio 0 RTP/AVP 107", "m=audio 40000 RTP/AVP 0 120"]
    assert media["port"] == 30000


def test_rfc3264_6_answer_keeps_the_offers_rtp_profile():
    status, text, _media, _ua = answer(sdp(PJSUA.replace("RTP/AVP", "RTP/AVPF")))
    assert status == 200 and m_lines(text) == ["m=audio 40000 RTP/AVPF 0 120"]


# --- helpers ------------------------------------------------------------------------------------

class Board:
    def __init__(self, relay):
        self.relay = relay

    def set_relay(self, on, pulse_ms=None):
        if on:
            self.relay.append(on)

    def log(self, level, text):
        pass


def door_audio():
    cfg = config.defaults()
    cfg["door"]["pin"] = "1234"
    relay = []
    return AudioControl(cfg, Board(relay), lambda ev: None, lambda n: bytes(n), "door"), relay


def key_digits(audio, digits, pt, seq=100):
    """The peer keys digits as RFC 4733 events on payload type pt (start and end packet each)."""
    peer = RtpSender(b"\x01\x02\x03\x04", 0, seq=seq, ts_hi=1)
    now = 0
    for ch in digits:
        event = "0123456789*#".index(ch)
        p = peer.payload
        p[0], p[1], p[2], p[3] = event, 0x0A, 0x00, 0xA0          # start, volume 10
        audio.on_rtp(bytes(peer.packet_for(4, 0, pt, True)), PEER_RTP, now)
        p[1], p[2], p[3] = 0x8A, 0x03, 0x20                        # E bit, 800 samples
        audio.on_rtp(bytes(peer.packet_for(4, 800, pt)), PEER_RTP, now + 20)
        now += 200


def digit_on(s, peer, pt, addr, seq=None):
    """One RFC 4733 digit '5' (a single end packet) on payload type pt; the digit taken or None."""
    if seq is not None:
        peer.seq = seq
    p = peer.payload
    p[0], p[1], p[2], p[3] = 5, 0x8A, 0x03, 0x20
    s.receive(bytes(peer.packet_for(4, 800, pt, True)), addr, 0)
    return s.digit
