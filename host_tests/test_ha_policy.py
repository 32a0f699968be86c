"""intercom.ha (issue 13): what the Home Assistant policy publishes and obeys, with a recording client (no broker)."""

import json

from intercom import config
from intercom.ha import HomeAssistant, discovery, node_id
from intercom.door import DoorLock


class Client:
    """Records what the policy publishes; never connects."""

    def __init__(self):
        self.published = []
        self.subscribed = []
        self.host, self.port = "127.0.0.1", 1883
        self.addr = None            # MqttClient's: the broker's address once looked up
        self.hold = False

    def publish(self, topic, payload, retain=False):
        self.published.append((topic, payload, retain))
        return True

    def subscribe(self, topics):
        self.subscribed += topics

    def service(self, now):
        pass

    def retry_now(self, now):
        self.published.append(("retry", now, False))

    def close(self):
        self.published.append(("closed", b"", False))

    def on(self, topic):
        return [p for t, p, _r in self.published if t == topic]


class Board:
    def __init__(self):
        self.events, self.logs, self.relay = [], [], []

    def emit(self, event):
        self.events.append(event)

    def log(self, level, text):
        self.logs.append((level, text))

    def set_relay(self, on, pulse_ms=None):
        self.relay.append(on)


class Calls:
    def __init__(self):
        self.calls = []


class UA:
    def __init__(self):
        self.done = []
        self.calls = Calls()

    def tick(self, now):
        pass

    def dial(self, uri=None):
        self.done.append(("dial", uri))

    def answer(self, n=None):
        self.done.append(("answer", n))

    def hangup(self, n=None):
        self.done.append(("hangup", n))


class Audio:
    def __init__(self):
        self.door = DoorLock("1234", 3000, 3, 60)


class App:
    def __init__(self):
        self.audio = Audio()


def make(**mqtt):
    raw = {"mqtt": dict({"broker": "127.0.0.1"}, **mqtt)}
    cfg = config.validate(raw)
    client, board, ua = Client(), Board(), UA()
    ha = HomeAssistant(cfg, ua, App(), board, 0, client)
    return ha, client, board, ua


def test_ha_base_topic_defaults_to_intercom_sip_user_and_node_id_is_sanitized():
    ha, _c, _b, _u = make()
    assert ha.base == "intercom/door"
    assert node_id("home/front door+1") == "home_front_door_1"


def test_ha_door_button_only_with_allow_door_else_empty_retained_config():
    cfg = config.validate({"mqtt": {"broker": "127.0.0.1"}})
    topics = dict(discovery(cfg, "host"))
    assert topics["homeassistant/button/intercom_door/door/config"] is None
    cfg = config.validate({"mqtt": {"broker": "127.0.0.1", "allow_door": True}})
    door = dict(discovery(cfg, "host"))["homeassistant/button/intercom_door/door/config"]
    assert door["payload_press"] == "open_door" and door["command_topic"] == "intercom/door/cmd"


def test_ha_connect_publishes_availability_discovery_then_state_all_retained():
    ha, client, board, _u = make()
    ha._connected(0)
    for now in range(10):
        ha.service(now)
    assert board.events == [{"event": "mqtt", "state": "connected", "broker": "127.0.0.1:1883"}]
    assert client.subscribed == ["intercom/door/cmd", "homeassistant/status"]
    topics = [t for t, _p, _r in client.published]
    assert topics[0] == "intercom/door/availability"
    assert topics[-2:] == ["intercom/door/registration", "intercom/door/call"]
    assert all(r for _t, _p, r in client.published)
    assert client.on("homeassistant/button/intercom_door/door/config") == [b""]


def test_ha_incoming_call_that_ends_unanswered_is_missed_an_answered_one_is_not():
    ha, client, _b, _u = make()
    ha.on_event({"event": "call", "id": 1, "state": "incoming", "peer": "sip:a@x"}, 0)
    ha.on_event({"event": "call", "id": 1, "state": "ended", "peer": "sip:a@x", "reason": "cancelled"}, 0)
    ha.on_event({"event": "call", "id": 2, "state": "incoming", "peer": "sip:a@x"}, 0)
    ha.on_event({"event": "call", "id": 2, "state": "connected", "peer": "sip:a@x"}, 0)
    ha.on_event({"event": "call", "id": 2, "state": "ended", "peer": "sip:a@x", "reason": "remote_hangup"}, 0)
    events = [json.loads(p)["event"] for p in client.on("intercom/door/event")]
    assert events == ["incoming", "missed", "incoming"]
    last = json.loads(client.on("intercom/door/call")[-1])
    assert last == {"state": "ended", "peer": "sip:a@x", "id": 2, "reason": "remote_hangup"}
    assert not ha.calls_answered                  # nothing kept per finished call


def test_ha_registration_states():
    ha, client, _b, _u = make()
    for name, state in (("registered", "registered"), ("registration_failed", "failed"),
                        ("unregistered", "unregistered")):
        ha.on_event({"event": name}, 0)
        assert client.on("intercom/door/registration")[-1] == state


