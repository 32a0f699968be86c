"""Calls against real peers (RFC 3261 sections 9, 12-17, RFC 3264 hold), issue 3's
"Interop" list: tools/sim as caller and callee against SIPp scenarios, each
peer-to-peer and through Kamailio (registrar + record-routing proxy, digest
auth on INVITE), calls both ways with baresip through Kamailio, and ghost-call
protection against sipvicious and a direct SIPp INVITE.

Everything runs on 127.0.0.1, every wait is bounded, every peer is started
per test and stopped by PID. The sim writes its SIP datagrams to sim.pcap in
the test's tmp_path, SIPp its message trace: both are in failure messages.
"""

import os
import struct
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import (HOST, Baresip, sim_pcap, Kamailio, Sim, Sipp, free_rtp_port, free_udp_ports,  # noqa: E402
                   raw_register, require_binary, stop_pid)

MODES = ["p2p", "kamailio"]
USERS = {"door": "secret", "sipp": "sippsecret", "bob": "bobsecret"}
# The SIPp endpoint is a static trunk: it calls through Kamailio without a
# challenge. The sim ("door") and baresip ("bob") authenticate every INVITE.
TRUSTED = ("sipp",)


def ports(n_sip):
    """n_sip distinct free UDP ports and an even RTP port (with RTCP) apart from them."""
    sip = free_udp_ports(n_sip)
    while True:
        rtp = free_rtp_port()
        if rtp not in sip and rtp + 1 not in sip:
            return sip + [rtp]


def sipp_media_args(avoid=()):
    """SIPp binds four media ports from -mp (audio and video, RTP and RTCP; unused
    here): keep them off 6000 and off the ports this test's sims will bind, which
    are free until the sims start."""
    while True:
        base = free_udp_ports(1, spacing=4, even=True)[0]
        if not set(range(base, base + 4)) & set(avoid):
            return ["-mp", str(base)]


class Setup:
    """One test's network: the sim's config and how to reach a SIPp peer,
    peer-to-peer (registrar "") or through Kamailio (registered)."""

    def __init__(self, mode, tmp_path, runtime="micropython"):
        self.mode = mode
        self.tmp = tmp_path
        self.runtime = runtime
        self.kamailio = None
        self.local_port, self.rtp_port = ports(1)
        self.sims = []
        self.sipps = []
        self.baresip = None

    def start_kamailio(self):
        if self.mode == "kamailio":
            self.kamailio = Kamailio(USERS, trusted=TRUSTED,
                                     workdir=str(self.tmp / "kamailio")).start()
        return self

    def config(self, **calls):
        c = {"targets": [], "ring_timeout": 30, "auto_answer": False,
             "accept_from": "any" if self.mode == "p2p" else "registrar"}
        c.update(calls)
        if self.mode == "p2p":
            sip = {"registrar": "", "user": "door", "local_port": self.local_port}
        else:
            sip = {"registrar": HOST, "port": self.kamailio.port, "user": "door",
                   "password": USERS["door"], "expires": 60, "local_port": self.local_port}
        return {"board": "host", "sip": sip, "media": {"rtp_port": self.rtp_port}, "calls": c}

    def sim(self, runtime=None, **calls):
        name = "sim%d" % len(self.sims)
        pcap = str(self.tmp / (name + ".pcap"))
        sim = Sim(self.config(**calls), runtime=runtime or self.runtime,
                  extra_args=["--pcap", pcap], workdir=str(self.tmp / name))
        sim.pcap = pcap
        self.sims.append(sim)
        sim.start()
        sim.wait_event("ready", 15)
        if self.mode == "kamailio":
            ev = sim.wait_event("registered", 8)
            assert ev.get("expires"), ev
        return sim

    def sipp(self, scenario, port=None, remote=None, timeout=20, keys=None, args=()):
        s = Sipp(scenario, port=port, remote=remote, timeout=timeout, keys=keys,
                 args=list(args) + sipp_media_args((self.local_port, self.rtp_port, self.rtp_port + 1)),
                 workdir=str(self.tmp / ("sipp%d" % len(self.sipps))))
        self.sipps.append(s)
        return s

    def uri_of_sipp(self, sipp_port):
        """The URI the sim dials to reach a SIPp UAS on sipp_port: directly, or
        the user "sipp" registered at Kamailio with that port as its contact."""
        if self.mode == "p2p":
            return "sip:sipp@%s:%d" % (HOST, sipp_port)
        regs = raw_register(self.kamailio.port, "sipp", USERS["sipp"], expires=120,
                            contact_port=sipp_port)
        assert regs and regs[-1][0] == 200, regs
        return "sip:sipp@%s:%d" % (HOST, self.kamailio.port)

    def sim_address(self):
        """Where a SIPp UAC sends its INVITE for the sim's user."""
        if self.mode == "p2p":
            return (HOST, self.local_port)
        return (HOST, self.kamailio.port)

    def report(self):
        parts = []
        for s in self.sims:
            parts.append(s.describe())
            parts.append(pcap_ladder(s.pcap))
        for p in self.sipps:
            parts.append(p.report())
        if self.kamailio is not None:
            parts.append("--- kamailio ---\n" + self.kamailio.log_tail(30))
        return "\n".join(parts)

    def close(self):
        if self.baresip is not None:
            self.baresip.stop()
        for s in self.sims:
            s.stop()
        for p in self.sipps:
            p.stop()
        if self.kamailio is not None:
            self.kamailio.stop()


