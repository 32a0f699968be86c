"""Call rules with scripted peers: redirects, auth, ghost calls, hold styles, routing, INFO (RFC 3261, RFC 3264)."""

from _net import Net, states, last_call
from intercom.sip.message import make_response, Message
from intercom.sip.auth import parse_challenge, digest_response

A = ("192.0.2.1", 5060)
PEER = ("192.0.2.9", 5060)
PBX = ("192.0.2.50", 5060)


def sdp(ip="192.0.2.9", port=30000, direction="sendrecv", version=1):
    return ("v=0\r\no=peer 1 %d IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
            "m=audio %d RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=%s\r\n"
            % (version, ip, ip, port, direction)).encode()


class ScriptedCallee:
    """Answers INVITEs per a script of statuses; remembers what it saw."""

    def __init__(self, script, contact=None, record_route=None):
        self.script = list(script)
        self.seen = []
        self.contact = contact
        self.record_route = record_route

    def __call__(self, msg, src, net):
        self.seen.append(msg)
        if not msg.is_request or msg.method == "ACK":
            return
        if msg.method != "INVITE":
            net.send(PEER, src, make_response(msg, 200, to_tag="callee").encode())
            return
        status = self.script.pop(0) if self.script else 200
        resp = make_response(msg, status, to_tag="callee")
        if status == 302:
            resp.add("Contact", "<%s>" % self.contact)
        if status == 200:
            resp.add("Contact", "<sip:peer@192.0.2.9:5060>")
            if self.record_route:
                resp.add("Record-Route", self.record_route)
            resp.add("Content-Type", "application/sdp")
            resp.body = sdp()
        net.send(PEER, src, resp.encode())


def invite_from(peer_uri, to_uri, body=b"", call_id="inv-1@192.0.2.9", cseq=1, to_tag=None,
                src_ip="192.0.2.9", ctype="application/sdp"):
    req = Message.request("INVITE", to_uri)
    req.add("Via", "SIP/2.0/UDP %s:5060;branch=z9hG4bKpeer%d%s" % (src_ip, cseq, call_id[:3]))
    req.add("From", "<%s>;tag=peer" % peer_uri)
    req.add("To", "<%s>" % to_uri + (";tag=" + to_tag if to_tag else ""))
    req.add("Call-ID", call_id)
    req.add("CSeq", "%d INVITE" % cseq)
    req.add("Contact", "<sip:peer@%s:5060>" % src_ip)
    req.add("Max-Forwards", "70")
    if body:
        req.add("Content-Type", ctype)
        req.body = body
    return req


def test_rfc3261_8_1_3_4_302_redirect_followed_to_the_contact():
    net = Net()
    a = net.phone(A[0], "alice")
    callee = ScriptedCallee([302, 200], contact="sip:other@192.0.2.9:5060")
    net.attach(PEER, callee)
    a.dial("sip:first@192.0.2.9:5060")
    net.run(10)
    invites = [m for m in callee.seen if m.method == "INVITE"]
    assert [m.uri for m in invites] == ["sip:first@192.0.2.9:5060", "sip:other@192.0.2.9:5060"]
    assert states(a)[-1] == "connected"
    assert [e.get("redirected_to") for e in a.seen if e.get("state") == "dialing"][-1] == \
        "sip:other@192.0.2.9:5060"


def test_rfc3261_8_1_3_4_redirect_loops_stop():
    net = Net()
    a = net.phone(A[0], "alice")
    callee = ScriptedCallee([302] * 10, contact="sip:first@192.0.2.9:5060")
    net.attach(PEER, callee)
    a.dial("sip:first@192.0.2.9:5060")
    net.run(10)
    assert last_call(a)["status"] == 302 and len([m for m in callee.seen if m.method == "INVITE"]) == 1


