"""Home Assistant over MQTT (issue 13): discovery, state, events and every command, against Mosquitto
with paho-mqtt as Home Assistant, under both runtimes of tools/sim; calls through Kamailio."""

import json
import time

import pytest

from ._broker import HOST, RUNTIMES, mqtt_config, sip_options_probe

BASE = "intercom/door"
PREFIX = "homeassistant"
NODE = "intercom_door"

# What Home Assistant's MQTT discovery requires of each component (homeassistant/components/mqtt/*.py
# schemas: the keys without a default), plus what ties an entity to its device and availability.
REQUIRED = {
    "event": ("state_topic", "event_types"),
    "sensor": ("state_topic",),
    "binary_sensor": ("state_topic", "payload_on", "payload_off"),
    "button": ("command_topic", "payload_press"),
}
ENTITIES = [("event", "doorbell"), ("sensor", "call_state"), ("binary_sensor", "registered"),
            ("button", "call"), ("button", "hangup"), ("button", "door")]


def config_topic(component, obj):
    return "%s/%s/%s/%s/config" % (PREFIX, component, NODE, obj)


def validate_discovery(component, conf):
    for key in REQUIRED[component]:
        assert conf.get(key) not in (None, "", []), (component, key, conf)
    assert conf["unique_id"].startswith(NODE), conf
    assert conf["availability_topic"] == BASE + "/availability", conf
    assert conf["payload_available"] == "online" and conf["payload_not_available"] == "offline"
    device = conf["device"]
    assert device["identifiers"] == [NODE] and device["name"] and device["sw_version"], device
    assert device["hw_version"] == "host", device
    for key in ("state_topic", "command_topic"):
        if key in conf:
            assert conf[key].startswith(BASE + "/"), conf
    if component == "event":
        # Home Assistant's event entity reads a JSON payload with event_type
        assert conf["value_template"] == '{"event_type": "{{ value_json.event }}"}', conf
        assert set(conf["event_types"]) == {"ring", "incoming", "missed", "door_opened", "door_locked_out"}
        assert conf["device_class"] == "doorbell"


def wait_connected(sim):
    ev = sim.wait_event("mqtt", 15, since=0, state="connected")     # before or after `registered`
    assert ev["broker"].startswith(HOST + ":"), ev


def send_cmd(obs, text):
    obs.publish(BASE + "/cmd", text)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_ha_discovery_validates_and_state_is_retained_then_offline_on_quit(rig, runtime):
    broker = rig.mosquitto()
    obs = rig.observer(broker)
    door = rig.sim(runtime, "door", mqtt_config(broker.port, allow_door=True))
    wait_connected(door)
    obs.wait(BASE + "/availability", b"online")
    uids = set()
    for component, obj in ENTITIES:
        _i, payload = obs.wait(config_topic(component, obj), lambda p: p != b"")
        conf = json.loads(payload)
        validate_discovery(component, conf)
        uids.add(conf["unique_id"])
    assert len(uids) == len(ENTITIES), uids           # one entity each, no unique_id shared
    obs.wait(BASE + "/registration", b"unregistered")  # peer to peer: nothing registered
    obs.wait_json(BASE + "/call", state="idle")
    # everything the entities read is retained: a Home Assistant that starts later sees it all
    late = rig.observer(broker)
    late.wait(BASE + "/availability", b"online")
    late.wait(config_topic("button", "door"), lambda p: p != b"")
    assert all(m[2] for m in late.on(BASE + "/availability")), late.on(BASE + "/availability")
    # a clean quit publishes offline itself (the DISCONNECT discards the will)
    mark = obs.mark()
    assert door.quit(15) == 0
    obs.wait(BASE + "/availability", b"offline", since=mark)
    assert "Received DISCONNECT from intercom_door" in broker.log_text(), broker.log_text()   # clean, no will


def call_rig(rig, runtime, allow_door=True):
    kam = rig.kamailio({"door": "doorsip", "alice": "alicesip"})
    broker = rig.mosquitto()
    obs = rig.observer(broker)
    door = rig.sim(runtime, "door", mqtt_config(broker.port, allow_door=allow_door),
                   registrar=(kam.port, "doorsip"), targets=["sip:alice@%s:%d" % (HOST, kam.port)],
                   wait_for="registered")
    alice = rig.sim("cpython", "alice", registrar=(kam.port, "alicesip"), wait_for="registered")
    wait_connected(door)
    obs.wait(BASE + "/registration", b"registered")
    return kam, broker, obs, door, alice


