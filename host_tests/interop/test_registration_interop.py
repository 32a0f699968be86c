"""Registration against real peers (RFC 3261 section 10, digest auth RFC 2617/8760):
Kamailio 5.6 as registrar, SIPp as a lossy registrar, tools/sim as the device.
Every wait is bounded; peers are started per test on 127.0.0.1 and killed by PID.
"""

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import Kamailio, Sim, Sipp, free_rtp_port, free_udp_ports, raw_register  # noqa: E402

RUNTIMES = ["micropython", "cpython"]


def ports(n_sip):
    """n_sip distinct free UDP ports and an even RTP port (with RTCP) apart from them."""
    sip = free_udp_ports(n_sip)
    while True:
        rtp = free_rtp_port()
        if rtp not in sip and rtp + 1 not in sip:
            return sip + [rtp]


def sim_config(registrar_port, local_port, rtp_port, password="secret", expires=10):
    return {
        "board": "host",
        "sip": {"registrar": "127.0.0.1", "port": registrar_port, "user": "door",
                "password": password, "expires": expires, "local_port": local_port},
        "media": {"rtp_port": rtp_port},
        "calls": {"targets": []},
    }


# -- self-checks of the peers and the harness (need no firmware) --------------


def test_kamailio_self_check_sipp_uac_registers(tmp_path):
    with Kamailio({"door": "secret"}, workdir=str(tmp_path / "kamailio")) as k:
        ok = Sipp("uac_register_auth.xml", remote=("127.0.0.1", k.port), timeout=10,
                  args=["-s", "door", "-au", "door", "-ap", "secret", "-recv_timeout", "5000"],
                  workdir=str(tmp_path / "sipp-ok"))
        assert ok.run() == 0, ok.report()
        regs = k.registers(ok.port)
        # unauthenticated, authenticated, 2 refreshes, unregister
        assert [r["cseq"] for r in regs] == [1, 2, 3, 4, 5], k.log_tail()
        assert regs[-1]["effective"] == 0 and regs[-1]["auth"], regs[-1]
        assert "Contact: <sip:door@127.0.0.1:%d>;expires=60" % ok.port in ok.messages()

        bad = Sipp("uac_register_auth.xml", remote=("127.0.0.1", k.port), timeout=10,
                   args=["-s", "door", "-au", "door", "-ap", "wrong", "-recv_timeout", "3000"],
                   workdir=str(tmp_path / "sipp-bad"))
        assert bad.run() not in (0, None), bad.report()
        assert "SIP/2.0 200" not in bad.messages(), bad.report()
        # Kamailio re-challenges a wrong password (401), it does not accept it.
        assert bad.messages().count("SIP/2.0 401") >= 2, bad.report()


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_kamailio_self_check_digest_algorithms(tmp_path, algorithm):
    with Kamailio({"door": "secret"}, algorithm=algorithm, workdir=str(tmp_path)) as k:
        first = raw_register(k.port, "door", "secret")
        assert [s for s, _ in first] == [401, 200], first
        assert 'qop="auth"' in first[0][1]
        if algorithm == "SHA-256":
            assert "algorithm=SHA-256" in first[0][1]
        wrong = raw_register(k.port, "door", "wrong")
        assert [s for s, _ in wrong] == [401, 401], wrong


def test_sipp_lossy_registrar_self_check(tmp_path):
    """The lossy SIPp registrar passes a UA that retransmits (a SIPp UAC),
    and fails one with a wrong password."""
    for password, want_ok in (("secret", True), ("wrong", False)):
        uas_port, uac_port = free_udp_ports(2)
        # random loss only where recovery is the point: a lost 403 would make
        # the wrong-password check depend on chance
        loss = ["-lost", "10"] if want_ok else []
        uas = Sipp("uas_registrar_lossy.xml", port=uas_port, timeout=20,
                   keys={"grant": 2}, args=["-nr"] + loss,
                   workdir=str(tmp_path / ("uas-" + password)))
        uac = Sipp("uac_register_auth.xml", port=uac_port, remote=("127.0.0.1", uas_port),
                   timeout=15, args=["-s", "door", "-au", "door", "-ap", password,
                                     "-recv_timeout", "8000"],
                   workdir=str(tmp_path / ("uac-" + password)))
        with uas:
            time.sleep(0.2)
            uac_rc = uac.run()
            uas_rc = uas.wait()
        if want_ok:
            assert uac_rc == 0, uac.report()
            assert uas_rc == 0, uas.report()
            assert "dropped the first authenticated REGISTER" in uas.logs(), uas.report()
        else:
            assert uac_rc != 0, uac.report()
            assert uas_rc not in (0, None), uas.report()
            assert "SIP/2.0 403 Forbidden" in uas.messages(), uas.report()


