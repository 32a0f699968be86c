"""`make bench`: RFC 3261 full parse vs pyVoIP and sippy, INVITE -> 180, the 20 ms media frame, ESP32 estimates, heap.

One run prints, side by side: the full parse (start line, every header,
the SDP body) of the same INVITE, 200 OK and REGISTER by this project,
pyVoIP and sippy under CPython and by this project under the MicroPython
unix port; UserAgent.receive of an INVITE to the 180 in its outbox; the
20 ms media frame (encode, RTP out, RTP in, jitter, decode) unpaced; an
ESP32 estimate for every MicroPython figure (scaled by pystones measured in
the same run against a published ESP32 figure); the smallest and peak live
heap of each deployment (tools/membench.py, with Kamailio). Then the goals.

A missing peer (pyVoIP/sippy not installable, no micropython, membench
without Kamailio) ends the run with exit status 2 and says which: a goal is
never reported unknown.

    .venv/bin/python tools/bench.py                 # everything (minutes: membench bisects)
    .venv/bin/python tools/bench.py --min 24 --max 256   # narrower heap bisection
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_VENV = os.path.join(REPO, ".venv-bench")
REQUIREMENTS = os.path.join(REPO, "tools", "bench-requirements.txt")
TORTURE_DIR = os.path.join(os.path.dirname(REPO), "shared", "conformance", "rfc4475")
LABELS = {"invite": "INVITE + SDP", "ok200": "200 OK + SDP + RR", "register": "REGISTER + Authorization"}

# The published figure the CPU factor scales by: MicroPython on an ESP32 at
# 240 MHz runs micropython-lib's pystone_lowmem (Pystone 1.2) at 1014
# pystones/s (v1.13 firmware, ESP-IDF 4; v1.12 on IDF 3 gave 1602 on the same
# board): github.com/micropython/micropython/issues/6565 (2020-10-22). The
# lower figure is taken, so the estimates err on the slow side.
ESP32_PYSTONES = 1014.0
ESP32_SOURCE = "MicroPython v1.13 on ESP32 @ 240 MHz, pystone_lowmem; micropython/micropython#6565"

GOAL_PARSE_X = 2.0          # full parse at least 2x pyVoIP's speed (CPython, every message both parse)
GOAL_INVITE_MS = 10.0       # INVITE receive -> 180 on the ESP32 estimate
GOAL_MEDIA_MS = 2.0         # the 20 ms frame's work on the ESP32 estimate
NOISE = ("figures are noisy on a shared machine (other processes take the CPU): "
         "each is a best of several runs; compare ratios, and rerun before trusting one")

sys.path[:0] = [os.path.join(REPO, "firmware"), os.path.join(REPO, "tools")]
import bench_upy  # noqa: E402  (needs the firmware dir on sys.path)
import bench_common  # noqa: E402
from bench_common import find_micropython  # noqa: E402  (tests patch bench.find_micropython)
import bench_g722  # noqa: E402
import bench_srtp  # noqa: E402


class PeerMissing(Exception):
    """A peer or tool the bench compares against is not available: the run fails."""


def in_bench_venv():
    return os.path.realpath(sys.prefix) == os.path.realpath(BENCH_VENV)


def bootstrap():
    """Create/refresh .venv-bench and re-execute this script inside it; PeerMissing on failure."""
    python = os.path.join(BENCH_VENV, "bin", "python")
    with open(REQUIREMENTS, "rb") as f:
        stamp = os.path.join(BENCH_VENV, ".installed-" + hashlib.sha256(f.read()).hexdigest()[:12])
    try:
        if not os.path.exists(stamp):
            print("bench: setting up %s (pyVoIP, sippy) ..." % BENCH_VENV, flush=True)
            if not os.path.exists(python):
                subprocess.run(["python3", "-m", "venv", BENCH_VENV], check=True)
            subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                            "-r", REQUIREMENTS], check=True)
            open(stamp, "w").close()
    except (OSError, subprocess.CalledProcessError) as err:
        raise PeerMissing("could not set up %s for pyVoIP and sippy: %s" % (BENCH_VENV, err))
    os.environ["INTERCOM_BENCH_CHILD"] = "1"
    os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])


# --- the CPython peers: each a full parse ---------------------------------------------


def load_pyvoip():
    """pyVoIP's SIPMessage: its constructor parses every header and the SDP body."""
    import pyVoIP.VoIP  # noqa: F401  (pyVoIP 1.6.8: importing pyVoIP.SIP first hits a circular import)
    from pyVoIP.SIP import SIPMessage

    return SIPMessage