@pytest.fixture
def setup_factory(tmp_path):
    made = []

    def make(mode, runtime="micropython"):
        st = Setup(mode, tmp_path, runtime).start_kamailio()
        made.append(st)
        return st

    yield make
    for st in made:
        st.close()


def pcap_ladder(path, limit=40):
    """The SIP ladder of a pcap written by the sim: one line per datagram."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return "<pcap %s: %s>" % (path, e)
    out = ["--- sim pcap ladder (%s) ---" % path]
    off = 24
    t0 = None
    while off + 16 <= len(data):
        sec, usec, incl, _orig = struct.unpack_from("<IIII", data, off)
        pkt = data[off + 16: off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 28:
            continue
        src = "%d.%d.%d.%d" % tuple(pkt[12:16])
        sport, dport = struct.unpack_from(">HH", pkt, 20)
        payload = pkt[28:].decode("utf-8", "replace")
        first = payload.split("\r\n", 1)[0]
        cseq = ""
        for line in payload.split("\r\n"):
            if line.lower().startswith("cseq:"):
                cseq = line[5:].strip()
        t = sec + usec / 1e6
        t0 = t if t0 is None else t0
        out.append("%7.3f %s:%d -> :%d  %s  [%s]" % (t - t0, src, sport, dport, first, cseq))
    return "\n".join(out[:limit + 1])


def pcap_messages(path):
    """(first line, payload) of every datagram in the sim's pcap."""
    return [(r["first"], r["text"]) for r in sim_pcap(path, 0)]


def with_report(st, fn, *args):
    """Run fn; an AssertionError gets every peer's trace and the sim's ladder."""
    try:
        return fn(st, *args)
    except AssertionError as e:
        raise AssertionError("%s\n==== peers ====\n%s" % (e, st.report())) from None


def cseq_method(msg):
    for line in msg.split("\r\n"):
        if line.lower().startswith("cseq:"):
            return line[5:].split()[-1]
    return None


def call_states(sim, call_id=None):
    return [e["state"] for e in sim.events
            if e["event"] == "call" and (call_id is None or e.get("id") == call_id)]


def no_incoming(sim):
    return not any(e["event"] == "call" and e.get("state") == "incoming" for e in sim.events)


# -- the sim calls a SIPp UAS ----------------------------------------------------------

UAS_FLOWS = [
    "answer_sim_hangs_up",
    "answer_sipp_hangs_up",
    "answer_then_remote_hold_resume",
    "busy_486",
    "ring_no_answer_cancel_487",
    "ring_then_408",
]


