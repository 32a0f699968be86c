"""The one name-addr formatter for headers we build (RFC 3261 §20.10, §25.1 quoted-string)."""

from intercom.sip.uri import format_name_addr, parse_name_addr
from intercom.sip.message import parse
from intercom.sip.validate import check_request


def test_rfc3261_25_1_display_name_quoted_pairs_escaped_and_controls_dropped():
    cases = [
        ('Door "A"', 'Door "A"'),
        ("back\\slash", "back\\slash"),
        ("trailing \\", "trailing \\"),
        ('\\"', '\\"'),
        ("line\r\nX-Evil: 1", "lineX-Evil: 1"),
        ("nul\x00 tab\t del\x7f", "nul tab del"),
        ("Tür 1 ☎", "Tür 1 ☎"),
    ]
    for display, shown in cases:
        text = format_name_addr(display, "sip:door@192.0.2.20:5062", ";tag=abc")
        assert "\r" not in text and "\n" not in text, text
        na = parse_name_addr(text)
        assert na.display == shown, (display, text, na.display)
        assert str(na.uri) == "sip:door@192.0.2.20:5062" and na.tag == "abc", text
        # and inside a whole request our own parser and validator accept it
        raw = ("OPTIONS sip:x@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bKn1\r\n"
               "From: %s\r\nTo: %s\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n"
               "Content-Length: 0\r\n\r\n") % (text, format_name_addr(display, "sip:x@192.0.2.1"))
        msg = parse(raw.encode())
        check_request(msg)
        assert msg.from_.display == shown and msg.to.display == shown


def test_rfc3261_20_10_no_display_name_gives_bare_angle_uri():
    assert format_name_addr(None, "sip:a@b") == "<sip:a@b>"
    assert format_name_addr("", "sip:a@b", ";tag=1") == "<sip:a@b>;tag=1"
    assert format_name_addr("A", parse_name_addr("<sip:a@b:5070>").uri) == '"A" <sip:a@b:5070>'
