"""Impolite TLS/TCP registrars (RFC 3261 §18.3, issue 12 "bad input"): wrong CA, garbage, a stalled
handshake, a close mid-message, a 100 KB message, no Content-Length. The sim reports
registration_failed with reason tls and a clear message, never falls back to UDP, reconnects
on a doubling backoff, and stays responsive throughout (under both runtimes)."""

import socket
import time

import pytest

from peers import Sim, free_rtp_port, free_udp_ports
from tlspeers import BadServer, KamailioTls

RUNTIMES = ["micropython", "cpython"]


def config(port, ca, transport="tls", verify=True):
    (sip_port,) = free_udp_ports(1)
    return {"board": "host",
            "sip": {"registrar": "127.0.0.1", "port": port, "user": "door", "password": "secret",
                    "expires": 60, "local_port": sip_port, "transport": transport, "tls_ca": ca,
                    "tls_verify": verify},
            "media": {"rtp_port": free_rtp_port()}, "calls": {"targets": []}}


def udp_catcher(port):
    """A UDP socket on the registrar's port number: a plain-UDP fallback would land here."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    s.setblocking(False)
    return s


def udp_received(s):
    got = []
    while True:
        try:
            got.append(s.recv(65535))
        except OSError:
            return got


def responsive(sim):
    """The loop still turns: a command is answered at once (a liveness bound, not a speed one)."""
    since = len(sim.events)
    sim.send("bogus")
    sim.wait_event("error", 3, since=since)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_rfc3261_26_wrong_ca_fails_registration_with_reason_tls_and_no_udp(certs, tmp_path, runtime):
    with KamailioTls(certs, users={"door": "secret"}, workdir=str(tmp_path / "k")) as kam:
        catcher = udp_catcher(kam.tls_port)
        try:
            with Sim(config(kam.tls_port, certs["other_ca"]), runtime=runtime,
                     workdir=str(tmp_path / "sim")) as sim:
                ev = sim.wait_event("registration_failed", 15)
                assert ev["reason"] == "tls", ev
                text = ev["message"].lower()
                assert "handshake" in text and ("ca" in text or "certificate" in text or "verify" in text), ev
                responsive(sim)
                assert sim.quit(10) == 0
            assert udp_received(catcher) == []
            assert kam.register_count() == 0
        finally:
            catcher.close()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_rfc3261_26_missing_ca_file_is_a_tls_failure_not_a_fallback(certs, tmp_path, runtime):
    with KamailioTls(certs, users={"door": "secret"}, workdir=str(tmp_path / "k")) as kam:
        catcher = udp_catcher(kam.tls_port)
        try:
            with Sim(config(kam.tls_port, str(tmp_path / "nope.pem")), runtime=runtime,
                     workdir=str(tmp_path / "sim")) as sim:
                ev = sim.wait_event("registration_failed", 15)
                assert ev["reason"] == "tls" and "sip.tls_ca" in ev["message"], ev
                assert sim.quit(10) == 0
            assert udp_received(catcher) == [] and kam.register_count() == 0
        finally:
            catcher.close()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_rfc3261_26_der_ca_and_hostname_checked(certs, tmp_path, runtime):
    """The CA may be DER; the registrar's name (127.0.0.1, in the certificate) is checked."""
    with KamailioTls(certs, users={"door": "secret"}, workdir=str(tmp_path / "k")) as kam:
        with Sim(config(kam.tls_port, certs["ca_der"]), runtime=runtime, workdir=str(tmp_path / "sim")) as sim:
            assert sim.wait_event("registered", 20)["transport"] == "tls"
            assert sim.quit(10) == 0


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_tls_verify_false_registers_and_warns(certs, tmp_path, runtime):
    with KamailioTls(certs, users={"door": "secret"}, workdir=str(tmp_path / "k")) as kam:
        with Sim(config(kam.tls_port, "", verify=False), runtime=runtime, workdir=str(tmp_path / "sim")) as sim:
            assert sim.wait_event("registered", 20)["transport"] == "tls"
            assert sim.quit(10) == 0
            assert "tls_verify is false" in sim.stderr_text()


BAD = [
    ("garbage", ("handshake", "bad framing", "closed", "receive")),
    ("garbage_tls", ("middle of a message", "bad framing", "header section")),
    ("stall", ("timed out",)),
    ("close_mid", ("middle of a message",)),
    ("huge", ("exceeds",)),
    ("no_cl", ("without content-length",)),
]


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("mode,words", BAD, ids=[b[0] for b in BAD])
def test_rfc3261_18_3_impolite_tls_registrar(certs, tmp_path, runtime, mode, words):
    """The garbage server answers the ClientHello with random bytes (a handshake
    failure); the others complete the handshake, then misbehave. Each attempt
    fails with reason tls and a message naming what went wrong, the loop stays
    responsive, and the sim reconnects on its backoff (a second connection)."""
    with BadServer(mode, certs, tls=mode != "garbage") as bad:
        if mode == "garbage":
            bad.tls = False                  # raw garbage instead of a ServerHello
        with Sim(config(bad.port, certs["ca"]), runtime=runtime, workdir=str(tmp_path / "sim")) as sim:
            ev = sim.wait_event("registration_failed", 20)
            assert ev["reason"] == "tls", ev
            assert any(w in ev["message"].lower() for w in words), ev
            responsive(sim)
            deadline = time.monotonic() + 20
            while bad.accepted < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
                responsive(sim)
            assert bad.accepted >= 2, "no reconnection\n" + sim.describe()
            responsive(sim)
            assert sim.quit(15) == 0
            sim.check_stdout()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_rfc5626_4_4_1_no_pong_within_10_s_fails_the_flow_and_reconnects(certs, tmp_path, runtime):
    """The registrar answers REGISTER but never a double-CRLF ping: 10 s after the
    first unanswered ping the flow has failed (registration_failed, reason tls),
    and the door registers again on a new connection."""
    with BadServer("no_pong", certs) as bad:
        cfg = config(bad.port, certs["ca"])
        cfg["sip"]["keepalive"] = 1
        with Sim(cfg, runtime=runtime, workdir=str(tmp_path / "sim")) as sim:
            assert sim.wait_event("registered", 15)["transport"] == "tls"
            ev = sim.wait_event("registration_failed", 20)
            assert ev["reason"] == "tls" and "pong" in ev["message"], ev
            assert bad.pings >= 1
            sim.wait_event("registered", 20)
            assert bad.accepted >= 2
            assert sim.quit(10) == 0


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_rfc5626_3_5_1_kamailio_pongs_keep_the_flow(certs, tmp_path, runtime):
    """Kamailio answers each ping with a CRLF pong: no failure over 12 s of 1 s pings."""
    with KamailioTls(certs, users={"door": "secret"}, workdir=str(tmp_path / "k")) as kam:
        cfg = config(kam.tls_port, certs["ca"])
        cfg["sip"]["keepalive"] = 1
        with Sim(cfg, runtime=runtime, workdir=str(tmp_path / "sim")) as sim:
            sim.wait_event("registered", 20)
            time.sleep(12)
            responsive(sim)
            assert not [e for e in sim.events if e["event"] == "registration_failed"], sim.describe()
            assert sim.quit(10) == 0
