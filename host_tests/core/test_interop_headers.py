"""Headers real PBXs check: ACK credentials, Via received/rport, 3xx q order, CANCEL tags (RFC 3261, RFC 3581)."""

from _net import Net, states, last_call
from _sipfakes import make_ua, drain
from test_calls_scripted import ScriptedCallee, invite_from, incoming_connected, sdp, A, PEER, PBX
from intercom.sip.message import make_response, Message

CHALLENGE = 'Digest realm="pbx", nonce="n1", qop="auth"'


def test_rfc3261_13_2_2_4_ack_for_a_2xx_carries_the_invites_credentials():
    net = Net()
    a = net.phone(A[0], "alice", registrar="pbx.example", registrar_addr=PBX)
    seen = []

    def pbx(msg, src, n):
        seen.append(msg)
        if msg.method != "INVITE":
            return
        if msg.get("proxy-authorization") is None:
            resp = make_response(msg, 407, to_tag="pbx")
            resp.add("Proxy-Authenticate", CHALLENGE)
        else:
            resp = make_response(msg, 200, to_tag="pbx")
            resp.add("Contact", "<sip:flat@192.0.2.50:5060>")
            resp.add("Content-Type", "application/sdp")
            resp.body = sdp()
        n.send(PBX, src, resp.encode())
    net.attach(PBX, pbx)
    a.dial("sip:flat@pbx.example")
    net.run(10)
    invite, ack = seen[2], seen[3]
    assert ack.method == "ACK" and ack.cseq == (invite.cseq[0], "ACK")
    assert ack.get("proxy-authorization") == invite.get("proxy-authorization") is not None
    assert states(a)[-1] == "connected"


def options_with_via(via):
    return ("OPTIONS sip:door@192.0.2.20:5062 SIP/2.0\r\nVia: %s\r\n"
            "From: <sip:x@192.0.2.30>;tag=a\r\nTo: <sip:door@192.0.2.20>\r\nCall-ID: v@x\r\n"
            "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n" % via).encode()


def test_rfc3581_4_empty_rport_gets_the_source_port_and_received_the_source_ip():
    ua = make_ua()
    ua.receive(options_with_via("SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKr1;rport"), ("198.51.100.7", 40123), 0)
    (resp, addr), = drain(ua)
    via = resp.vias[0]
    assert via.param("rport") == "40123" and via.param("received") == "198.51.100.7"
    assert addr == ("198.51.100.7", 40123)


def test_rfc3261_18_2_1_received_added_when_the_sent_by_host_is_not_the_source():
    ua = make_ua()
    data = options_with_via("SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKr2, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKx")
    ua.receive(data, ("198.51.100.7", 5060), 0)
    (resp, _addr), = drain(ua)
    assert resp.vias[0].param("received") == "198.51.100.7" and resp.vias[0].param("rport") is None
    assert len(resp.vias) == 2 and resp.vias[1].param("received") is None


def test_rfc3261_18_2_1_via_left_alone_when_it_names_the_source():
    ua = make_ua()
    ua.receive(options_with_via("SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKr3"), ("198.51.100.7", 5060), 0)
    (resp, _addr), = drain(ua)
    assert resp.get("via") == "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKr3"


def test_rfc3261_8_1_3_4_3xx_contacts_are_tried_highest_q_first():
    net = Net()
    a = net.phone(A[0], "alice")
    invites = []

    def redirector(msg, src, n):
        if msg.method != "INVITE":
            return
        invites.append(msg)
        if len(invites) == 1:
            resp = make_response(msg, 300, to_tag="r")
            resp.add("Contact", "<sip:low@192.0.2.9:5060>;q=0.1, <sip:high@192.0.2.9:5060>;q=0.9")
            resp.add("Contact", "<sip:mid@192.0.2.9:5060>;q=0.5")
        else:
            resp = make_response(msg, 486, to_tag="b")
        n.send(PEER, src, resp.encode())
    net.attach(PEER, redirector)
    a.dial("sip:first@192.0.2.9:5060")
    net.run(10)
    assert invites[1].uri == "sip:high@192.0.2.9:5060"


