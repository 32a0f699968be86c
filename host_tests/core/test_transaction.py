"""Client and server transactions with a fake clock (RFC 3261 §17.1, §17.2; RFC 6026 §7)."""

from intercom.sip.message import parse, make_response, Message
from intercom.sip.transaction import Timers, COMPLETED, PROCEEDING, server_key
from intercom.sip.invite_transaction import ACCEPTED, CONFIRMED
from intercom.sip.txlayer import TransactionLayer

ADDR = ("192.0.2.5", 5060)


class Recorder:
    def __init__(self):
        self.sent = []
        self.responses = []
        self.timeouts = 0

    def send(self, data, addr):
        self.sent.append((data, addr))

    def on_response(self, tx, resp):
        self.responses.append(resp.status)

    def on_timeout(self, tx):
        self.timeouts += 1


def options(branch="z9hG4bKabc", call_id="c1"):
    req = Message.request("OPTIONS", "sip:x@192.0.2.5")
    req.add("Via", "SIP/2.0/UDP 192.0.2.1:5062;branch=" + branch)
    req.add("From", "<sip:a@192.0.2.1>;tag=f1")
    req.add("To", "<sip:x@192.0.2.5>")
    req.add("Call-ID", call_id)
    req.add("CSeq", "1 OPTIONS")
    return req


def invite(branch="z9hG4bKinv"):
    req = options(branch)
    req.method = "INVITE"
    req.set("CSeq", "1 INVITE")
    return req


def run_client(timers=None, until=40000, answer_at=None, status=200):
    rec = Recorder()
    layer = TransactionLayer(rec.send, timers)
    tx = layer.start_client(options(), ADDR, rec)
    times = [0]
    now = 0
    while now < until:
        now += 50
        if answer_at is not None and now == answer_at:
            tx.on_response(make_response(tx.request, status))
        n = len(rec.sent)
        layer.tick(now)
        if len(rec.sent) > n:
            times.append(now)
    return rec, layer, tx, times


def test_rfc3261_17_1_2_2_timer_e_doubles_up_to_t2_then_timer_f_times_out():
    rec, layer, tx, times = run_client()
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps[:5] == [500, 1000, 2000, 4000, 4000], gaps
    assert rec.timeouts == 1 and times[-1] < 32000
    assert layer.clients == {}


def test_rfc3261_17_1_2_2_timers_follow_configured_t1_t2():
    rec, layer, tx, times = run_client(Timers(t1=100, t2=400), until=7000)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps[:4] == [100, 200, 400, 400], gaps
    assert rec.timeouts == 1          # Timer F = 64*T1 = 6.4 s


def test_rfc3261_17_1_2_2_provisional_moves_to_proceeding_and_retransmits_at_t2():
    rec = Recorder()
    layer = TransactionLayer(rec.send)
    tx = layer.start_client(options(), ADDR, rec)
    layer.tick(100)
    tx.on_response(make_response(tx.request, 100))
    assert tx.state == PROCEEDING and rec.responses == [100]
    layer.tick(500)      # Timer E fires once more, then every T2
    layer.tick(4499)
    assert len(rec.sent) == 2
    layer.tick(4500)
    assert len(rec.sent) == 3


def test_rfc3261_17_1_2_2_final_response_completes_and_retransmissions_are_absorbed():
    rec = Recorder()
    layer = TransactionLayer(rec.send)
    tx = layer.start_client(options(), ADDR, rec)
    final = make_response(tx.request, 200)
    layer.tick(10)
    tx.on_response(final)
    tx.on_response(final)
    assert tx.state == COMPLETED and rec.responses == [200]
    layer.tick(10 + 4999)
    assert tx.key in layer.clients
    layer.tick(10 + 5000)           # Timer K = T4
    assert tx.key not in layer.clients and len(rec.sent) == 1


def test_rfc3261_17_1_3_response_matches_on_branch_and_cseq_method():
    rec = Recorder()
    layer = TransactionLayer(rec.send)
    tx = layer.start_client(options(), ADDR, rec)
    resp = make_response(tx.request, 200)
    assert layer.match_response(resp) is tx
    resp.set("CSeq", "1 REGISTER")
    assert layer.match_response(parse(resp.encode())) is None
    other = make_response(options(branch="z9hG4bKother"), 200)
    assert layer.match_response(other) is None


def test_rfc3261_17_2_2_server_absorbs_retransmitted_request_and_resends_last_response():
    rec = Recorder()
    layer = TransactionLayer(rec.send)
    req = options()
    tx = layer.start_server(req, ADDR)
    tx.respond(make_response(req, 200))
    again = parse(req.encode())
    assert layer.match_request(again) is tx
    tx.on_retransmission()
    assert len(rec.sent) == 2 and rec.sent[0] == rec.sent[1]


def test_rfc3261_17_2_2_timer_j_keeps_the_server_transaction_for_64_t1():
    rec = Recorder()
    layer = TransactionLayer(rec.send)
    req = options()
    tx = layer.start_server(req, ADDR)
    tx.respond(make_response(req, 200))
    layer.tick(31999)
    assert layer.match_request(req) is tx
    layer.tick(32000)
    assert layer.match_request(req) is None


def test_rfc3261_17_2_3_ack_matches_the_invite_server_transaction_key():
    inv = options()
    inv.method = "INVITE"
    inv.set("CSeq", "1 INVITE")
    ack = parse(inv.encode().replace(b"INVITE sip", b"ACK sip").replace(b"1 INVITE", b"1 ACK"))
    assert server_key(parse(inv.encode())) == server_key(ack)


