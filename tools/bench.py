"""`make bench`: SIP codec parse+serialize time vs pyVoIP and sippy (CPython) and under MicroPython."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_VENV = os.path.join(REPO, ".venv-bench")
REQUIREMENTS = os.path.join(REPO, "tools", "bench-requirements.txt")
TORTURE_DIR = os.path.join(os.path.dirname(REPO), "shared", "conformance", "rfc4475")
LABELS = {"invite": "INVITE + SDP", "ok200": "200 OK + SDP + RR", "register": "REGISTER + Authorization"}
GOAL = 3.0

sys.path[:0] = [os.path.join(REPO, "firmware"), os.path.join(REPO, "tools")]
import bench_upy  # noqa: E402  (needs the firmware dir on sys.path)


def in_bench_venv():
    return os.path.realpath(sys.prefix) == os.path.realpath(BENCH_VENV)


def bootstrap():
    """Create/refresh .venv-bench and re-execute this script inside it; return on failure."""
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
        print("bench: could not set up %s (%s); pyVoIP/sippy columns will be n/a" % (BENCH_VENV, err))
        return
    os.environ["INTERCOM_BENCH_CHILD"] = "1"
    os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])


def load_pyvoip():
    import pyVoIP.VoIP  # noqa: F401  (pyVoIP 1.6.8: importing pyVoIP.SIP first hits a circular import)
    from pyVoIP.SIP import SIPMessage  # constructor parses every header eagerly; no serializer

    return SIPMessage


def load_sippy():
    from sippy.SipRequest import SipRequest
    from sippy.SipResponse import SipResponse

    def op(data):
        text = data.decode()   # sippy works on str; its transaction manager decodes strictly
        msg = SipResponse(text) if text.startswith("SIP/2.0 ") else SipRequest(text)
        for name in ("via", "from", "to", "cseq", "contact", "call-id"):
            msg.getHFBodys(name)   # headers are parsed lazily: force the same ones as ours
        return str(msg)

    op.ctor = lambda data: SipResponse(data.decode()) if data.startswith(b"SIP/2.0 ") else SipRequest(data.decode())
    return op


def short(err):
    text = "%s: %s" % (type(err).__name__, err)
    return "n/a: " + (text if len(text) <= 32 else text[:29] + "...")


def find_micropython():
    local = os.path.join(REPO, ".venv", "bin", "micropython")
    return local if os.access(local, os.X_OK) else shutil.which("micropython")


def torture_paths():
    try:
        with open(os.path.join(TORTURE_DIR, "manifest.json")) as f:
            entries = json.load(f)
    except OSError:
        return None
    return [os.path.join(TORTURE_DIR, e["file"]) for e in entries
            if e["section"].startswith("3.1.1.") and e["valid"]]


def run_micropython(paths):
    """Return ({message: us or 'n/a: ...'}, 'n/m' accepted or None, note)."""
    exe = find_micropython()
    if not exe:
        return {}, None, "micropython not found (.venv/bin or PATH)"
    env = dict(os.environ, MICROPYPATH=os.path.join(REPO, "firmware") + ":.frozen")
    cmd = [exe, os.path.join(REPO, "tools", "bench_upy.py")] + (paths or [])
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as err:
        return {}, None, short(err)
    results, accepted = {}, None
    for line in proc.stdout.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "RESULT":
            name, value = rest.split()
            results[name] = float(value)
        elif kind == "ERROR":
            name, _, msg = rest.partition(" ")
            results[name] = "n/a: " + msg[:40]
        elif kind == "ACCEPT":
            accepted = "%s/%s" % tuple(rest.split())
    note = "" if proc.returncode == 0 else "micropython exit %d: %s" % (proc.returncode, proc.stderr.strip()[-200:])
    return results, accepted, note


def measure(fn, data):
    try:
        fn(data)   # must parse before it is timed
        return bench_upy.best_us(fn, data)
    except Exception as err:
        return short(err)


def cell(value):
    return "%.1f" % value if isinstance(value, float) else value


def main():
    if not in_bench_venv() and not os.environ.get("INTERCOM_BENCH_CHILD"):
        bootstrap()
    parsers = [("ours (CPython)", bench_upy.ours, "parse+checks+encode"),
               ("ours parse-only", bench_upy.ours_parse, "no encode")]
    for label, loader, what in (("pyVoIP", load_pyvoip, "parse only"), ("sippy", load_sippy, "parse+str()")):
        try:
            parsers.append((label, loader(), what))
        except Exception as err:
            parsers.append((label, short(err), what))
    paths = torture_paths()
    upy, upy_accepted, upy_note = run_micropython(paths)

    rows = []
    for name, data in bench_upy.MESSAGES:
        times = [measure(fn, data) if callable(fn) else fn for _, fn, _ in parsers]
        times.append(upy.get(name, "n/a"))
        ours, pyvoip = times[0], times[2]
        ok = isinstance(ours, float) and isinstance(pyvoip, float)
        rows.append([LABELS[name]] + [cell(t) for t in times] + ["%.2fx" % (pyvoip / ours) if ok else "n/a"])
    if paths is not None:
        counts = []
        for _, fn, _ in parsers:
            count = lambda f: sum(bench_upy.accepts(f, open(p, "rb").read()) for p in paths)  # noqa: E731
            if not callable(fn):
                counts.append("n/a")
            elif hasattr(fn, "ctor"):   # lazy parser: constructor alone, and with the key headers forced
                counts.append("%d/%d (%d forced)" % (count(fn.ctor), len(paths), count(fn)))
            else:
                counts.append("%d/%d" % (count(fn), len(paths)))
        rows.append(["RFC 4475 3.1.1 accepted"] + counts + [upy_accepted or "n/a", ""])

    header = ["message (us/op, best of 5)"] + [p[0] for p in parsers] + ["ours (MicroPython)", "pyVoIP/ours"]
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]

    def fmt(row):
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    print("Python %s; %s" % (sys.version.split()[0], ", ".join("%s = %s" % (p[0], p[2]) for p in parsers)))
    print(fmt(header))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(fmt(r))
    if upy_note:
        print("note: MicroPython: " + upy_note)
    if paths is None:
        print("note: %s not found; RFC 4475 column skipped" % TORTURE_DIR)
    speedups = [(r[0], float(r[-1][:-1])) for r in rows if r[-1].endswith("x")]
    if not speedups:
        print("GOAL (>= %.0fx faster than pyVoIP under CPython): UNKNOWN (pyVoIP could not be measured)" % GOAL)
        return
    missing = [r[0] for r in rows[:len(bench_upy.MESSAGES)] if not r[-1].endswith("x")]
    worst = min(s for _, s in speedups)
    verdict = "MET" if worst >= GOAL else "NOT MET"
    print("GOAL (>= %.0fx faster than pyVoIP under CPython): %s (worst %.2fx over %d message(s)%s)"
          % (GOAL, verdict, worst, len(speedups), "; pyVoIP n/a for: " + ", ".join(missing) if missing else ""))


if __name__ == "__main__":
    main()
