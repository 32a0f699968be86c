"""`make bench`, Home Assistant part (issue 13): a whole call's smallest heap with MQTT off and on, longest loop pass.

Runs tools/membench.py's scenario (boot, register to Kamailio, call with audio,
hold, resume, hang up, unregister; phone A under the MicroPython unix port
from build/mpy) three ways and bisects phone A's heap for each:
  off     no mqtt section (nothing of intercom/mqtt or intercom/ha imported)
  on      mqtt.broker set, Mosquitto on 127.0.0.1 with a password file:
          connected, discovery and state published during the call
  silent  mqtt.broker set to a fake broker that accepts TCP and never
          answers CONNACK (the client times out and retries during the call)
and reports the `memory` event's max_step_ms (the longest loop pass, the
poll wait left out) sampled during the call. The lead's tools/bench.py calls
rows(); it runs alone too:

    .venv/bin/python tools/bench_mqtt.py [--min 100] [--max 256] [--modes off on silent]
"""

import argparse
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))
sys.path.insert(0, os.path.join(REPO, "host_tests", "mqtt"))
import membench  # noqa: E402
from _broker import DOOR_PASSWORD, DOOR_USER, HA_PASSWORD, HA_USER, FakeBroker, Mosquitto  # noqa: E402

MODES = ("off", "on", "silent")


def _with_mqtt(port):
    """membench.sim_config, with an mqtt section for phone A (the door) when port is set."""
    plain = membench.sim_config

    def sim_config(kamailio, user, sip_port, rtp_port, auto_answer, overrides=()):
        cfg = plain(kamailio, user, sip_port, rtp_port, auto_answer, overrides)
        if port is not None and user == "door":
            cfg["mqtt"] = {"broker": "127.0.0.1", "port": port, "user": DOOR_USER, "password": DOOR_PASSWORD}
        return cfg
    return plain, sim_config


def measure(mode, kamailio, lo, hi, workdir, log):
    """(smallest heap wK or None, max_step_ms seen, peak live heap bytes or None) for one mode."""
    broker = None
    port = None
    if mode == "on":
        broker = Mosquitto(os.path.join(workdir, "mosquitto"), {HA_USER: HA_PASSWORD, DOOR_USER: DOOR_PASSWORD})
        broker.start()
        port = broker.port
    elif mode == "silent":
        broker = FakeBroker("silent")
        port = broker.port
    plain, patched = _with_mqtt(port)
    membench.sim_config = patched
    try:
        best, runs, top = membench.bisect(kamailio, lo, hi, os.path.join(workdir, mode), 1.5, log)
    finally:
        membench.sim_config = plain
        if mode == "on":
            broker.stop()
        elif broker is not None:
            broker.close()
    steps = [ev.get("max_step_ms") for _phase, ev in top.memory if ev.get("max_step_ms") is not None]
    live = [ev.get("alloc") for _phase, ev in top.memory if ev.get("alloc") is not None]
    return best, (max(steps) if steps else None), (max(live) if live else None)


def rows(log=print, lo=100, hi=256, modes=MODES, workdir=None, factor=None):
    """[(name, value)] for the bench report: smallest heap and the longest loop pass per mode;
    factor: tools/bench.py's esp32_factor() (ESP32 time / unix-port time), for an ESP32 estimate."""
    workdir = workdir or os.path.join(REPO, "build", "bench_mqtt")
    out = []
    if membench.find_binary("kamailio") is None or membench.find_binary("mosquitto") is None:
        return [("whole call, MQTT off/on", "n/a (apt-get install kamailio mosquitto)")]
    with membench.Kamailio(membench.USERS, workdir=os.path.join(workdir, "kamailio")) as kamailio:
        for mode in modes:
            log("bench_mqtt: bisecting phone A's heap (build/mpy), MQTT %s, %d..%d wK" % (mode, lo, hi))
            t = time.monotonic()
            best, step, live = measure(mode, kamailio, lo, hi, workdir, log)
            heap = ("%d wK" % best) if best is not None else "> %d wK" % hi
            esp32 = ""
            if factor and step is not None:
                esp32 = ", ESP32 estimate %.0f ms" % (step * factor)
            out.append(("whole call, MQTT %s" % mode, "smallest heap %s; peak live heap %s bytes; longest loop "
                        "pass %s ms (unix port%s; %.0f s)" % (heap, live, step, esp32, time.monotonic() - t)))
    return out


def main():
    parser = argparse.ArgumentParser(prog="tools/bench_mqtt.py", description=__doc__.splitlines()[0])
    parser.add_argument("--min", type=int, default=100)
    parser.add_argument("--max", type=int, default=256)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    args = parser.parse_args()
    report = rows(lambda text: print(text, flush=True), args.min, args.max, args.modes)
    width = max(len(r[0]) for r in report)
    print("")
    for name, value in report:
        print("%s  %s" % (name.ljust(width), value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
