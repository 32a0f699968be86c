"""SIP codec rules, one test per requirement (RFC 3261 §7, §18.3, §19.1, §20, §25; RFC 3581)."""

from _helpers import raises
from intercom.sip.message import parse, make_response, Message, ParseError
from intercom.sip.validate import check_request
from intercom.sip.uri import parse_uri, parse_name_addr, parse_via, unescape, SyntaxErr

INVITE = (b"INVITE sip:bob@192.0.2.4:5070;transport=udp SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport\r\n"
          b"v: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKnashds8;received=10.0.0.1, SIP/2.0/UDP 10.0.0.2\r\n"
          b"Max-Forwards: 70\r\n"
          b"To: Bob <sip:bob@biloxi.example.com>\r\n"
          b"f: \"Alice, A.\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
          b"i: a84b4c76e66710@pc33.atlanta.example.com\r\n"
          b"CSeq: 314159 INVITE\r\n"
          b"m: <sip:alice@pc33.atlanta.example.com>, \"x,y\" <sip:x@h>;q=0.5\r\n"
          b"Record-Route: <sip:p1.example.com;lr>,\r\n <sip:p2.example.com;lr>\r\n"
          b"c: application/sdp\r\n"
          b"l: 4\r\n\r\nv=0\r\nJUNK")


def test_rfc3261_7_3_3_compact_forms_expand_to_long_names():
    msg = parse(INVITE)
    assert msg.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert msg.get("Content-Type") == "application/sdp"
    assert msg.from_.tag == "1928301774"
    assert len(msg.get_all("Contact")) == 2


def test_rfc3261_7_3_1_header_names_are_case_insensitive():
    msg = parse(INVITE)
    assert msg.get("max-forwards") == msg.get("MAX-FORWARDS") == "70"
    assert msg.get("cSeQ") == "314159 INVITE"