def test_rfc3261_17_2_3_rfc2543_fallback_for_requests_without_magic_cookie():
    a = parse(options(branch="oldstyle1").encode())
    b = parse(options(branch="oldstyle2").encode())
    assert server_key(a) != server_key(b)        # the Via differs
    assert server_key(a) == server_key(parse(a.encode()))
    # RFC 4475 §3.2.1: a branch that is only the cookie is not RFC 3261 style
    bare = parse(options(branch="z9hG4bK").encode())
    assert server_key(bare).startswith("2543|")


def test_rfc3261_17_1_3_rfc2543_response_without_branch_matches_by_call_id_and_cseq():
    rec = Recorder()
    layer = TransactionLayer(rec.send)
    tx = layer.start_client(options(), ADDR, rec)
    resp = make_response(tx.request, 200)
    resp.set("Via", "SIP/2.0/UDP 192.0.2.1:5062")
    assert layer.match_response(parse(resp.encode())) is tx


# --- what a transaction keeps once it only absorbs retransmissions -------------
# Timers D, J, K, L, M keep a finished transaction for up to 64*T1; holding
# its request or TU that long would hold the whole call (RFC 6026 §7 states).

def test_rfc3261_17_1_2_2_completed_client_keeps_neither_request_nor_tu():
    rec = Recorder()
    layer = TransactionLayer(rec.send)
    tx = layer.start_client(options(), ADDR, rec)
    final = make_response(tx.request, 200)
    tx.on_response(final)
    assert tx.state == COMPLETED and tx.request is None and tx.tu is None and tx.data is None
    tx.on_response(final)             # still absorbed, without a TU
    assert rec.responses == [200] and len(rec.sent) == 1


def test_rfc3261_17_1_1_2_completed_invite_client_keeps_only_the_ack_and_resends_it():
    rec = Recorder()
    layer = TransactionLayer(rec.send)
    tx = layer.start_client(invite(), ADDR, rec)
    busy = make_response(tx.request, 486, to_tag="t1")
    tx.on_response(busy)
    assert tx.state == COMPLETED and tx.request is None and tx.tu is None and tx.data is None
    assert rec.sent[-1][0] == tx.ack and tx.ack.startswith(b"ACK sip:x@192.0.2.5 SIP/2.0")
    tx.on_response(parse(busy.encode()))      # the ACK was lost: the same ACK again
    assert rec.sent[-1] == rec.sent[-2] and rec.responses == [486]
    layer.tick(32000)                         # Timer D
    assert layer.clients == {}


def test_rfc6026_7_2_accepted_invite_client_keeps_the_tu_for_2xx_but_not_the_request():
    rec = Recorder()
    layer = TransactionLayer(rec.send)
    tx = layer.start_client(invite(), ADDR, rec)
    ok = make_response(tx.request, 200, to_tag="t1")
    tx.on_response(ok)
    assert tx.state == ACCEPTED and tx.request is None and tx.data is None
    tx.on_response(parse(ok.encode()))        # retransmitted 2xx: up to the TU
    assert rec.responses == [200, 200] and len(rec.sent) == 1
    layer.tick(32000)                         # Timer M = 64*T1
    assert layer.clients == {}


def test_rfc3261_17_1_3_rfc2543_final_without_branch_matches_a_completed_transaction():
    rec = Recorder()
    layer = TransactionLayer(rec.send)
    tx = layer.start_client(invite(), ADDR, rec)
    busy = make_response(tx.request, 486, to_tag="t1")
    tx.on_response(busy)
    busy.set("Via", "SIP/2.0/UDP 192.0.2.1:5062")
    assert layer.match_response(parse(busy.encode())) is tx


def test_rfc3261_17_2_2_completed_server_keeps_the_last_response_not_the_request():
    rec = Recorder()
    layer = TransactionLayer(rec.send)
    req = options()
    tx = layer.start_server(req, ADDR)
    sent = tx.respond(make_response(req, 200))
    assert tx.state == COMPLETED and getattr(tx, "request", None) is None
    assert sent == tx.last == rec.sent[0][0]
    tx.on_retransmission()
    assert rec.sent[1] == rec.sent[0]


def test_rfc3261_17_2_1_completed_invite_server_drops_the_tu_and_retransmits_by_timer_g():
    rec = Recorder()
    layer = TransactionLayer(rec.send)
    req = invite()
    tx = layer.start_server(req, ADDR)
    tx.tu = rec                               # the call, while it rings
    tx.respond(make_response(req, 486, to_tag="t2"))
    assert tx.state == COMPLETED and tx.tu is None and getattr(tx, "request", None) is None
    layer.tick(500)                           # Timer G = T1
    assert len(rec.sent) == 2 and rec.sent[1] == rec.sent[0]
    tx.on_ack()
    assert tx.state == CONFIRMED and tx.last is None
    layer.tick(500 + 5000)                    # Timer I = T4
    assert layer.servers == {}


def test_rfc3261_17_2_1_timer_h_terminates_without_a_tu():
    rec = Recorder()
    layer = TransactionLayer(rec.send)
    req = invite()
    tx = layer.start_server(req, ADDR)
    tx.respond(make_response(req, 486, to_tag="t2"))
    layer.tick(32000)                         # Timer H = 64*T1: the ACK never came
    assert layer.servers == {}


def test_rfc6026_7_1_accepted_invite_server_keeps_neither_the_2xx_nor_the_tu():
    rec = Recorder()
    layer = TransactionLayer(rec.send)
    req = invite()
    tx = layer.start_server(req, ADDR)
    tx.tu = rec
    sent = tx.respond(make_response(req, 200, to_tag="t2"))
    assert sent == rec.sent[0][0]             # the TU retransmits these bytes itself
    assert tx.state == ACCEPTED and tx.tu is None and tx.last is None
    tx.on_retransmission()                    # a retransmitted INVITE is absorbed
    assert len(rec.sent) == 1
    layer.tick(32000)                         # Timer L = 64*T1
    assert layer.servers == {}
