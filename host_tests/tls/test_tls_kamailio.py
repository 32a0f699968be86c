"""SIP over TLS and TCP against Kamailio 5.6 with the tls module (RFC 3261 §18, §26; issue 12):
register, calls both ways between two sims through Kamailio, a bad CA, under both runtimes."""

import pytest

from peers import Sim, free_rtp_port, free_udp_ports
from tlspeers import KamailioTls, make_certs

RUNTIMES = ["micropython", "cpython"]


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(str(tmp_path_factory.mktemp("certs")))


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