# -- the firmware (tools/sim) against the peers --------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_sim_registers_refreshes_and_unregisters_with_kamailio(tmp_path, runtime):
    local_port, rtp_port = ports(1)
    with Kamailio({"door": "secret"}, workdir=str(tmp_path / "kamailio")) as k:
        cfg = sim_config(k.port, local_port, rtp_port, expires=10)
        with Sim(cfg, runtime=runtime, workdir=str(tmp_path / "sim")) as sim:
            ready = sim.wait_event("ready", 15)
            assert ready.get("sip_port") == local_port, ready
            assert ready.get("rtp_port") == rtp_port, ready

            first = sim.wait_event("registered", 5)
            assert isinstance(first.get("expires"), int), first
            assert 0 < first["expires"] <= 10, first

            # RFC 3261 10.2.4: refresh before the binding expires.
            second = sim.wait_event("registered", 11)
            assert second["_t"] - first["_t"] < 10.0, (first, second)
            assert 0 < second["expires"] <= 10, second

            assert sim.quit(10) == 0, sim.describe()
            sim.wait_event("unregistered", 0.5)
            assert not any(e["event"] == "registration_failed" for e in sim.events), sim.describe()

        regs = k.registers(local_port)
        assert regs, k.log_tail()
        assert any(r["effective"] == 0 and r["auth"] for r in regs), (
            "no authenticated REGISTER with expires 0 from port %d:\n%s" % (local_port, k.log_tail()))
        # the refreshes went to the same registrar from the bound local port
        assert sum(1 for r in regs if r["auth"] and r["effective"]) >= 2, regs


def test_sim_wrong_password_reports_failure_without_tight_loop(tmp_path):
    local_port, rtp_port = ports(1)
    with Kamailio({"door": "secret"}, workdir=str(tmp_path / "kamailio")) as k:
        cfg = sim_config(k.port, local_port, rtp_port, password="not-the-password", expires=10)
        with Sim(cfg, workdir=str(tmp_path / "sim")) as sim:
            sim.wait_event("ready", 15)
            failed = sim.wait_event("registration_failed", 10)
            assert failed.get("status") in (401, 403), failed
            n0 = k.register_count(local_port)
            time.sleep(5)
            n1 = k.register_count(local_port)
            assert n1 - n0 <= 3, "%d REGISTERs in 5 s after the failure: no backoff\n%s" % (
                n1 - n0, k.log_tail(20))
            assert not any(e["event"] == "registered" for e in sim.events), sim.describe()
            assert sim.quit(10) == 0, sim.describe()


def test_sim_recovers_lost_register_via_retransmission_with_sipp(tmp_path):
    grant = 4
    sipp_port, local_port, rtp_port = ports(2)
    uas = Sipp("uas_registrar_lossy.xml", port=sipp_port, timeout=40,
               keys={"grant": grant}, args=["-nr", "-lost", "10"],
               workdir=str(tmp_path / "sipp"))
    cfg = sim_config(sipp_port, local_port, rtp_port, expires=10)
    with uas:
        time.sleep(0.2)
        with Sim(cfg, workdir=str(tmp_path / "sim")) as sim:
            sim.wait_event("ready", 15)
            # The first authenticated REGISTER is dropped: only Timer E
            # retransmissions (and luck with -lost 10) get it through.
            regs = [sim.wait_event("registered", 12)]
            for _ in range(2):
                regs.append(sim.wait_event("registered", grant + 6))
            for ev in regs:
                # RFC 3261 10.2.4: the registrar's granted expires wins.
                assert 0 < ev.get("expires", -1) <= grant, ev
            assert sim.quit(15) == 0, sim.describe()
        rc = uas.wait(15)
    assert rc == 0, uas.report()
    assert "dropped the first authenticated REGISTER" in uas.logs(), uas.report()


def test_sim_bad_config_exits_2_with_one_line_error(tmp_path):
    sim = Sim(None, raw_config='{"sip": {"port": "abc"}}', workdir=str(tmp_path))
    with sim:
        rc = sim.wait_exit(10)
        assert rc == 2, sim.describe()
        err = sim.stderr_text()
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1, "want one line on stderr, got:\n%s" % err
        assert "sip.port" in lines[0], lines[0]
        assert sim.stdout_lines == [], sim.stdout_lines
