"""Codec benchmark core: the test messages and a best-of-N timer; run under MicroPython it prints results."""

import gc
import sys

from intercom.sip.message import parse
from intercom.sip.validate import check_request, check_response

try:
    from time import ticks_diff, ticks_us
except ImportError:   # CPython: the same methodology on perf_counter
    from time import perf_counter

    def ticks_us():
        return perf_counter() * 1e6

    def ticks_diff(a, b):
        return a - b

SDP = (
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.10\r\n"
    b"t=0 0\r\n"
    b"m=audio 49170 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)


def _msg(head, body=b""):
    return head.replace(b"\n", b"\r\n") + b"Content-Length: %d\r\n\r\n" % len(body) + body


INVITE = _msg(
    b"INVITE sip:door@192.0.2.20:5060 SIP/2.0\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\n"
    b"Max-Forwards: 70\n"
    b'From: "Alice" <sip:alice@example.com>;tag=1928301774\n'
    b"To: <sip:door@example.com>\n"
    b"Call-ID: a84b4c76e66710@192.0.2.10\n"
    b"CSeq: 314159 INVITE\n"
    b"Contact: <sip:alice@192.0.2.10:5060;transport=udp>\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY\n"
    b"Supported: replaces, timer\n"
    b"User-Agent: Softphone 3.2.1\n"
    b"Content-Type: application/sdp\n",
    SDP,
)

OK200 = _msg(
    b"SIP/2.0 200 OK\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport=5060;received=192.0.2.10\n"
    b"Record-Route: <sip:192.0.2.1;lr;ftag=1928301774>\n"
    b"Record-Route: <sip:198.51.100.1;lr>\n"
    b'From: "Alice" <sip:alice@example.com>;tag=1928301774\n'
    b"To: <sip:door@example.com>;tag=a6c85cf\n"
    b"Call-ID: a84b4c76e66710@192.0.2.10\n"
    b"CSeq: 314159 INVITE\n"
    b"Contact: <sip:door@192.0.2.20:5060>\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\n"
    b"Supported: replaces\n"
    b"Server: Intercom/1.0\n"
    b"Content-Type: application/sdp\n",
    SDP.replace(b"alice", b"door").replace(b"192.0.2.10", b"192.0.2.20"),
)

REGISTER = _msg(
    b"REGISTER sip:example.com SIP/2.0\n"
    b"Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKnashds7;rport\n"
    b"Max-Forwards: 70\n"
    b"From: <sip:door@example.com>;tag=456248\n"
    b"To: <sip:door@example.com>\n"
    b"Call-ID: 843817637684230@192.0.2.20\n"
    b"CSeq: 1827 REGISTER\n"
    b"Contact: <sip:door@192.0.2.20:5060>;expires=3600\n"
    b'Authorization: Digest username="door", realm="example.com", nonce="ea9c8e88df84f1cec4341ae6cbe5a359",'
    b' uri="sip:example.com", response="dfe56131d1958046689d83306477ecc", algorithm=MD5,'
    b' cnonce="0a4f113b", qop=auth, nc=00000001\n'
    b"Expires: 3600\n"
    b"User-Agent: Intercom/1.0\n",
)

MESSAGES = (("invite", INVITE), ("ok200", OK200), ("register", REGISTER))


def ours_parse(data):
    """Parse plus the checks a UA runs on receipt (touches Via/From/To/CSeq/Contact)."""
    msg = parse(data)
    if msg.is_request:
        check_request(msg)
    else:
        check_response(msg)
        _ = msg.contacts
    _ = msg.call_id
    return msg


def ours(data):
    """Parse + checks + serialize: the measured operation."""
    return ours_parse(data).encode()


def accepts(fn, data):
    try:
        fn(data)
        return True
    except Exception:
        return False


def best_us(fn, data, repeats=5, budget_us=50000):
    """Best of `repeats` runs of K calls (K sized to ~budget_us); min microseconds per call."""
    for _ in range(3):
        fn(data)
    t0 = ticks_us()
    for _ in range(10):
        fn(data)
    k = max(10, int(budget_us * 10 / max(1, ticks_diff(ticks_us(), t0))))
    best = None
    for _ in range(repeats):
        gc.collect()
        t0 = ticks_us()
        for _ in range(k):
            fn(data)
        per = ticks_diff(ticks_us(), t0) / k
        best = per if best is None or per < best else best
    return best


def main(paths):
    for name, data in MESSAGES:
        try:
            print("RESULT %s %.3f" % (name, best_us(ours, data)))
        except Exception as err:
            print("ERROR %s %s: %s" % (name, type(err).__name__, err))
    if paths:
        ok = 0
        for path in paths:
            with open(path, "rb") as f:
                ok += accepts(ours, f.read())
        print("ACCEPT %d %d" % (ok, len(paths)))


if __name__ == "__main__":
    main(sys.argv[1:])
