"""Frozen deployment (issue 11, items 1, 3, 4): the unix port with every firmware module frozen.

tools/frozen_build.py builds build/frozen/micropython from Debian's MicroPython
1.25 source with tools/manifest.py, the manifest `make firmware` gives an ESP32
build: this proves the manifest, and that every firmware module compiles with
MicroPython 1.25's mpy-cross. Cached per machine (the first build fetches the
source with apt-get source: ~30 s); under CI=true a failed build is a failure.
"""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FIRMWARE = os.path.join(REPO, "firmware")
sys.path.insert(0, os.path.join(REPO, "tools"))
import frozen_build  # noqa: E402

SIM = os.path.join(REPO, "tools", "sim")


@pytest.fixture(scope="module")
def frozen():
    problem = frozen_build.build()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail("frozen build: " + problem, pytrace=False)
        pytest.skip("frozen build unavailable here: " + problem)
    return frozen_build.BINARY


def firmware_modules():
    names = []
    for root, dirs, files in os.walk(FIRMWARE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            rel = os.path.relpath(os.path.join(root, name), FIRMWARE)
            if name.endswith(".py") and rel != "main.py":
                module = rel[:-3].replace(os.sep, ".")
                names.append(module[:-len(".__init__")] if module.endswith(".__init__") else module)
    return names


def test_manifest_freezes_every_firmware_module_importable_without_firmware_dir(frozen, tmp_path):
    """Each module (the hal's too: machine/network are only imported on use) is
    imported from the binary: MICROPYPATH is .frozen alone, the working directory
    empty, and no module's __file__ points into firmware/."""
    modules = firmware_modules()
    script = (
        "import sys\n"
        "sys.path[:] = ['.frozen']\n"
        "bad = []\n"
        "for name in %r:\n"
        "    try:\n"
        "        m = __import__(name)\n"
        "        for part in name.split('.')[1:]:\n"
        "            m = getattr(m, part)\n"
        "        f = getattr(m, '__file__', '')\n"
        "        if f.startswith('/') or 'firmware' in f:\n"
        "            bad.append((name, f))\n"
        "    except ImportError as e:\n"
        "        if 'machine' in str(e) or 'network' in str(e) or 'cryptography' in str(e):\n"
        "            continue\n"   # device-only hal modules need hardware; _crypto_compat is CPython's shim
        "        bad.append((name, repr(e)))\n"
        "print('BAD', bad)\n" % modules)
    proc = subprocess.run([frozen, "-c", script], cwd=str(tmp_path), env={"MICROPYPATH": ".frozen"},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "BAD []", proc.stdout
    assert len(modules) > 20


def test_core_suite_passes_on_the_frozen_micropython_1_25_port(frozen):
    """The core tests (host_tests/core) against the frozen modules, firmware/ off the path."""
    proc = subprocess.run([frozen, "-X", "heapsize=16M", "mpy_runner.py"],
                          cwd=os.path.join(HERE, "core"), env={"MICROPYPATH": ".frozen:."},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " 0 failed" in proc.stdout


def test_frozen_build_is_micropython_1_25_from_debian_source(frozen):
    """The oldest MicroPython the sources must compile with (item 4) is the one built."""
    proc = subprocess.run([frozen, "-c", "import sys; print(sys.implementation.version[:2])"],
                          capture_output=True, text=True, timeout=30)
    version = tuple(int(x) for x in proc.stdout.strip().strip("()").split(","))
    assert version >= (1, 25), proc.stdout


@pytest.mark.parametrize("other", ["--mpy", "--romfs"])
def test_sim_refuses_frozen_with_another_deployment(other):
    proc = subprocess.run([sys.executable, SIM, "--frozen", other, "--config", "none.json"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "--frozen and " + other in proc.stderr, proc.stderr


def test_sim_frozen_runs_the_frozen_binary_with_no_firmware_dir_on_the_path(frozen, monkeypatch, tmp_path):
    """tools/sim --frozen execs build/frozen/micropython with MICROPYPATH=.frozen and
    main.py's text under -c (sys.path set to .frozen alone before any import):
    nothing of firmware/ can shadow the frozen modules."""
    import importlib.machinery
    import importlib.util
    loader = importlib.machinery.SourceFileLoader("tools_sim", SIM)
    spec = importlib.util.spec_from_loader("tools_sim", loader)
    sim = importlib.util.module_from_spec(spec)
    loader.exec_module(sim)
    seen = {}

    def fake_execve(path, argv, env):
        seen.update(path=path, argv=argv, env=env)
        raise SystemExit(0)

    monkeypatch.setattr(sim.os, "execve", fake_execve)
    monkeypatch.setattr(sys, "argv", ["tools/sim", "--frozen", "--heap", "87wK", "--config", "my.json"])
    with pytest.raises(SystemExit):
        sim.main()
    assert seen["path"] == frozen_build.BINARY
    assert seen["env"]["MICROPYPATH"] == ".frozen"
    argv = seen["argv"]
    assert argv[1:3] == ["-X", "heapsize=87wK"] and argv[3] == "-c"
    assert argv[4].startswith("import sys; sys.path[:] = ['.frozen']; ")
    assert not any(arg.endswith(".py") and arg.startswith(FIRMWARE) for arg in argv)
