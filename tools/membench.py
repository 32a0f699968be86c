"""`make bench`, memory part (issues 4 and 5): the smallest MicroPython heap that runs a whole call.

The scenario, with every step waiting for its events (bounded):
boot, register to Kamailio (digest auth), call a second simulator through it
(auto-answer, audio both ways), hold, resume, hang up, unregister (quit).
Phone A is measured under the MicroPython unix port with `--heap <N>wK`, in
two deployments: tools/sim --mpy (build/mpy: each import copies its
bytecode into the heap), tools/sim --romfs (build/romfs.img mounted
as a ROM partition: bytecode runs in place, as from a device's ROMFS
partition; --heap is then the heap beside the image) and tools/sim --frozen
(build/frozen/micropython, every module frozen into the binary by
tools/manifest.py, as in a `make firmware` ESP32 build: bytecode, qstrs and
constant objects in flash).
Phone B runs with a normal heap.
A run succeeds when every step's events arrived, both phones received audio,
A exited 0 with no `error` event and no MemoryError on its stderr.

-X heapsize=<N>wK sizes the unix port's heap as N KiB scaled by the word size
(N * 1024 * 8 / 4 bytes on x64), so N wK stands for an N KiB heap on a
32-bit device such as the ESP32.

Prints: the smallest N (bisection, 1 wK resolution), the goal (<= 48 wK),
the heap live during the call (the sim's `mem` command, when the firmware has
it), and bytes allocated per frame from host_tests/upy/heaplock_call.py.

    .venv/bin/python tools/membench.py              # the whole report
    .venv/bin/python tools/membench.py --heap 96    # one run at 96wK, step by step
    .venv/bin/python tools/membench.py --heap 96 --romfs
    .venv/bin/python tools/membench.py --heap 64 --frozen
    .venv/bin/python tools/membench.py --modes romfs  # bisect one deployment only
    .venv/bin/python tools/membench.py --codecs G722 PCMU --modes mpy   # a G.722 call (16 kHz mics)
"""

import argparse
import json
import math
import os
import re
import struct
import subprocess
import sys
import time
import wave

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "host_tests", "interop"))
from peers import HOST, Kamailio, Sim, find_binary, free_rtp_port, free_udp_ports, heaplock_base  # noqa: E402
sys.path.insert(0, os.path.join(REPO, "tools"))
import frozen_build  # noqa: E402
import mpy_build  # noqa: E402

GOAL_WK = 48
USERS = {"door": "doorsecret", "flat": "flatsecret"}
WORD_BYTES = struct.calcsize("P")          # the unix port's word: 8 on x64
STEP_TIMEOUT = 8.0                         # seconds per step; a healthy step takes well under 1 s
MEM_SAMPLE_S = 0.25                        # `mem` every 250 ms during the audio, when sampling


class StepFailed(Exception):
    pass


def wk_bytes(wk):
    """Bytes of an N wK heap on this host (the unix port's -X heapsize=NwK)."""
    return wk * 1024 * WORD_BYTES // 4


def write_tone(path, hz=1000, seconds=1.0, rate=8000, amplitude=8000):
    frames = bytearray()
    for n in range(int(rate * seconds)):
        frames += struct.pack("<h", int(amplitude * math.sin(2 * math.pi * hz * n / rate)))
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))


def sim_config(kamailio, user, sip_port, rtp_port, auto_answer, overrides=()):
    """A sim's config; overrides: (("section.key", value), ...) set on both phones (--set)."""
    cfg = {"board": "host",
           "sip": {"registrar": HOST, "port": kamailio.port, "user": user, "password": USERS[user],
                   "expires": 60, "local_port": sip_port},
           "media": {"rtp_port": rtp_port},
           "calls": {"targets": [], "auto_answer": auto_answer, "accept_from": "registrar"}}
    for path, value in overrides:
        section, _, key = path.partition(".")
        cfg.setdefault(section, {})[key] = value
    return cfg


def parse_override(text):
    """`section.key=JSON` (a bare word is taken as a string): one --set argument."""
    path, eq, raw = text.partition("=")
    if not eq or "." not in path:
        raise argparse.ArgumentTypeError("--set wants section.key=value, got %r" % text)
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return path, value


