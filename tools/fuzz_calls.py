#!/usr/bin/env python3
"""Long runs of the stateful SIP fuzzer (host_tests/core/fuzz_calls.py) under CPython or the MicroPython unix port.

    tools/fuzz_calls.py --steps 200000 --seed 1 [--seeds 5] [--jobs 2] [--runtime cpython|micropython]

Each seed runs --steps steps in the chosen runtime (--jobs processes at a
time); prints steps/s and every distinct finding with the seed and step
that reproduce it (replay one with --seed S --steps N --trace). Exit 1
when anything was found."""

import argparse
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = os.path.join(ROOT, "host_tests", "core")
FIRMWARE = os.path.join(ROOT, "firmware")


def command(runtime, seed, steps, trace, full):
    extra = (["--trace"] if trace else []) + (["--full"] if full else [])
    args = [str(seed), str(steps), "1"] + extra
    if runtime == "micropython":
        mpy = os.path.join(ROOT, ".venv", "bin", "micropython")
        return [mpy, "-X", "heapsize=16M", "fuzz_calls.py"] + args, dict(os.environ, MICROPYPATH=FIRMWARE + ":.")
    env = dict(os.environ, PYTHONPATH=FIRMWARE + os.pathsep + CORE)
    return [sys.executable, "fuzz_calls.py"] + args, env


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100000, help="steps per seed")
    parser.add_argument("--seed", type=int, default=1, help="first seed")
    parser.add_argument("--seeds", type=int, default=1, help="number of seeds (seed, seed+1, ...)")
    parser.add_argument("--jobs", type=int, default=1, help="processes at a time")
    parser.add_argument("--runtime", choices=("cpython", "micropython"), default="cpython")
    parser.add_argument("--trace", action="store_true", help="print every action (to replay a finding)")
    parser.add_argument("--full", action="store_true", help="print the last actions before each finding")
    opts = parser.parse_args()

    started = time.time()
    pending = list(range(opts.seed, opts.seed + opts.seeds))
    running = []
    total_steps = 0
    findings = 0
    seen = {}
    while pending or running:
        while pending and len(running) < max(1, opts.jobs):
            seed = pending.pop(0)
            argv, env = command(opts.runtime, seed, opts.steps, opts.trace, opts.full)
            running.append((seed, subprocess.Popen(argv, cwd=CORE, env=env, stdout=subprocess.PIPE,
                                                   stderr=subprocess.STDOUT, text=True)))
        seed, proc = running.pop(0)
        out, _ = proc.communicate()
        for line in out.splitlines():
            summary = re.match(r"SUMMARY steps=(\d+) .* findings=(\d+)", line)
            if summary:
                total_steps += int(summary.group(1))
                findings += int(summary.group(2))
                continue
            head = re.match(r"FINDING x(\d+) (.*)", line)
            if head:
                seen[head.group(2)] = seen.get(head.group(2), 0) + int(head.group(1))
            print(line)
        if proc.returncode not in (0, 1):
            print("seed %d: %s exited with %d" % (seed, opts.runtime, proc.returncode))
            findings += 1
        sys.stdout.flush()
    elapsed = time.time() - started
    print("%s: %d steps in %.0f s, %.0f steps/s (wall clock, %d job(s)); %d findings, %d distinct"
          % (opts.runtime, total_steps, elapsed, total_steps / elapsed if elapsed else 0, opts.jobs,
             findings, len(seen)))
    for sig in sorted(seen):
        print("  x%d %s" % (seen[sig], sig))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
