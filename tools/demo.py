#!/usr/bin/env python3
"""make demo: two simulated intercoms on 127.0.0.1 call each other, hold, resume, hang up; prints the SIP ladder."""

import json
import math
import os
import queue
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import wave

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIM = os.path.join(REPO, "tools", "sim")
STEP_TIMEOUT = 10.0
OUT_DIR = os.path.join(REPO, "build", "demo")
NOTES = (523, 659, 784)       # C5 E5 G5: the door's "microphone" plays a doorbell chime


def free_port(even=False):
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not even or port % 2 == 0:
            return port


def write_chime(path):
    """Half a second of each note, 8 kHz mono 16-bit: the door microphone."""
    frames = bytearray()
    for freq in NOTES:
        for i in range(4000):
            value = int(9000 * math.sin(2 * math.pi * freq * i / 8000))
            frames += value.to_bytes(2, "little", signed=True)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(frames))


def goertzel(samples, freq, rate=8000):
    """Power of one frequency in a block (enough to name the loudest note)."""
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


def describe_recording(path):
    """Which chime notes the flat's speaker played, 0.5 s at a time."""
    with wave.open(path, "rb") as w:
        raw = w.readframes(w.getnframes())
    samples = [int.from_bytes(raw[i:i + 2], "little", signed=True) for i in range(0, len(raw), 2)]
    heard = []
    for start in range(0, len(samples) - 4000, 4000):
        block = samples[start:start + 4000]
        if max(abs(x) for x in block) < 1000:
            continue
        powers = [goertzel(block, f) for f in NOTES]
        total = sum(x * x for x in block) * len(block) / 2
        best = max(range(len(NOTES)), key=lambda k: powers[k])
        if powers[best] > 0.5 * total:
            heard.append(NOTES[best])
    return len(samples) / 8000, heard


class Phone:
    """One tools/sim process with its events read on a thread."""

    def __init__(self, name, config, workdir, runtime, audio_args=()):
        self.name = name
        path = os.path.join(workdir, name + ".json")
        with open(path, "w") as f:
            json.dump(config, f)
        self.pcap = os.path.join(workdir, name + ".pcap")
        self.stderr = open(os.path.join(workdir, name + ".log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, SIM, "--config", path, "--runtime", runtime, "--pcap", self.pcap] + list(audio_args),
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
    os.makedirs(OUT_DIR, exist_ok=True)
    mic = os.path.join(OUT_DIR, "door_mic.wav")
    speaker = os.path.join(OUT_DIR, "flat_speaker.wav")
    write_chime(mic)
    with tempfile.TemporaryDirectory(prefix="intercom-demo-") as work:
        door = Phone("door", door_cfg, work, runtime, ["--mic", mic])
        flat = Phone("flat", flat_cfg, work, runtime, ["--speaker", speaker])
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
            print("   (the door's microphone plays a chime for 2 s; the flat's speaker records it)")
            time.sleep(2)
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
    seconds, heard = describe_recording(speaker)
    print("\naudio: %s -> %s" % (os.path.relpath(mic, REPO), os.path.relpath(speaker, REPO)))
    print("  the flat's speaker played %.1f s; chime notes heard, 0.5 s at a time: %s" % (
        seconds, " ".join("%d Hz" % n for n in heard) or "none"))
    if not set(NOTES) <= set(heard):
        raise SystemExit("demo failed: the chime did not come through the call")
    print("\ndemo finished: call placed, answered, audio carried, held, resumed and hung up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
