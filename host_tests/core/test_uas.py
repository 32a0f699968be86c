"""UAS core behaviour for requests outside any usage (RFC 3261 §8.2, §17.2.3; RFC 4475 parser rules)."""

from _sipfakes import make_ua, drain, events

PEER = ("192.0.2.30", 5060)


def request(method="OPTIONS", uri="sip:door@192.0.2.20:5062", extra="", cseq_method=None,
            branch="z9hG4bKpeer1", version="SIP/2.0"):
    text = ("%s %s %s\r\n"
            "Via: SIP/2.0/UDP 192.0.2.30:5060;branch=%s\r\n"
            "From: <sip:peer@192.0.2.30>;tag=p1\r\n"
            "To: <sip:door@192.0.2.20>\r\n"
            "Call-ID: call-1@192.0.2.30\r\n"
            "CSeq: 7 %s\r\n"
            "Max-Forwards: 70\r\n%s"
            "Content-Length: 0\r\n\r\n") % (method, uri, version, branch, cseq_method or method, extra)
    return text.encode()


def answer(data, ua=None):
    ua = ua or make_ua()
    ua.receive(data, PEER, 0)
    out = drain(ua)
    return out, ua


def test_rfc3261_11_2_options_answered_200_with_allow_and_accept():
    (resp, addr), = answer(request())[0]
    assert resp.status == 200 and addr == PEER
    assert "INVITE" in resp.get("allow") and resp.get("accept") == "application/sdp"
    assert resp.to.tag


def test_rfc3261_8_2_1_unknown_method_gets_501_with_allow():
    (resp, _), = answer(request("NOTAMETHOD"))[0]
    assert resp.status == 501 and "OPTIONS" in resp.get("allow")


def test_rfc3261_8_2_1_known_but_unsupported_method_gets_405_with_allow():
    (resp, _), = answer(request("REGISTER"))[0]
    assert resp.status == 405 and resp.get("allow")


def test_rfc3261_8_2_2_1_unknown_uri_scheme_gets_416():
    (resp, _), = answer(request(uri="tel:+1-201-555-0123"))[0]
    assert resp.status == 416


def test_rfc3261_8_2_2_3_unsupported_require_gets_420_with_unsupported():
    (resp, _), = answer(request(extra="Require: nothingweknow, 100rel\r\n"))[0]
    assert resp.status == 420 and resp.get("unsupported") == "nothingweknow, 100rel"


def test_rfc3261_12_2_2_bye_outside_a_dialog_gets_481():
    (resp, _), = answer(request("BYE"))[0]
    assert resp.status == 481


def test_rfc3261_17_2_3_retransmitted_request_gets_the_same_response_once_more():
    ua = make_ua()
    ua.receive(request(), PEER, 0)
    first = drain(ua)
    ua.receive(request(), PEER, 100)
    again = drain(ua)
    assert len(first) == len(again) == 1
    assert first[0][0].encode() == again[0][0].encode()


def test_rfc3261_17_2_3_ack_without_transaction_is_dropped_silently():
    out, ua = answer(request("ACK"))
    assert out == [] and events(ua) == []


def test_rfc3261_8_2_malformed_request_with_required_headers_gets_400_with_reason():
    (resp, _), = answer(request(extra="To: second <sip:x@y>\r\n"))[0]
    assert resp.status == 400 and "To" in resp.reason


def test_rfc3261_8_2_cseq_method_mismatch_on_unknown_method_gets_501():
    (resp, _), = answer(request("NEWMETHOD", cseq_method="OPTIONS"))[0]
    assert resp.status == 501


def test_rfc3261_7_1_wrong_sip_version_gets_505():
    (resp, _), = answer(request(version="SIP/7.0"))[0]
    assert resp.status == 505


def test_request_missing_call_id_is_dropped_and_counted():
    data = request().replace(b"Call-ID: call-1@192.0.2.30\r\n", b"")
    out, ua = answer(data)
    assert out == [] and ua.stats["malformed_dropped"] == 1


def test_rfc3261_18_1_2_response_matching_no_transaction_is_counted_and_ignored():
    data = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.20:5062;branch=z9hG4bKnope\r\n"
            b"From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n")
    out, ua = answer(data)
    assert out == [] and ua.stats["stray_responses"] == 1


def test_receive_never_raises_on_garbage_or_truncation():
    ua = make_ua()
    whole = request("INVITE", extra="Contact: <sip:peer@192.0.2.30>\r\n")
    samples = [b"", b"\x00\xff\xfe", b"SIP/2.0", b"INVITE", b"\r\n", bytes(range(256))]
    for cut in range(0, len(whole), 7):
        samples.append(whole[:cut])
        samples.append(whole[cut:])
    for data in samples:
        ua.receive(data, PEER, 0)
        drain(ua)
    assert all(ev["event"] != "error" for ev in events(ua))
