"""Home Assistant tests' rig: Mosquitto, a paho-mqtt observer (the Home Assistant stand-in), fake brokers and tools/sim.

Everything binds 127.0.0.1 on free ports, is bounded in time and is stopped
by its PID (processes) or by closing its socket (threads).
"""

import json
import os
import pwd
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
INTEROP = os.path.join(os.path.dirname(HERE), "interop")
if INTEROP not in sys.path:
    sys.path.insert(0, INTEROP)

from peers import (HOST, FreshPorts, Kamailio, Sim, free_tcp_port, free_udp_ports, rig_fixture,  # noqa: E402,F401
                   require_binary, sip_options_probe, stop_pid, _tail)

__all__ = ["HOST", "Rig", "Mosquitto", "Observer", "FakeBroker", "sip_options_probe", "RUNTIMES"]

RUNTIMES = ["micropython", "cpython"]
HA_USER, HA_PASSWORD = "ha", "hapass"
DOOR_USER, DOOR_PASSWORD = "door", "doorpass"


class Mosquitto:
    """Debian's mosquitto on 127.0.0.1:port with a password file (no anonymous access)."""

    def __init__(self, workdir, users, port=None, tls=None):
        self.binary = require_binary("mosquitto")
        self.passwd_tool = require_binary("mosquitto_passwd", "mosquitto")
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.port = port or free_tcp_port()
        self.passwd = os.path.join(workdir, "passwd")
        self.conf = os.path.join(workdir, "mosquitto.conf")
        self.log = os.path.join(workdir, "mosquitto.log")
        first = True
        for user, password in users.items():
            subprocess.run([self.passwd_tool, "-b"] + (["-c"] if first else []) + [self.passwd, user, password],
                           check=True, timeout=10, capture_output=True)
            first = False
        with open(self.conf, "w") as f:
            # user: started as root, mosquitto would drop to user mosquitto, who cannot read our tmp dir
            f.write("listener %d %s\nallow_anonymous false\npassword_file %s\npersistence false\n"
                    "log_dest stderr\nlog_type all\nuser %s\n"
                    % (self.port, HOST, self.passwd, pwd.getpwuid(os.getuid()).pw_name))
            self.tls_port = None
            if tls is not None:
                # a second listener, TLS (tls = (ca, cert, key) files); the same users
                self.tls_port = free_tcp_port()
                f.write("listener %d %s\ncafile %s\ncertfile %s\nkeyfile %s\n" % ((self.tls_port, HOST) + tuple(tls)))
        self.proc = None
        self._logf = None

    def start(self, timeout=10.0):
        self._logf = open(self.log, "ab")
        self.proc = subprocess.Popen([self.binary, "-c", self.conf], stdout=self._logf, stderr=self._logf,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("mosquitto exited (%s):\n%s" % (self.proc.returncode, _tail(self.log)))
            try:
                socket.create_connection((HOST, self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("mosquitto not listening on %d after %.0f s" % (self.port, timeout))

    def stop(self, kill=False):
        if self.proc is not None:
            if kill and self.proc.poll() is None:
                self.proc.kill()
            stop_pid(self.proc)
            self.proc = None
        if self._logf is not None:
            self._logf.close()
            self._logf = None

    def log_text(self):
        return _tail(self.log, 60)


class Observer:
    """paho-mqtt as Home Assistant: subscribes to everything, records it, publishes commands."""

    def __init__(self, port, user=HA_USER, password=HA_PASSWORD):
        import paho.mqtt.client as mqtt
        self.messages = []           # (topic, payload bytes, retain, monotonic time)
        self.cond = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ha-%d" % os.getpid())
        self.client.username_pw_set(user, password)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, u, f, rc, p=None: c.subscribe("#")
        self.client.connect(HOST, port, 30)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain), time.monotonic()))
            self.cond.notify_all()

    def wait(self, topic, match=None, timeout=10.0, since=0):
        """The first message on topic (index >= since) whose payload matches
        (bytes equal, or a predicate on the payload); AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(since, len(self.messages)):
                    t, payload, _r, _w = self.messages[i]
                    if t == topic and (match is None or (match(payload) if callable(match) else payload == match)):
                        return i, payload
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 0.2))
        raise AssertionError("no MQTT message on %s matching %r in %.0f s; got:\n  %s" % (
            topic, match, timeout, "\n  ".join("%s %r" % (m[0], m[1][:120]) for m in self.messages[-25:])))

    def wait_json(self, topic, timeout=10.0, since=0, **fields):
        def ok(payload):
            try:
                doc = json.loads(payload)
            except ValueError:
                return False
            return all(doc.get(k) == v for k, v in fields.items())
        i, payload = self.wait(topic, ok, timeout, since)
        return i, json.loads(payload)

    def mark(self):
        with self.cond:
            return len(self.messages)

    def on(self, topic, since=0):
        with self.cond:
            return [m for m in self.messages[since:] if m[0] == topic]

    def publish(self, topic, payload, retain=False):
        self.client.publish(topic, payload, qos=0, retain=retain).wait_for_publish(5)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


class FakeBroker:
    """A TCP listener that plays a broken broker, in a thread; records each connection's time.

    mode: "silent" (accepts, reads, never answers), "refuse" (CONNACK 5),
    "huge" (CONNACK 0, then one 100 KB PUBLISH), "malformed" (CONNACK 0, then
    a 5-byte remaining length), "garbage_connack" (answers CONNECT with a PINGRESP)."""

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepts = []            # monotonic times of accepted connections
        self.closed_by_client = []   # True per connection the client closed (we saw EOF)
        self.stop_flag = False
        self.conns = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stop_flag:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                continue
            self.accepts.append(time.monotonic())
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        conn.settimeout(0.5)
        try:
            first = b""
            deadline = time.monotonic() + 5
            while not first and time.monotonic() < deadline and not self.stop_flag:
                try:
                    first = conn.recv(4096)
                except socket.timeout:
                    continue
            if self.mode == "refuse":
                conn.sendall(b"\x20\x02\x00\x05")
            elif self.mode == "huge":
                conn.sendall(b"\x20\x02\x00\x00")
                body = b"\x00\x0bintercom/x" + b"A" * 100000
                size = len(body)
                head = bytearray([0x30])
                while True:
                    byte, size = size & 0x7F, size >> 7
                    head.append(byte | (0x80 if size else 0))
                    if not size:
                        break
                try:
                    conn.sendall(bytes(head) + body)
                except OSError:
                    pass
            elif self.mode == "malformed":
                conn.sendall(b"\x20\x02\x00\x00" + b"\x30\xff\xff\xff\xff\x7f")
            elif self.mode == "garbage_connack":
                conn.sendall(b"\xd0\x00")
            # then wait until the client closes (EOF) or we are stopped
            while not self.stop_flag:
                try:
                    if conn.recv(4096) == b"":
                        self.closed_by_client.append(True)
                        return
                except socket.timeout:
                    continue
                except OSError:
                    self.closed_by_client.append(True)
                    return
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop_flag = True
        self.sock.close()
        self.thread.join(2)


class Rig:
    """Ports and processes of one test; close() stops them all."""

    def __init__(self, tmp_path):
        self.tmp = str(tmp_path)
        self.sims = []
        self.brokers = []
        self.kamailios = []
        self.observers = []
        self.fakes = []
        self.ports = FreshPorts()

    def udp_port(self, even=False, spacing=1):
        return self.ports.pick(spacing, even)

    def mosquitto(self, port=None, tls=None):
        m = Mosquitto(os.path.join(self.tmp, "mosquitto%d" % len(self.brokers)),
                      {HA_USER: HA_PASSWORD, DOOR_USER: DOOR_PASSWORD}, port, tls)
        self.brokers.append(m)
        return m.start()

    def observer(self, broker):
        o = Observer(broker.port)
        self.observers.append(o)
        return o

    def fake(self, mode):
        f = FakeBroker(mode)
        self.fakes.append(f)
        return f

    def kamailio(self, users):
        k = Kamailio(users, port=self.udp_port(), workdir=os.path.join(self.tmp, "kamailio%d" % len(self.kamailios)))
        self.kamailios.append(k)
        return k.start()

    def sim(self, runtime, name, mqtt=None, registrar=None, targets=(), calls=None, door=None,
            extra_args=(), wait_for="ready"):
        """tools/sim as `name`, peer to peer or registered at (kamailio port, password), with an mqtt section."""
        sip_port, rtp_port = self.udp_port(), self.udp_port(even=True, spacing=2)
        if registrar is None:
            sip = {"registrar": "", "user": name, "local_port": sip_port}
        else:
            sip = {"registrar": HOST, "port": registrar[0], "user": name, "password": registrar[1],
                   "expires": 60, "local_port": sip_port}
        c = {"targets": list(targets), "accept_from": "any" if registrar is None else "registrar"}
        c.update(calls or {})
        cfg = {"board": "host", "sip": sip, "media": {"rtp_port": rtp_port}, "calls": c}
        if door:
            cfg["door"] = door
        if mqtt is not None:
            cfg["mqtt"] = mqtt
        workdir = os.path.join(self.tmp, "sim%d-%s" % (len(self.sims), name))
        args = list(extra_args)
        if runtime == "mpy":                      # the precompiled build/mpy, as on a device
            runtime, args = "micropython", ["--mpy"] + args
        sim = Sim(cfg, runtime=runtime, extra_args=args, workdir=workdir)
        sim.sip_port, sim.rtp_port, sim.user = sip_port, rtp_port, name
        self.sims.append(sim)
        sim.start()
        sim.wait_event("ready", 30)
        if registrar is not None and wait_for == "registered":
            sim.wait_event("registered", 10)
        return sim

    def report(self):
        parts = [s.describe() for s in self.sims]
        for b in self.brokers:
            parts.append("--- mosquitto ---\n" + b.log_text())
        for k in self.kamailios:
            parts.append("--- kamailio ---\n" + k.log_tail(20))
        return "\n".join(parts)

    def close(self):
        for s in self.sims:
            s.stop()
        for o in self.observers:
            try:
                o.close()
            except Exception:
                pass
        for f in self.fakes:
            f.close()
        for b in self.brokers:
            b.stop()
        for k in self.kamailios:
            k.stop()


def mqtt_config(port, **extra):
    """The sim's mqtt section for a broker on 127.0.0.1:port with the door's credentials."""
    cfg = {"broker": HOST, "port": port, "user": DOOR_USER, "password": DOOR_PASSWORD}
    cfg.update(extra)
    return cfg
