"""The device tests (HAL, app, setup) under the MicroPython unix port; the fake machine shadows its own."""

import os
import subprocess

from test_runtimes import tool

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def test_device_suite_passes_under_micropython_unix_port():
    env = dict(os.environ, MICROPYPATH="host_tests/fakes:firmware:.frozen:host_tests/core")
    proc = subprocess.run([tool("micropython"), "host_tests/device_runner.py"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert proc.returncode == 0 and tail.endswith(" 0 failed"), proc.stdout + proc.stderr
    assert int(tail.split()[0]) >= 40, tail
