"""Event order at the callee (RFC 3261 §13.3.1): `call incoming` comes before the offer's `media`."""

from _net import Net, last_call

A = ("192.0.2.1", 5060)
B = ("192.0.2.2", 5060)
URI_B = "sip:bob@192.0.2.2:5060"


def callee_events(**media_b):
    net = Net()
    a = net.phone(A[0], "alice")
    b = net.phone(B[0], "bob")
    b.cfg["media"].update(media_b)
    a.cfg["media"]["codecs"] = ["PCMU"]
    a.dial(URI_B)
    net.run(10)
    return a, [(e["event"], e.get("state")) for e in b.seen]


def test_callee_emits_call_incoming_before_the_offers_media_and_neither_on_488():
    _a, seen = callee_events()
    assert ("call", "incoming") in seen and ("media", None) in seen, seen
    assert seen.index(("call", "incoming")) < seen.index(("media", None)), seen
    # a call refused for no common codec never rang: no incoming, no media
    a, seen = callee_events(codecs=["PCMA"])
    assert last_call(a)["status"] == 488
    assert ("call", "incoming") not in seen and ("media", None) not in seen, seen
