#!/usr/bin/env python3
"""make demo: two simulated intercoms on 127.0.0.1 call each other, hold, resume, hang up; prints the SIP ladder."""

import json
import os
import queue
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIM = os.path.join(REPO, "tools", "sim")
STEP_TIMEOUT = 10.0


def free_port(even=False):
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not even or port % 2 == 0:
            return port


class Phone:
    """One tools/sim process with its events read on a thread."""

    def __init__(self, name, config, workdir, runtime):
        self.name = name
        path = os.path.join(workdir, name + ".json")
        with open(path, "w") as f:
            json.dump(config, f)
        self.pcap = os.path.join(workdir, name + ".pcap")
        self.stderr = open(os.path.join(workdir, name + ".log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, SIM, "--config", path, "--runtime", runtime, "--pcap", self.pcap],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True, bufsize=1)
        self.events = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.events.put(json.loads(line))

    def send(self, command):
        print("  %-5s <- %s" % (self.name, command))
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def wait(self, event, **match):
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SystemExit("demo failed: %s never reported %s %s" % (self.name, event, match))
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            shown = {k: v for k, v in ev.items() if k != "event"}
            print("  %-5s -> %s %s" % (self.name, ev["event"], json.dumps(shown, sort_keys=True)))
            if ev["event"] == event and all(ev.get(k) == v for k, v in match.items()):
                return ev

    def stop(self):
        try:
            self.send("quit")
            self.proc.wait(timeout=STEP_TIMEOUT)
        except (subprocess.TimeoutExpired, BrokenPipeError):
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()
        return self.proc.returncode


def read_pcap(path):
    """(time, src port, dst port, first line) for each UDP/IPv4 record of our pcap files."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    pos = 24
    while pos + 16 <= len(data):
        sec, usec, length, _orig = struct.unpack_from("<IIII", data, pos)
        packet = data[pos + 16:pos + 16 + length]
        pos += 16 + length
        sport, dport = struct.unpack_from(">HH", packet, 20)
        first = packet[28:].split(b"\r\n", 1)[0].decode(errors="replace")
        out.append((sec + usec / 1e6, sport, dport, first))
    return out


def ladder(pcap, names):
    """Print who sent what, in order, from one phone's capture."""
    rows = read_pcap(pcap)
    start = rows[0][0] if rows else 0
    for when, sport, dport, first in rows:
        print("  %6.3fs  %4s -> %-4s  %s" % (when - start, names.get(sport, sport), names.get(dport, dport), first))


def main():
    runtime = sys.argv[1] if len(sys.argv) > 1 else "micropython"
    door_port, flat_port = free_port(), free_port()
    door_rtp, flat_rtp = free_port(even=True), free_port(even=True)
    flat_uri = "sip:flat@127.0.0.1:%d" % flat_port
    common = {"board": "host", "calls": {"accept_from": ["127.0.0.1"], "ring_timeout": 30}}
    door_cfg = dict(common, sip={"registrar": "", "user": "door", "display_name": "Door",
                                 "local_port": door_port},
                    media={"rtp_port": door_rtp})
    door_cfg["calls"] = dict(common["calls"], targets=[flat_uri])
    flat_cfg = dict(common, sip={"registrar": "", "user": "flat", "display_name": "Flat",
                                 "local_port": flat_port},
                    media={"rtp_port": flat_rtp})
    print("intercom demo: two simulated phones on 127.0.0.1 (%s runtime, peer-to-peer)" % runtime)
    print("  door: sip:door@127.0.0.1:%d   flat: %s\n" % (door_port, flat_uri))
    with tempfile.TemporaryDirectory(prefix="intercom-demo-") as work:
        door = Phone("door", door_cfg, work, runtime)
        flat = Phone("flat", flat_cfg, work, runtime)
        try:
            door.wait("ready")
            flat.wait("ready")
            print("\n1. A visitor presses the talk button at the door; the flat rings")
            door.send("press talk")
            flat.wait("call", state="incoming")
            door.wait("call", state="ringing_out")
            print("\n2. Someone in the flat answers")
            flat.send("answer")
            flat.wait("call", state="connected")
            door.wait("call", state="connected")
            print("\n3. The flat puts the door on hold, then resumes")
            flat.send("hold")
            flat.wait("call", state="on_hold")
            door.wait("call", state="remote_hold")
            flat.send("resume")
            flat.wait("call", state="connected")
            door.wait("call", state="connected")
            print("\n4. The visitor presses hang-up")
            door.send("press hangup")
            door.wait("call", state="ended")
            flat.wait("call", state="ended")
        finally:
            codes = (door.stop(), flat.stop())
        print("\nSIP ladder (door's capture):")
        ladder(door.pcap, {door_port: "door", flat_port: "flat"})
    if codes != (0, 0):
        raise SystemExit("demo failed: simulators exited with %s" % (codes,))
    print("\ndemo finished: call placed, answered, held, resumed and hung up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
