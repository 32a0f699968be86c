"""The door's TCP/TLS connection to the PBX drops in the middle of a call (a PBX restart,
a Wi-Fi drop): the call goes on, the door registers again on a new connection
(RFC 5626 §4.4.1), and either side can still hang up (RFC 3261 §18, §12.2)."""

import pytest

from peers import Sim, free_udp_ports, wait_for
from tlspeers import CuttableRelay, KamailioTls
from test_tls_kamailio import sim_config, two_rtp_ports

RUNTIMES = ["micropython", "cpython"]


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("transport", ["tls", "tcp"])
@pytest.mark.parametrize("who_hangs_up", ["door", "flat"])
def test_rfc5626_4_4_1_connection_lost_mid_call_reregisters_and_the_call_still_ends_cleanly(
        certs, tmp_path, runtime, transport, who_hangs_up):
    sip_a, sip_b = free_udp_ports(2)
    rtp_a, rtp_b = two_rtp_ports()
    with KamailioTls(certs, users={"door": "secret", "flat": "secret"}, workdir=str(tmp_path / "k")) as kam:
        relay = CuttableRelay(kam.tls_port if transport == "tls" else kam.tcp_port)
        door_cfg = sim_config(kam, transport, "door", sip_a, rtp_a, certs["ca"])
        door_cfg["sip"]["port"] = relay.port
        door_cfg["calls"]["auto_answer"] = False
        door = Sim(door_cfg, runtime=runtime, workdir=str(tmp_path / "door"))
        flat = Sim(sim_config(kam, transport, "flat", sip_b, rtp_b, certs["ca"]), runtime=runtime,
                   workdir=str(tmp_path / "flat"))
        try:
            with door, flat:
                door.wait_event("registered", 20, transport=transport)
                flat.wait_event("registered", 20, transport=transport)
                door.send("dial sip:flat@127.0.0.1")
                call = door.wait_event("call", 15, state="connected")
                flat.wait_event("call", 15, state="connected")
                wait_for(lambda: kam.protos("ACK"), 10, lambda: kam.log_text()[-3000:])      # the INVITE's ACK went by
                acks_before = len(kam.protos("ACK"))
                assert relay.cut() == 1
                # the door notices, registers again on a new connection; the call is untouched
                door.wait_event("registered", 30, transport=transport)
                assert relay.accepted == 2, relay.accepted
                # and tells the flat its new Contact: a target-refresh re-INVITE, ACKed through Kamailio
                wait_for(lambda: len(kam.protos("ACK")) > acks_before, 10, lambda: kam.log_text()[-3000:])
                assert "Contact moved" in door.stderr_text(), door.stderr_text()[-2000:]
                since_connected = door.events[door.events.index(call) + 1:]
                assert not [e for e in since_connected if e.get("event") == "call"], since_connected
                hanger, other = (door, flat) if who_hangs_up == "door" else (flat, door)
                hanger.send("hangup")
                assert hanger.wait_event("call", 10, state="ended")["reason"] == "local_hangup"
                end = other.wait_event("call", 10, state="ended")
                assert end["reason"] == "remote_hangup", end
                assert door.quit(15) == 0 and flat.quit(15) == 0
        finally:
            relay.close()
