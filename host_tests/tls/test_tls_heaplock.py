"""The 20 ms path allocates nothing with a SIP-over-TCP connection open (issue 12: heap-lock proof extended)."""

import os
import subprocess

from test_runtimes import heaplock_base

HERE = os.path.dirname(os.path.abspath(__file__))
UPY = os.path.join(os.path.dirname(HERE), "upy")
MICROPYTHON = os.path.join(os.path.dirname(os.path.dirname(HERE)), ".venv", "bin", "micropython")


def test_frame_loop_with_an_open_tcp_sip_connection_runs_under_heap_lock():
    env = dict(os.environ, MICROPYPATH="../../firmware:.frozen")
    proc = subprocess.run([MICROPYTHON, "heaplock_stream.py", "300", str(heaplock_base())], cwd=UPY, env=env,
                          capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "1 passed, 0 failed" in out, out
    assert "state open" in out, out
