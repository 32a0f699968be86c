"""RFC 4475 torture messages and our own (host_tests/conformance) fed to the UA core: each handled as listed."""

import json
import os

import pytest

from _sipfakes import make_ua, drain, RINGING_INVITE as OUR_INVITE

HERE = os.path.dirname(os.path.abspath(__file__))
# The RFC 4475 messages live beside the project checkout (../shared); a clone
# without them still runs our own messages (host_tests/conformance) and says
# what it lacks. INTERCOM_RFC4475_DIR points elsewhere.
SUITE = os.environ.get("INTERCOM_RFC4475_DIR") or os.path.join(HERE, "..", "..", "shared", "conformance", "rfc4475")
OWN = os.path.join(HERE, "conformance")
MISSING = "RFC 4475 messages not found at %s (set INTERCOM_RFC4475_DIR): only host_tests/conformance ran" % SUITE
PEER = ("192.0.2.30", 5060)

# What this UA does with each message: the response status it sends, "drop"
# (counted as malformed), or "ignore" (a well-formed response with no
# transaction, counted as stray). Well-formed INVITEs reach the call usage,
# whose ghost-call filter (accept_from "registrar") answers 403: they come
# from an address that is not the registrar (wsinv has a To tag: 481, no such dialog).
EXPECTED = {
    # §3.1.1 valid messages: accepted and processed
    "wsinv.dat": 481, "intmeth.dat": 501, "esc01.dat": 403, "escnull.dat": 405,
    "esc02.dat": 501, "lwsdisp.dat": 200, "longreq.dat": 403, "dblreq.dat": 405,
    "semiuri.dat": 200, "transports.dat": 200, "mpart01.dat": 405,
    "unreason.dat": "ignore", "noreason.dat": "ignore",
    # §3.1.2 invalid messages: 400 (505/501 where the RFC says so) or dropped
    "badinv01.dat": 400, "clerr.dat": 400, "ncl.dat": 400, "scalar02.dat": 400,
    "scalarlg.dat": "drop", "quotbal.dat": 400, "ltgtruri.dat": 400, "lwsruri.dat": 400,
    "lwsstart.dat": 400, "trws.dat": 400, "escruri.dat": 400,
    "baddate.dat": 403,     # the Date does not matter to us, so it may be ignored (§3.1.2.12)
    "regbadct.dat": 400, "badaspec.dat": 400, "baddn.dat": 400, "badvers.dat": 505,
    "mismatch01.dat": 400, "mismatch02.dat": 501, "bigcode.dat": "drop",
    # §3.2-3.4
    "badbranch.dat": 200,   # RFC 2543 fallback matching, then processed (§3.2.1 allows it)
    "insuf.dat": "drop", "unkscm.dat": 416, "novelsc.dat": 416, "unksm2.dat": 405,
    "bext01.dat": 420, "invut.dat": 415, "regaut01.dat": 405, "multi01.dat": 400,
    "mcl01.dat": 400, "bcast.dat": "ignore", "zeromf.dat": 200, "cparam01.dat": 405,
    "cparam02.dat": 405, "regescrt.dat": 405, "sdp01.dat": 406, "inv2543.dat": 403,
}


def manifest():
    path = os.path.join(SUITE, "manifest.json")
    if not os.path.exists(path):
        return []                 # the tests that need it skip with MISSING (pytest -rs shows it)
    with open(path) as f:
        return json.load(f)


def own_messages():
    """(entry, bytes) of our own messages: LF line ends in the files, CRLF on the wire."""
    with open(os.path.join(OWN, "manifest.json")) as f:
        entries = json.load(f)
    out = []
    for e in entries:
        with open(os.path.join(OWN, e["file"]), "rb") as f:
            out.append((e, f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")))
    return out


ENTRIES = manifest()
OWN_MESSAGES = own_messages()


def handled_as_expected(data, expected):
    ua = make_ua()
    ua.receive(data, PEER, 0)
    out = drain(ua)
    assert ua.next_event() is None          # nothing escaped as an internal error
    if expected == "drop":
        assert out == [] and ua.stats["malformed_dropped"] == 1
    elif expected == "ignore":
        assert out == [] and ua.stats["stray_responses"] == 1 and ua.stats["malformed_dropped"] == 0
    else:
        assert [resp.status for resp, _addr in out] == [expected]
        resp = out[0][0]
        if expected in (400, 505, 501):
            assert resp.reason
        if expected == 501 or expected == 405:
            assert resp.get("allow")


def test_own_conformance_messages_cover_every_file():
    files = sorted(f for f in os.listdir(OWN) if f.endswith(".sip"))
    assert files == sorted(e["file"] for e, _data in OWN_MESSAGES)
    assert len(files) >= 10


@pytest.mark.parametrize("entry,data", OWN_MESSAGES, ids=[e["file"] for e, _d in OWN_MESSAGES])
def test_own_conformance_message_handled_as_manifest_says(entry, data):
    handled_as_expected(data, entry["expect"])


def test_every_manifest_message_has_an_expectation():
    if not ENTRIES:
        pytest.skip(MISSING)
    assert sorted(e["file"] for e in ENTRIES) == sorted(EXPECTED)
    for e in ENTRIES:
        outcome = EXPECTED[e["file"]]
        if not e["valid"]:
            # invalid ones are refused, except where the RFC allows processing
            assert outcome in (400, 501, 505, "drop") or e["file"] in ("baddate.dat", "badbranch.dat")


@pytest.mark.parametrize("entry", ENTRIES or [None], ids=[e["file"] for e in ENTRIES] or ["missing"])
def test_rfc4475_message_handled_as_manifest_says(entry):
    if entry is None:
        pytest.skip(MISSING)
    with open(os.path.join(SUITE, entry["file"]), "rb") as f:
        data = f.read()
    handled_as_expected(data, EXPECTED[entry["file"]])


def test_mutated_torture_messages_never_escape_the_stack():
    """2,000 seeded byte-level mutations of our messages and RFC 4475's: every one is
    answered, dropped or processed; none raises out of receive() or surfaces
    as an internal-error event."""
    import random
    rng = random.Random(4475)
    corpus = [data for _e, data in OWN_MESSAGES]      # and RFC 4475's when present
    for e in ENTRIES:
        with open(os.path.join(SUITE, e["file"]), "rb") as f:
            corpus.append(f.read())
    corpus.append(OUR_INVITE)          # one that rings this phone: call and SDP code get mutated too
    corpus.append(OUR_INVITE)
    alphabet = b" \t\r\n:;,<>\"@%=/\\0123456789abcdefSIPsip\x00\xff\xc3"
    for n in range(2000):
        if n % 50 == 0:
            # half the phones accept calls from anyone, so INVITEs reach SDP and call code
            ua = make_ua()
            if n % 100 == 0:
                ua.cfg["calls"]["accept_from"] = "any"
        data = bytearray(rng.choice(corpus))
        for _ in range(rng.randint(1, 8)):
            op = rng.random()
            pos = rng.randrange(len(data) + 1)
            if op < 0.4 and data:
                data[min(pos, len(data) - 1)] = rng.choice(alphabet)
            elif op < 0.7:
                data[pos:pos] = bytes([rng.choice(alphabet)]) * rng.randint(1, 4)
            else:
                del data[pos:pos + rng.randint(1, 12)]
        ua.receive(bytes(data), PEER, 0)
        drain(ua)
        event = ua.next_event()
        while event is not None:
            assert event["event"] != "error", (event, bytes(data)[:300])
            event = ua.next_event()
