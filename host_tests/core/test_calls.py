"""Call flows between two in-process UAs over a fake network (RFC 3261 §9, §13-15, §17.1.1, §17.2.1; RFC 3264)."""

import gc

from _net import Net, states, last_call
from intercom.sip.call import Call

A = ("192.0.2.1", 5060)
B = ("192.0.2.2", 5060)
C = ("192.0.2.3", 5060)
URI_B = "sip:bob@192.0.2.2:5060"


def two_phones(**calls_b):
    net = Net()
    a = net.phone(A[0], "alice")
    b = net.phone(B[0], "bob", **calls_b)
    return net, a, b


def connected_call(**calls_b):
    net, a, b = two_phones(**calls_b)
    a.dial(URI_B)
    net.run(10)
    b.answer()
    net.run(10)
    assert states(a)[-1] == "connected" and states(b)[-1] == "connected"
    return net, a, b


def test_rfc3261_13_basic_call_invite_100_180_200_ack_then_caller_bye():
    net, a, b = connected_call()
    assert net.summaries() == ["INVITE", "100 INVITE", "180 INVITE", "200 INVITE", "ACK"]
    assert states(a) == ["dialing", "ringing_out", "connected"]
    assert states(b) == ["incoming", "connected"]
    a.hangup()
    net.run(10)
    assert net.summaries()[-2:] == ["BYE", "200 BYE"]
    assert last_call(a)["reason"] == "local_hangup"
    assert last_call(b)["reason"] == "remote_hangup"


def test_rfc3261_15_1_callee_hangs_up_with_bye():
    net, a, b = connected_call()
    b.hangup()
    net.run(10)
    assert last_call(a)["state"] == "ended" and last_call(a)["reason"] == "remote_hangup"
    assert last_call(b)["reason"] == "local_hangup"


def test_rfc3264_media_negotiated_first_common_codec_both_ways():
    net, a, b = connected_call()
    media_a = [e for e in a.seen if e["event"] == "media"][-1]
    media_b = [e for e in b.seen if e["event"] == "media"][-1]
    assert media_a["address"] == B[0] and media_a["port"] == 40000 and media_a["codec"] == "PCMU"
    assert media_b["address"] == A[0] and media_b["direction"] == "sendrecv"


def test_rfc3261_13_3_1_4_2xx_retransmitted_until_the_ack_arrives():
    net, a, b = two_phones()
    lost = []

    def drop_first_ack(msg, src, dst):
        if msg.method == "ACK" and not lost:
            lost.append(1)
            return True
        return False
    net.drop = drop_first_ack
    a.dial(URI_B)
    net.run(10)
    b.answer()
    net.run(2000)
    assert net.summaries().count("200 INVITE") == 2        # once more after T1
    assert net.summaries().count("ACK") == 2               # the UAC re-ACKs the retransmission
    assert states(b)[-1] == "connected"
    net.run(40000)
    assert net.summaries().count("200 INVITE") == 2        # stopped once ACKed


def test_rfc3261_13_3_1_4_no_ack_within_64_t1_ends_the_call_with_bye():
    net, a, b = two_phones()
    net.drop = lambda msg, src, dst: msg.method == "ACK"
    a.dial(URI_B)
    net.run(10)
    b.answer()
    net.run(33000)
    assert last_call(b)["reason"] == "no_ack"
    assert "BYE" in net.summaries()
    intervals = net.summaries().count("200 INVITE")
    assert 7 <= intervals <= 12, intervals     # T1 doubling to T2 for 32 s


def test_rfc3261_17_1_1_2_lost_invite_is_retransmitted_by_timer_a():
    net, a, b = two_phones()
    lost = []
    net.drop = lambda msg, src, dst: msg.method == "INVITE" and not lost and not lost.append(1)
    a.dial(URI_B)
    net.run(499)
    assert states(b) == []
    net.run(1)
    assert states(b) == ["incoming"]


def test_rfc3261_17_1_2_lost_bye_is_retransmitted():
    net, a, b = connected_call()
    lost = []
    net.drop = lambda msg, src, dst: msg.method == "BYE" and not lost and not lost.append(1)
    a.hangup()
    net.run(10)
    assert last_call(b)["state"] == "connected"
    net.run(600)
    assert last_call(b)["reason"] == "remote_hangup"


