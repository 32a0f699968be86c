"""With Home Assistant connected, a call's frame loop still allocates nothing but its datagrams (heap_lock proof)."""

import os
import subprocess

from test_runtimes import heaplock_base

HERE = os.path.dirname(os.path.abspath(__file__))
UPY = os.path.join(os.path.dirname(HERE), "upy")
REPO = os.path.dirname(os.path.dirname(HERE))


def test_mqtt_connected_call_frame_loop_runs_under_heap_lock():
    base = heaplock_base()                           # the script uses base .. base + 30
    env = dict(os.environ, MICROPYPATH="../../firmware:.frozen")
    proc = subprocess.run([os.path.join(REPO, ".venv", "bin", "micropython"), "heaplock_mqtt.py", "300", str(base)],
                          cwd=UPY, env=env, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "1 passed, 0 failed" in out, out
    assert "frames B=300 under heap_lock with MQTT connected" in out, out