def load_sippy():
    """sippy parses lazily: every header's body and the SDP are forced, for a full parse."""
    from sippy.SipRequest import SipRequest
    from sippy.SipResponse import SipResponse

    def full(data):
        text = data.decode()   # sippy works on str; its transaction manager decodes strictly
        msg = SipResponse(text) if text.startswith("SIP/2.0 ") else SipRequest(text)
        for header in msg.headers:
            header.getBody()
        if msg.body is not None:
            msg.body.parse()
        return msg

    return full


def peers():
    """[(label, full-parse function)]: ours, pyVoIP, sippy; PeerMissing when one cannot be imported."""
    out = [("ours (CPython)", bench_upy.ours_full)]
    for label, loader in (("pyVoIP 1.6.8", load_pyvoip), ("sippy 2.5.0", load_sippy)):
        try:
            out.append((label, loader()))
        except Exception as err:
            raise PeerMissing("%s cannot be imported (%s: %s); run `make bench` to set up %s"
                              % (label, type(err).__name__, err, BENCH_VENV))
    return out


def short(err):
    text = "%s: %s" % (type(err).__name__, err)
    return "cannot parse (" + (text if len(text) <= 40 else text[:37] + "...") + ")"


def measure(fn, data, quick=False):
    """Microseconds per full parse, or 'cannot parse (...)' when fn rejects the message."""
    try:
        fn(data)   # must parse before it is timed
    except Exception as err:
        return short(err)
    return bench_upy.best_us(fn, data, 2 if quick else 5, 2000 if quick else 50000)


# --- MicroPython ---------------------------------------------------------------------------


def run_micropython(quick=False, exe=None):
    """{figure: value} from tools/bench_upy.py under the unix port; PeerMissing when it cannot run."""
    exe = exe or find_micropython()
    if not exe:
        raise PeerMissing("micropython not found (.venv/bin/micropython or PATH): run `make venv`")
    try:
        results, proc = bench_common.run_upy("bench_upy.py", ["quick"] if quick else [], exe=exe,
                                             micropypath=os.path.join(REPO, "firmware") + ":.frozen")
    except (OSError, subprocess.TimeoutExpired) as err:
        raise PeerMissing("micropython could not run bench_upy.py: %s" % err)
    if proc.returncode != 0 or "pystone" not in results:
        raise PeerMissing("micropython bench_upy.py exit %d: %s" % (proc.returncode, proc.stderr.strip()[-300:]))
    if not isinstance(results["pystone"], float) or results["pystone"] <= 0:
        raise PeerMissing("no pystone figure under MicroPython: %s" % results["pystone"])
    return results


def esp32_factor(unix_pystones):
    """How many times slower the ESP32 runs the same bytecode (an estimate)."""
    return unix_pystones / ESP32_PYSTONES


# --- memory: tools/membench.py -------------------------------------------------------------


def membench_modes(python):
    """The deployments membench can bisect (its --modes choices)."""
    proc = subprocess.run([python, os.path.join(REPO, "tools", "membench.py"), "--help"],
                          capture_output=True, text=True, timeout=60)
    m = re.search(r"--modes \{([a-z,]+)\}", proc.stdout)
    if not m:
        raise PeerMissing("tools/membench.py --help lists no --modes: %s" % (proc.stderr.strip()[-200:]))
    return m.group(1).split(",")