def run_sim_calls_sipp_uas(st, flow, runtime=None):
    sipp_port = free_udp_ports(1)[0]
    scenario, pause_ms, calls = {
        "answer_sim_hangs_up": ("uas_answer.xml", 0, {}),
        "answer_sipp_hangs_up": ("uas_answer_bye.xml", 800, {}),
        "answer_then_remote_hold_resume": ("uas_hold.xml", 700, {}),
        "busy_486": ("uas_busy_486.xml", 0, {}),
        "ring_no_answer_cancel_487": ("uas_ring_no_answer.xml", 0, {"ring_timeout": 2}),
        "ring_then_408": ("uas_ring_408.xml", 800, {}),
    }[flow]
    uas = st.sipp(scenario, port=sipp_port, timeout=20, args=["-s", "sipp", "-d", str(pause_ms)])
    uas.start()
    sim = st.sim(runtime=runtime, **calls)
    target = st.uri_of_sipp(sipp_port)
    ctx = lambda: st.report()  # noqa: E731
    sim.send("dial " + target)
    first = sim.wait_event("call", 5, state="dialing")
    cid = first["id"]
    assert first.get("peer", "").startswith("sip:sipp@"), first

    if flow in ("answer_sim_hangs_up", "answer_sipp_hangs_up", "answer_then_remote_hold_resume"):
        sim.wait_event("call", 5, id=cid, state="connected")
        media = sim.wait_event("media", 0.1, since=0, id=cid)
        assert media.get("codec") == "PCMU" and isinstance(media.get("port"), int), media
        if flow == "answer_sim_hangs_up":
            time.sleep(0.3)
            sim.send("hangup")
            end = sim.wait_event("call", 5, id=cid, state="ended")
            assert end.get("reason") == "local_hangup", end
        elif flow == "answer_sipp_hangs_up":
            end = sim.wait_event("call", 6, id=cid, state="ended")
            assert end.get("reason") == "remote_hangup", end
        else:
            held = sim.wait_event("call", 6, id=cid, state="remote_hold")
            assert held, held
            back = sim.wait_event("call", 6, id=cid, state="connected")
            assert back, back
            end = sim.wait_event("call", 6, id=cid, state="ended")
            assert end.get("reason") == "remote_hangup", end
    elif flow == "busy_486":
        end = sim.wait_event("call", 6, id=cid, state="ended")
        assert (end.get("status"), end.get("reason")) == (486, "busy"), end
    elif flow == "ring_no_answer_cancel_487":
        sim.wait_event("call", 5, id=cid, state="ringing_out")
        end = sim.wait_event("call", 8, id=cid, state="ended")
        # ended for the user at the ring timeout; the CANCEL/487 finish behind it
        assert end.get("reason") == "no_answer", end
        # gave up after ring_timeout (2 s), not before
        assert end["_t"] - first["_t"] >= 1.8, (first, end)
    elif flow == "ring_then_408":
        sim.wait_event("call", 5, id=cid, state="ringing_out")
        end = sim.wait_event("call", 6, id=cid, state="ended")
        assert end.get("status") == 408, end
    rc = uas.wait(15)
    assert rc == 0, "SIPp UAS scenario %s failed\n%s" % (scenario, ctx())
    assert sim.quit(10) == 0, ctx()
    sim.check_stdout()
    assert not any(e["event"] == "error" for e in sim.events), ctx()
    if st.mode == "kamailio":
        invites = [r for r in st.kamailio.requests("INVITE") if r["from_user"] == "door"
                   and not r["totag"]]
        # RFC 3261 22.3: the proxy challenged the first INVITE, the retry carried credentials
        assert any(r["auth"] for r in invites) and any(not r["auth"] for r in invites), (
            invites, ctx())
    return sim, uas


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("flow", UAS_FLOWS)
def test_sim_calls_sipp_uas(setup_factory, mode, flow):
    """test_sim_calls_sipp_uas[<mode>-<flow>]: the sim is the caller (UAC)."""
    with_report(setup_factory(mode), run_sim_calls_sipp_uas, flow)


# Readable aliases in the report: the names say what each case proves.
def test_sim_calls_sipp_uas_busy_486_p2p_cpython(setup_factory):
    with_report(setup_factory("p2p", runtime="cpython"), run_sim_calls_sipp_uas, "busy_486")


