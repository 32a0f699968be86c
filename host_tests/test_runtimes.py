"""The core suite under the MicroPython unix port, and mpy-cross over every firmware module."""

import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BIN = os.path.dirname(sys.executable)
sys.path.insert(0, os.path.join(HERE, "interop"))
from peers import heaplock_base  # noqa: E402,F401  (the heap-lock tests import it from here)


def tool(name):
    path = os.path.join(BIN, name)
    if os.path.exists(path):
        return path
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("%s is not installed (make venv installs it)" % name)
        pytest.skip("%s is not installed; run `make venv`" % name)
    return found


def test_core_suite_passes_under_micropython_unix_port():
    env = dict(os.environ, MICROPYPATH="../../firmware:.")
    proc = subprocess.run([tool("micropython"), "-X", "heapsize=16M", "mpy_runner.py"], cwd=os.path.join(HERE, "core"),
                          env=env, capture_output=True, text=True, timeout=300)
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert proc.returncode == 0 and tail.endswith(" 0 failed"), proc.stdout + proc.stderr
    passed = int(tail.split()[0])
    assert passed >= 50, tail


def test_plain_mpy_cross_compiles_every_firmware_module_to_cpu_independent_bytecode(tmp_path):
    """Every module compiles with plain mpy-cross, no -march, as mpremote's
    romfs build and a user's own mpy-cross run it; tools/mpy_build.py (make mpy,
    romfs, deploy, sim --mpy) does the same. No module holds native code (the
    viper kernels are compiled on the device from source text), so naming the
    ESP32's CPU changes no byte: one build serves every board."""
    sys.path.insert(0, os.path.join(REPO, "tools"))
    import mpy_build
    modules = mpy_build.sources()
    assert len(modules) >= 40 and "intercom/media/_viper.py" in modules
    plain, esp32 = str(tmp_path / "plain.mpy"), str(tmp_path / "esp32.mpy")
    for rel in modules:
        error = mpy_build.compile_module(rel, plain, tool("mpy-cross"))
        assert error is None, rel + ": " + error
        error = mpy_build.compile_module(rel, esp32, tool("mpy-cross"), ["-march=xtensawin"])
        assert error is None, rel + ": " + error
        with open(plain, "rb") as a, open(esp32, "rb") as b:
            assert a.read() == b.read(), rel + " holds native code: its .mpy depends on the CPU"


def test_established_call_frame_loop_runs_under_heap_lock_for_500_frames():
    """Issue 4: Driver.step() of two phones in a call allocates nothing but the
    received datagrams (the socket wrapper unlocks the heap around recv only)."""
    env = dict(os.environ, MICROPYPATH="../../firmware:.frozen")
    proc = subprocess.run([tool("micropython"), "heaplock_call.py", "500", str(heaplock_base())],
                          cwd=os.path.join(HERE, "upy"), env=env, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "1 passed, 0 failed" in out, out
    assert "frames A=5" in out or "frames A=" in out
    figures = out.split("frames A=")[1]
    frames_a = int(figures.split()[0])
    frames_b = int(figures.split("B=")[1].split()[0])
    assert frames_a >= 500 and frames_b >= 500, out


def test_mutated_sip_never_escapes_receive_under_micropython():
    suite = os.environ.get("INTERCOM_RFC4475_DIR") or os.path.join(REPO, "..", "shared", "conformance", "rfc4475")
    if not os.path.isdir(suite):
        suite = os.path.join(HERE, "conformance")     # our own messages (test_rfc4475.py says what is missing)
    env = dict(os.environ, MICROPYPATH="../../firmware:../core:.frozen")
    proc = subprocess.run([tool("micropython"), "fuzz_receive.py", suite, "3000", "4475"],
                          cwd=os.path.join(HERE, "upy"), env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "3000 passed, 0 failed" in out, out[-3000:]