@pytest.mark.parametrize("runtime", RUNTIMES + ["mpy"])
def test_ha_ring_call_through_kamailio_and_every_command_round_trip(rig, runtime):
    kam, broker, obs, door, alice = call_rig(rig, runtime)
    try:
        # the talk button rings: event ring, the call state follows
        mark = obs.mark()
        door.send("click talk")
        obs.wait_json(BASE + "/event", since=mark, event="ring")
        inc = alice.wait_event("call", 10, state="incoming")
        alice.send("answer")
        obs.wait_json(BASE + "/call", since=mark, state="connected")
        # command hangup
        mark = obs.mark()
        send_cmd(obs, "hangup")
        _i, call = obs.wait_json(BASE + "/call", since=mark, state="ended")
        assert call["reason"] == "local_hangup", call
        alice.wait_event("call", 10, id=inc["id"], state="ended")
        # command call (the targets), the callee hangs up
        mark = obs.mark()
        send_cmd(obs, "call")
        inc = alice.wait_event("call", 10, state="incoming")
        alice.send("answer")
        _i, call = obs.wait_json(BASE + "/call", since=mark, state="connected")
        assert "alice" in call["peer"], call
        assert not obs.on(BASE + "/event", since=mark), "a command call is not a ring"
        alice.send("hangup")
        _i, call = obs.wait_json(BASE + "/call", since=mark, state="ended")
        assert call["reason"] == "remote_hangup", call
        # command call URI
        mark = obs.mark()
        send_cmd(obs, "call sip:alice@%s:%d" % (HOST, kam.port))
        alice.wait_event("call", 10, state="incoming")
        alice.send("hangup")
        obs.wait_json(BASE + "/call", since=mark, state="ended")
        alice.wait_event("call", 10, state="ended")
        # an incoming call: event incoming, command answer, open_door, hangup
        mark = obs.mark()
        alice.send("dial sip:door@%s:%d" % (HOST, kam.port))
        obs.wait_json(BASE + "/event", since=mark, event="incoming")
        obs.wait_json(BASE + "/call", since=mark, state="incoming")
        send_cmd(obs, "answer")
        obs.wait_json(BASE + "/call", since=mark, state="connected")
        alice.wait_event("call", 10, state="connected")
        send_cmd(obs, "open_door")
        door.wait_event("relay", 10, on=True)
        obs.wait_json(BASE + "/event", since=mark, event="door_opened")
        door.wait_event("relay", 10, on=False)      # the pulse ends by itself (door.pulse_ms)
        send_cmd(obs, "hangup")
        obs.wait_json(BASE + "/call", since=mark, state="ended")
        # alice dials again only once the BYE reached her (else: "already in a call")
        alice.wait_event("call", 10, state="ended")
        # an incoming call nobody answers: missed
        mark = obs.mark()
        alice.send("dial sip:door@%s:%d" % (HOST, kam.port))
        obs.wait_json(BASE + "/event", since=mark, event="incoming")
        alice.send("hangup")
        obs.wait_json(BASE + "/event", since=mark, event="missed")
        # malformed commands are logged and ignored; the loop still serves SIP
        for bad in ("fly", "call not-a-uri", "answer 1 2", "\x01\x02", ""):
            send_cmd(obs, bad)
        time.sleep(1)
        assert sip_options_probe(door.sip_port, 1.0)
        text = door.stderr_text()
        assert "unknown command ignored: 'fly'" in text, text[-2000:]
        assert "call takes a sip: URI" in text and "malformed command ignored" in text, text[-2000:]
        door.send("mem")
        mem = door.wait_event("memory", 10)
        assert mem["errors"] == 0, mem
        assert door.quit(15) == 0
    except AssertionError as err:
        raise AssertionError("%s\n%s" % (err, rig.report()))


def test_ha_open_door_refused_without_allow_door_and_no_door_button(rig):
    broker = rig.mosquitto()
    obs = rig.observer(broker)
    door = rig.sim("micropython", "door", mqtt_config(broker.port))
    wait_connected(door)
    # the door button's config is an empty retained message: Home Assistant removes the entity
    obs.wait(config_topic("button", "door"), b"")
    send_cmd(obs, "open_door")
    err = door.wait_event("error", 10)
    assert "allow_door" in err["message"], err
    time.sleep(0.5)
    assert not [e for e in door.events if e["event"] == "relay"], door.events
    assert not obs.on(BASE + "/event"), obs.on(BASE + "/event")
    assert door.quit(15) == 0


def test_ha_retained_command_is_not_obeyed(rig):
    broker = rig.mosquitto()
    obs = rig.observer(broker)
    obs.publish(BASE + "/cmd", "open_door", retain=True)     # left behind on the broker
    door = rig.sim("cpython", "door", mqtt_config(broker.port, allow_door=True))
    wait_connected(door)
    time.sleep(1.0)
    assert not [e for e in door.events if e["event"] == "relay"], door.events
    assert "retained command ignored" in door.stderr_text()
    obs.publish(BASE + "/cmd", "", retain=True)
    assert door.quit(15) == 0


def test_ha_discovery_published_again_when_home_assistant_comes_online(rig):
    broker = rig.mosquitto()
    obs = rig.observer(broker)
    door = rig.sim("micropython", "door", mqtt_config(broker.port))
    wait_connected(door)
    obs.wait(config_topic("event", "doorbell"))
    mark = obs.mark()
    obs.publish(PREFIX + "/status", "online")
    for component, obj in ENTITIES[:-1]:
        obs.wait(config_topic(component, obj), lambda p: p != b"", since=mark)
    obs.wait(BASE + "/availability", b"online", since=mark)
    assert door.quit(15) == 0


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_ha_command_flood_cannot_starve_the_loop(rig, runtime):
    broker = rig.mosquitto()
    obs = rig.observer(broker)
    door = rig.sim(runtime, "door", mqtt_config(broker.port))
    wait_connected(door)
    obs.wait(BASE + "/availability", b"online")
    for i in range(400):
        obs.client.publish(BASE + "/cmd", "bogus%d" % i)
    answered = sum(1 for _ in range(10) if sip_options_probe(door.sip_port, 1.0))
    assert answered == 10, answered
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "bogus399" not in door.stderr_text():
        time.sleep(0.2)
    assert "bogus399" in door.stderr_text()                 # all handled, in bounded bites
    door.send("mem")
    assert door.wait_event("memory", 10)["errors"] == 0
    assert door.quit(15) == 0
