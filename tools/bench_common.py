"""Shared by the benchmarks (tools/bench*.py): a microsecond timer and best-of timing on both runtimes, and
running a workload under the MicroPython unix port, read back from its `RESULT name value` lines.

A workload script prints `RESULT name value` for each figure and `ERROR name why` for one it could not
measure; run_upy() returns them as {name: float} and {name: "failed: why"}. This module imports under
MicroPython too (the workloads call best_us() there): no subprocess or os at the top.
"""

import gc

try:
    from time import ticks_diff, ticks_us
except ImportError:   # CPython
    from time import perf_counter

    def ticks_us():
        return int(perf_counter() * 1e6)

    def ticks_diff(a, b):
        return a - b


def best_us(fn, repeats=7, loops=20, collect=True):
    """Best microseconds per fn() call: one warm-up call, then `repeats` runs of
    `loops` calls each (a gc.collect() before each run if collect)."""
    fn()
    best = None
    for _ in range(repeats):
        if collect:
            gc.collect()
        t0 = ticks_us()
        for _ in range(loops):
            fn()
        per = ticks_diff(ticks_us(), t0) / loops
        best = per if best is None or per < best else best
    return best


def repo_dir():
    import os
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_micropython():
    """.venv/bin/micropython, else one on PATH, else None."""
    import os
    import shutil
    local = os.path.join(repo_dir(), ".venv", "bin", "micropython")
    return local if os.access(local, os.X_OK) else shutil.which("micropython")


def parse_results(text, error_len=80):
    """{name: float} from `RESULT name value` lines, {name: "failed: why"} from `ERROR name why` lines."""
    results = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "RESULT":
            name, value = rest.split()
            results[name] = float(value)
        elif kind == "ERROR":
            name, _, msg = rest.partition(" ")
            results[name] = "failed: " + msg[:error_len]
    return results


def run_upy(script, args=(), exe=None, heapsize="16M", micropypath=None, timeout=600):
    """Runs tools/<script> under the unix port (exe, default find_micropython(); MICROPYPATH the firmware
    directory unless given); returns (parse_results of its stdout, the CompletedProcess). OSError or
    subprocess.TimeoutExpired when it cannot run: the caller says what that means for it."""
    import os
    import subprocess
    repo = repo_dir()
    exe = exe or find_micropython() or "micropython"
    env = dict(os.environ, MICROPYPATH=micropypath or os.path.join(repo, "firmware"))
    proc = subprocess.run([exe, "-X", "heapsize=" + heapsize, os.path.join(repo, "tools", script)] + list(args),
                          env=env, capture_output=True, text=True, timeout=timeout)
    return parse_results(proc.stdout), proc
