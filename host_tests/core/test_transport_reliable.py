"""Transactions and the UA over TCP/TLS: no retransmissions, zero wait timers (RFC 3261 §17, §18, §19.1)."""

from intercom.sip.message import parse, make_response
from intercom.sip.transaction import TERMINATED
from intercom.sip.invite_transaction import CONFIRMED
from intercom.sip.txlayer import TransactionLayer
from intercom.sip.dialog import uri_addr
from intercom.sip.transport import set_transport, transport_failed
from test_transaction import Recorder, options, invite, ADDR
from _sipfakes import make_ua, drain, events, exchange, FakeRegistrar, REGISTRAR


def tcp_layer(rec):
    layer = TransactionLayer(rec.send)
    layer.transports[ADDR] = "tcp"
    return layer


def run(layer, tx, until, step=50):
    now = 0
    while now < until:
        now += step
        layer.tick(now)
    return now


def test_rfc3261_17_1_2_2_timer_e_does_not_retransmit_on_a_reliable_transport():
    rec = Recorder()
    layer = tcp_layer(rec)
    tx = layer.start_client(options(), ADDR, rec)
    run(layer, tx, 31950)
    assert len(rec.sent) == 1 and rec.timeouts == 0
    run_to = 32050
    layer.tick(run_to)                     # Timer F (64*T1) still bounds the wait
    assert rec.timeouts == 1 and tx.state == TERMINATED


def test_rfc3261_17_1_1_2_timer_a_does_not_retransmit_on_a_reliable_transport():
    rec = Recorder()
    layer = tcp_layer(rec)
    layer.start_client(invite(), ADDR, rec)
    run(layer, None, 20000)
    assert len(rec.sent) == 1


def test_rfc3261_17_1_2_2_timer_k_is_zero_on_a_reliable_transport():
    rec = Recorder()
    layer = tcp_layer(rec)
    tx = layer.start_client(options(), ADDR, rec)
    tx.on_response(make_response(options(), 200))
    layer.tick(0)
    assert tx.state == TERMINATED and not layer.clients


def test_rfc3261_17_1_1_2_timer_d_is_zero_on_a_reliable_transport():
    rec = Recorder()
    layer = tcp_layer(rec)
    tx = layer.start_client(invite(), ADDR, rec)
    tx.on_response(make_response(invite(), 486))
    assert parse(rec.sent[-1][0]).method == "ACK"
    layer.tick(1)
    assert tx.state == TERMINATED and not layer.clients


def test_rfc3261_17_2_1_timer_g_does_not_retransmit_and_timer_i_is_zero_on_a_reliable_transport():
    rec = Recorder()
    layer = tcp_layer(rec)
    req = invite()
    tx = layer.start_server(req, ADDR)
    tx.respond(make_response(req, 486))
    run(layer, tx, 10000)
    assert len(rec.sent) == 1              # no Timer G retransmission of the 486
    tx.on_ack()
    assert tx.state == CONFIRMED
    layer.tick(10001)
    assert tx.state == TERMINATED and not layer.servers


def test_rfc3261_17_2_2_timer_j_is_zero_on_a_reliable_transport():
    rec = Recorder()
    layer = tcp_layer(rec)
    req = options()
    tx = layer.start_server(req, ADDR)
    tx.respond(make_response(req, 200))
    layer.tick(1)
    assert tx.state == TERMINATED and not layer.servers


def test_rfc3261_17_1_2_2_udp_still_retransmits():
    rec = Recorder()
    layer = tcp_layer(rec)
    layer.start_client(options(), ("192.0.2.99", 5060), rec)
    run(layer, None, 2000)
    assert len(rec.sent) >= 3


def test_rfc3261_18_1_1_via_names_the_transport_of_the_next_hop():
    rec = Recorder()
    layer = tcp_layer(rec)
    layer.start_client(options(), ADDR, rec)
    msg = parse(rec.sent[0][0])
    assert msg.get("via").startswith("SIP/2.0/TCP 192.0.2.1:5062;branch=")
    assert msg.vias[0].transport.upper() == "TCP"