def test_rfc3261_7_3_1_folded_lines_join_with_one_space():
    msg = parse(INVITE)
    assert msg.get_all("record-route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]


def test_rfc3261_7_3_1_comma_lists_split_outside_quotes_and_brackets():
    msg = parse(INVITE)
    vias = msg.vias
    assert [v.host for v in vias] == ["192.0.2.1", "192.0.2.9", "10.0.0.2"]
    contacts = msg.contacts
    assert contacts[1].display == "x,y" and contacts[1].param("q") == "0.5"


def test_rfc3261_18_3_content_length_bounds_the_body_and_extra_octets_are_ignored():
    msg = parse(INVITE)
    assert msg.body == b"v=0\r"


def test_rfc3261_18_3_content_length_larger_than_datagram_is_400():
    err = raises(ParseError, parse, INVITE.replace(b"l: 4", b"l: 400"))
    assert err.status == 400 and err.message.method == "INVITE"


def test_rfc3261_18_3_udp_body_without_content_length_runs_to_end():
    msg = parse(INVITE.replace(b"l: 4\r\n", b""))
    assert msg.body == b"v=0\r\nJUNK"


def test_rfc3261_7_5_leading_crlf_before_start_line_is_ignored():
    assert parse(b"\r\n\r\n" + INVITE).method == "INVITE"
    err = raises(ParseError, parse, b"\r\n\r\n")
    assert err.reason == "keep-alive" and err.status is None


def test_rfc3261_19_1_1_sip_uri_components():
    uri = parse_uri("sips:alice:pw@Atlanta.Example.com:5061;transport=tcp;lr?subject=project")
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == \
        ("sips", "alice", "pw", "atlanta.example.com", 5061)
    assert uri.param("transport") == "tcp" and uri.param("lr") == ""
    assert uri.headers == "subject=project"
    assert str(parse_uri("sip:bob@[2001:db8::1]:5070;user=phone")) == "sip:bob@[2001:db8::1]:5070;user=phone"


def test_rfc3261_19_1_1_bad_port_and_whitespace_are_syntax_errors():
    raises(SyntaxErr, parse_uri, "sip:bob@host:99999")
    raises(SyntaxErr, parse_uri, "sip:bob@ho st")
    raises(SyntaxErr, parse_uri, "bob@host")


def test_rfc3261_20_10_addr_spec_parameters_belong_to_the_header():
    na = parse_name_addr("sip:bob@example.com;tag=abc")
    assert na.tag == "abc" and na.uri.params == []
    na = parse_name_addr("<sip:bob@example.com;transport=udp>;tag=abc;expires=60")
    assert na.uri.param("transport") == "udp" and na.param("expires") == "60"


def test_rfc3261_20_10_display_name_quoted_pairs():
    na = parse_name_addr('"A \\"quoted\\" name" <sip:a@b>')
    assert na.display == 'A "quoted" name'
    assert str(na) == '"A \\"quoted\\" name" <sip:a@b>'


def test_rfc3261_20_42_via_branch_received_and_rfc3581_rport():
    via = parse_via("SIP / 2.0 / UDP 192.0.2.1:5062;branch=z9hG4bK1;rport=4000;received=10.1.1.1")
    assert via.transport == "UDP" and via.port == 5062 and via.branch == "z9hG4bK1"
    assert via.param("rport") == "4000" and via.param("received") == "10.1.1.1"
    assert parse_via("SIP/2.0/UDP h;rport").param("rport") == ""


def test_rfc3261_25_1_unescape_is_not_recursive():
    assert unescape("value%2541") == "value%41"
    assert unescape("null-%00-null") == "null-\x00-null"
    assert unescape("100%") == "100%"


def test_rfc3261_8_2_6_2_response_copies_headers_and_adds_to_tag():
    req = parse(INVITE)
    resp = make_response(req, 180, to_tag="xyz")
    assert resp.status == 180 and resp.reason == "Ringing"
    assert resp.get_all("via") == req.get_all("via")
    assert resp.to.tag == "xyz" and resp.from_.tag == "1928301774"
    assert resp.call_id == req.call_id and resp.cseq == (314159, "INVITE")
    assert make_response(parse(resp.encode().replace(b"SIP/2.0 180 Ringing", INVITE.split(b"\r\n")[0])),
                         200, to_tag="new").to.tag == "xyz"


def test_encode_then_parse_round_trips_and_recomputes_content_length():
    msg = Message.request("OPTIONS", "sip:a@192.0.2.1")
    msg.add("Via", "SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKx")
    msg.add("Call-ID", "abc")
    msg.add("Content-Length", "999")
    msg.body = b"hello"
    data = msg.encode()
    assert data.count(b"Content-Length") == 1 and data.endswith(b"Content-Length: 5\r\n\r\nhello")
    again = parse(data)
    assert again.method == "OPTIONS" and again.body == b"hello" and again.call_id == "abc"


def test_rfc3261_7_2_status_code_outside_100_699_is_dropped():
    err = raises(ParseError, parse, b"SIP/2.0 700 Huh\r\nl: 0\r\n\r\n")
    assert err.status is None


def test_rfc3261_8_1_1_5_cseq_above_2_32_is_a_bad_request():
    data = INVITE.replace(b"314159", b"4294967296")
    err = raises(ParseError, check_request, parse(data))
    assert err.status == 400


def test_rfc3261_8_1_1_5_cseq_method_must_match_request_method():
    err = raises(ParseError, check_request, parse(INVITE.replace(b"314159 INVITE", b"314159 BYE")))
    assert err.status == 400


def test_rfc3261_7_1_unsupported_version_gets_505():
    err = raises(ParseError, check_request, parse(INVITE.replace(b" SIP/2.0\r\nVia", b" SIP/7.0\r\nVia")))
    assert err.status == 505


def test_rfc3261_7_3_1_empty_parameters_are_malformed():
    raises(SyntaxErr, parse_via, "SIP/2.0/UDP 192.0.2.15;;,;,,")
    raises(SyntaxErr, parse_name_addr, '"Joe" <sip:joe@example.org>;;;;')


def test_rfc3261_25_1_escapes_that_are_not_utf8_stay_literal():
    assert unescape("sips%CAuser") == "sips%CAuser"


def test_rfc3261_7_3_1_learned_header_names_are_capped_and_still_case_insensitive():
    # names are learned from traffic (no table built at import); a flood of
    # junk names must neither grow the table without bound nor break lookups
    from intercom.sip import message
    junk = b"".join(b"X-Junk-%d: %d\r\n" % (i, i) for i in range(150))
    msg = parse(INVITE.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r\n" + junk))
    assert len(message._NAMES) <= message._NAMES_MAX
    assert msg.get("x-junk-149") == "149" and msg.get("X-JUNK-0") == "0"
    assert msg.get("I") == msg.get("call-id") == "a84b4c76e66710@pc33.atlanta.example.com"


def test_made_up_header_names_of_a_scanner_are_never_learned():
    # a flood of junk names must leave no heap behind: only RFC 3261 header
    # names are kept (the table a PBX's names then still fit in)
    from intercom.sip import message
    before = len(message._NAMES)
    junk = b"".join(b"X-Scan-%d: %d\r\n" % (i, i) for i in range(40))
    parse(INVITE.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r\n" + junk))
    assert not [n for n in message._NAMES if n.lower().startswith("x-scan")]
    assert len(message._NAMES) <= before + 12


def test_rfc3261_21_reason_phrases_and_header_spellings_from_the_constant_tables():
    # the tables are strings and tuples now (flash, not heap): every entry still answers
    from intercom.sip.message import canonical_name, header_key, lookup, REASONS
    assert [Message.response(s).reason for s in (100, 180, 200, 481, 486, 487, 603)] == [
        "Trying", "Ringing", "OK", "Call/Transaction Does Not Exist", "Busy Here", "Request Terminated", "Decline"]
    assert Message.response(299).reason == "" and Message.response(486, "Busy").reason == "Busy"
    assert lookup(REASONS, "18", "?") == "?" and lookup(REASONS, "1800", "?") == "?"
    assert [header_key(c) for c in "imeLftvkcsourxbajdyn"] == [
        "call-id", "contact", "content-encoding", "content-length", "from", "to", "via", "supported",
        "content-type", "subject", "event", "allow-events", "refer-to", "session-expires", "referred-by",
        "accept-contact", "reject-contact", "request-disposition", "identity", "identity-info"]
    assert header_key("q") == "q" and header_key("Q") == "q"            # not a compact form: itself
    assert [canonical_name(k) for k in ("call-id", "cseq", "www-authenticate", "mime-version", "rseq", "rack",
                                        "via", "max-forwards", "x-custom-header")] == [
        "Call-ID", "CSeq", "WWW-Authenticate", "MIME-Version", "RSeq", "RAck", "Via", "Max-Forwards",
        "X-Custom-Header"]
