"""Impolite peers against the call core: silence after 100, forks, floods (RFC 3261 §8.2.7, §9.1, §12-§18)."""

from _net import Net, states, last_call
from _sipfakes import make_ua, drain, events
from intercom.sip.message import make_response, Message, parse
from intercom.sip import txlayer
from test_calls_scripted import incoming_connected, reinvite, sdp

A = ("192.0.2.1", 5060)
B = ("192.0.2.2", 5060)
C = ("192.0.2.3", 5060)
PEER = ("192.0.2.9", 5060)
URI_PEER = "sip:peer@192.0.2.9:5060"
T1 = 500


def answer_sdp(ip="192.0.2.9", port=30000):
    return ("v=0\r\no=peer 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
            "m=audio %d RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
            % (ip, ip, port)).encode()


class Peer:
    """A scripted far end: `on_invite(msg, net, src)` decides what to send;
    it records every message it gets."""

    def __init__(self, on_invite=None, answer_others=True):
        self.seen = []
        self.on_invite = on_invite
        self.answer_others = answer_others

    def __call__(self, msg, src, net):
        self.seen.append(msg)
        if not msg.is_request or msg.method == "ACK":
            return
        if msg.method == "INVITE" and not msg.to.tag:
            if self.on_invite is not None:
                self.on_invite(msg, net, src)
            return
        if self.answer_others:
            net.send(PEER, src, make_response(msg, 200, to_tag=msg.to.tag or "p").encode())

    def methods(self):
        return [m.method for m in self.seen if m.is_request]


def ok_2xx(invite, tag, contact="sip:peer@192.0.2.9:5060"):
    resp = make_response(invite, 200, to_tag=tag)
    resp.add("Contact", "<%s>" % contact)
    resp.add("Content-Type", "application/sdp")
    resp.body = answer_sdp()
    return resp


def connected_pair(net):
    """Alice calls Bob, who answers: (a, b) with the call connected."""
    a = net.phone(A[0], "alice")
    b = net.phone(B[0], "bob")
    a.dial("sip:bob@192.0.2.2:5060")
    net.run(10)
    b.answer()
    net.run(10)
    return a, b


def trying_only(msg, net, src):
    net.send(PEER, src, make_response(msg, 100).encode())


def silent_call(**calls):
    net = Net()
    a = net.phone(A[0], "alice", **calls)
    peer = Peer(trying_only, answer_others=False)
    net.attach(PEER, peer)
    a.dial(URI_PEER)
    net.run(10)
    return net, a, peer


# --- 1. calls always end --------------------------------------------------------------------

def test_rfc3261_9_1_hangup_after_100_trying_sends_cancel_and_ends_at_once():
    net, a, peer = silent_call()
    assert states(a) == ["dialing"]
    a.hangup()
    net.flush()
    assert "CANCEL" in peer.methods()
    assert last_call(a)["state"] == "ended" and last_call(a)["reason"] == "cancelled"
    assert a.calls.calls == []


def test_hangup_before_any_response_ends_at_once_and_cancels_on_the_first_provisional():
    net = Net()
    a = net.phone(A[0], "alice")
    held = []
    peer = Peer(lambda msg, n, src: held.append((msg, src)), answer_others=False)
    net.attach(PEER, peer)
    a.dial(URI_PEER)
    net.run(10)
    a.hangup()
    net.flush()
    assert last_call(a)["reason"] == "cancelled" and "CANCEL" not in peer.methods()
    invite, src = held[0]
    net.send(PEER, src, make_response(invite, 180, to_tag="late").encode())
    net.flush()
    assert "CANCEL" in peer.methods()        # §9.1: CANCEL only once a provisional came


def test_ring_timeout_after_100_only_cancels_and_reports_no_answer():
    net, a, peer = silent_call(ring_timeout=5)
    net.run(5000)
    assert last_call(a)["reason"] == "no_answer"
    assert "CANCEL" in peer.methods()


