"""setup.test() on an ESP32 board against the fakes and a tiny registrar on 127.0.0.1 (CPython only)."""

import socket
import threading

from _device import BOARDS, make_cfg, fresh
import machine
import network
from intercom.selftest import SelfTest
from intercom.sip.message import parse, make_response


def _registrar(stop):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)

    def serve():
        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(4096)
            except OSError:
                continue
            req = parse(data)
            resp = make_response(req, 200, to_tag="t1")
            if req.method == "REGISTER":
                resp.add("Contact", req.get("contact") + ";expires=" + (req.get("expires") or "300"))
            sock.sendto(resp.encode(), addr)
        sock.close()
    threading.Thread(target=serve, daemon=True).start()
    return sock.getsockname()[1]


def _run(board_name, mic_data=True):
    fresh()
    network.WLAN(network.STA_IF).fake_ip_next = "127.0.0.1"
    stop = threading.Event()
    port = _registrar(stop)
    cfg = make_cfg(sip={"registrar": "127.0.0.1", "port": port, "local_port": 0 or 45062})
    cfg["board"] = board_name
    if mic_data:
        machine.fake_i2s_feed(0, bytes([0, 0, 0x10, 0x02] * 2 + [0, 0, 0xf0, 0xfd] * 2) * 80 * 200)
    lines = []

    def sleep(ms):
        machine.fake_run_scheduled()
    try:
        failures = SelfTest(cfg, [BOARDS], lines.append, seconds=1, sleep_ms=sleep, timeout_ms=1000).run()
    finally:
        stop.set()
    return failures, "\n".join(lines)


def test_self_test_passes_every_step_on_the_devkitc():
    failures, text = _run("esp32-devkitc-inmp441")
    assert failures == 0, text
    for step in ("board", "wifi", "dns", "options", "register", "tone", "mic"):
        assert "PASS " + step in text, text
    assert "200 OK" in text and "mic |" in text
    assert len(machine.fake_i2s_sent(1)) == 50 * 320
    assert machine.wdts == []                     # the self-test never arms the watchdog


def test_self_test_skips_the_pdm_mic_on_the_atom_echo():
    failures, text = _run("atom-echo", mic_data=False)
    assert failures == 0, text
    assert "SKIP mic" in text and "PDM" in text and "PASS tone" in text


def test_self_test_reports_wifi_failure():
    fresh()
    network.fake_script("wrong_password", "wrong_password", "wrong_password", "wrong_password")
    cfg = make_cfg()
    cfg["board"] = "esp32-devkitc-inmp441"
    lines = []
    failures = SelfTest(cfg, [BOARDS], lines.append, seconds=1, sleep_ms=lambda ms: None, timeout_ms=10).run()
    text = "\n".join(lines)
    assert failures == 1 and "FAIL wifi" in text and "door-net" in text, text
