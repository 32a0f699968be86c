"""The device tests (HAL, app, setup) under the MicroPython unix port; the fake machine shadows its own."""

import os
import subprocess

from test_runtimes import heaplock_base, tool

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def test_device_suite_passes_under_micropython_unix_port():
    env = dict(os.environ, MICROPYPATH="host_tests/fakes:firmware:.frozen:host_tests/core")
    proc = subprocess.run([tool("micropython"), "host_tests/device_runner.py"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert proc.returncode == 0 and tail.endswith(" 0 failed"), proc.stdout + proc.stderr
    assert int(tail.split()[0]) >= 40, tail


def test_esp32_hal_frame_loop_allocates_nothing_under_heap_lock():
    """Issue 10 item 8: the ESP32 board over the fakes (buttons, Wi-Fi
    supervision, LED, watchdog, I2S mic and speaker) in a call with a host
    phone: 500 frames of the door's Driver.step() and the I2S callbacks run
    under heap_lock; only received datagrams allocate."""
    env = dict(os.environ, MICROPYPATH="../fakes:../../firmware:.frozen")
    proc = subprocess.run([tool("micropython"), "heaplock_esp32.py", "500", str(heaplock_base())],
                          cwd=os.path.join(HERE, "upy"), env=env, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "1 passed, 0 failed" in out, out
    figures = out.split("esp32 door: frames ")[1]
    assert int(figures.split()[0]) >= 500, out
    assert " 0 bytes per frame outside the received datagrams" in out, out
    print(out.strip().splitlines()[0])
