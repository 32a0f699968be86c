"""Impolite peers: calls always end (issue 9 items 1 and 6, RFC 3261 sections 9.1,
15, 17.1.1; the busy ladder of section 21.4.23 with its 100 Trying).

tools/sim against SIPp callees that answer 100 Trying and then nothing, that
answer and then vanish, and a SIPp caller that calls while the sim is busy.
Every test runs under both runtimes of tools/sim, peer to peer on 127.0.0.1,
each wait bounded, every process stopped by its PID.
"""

import time

import pytest

from ._rig import RUNTIMES, cseq_method, pcap_records

HANGUP_TO_ENDED_S = 1.0      # issue 9 item 1: `ended` within 1 s of hangup / the ring timeout
MEDIA_TIMEOUT_S = 3


def explain(rig, fn, *args):
    """Run fn; an AssertionError gets every peer's trace and the sim's SIP ladder."""
    try:
        return fn(*args)
    except AssertionError as e:
        raise AssertionError("%s\n==== peers ====\n%s" % (e, rig.report())) from None


def uri(port, user="sipp"):
    return "sip:%s@127.0.0.1:%d" % (user, port)


def errors(sim, since=0):
    return [e for e in sim.events[since:] if e["event"] == "error"]


def sent(sim, method):
    """Requests of `method` the sim sent, from its pcap."""
    return [r for r in pcap_records(sim) if r["out"] and r["first"].startswith(method + " ")]


def dial_works_at_once(rig, sim, first_id):
    """A new `dial` right after the call ended: a second INVITE goes out and the
    call connects (no "already in a call"); then it is hung up cleanly."""
    answer = rig.sipp("uas_answer.xml", timeout=20, args=["-s", "sipp"]).start()
    mark = len(sim.events)
    invites_before = len(sent(sim, "INVITE"))
    sim.send("dial " + uri(answer.port))
    second = sim.wait_event("call", 3, since=mark, state="dialing")
    assert second["id"] != first_id, second
    assert not errors(sim, mark), errors(sim, mark)
    sim.wait_event("call", 5, id=second["id"], state="connected")
    assert len(sent(sim, "INVITE")) > invites_before, "no second INVITE went out"
    sim.send("hangup")
    end = sim.wait_event("call", 5, id=second["id"], state="ended")
    assert end.get("reason") == "local_hangup", end
    assert answer.wait(15) == 0, answer.report()


# -- 1. 100 Trying, then silence -----------------------------------------------------------

SILENT_UAS = {
    "cancel_ignored": "calls_end_uas_100_ignore_cancel.xml",
    "cancel_200_no_487": "calls_end_uas_100_cancel_200_no_487.xml",
}


def dial_silent_uas(rig, runtime, scenario, **calls):
    uas = rig.sipp(scenario, timeout=25, args=["-s", "sipp"]).start()
    sim = rig.sim(runtime, calls=calls)
    sim.send("dial " + uri(uas.port))
    first = sim.wait_event("call", 5, state="dialing")
    return sim, uas, first


