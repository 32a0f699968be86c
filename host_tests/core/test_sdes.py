"""SDES keys in SDP and the door on secure calls (RFC 4568 §5-§9; media.srtp, door.require_secure)."""

import binascii

from _sipfakes import make_ua, drain, events, RINGING_INVITE
from _net import Net, states
from intercom import config
from intercom.audio import AudioControl
from intercom.media.rtp import RtpSender
from intercom.media.srtp import SrtpContext
from intercom.sip import sdes
from intercom.sip.trace import trace_text

PEER_RTP = ("192.0.2.30", 30000)
KEY = bytes(range(30))
B64 = binascii.b2a_base64(KEY).decode().strip()
S80 = "AES_CM_128_HMAC_SHA1_80"
S32 = "AES_CM_128_HMAC_SHA1_32"


def sdp(media):
    return ("v=0\r\no=- 1 1 IN IP4 192.0.2.30\r\ns=-\r\nc=IN IP4 192.0.2.30\r\nt=0 0\r\n" + media).encode()


def audio_line(proto="RTP/AVP", crypto=()):
    lines = ["m=audio 30000 %s 0 101" % proto, "a=rtpmap:101 telephone-event/8000"]
    lines.extend("a=crypto:" + c for c in crypto)
    return "\r\n".join(lines) + "\r\n"


def answer(offer, srtp="mandatory", over_udp=True):
    """The door's (status, answer text, last media event, ua) for an INVITE with this SDP offer."""
    ua = make_ua()
    ua.cfg["calls"].update({"accept_from": "any", "auto_answer": True})
    ua.cfg["media"].update({"srtp": srtp, "srtp_over_udp": over_udp})
    head, _, _old = RINGING_INVITE.partition(b"\r\n\r\n")
    head = head.replace(b"Content-Length: 143", b"Content-Length: %d" % len(offer))
    ua.receive(head + b"\r\n\r\n" + offer, ("192.0.2.30", 5060), 0)
    finals = [resp for resp, _addr in drain(ua) if resp.status >= 200]
    media = [e for e in events(ua) if e["event"] == "media"]
    body = finals[-1].body.decode() if finals and finals[-1].body else ""
    return finals[-1].status, body, media[-1] if media else None, ua


def crypto_lines(text):
    return [line[9:] for line in text.split("\r\n") if line.startswith("a=crypto:")]


# --- the attribute ------------------------------------------------------------------------------

def test_rfc4568_9_1_inline_key_with_lifetime_and_mki_parsed():
    c = sdes.parse_crypto("1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4")
    assert c.tag == 1 and c.suite == S80 and len(c.key) == 30 and c.mki == b"\x00\x00\x00\x01"
    assert "PS1u" not in repr(c)


def test_rfc4568_6_attribute_round_trips():
    c = sdes.Crypto(3, S32, KEY)
    back = sdes.parse_crypto(c.attribute()[9:])
    assert (back.tag, back.suite, back.key, back.mki) == (3, S32, KEY, b"")


def test_rfc4568_6_unknown_suite_is_skipped_not_an_error():
    assert sdes.parse_crypto("1 AEAD_AES_256_GCM inline:" + B64) is None


def test_rfc4568_6_3_weakening_session_parameters_refused():
    for param in ("UNENCRYPTED_SRTP", "UNAUTHENTICATED_SRTP", "KDR=24"):
        assert sdes.parse_crypto("1 %s inline:%s %s" % (S80, B64, param)) is None, param
    assert sdes.parse_crypto("1 %s inline:%s KDR=0" % (S80, B64)) is not None


def test_rfc4568_malformed_attributes_raise_a_clear_error():
    for bad in ("x AES_CM_128_HMAC_SHA1_80 inline:" + B64, "1 " + S80, "1 %s uri:http://k" % S80,
                "1 %s inline:AAAA" % S80, "1 %s inline:%s|1:999" % (S80, B64), "1 %s inline:%s|never" % (S80, B64)):
        try:
            sdes.parse_crypto(bad)
        except sdes.SdesError:
            continue
        raise AssertionError("accepted " + bad)


# --- offer/answer ---------------------------------------------------------------------------------

