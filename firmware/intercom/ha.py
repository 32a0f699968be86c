"""Home Assistant over MQTT: discovery, state, events out; commands in (policy; HA MQTT discovery).

Imported only when mqtt.broker is set. The App hands it every event it
reports (App.on_event) and the talk button's rings; the driver runs the
MqttClient it owns inside the one polling loop. Topics, under <base>:
availability (retained online/offline, also the last will), registration
(retained), call (retained JSON), event (JSON, not retained) and cmd (in).
"""

import json

from intercom.mqtt.client import MqttClient
from intercom.sip.uri import is_ipv4

KEEPALIVE_S = 60
MAX_COMMAND = 256              # bytes
EVENT_TYPES = ["ring", "incoming", "missed", "door_opened", "door_locked_out"]
FIRMWARE_VERSION = "0.13"


def base_topic(cfg):
    return cfg["mqtt"]["base_topic"] or "intercom/" + cfg["sip"]["user"]


def node_id(base):
    # discovery's <node_id>: [a-zA-Z0-9_-] only
    return "".join([c if c.isalpha() or c.isdigit() or c in "_-" else "_" for c in base])


def discovery(cfg, board_name):
    """[(topic, config dict or None)] for every entity; None: remove it (an empty retained config)."""
    mq = cfg["mqtt"]
    base = base_topic(cfg)
    node = node_id(base)
    prefix = mq["discovery_prefix"]
    device = {"identifiers": [node], "name": cfg["sip"]["display_name"] or "Intercom",
              "model": "MicroPython SIP intercom", "hw_version": board_name,
              "sw_version": FIRMWARE_VERSION, "manufacturer": "sip-intercom"}
    common = {"availability_topic": base + "/availability", "payload_available": "online",
              "payload_not_available": "offline", "device": device}

    def entity(component, obj, fields):
        conf = {"unique_id": node + "_" + obj, "object_id": node + "_" + obj}
        conf.update(common)
        conf.update(fields)
        return "%s/%s/%s/%s/config" % (prefix, component, node, obj), conf

    out = [
        entity("event", "doorbell", {
            "name": "Doorbell", "device_class": "doorbell", "state_topic": base + "/event",
            "event_types": EVENT_TYPES,
            "value_template": '{"event_type": "{{ value_json.event }}"}'}),
        entity("sensor", "call_state", {
            "name": "Call", "state_topic": base + "/call", "value_template": "{{ value_json.state }}",
            "json_attributes_topic": base + "/call", "icon": "mdi:phone"}),
        entity("binary_sensor", "registered", {
            "name": "Registered", "device_class": "connectivity", "state_topic": base + "/registration",
            "payload_on": "registered", "payload_off": "unregistered",
            "value_template": "{{ 'registered' if value == 'registered' else 'unregistered' }}"}),
        entity("button", "call", {
            "name": "Call", "command_topic": base + "/cmd", "payload_press": "call", "icon": "mdi:phone-outgoing"}),
        entity("button", "hangup", {
            "name": "Hang up", "command_topic": base + "/cmd", "payload_press": "hangup", "icon": "mdi:phone-hangup"}),
    ]
    door = entity("button", "door", {
        "name": "Open door", "command_topic": base + "/cmd", "payload_press": "open_door", "icon": "mdi:door-open"})
    out.append(door if mq["allow_door"] else (door[0], None))
    return out


def tls_wrapper(host, ca_path, board):
    """wrap(sock) for MqttClient: TLS verifying the broker against the CA in ca_path
    (PEM or DER; the first certificate), or None with an error event."""
    import ssl
    try:
        with open(ca_path, "rb") as f:
            ca = f.read()
        if ca[:10] == b"-----BEGIN":
            import binascii
            lines = ca.split(b"-----")[2].split()     # the base64 body of the first PEM block
            ca = binascii.a2b_base64(b"".join(lines))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=ca)
    except (OSError, ValueError, IndexError) as err:
        board.emit({"event": "error", "message": "mqtt: mqtt.tls_ca %r unusable (%s); MQTT stays off" % (ca_path, err)})
        return None

    def wrap(sock):
        return ctx.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
    return wrap


