"""RFC 3605 a=rtcp in the peer's SDP: parsed into the offer, carried to the media stream."""

from intercom.sip.sdp import parse_sdp, SdpError
from test_sdp_interop import answer, sdp, door_audio

SDP = ("v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n"
       "m=audio 4000 RTP/AVP 0\r\na=rtcp:%s\r\n")


def test_rfc3605_2_1_a_rtcp_attribute_parsed():
    offer = parse_sdp(SDP % "53020")
    assert (offer.rtcp_port, offer.rtcp_address) == (53020, None)
    offer = parse_sdp(SDP % "53020 IN IP4 198.51.100.9")
    assert (offer.rtcp_port, offer.rtcp_address) == (53020, "198.51.100.9")
    offer = parse_sdp(SDP.replace("a=rtcp:%s\r\n", ""))
    assert (offer.rtcp_port, offer.rtcp_address) == (None, None)


def test_rfc3605_2_1_bad_a_rtcp_is_a_clear_error():
    for bad in ("x", "0", "70000", "53020 IN IP4", "53020 IN IP6 ::1", "53020 IN IP4 224.0.0.1"):
        try:
            parse_sdp(SDP % bad)
        except SdpError as err:
            assert "rtcp" in str(err)
            continue
        raise AssertionError("a=rtcp:%s accepted" % bad)


def test_rfc3605_a_rtcp_of_a_stream_not_taken_is_not_read():
    body = (SDP % "53020").replace("m=audio 4000", "m=video 4002 RTP/AVP 96\r\na=rtcp:x IN IP6 ::1\r\n"
                                   "m=audio 4000")
    offer = parse_sdp(body)
    assert offer.rtcp_port == 53020 and offer.port == 4000


def test_rfc3605_a_rtcp_port_honoured_from_the_offer_to_the_stream():
    status, _text, media, _ua = answer(sdp("m=audio 30000 RTP/AVP 0\r\na=rtcp:30011 IN IP4 192.0.2.31\r\n"))
    assert status == 200 and (media["rtcp_port"], media["rtcp_address"]) == (30011, "192.0.2.31")
    audio, _relay = door_audio()
    audio.on_media_event(media)
    audio.on_call_event({"id": media["id"], "state": "connected"}, 0)
    assert audio.session.rtcp_dest == ("192.0.2.31", 30011)
    # a re-INVITE without a=rtcp: back to the RTP port + 1 (RFC 3550 §11)
    media = dict(media, rtcp_port=None, rtcp_address=None)
    audio.on_media_event(media)
    assert audio.session.rtcp_dest == ("192.0.2.30", 30001)