def test_sim_calls_sipp_uas_hold_resume_via_kamailio_cpython(setup_factory):
    with_report(setup_factory("kamailio", runtime="cpython"), run_sim_calls_sipp_uas,
                "answer_then_remote_hold_resume")


def run_talk_button_forwards_on_busy(st):
    """calls.targets in order (issue 3 item 5, the UA side of forwarding on
    busy): the talk button calls the first target, which answers 486; the sim
    moves on to the second, which answers; the hangup button ends the call."""
    busy_port, answer_port = free_udp_ports(2)
    busy = st.sipp("uas_busy_486.xml", port=busy_port, timeout=15, args=["-s", "sipp"])
    answer = st.sipp("uas_answer.xml", port=answer_port, timeout=15, args=["-s", "sipp"])
    busy.start()
    answer.start()
    assert st.mode == "p2p"   # two SIPp peers; through Kamailio they would share user "sipp"
    targets = [st.uri_of_sipp(busy_port), st.uri_of_sipp(answer_port)]
    sim = st.sim(targets=targets)
    sim.send("press talk")
    sim.send("release talk")
    first = sim.wait_event("call", 5, state="dialing")
    assert (first.get("attempt"), first.get("of")) == (1, 2), first
    end1 = sim.wait_event("call", 5, id=first["id"], state="ended")
    assert (end1.get("status"), end1.get("reason")) == (486, "busy"), end1
    second = sim.wait_event("call", 5, state="dialing")
    assert second["id"] != first["id"], second
    assert (second.get("attempt"), second.get("of")) == (2, 2), second
    assert second.get("peer") == targets[1], (second, targets)
    sim.wait_event("call", 5, id=second["id"], state="connected")
    sim.send("press hangup")
    end2 = sim.wait_event("call", 5, id=second["id"], state="ended")
    assert end2.get("reason") == "local_hangup", end2
    assert busy.wait(10) == 0, busy.report()
    assert answer.wait(10) == 0, answer.report()
    assert sim.quit(10) == 0
    sim.check_stdout()


def test_sim_talk_button_calls_targets_in_order_next_on_busy_486_p2p(setup_factory):
    with_report(setup_factory("p2p"), run_talk_button_forwards_on_busy)


# -- a SIPp UAC calls the sim --------------------------------------------------------

UAC_FLOWS = [
    "answer_command_then_sipp_bye",
    "auto_answer_then_sipp_bye",
    "cancel_while_ringing_487",
    "sipp_holds_and_resumes_us",
]


def run_sipp_uac_calls_sim(st, flow, runtime=None):
    scenario, pause_ms, calls = {
        "answer_command_then_sipp_bye": ("uac_call_bye.xml", 500, {}),
        "auto_answer_then_sipp_bye": ("uac_call_bye.xml", 500, {"auto_answer": True}),
        "cancel_while_ringing_487": ("uac_cancel.xml", 600, {}),
        "sipp_holds_and_resumes_us": ("uac_hold.xml", 500, {"auto_answer": True}),
    }[flow]
    if st.mode == "p2p" and flow == "auto_answer_then_sipp_bye":
        calls["accept_from"] = ["127.0.0.1"]     # an explicit address list
    sim = st.sim(runtime=runtime, **calls)
    uac = st.sipp(scenario, remote=st.sim_address(), timeout=20,
                  args=["-s", "door", "-d", str(pause_ms)])
    uac.start()
    ctx = lambda: st.report()  # noqa: E731
    inc = sim.wait_event("call", 8, state="incoming")
    cid = inc["id"]
    assert "sipp" in inc.get("peer", ""), inc
    if flow == "answer_command_then_sipp_bye":
        time.sleep(0.3)
        sim.send("answer")
    # SIPp ends first (it sends the BYE or the CANCEL, and fails fast on
    # anything unexpected); then the sim's events must show the same call.
    rc = uac.wait(15)
    assert rc == 0, "SIPp UAC scenario %s failed\n%s" % (scenario, ctx())
    if flow == "cancel_while_ringing_487":
        end = sim.wait_event("call", 3, id=cid, state="ended")
        assert end.get("reason") == "cancelled", end
        assert "connected" not in call_states(sim, cid), sim.events
    else:
        sim.wait_event("call", 3, id=cid, state="connected")
        if flow == "sipp_holds_and_resumes_us":
            sim.wait_event("call", 3, id=cid, state="remote_hold")
            sim.wait_event("call", 3, id=cid, state="connected")
        end = sim.wait_event("call", 3, id=cid, state="ended")
        assert end.get("reason") == "remote_hangup", end
    assert sim.quit(10) == 0, ctx()
    sim.check_stdout()
    assert not any(e["event"] == "error" for e in sim.events), ctx()
    if st.mode == "kamailio":
        # the INVITE reached the sim from Kamailio's socket (accept_from registrar)
        relayed = [r for r in st.kamailio.requests("INVITE") if r["from_user"] == "sipp"]
        assert relayed, ctx()
    return sim, uac