def ports():
    """Two SIP ports and two even RTP ports (RTCP + 1 free), all distinct."""
    sip = free_udp_ports(2)
    rtp = []
    while len(rtp) < 2:
        p = free_rtp_port()
        if p not in sip and p + 1 not in sip and p not in rtp:
            rtp.append(p)
    return sip, rtp


class Scenario:
    """One run of the scenario with phone A's heap at `heap_wk` wK.

    run() returns True or False; `failed` names the step and why, `memory`
    holds (phase, memory event) pairs when sampling and the firmware has `mem`."""

    def __init__(self, kamailio, heap_wk, workdir, audio_s=1.5, sample_memory=False, mpy=True, romfs=False,
                 frozen=False, overrides=()):
        self.kamailio = kamailio
        self.overrides = tuple(overrides)
        self.heap_wk = heap_wk
        self.workdir = workdir
        self.audio_s = audio_s
        self.sample_memory = sample_memory
        self.mpy = mpy
        self.romfs = romfs
        self.frozen = frozen
        self.failed = None
        self.steps = []               # (step, seconds)
        self.memory = []              # (phase, event)
        self.mem_phases = []
        self.a = self.b = None

    # --- waiting ---------------------------------------------------------------------
    def _find(self, sim, start, name, match):
        with sim._cond:
            for i in range(start, len(sim.events)):
                if sim._matches(sim.events[i], name, match):
                    return i
        return None

    def expect(self, step, wants, timeout=STEP_TIMEOUT):
        """wants: [(sim, start index, event name, match)]; every one must arrive.
        Gives up at once when phone A has exited. Returns the indices."""
        deadline = time.monotonic() + timeout
        found = [None] * len(wants)
        while True:
            for k, (sim, start, name, match) in enumerate(wants):
                if found[k] is None:
                    found[k] = self._find(sim, start, name, match)
            if None not in found:
                return found
            if time.monotonic() > deadline:
                why = "timeout %.0f s" % timeout
                break
            if self.a.proc.poll() is not None:
                why = "A exited (rc=%s)" % self.a.proc.returncode
                time.sleep(0.1)               # let the reader take its last lines
                break
            time.sleep(0.02)
        missing = ["%s %s%s" % ("A" if w[0] is self.a else "B", w[2], " %r" % w[3] if w[3] else "")
                   for w, f in zip(wants, found) if f is None]
        raise StepFailed("%s: no %s (%s)" % (step, ", ".join(missing), why))

    def mark(self, sim):
        with sim._cond:
            return len(sim.events)

    def mem(self, phase):
        if self.sample_memory:
            self.mem_phases.append(phase)
            self.a.send("mem")

    # --- the scenario ----------------------------------------------------------------
    def run(self):
        os.makedirs(self.workdir, exist_ok=True)
        codecs = dict(self.overrides).get("media.codecs") or ()
        wide = "G722" in codecs
        tone = os.path.join(self.workdir, "tone16k.wav" if wide else "tone.wav")
        if not os.path.exists(tone):
            write_tone(tone, rate=16000 if wide else 8000)
        (sip_a, sip_b), (rtp_a, rtp_b) = ports()
        a_args = ["--heap", "%dwK" % self.heap_wk, "--mic", tone]
        if self.frozen:
            a_args.insert(0, "--frozen")
        elif self.romfs:
            a_args.insert(0, "--romfs")
        elif self.mpy:
            a_args.insert(0, "--mpy")
        self.b = Sim(sim_config(self.kamailio, "flat", sip_b, rtp_b, True, self.overrides), extra_args=["--mic", tone],
                     workdir=os.path.join(self.workdir, "b"))
        self.a = Sim(sim_config(self.kamailio, "door", sip_a, rtp_a, False, self.overrides), extra_args=a_args,
                     workdir=os.path.join(self.workdir, "a"))
        a, b = self.a, self.b
        try:
            b.start()
            b.wait_event("ready", 15)
            b.wait_event("registered", 8)
            t = time.monotonic()

            def step(name):
                nonlocal t
                now = time.monotonic()
                self.steps.append((name, now - t))
                t = now

            a.start()
            self.expect("boot", [(a, 0, "ready", {})], timeout=20)
            step("boot")
            self.expect("register", [(a, 0, "registered", {})])
            step("register")
            ia, ib = self.mark(a), self.mark(b)
            a.send("dial sip:flat@%s:%d" % (HOST, self.kamailio.port))
            self.expect("call", [(a, ia, "call", {"state": "connected"}),
                                 (b, ib, "call", {"state": "connected"})])
            step("call")
            self.mem("call connected")
            end = time.monotonic() + self.audio_s
            while time.monotonic() < end:
                if a.proc.poll() is not None:
                    raise StepFailed("audio: A exited (rc=%s)" % a.proc.returncode)
                time.sleep(min(MEM_SAMPLE_S, max(0.0, end - time.monotonic())))
                if time.monotonic() < end:
                    self.mem("audio")
            step("audio")
            ia, ib = self.mark(a), self.mark(b)
            a.send("hold")
            self.expect("hold", [(a, ia, "call", {"state": "on_hold"}),
                                 (b, ib, "call", {"state": "remote_hold"})])
            step("hold")
            self.mem("on hold")
            ia, ib = self.mark(a), self.mark(b)
            a.send("resume")
            self.expect("resume", [(a, ia, "call", {"state": "connected"}),
                                   (b, ib, "call", {"state": "connected"})])
            step("resume")
            self.mem("resumed")
            time.sleep(0.2)
            ia, ib = self.mark(a), self.mark(b)
            a.send("hangup")
            ka, kb = self.expect("hangup", [(a, ia, "call", {"state": "ended"}),
                                            (b, ib, "call", {"state": "ended"})])
            step("hangup")
            for who, sim, k in (("A", a, ka), ("B", b, kb)):
                media = sim.events[k].get("media")
                if isinstance(media, dict) and not media.get("received"):
                    raise StepFailed("audio: %s received no RTP (%r)" % (who, media))
            self.mem("after hangup")
            ia = self.mark(a)
            a.send("quit")
            self.expect("unregister", [(a, ia, "unregistered", {})])
            rc = a.wait_exit(10)
            step("unregister")
            if rc != 0:
                raise StepFailed("exit: A exited %s" % rc)
            errors = [e for e in a.events if e.get("event") == "error"]
            if errors:
                raise StepFailed("A reported error events: %r" % errors[:3])
            if "MemoryError" in a.stderr_text() + "\n".join(a.bad_stdout):
                raise StepFailed("MemoryError reported by A")
            if a.bad_stdout:
                raise StepFailed("non-JSON lines on A's stdout: %r" % a.bad_stdout[:3])
            return True
        except (StepFailed, AssertionError) as err:
            self.failed = str(err).splitlines()[0]
            tail = self.a_stderr_tail()
            if tail:
                self.failed += " [A: %s]" % tail
            return False
        finally:
            for sim in (a, b):
                sim.stop()
            self._collect_memory()

    def a_stderr_tail(self):
        """The last line A wrote to stderr, or of a traceback on its stdout (the unix port
        prints an uncaught exception's traceback to stdout)."""
        with self.a._cond:
            lines = [ln for ln in self.a.bad_stdout if ln.strip()]
        if not lines:
            try:
                lines = [ln for ln in self.a.stderr_text().splitlines() if ln.strip()]
            except OSError:
                pass
        return lines[-1].strip() if lines else ""

    def _collect_memory(self):
        if not self.sample_memory or self.a is None:
            return
        answers = [e for e in self.a.events if e.get("event") == "memory"]
        self.memory = list(zip(self.mem_phases, answers))