def test_rfc3261_9_1_cancel_while_ringing_gets_487_and_ack():
    net, a, b = two_phones()
    a.dial(URI_B)
    net.run(10)
    a.hangup()
    net.run(10)
    assert net.summaries()[3:] == ["CANCEL", "200 CANCEL", "487 INVITE", "ACK"]
    # the call ended for the user at the hang-up, not when the 487 came
    assert last_call(a)["reason"] == "cancelled" and "status" not in last_call(a)
    assert last_call(b)["reason"] == "cancelled"


def test_rfc3261_9_1_cancel_racing_200_is_followed_by_ack_and_bye():
    net, a, b = two_phones()
    a.dial(URI_B)
    net.run(10)
    b.answer()        # the 200 is queued at B ...
    a.hangup()        # ... while A cancels: both cross on the wire
    net.run(10)
    seq = net.summaries()
    assert "CANCEL" in seq and "200 INVITE" in seq
    assert seq.index("ACK") < seq.index("BYE")
    assert last_call(a)["state"] == "ended" and last_call(b)["state"] == "ended"


def test_outgoing_ring_timeout_cancels_and_reports_no_answer():
    net = Net()
    a = net.phone(A[0], "alice", ring_timeout=5)
    net.phone(B[0], "bob", ring_timeout=0)
    a.dial(URI_B)
    net.run(5010)
    assert last_call(a)["reason"] == "no_answer"
    assert "CANCEL" in net.summaries()


def test_incoming_ring_timeout_answers_480_or_configured_408():
    for code in (480, 408):
        net = Net()
        a = net.phone(A[0], "alice", ring_timeout=0)
        b = net.phone(B[0], "bob", ring_timeout=3, no_answer_code=code)
        a.dial(URI_B)
        net.run(3010)
        assert last_call(b)["reason"] == "no_answer" and last_call(b)["status"] == code
        assert last_call(a)["status"] == code
        assert net.summaries()[-1] == "ACK"          # the UAC's transaction ACKs the error


def test_rfc3261_21_4_7_busy_here_486_while_in_a_call():
    net, a, b = connected_call()
    c = net.phone(C[0], "carol")
    c.dial(URI_B)
    net.run(10)
    assert last_call(c)["reason"] == "busy" and last_call(c)["status"] == 486
    assert net.summaries()[-2:] == ["486 INVITE", "ACK"]
    assert states(b) == ["incoming", "connected"]


def test_call_waiting_second_call_rings_first_is_held_then_resumed():
    net, a, b = connected_call(call_waiting=True)
    c = net.phone(C[0], "carol")
    c.dial(URI_B)
    net.run(10)
    waiting = last_call(b)
    assert waiting["state"] == "incoming" and waiting["waiting"] is True and waiting["id"] == 2
    b.answer(2)                           # holds call 1, answers call 2
    net.run(10)
    assert states(a)[-1] == "remote_hold"
    assert last_call(c)["state"] == "connected"
    c.hangup()
    net.run(10)
    b.resume(1)
    net.run(10)
    assert states(a)[-1] == "connected"
    assert [e["state"] for e in b.seen if e["event"] == "call" and e["id"] == 1][-1] == "connected"


def test_rfc3264_8_4_hold_is_sendonly_answered_recvonly_and_resume_is_sendrecv():
    net, a, b = connected_call()
    a.hold()
    net.run(10)
    assert states(a)[-1] == "on_hold" and states(b)[-1] == "remote_hold"
    assert [e for e in b.seen if e["event"] == "media"][-1]["direction"] == "recvonly"
    a.resume()
    net.run(10)
    assert states(a)[-1] == "connected" and states(b)[-1] == "connected"


def test_rfc3264_8_o_line_version_grows_with_every_change():
    net, a, b = connected_call()
    versions = []

    def spy(msg, src, dst):
        if msg.body and src == A:
            versions.append(int(msg.body.decode().split("\r\n")[1].split()[2]))
        return False
    net.drop = spy
    a.hold()
    net.run(10)
    a.resume()
    net.run(10)
    assert versions == sorted(versions) and len(set(versions)) == 2


def test_rfc3264_6_no_common_codec_is_488():
    net = Net()
    a = net.phone(A[0], "alice")
    b = net.phone(B[0], "bob")
    a.cfg["media"]["codecs"] = ["PCMA"]
    b.cfg["media"]["codecs"] = ["PCMU"]
    a.dial(URI_B)
    net.run(10)
    assert last_call(a)["status"] == 488
    assert states(b) == []