def uac_params():
    out = []
    for flow in UAC_FLOWS:
        for mode in MODES:
            out.append(pytest.param(mode, flow, id="%s-%s" % (flow, mode)))
    return out


@pytest.mark.parametrize("mode,flow", uac_params())
def test_sipp_uac_calls_sim(setup_factory, mode, flow):
    """test_sipp_uac_calls_sim[<mode>-<flow>]: the sim is the callee (UAS)."""
    with_report(setup_factory(mode), run_sipp_uac_calls_sim, flow)


def test_sipp_uac_calls_sim_cancel_via_kamailio_cpython(setup_factory):
    with_report(setup_factory("kamailio", runtime="cpython"), run_sipp_uac_calls_sim,
                "cancel_while_ringing_487")


def test_sipp_uac_calls_sim_p2p_cpython(setup_factory):
    with_report(setup_factory("p2p", runtime="cpython"), run_sipp_uac_calls_sim,
                "answer_command_then_sipp_bye")


# -- baresip through Kamailio ------------------------------------------------------


def _baresip(st):
    b = Baresip("bob", USERS["bob"], st.kamailio.port, workdir=str(st.tmp / "baresip"))
    st.baresip = b
    b.start()
    return b


def run_sim_calls_baresip(st):
    bob = _baresip(st)
    try:
        bob.wait_registered(5)
        sim = st.sim()
        sim.send("dial sip:bob@%s:%d" % (HOST, st.kamailio.port))
        first = sim.wait_event("call", 5, state="dialing")
        cid = first["id"]
        sim.wait_event("call", 8, id=cid, state="connected")
        bob.wait_event("CALL_ESTABLISHED", 3)
        time.sleep(0.5)
        sim.send("hangup")
        end = sim.wait_event("call", 5, id=cid, state="ended")
        assert end.get("reason") == "local_hangup", end
        closed = bob.wait_event("CALL_CLOSED", 5)
        assert closed, closed
        assert sim.quit(10) == 0
        sim.check_stdout()
        invites = [r for r in st.kamailio.requests("INVITE") if r["from_user"] == "door"
                   and not r["totag"]]
        assert any(r["auth"] for r in invites), invites   # digest auth on INVITE (407)
        byes = [r for r in st.kamailio.requests("BYE") if r["from_user"] == "door"]
        assert byes, "the sim's BYE did not follow the Record-Route through Kamailio"
    except AssertionError as e:
        raise AssertionError("%s\n%s" % (e, bob.describe()))


def run_baresip_calls_sim(st):
    bob = _baresip(st)
    try:
        bob.wait_registered(5)
        sim = st.sim()
        bob.command("dial", "sip:door@%s:%d" % (HOST, st.kamailio.port))
        inc = sim.wait_event("call", 8, state="incoming")
        cid = inc["id"]
        assert "bob" in inc.get("peer", ""), inc
        time.sleep(0.3)
        sim.send("answer")
        sim.wait_event("call", 5, id=cid, state="connected")
        bob.wait_event("CALL_ESTABLISHED", 5)
        time.sleep(0.5)
        bob.command("hangup")
        end = sim.wait_event("call", 5, id=cid, state="ended")
        assert end.get("reason") == "remote_hangup", end
        bob.wait_event("CALL_CLOSED", 5)
        assert sim.quit(10) == 0
        sim.check_stdout()
        invites = [r for r in st.kamailio.requests("INVITE") if r["from_user"] == "bob"
                   and not r["totag"]]
        assert any(r["auth"] for r in invites), invites   # baresip answered the 407
    except AssertionError as e:
        raise AssertionError("%s\n%s" % (e, bob.describe()))


