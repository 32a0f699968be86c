"""Values a peer's SDP hands us are checked before media uses them (RFC 4566 §5.7, §5.14; RFC 3264 §6)."""

from _sipfakes import make_ua, drain, events, RINGING_INVITE
from intercom.sip.sdp import parse_sdp, SdpError


def body(c_line="c=IN IP4 192.0.2.30", m_port="30000"):
    return ("v=0\r\no=- 1 1 IN IP4 192.0.2.30\r\ns=-\r\n%s\r\nt=0 0\r\nm=audio %s RTP/AVP 0\r\n"
            % (c_line, m_port)).encode()


def refused(data):
    try:
        parse_sdp(data)
    except SdpError:
        return True
    return False


def invite_with(sdp_body):
    head, _, _old = RINGING_INVITE.partition(b"\r\n\r\n")
    head = head.replace(b"Content-Length: 143", b"Content-Length: %d" % len(sdp_body))
    return head + b"\r\n\r\n" + sdp_body


def test_rfc4566_5_14_media_port_above_65535_is_refused():
    for port in ("65536", "99999", "999999999999"):
        assert refused(body(m_port=port)), port
    assert parse_sdp(body(m_port="65535")).port == 65535


def test_rfc3264_6_audio_stream_with_port_0_is_refused_with_488():
    assert refused(body(m_port="0"))
    ua = make_ua()
    ua.cfg["calls"]["accept_from"] = "any"
    ua.receive(invite_with(body(m_port="0")), ("192.0.2.30", 5060), 0)
    assert [resp.status for resp, _addr in drain(ua)] == [488]
    assert [e for e in events(ua) if e["event"] in ("call", "media")] == []


def test_rfc4566_5_7_connection_address_must_be_a_unicast_ipv4_literal():
    # names would need DNS on the media path; IPv6 and multicast we cannot send to
    for c_line in ("c=IN IP4 pbx.example", "c=IN IP6 ::1", "c=IN IP4 999.1.1.1", "c=IN IP4 224.2.1.1/127",
                   "c=IN IP4 192.0.2.9/127", "c=IN IP4 " + "9" * 300, "c=IN IP4 1.2.3"):
        assert refused(body(c_line=c_line)), c_line
    assert parse_sdp(body(c_line="c=IN IP4 127.0.0.1")).address == "127.0.0.1"
    assert parse_sdp(body(c_line="c=IN IP4 0.0.0.0")).hold          # RFC 2543 hold stays usable
    # only the audio stream's address counts: a session-level IPv6 c= it overrides is fine
    data = ("v=0\r\no=- 1 1 IN IP4 192.0.2.30\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n"
            "m=audio 30000 RTP/AVP 0\r\nc=IN IP4 192.0.2.30\r\n").encode()
    assert parse_sdp(data).address == "192.0.2.30"