MODES = {"mpy": ".mpy files (copied into RAM at import)",
         "romfs": "a ROMFS image (bytecode in place)",
         "frozen": "frozen modules (make frozen: bytecode, qstrs, constants in the binary)"}


def romfs_block_bytes():
    """Heap bytes the ROMFS image's bytearray takes in tools/romfs_boot.py (0 when not built)."""
    if not os.path.exists(mpy_build.ROMFS):
        return 0
    return mpy_build.image_heap_bytes(os.path.getsize(mpy_build.ROMFS), WORD_BYTES)


# --- bisection --------------------------------------------------------------------------


def bisect(kamailio, lo, hi, workdir, audio_s, log, romfs=False, frozen=False, overrides=()):
    """Smallest N in [lo, hi] wK whose run succeeds (assuming success is monotonic in N),
    confirmed by a second run; None if hi itself fails. Returns (N, runs, top scenario)."""
    runs = []

    def attempt(n, sample=False):
        sc = Scenario(kamailio, n, os.path.join(workdir, "run%02d-%dwK" % (len(runs), n)), audio_s,
                      sample_memory=sample, romfs=romfs, frozen=frozen, overrides=overrides)
        t = time.monotonic()
        ok = sc.run()
        runs.append((n, ok, time.monotonic() - t, sc.failed))
        log("  %4d wK  %-4s %4.1f s  %s" % (n, "ok" if ok else "FAIL", runs[-1][2], sc.failed or ""))
        return ok, sc

    ok, top = attempt(hi, sample=True)      # the generous run also samples the live heap
    if not ok:
        return None, runs, top
    good, bad = hi, lo - 1
    while good - bad > 1:
        mid = (good + bad) // 2
        if attempt(mid)[0]:
            good = mid
        else:
            bad = mid
    for _ in range(3):                      # near the edge timing can matter: confirm once more
        if attempt(good)[0]:
            break
        good += 1
    return good, runs, top