def test_new_dial_works_at_once_after_hanging_up_a_silent_call():
    net, a, peer = silent_call()
    a.hangup()
    net.flush()
    a.dial(URI_PEER)
    net.flush()
    assert [m.method for m in peer.seen if m.is_request].count("INVITE") == 2
    assert not [e for e in a.seen if e["event"] == "error"]
    assert states(a)[-1] == "dialing"


def test_rfc3261_9_1_cancelled_invite_and_its_call_are_freed_within_64_t1():
    net, a, peer = silent_call()
    a.hangup()
    net.run(64 * T1 + 10)
    assert a.calls.calls == [] and a.layer.clients == {} and a.layer.servers == {}


def test_late_2xx_after_hangup_is_acked_then_byed():
    net = Net()
    a = net.phone(A[0], "alice")
    held = []

    def ring(msg, n, src):
        held.append((msg, src))
        n.send(PEER, src, make_response(msg, 180, to_tag="t1").encode())
    peer = Peer(ring)
    net.attach(PEER, peer)
    a.dial(URI_PEER)
    net.run(10)
    a.hangup()
    invite, src = held[0]
    net.send(PEER, src, ok_2xx(invite, "t1").encode())     # the 200 crossed the CANCEL
    net.run(10)
    assert "CANCEL" in peer.methods() and peer.methods()[-2:] == ["ACK", "BYE"]
    assert last_call(a)["reason"] == "cancelled"


# --- 5. forks ---------------------------------------------------------------------------------

def forking(msg, net, src):
    net.send(PEER, src, make_response(msg, 180, to_tag="fork1").encode())
    net.send(PEER, src, ok_2xx(msg, "fork1", "sip:one@192.0.2.9:5060").encode())
    net.send(PEER, src, ok_2xx(msg, "fork2", "sip:two@192.0.2.9:5060").encode())


def test_rfc3261_13_2_2_4_every_forked_2xx_is_acked_and_the_extra_dialog_gets_bye():
    net = Net()
    a = net.phone(A[0], "alice")
    peer = Peer(forking)
    net.attach(PEER, peer)
    a.dial(URI_PEER)
    net.run(10)
    acks = [m for m in peer.seen if m.is_request and m.method == "ACK"]
    byes = [m for m in peer.seen if m.is_request and m.method == "BYE"]
    assert sorted(m.to.tag for m in acks) == ["fork1", "fork2"]
    assert [m.to.tag for m in byes] == ["fork2"] and byes[0].uri == "sip:two@192.0.2.9:5060"
    assert states(a) == ["dialing", "ringing_out", "connected"]
    a.hangup()
    net.run(10)
    byes = [m for m in peer.seen if m.is_request and m.method == "BYE"]
    assert [m.to.tag for m in byes] == ["fork2", "fork1"]


def test_rfc3261_13_2_2_4_retransmitted_fork_2xx_gets_the_same_ack_not_a_second_bye():
    net = Net()
    a = net.phone(A[0], "alice")
    got = []

    def fork_twice(msg, n, src):
        got.append((msg, src))
        forking(msg, n, src)
    net.attach(PEER, Peer(fork_twice))
    a.dial(URI_PEER)
    net.run(10)
    invite, src = got[0]
    before = len(net.ladder)
    net.send(PEER, src, ok_2xx(invite, "fork2", "sip:two@192.0.2.9:5060").encode())
    net.flush()
    assert [s for _a, _b, s in net.ladder[before + 1:]] == ["ACK"]


# --- 9. nothing goes live without answer() --------------------------------------------------

