"""The sim and baresip over TLS (and TCP) through Kamailio 5.6 with the tls module (RFC 3261 §18, §26):
calls both ways, BYE from either side, under both runtimes."""

import pytest

from peers import Sim, free_rtp_port, free_udp_ports, HOST
from tlspeers import BaresipTls, KamailioTls
from test_tls_kamailio import sim_config

RUNTIMES = ["micropython", "cpython"]


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("transport", ["tls", "tcp"])
def test_rfc3261_18_sim_and_baresip_call_both_ways_over_stream_transport(certs, tmp_path, runtime, transport):
    (sip_port,) = free_udp_ports(1)
    with KamailioTls(certs, users={"door": "secret", "bob": "secret"}, workdir=str(tmp_path / "k")) as kam:
        bob = BaresipTls("bob", "secret", kam, certs, transport=transport, workdir=str(tmp_path / "bob"))
        cfg = sim_config(kam, transport, "door", sip_port, free_rtp_port(), certs["ca"])
        with bob, Sim(cfg, runtime=runtime, workdir=str(tmp_path / "sim")) as sim:
            bob.wait_registered(10)
            sim.wait_event("registered", 20, transport=transport)
            # the sim calls baresip (auto-answer); the sim hangs up
            sim.send("dial sip:bob@%s" % HOST)
            first = sim.wait_event("call", 10, state="dialing")
            sim.wait_event("call", 15, id=first["id"], state="connected")
            bob.wait_event("CALL_ESTABLISHED", 5)
            sim.send("hangup")
            sim.wait_event("call", 10, id=first["id"], state="ended")
            bob.wait_event("CALL_CLOSED", 10)
            # baresip calls the sim (auto_answer); baresip hangs up
            bob.command("dial", "sip:door@%s" % HOST)
            second = sim.wait_event("call", 15, state="incoming")
            sim.wait_event("call", 15, id=second["id"], state="connected")
            bob.wait_event("CALL_ESTABLISHED", 5)
            bob.command("hangup")
            end = sim.wait_event("call", 10, id=second["id"], state="ended")
            assert end.get("reason") == "remote_hangup", end
            bob.wait_event("CALL_CLOSED", 10)
            seen = kam.protos()
            for method in ("INVITE", "ACK", "BYE"):
                assert [p for m, p, _ in seen if m == method], (method, seen)
            assert {p for m, p, _ in seen if m != "OPTIONS"} == {transport}, seen
            assert sim.quit(15) == 0
            sim.check_stdout()
