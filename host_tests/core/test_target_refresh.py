"""Our Contact moves during a call: the target-refresh re-INVITE (RFC 3261 §12.2.1.2, §14.1; RFC 5626 §4.4.1)."""

from _net import states, last_call
from _sipfakes import FakeRegistrar, exchange, make_ua
from intercom.sip.message import make_response
from intercom.ticks import ticks_add
from test_calls import A, B, connected_call

A_MOVED = ("192.0.2.1", 5070)         # where a's new connection (or NAT binding) puts it


def move(net, a):
    """a is now reached at A_MOVED only, as after a new TCP/TLS flow."""
    a.contact_port = A_MOVED[1]
    net.nodes[A_MOVED] = net.nodes.pop(A)


def invites_to_b(net):
    return [(src, dst) for src, dst, s in net.ladder if s == "INVITE" and dst == B]


def test_rfc3261_12_2_1_2_moved_contact_is_sent_in_a_reinvite_and_the_peers_bye_reaches_it():
    net, a, b = connected_call()
    before = len(invites_to_b(net))
    move(net, a)
    a.calls.calls[0].refresh_target()
    net.run(10)
    assert len(invites_to_b(net)) == before + 1
    assert any("Contact moved" in line for line in a.logs), a.logs
    # no state change: the session is as it was, sendrecv both ways
    assert states(a)[-1] == "connected" and states(b)[-1] == "connected"
    b.hangup()
    net.run(10)
    assert [(s, d) for s, d, m in net.ladder if m == "BYE"] == [(B, A_MOVED)], net.ladder
    assert last_call(a)["reason"] == "remote_hangup", last_call(a)
    assert last_call(b)["reason"] == "local_hangup", last_call(b)


def test_rfc3261_14_1_refused_target_refresh_keeps_the_hold_as_it_was():
    net, a, b = connected_call()
    a.hold()
    net.run(10)
    assert states(a)[-1] == "on_hold"
    refused = []

    def refuse_reinvite(msg, src, dst):
        # b's side answers the refresh with 500: the session stays as it was (§14.1)
        if msg.is_request and msg.method == "INVITE" and dst == B and not refused:
            refused.append(make_response(msg, 500, to_tag=msg.to.tag).encode())
            return True
        return False
    net.drop = refuse_reinvite
    move(net, a)
    net.nodes[A] = a                        # the 500 goes to the Via address
    a.calls.calls[0].refresh_target()
    net.run(1)
    net.drop = None
    net.send(B, A, refused[0])
    net.run(10)
    assert states(a)[-1] == "on_hold", states(a)
    call = a.calls.find()
    assert call.local_hold is True and call.reinvite_tx is None
    a.resume()                              # hold still works: one re-INVITE, sendrecv again
    net.run(10)
    assert states(a)[-1] == "connected" and states(b)[-1] == "connected"


def test_rfc3261_14_1_refresh_asked_during_a_pending_reinvite_follows_it():
    net, a, b = connected_call()
    before = len(invites_to_b(net))
    a.hold()                                # re-INVITE in flight, from the old Contact
    move(net, a)
    net.nodes[A] = a
    a.calls.calls[0].refresh_target()
    net.run(10)
    assert len(invites_to_b(net)) == before + 2, net.ladder
    assert states(a)[-1] == "on_hold" and states(b)[-1] == "remote_hold"
    del net.nodes[A]
    b.hangup()
    net.run(10)
    assert last_call(a)["reason"] == "remote_hangup", last_call(a)


def test_rfc3581_registrar_seeing_a_new_port_refreshes_the_live_calls():
    ua = make_ua()
    reg = FakeRegistrar()
    asked = []

    class LiveCall:                         # what the registration needs of a call, and the timers of one
        def refresh_target(self):
            asked.append(1)

        def deadline(self):
            return None

        def fire_due(self, now):
            pass
    ua.calls.calls.append(LiveCall())
    reg.rport = 40000
    ua.register()
    exchange(ua, reg, 0)
    assert asked == [1]                     # the first correction
    ua.tick(0)
    exchange(ua, reg, 0)
    assert asked == [1]                     # the same address again: nothing moved
    reg.rport = 40123
    due = ticks_add(0, 300 * 1000)         # the refresh
    ua.tick(due)
    exchange(ua, reg, due)
    assert asked == [1, 1]


def test_rfc3261_14_1_refresh_the_peer_never_answers_ends_the_call_with_bye_not_never():
    net, a, b = connected_call()
    move(net, a)
    net.nodes[A] = a
    # b's side went deaf for INVITEs: Timer B, then the 64*T1 wait, end the call
    net.drop = lambda msg, src, dst: msg.is_request and msg.method == "INVITE" and dst == B
    a.calls.calls[0].refresh_target()
    net.run(40000)
    end = last_call(a)
    assert end["state"] == "ended" and end["reason"] == "timeout", end
    assert (A, B, "BYE") in net.ladder or (A_MOVED, B, "BYE") in net.ladder, net.ladder
    assert not a.calls.calls