def test_rfc3261_22_3_407_on_invite_answered_for_the_registrar_only():
    net = Net()
    a = net.phone(A[0], "alice", registrar="pbx.example", registrar_addr=PBX)
    seen = []

    def pbx(msg, src, net):
        seen.append(msg)
        if msg.method != "INVITE":
            return
        auth = msg.get("proxy-authorization")
        if auth is None:
            resp = make_response(msg, 407, to_tag="pbx")
            resp.add("Proxy-Authenticate", 'Digest realm="pbx", nonce="n1", qop="auth"')
        else:
            fields = dict(p.strip().split("=", 1) for p in auth[7:].split(","))
            fields = {k: v.strip('"') for k, v in fields.items()}
            expected, _ = digest_response(parse_challenge('Digest realm="pbx", nonce="n1", qop="auth"'),
                                          "alice", "pw-alice", "INVITE", fields["uri"], fields["cnonce"],
                                          fields["nc"])
            status = 180 if expected == fields["response"] else 403
            resp = make_response(msg, status, to_tag="pbx")
        net.send(PBX, src, resp.encode())
    net.attach(PBX, pbx)
    a.dial("sip:flat@pbx.example")
    net.run(10)
    assert [m.method for m in seen] == ["INVITE", "ACK", "INVITE"]
    assert seen[0].cseq[0] + 1 == seen[2].cseq[0] and seen[0].call_id == seen[2].call_id
    assert states(a)[-1] == "ringing_out"


def test_407_from_a_peer_that_is_not_the_registrar_is_not_answered():
    net = Net()
    a = net.phone(A[0], "alice")

    def peer(msg, src, net):
        if msg.method == "INVITE":
            resp = make_response(msg, 407, to_tag="x")
            resp.add("Proxy-Authenticate", 'Digest realm="evil", nonce="n"')
            net.send(PEER, src, resp.encode())
    net.attach(PEER, peer)
    a.dial("sip:x@192.0.2.9:5060")
    net.run(10)
    assert last_call(a)["status"] == 407
    assert all("Authorization" not in str(line) for line in net.ladder)


def test_ghost_call_protection_invite_not_from_registrar_gets_403_and_never_rings():
    net = Net()
    a = net.phone(A[0], "alice", registrar="pbx.example", registrar_addr=PBX, accept_from="registrar")
    net.attach(PEER, lambda msg, src, net: None)
    net.send(PEER, A, invite_from("sip:scanner@192.0.2.9", "sip:alice@192.0.2.1", sdp()).encode())
    net.run(10)
    assert net.summaries()[-1] == "403 INVITE" and states(a) == []
    # from the registrar's address and port, for our user: it rings
    net.attach(PBX, lambda msg, src, net: None)
    net.send(PBX, A, invite_from("sip:door@pbx", "sip:alice@192.0.2.1", sdp(), call_id="ok-1",
                                 src_ip="192.0.2.50").encode())
    net.flush()
    assert states(a) == ["incoming"]
    # from the registrar but for another user (a scanner guessing extensions): 403
    net.send(PBX, A, invite_from("sip:door@pbx", "sip:100@192.0.2.1", sdp(), call_id="bad-2",
                                 src_ip="192.0.2.50").encode())
    net.flush()
    assert net.summaries()[-1] == "403 INVITE"


def incoming_connected(body=None):
    net = Net()
    a = net.phone(A[0], "alice")
    peer = ScriptedCallee([])
    net.attach(PEER, peer)
    inv = invite_from("sip:peer@192.0.2.9", "sip:alice@192.0.2.1", sdp() if body is None else body)
    net.send(PEER, A, inv.encode())
    a.answer()
    net.flush()
    ok = [m for m in peer.seen if not m.is_request and m.status == 200][-1]
    ack = Message.request("ACK", "sip:alice@192.0.2.1:5060")
    ack.add("Via", "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKack1")
    ack.add("From", inv.get("from"))
    ack.add("To", ok.get("to"))
    ack.add("Call-ID", inv.call_id)
    ack.add("CSeq", "1 ACK")
    return net, a, peer, inv, ok, ack


def reinvite(inv, ok, body, cseq=2):
    req = invite_from("sip:peer@192.0.2.9", "sip:alice@192.0.2.1:5060", body, cseq=cseq,
                      to_tag=ok.to.tag)
    req.set("From", inv.get("from"))
    return req