# --- back-to-back calls -------------------------------------------------------------------


def repeated_calls(kamailio, workdir, calls=5, heap_wk=256):
    """Phone A (--romfs, heap_wk) calls B `calls` times, 1 s apart, hanging up after 0.3 s
    of audio each time; returns the live heap (less the image) after registering and after
    each hangup, or (None, why). RFC 3261 keeps each call's final transactions for up to
    64*T1 = 32 s, so this shows what they hold while they linger."""
    (sip_a, sip_b), (rtp_a, rtp_b) = ports()
    b = Sim(sim_config(kamailio, "flat", sip_b, rtp_b, True), workdir=os.path.join(workdir, "b"))
    a = Sim(sim_config(kamailio, "door", sip_a, rtp_a, False), workdir=os.path.join(workdir, "a"),
            extra_args=["--romfs", "--heap", "%dwK" % heap_wk])
    image = romfs_block_bytes()

    def live():
        start = len(a.events)
        a.send("mem")
        return a.wait_event("memory", STEP_TIMEOUT, since=start)["alloc"] - image
    try:
        b.start()
        a.start()
        b.wait_event("registered", 20)
        a.wait_event("registered", 20)
        heaps = [live()]
        for _ in range(calls):
            start_a, start_b = len(a.events), len(b.events)
            a.send("dial sip:flat@%s:%d" % (HOST, kamailio.port))
            a.wait_event("call", STEP_TIMEOUT, since=start_a, state="connected")
            b.wait_event("call", STEP_TIMEOUT, since=start_b, state="connected")
            time.sleep(0.3)
            start_a = len(a.events)
            a.send("hangup")
            a.wait_event("call", STEP_TIMEOUT, since=start_a, state="ended")
            time.sleep(0.7)
            heaps.append(live())
        return heaps, None
    except AssertionError as err:
        return None, str(err).splitlines()[0]
    finally:
        for sim in (a, b):
            sim.stop()


# --- heaplock_call.py ---------------------------------------------------------------------