def test_rfc3261_14_1_glare_both_reinvite_get_491_and_retry_after_backoff():
    net, a, b = connected_call()
    a.hold()
    b.hold()
    net.run(10)
    assert net.summaries().count("491 INVITE") == 2
    net.run(5000)
    assert states(a)[-1] == "on_hold" and states(b)[-1] == "on_hold"


def test_targets_list_moves_to_the_next_target_on_busy():
    net, b, c = Net(), None, None
    a = net.phone(A[0], "alice")
    b = net.phone(B[0], "bob")
    c = net.phone(C[0], "carol")
    d = net.phone("192.0.2.4", "dave")
    b.dial("sip:carol@192.0.2.3")
    net.run(10)
    c.answer()
    net.run(10)
    a.cfg["calls"]["targets"] = ["sip:carol@192.0.2.3", "sip:dave@192.0.2.4"]
    a.dial()
    net.run(10)
    first, second = [e for e in a.seen if e["event"] == "call" and e["state"] == "dialing"]
    assert (first["attempt"], first["of"], second["attempt"]) == (1, 2, 2)
    assert [e["reason"] for e in a.seen if e.get("state") == "ended"] == ["busy"]
    assert states(d) == ["incoming"]


def test_max_duration_ends_the_call_with_bye():
    net, a, b = two_phones()
    a.cfg["calls"]["max_duration"] = 60
    a.dial(URI_B)
    net.run(10)
    b.answer()
    net.run(59000)
    assert states(a)[-1] == "connected"
    net.run(1100)
    assert last_call(a)["reason"] == "max_duration" and last_call(b)["reason"] == "remote_hangup"


def test_auto_answer_connects_without_a_command():
    net, a, b = two_phones(auto_answer=True)
    a.dial(URI_B)
    net.run(10)
    assert states(a)[-1] == "connected" and states(b) == ["incoming", "connected"]


def test_incoming_reject_with_configured_code():
    net, a, b = two_phones(reject_code=603)
    a.dial(URI_B)
    net.run(10)
    b.hangup()
    net.run(10)
    assert last_call(b)["reason"] == "rejected" and last_call(a)["reason"] == "declined"
    assert last_call(a)["status"] == 603


# --- what a call and its transactions keep (heap on a device without PSRAM) ----

def test_rfc3261_12_connected_calls_keep_the_dialog_not_the_invite():
    net, a, b = connected_call()
    for ua in (a, b):
        call = ua.calls.calls[0]
        assert call.invite is None and call.dialog is not None


def test_rfc6026_transactions_lingering_after_hangup_keep_no_request_or_call():
    net, a, b = connected_call()
    a.hangup()
    net.run(10)
    for ua in (a, b):
        assert ua.calls.calls == []
        lingering = list(ua.layer.clients.values()) + list(ua.layer.servers.values())
        assert lingering                      # Timers J, K, L, M still run
        for tx in lingering:
            assert getattr(tx, "request", None) is None
            assert not isinstance(getattr(tx, "tu", None), Call)


def test_rfc6026_ended_calls_are_freed_while_their_transactions_linger():
    try:
        import weakref
    except ImportError:
        return        # MicroPython: the test above checks the references instead
    net, a, b = connected_call()
    calls = [weakref.ref(a.calls.calls[0]), weakref.ref(b.calls.calls[0])]
    a.hangup()
    net.run(10)
    gc.collect()
    assert [ref() for ref in calls] == [None, None]


def test_rfc3261_13_2_2_4_2xx_retransmitted_after_hangup_is_acked_again():
    net, a, b = two_phones()
    oks = []

    def keep_200(msg, src, dst):
        if msg.status == 200 and msg.cseq[1] == "INVITE":
            oks.append(msg.encode())
        return False
    net.drop = keep_200
    a.dial(URI_B)
    net.run(10)
    b.answer()
    net.run(10)
    a.hangup()
    net.run(10)
    acks = net.summaries().count("ACK")
    net.send(B, A, oks[0])                    # A's INVITE transaction is still Accepted
    net.run(10)
    assert net.summaries()[-1] == "ACK" and net.summaries().count("ACK") == acks + 1
