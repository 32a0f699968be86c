"""SIP trace lines: messages shown whole, credentials masked (setup.trace)."""

from intercom.sip.trace import trace_text


def test_trace_masks_authorization_but_keeps_the_username():
    data = (b"REGISTER sip:pbx SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bK1\r\n"
            b"Authorization: Digest username=\"door\", realm=\"pbx\", nonce=\"abc\", response=\"0123456789abcdef\"\r\n"
            b"proxy-authorization: Digest username=\"door\", response=\"feedface\"\r\n\r\n")
    text = trace_text("out", data, ("10.0.0.1", 5060))
    assert text.startswith("SIP -> 10.0.0.1:5060\nREGISTER sip:pbx SIP/2.0")
    assert "0123456789abcdef" not in text and "feedface" not in text and "abc" not in text
    assert 'Authorization: Digest username="door", ***' in text


def test_trace_of_binary_garbage_does_not_raise():
    assert trace_text("in", b"\xff\xfe\x00", ("10.0.0.1", 5060)).startswith("SIP <- 10.0.0.1:5060")
