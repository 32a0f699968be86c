"""Impolite peers: a parallel-forking proxy (issue 9 item 5, RFC 3261 sections
13.2.2.4, 16.6 and 16.7).

Kamailio with host_tests/impolite/kamailio_fork.cfg forks the sim's INVITE to
two SIPp callees registered as the same user. Callee 1 answers at once;
callee 2 answers only when the proxy cancels its branch (its 200 "crosses"
the CANCEL), so the sim gets two 2xx from two dialogs for one INVITE, always
in that order. Every 2xx must be ACKed, the first dialog kept, the other
ended with BYE at once; the user sees one connected call, and its hang-up
BYEs the dialog it kept. Both runtimes, 127.0.0.1 only, bounded, stopped by PID.
"""

import os
import time

import pytest

from ._rig import HERE, RUNTIMES, cseq_method, pcap_records, raw_register, to_tag

FORK_CFG = os.path.join(HERE, "kamailio_fork.cfg")
USERS = {"door": "secret", "sipp": "sippsecret"}
TRUSTED = ("sipp",)
HOLD_S = 2.0            # how long the kept dialog must stay up before our hang-up


def sip_of(sim, first, out):
    return [r for r in pcap_records(sim) if r["out"] == out and r["first"].startswith(first)]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_forked_invite_every_2xx_acked_and_extra_dialogs_get_bye(rig, runtime):
    kam = rig.kamailio(USERS, trusted=TRUSTED, template=FORK_CFG)
    first_uas = rig.sipp("forking_uas_answer_first.xml", timeout=30, args=["-s", "sipp"]).start()
    late_uas = rig.sipp("forking_uas_answer_crossing_cancel.xml", timeout=30,
                        args=["-s", "sipp"]).start()
    for uas in (first_uas, late_uas):
        regs = raw_register(kam.port, "sipp", USERS["sipp"], expires=120, contact_port=uas.port)
        assert regs and regs[-1][0] == 200, regs
    # the scenarios' To tag: [pid]SIPpTag01[call_number], call number 1
    tag_first = "%dSIPpTag011" % first_uas.proc.pid
    tag_late = "%dSIPpTag011" % late_uas.proc.pid
    sim = rig.sim(runtime, registrar=(kam.port, USERS["door"]),
                  calls={"accept_from": "registrar"})

    def run():
        sim.send("dial sip:sipp@127.0.0.1:%d" % kam.port)
        first = sim.wait_event("call", 5, state="dialing")
        cid = first["id"]
        sim.wait_event("call", 8, id=cid, state="connected")
        # the proxy forked to both callees (harness check, not the sim's job)
        relayed = [r for r in kam.requests("INVITE") if r["from_user"] == "door" and r["auth"]]
        assert relayed, "Kamailio relayed no authenticated INVITE from door"
        # the late callee got its ACK and then a BYE, without our hang-up
        rc = late_uas.wait(12)
        assert rc == 0, "the extra dialog was not ACKed and ended with BYE\n" + late_uas.report()
        t_extra_done = time.time()
        oks = sip_of(sim, "SIP/2.0 200", out=False)
        tags = set(to_tag(r["text"]) for r in oks if cseq_method(r["text"]) == "INVITE")
        assert {tag_first, tag_late} <= tags, (
            "harness: the sim did not receive both forked 2xx (to-tags %s)" % sorted(tags))
        time.sleep(HOLD_S)
        # the kept dialog is the first callee's, still up, and no one else's BYE went out
        assert first_uas.proc.poll() is None, "the kept dialog ended early\n" + first_uas.report()
        byes = sip_of(sim, "BYE ", out=True)
        assert set(to_tag(r["text"]) for r in byes) == {tag_late}, [r["first"] for r in byes]
        t_hangup = time.time()
        sim.send("hangup")
        end = sim.wait_event("call", 5, id=cid, state="ended")
        assert end.get("reason") == "local_hangup", end
        assert first_uas.wait(10) == 0, "the kept dialog got no BYE\n" + first_uas.report()

        recs = pcap_records(sim)
        acks = [r for r in recs if r["out"] and r["first"].startswith("ACK ")]
        acked = set(to_tag(r["text"]) for r in acks)
        assert {tag_first, tag_late} <= acked, "2xx not ACKed: ACK to-tags %s" % sorted(acked)
        byes = [r for r in recs if r["out"] and r["first"].startswith("BYE ")]
        late_byes = [r for r in byes if to_tag(r["text"]) == tag_late]
        kept_byes = [r for r in byes if to_tag(r["text"]) == tag_first]
        assert late_byes and late_byes[0]["t"] <= t_extra_done, late_byes
        assert kept_byes and min(r["t"] for r in kept_byes) >= t_hangup - 0.05, kept_byes
        # each BYE after that dialog's ACK (RFC 3261 15: BYE on a confirmed dialog)
        for tag, tagged_byes in ((tag_late, late_byes), (tag_first, kept_byes)):
            ack_t = min(r["t"] for r in acks if to_tag(r["text"]) == tag)
            assert tagged_byes[0]["t"] >= ack_t, (tag, ack_t, tagged_byes[0]["t"])
        # the user saw one call, connected once
        calls = [e for e in sim.events if e["event"] == "call"]
        assert set(e["id"] for e in calls) == {cid}, calls
        assert [e["state"] for e in calls].count("connected") == 1, calls
        assert not [e for e in sim.events if e["event"] == "error"], sim.events
        print("%s: forked 2xx from %s and %s; ACKed %s; BYE to the extra dialog %.3f s "
              "after its 200" % (runtime, tag_first, tag_late, sorted(acked),
                                 late_byes[0]["t"] - min(r["t"] for r in oks
                                                         if to_tag(r["text"]) == tag_late)))
        assert sim.quit(10) == 0
        sim.check_stdout()

    try:
        run()
    except AssertionError as e:
        raise AssertionError("%s\n==== peers ====\n%s" % (e, rig.report())) from None