def test_rfc3261_14_2_reinvite_in_the_early_dialog_gets_500_with_retry_after_and_stays_ringing():
    net = Net()
    b = net.phone(B[0], "bob")
    peer = Peer()
    net.attach(PEER, peer)
    invite = Message.request("INVITE", "sip:bob@192.0.2.2:5060")
    invite.add("Via", "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKe1")
    invite.add("From", "<sip:peer@192.0.2.9>;tag=p1")
    invite.add("To", "<sip:bob@192.0.2.2>")
    invite.add("Call-ID", "early@192.0.2.9")
    invite.add("CSeq", "1 INVITE")
    invite.add("Contact", "<sip:peer@192.0.2.9:5060>")
    invite.add("Content-Type", "application/sdp")
    invite.body = answer_sdp()
    net.send(PEER, B, invite.encode())
    net.flush()
    ringing = [m for m in peer.seen if not m.is_request and m.status == 180][0]
    re = Message.request("INVITE", "sip:bob@192.0.2.2:5060")
    re.add("Via", "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKe2")
    re.add("From", "<sip:peer@192.0.2.9>;tag=p1")
    re.add("To", "<sip:bob@192.0.2.2>;tag=" + ringing.to.tag)
    re.add("Call-ID", "early@192.0.2.9")
    re.add("CSeq", "2 INVITE")
    re.add("Contact", "<sip:peer@192.0.2.9:5060>")
    re.add("Content-Type", "application/sdp")
    re.body = answer_sdp()
    net.send(PEER, B, re.encode())
    net.flush()
    last = peer.seen[-1]
    assert last.status == 500 and last.cseq == (2, "INVITE")
    assert 0 <= int(last.get("retry-after")) <= 10
    assert states(b) == ["incoming"]
    assert "connected" not in states(b)