class HomeAssistant:
    """Publishes the intercom's state to Home Assistant and obeys its commands."""

    def __init__(self, cfg, ua, app, board, now, client=None):
        mq = cfg["mqtt"]
        self.cfg = cfg
        self.ua = ua
        self.app = app
        self.board = board
        self.base = base_topic(cfg)
        self.allow_door = mq["allow_door"]
        self.status_topic = mq["discovery_prefix"] + "/status"
        self.registration = "unregistered"
        self.call = {"state": "idle"}
        self.calls_answered = {}       # call id -> True once connected (what makes an ended call missed)
        self.door_open = False
        self.announce = None           # discovery configs still to publish, one a loop pass
        self.locked_out = False
        self.tls = mq["tls"]
        self.named = not is_ipv4(mq["broker"])     # looked up by the client's first attempt
        wrap = None
        if self.tls and client is None:
            wrap = tls_wrapper(mq["broker"], mq["tls_ca"], board)
        self.client = client or MqttClient(
            mq["broker"], mq["port"], node_id(self.base), mq["keepalive"], board.log,
            mq["user"] or None, mq["password"] or None, (self.base + "/availability", b"offline", True), now,
            wrap)
        if self.tls and wrap is None and client is None:
            self.client.closed = True                  # no readable CA: no connection at all
        self.client.on_connect = self._connected
        self.client.on_message = self._message
        self.client.on_drop = self._dropped
        self.client.on_refused = self._refused

    # --- the loop's side (driver) ----------------------------------------------------
    def next_deadline(self, now):
        return self.client.next_deadline(now)

    def owns(self, obj):
        """True if obj, ready in the driver's poll, is the MQTT socket."""
        return self.client.owns(obj)

    def on_ready(self, now):
        self.client.on_ready(now)

    def service(self, now, poll=None):
        """Every loop pass: the door's edges, the next discovery config, the
        client's timers, then the poll registration of its socket."""
        # none during a call: a TLS handshake (long CPU work inside one pass
        # on an ESP32), nor the blocking lookup of a broker's name
        self.client.hold = (self.tls or self.named and self.client.addr is None) and bool(self.ua.calls.calls)
        door = self.app.audio.door
        opened = door.relay_on()
        if opened and not self.door_open:
            self._event("door_opened")
        self.door_open = opened
        locked = door.locked(now)
        if locked and not self.locked_out:
            self._event("door_locked_out")
        self.locked_out = locked
        if self.announce:
            # one config a pass: building six JSON documents at once would cost an
            # ESP32 loop pass tens of ms; the state topics follow the last one
            topic, conf = self.announce.pop(0)
            self.client.publish(topic, json.dumps(conf) if conf is not None else b"", True)
            if not self.announce:
                self.client.publish(self.base + "/registration", self.registration, True)
                self.client.publish(self.base + "/call", json.dumps(self.call), True)
        self.client.service(now)
        if poll is not None:
            self.client.watch(poll)

    def close(self):
        """A clean quit: offline (retained) first, then DISCONNECT, which discards the will."""
        self.client.publish(self.base + "/availability", "offline", True)
        self.client.close()

    # --- the App's side ------------------------------------------------------------------
    def on_ring(self, now):
        """The talk button called out."""
        self._event("ring")

    def on_event(self, event, now):
        """Every event the App reports (App.on_event)."""
        name = event["event"]
        if name in ("registered", "unregistered"):
            self._registration(name)
        elif name == "registration_failed":
            self._registration("failed")
        elif name == "call":
            self._call_event(event)
        elif name == "wifi" and event.get("connected"):
            self.client.retry_now(now)      # a new network: try the broker at once

    def _registration(self, state):
        self.registration = state
        self.client.publish(self.base + "/registration", state, True)

    def _call_event(self, event):
        state = event["state"]
        cid = event.get("id")
        call = {"state": state, "peer": event.get("peer"), "id": cid}
        if state == "ended":
            call["reason"] = event.get("reason")
            answered = self.calls_answered.pop(cid, None)
            if answered is False:
                self._event("missed")
        elif state == "incoming":
            self.calls_answered[cid] = False
            self._event("incoming")
        elif state == "connected" and cid in self.calls_answered:
            self.calls_answered[cid] = True
        self.call = call
        self.client.publish(self.base + "/call", json.dumps(call), True)

    def _event(self, name):
        self.client.publish(self.base + "/event", json.dumps({"event": name}))

    # --- the client's callbacks ------------------------------------------------------------
    def _connected(self, now):
        self.board.emit({"event": "mqtt", "state": "connected",
                         "broker": "%s:%d" % (self.client.host, self.client.port)})
        self.client.subscribe([self.base + "/cmd", self.status_topic])
        self._publish_all()

    def _publish_all(self):
        # discovery first (service() sends one a pass), so the entities exist when their state arrives
        self.client.publish(self.base + "/availability", "online", True)
        self.announce = discovery(self.cfg, self.cfg["board"])

    def _dropped(self, reason):
        self.board.emit({"event": "mqtt", "state": "disconnected", "reason": reason})

    def _refused(self, reason):
        self.board.emit({"event": "error", "message": "mqtt: " + reason})

    def _message(self, topic, payload, retain, now):
        if topic == self.status_topic:
            if payload == b"online":
                self.board.log("info", "mqtt: Home Assistant is online; discovery published again")
                self._publish_all()
            return
        if topic != self.base + "/cmd":
            return
        if retain:
            # a retained command would be obeyed again at every reconnect (a door!)
            self.board.log("warn", "mqtt: retained command ignored (publish commands without retain)")
            return
        # a flood is bounded by the client: at most PACKETS_PER_WAKE packets a
        # loop pass, the rest wait in its 1 KB buffer, then in TCP, then at the broker
        self.command(payload, now)

    def command(self, payload, now):
        """One command from <base>/cmd: call [URI], answer, hangup, open_door."""
        try:
            text = payload.decode() if len(payload) <= MAX_COMMAND else None
        except UnicodeError:
            text = None
        words = text.split() if text else []
        if not words or any(ord(c) < 32 for c in text.strip()):
            self.board.log("warn", "mqtt: malformed command ignored: %r" % (bytes(payload[:40]),))
            return
        verb, args = words[0], words[1:]
        self.ua.tick(now)
        if verb == "call" and len(args) <= 1:
            if args and not (args[0][:4].lower() == "sip:" and len(args[0]) > 4):
                self.board.log("warn", "mqtt: call takes a sip: URI; ignored: %r" % args[0])
                return
            self.ua.dial(args[0] if args else None)
        elif verb in ("answer", "hangup") and not args:
            getattr(self.ua, verb)(None)
        elif verb == "open_door" and not args:
            if not self.allow_door:
                self.board.log("warn", "mqtt: open_door refused: mqtt.allow_door is false")
                self.board.emit({"event": "error", "message": "mqtt: open_door refused (mqtt.allow_door is false)"})
                return
            self.app.audio.door.pulse(now)
            self.board.set_relay(True)
        else:
            self.board.log("warn", "mqtt: unknown command ignored: %r" % text[:40])
