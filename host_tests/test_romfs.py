"""ROMFS deployment (issue 5's memory budget): the image mpremote deploys, mounted as the unix port's ROM.

tools/mpy_build.py packs build/mpy into build/romfs.img with
mpremote's ROMFS writer; tools/romfs_boot.py mounts such an image with
vfs.VfsRom under the MicroPython unix port, as a device mounts its ROM
partition at /rom. These tests check that the image holds every module, that
imports from it leave the bytecode in the image instead of copying it into the
heap, and the heap arithmetic tools/sim --romfs applies to --heap.
"""

import importlib.machinery
import importlib.util
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tools"))
import mpy_build  # noqa: E402

UPY = os.path.join(REPO, ".venv", "bin", "micropython")


def load_sim():
    loader = importlib.machinery.SourceFileLoader("sim_tool", os.path.join(REPO, "tools", "sim"))
    spec = importlib.util.spec_from_loader("sim_tool", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def need_micropython():
    if not os.access(UPY, os.X_OK):
        msg = "MicroPython unix port not installed (make venv)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)


IMPORT_COST = r'''
import gc, sys, os
if sys.argv[1] == "rom":
    from romfs_boot import mount
    image = mount(sys.argv[2])
    print("mounted", os.listdir("/rom"))
else:
    sys.path.insert(0, sys.argv[2])
gc.collect()
before = gc.mem_alloc()
import intercom.boot, intercom.sip.ua, intercom.app, intercom.driver, intercom.hal.host, intercom.hal.host_audio
import setup
gc.collect()
print("cost", gc.mem_alloc() - before)
print("from", intercom.sip.ua.__file__)
'''


def import_cost(tmp_path, kind, source):
    script = tmp_path / "cost.py"
    script.write_text(IMPORT_COST)
    proc = subprocess.run([UPY, str(script), kind, source], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, MICROPYPATH=os.path.join(REPO, "tools")))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    return int(lines["cost"]), lines["from"], lines.get("mounted")


def test_romfs_image_runs_every_module_in_place_not_copied_into_the_heap(tmp_path):
    need_micropython()
    image, error = mpy_build.romfs_image()
    assert error is None, error
    rom_cost, rom_file, listing = import_cost(tmp_path, "rom", image)
    mpy_cost, mpy_file, _ = import_cost(tmp_path, "mpy", mpy_build.OUT)
    assert rom_file == "/rom/intercom/sip/ua.mpy" and mpy_file.endswith("/build/mpy/intercom/sip/ua.mpy")
    assert listing == "['intercom', 'setup.mpy']"          # main.py stays on the device's filesystem
    bytecode = sum(os.path.getsize(os.path.join(root, name))
                   for root, _dirs, names in os.walk(mpy_build.OUT) for name in names
                   if name.endswith(".mpy"))
    # the same imports, from the image, leave at least a third of the .mpy bytes out of the heap
    assert mpy_cost - rom_cost > bytecode // 3, (mpy_cost, rom_cost, bytecode)


def test_romfs_image_is_kept_while_no_module_changes(tmp_path):
    image, error = mpy_build.romfs_image()
    assert error is None, error
    with open(image, "rb") as f:
        assert f.read(3) == b"\xd2\xcd\x31"                # mpremote's ROMFS header
    stamp = os.path.getmtime(image)
    again, error = mpy_build.romfs_image()
    assert error is None and again == image and os.path.getmtime(image) == stamp


def test_sim_heap_arithmetic_matches_the_unix_port():
    sim = load_sim()
    assert sim.heap_bytes("48wK", 8) == 48 * 1024 * 2        # -X heapsize=48wK on a 64-bit host
    assert sim.heap_bytes("48wK", 4) == 48 * 1024
    assert sim.heap_bytes("96K", 8) == 96 * 1024 and sim.heap_bytes("200000", 8) == 200000
    assert sim.heap_bytes("1M", 8) == 1024 * 1024
    with pytest.raises(ValueError):
        sim.heap_bytes("lots", 8)
    # --romfs: the image's bytearray (its blocks, the object's block, 2 table bits each) on top
    extra = sim.romfs_heap("48wK", 1000, 8) - sim.heap_bytes("48wK", 8)
    blocks = (1000 + 31) // 32 + 1
    assert extra == blocks * 32 + (blocks * 2 + 7) // 8


def test_sim_romfs_refuses_cpython(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text('{"board": "host"}')
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "sim"), "--config", str(cfg),
                           "--runtime", "cpython", "--romfs"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "micropython runtime only" in proc.stderr
