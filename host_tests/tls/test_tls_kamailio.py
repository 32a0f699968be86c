"""SIP over TLS and TCP against Kamailio 5.6 with the tls module (RFC 3261 §18, §26; issue 12):
register, calls both ways between two sims through Kamailio, a bad CA, under both runtimes."""

import pytest

from peers import Sim, free_rtp_port, free_udp_ports
from tlspeers import KamailioTls, hold_and_resume

RUNTIMES = ["micropython", "cpython"]


def sim_config(kam, transport, user, local_port, rtp_port, ca, verify=True, targets=()):
    port = {"udp": kam.port, "tcp": kam.tcp_port, "tls": kam.tls_port}[transport]
    return {
        "board": "host",
        "sip": {"registrar": "127.0.0.1", "port": port, "user": user, "password": "secret",
                "expires": 60, "local_port": local_port, "transport": transport,
                "tls_ca": ca, "tls_verify": verify},
        "media": {"rtp_port": rtp_port},
        "calls": {"targets": list(targets), "auto_answer": True},
    }


def two_rtp_ports():
    a = free_rtp_port()
    while True:
        b = free_rtp_port()
        if abs(b - a) > 2:
            return a, b


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("transport", ["tls", "tcp"])
def test_rfc3261_18_register_over_stream_transport_with_kamailio(certs, tmp_path, runtime, transport):
    (sip_port,) = free_udp_ports(1)
    with KamailioTls(certs, users={"door": "secret"}, workdir=str(tmp_path / "k")) as kam:
        cfg = sim_config(kam, transport, "door", sip_port, free_rtp_port(), certs["ca"])
        with Sim(cfg, runtime=runtime, workdir=str(tmp_path / "sim")) as sim:
            ev = sim.wait_event("registered", 20)
            assert ev["transport"] == transport, ev
            regs = [p for p in kam.protos("REGISTER")]
            assert regs and all(p[1] == transport for p in regs), regs
            assert sim.quit(15) == 0
            sim.wait_event("unregistered", 1)
            sim.check_stdout()


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("transport", ["tls", "tcp"])
def test_rfc3261_18_calls_both_ways_through_kamailio_over_stream_transport(certs, tmp_path, runtime, transport):
    """door and flat register over `transport`; door calls flat, each side holds
    and resumes (re-INVITEs both ways on the connections), flat keys the door
    PIN (RFC 4733) and the relay opens, flat hangs up; flat calls door, door
    hangs up. Every request Kamailio saw from them came on `transport`
    (incoming calls and in-dialog requests arrive on the connection each sim opened)."""
    sip_a, sip_b = free_udp_ports(2)
    rtp_a, rtp_b = two_rtp_ports()
    with KamailioTls(certs, users={"door": "secret", "flat": "secret"}, workdir=str(tmp_path / "k")) as kam:
        door_cfg = sim_config(kam, transport, "door", sip_a, rtp_a, certs["ca"])
        door_cfg["door"] = {"pin": "2468", "pulse_ms": 500, "max_attempts": 3, "lockout_s": 60}
        door = Sim(door_cfg, runtime=runtime, workdir=str(tmp_path / "door"))
        flat = Sim(sim_config(kam, transport, "flat", sip_b, rtp_b, certs["ca"]), runtime=runtime,
                   workdir=str(tmp_path / "flat"))
        with door, flat:
            door.wait_event("registered", 20, transport=transport)
            flat.wait_event("registered", 20, transport=transport)
            for caller, callee, name in ((door, flat, "flat"), (flat, door, "door")):
                caller.send("dial sip:%s@127.0.0.1" % name)
                callee.wait_event("call", 15, state="incoming")
                caller.wait_event("call", 15, state="connected")
                callee.wait_event("call", 15, state="connected")
                if caller is door:
                    hold_and_resume(door, flat)
                    hold_and_resume(flat, door)
                    flat.send("dtmf 2468#")
                    assert door.wait_event("relay", 10, on=True)
                callee.send("hangup")
                caller.wait_event("call", 15, state="ended")
                callee.wait_event("call", 15, state="ended")
            seen = kam.protos()
            for method in ("REGISTER", "INVITE", "ACK", "BYE"):
                assert any(m == method for m, _p, _port in seen), (method, seen)
            assert {p for _m, p, _port in seen if _m != "OPTIONS"} == {transport}, seen
            assert door.quit(15) == 0 and flat.quit(15) == 0
            door.check_stdout()
            flat.check_stdout()


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("transport", ["tls", "tcp"])
def test_rfc3261_18_dial_uri_transport_opens_a_connection_to_that_peer(certs, tmp_path, runtime, transport):
    """A peer-to-peer door (no registrar, sip.transport udp) dials
    sip:flat@127.0.0.1:PORT;transport=tls|tcp: the INVITE, ACK and BYE go on a
    connection to that address (Kamailio, which trusts door and relays to flat,
    registered over the same transport); the call connects and the door hangs up."""
    sip_a, sip_b = free_udp_ports(2)
    rtp_a, rtp_b = two_rtp_ports()
    with KamailioTls(certs, users={"door": "secret", "flat": "secret"}, trusted=("door",),
                     workdir=str(tmp_path / "k")) as kam:
        door_cfg = sim_config(kam, "udp", "door", sip_a, rtp_a, certs["ca"])
        door_cfg["sip"]["registrar"] = ""
        door_cfg["calls"]["accept_from"] = "any"
        flat = Sim(sim_config(kam, transport, "flat", sip_b, rtp_b, certs["ca"]), runtime=runtime,
                   workdir=str(tmp_path / "flat"))
        door = Sim(door_cfg, runtime=runtime, workdir=str(tmp_path / "door"))
        with flat, door:
            flat.wait_event("registered", 20, transport=transport)
            door.wait_event("ready", 10)
            port = kam.tls_port if transport == "tls" else kam.tcp_port
            door.send("dial sip:flat@127.0.0.1:%d;transport=%s" % (port, transport))
            first = door.wait_event("call", 10, state="dialing")
            flat.wait_event("call", 15, state="incoming")
            door.wait_event("call", 15, id=first["id"], state="connected")
            door.send("hangup")
            door.wait_event("call", 10, id=first["id"], state="ended")
            flat.wait_event("call", 10, state="ended")
            # flat sends only REGISTERs and responses here: these requests are the door's
            from_door = [(m, p) for m, p, _src in kam.protos() if m in ("INVITE", "ACK", "BYE")]
            assert {"INVITE", "ACK", "BYE"} <= {m for m, _ in from_door}, from_door
            assert {p for _, p in from_door} == {transport}, from_door
            assert door.quit(10) == 0 and flat.quit(10) == 0
