"""Home Assistant's heap (issue 13): with MQTT on (Mosquitto up, discovery and state published) the whole
call, precompiled (build/mpy), still runs in the bounded heap test_memory_budget.py gives it with MQTT off;
with MQTT off nothing of intercom/mqtt or intercom/ha is imported."""

import os
import sys

from ._broker import DOOR_PASSWORD, DOOR_USER, HA_PASSWORD, HA_USER, Mosquitto

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tools"))
import bench_mqtt  # noqa: E402
import membench  # noqa: E402

HEAP_WK = 224          # host_tests/test_memory_budget.py's .mpy budget (MQTT off: 148, on: 151-152 wK measured)


def test_mqtt_on_whole_call_runs_in_the_mpy_heap_budget(tmp_path):
    broker = Mosquitto(str(tmp_path / "mosquitto"), {HA_USER: HA_PASSWORD, DOOR_USER: DOOR_PASSWORD}).start()
    plain, patched = bench_mqtt._with_mqtt(broker.port)
    membench.sim_config = patched
    try:
        with membench.Kamailio(membench.USERS, workdir=str(tmp_path / "kamailio")) as kamailio:
            run = membench.Scenario(kamailio, HEAP_WK, str(tmp_path / "run"), audio_s=1.5)
            ok = run.run()
            detail = "" if ok else "\n%s\n--- B ---\n%s" % (run.a.describe(), run.b.describe())
    finally:
        membench.sim_config = plain
        broker.stop()
    assert ok, "at %d wK with MQTT on: %s%s" % (HEAP_WK, run.failed, detail)
    assert [e for e in run.a.events if e["event"] == "mqtt"][0]["state"] == "connected"
    assert "--mpy" in run.a.cmd


def imported(rig, monkeypatch, mqtt):
    """The intercom modules tools/sim (CPython) imported in a boot-to-quit run (-X importtime)."""
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")
    sim = rig.sim("cpython", "door", mqtt)
    if mqtt is not None:
        sim.wait_event("mqtt", 10, state="connected")
    assert sim.quit(15) == 0
    return [line.split("|")[-1].strip() for line in sim.stderr_text().splitlines()
            if line.startswith("import time:") and "intercom." in line]


def test_mqtt_off_imports_no_mqtt_module(rig, monkeypatch):
    broker = rig.mosquitto()
    on = imported(rig, monkeypatch, {"broker": "127.0.0.1", "port": broker.port, "user": DOOR_USER,
                                     "password": DOOR_PASSWORD})
    assert {"intercom.ha", "intercom.mqtt", "intercom.mqtt.client", "intercom.mqtt.packet"} <= set(on), on
    off = imported(rig, monkeypatch, None)
    assert "intercom.driver" in off, off
    assert not [m for m in off if m == "intercom.ha" or m.startswith("intercom.mqtt")], off
