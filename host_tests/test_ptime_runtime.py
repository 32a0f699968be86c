"""Other packetizations under heap_lock in MicroPython (RFC 3551 §4.5, RFC 4566 a=ptime): 30 ms in, 40 ms out."""

import os
import subprocess

from test_runtimes import HERE, heaplock_base, tool


def test_call_with_30_ms_in_and_40_ms_out_runs_under_heap_lock():
    """The door asks for 30 ms (a=ptime:30), the flat for 40 ms: the door
    sends 40 ms packets and plays the flat's 30 ms ones, both sides with the
    heap locked (only received datagrams allocate), nothing lost."""
    env = dict(os.environ, MICROPYPATH="../../firmware:.frozen")
    proc = subprocess.run([tool("micropython"), "heaplock_call.py", "300", str(heaplock_base()), "30", "40"],
                          cwd=os.path.join(HERE, "upy"), env=env, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "1 passed, 0 failed" in out, out
    figures = out.split("frames A=")[1]
    assert int(figures.split()[0]) >= 300 and int(figures.split("B=")[1].split()[0]) >= 300, out
    door = out.split("door sends ")[1]
    assert door.startswith("40 ms") and "lost=0" in door, out