def test_rfc3261_18_tls_registration_via_contact_and_registered_transport():
    ua = make_ua(transport="tls", port=5061)
    ua.register()
    (req, addr), = drain(ua)
    assert addr == REGISTRAR and ua.layer.transport_to(addr) == "tls"
    assert req.get("via").startswith("SIP/2.0/TLS ")
    assert ";transport=tls>" in req.get("contact")
    reg = FakeRegistrar()
    ua.receive(reg.handle(req).encode(), REGISTRAR, 0)
    exchange(ua, reg, 0)
    evs = [e for e in events(ua) if e["event"] == "registered"]
    assert evs and evs[-1]["transport"] == "tls"


def test_rfc3261_8_1_3_1_transport_error_fails_registration_with_reason_tls_without_udp():
    ua = make_ua(transport="tls", port=5061)
    ua.register()
    drain(ua)
    transport_failed(ua, REGISTRAR, "tls", "certificate verify failed")
    evs = events(ua)
    assert evs[-1]["event"] == "registration_failed", evs
    assert evs[-1]["reason"] == "tls" and "certificate" in evs[-1]["message"]
    ua.tick(2000)
    assert drain(ua) == []                  # no fallback: nothing else goes anywhere
    ua.tick(4000)                           # the retry goes over TLS again
    out = drain(ua)
    assert out and ua.layer.transport_to(out[0][1]) == "tls" and out[0][0].get("via").startswith("SIP/2.0/TLS")


def test_rfc3261_19_1_2_sips_and_transport_tls_default_to_port_5061():
    assert uri_addr("sip:bob@192.0.2.9;transport=tls") == ("192.0.2.9", 5061, "tls")
    assert uri_addr("sips:bob@192.0.2.9") == ("192.0.2.9", 5061, "tls")
    assert uri_addr("sip:bob@192.0.2.9;transport=tcp") == ("192.0.2.9", 5060, "tcp")
    assert uri_addr("sip:bob@192.0.2.9:5070;transport=TCP") == ("192.0.2.9", 5070, "tcp")
    assert uri_addr("sip:bob@192.0.2.9") == ("192.0.2.9", 5060, "udp")


def test_rfc3261_18_dial_transport_tls_uses_a_tls_connection_and_marks_the_call_secure():
    ua = make_ua(registrar="")
    ua.calls.registrar_addr = None
    call = ua.dial("sip:bob@192.0.2.9:5061;transport=tls")
    (req, addr), = drain(ua)
    assert addr == ("192.0.2.9", 5061) and ua.layer.transport_to(addr) == "tls"
    assert req.get("via").startswith("SIP/2.0/TLS ") and ";transport=tls>" in req.get("contact")
    assert call.secure_signalling is True


def test_rfc3261_18_dial_transport_tcp_is_not_secure():
    ua = make_ua(registrar="")
    ua.calls.registrar_addr = None
    call = ua.dial("sip:bob@192.0.2.9:5060;transport=tcp")
    (req, addr), = drain(ua)
    assert ua.layer.transport_to(addr) == "tcp" and req.get("via").startswith("SIP/2.0/TCP ")
    assert call.secure_signalling is False


def test_rfc3261_18_2_2_request_over_a_stream_is_answered_on_that_connection():
    ua = make_ua(registrar="", )
    data = (b"OPTIONS sip:door@192.0.2.20 SIP/2.0\r\n"
            b"Via: SIP/2.0/TLS 192.0.2.30:5061;branch=z9hG4bKs1\r\n"
            b"From: <sip:x@192.0.2.30>;tag=a\r\nTo: <sip:door@192.0.2.20>\r\n"
            b"Call-ID: s1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    set_transport(ua, ("192.0.2.30", 40123), "tls")      # what the driver does for a connection
    ua.receive(data, ("192.0.2.30", 40123), 0)
    (resp, addr), = drain(ua)
    assert resp.status == 200 and addr == ("192.0.2.30", 40123)   # the connection, not Via's 5061
    assert ua.layer.transport_to(addr) == "tls"


def test_stream_peers_table_is_bounded():
    ua = make_ua(transport="tls", port=5061)
    for i in range(20):
        set_transport(ua, ("192.0.2.%d" % (100 + i), 5061), "tls")
    assert len(ua.layer.transports) <= 4 and ua.layer.transport_to(REGISTRAR) == "tls"