def heaplock_figures(frames=500):
    """Run host_tests/upy/heaplock_call.py; (dict of figures, None) or (None, why)."""
    upy = os.path.join(REPO, ".venv", "bin", "micropython")
    if not os.access(upy, os.X_OK):
        return None, "MicroPython unix port not installed (make venv)"
    env = dict(os.environ, MICROPYPATH="../../firmware:.frozen")
    try:
        proc = subprocess.run([upy, "heaplock_call.py", str(frames), str(heaplock_base())],
                              cwd=os.path.join(REPO, "host_tests", "upy"), env=env,
                              capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return None, "heaplock_call.py timed out"
    out = proc.stdout + proc.stderr
    m = re.search(r"frames A=(\d+) B=(\d+) under heap_lock, datagrams received (\d+), "
                  r"heap grown (\d+) bytes \((-?\d+) per datagram\)", out)
    if not m:
        return None, "heaplock_call.py printed no figures (rc=%s): %s" % (
            proc.returncode, (out.strip().splitlines() or ["no output"])[-1])
    fa, fb, datagrams, grown, _ = (int(x) for x in m.groups())
    return {"frames_a": fa, "frames_b": fb, "datagrams": datagrams, "grown": grown,
            "passed": proc.returncode == 0 and "1 passed, 0 failed" in out}, None


# --- report -------------------------------------------------------------------------------


def memory_rows(top, romfs=False):
    """Rows about the live heap during the call, from the sampled `mem` answers
    (romfs: less the image's bytearray, which a device keeps in flash)."""
    mem = top.memory if top is not None else []
    image = romfs_block_bytes() if romfs else 0
    if image:
        mem = [(phase, dict(ev, alloc=ev["alloc"] - image) if ev.get("alloc") is not None else ev)
               for phase, ev in mem]
    if not mem or mem[0][1].get("alloc") is None:
        why = "n/a (the firmware has no `mem` command)" if not mem else "n/a (no gc.mem_alloc)"
        return [("live heap during the call", why)]

    def kb(n):
        return "%d bytes (~%.1f wK)" % (n, n / (1024.0 * WORD_BYTES / 4))

    by_phase = {}
    for phase, ev in mem:
        by_phase.setdefault(phase, []).append(ev)
    in_call = [ev["alloc"] for phase, ev in mem if phase != "after hangup"]
    rows = []
    if "call connected" in by_phase:
        rows.append(("live heap at call connected", kb(by_phase["call connected"][0]["alloc"])))
    rows.append(("peak live heap in the call (%d samples)" % len(in_call), kb(max(in_call))))
    if "after hangup" in by_phase:
        rows.append(("live heap after hangup", kb(by_phase["after hangup"][0]["alloc"])))
    first, last = mem[0][1].get("mem_peak"), mem[-1][1].get("mem_peak")
    if first is not None and last is not None:
        # mem_peak counts every m_malloc; GC sweeps never lower it, so its growth is what was allocated
        rows.append(("allocated from connected to hangup", "%d bytes (micropython.mem_peak growth; "
                     "signalling, hold/resume, `mem` itself)" % (last - first)))
    return rows


def main():
    parser = argparse.ArgumentParser(prog="tools/membench.py", description=__doc__.splitlines()[0])
    parser.add_argument("--min", type=int, default=16, help="smallest heap tried, wK (default 16)")
    parser.add_argument("--max", type=int, default=512, help="largest heap tried, wK (default 512)")
    parser.add_argument("--audio", type=float, default=1.5, help="seconds of audio in the call (default 1.5)")
    parser.add_argument("--heap", type=int, help="run the scenario once at this heap (wK) and print its steps")
    parser.add_argument("--source", action="store_true", help="with --heap: run firmware/*.py, not build/mpy")
    parser.add_argument("--romfs", action="store_true", help="with --heap: run from build/romfs.img")
    parser.add_argument("--frozen", action="store_true", help="with --heap: run build/frozen/micropython")
    parser.add_argument("--modes", nargs="+", choices=sorted(MODES), default=["mpy", "romfs", "frozen"],
                        help="which deployments to bisect (default: all three)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], type=parse_override,
                        metavar="SECTION.KEY=JSON",
                        help="config for both phones, e.g. --set 'media.codecs=[\"G722\",\"PCMU\"]' (repeatable): "
                        "the heap of a call with a feature on")
    parser.add_argument("--workdir", default=os.path.join(REPO, "build", "membench"))
    parser.add_argument("--codecs", nargs="+", choices=("PCMU", "PCMA", "G722"),
                        help="both phones' media.codecs, --set's shorthand (default: a G.711 call);"
                             " with G722 first the call is wideband and the mics 16 kHz")
    parser.add_argument("--srtp", action="store_true",
                        help="the call is SRTP (media.srtp mandatory, media.srtp_over_udp): --set's shorthand")
    args = parser.parse_args()
    if args.srtp:
        args.overrides += [("media.srtp", "mandatory"), ("media.srtp_over_udp", True)]
    if args.codecs:
        args.overrides.append(("media.codecs", args.codecs))

    def log(text):
        print(text, flush=True)

    started = time.monotonic()
    rows = []
    verdict = None
    # make frozen before any timed run: a stale binary rebuilt by tools/sim inside
    # its 20 s boot step read as "fails at every heap"
    frozen_problem = frozen_build.build(log=log) if (args.frozen if args.heap else "frozen" in args.modes) else None
    if args.heap and frozen_problem:
        log("make frozen: %s" % frozen_problem)
        return 1
    if find_binary("kamailio") is None:
        rows.append(("smallest heap for the scenario", "n/a (kamailio not installed: apt-get install kamailio)"))
    else:
        with Kamailio(USERS, workdir=os.path.join(args.workdir, "kamailio")) as kamailio:
            if args.heap:
                sc = Scenario(kamailio, args.heap, os.path.join(args.workdir, "single"), args.audio,
                              sample_memory=True, mpy=not args.source, romfs=args.romfs,
                              frozen=args.frozen, overrides=args.overrides)
                ok = sc.run()
                for name, secs in sc.steps:
                    log("  %-10s %5.2f s" % (name, secs))
                for phase, ev in sc.memory:
                    log("  mem %-14s %s" % (phase, {k: v for k, v in ev.items() if k not in ("event", "_t")}))
                log("%d wK: %s" % (args.heap, "ok" if ok else "FAILED: " + sc.failed))
                return 0 if ok else 1
            for mode in args.modes:
                romfs = mode == "romfs"
                if mode == "frozen" and frozen_problem:
                    rows.append(("smallest heap, %s" % MODES[mode], "n/a (make frozen: %s)" % frozen_problem))
                    continue
                log("membench: bisecting phone A's heap over %d..%d wK, firmware from %s (boot, register, "
                    "call with %.1f s audio, hold, resume, hang up, unregister)"
                    % (args.min, args.max, MODES[mode], args.audio))
                best, runs, top = bisect(kamailio, args.min, args.max, os.path.join(args.workdir, mode),
                                         args.audio, log, romfs=romfs, frozen=mode == "frozen",
                                         overrides=args.overrides)
                label = "smallest heap, %s" % MODES[mode]
                if best is None:
                    rows.append((label, "> %d wK (fails at %d wK: %s)" % (args.max, args.max, runs[-1][3])))
                else:
                    rows.append((label, "%d wK = %d KiB on a 32-bit device (%d bytes here, %d-byte words)"
                                 % (best, best, wk_bytes(best), WORD_BYTES)))
                rows.append(("  runs", "%d in %.0f s" % (len(runs), sum(r[2] for r in runs))))
                if best is not None and best <= GOAL_WK:
                    verdict = "MET (%s)" % MODES[mode]
                elif verdict is None or not verdict.startswith("MET"):
                    verdict = "NOT MET"
                rows += [("  " + name, value) for name, value in memory_rows(top, romfs)]
            heaps, why = repeated_calls(kamailio, os.path.join(args.workdir, "repeated"))
            if heaps is None:
                rows.append(("live heap over 5 back-to-back calls", "n/a: " + why))
            else:
                rows.append(("live heap over 5 back-to-back calls", "registered %d, after each hangup %s bytes "
                             "(ROMFS; +%d per call while RFC 3261 timers hold the finished transactions)"
                             % (heaps[0], " ".join(str(h) for h in heaps[1:]),
                                (heaps[-1] - heaps[1]) // (len(heaps) - 2))))
    figures, why = heaplock_figures()
    if figures is None:
        rows.append(("bytes allocated per frame (heap_lock)", "n/a: " + why))
    else:
        frames = figures["frames_a"] + figures["frames_b"]
        rows.append(("bytes allocated per frame (heap_lock)", "%.1f per 20 ms frame per phone; %d per datagram "
                     "(the received datagram only; %d bytes over %d frames, %d datagrams%s)" % (
                         figures["grown"] / frames if frames else float("nan"),
                         figures["grown"] // figures["datagrams"] if figures["datagrams"] else -1,
                         figures["grown"], frames, figures["datagrams"],
                         "" if figures["passed"] else "; heaplock_call.py FAILED")))
    width = max(len(r[0]) for r in rows)
    log("")
    log("memory (MicroPython unix port; phone A from build/mpy, build/romfs.img or build/frozen/micropython)")
    for name, value in rows:
        log("%s  %s" % (name.ljust(width), value))
    if verdict is not None:
        log("GOAL (smallest heap <= %d wK, about %d KB on an ESP32 without PSRAM): %s" % (GOAL_WK, GOAL_WK, verdict))
    log("membench: %.0f s" % (time.monotonic() - started))
    return 0 if verdict is not None or figures is not None else 1


if __name__ == "__main__":
    sys.exit(main())