def test_sim_calls_baresip_via_kamailio_auto_answer_sim_hangs_up(setup_factory):
    with_report(setup_factory("kamailio"), run_sim_calls_baresip)


def test_baresip_calls_sim_via_kamailio_sim_answers_baresip_hangs_up(setup_factory):
    with_report(setup_factory("kamailio"), run_baresip_calls_sim)


# -- ghost calls ----------------------------------------------------------------------


def run_sipvicious_scan(st):
    svmap = require_binary("svmap", "sipvicious")
    svwar = require_binary("svwar", "sipvicious")
    sim = st.sim()       # registered at Kamailio, accept_from "registrar"
    dic = st.tmp / "extensions.txt"
    dic.write_text("door\n100\nadmin\n")
    sport = str(st.local_port)
    p1, p2, p3 = free_udp_ports(3)
    runs = [
        # svmap's INVITE probe for our very user, and its OPTIONS probe
        [svmap, "-P", str(p1), "-p", sport, "-m", "INVITE", "-e", "door", HOST],
        [svmap, "-P", str(p2), "-p", sport, HOST],
        # svwar guessing extensions with INVITEs (--force: it takes our 403
        # for an authenticating PBX and would stop)
        [svwar, "-P", str(p3), "-p", sport, "-m", "INVITE", "-d", str(dic), "--force", HOST],
    ]
    # The scanners run in parallel; they idle waiting for answers long after
    # their probes went out (the sim's 403 is retransmitted until Timer H:
    # svmap never ACKs, svwar ACKs with a new branch), so they are bounded.
    procs = [subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, cwd=str(st.tmp), start_new_session=True)
             for cmd in runs]
    deadline = time.monotonic() + 6
    outputs = []
    for cmd, proc in zip(runs, procs, strict=True):
        try:
            out, _ = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            stop_pid(proc)
            out, _ = proc.communicate()
        outputs.append("$ %s\n%s" % (" ".join(cmd), out.decode("utf-8", "replace")[-1500:]))
    scans = "\n".join(outputs)
    assert no_incoming(sim), "a scanner made the sim ring:\n%s\n%s" % (scans, sim.describe())
    msgs = pcap_messages(sim.pcap)
    invites = [f for f, m in msgs if f.startswith("INVITE ")]
    answers = [f for f, m in msgs if f.startswith("SIP/2.0 ") and cseq_method(m) == "INVITE"]
    # the scans did reach the sim, including an INVITE for our own user, and
    # every one was refused with 403 (never 100/180: it did not start ringing)
    assert "INVITE sip:door@%s SIP/2.0" % HOST in invites, (invites, scans)
    assert len(invites) >= 3, (invites, scans)
    assert answers and all(f.startswith("SIP/2.0 403") for f in answers), pcap_ladder(sim.pcap)
    # the OPTIONS probe is answered and the sim is still registered and idle
    assert any(f.startswith("SIP/2.0 200") and cseq_method(m) == "OPTIONS" for f, m in msgs), scans
    assert sim.quit(10) == 0
    sim.check_stdout()


def test_ghost_calls_sipvicious_scans_never_ring_registered_sim(setup_factory):
    with_report(setup_factory("kamailio"), run_sipvicious_scan)


def run_direct_invite_refused(st):
    sim = st.sim()       # registered at Kamailio, accept_from "registrar"
    uac = st.sipp("uac_expect_403.xml", remote=(HOST, st.local_port), timeout=10,
                  args=["-s", "door"])
    rc = uac.run()
    assert rc == 0, "direct INVITE was not refused with 403\n%s" % uac.report()
    time.sleep(0.3)
    assert no_incoming(sim), sim.describe()
    assert sim.quit(10) == 0
    sim.check_stdout()


def test_ghost_calls_direct_sipp_invite_bypassing_kamailio_gets_403(setup_factory):
    with_report(setup_factory("kamailio"), run_direct_invite_refused)
