"""An SRTP call (media.srtp mandatory) runs its frame loop under heap_lock on the MicroPython unix port (RFC 3711)."""

import os
import subprocess

from test_runtimes import HERE, heaplock_base, tool


def test_srtp_call_frame_loop_runs_under_heap_lock_for_500_frames():
    env = dict(os.environ, MICROPYPATH="../../firmware:.frozen")
    args = ["500", str(heaplock_base()), "20", "20", "mandatory"]
    proc = subprocess.run([tool("micropython"), "heaplock_call.py"] + args,
                          cwd=os.path.join(HERE, "upy"), env=env, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "1 passed, 0 failed" in out, out
    assert "SRTP both ways" in out and "FAILED" not in out, out