def parse_membench(text):
    """[(deployment, smallest heap, peak live heap)] from membench's report."""
    rows = []
    for line in text.splitlines():
        m = re.match(r"smallest heap, (.+?)\s{2,}(.*)$", line)
        if m:
            value = m.group(2)
            n = re.match(r"(\d+) wK", value)
            rows.append([m.group(1), n.group(1) + " wK" if n else value, "n/a"])
            continue
        m = re.match(r"\s+peak live heap in the call.*?\s{2,}\d+ bytes \(~([\d.]+) wK\)", line)
        if m and rows:
            rows[-1][2] = m.group(1) + " wK"
    return rows


def run_membench(extra, required=("mpy", "romfs", "frozen"), script="membench.py"):
    """Run tools/membench.py over every deployment (streaming its progress);
    its rows. PeerMissing when a deployment or Kamailio is missing."""
    python = os.path.join(REPO, ".venv", "bin", "python")
    if not os.access(python, os.X_OK):
        raise PeerMissing("%s missing: run `make venv`" % python)
    modes = membench_modes(python)
    lacking = [m for m in required if m not in modes]
    if lacking:
        raise PeerMissing("tools/membench.py cannot measure the %s deployment(s) (its modes: %s)"
                          % (", ".join(lacking), ", ".join(modes)))
    proc = subprocess.Popen([python, os.path.join(REPO, "tools", script), "--modes"] + list(required) + extra,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    for line in proc.stdout:
        out.append(line)
        print("  | " + line, end="", flush=True)
    proc.wait()
    text = "".join(out)
    if "kamailio not installed" in text:
        raise PeerMissing("membench needs Kamailio (apt-get install kamailio)")
    rows = parse_membench(text)
    if proc.returncode != 0 or len(rows) != len(required):
        raise PeerMissing("tools/membench.py exit %d with %d of %d deployments measured"
                          % (proc.returncode, len(rows), len(required)))
    return rows


# The same whole call with a feature on (.mpy deployment, the one every
# feature's import shows in): what turning it on costs beside the rows above.
FEATURE_CALLS = (
    ("G.722 call (media.codecs G722, PCMU)", "membench.py", ["--set", 'media.codecs=["G722","PCMU"]']),
    ("SRTP call over UDP (media.srtp mandatory)", "membench.py",
     ["--set", "media.srtp=mandatory", "--set", "media.srtp_over_udp=true"]),
    ("TLS + SRTP call (sip.transport tls, media.srtp mandatory)", "bench_tls.py", ["--set", "media.srtp=mandatory"]),
)


def feature_rows(extra):
    """[(feature call, smallest heap, peak live heap)] for FEATURE_CALLS, .mpy."""
    rows = []
    for label, script, args in FEATURE_CALLS:
        found = run_membench(extra + args, required=("mpy",), script=script)
        rows.append([label] + found[0][1:])
    return rows


def mqtt_rows():
    """[(name, value)] of tools/bench_mqtt.py (run in .venv: it drives Kamailio and Mosquitto)."""
    python = os.path.join(REPO, ".venv", "bin", "python")
    proc = subprocess.Popen([python, os.path.join(REPO, "tools", "bench_mqtt.py")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rows = []
    for line in proc.stdout:
        print("  | " + line, end="", flush=True)
        m = re.match(r"(whole call, MQTT \S+)\s{2,}(.*)$", line.rstrip())
        if m:
            rows.append((m.group(1), m.group(2)))
    if proc.wait() != 0 or not rows:
        raise PeerMissing("tools/bench_mqtt.py exit %d, %d rows" % (proc.returncode, len(rows)))
    return rows


# --- report --------------------------------------------------------------------------------


def torture_paths():
    try:
        with open(os.path.join(TORTURE_DIR, "manifest.json")) as f:
            entries = json.load(f)
    except OSError:
        return None
    return [os.path.join(TORTURE_DIR, e["file"]) for e in entries
            if e["section"].startswith("3.1.1.") and e["valid"]]


def cell(value):
    return "%.1f" % value if isinstance(value, float) else str(value)


def table(header, rows):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]

    def fmt(row):
        return "  ".join(str(c) + " " * (w - len(str(c))) if i == 0 else " " * (w - len(str(c))) + str(c)
                         for i, (c, w) in enumerate(zip(row, widths, strict=True)))
    return [fmt(header), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows]


def verdict(ok, ratio_text):
    return "%s (%s)" % ("MET" if ok else "NOT MET", ratio_text)


def sip_report(parsers, upy, factor, quick=False):
    """(lines, worst pyVoIP/ours ratio or None, [messages pyVoIP cannot parse])."""
    rows, ratios, refused = [], [], []
    for name, data in bench_upy.MESSAGES:
        times = [measure(fn, data, quick) for _, fn in parsers]
        ours, pyvoip = times[0], times[1]
        if isinstance(ours, float) and isinstance(pyvoip, float):
            ratios.append(pyvoip / ours)
            ratio = "%.2fx" % (pyvoip / ours)
        else:
            ratio = "n/a"
            if not isinstance(pyvoip, float):
                refused.append(LABELS[name])
        u = upy.get("parse_" + name, "missing")
        est = "%.2f ms" % (u * factor / 1000) if isinstance(u, float) else "n/a"
        rows.append([LABELS[name]] + [cell(t) for t in times] + [ratio, cell(u), est])
    paths = torture_paths()
    if paths:
        counts = ["%d/%d" % (sum(bench_upy.accepts(fn, open(p, "rb").read()) for p in paths), len(paths))
                  for _, fn in parsers]
        rows.append(["RFC 4475 3.1.1 valid, parsed"] + counts + ["", "", ""])
    header = (["full parse, us/message"] + [label for label, _ in parsers]
              + ["pyVoIP/ours (>1: ours faster)", "ours (MicroPython unix)", "ESP32 ESTIMATE"])
    lines = table(header, rows)
    if paths is None:
        lines.append("(%s not found: no RFC 4475 row)" % TORTURE_DIR)
    return lines, (min(ratios) if ratios else None), refused


def main(argv=None):
    ap = argparse.ArgumentParser(prog="tools/bench.py", description=__doc__.splitlines()[0])
    ap.add_argument("--min", type=int, help="membench: smallest heap tried, wK")
    ap.add_argument("--max", type=int, help="membench: largest heap tried, wK")
    args = ap.parse_args(argv)
    extra = []
    for opt in ("min", "max"):
        if getattr(args, opt) is not None:
            extra += ["--" + opt, str(getattr(args, opt))]
    try:
        if not in_bench_venv() and not os.environ.get("INTERCOM_BENCH_CHILD"):
            bootstrap()
        return report(extra)
    except PeerMissing as err:
        print("bench: FAILED, a peer is missing: %s" % err, file=sys.stderr)
        return 2


def report(extra, quick=False):
    print("make bench: " + NOISE)
    parsers = peers()
    upy = run_micropython(quick)
    factor = esp32_factor(upy["pystone"])
    lines, worst, refused = sip_report(parsers, upy, factor, quick)
    print("")
    print("SIP, full parse (start line, every header, SDP body), best of 5 on Python %s" % sys.version.split()[0])
    print("\n".join(lines))
    est = "ESTIMATE for an ESP32 (x%.0f, see CPU factor)" % factor

    def line(label, key, unit_ms):
        u = upy.get(key, "missing")
        if not isinstance(u, float):
            raise PeerMissing("MicroPython figure %s: %s" % (key, u))
        print("%s: %.1f us under the MicroPython unix port; %s: %.2f ms" % (label, u, est, u * factor / 1000))
        return u * factor / 1000
    print("")
    invite_ms = line("INVITE receive -> 180 Ringing in the outbox (UserAgent.receive, fresh UA, best of 20)",
                     "invite_rx", True)
    media_ms = line("media, one 20 ms frame per phone, unpaced (encode, RTP out, RTP in, jitter, decode; PCMU)",
                    "media", True)
    print("")
    srtp_ms = bench_srtp.report(factor)
    print("")
    g722_ms = bench_g722.report(factor, quick=quick)
    print("CPU factor: the unix port runs %.0f pystones/s here; an ESP32 runs %.0f (%s): x%.0f. "
          "An ESTIMATE: viper kernels, caches and flash waits scale differently"
          % (upy["pystone"], ESP32_PYSTONES, ESP32_SOURCE, factor))
    print("")
    print("memory (tools/membench.py; N wK = an N KiB heap on a 32-bit ESP32):")
    missing = None
    try:
        mem = run_membench(extra)
    except PeerMissing as err:
        missing, mem = err, []      # the speed goals are still printed, then the run fails
        print("  NOT MEASURED: %s" % err)
    for text in table(["deployment", "smallest heap", "peak live heap"], mem) if mem else []:
        print(text)
    if mem:
        print("")
        print("the same call with a feature on (.mpy files):")
        try:
            features = feature_rows(extra)
        except PeerMissing as err:
            missing, features = err, []
            print("  NOT MEASURED: %s" % err)
        for text in table(["call", "smallest heap", "peak live heap"], features) if features else []:
            print(text)
        print("")
        print("Home Assistant over MQTT (tools/bench_mqtt.py; the loop pass is the unix port's, on this VM):")
        for name, value in mqtt_rows():
            print("  %s: %s" % (name, value))
            if value.startswith("n/a"):
                missing = PeerMissing("bench_mqtt: " + value)
    print("")
    print("GOALS (speed figures are ESTIMATES where marked, and noisy: see the first line)")
    if worst is None:
        raise PeerMissing("pyVoIP parsed none of the messages: no parse ratio")
    print("  full parse >= %.0fx pyVoIP (CPython): %s" % (GOAL_PARSE_X, verdict(
        worst >= GOAL_PARSE_X, "worst %.2fx over the messages both parse%s" % (
            worst, "; pyVoIP cannot parse: " + ", ".join(refused) if refused else ""))))
    print("  INVITE receive -> response <= %.0f ms (ESP32 estimate): %s" % (GOAL_INVITE_MS, verdict(
        invite_ms <= GOAL_INVITE_MS, "%.1f ms, %.2fx the goal" % (invite_ms, invite_ms / GOAL_INVITE_MS))))
    print("  media path <= %.0f ms per frame (ESP32 estimate): %s" % (GOAL_MEDIA_MS, verdict(
        media_ms <= GOAL_MEDIA_MS, "%.2f ms, %.2fx the goal" % (media_ms, media_ms / GOAL_MEDIA_MS))))
    print("  media frame + SRTP both ways <= 20 ms per frame (ESP32 estimate): %s" % verdict(
        media_ms + srtp_ms <= 20.0, "%.2f + %.2f ms (worst suite) = %.2f ms" % (media_ms, srtp_ms, media_ms + srtp_ms)))
    if g722_ms is None:
        raise PeerMissing("the G.722 viper kernels did not run under MicroPython")
    print("  G.722 encode + decode <= %.0f ms per frame (viper, ESP32 estimate): %s" % (
        bench_g722.GOAL_MS, verdict(g722_ms <= bench_g722.GOAL_MS, "%.2f ms, %.2fx the goal" % (
            g722_ms, g722_ms / bench_g722.GOAL_MS))))
    if missing is not None:
        raise missing
    return 0


if __name__ == "__main__":
    sys.exit(main())