def test_rfc3261_8_1_3_4_a_redirected_invite_keeps_the_original_to():
    net = Net()
    a = net.phone(A[0], "alice")
    callee = ScriptedCallee([302, 486], contact="sip:other@192.0.2.9:5060")
    net.attach(PEER, callee)
    a.dial("sip:first@192.0.2.9:5060")
    net.run(10)
    invites = [m for m in callee.seen if m.is_request and m.method == "INVITE"]
    assert invites[1].uri == "sip:other@192.0.2.9:5060"
    assert str(invites[1].to.uri) == "sip:first@192.0.2.9:5060"


def test_rfc3261_9_2_the_200_to_cancel_has_the_to_tag_of_the_invites_responses():
    net = Net()
    a = net.phone(A[0], "alice")
    callee = ScriptedCallee([])
    net.attach(PEER, callee)
    inv = invite_from("sip:peer@192.0.2.9", "sip:alice@192.0.2.1", sdp())
    net.send(PEER, A, inv.encode())
    net.flush()
    ringing = [m for m in callee.seen if not m.is_request and m.status == 180][0]
    cancel = Message.request("CANCEL", inv.uri)
    cancel.add("Via", inv.get("via"))
    cancel.add("From", inv.get("from"))
    cancel.add("To", inv.get("to"))
    cancel.add("Call-ID", inv.call_id)
    cancel.add("CSeq", "1 CANCEL")
    net.send(PEER, A, cancel.encode())
    net.flush()
    ok = [m for m in callee.seen if not m.is_request and m.cseq[1] == "CANCEL"][0]
    assert ok.status == 200 and ok.to.tag == ringing.to.tag
    assert last_call(a)["reason"] == "cancelled"


def test_rfc3261_14_1_an_unusable_answer_to_our_reinvite_ends_the_call():
    net, a, peer, inv, ok, ack = incoming_connected()
    net.send(PEER, A, ack.encode())
    net.flush()

    def bad_answer(msg, src, n):
        peer.seen.append(msg)
        if msg.is_request and msg.method == "INVITE":
            resp = make_response(msg, 200, to_tag=msg.to.tag)
            resp.add("Contact", "<sip:peer@192.0.2.9:5060>")
            resp.add("Content-Type", "application/sdp")
            resp.body = sdp().replace(b"RTP/AVP 0 101", b"RTP/AVP 97").replace(
                b"a=rtpmap:101 telephone-event/8000", b"a=rtpmap:97 opus/48000/2")
            n.send(PEER, src, resp.encode())
        elif msg.is_request and msg.method != "ACK":
            n.send(PEER, src, make_response(msg, 200).encode())
    net.attach(PEER, bad_answer)
    a.hold()
    net.run(10)
    methods = [m.method for m in peer.seen if m.is_request]
    assert methods[-2:] == ["ACK", "BYE"]
    assert last_call(a)["reason"] == "incompatible_media" and last_call(a)["status"] == 488


def test_info_digits_before_the_answer_are_not_dtmf():
    net = Net()
    a = net.phone(A[0], "alice")
    callee = ScriptedCallee([])
    net.attach(PEER, callee)
    inv = invite_from("sip:peer@192.0.2.9", "sip:alice@192.0.2.1", sdp())
    net.send(PEER, A, inv.encode())
    net.flush()
    ringing = [m for m in callee.seen if not m.is_request and m.status == 180][0]
    info = Message.request("INFO", "sip:alice@192.0.2.1:5060")
    info.add("Via", "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKinfo1")
    info.add("From", inv.get("from"))
    info.add("To", ringing.get("to"))
    info.add("Call-ID", inv.call_id)
    info.add("CSeq", "2 INFO")
    info.add("Content-Type", "application/dtmf-relay")
    info.body = b"Signal=1\r\nDuration=160\r\n"
    net.send(PEER, A, info.encode())
    net.flush()
    assert not [e for e in a.seen if e["event"] == "dtmf"]
    assert states(a) == ["incoming"]