def test_rfc3261_8_1_1_8_invite_without_contact_gets_400_and_never_rings():
    ua = make_ua(accept_from="any")
    ua.cfg["calls"]["accept_from"] = "any"
    data = (b"INVITE sip:door@192.0.2.20:5062 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.30:5060;branch=z9hG4bKnc\r\n"
            b"From: <sip:x@192.0.2.30>;tag=a\r\nTo: <sip:door@192.0.2.20>\r\nCall-ID: nc@x\r\n"
            b"CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    ua.receive(data, ("192.0.2.30", 5060), 0)
    (resp, _addr), = drain(ua)
    assert resp.status == 400 and "Contact" in resp.reason
    assert ua.calls.calls == [] and ua.layer.servers == {}


def test_rfc3261_8_1_3_4_redirect_with_a_malformed_contact_ends_the_attempt():
    net = Net()
    a = net.phone(A[0], "alice")

    def redirect(msg, n, src):
        resp = make_response(msg, 302, to_tag="r")
        resp.add("Contact", "<sip:broken@[nothing>")
        n.send(PEER, src, resp.encode())
    net.attach(PEER, Peer(redirect))
    a.dial(URI_PEER)
    net.run(10)
    assert last_call(a)["state"] == "ended" and last_call(a)["status"] == 302
    assert a.calls.calls == []


# --- 8. a handler that raises ---------------------------------------------------------------

def test_request_whose_handler_raises_gets_500_and_its_transaction_ends():
    ua = make_ua()

    def boom(req, tx):
        raise ValueError("handler bug")
    ua.calls.on_bye = boom
    data = (b"BYE sip:door@192.0.2.20:5062 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKbx\r\n"
            b"From: <sip:x@192.0.2.10>;tag=a\r\nTo: <sip:door@192.0.2.20>;tag=b\r\nCall-ID: bx@x\r\n"
            b"CSeq: 5 BYE\r\nContent-Length: 0\r\n\r\n")
    ua.receive(data, ("192.0.2.10", 5060), 0)
    (resp, _addr), = drain(ua)
    assert resp.status == 500
    assert ua.layer.servers == {} and ua.stats["handler_errors"] == 1
    assert [e["event"] for e in events(ua)] == ["error"]


# --- 4. bounded work and memory under floods --------------------------------------------------

def options(n, src_ip="198.51.100.7"):
    return ("OPTIONS sip:door@192.0.2.20:5062 SIP/2.0\r\nVia: SIP/2.0/UDP %s:5060;branch=z9hG4bKo%d\r\n"
            "From: <sip:scan@%s>;tag=s%d\r\nTo: <sip:door@192.0.2.20>\r\nCall-ID: scan%d@x\r\n"
            "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n" % (src_ip, n, src_ip, n, n)).encode()


def test_rfc3261_8_2_7_options_flood_is_answered_statelessly_and_keeps_nothing():
    ua = make_ua()
    answered = 0
    for n in range(2000):
        ua.receive(options(n), ("198.51.100.7", 5060), n)
        answered += len([r for r, _ in drain(ua) if r.status == 200])
        assert ua.layer.servers == {}
    assert answered == 2000
    # a retransmission gets the very same answer, To tag included (§8.2.7)
    ua.receive(options(7), ("198.51.100.7", 5060), 3000)
    ua.receive(options(7), ("198.51.100.7", 5060), 3100)
    first, again = drain(ua)
    assert first[0].encode() == again[0].encode()


def test_filtered_invite_is_refused_statelessly_and_keeps_nothing():
    ua = make_ua()
    from _sipfakes import RINGING_INVITE
    refused = 0
    for n in range(200):
        data = RINGING_INVITE.replace(b"z9hG4bKfz1", b"z9hG4bKfl%d" % n).replace(b"fuzz-1@", b"flood%d@" % n)
        ua.receive(data, ("192.0.2.30", 5060), n)
        refused += len([r for r, _ in drain(ua) if r.status == 403])
    assert refused == 200
    assert ua.layer.servers == {} and ua.calls.calls == []


def test_server_transactions_are_capped_with_a_stateless_503_over_the_cap():
    net = Net()
    a, b = connected_pair(net)
    call = b.calls.calls[0]
    peer = Peer()
    net.attach(PEER, peer)
    cap = txlayer.MAX_SERVER_TRANSACTIONS
    lingering = len(b.layer.servers)          # the INVITE's, in Accepted (Timer L)
    for n in range(cap + 3):
        info = Message.request("INFO", "sip:bob@192.0.2.2:5060")
        info.add("Via", "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKinfo%d;rport" % n)
        info.add("From", "<%s>;tag=%s" % (call.dialog.remote_uri, call.dialog.remote_tag))
        info.add("To", "<%s>;tag=%s" % (call.dialog.local_uri, call.dialog.local_tag))
        info.add("Call-ID", call.dialog.call_id)
        info.add("CSeq", "%d INFO" % (100 + n))
        info.add("Content-Type", "application/dtmf-relay")
        info.body = b"Signal=5\r\nDuration=160\r\n"
        net.send(PEER, B, info.encode())
    net.flush()
    statuses = [m.status for m in peer.seen if not m.is_request]
    assert statuses.count(503) == 3 + lingering and len(b.layer.servers) == cap
    assert peer.seen[-1].get("retry-after") is not None
    net.run(64 * T1 + 10)
    assert b.layer.servers == {}


def test_rfc3261_18_2_2_response_goes_to_the_source_ip_never_to_a_forged_via_host():
    ua = make_ua()
    data = options(1, src_ip="203.0.113.99")          # Via names a third party
    ua.receive(data, ("198.51.100.7", 5070), 0)
    (_resp, addr), = drain(ua)
    assert addr == ("198.51.100.7", 5060)


def test_rfc3261_21_4_7_busy_486_comes_after_100_trying():
    net = Net()
    a = net.phone(A[0], "alice")
    b = net.phone(B[0], "bob")
    c = net.phone(C[0], "carol")
    a.dial("sip:bob@192.0.2.2:5060")
    net.run(10)
    b.answer()
    net.run(10)
    start = len(net.ladder)
    c.dial("sip:bob@192.0.2.2:5060")
    net.run(10)
    to_c = [s for src, dst, s in net.ladder[start:] if dst == C]
    assert to_c == ["100 INVITE", "486 INVITE"]
    assert last_call(c)["reason"] == "busy"


# --- smaller ones -----------------------------------------------------------------------------

def test_rfc3261_15_uas_does_not_send_bye_before_the_ack_of_its_2xx():
    net = Net()
    a = net.phone(A[0], "alice")
    b = net.phone(B[0], "bob")
    net.drop = lambda msg, src, dst: msg.is_request and msg.method == "ACK" and len(net.lost) < 1
    a.dial("sip:bob@192.0.2.2:5060")
    net.run(10)
    b.answer()
    net.flush()
    b.hangup()                    # the ACK was lost: no BYE yet
    net.flush()
    sent_by_b = [s for src, dst, s in net.ladder if src == B]
    assert "BYE" not in sent_by_b
    net.run(600)                  # our 2xx retransmission brings the ACK, then the BYE
    sent_by_b = [s for src, dst, s in net.ladder if src == B]
    assert "BYE" in sent_by_b and last_call(b)["reason"] == "local_hangup"


def test_rfc3261_12_2_1_2_held_call_probed_with_options_ends_on_481():
    net = Net()
    a, b = connected_pair(net)
    a.hold()
    net.run(10)
    assert states(a)[-1] == "on_hold"
    net.run(30000)
    assert "OPTIONS" in net.summaries()           # the probe, answered 200: the call stays
    assert states(a)[-1] == "on_hold"
    del net.nodes[B]                               # the peer vanishes
    net.run(30000 + 64 * T1 + 10)
    assert last_call(a)["reason"] == "dialog_lost" and last_call(a)["status"] == 408
    assert a.calls.calls == []


def test_call_waiting_answers_the_second_call_only_after_the_hold_completed():
    net = Net()
    a = net.phone(A[0], "alice", call_waiting=True)
    b = net.phone(B[0], "bob")
    c = net.phone(C[0], "carol")
    b.dial("sip:alice@192.0.2.1:5060")
    net.run(10)
    a.answer()
    net.run(10)
    c.dial("sip:alice@192.0.2.1:5060")
    net.run(10)
    start = len(net.ladder)
    a.answer(2)
    net.run(10)
    seq = [(src, dst, s) for src, dst, s in net.ladder[start:]]
    hold_ok = seq.index((B, A, "200 INVITE"))
    answer_c = seq.index((A, C, "200 INVITE"))
    assert hold_ok < answer_c
    assert states(a)[-1] == "connected"
    assert [e["state"] for e in a.seen if e["event"] == "call" and e["id"] == 1][-1] == "on_hold"


def test_display_name_with_quotes_and_backslash_is_escaped_in_every_message():
    net = Net()
    a = net.phone(A[0], "alice")
    a.cfg["sip"]["display_name"] = 'Door "A" \\ 1'
    b = net.phone(B[0], "bob")
    a.dial("sip:bob@192.0.2.2:5060")
    net.run(10)
    b.answer()
    net.run(10)
    a.hangup()
    net.run(10)
    from_a = [s for src, dst, s in net.ladder if src == A]
    assert from_a == ["INVITE", "ACK", "BYE"]
    assert last_call(b)["reason"] == "remote_hangup"
    assert last_call(b)["peer"].startswith("sip:alice@")


def test_every_message_the_core_builds_parses_with_its_own_parser():
    net = Net()
    sent = []
    a = net.phone(A[0], "alice")
    a.cfg["sip"]["display_name"] = 'Q "\\'
    b = net.phone(B[0], "bob")
    original = net._deliver

    def spy(src, dst, data):
        sent.append(data)
        original(src, dst, data)
    net._deliver = spy
    a.dial("sip:bob@192.0.2.2:5060")
    net.run(10)
    b.answer()
    net.run(10)
    a.hold()
    net.run(10)
    a.hangup()
    net.run(10)
    from intercom.sip.validate import check_request, check_response
    for data in sent:
        msg = parse(data)
        if msg.is_request:
            check_request(msg)
        else:
            check_response(msg)
    assert len(sent) >= 9


# --- found by the stateful fuzzer (host_tests/core/fuzz_calls.py) ---------------------------

def test_unresolvable_dial_ends_and_stays_ended():
    net = Net()
    a = net.phone(A[0], "alice")
    a.dial("sip:x@pbx.example")
    net.run(10)
    assert states(a) == ["ended"] and last_call(a)["reason"] == "unresolvable"
    assert a.calls.calls == []


def test_info_with_a_non_utf8_body_gets_400_not_an_exception():
    net = Net()
    a, b = connected_pair(net)
    call = a.calls.calls[0]
    req, _hop = call.dialog.new_request(a, "INFO")
    req.add("Content-Type", "application/dtmf-relay")
    req.body = b"Signal=\xff\r\n"
    a.layer.start_client(req, B, call)
    net.run(10)
    assert net.summaries()[-1] == "400 INFO"
    assert not [e for e in b.seen if e["event"] == "error"]
    assert b.stats["handler_errors"] == 0


def test_2xx_to_our_reinvite_after_hangup_is_acked_without_reviving_the_call():
    net = Net()
    a = net.phone(A[0], "alice")
    held = []

    class Callee(Peer):
        def __call__(self, msg, src, n):
            if msg.is_request and msg.method == "INVITE" and msg.to.tag:
                self.seen.append(msg)
                held.append((msg, src))          # the re-INVITE: answered only later
                return
            Peer.__call__(self, msg, src, n)
    peer = Callee(lambda msg, n, src: n.send(PEER, src, ok_2xx(msg, "c1").encode()))
    net.attach(PEER, peer)
    a.dial(URI_PEER)
    net.run(10)
    a.hold()
    net.run(10)
    a.hangup()
    net.run(10)
    mark = len(a.seen)
    reinvite, src = held[0]
    net.send(PEER, src, ok_2xx(reinvite, "c1").encode())
    net.run(10)
    assert [e for e in a.seen[mark:] if e["event"] in ("call", "media")] == []
    assert peer.methods()[-1] == "ACK" and peer.seen[-1].cseq[0] == reinvite.cseq[0]
    assert a.calls.calls == []


def test_contact_with_port_0_is_never_a_destination():
    net = Net()
    a = net.phone(A[0], "alice")
    peer = Peer(lambda msg, n, src: n.send(PEER, src, ok_2xx(msg, "z", "sip:flat@192.0.2.9:0").encode()))
    net.attach(PEER, peer)
    a.dial(URI_PEER)
    net.run(10)
    a.hangup()
    net.run(10)
    assert all(dst[1] != 0 for _src, dst, _s in net.ladder)
    assert [m.method for m in peer.seen if m.is_request][-1] == "BYE"


def test_bye_in_the_early_dialog_of_our_call_cancels_the_invite_and_frees_it():
    net = Net()
    a = net.phone(A[0], "alice")
    held = []

    def ring(msg, n, src):
        held.append((msg, src))
        resp = make_response(msg, 180, to_tag="e1")
        resp.add("Contact", "<sip:peer@192.0.2.9:5060>")
        n.send(PEER, src, resp.encode())
    peer = Peer(ring)
    net.attach(PEER, peer)
    a.dial(URI_PEER)
    net.run(10)
    invite, src = held[0]
    bye = Message.request("BYE", "sip:alice@192.0.2.1:5060")
    bye.add("Via", "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKeb1")
    bye.add("From", "<sip:peer@192.0.2.9:5060>;tag=e1")
    bye.add("To", invite.get("from"))
    bye.add("Call-ID", invite.call_id)
    bye.add("CSeq", "1 BYE")
    net.send(PEER, A, bye.encode())
    net.run(10)
    assert last_call(a)["reason"] == "remote_hangup" and "CANCEL" in peer.methods()
    mark = len(a.seen)
    net.send(PEER, src, ok_2xx(invite, "e1").encode())      # a late 2xx: ACK + BYE, no revival
    net.run(64 * T1 + 10)
    assert [e for e in a.seen[mark:] if e["event"] in ("call", "media")] == []
    assert a.calls.calls == [] and a.layer.clients == {}


def test_rfc3261_17_1_3_2xx_with_a_cseq_number_we_never_sent_is_stray_not_acked():
    net = Net()
    a = net.phone(A[0], "alice")
    seen = []

    def callee(msg, src, n):
        seen.append(msg)
        if msg.is_request and msg.method == "INVITE":
            for tag in ("forkA", "forkB"):
                ok = make_response(msg, 200, to_tag=tag)
                ok.set("CSeq", "4294967295 INVITE")
                ok.add("Contact", "<sip:flat@192.0.2.9:5060>")
                ok.add("Content-Type", "application/sdp")
                ok.body = sdp()
                n.send(PEER, src, ok.encode())
    net.attach(PEER, callee)
    a.dial("sip:flat@192.0.2.9:5060")
    net.flush()
    assert not [m for m in seen if m.is_request and m.method in ("ACK", "BYE")]
    assert not [e for e in a.seen if e["event"] == "error"]
    assert a.stats["stray_responses"] == 2 and states(a) == ["dialing"]


def _dial_answered_with(contact, body):
    net = Net()
    a = net.phone(A[0], "alice")

    def callee(msg, src, net):
        if msg.is_request and msg.method == "INVITE":
            ok = make_response(msg, 200, to_tag="t1")
            ok.add("Contact", contact)
            ok.add("Content-Type", "application/sdp")
            ok.body = body
            net.send(PEER, src, ok.encode())
    net.attach(PEER, callee)
    a.dial("sip:flat@192.0.2.9:5060")
    net.flush()
    return net, a



def test_contact_host_0_0_0_0_is_never_a_destination():
    # F7 (seed 2 step 1086): ACK and BYE go to 0.0.0.0:5060
    from test_calls_scripted import sdp
    net, a = _dial_answered_with("<sip:flat@0.0.0.0>", sdp())
    a.hangup()
    net.run(1000)
    assert not [dst for _src, dst, _s in net.ladder if dst[0] == "0.0.0.0"]


def test_answer_with_c_0_0_0_0_does_not_send_media_to_0_0_0_0():
    # F8 (seed 1 step 85820): media event address 0.0.0.0 with direction sendrecv
    from test_calls_scripted import sdp
    net, a = _dial_answered_with("<sip:flat@192.0.2.9:5060>", sdp(ip="0.0.0.0"))
    media = [e for e in a.seen if e["event"] == "media"]
    assert not [e for e in media if e["address"] == "0.0.0.0" and e["direction"] in ("sendrecv", "sendonly")]


def test_reinvite_answered_only_with_100_does_not_block_the_call_nor_leak():
    # F9 (MicroPython seed 11 step 1717): our hold re-INVITE gets 100 Trying and nothing else.
    # The INVITE client transaction has no timer left in Proceeding (Timer B stops at the 100):
    # while connected every peer re-INVITE gets 491 for ever; after hang-up it stays in layer.clients.
    net, a, peer, inv, ok, ack = incoming_connected()
    net.send(PEER, A, ack.encode())
    net.flush()

    def only_100(msg, src, net):
        if msg.is_request and msg.method == "INVITE":
            net.send(PEER, src, make_response(msg, 100).encode())
        elif msg.is_request and msg.method != "ACK":
            net.send(PEER, src, make_response(msg, 200).encode())
    net.attach(PEER, only_100)
    a.hold()
    net.run(120000)
    net.send(PEER, A, reinvite(inv, ok, b"", cseq=7).encode())   # the peer's own re-INVITE, 2 min later
    net.flush()
    last = net.summaries()[-1]
    a.hangup()
    net.run(300000)
    leaked = [k for k in a.layer.clients if k.endswith("INVITE")]
    assert last != "491 INVITE" and not leaked, (last, leaked)