def test_rfc4568_7_1_2_answer_takes_the_first_suite_we_run_in_the_offers_order():
    offer = sdp(audio_line("RTP/SAVP", ["1 AEAD_AES_128_GCM inline:" + B64, "2 %s inline:%s" % (S32, B64),
                                        "3 %s inline:%s" % (S80, B64)]))
    status, text, media, _ua = answer(offer)
    assert status == 200 and "m=audio 40000 RTP/SAVP 0 101" in text
    lines = crypto_lines(text)
    assert len(lines) == 1 and lines[0].startswith("2 " + S32 + " inline:") and B64 not in lines[0]
    assert media["srtp"] is True


def test_rfc4568_mandatory_refuses_an_offer_without_keys_with_488():
    status, _text, media, _ua = answer(sdp(audio_line()))
    assert status == 488 and media is None


def test_rfc4568_mandatory_refuses_an_offer_with_only_unknown_suites_with_488():
    status, _text, _media, _ua = answer(sdp(audio_line("RTP/SAVP", ["1 AEAD_AES_256_GCM inline:" + B64])))
    assert status == 488


def test_rfc4568_8_3_sdes_over_plain_udp_refused_unless_configured():
    offer = sdp(audio_line("RTP/SAVP", ["1 %s inline:%s" % (S80, B64)]))
    status, _text, _media, ua = answer(offer, over_udp=False)
    assert status == 488 and any("srtp_over_udp" in line for line in ua.logs)
    assert sdes.mode_for({"srtp": "optional"}, False) == "off"
    assert sdes.mode_for({"srtp": "mandatory"}, True) == "mandatory"


def test_srtp_off_refuses_a_savp_offer_with_488():
    status, _text, _media, _ua = answer(sdp(audio_line("RTP/SAVP", ["1 %s inline:%s" % (S80, B64)])), "off")
    assert status == 488


def test_srtp_off_answers_an_avp_offer_with_crypto_in_clear_without_crypto():
    status, text, media, _ua = answer(sdp(audio_line("RTP/AVP", ["1 %s inline:%s" % (S80, B64)])), "off")
    assert status == 200 and not crypto_lines(text) and media["srtp"] is False and "keys" not in media


def test_optional_accepts_a_clear_offer():
    status, text, media, _ua = answer(sdp(audio_line()), "optional")
    assert status == 200 and not crypto_lines(text) and media["srtp"] is False


def test_two_doors_mandatory_offer_savp_and_agree_on_keys():
    net = Net()
    a = net.phone("192.0.2.1", "a")
    b = net.phone("192.0.2.2", "b", auto_answer=True)
    for ua in (a, b):
        ua.cfg["media"].update({"srtp": "mandatory", "srtp_over_udp": True})
    offers = []
    net.drop = lambda msg, src, dst: offers.append(msg.body.decode()) if msg.body else None
    a.dial("sip:b@192.0.2.2:5060")
    net.run(2000)
    assert states(a)[-1] == "connected" and states(b)[-1] == "connected"
    assert "m=audio 40000 RTP/SAVP" in offers[0] and len(crypto_lines(offers[0])) == 2
    ka = [e for e in a.seen if e["event"] == "media"][-1]["keys"]
    kb = [e for e in b.seen if e["event"] == "media"][-1]["keys"]
    assert ka.tx_key == kb.rx_key and kb.tx_key == ka.rx_key and ka.suite == kb.suite == S80
    assert ka.tx_key != kb.tx_key


def test_optional_offers_avp_with_crypto():
    ua = make_ua()
    ua.cfg["media"].update({"srtp": "optional", "srtp_over_udp": True})
    ua.dial("sip:x@192.0.2.30:5060")
    invite = [m for m, _a in drain(ua) if m.is_request][0]
    text = invite.body.decode()
    assert "m=audio 40000 RTP/AVP " in text and len(crypto_lines(text)) == 2


# --- secrets -----------------------------------------------------------------------------------------

def test_rfc4568_8_1_keys_masked_in_the_sip_trace():
    body = sdp(audio_line("RTP/SAVP", ["1 %s inline:%s|2^20|1:4" % (S80, B64)]))
    text = trace_text("in", b"INVITE sip:x SIP/2.0\r\n\r\n" + body, ("192.0.2.30", 5060))
    assert B64 not in text and "a=crypto:1 " + S80 + " inline:***" in text