def test_ha_commands_call_answer_hangup_and_malformed_ones_ignored():
    ha, _c, board, ua = make()
    for text in (b"call", b"call sip:gate@10.0.0.2", b"answer", b"hangup", b"call gate", b"",
                 b"\xff\xfe", b"x" * 300, b"answer now", b"open\x00door"):
        ha._message("intercom/door/cmd", text, False, 0)
    assert ua.done == [("dial", None), ("dial", "sip:gate@10.0.0.2"), ("answer", None), ("hangup", None)]
    assert len([1 for level, _t in board.logs if level == "warn"]) == 6, board.logs


def test_ha_open_door_needs_allow_door():
    ha, client, board, _u = make()
    ha._message("intercom/door/cmd", b"open_door", False, 0)
    assert board.relay == [] and "allow_door" in board.events[-1]["message"]
    ha, client, board, _u = make(allow_door=True)
    ha._message("intercom/door/cmd", b"open_door", False, 0)
    assert board.relay == [True]
    ha.service(10)
    assert [json.loads(p) for p in client.on("intercom/door/event")] == [{"event": "door_opened"}]
    ha.service(20)
    assert len(client.on("intercom/door/event")) == 1          # an edge, not a level


def test_ha_door_lockout_is_an_event():
    ha, client, _b, _u = make()
    for _ in range(3):
        for digit in "999#":
            ha.app.audio.door.on_digit(digit, 0)
    ha.service(0)
    assert [json.loads(p) for p in client.on("intercom/door/event")] == [{"event": "door_locked_out"}]


def test_ha_status_online_publishes_discovery_again_other_payloads_do_not():
    ha, client, _b, _u = make()
    ha._message("homeassistant/status", b"offline", False, 0)
    assert client.published == []
    ha._message("homeassistant/status", b"online", False, 0)
    for now in range(10):
        ha.service(now)
    assert len(client.on("homeassistant/event/intercom_door/doorbell/config")) == 1


def test_ha_quit_publishes_offline_before_the_clean_disconnect():
    ha, client, _b, _u = make()
    ha.close()
    assert client.published[-2:] == [("intercom/door/availability", "offline", True), ("closed", b"", False)]


def test_ha_config_keys_validated():
    for raw, path in (({"broker": "a b"}, "mqtt.broker"), ({"base_topic": "a/+/b"}, "mqtt.base_topic"),
                      ({"base_topic": "/a"}, "mqtt.base_topic"), ({"discovery_prefix": ""}, "mqtt.discovery_prefix"),
                      ({"keepalive": 5}, "mqtt.keepalive"), ({"allow_door": 1}, "mqtt.allow_door")):
        try:
            config.validate({"mqtt": raw})
        except config.ConfigError as err:
            assert str(err).startswith(path), err
        else:
            raise AssertionError("accepted %r" % raw)


def test_ha_tls_connects_only_between_calls():
    ha, client, _b, ua = make(tls=True, tls_ca="ca.pem")
    ha.service(0)
    assert client.hold is False
    ua.calls.calls.append("a call")
    ha.service(1)
    assert client.hold is True              # no TLS handshake (long CPU work on an ESP32) during a call
    ua.calls.calls.pop()
    ha.service(2)
    assert client.hold is False


def test_ha_broker_name_is_looked_up_only_between_calls():
    # getaddrinfo blocks the loop for the resolver's time: never during a call
    ha, client, _b, ua = make(broker="mqtt.home.arpa")
    ha.service(0)
    assert client.hold is False
    ua.calls.calls.append("a call")
    ha.service(1)
    assert client.hold is True
    client.addr = ("192.0.2.5", 1883)       # looked up before the call: reconnects go on
    ha.service(2)
    assert client.hold is False


def test_ha_plain_tcp_connects_during_calls_too():
    ha, client, _b, ua = make()
    ua.calls.calls.append("a call")
    ha.service(0)
    assert client.hold is False


def test_ha_tls_needs_a_ca_and_defaults_to_port_8883():
    try:
        config.validate({"mqtt": {"broker": "127.0.0.1", "tls": True}})
    except config.ConfigError as err:
        assert str(err).startswith("mqtt.tls_ca"), err
    else:
        raise AssertionError("tls without a CA accepted")
    assert config.validate({"mqtt": {"broker": "h", "tls": True, "tls_ca": "ca.pem"}})["mqtt"]["port"] == 8883
    assert config.validate({"mqtt": {"broker": "h", "tls": True, "tls_ca": "c", "port": 1884}})["mqtt"]["port"] == 1884
    assert config.validate({"mqtt": {"broker": "h"}})["mqtt"]["port"] == 1883


def test_ha_wifi_back_retries_the_broker_at_once():
    ha, client, _b, _u = make()
    ha.on_event({"event": "wifi", "connected": False}, 5)
    ha.on_event({"event": "wifi", "connected": True}, 7)
    assert client.published == [("retry", 7, False)]


def test_mqtt_client_retry_now_resets_the_backoff():
    from intercom.mqtt.client import MqttClient
    client = MqttClient("127.0.0.1", 1, "x", 60, lambda level, text: None, now=0)
    client.failures, client.retry_at = 5, 32000
    client.retry_now(100)
    assert (client.failures, client.retry_at) == (0, 100)