def wait_for_100(sim, timeout=3.0):
    """Until the sim's pcap shows the 100 Trying arrived (the CANCEL may go from then on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(not r["out"] and r["first"].startswith("SIP/2.0 100") for r in pcap_records(sim)):
            return
        time.sleep(0.05)
    raise AssertionError("the SIPp UAS's 100 Trying never reached the sim")


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("peer", sorted(SILENT_UAS))
def test_100_trying_then_silence_hangup_ends_the_call_at_once(rig, runtime, peer):
    """hangup after a lone 100 Trying: `ended` (local_hangup or cancelled)
    within 1 s, a CANCEL reaches the callee, and a new dial works at once."""

    def run():
        sim, uas, first = dial_silent_uas(rig, runtime, SILENT_UAS[peer])
        wait_for_100(sim)
        time.sleep(0.3)             # well after the 100: nothing else will come
        t0 = time.monotonic()
        sim.send("hangup")
        end = sim.wait_event("call", 5, id=first["id"], state="ended")
        took = end["_t"] - t0
        print("%s/%s: hangup -> ended %.3f s (reason %s)" % (runtime, peer, took,
                                                             end.get("reason")))
        assert end.get("reason") in ("local_hangup", "cancelled"), end
        assert took <= HANGUP_TO_ENDED_S, "ended %.3f s after hangup" % took
        # the callee got our CANCEL (its scenario fails without one)
        assert uas.wait(10) == 0, "the silent UAS got no CANCEL\n" + uas.report()
        cancels = sent(sim, "CANCEL")
        assert cancels, "the sim sent no CANCEL"
        dial_works_at_once(rig, sim, first["id"])
        assert sim.quit(10) == 0
        sim.check_stdout()

    explain(rig, run)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_100_trying_then_silence_ring_timeout_ends_no_answer(rig, runtime):
    """ring_timeout 2 s after a lone 100 Trying: `ended` reason no_answer within
    1 s of the timeout, a CANCEL sent, and a new dial works at once."""

    def run():
        sim, uas, first = dial_silent_uas(rig, runtime, SILENT_UAS["cancel_ignored"],
                                          ring_timeout=2)
        end = sim.wait_event("call", 8, id=first["id"], state="ended")
        took = end["_t"] - first["_t"]
        print("%s: dial -> ended %.3f s (ring_timeout 2 s, reason %s)" % (
            runtime, took, end.get("reason")))
        assert end.get("reason") == "no_answer", end
        assert 1.8 <= took <= 2.0 + HANGUP_TO_ENDED_S, "ended %.3f s after dialing" % took
        assert uas.wait(10) == 0, "the silent UAS got no CANCEL\n" + uas.report()
        assert sent(sim, "CANCEL"), "the sim sent no CANCEL"
        dial_works_at_once(rig, sim, first["id"])
        assert sim.quit(10) == 0
        sim.check_stdout()

    explain(rig, run)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_100_trying_then_silence_quit_reports_ended_before_exit(rig, runtime):
    """quit right after dialing a callee that only says 100 Trying: the sim
    reports the call `ended` before it exits (status 0, in bounded time)."""

    def run():
        sim, uas, first = dial_silent_uas(rig, runtime, SILENT_UAS["cancel_ignored"])
        t0 = time.monotonic()      # right after `dialing`: the 100 may not be here yet
        rc = sim.quit(10)
        took = time.monotonic() - t0
        ends = [e for e in sim.events if e["event"] == "call" and e.get("id") == first["id"]
                and e.get("state") == "ended"]
        print("%s: quit -> exit %.3f s, ended events %s" % (runtime, took, ends))
        assert rc == 0, rc
        assert ends, "the sim exited without reporting the call ended"
        assert ends[0].get("reason") in ("local_hangup", "cancelled"), ends
        sim.check_stdout()

    explain(rig, run)


# -- 3. the peer vanishes mid-call -----------------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_peer_vanishes_mid_call_media_timeout_ends_it(rig, runtime):
    """A callee that answers and then sends nothing, answers nothing: with
    calls.media_timeout 3 the call ends (reason media_timeout) after 3-5 s,
    a BYE goes out, and a new call works afterwards."""

    def run():
        uas = rig.sipp("vanish_uas_answer_then_deaf.xml", timeout=30, args=["-s", "sipp"]).start()
        sim = rig.sim(runtime, calls={"media_timeout": MEDIA_TIMEOUT_S})
        sim.send("dial " + uri(uas.port))
        first = sim.wait_event("call", 5, state="dialing")
        up = sim.wait_event("call", 5, id=first["id"], state="connected")
        end = sim.wait_event("call", MEDIA_TIMEOUT_S + 6, id=first["id"], state="ended")
        took = end["_t"] - up["_t"]
        print("%s: connected -> ended %.3f s (media_timeout %d s, reason %s)" % (
            runtime, took, MEDIA_TIMEOUT_S, end.get("reason")))
        assert end.get("reason") == "media_timeout", end
        assert MEDIA_TIMEOUT_S - 0.5 <= took <= MEDIA_TIMEOUT_S + 2.0, (
            "ended %.3f s after connecting" % took)
        byes = sent(sim, "BYE")
        assert byes, "the sim sent no BYE"
        assert uas.wait(15) == 0, "the vanished UAS never saw the BYE\n" + uas.report()
        dial_works_at_once(rig, sim, first["id"])
        assert sim.quit(10) == 0
        sim.check_stdout()

    explain(rig, run)


# -- 5. busy: 100 Trying, then 486 -------------------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_busy_486_comes_after_100_trying(rig, runtime):
    """A second caller while the sim is in a call gets 100 Trying, then 486."""

    def run():
        callee = rig.sipp("uas_answer.xml", timeout=25, args=["-s", "sipp"]).start()
        sim = rig.sim(runtime)         # accept_from "any", call_waiting off
        sim.send("dial " + uri(callee.port))
        first = sim.wait_event("call", 5, state="dialing")
        sim.wait_event("call", 5, id=first["id"], state="connected")
        caller = rig.sipp("busy_uac_expect_100_then_486.xml", remote=("127.0.0.1", sim.sip_port),
                          timeout=10, args=["-s", sim.user])
        assert caller.run(15) == 0, "no 100 Trying before the 486\n" + caller.report()
        answers = [r["first"] for r in pcap_records(sim)
                   if r["out"] and r["first"].startswith("SIP/2.0 ")
                   and cseq_method(r["text"]) == "INVITE" and r["peer"][1] == caller.port]
        assert answers and answers[0].startswith("SIP/2.0 100") and answers[-1].startswith("SIP/2.0 486"), answers
        assert not [e for e in sim.events if e["event"] == "call" and e["id"] != first["id"]], (
            "the busy caller made a call appear")
        sim.send("hangup")
        end = sim.wait_event("call", 5, id=first["id"], state="ended")
        assert end.get("reason") == "local_hangup", end
        assert callee.wait(15) == 0, callee.report()
        assert sim.quit(10) == 0
        sim.check_stdout()

    explain(rig, run)