def test_rfc3264_legacy_hold_with_c_0_0_0_0_is_remote_hold():
    net, a, peer, inv, ok, ack = incoming_connected()
    net.send(PEER, A, ack.encode())
    net.send(PEER, A, reinvite(inv, ok, sdp(ip="0.0.0.0")).encode())
    net.flush()
    assert states(a)[-1] == "remote_hold"
    answer = [m for m in peer.seen if not m.is_request and m.status == 200][-1]
    assert b"a=recvonly" in answer.body


def test_rfc3264_8_inactive_offer_answered_inactive():
    net, a, peer, inv, ok, ack = incoming_connected()
    net.send(PEER, A, ack.encode())
    net.send(PEER, A, reinvite(inv, ok, sdp(direction="inactive")).encode())
    net.flush()
    answer = [m for m in peer.seen if not m.is_request and m.status == 200][-1]
    assert b"a=inactive" in answer.body and states(a)[-1] == "remote_hold"


def test_rfc3261_14_2_reinvite_moves_media_to_the_new_address():
    net, a, peer, inv, ok, ack = incoming_connected()
    net.send(PEER, A, ack.encode())
    net.send(PEER, A, reinvite(inv, ok, sdp(ip="192.0.2.77", port=31000, version=2)).encode())
    net.flush()
    media = [e for e in a.seen if e["event"] == "media"][-1]
    assert (media["address"], media["port"]) == ("192.0.2.77", 31000)


def test_rfc3261_12_2_2_lower_cseq_in_dialog_gets_500():
    net, a, peer, inv, ok, ack = incoming_connected()
    net.send(PEER, A, ack.encode())
    net.send(PEER, A, reinvite(inv, ok, sdp(), cseq=5).encode())
    net.flush()
    net.send(PEER, A, reinvite(inv, ok, sdp(), cseq=3).encode())
    net.flush()
    assert net.summaries()[-1] == "500 INVITE"


def test_rfc3261_13_2_1_invite_without_sdp_gets_our_offer_and_the_ack_answers():
    net, a, peer, inv, ok, ack = incoming_connected(body=b"")
    assert b"m=audio" in ok.body
    ack.add("Content-Type", "application/sdp")
    ack.body = sdp(port=32000)
    net.send(PEER, A, ack.encode())
    net.flush()
    assert [e for e in a.seen if e["event"] == "media"][-1]["port"] == 32000


def test_info_dtmf_relay_and_application_dtmf_become_dtmf_events():
    net, a, peer, inv, ok, ack = incoming_connected()
    net.send(PEER, A, ack.encode())
    for n, (ctype, body) in enumerate((("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n"),
                                       ("application/dtmf", b"#"))):
        info = reinvite(inv, ok, b"", cseq=3 + n)
        info.method = "INFO"
        info.set("CSeq", "%d INFO" % (3 + n))
        info.set("Content-Type", ctype)
        info.body = body
        net.send(PEER, A, info.encode())
        net.flush()
        assert net.summaries()[-1] == "200 INFO"
    assert [e["digit"] for e in a.seen if e["event"] == "dtmf"] == ["5", "#"]


def test_rfc3261_12_1_2_route_set_from_record_route_is_used_in_reverse_for_bye():
    net = Net()
    a = net.phone(A[0], "alice")
    rr = "<sip:p2.example;lr>, <sip:192.0.2.9;lr>"
    callee = ScriptedCallee([200], record_route=rr)
    net.attach(PEER, callee)
    a.dial("sip:x@192.0.2.9:5060")
    net.run(10)
    a.hangup()
    net.run(10)
    bye = [m for m in callee.seen if m.method == "BYE"][0]
    assert bye.get_all("route") == ["<sip:192.0.2.9;lr>", "<sip:p2.example;lr>"]
    assert bye.uri == "sip:peer@192.0.2.9:5060"      # loose routing: the remote target


def test_rfc3261_13_2_2_4_early_media_on_183_with_sdp():
    net = Net()
    a = net.phone(A[0], "alice")

    def peer(msg, src, net):
        if msg.method == "INVITE":
            resp = make_response(msg, 183, to_tag="em")
            resp.add("Contact", "<sip:peer@192.0.2.9>")
            resp.add("Content-Type", "application/sdp")
            resp.body = sdp(port=34000)
            net.send(PEER, src, resp.encode())
    net.attach(PEER, peer)
    a.dial("sip:x@192.0.2.9:5060")
    net.run(10)
    ringing = last_call(a)
    assert ringing["state"] == "ringing_out" and ringing["early_media"] is True
    assert [e for e in a.seen if e["event"] == "media"][-1]["port"] == 34000