def test_keys_reach_the_media_session_and_print_as_stars():
    _status, _text, media, _ua = answer(sdp(audio_line("RTP/SAVP", ["1 %s inline:%s" % (S80, B64)])))
    audio, _relay = door_audio()
    audio.on_media_event(media)
    audio.on_call_event({"event": "call", "id": media["id"], "state": "connected"}, 0)
    assert audio.session.srtp_on and audio.session.srtp_keys.rx_key == KEY
    assert B64 not in repr(media["keys"]) and "***" in repr(media["keys"])


# --- the door on secure calls ---------------------------------------------------------------------------

class Board:
    def __init__(self, relay):
        self.relay = relay
        self.logs = []

    def set_relay(self, on, pulse_ms=None):
        if on:
            self.relay.append(on)

    def log(self, level, text):
        self.logs.append(text)


def door_audio(srtp="mandatory", require=None):
    cfg = config.defaults()
    cfg["door"]["pin"] = "12"
    cfg["door"]["require_secure"] = require
    cfg["media"]["srtp"] = srtp
    relay = []
    emitted = []
    audio = AudioControl(cfg, Board(relay), emitted.append, lambda n: bytes(n), "door")
    audio.emitted = emitted
    return audio, relay


def connect(audio, keys):
    event = {"event": "media", "id": 1, "address": PEER_RTP[0], "port": PEER_RTP[1], "ptime": 20,
             "codec": "PCMU", "pt": 0, "dtmf_pt": 101, "recv_pt": 0, "recv_dtmf_pt": 101,
             "direction": "sendrecv", "peer_ip": None, "rtcp_port": None, "rtcp_address": None,
             "srtp": keys is not None}
    if keys is not None:
        event["keys"] = keys
    audio.on_media_event(event)
    audio.on_call_event({"event": "call", "id": 1, "state": "connected"}, 0)


def key_digits(audio, digits, peer_ctx=None):
    """The peer keys digits as RFC 4733 events (start and end packet each), SRTP if peer_ctx."""
    peer = RtpSender(b"\x01\x02\x03\x04", 0, seq=100, ts_hi=1)
    out = bytearray(100)
    now = 0
    for ch in digits:
        p = peer.payload
        for head, length, marker in (((0x0A, 0x00, 0xA0), 0, True), ((0x8A, 0x03, 0x20), 800, False)):
            p[0] = "0123456789*#".index(ch)
            p[1], p[2], p[3] = head
            packet = bytes(peer.packet_for(4, length, 101, marker))
            if peer_ctx is not None:
                packet = bytes(out[:peer_ctx.protect(packet, len(packet), out)])
            audio.on_rtp(packet, PEER_RTP, now)
            now += 20
        now += 200


def test_door_require_secure_defaults_on_with_srtp_and_off_without():
    assert door_audio("off")[0].require_secure is False
    assert door_audio("optional")[0].require_secure is True
    assert door_audio("mandatory", False)[0].require_secure is False
    assert door_audio("off", True)[0].require_secure is True


def test_door_require_secure_clear_rfc4733_pin_never_opens():
    audio, relay = door_audio("optional")
    connect(audio, None)
    key_digits(audio, "12#")
    assert relay == [] and [e["secure"] for e in audio.emitted if e["event"] == "dtmf"] == [False] * 3


def test_door_require_secure_srtp_rfc4733_pin_opens():
    audio, relay = door_audio()
    keys = sdes.Keys(S80, bytes(30), S80, KEY, b"")
    connect(audio, keys)
    key_digits(audio, "12#", SrtpContext(S80, KEY))
    assert relay == [True]


def test_door_require_secure_forged_srtp_digits_dropped_and_counted():
    audio, relay = door_audio()
    connect(audio, sdes.Keys(S80, bytes(30), S80, KEY, b""))
    key_digits(audio, "12#", SrtpContext(S80, bytes(reversed(KEY))))     # a wrong key
    assert relay == [] and audio.session.srtp.auth_failed == 6


def test_door_require_secure_info_over_plain_udp_never_opens():
    audio, relay = door_audio()
    connect(audio, sdes.Keys(S80, bytes(30), S80, KEY, b""))
    for d in "12#":
        audio.on_digit(d, 1, 0, "info", False)
    assert relay == []
    for d in "12#":
        audio.on_digit(d, 1, 0, "info", True)          # INFO over TLS
    assert relay == [True]


def test_door_require_secure_false_lets_clear_digits_open():
    audio, relay = door_audio("optional", False)
    connect(audio, None)
    key_digits(audio, "12#")
    assert relay == [True]
