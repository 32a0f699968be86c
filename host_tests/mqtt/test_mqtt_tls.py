"""MQTT over TLS (issue 13 item 1, mqtt.tls): the broker's certificate verified against mqtt.tls_ca, under both
runtimes, against Mosquitto with a test CA made here by openssl; a wrong CA is one clear error, never a connection."""

import os
import subprocess
import time

import pytest

from ._broker import HOST, RUNTIMES, mqtt_config, require_binary, sip_options_probe
from .test_home_assistant import BASE, config_topic


def openssl(*args):
    subprocess.run([require_binary("openssl")] + list(args), check=True, capture_output=True, timeout=60)


def make_ca(d, name):
    key, pem = os.path.join(d, name + ".key"), os.path.join(d, name + ".pem")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", pem, "-days", "2",
            "-subj", "/CN=" + name)
    return key, pem


@pytest.fixture
def pki(tmp_path):
    """(ca.pem, ca.der, other-ca.pem, (ca, cert, key) for mosquitto): a broker certificate for 127.0.0.1
    (as an IP and as a DNS name: mbedtls matches names as text)."""
    d = str(tmp_path)
    ca_key, ca = make_ca(d, "test-ca")
    _k, other = make_ca(d, "other-ca")
    key, csr, cert, ext = (os.path.join(d, n) for n in ("srv.key", "srv.csr", "srv.pem", "ext.cnf"))
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + HOST)
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:%s,DNS:%s\n" % (HOST, HOST))
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
            "-days", "2", "-extfile", ext)
    der = os.path.join(d, "test-ca.der")
    openssl("x509", "-in", ca, "-outform", "der", "-out", der)
    return ca, der, other, (ca, cert, key)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_mqtt_tls_verified_broker_connects_and_publishes_discovery(rig, pki, runtime):
    ca, der, _other, files = pki
    broker = rig.mosquitto(tls=files)
    obs = rig.observer(broker)                               # Home Assistant on the plain listener
    door = rig.sim(runtime, "door", mqtt_config(broker.tls_port, tls=True, tls_ca=der if runtime == "cpython" else ca))
    door.wait_event("mqtt", 15, state="connected")
    obs.wait(BASE + "/availability", b"online")
    obs.wait(config_topic("event", "doorbell"), lambda p: p != b"")
    mark = obs.mark()
    assert door.quit(15) == 0
    obs.wait(BASE + "/availability", b"offline", since=mark)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_mqtt_tls_broker_signed_by_another_ca_is_refused_with_one_error(rig, pki, runtime):
    _ca, _der, other, files = pki
    broker = rig.mosquitto(tls=files)
    door = rig.sim(runtime, "door", mqtt_config(broker.tls_port, tls=True, tls_ca=other))
    err = door.wait_event("error", 15)
    assert "TLS handshake failed" in err["message"], err
    for _ in range(5):
        assert sip_options_probe(door.sip_port, 1.0)
        time.sleep(0.5)
    assert len([e for e in door.events if e["event"] == "error"]) == 1, door.events
    assert not [e for e in door.events if e["event"] == "mqtt"], door.events
    assert door.quit(15) == 0


def test_mqtt_tls_missing_ca_file_is_an_error_and_mqtt_stays_off(rig, tmp_path):
    door = rig.sim("micropython", "door", mqtt_config(8883, tls=True, tls_ca=str(tmp_path / "nope.pem")))
    err = door.wait_event("error", 10)
    assert "mqtt.tls_ca" in err["message"] and "MQTT stays off" in err["message"], err
    assert sip_options_probe(door.sip_port, 1.0)
    assert door.quit(15) == 0