def test_rfc3261_11_options_inside_a_call_is_answered_200():
    net, a, peer, inv, ok, ack = incoming_connected()
    net.send(PEER, A, ack.encode())
    opt = reinvite(inv, ok, b"", cseq=9)
    opt.method = "OPTIONS"
    opt.set("CSeq", "9 OPTIONS")
    net.send(PEER, A, opt.encode())
    net.flush()
    assert net.summaries()[-1] == "200 OPTIONS" and states(a)[-1] == "connected"


def test_rfc3261_9_2_cancel_for_unknown_transaction_gets_481():
    net = Net()
    net.phone(A[0], "alice")
    net.attach(PEER, lambda msg, src, net: None)
    cancel = invite_from("sip:p@192.0.2.9", "sip:alice@192.0.2.1")
    cancel.method = "CANCEL"
    cancel.set("CSeq", "1 CANCEL")
    net.send(PEER, A, cancel.encode())
    net.flush()
    assert net.summaries()[-1] == "481 CANCEL"


def test_rfc3261_22_3_in_dialog_reinvite_and_bye_challenged_by_the_proxy_are_resent_with_credentials():
    net = Net()
    a = net.phone(A[0], "alice", registrar="pbx.example", registrar_addr=PBX)
    seen = []

    def pbx(msg, src, net):
        seen.append(msg)
        if not msg.is_request or msg.method == "ACK":
            return
        if msg.get("proxy-authorization") is None:
            resp = make_response(msg, 407, to_tag="pbx")
            resp.add("Proxy-Authenticate", 'Digest realm="pbx", nonce="n%d", qop="auth"' % len(seen))
        else:
            resp = make_response(msg, 200, to_tag="pbx")
            if msg.method == "INVITE":
                resp.add("Contact", "<sip:flat@192.0.2.50:5060>")
                resp.add("Content-Type", "application/sdp")
                resp.body = sdp()
        net.send(PBX, src, resp.encode())
    net.attach(PBX, pbx)
    a.dial("sip:flat@pbx.example")
    net.run(10)
    assert states(a)[-1] == "connected"
    a.hold()
    net.run(10)
    assert states(a)[-1] == "on_hold"
    a.hangup()
    net.run(10)
    methods = [(m.method, m.get("proxy-authorization") is not None) for m in seen
               if m.is_request and m.method in ("INVITE", "BYE")]
    assert methods == [("INVITE", False), ("INVITE", True), ("INVITE", False), ("INVITE", True),
                       ("BYE", False), ("BYE", True)]


def test_rfc3261_12_1_1_uas_copies_record_route_into_180_and_200():
    net = Net()
    a = net.phone(A[0], "alice")
    peer = ScriptedCallee([])
    net.attach(PEER, peer)
    inv = invite_from("sip:peer@192.0.2.9", "sip:alice@192.0.2.1", sdp())
    inv.add("Record-Route", "<sip:proxy1.example;lr>, <sip:192.0.2.9;lr>")
    net.send(PEER, A, inv.encode())
    a.answer()
    net.flush()
    for status in (180, 200):
        resp = [m for m in peer.seen if not m.is_request and m.status == status][0]
        assert resp.get_all("record-route") == ["<sip:proxy1.example;lr>", "<sip:192.0.2.9;lr>"]


def test_rfc3261_12_2_2_bye_with_a_lower_cseq_gets_500_and_the_call_stays_up():
    net, a, peer, inv, ok, ack = incoming_connected()
    net.send(PEER, A, ack.encode())
    net.send(PEER, A, reinvite(inv, ok, sdp(), cseq=5).encode())
    net.flush()
    bye = reinvite(inv, ok, b"", cseq=4)
    bye.method = "BYE"
    bye.set("CSeq", "4 BYE")
    net.send(PEER, A, bye.encode())
    net.flush()
    assert net.summaries()[-1] == "500 BYE" and states(a)[-1] == "connected"
