"""Build build/frozen/micropython: the MicroPython unix port with every firmware module frozen.

`make frozen` (and tools/sim --frozen, host_tests/test_frozen.py, tools/membench.py
--modes frozen) call this. The source is Debian's MicroPython (trixie: 1.25.0,
the oldest release the firmware promises besides 1.22's language), fetched with
`apt-get source` through a PRIVATE deb-src list under build/frozen/apt: the
system's apt configuration is never read for sources nor changed. The port is
built with tools/manifest.py, the manifest an ESP32 firmware uses (`make
firmware`), with the source tree's own mpy-cross: the firmware compiling with it
is the check that sources compile with MicroPython 1.25 (issue 11, item 4).

Cached: the build is redone only when the firmware sources, the manifest, this
script or the MicroPython version change (a stamp of their checksum).
Needs: dpkg-dev (apt-get source), build-essential, pkg-config, libffi-dev,
libmbedtls-dev (hashlib.md5 for digest auth), network access to the mirror once.
"""

import argparse
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "build", "frozen")
BINARY = os.path.join(OUT, "micropython")
STAMP = os.path.join(OUT, "stamp")
MANIFEST = os.path.join(REPO, "tools", "manifest.py")
SUITE = os.environ.get("FROZEN_SUITE", "trixie")       # trixie: 1.25.0; sid: 1.26.x
BUILD_DEPS = ("dpkg-dev", "build-essential", "pkg-config", "libffi-dev", "libmbedtls-dev")


def mirror():
    """The Debian mirror the system's apt sources name (deb.debian.org if none does)."""
    texts = []
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*")):
        try:
            with open(path) as f:
                texts.append(f.read())
        except OSError:
            pass
    for text in texts:
        for url in re.findall(r"(?:URIs:|^deb)\s+(?:\[[^\]]*\]\s+)?(\S+/debian)/?\s", text, re.M):
            return url
    return "http://deb.debian.org/debian"


def inputs_digest(version):
    """Checksum of what the binary depends on: firmware sources, manifest, this script, version."""
    h = hashlib.sha256(version.encode())
    paths = [MANIFEST, os.path.abspath(__file__)]
    for root, dirs, files in os.walk(os.path.join(REPO, "firmware")):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        paths += [os.path.join(root, name) for name in sorted(files) if name.endswith(".py")]
    for path in paths:
        h.update(os.path.relpath(path, REPO).encode() + b"\0")
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def apt_options():
    lists = os.path.join(OUT, "apt", "lists")
    os.makedirs(os.path.join(lists, "partial"), exist_ok=True)
    sources = os.path.join(OUT, "apt", "sources.list")
    with open(sources, "w") as f:
        f.write("deb-src %s %s main\n" % (mirror(), SUITE))
    return ["-o", "Dir::Etc::SourceList=" + sources, "-o", "Dir::Etc::SourceParts=/dev/null",
            "-o", "Dir::State::Lists=" + lists, "-o", "Dir::Cache=" + os.path.join(OUT, "apt", "cache")]


def run(cmd, log, cwd=None):
    """Run a build step, its output kept in build/frozen/build.log; None or an error message."""
    log("$ " + " ".join(cmd))
    with open(os.path.join(OUT, "build.log"), "a") as out:
        out.write("$ %s\n" % " ".join(cmd))
        out.flush()
        code = subprocess.call(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    if code:
        return "`%s` failed (exit %d); see %s" % (" ".join(cmd[:3]), code, os.path.join(OUT, "build.log"))
    return None


def source_tree(log):
    """build/frozen/src/micropython-<version>: fetched once; (path, None) or (None, error)."""
    trees = sorted(glob.glob(os.path.join(OUT, "src", "micropython-*")))
    trees = [t for t in trees if os.path.isdir(os.path.join(t, "ports", "unix"))]
    if trees:
        return trees[-1], None
    missing = [tool for tool in ("apt-get", "dpkg-source", "make", "cc") if shutil.which(tool) is None]
    if missing:
        return None, "missing %s (install: %s)" % (", ".join(missing), " ".join(BUILD_DEPS))
    opts = apt_options()
    os.makedirs(os.path.join(OUT, "apt", "cache", "archives", "partial"), exist_ok=True)
    problem = run(["apt-get", "-qq"] + opts + ["update"], log)
    if problem:
        return None, problem
    os.makedirs(os.path.join(OUT, "src"), exist_ok=True)
    problem = run(["apt-get", "-q"] + opts + ["source", "micropython"], log, cwd=os.path.join(OUT, "src"))
    if problem:
        return None, problem
    return source_tree(log) if glob.glob(os.path.join(OUT, "src", "micropython-*", "ports")) else \
        (None, "apt-get source micropython gave no source tree")


def build(log=lambda text: None, force=False):
    """build/frozen/micropython up to date; None or an error message (one line)."""
    os.makedirs(OUT, exist_ok=True)
    tree, problem = source_tree(log)
    if problem:
        return problem
    version = os.path.basename(tree)
    digest = inputs_digest(version)
    if not force and os.access(BINARY, os.X_OK) and os.path.exists(STAMP):
        with open(STAMP) as f:
            if f.read().strip() == digest:
                return None
    log("building %s (unix port, firmware frozen from tools/manifest.py)" % version)
    jobs = "-j%d" % max(1, min(4, os.cpu_count() or 1))
    mpy_cross = os.path.join(tree, "mpy-cross", "build", "mpy-cross")
    if not os.access(mpy_cross, os.X_OK):
        problem = run(["make", jobs, "-C", os.path.join(tree, "mpy-cross")], log)
        if problem:
            return problem
    build_dir = os.path.join(OUT, "unix")   # incremental: frozen_content.c is regenerated on every make
    problem = run(["make", jobs, "-C", os.path.join(tree, "ports", "unix"), "BUILD=" + build_dir,
                   "FROZEN_MANIFEST=" + MANIFEST, "MICROPY_MPYCROSS=" + mpy_cross,
                   "MICROPY_SSL_MBEDTLS=1", "MICROPY_SSL_AXTLS=0", "MICROPY_PY_BTREE=0"], log)
    if problem:
        return problem
    shutil.copy2(os.path.join(build_dir, "micropython"), BINARY + ".new")
    os.replace(BINARY + ".new", BINARY)
    with open(STAMP, "w") as f:
        f.write(digest + "\n")
    return None


def main():
    parser = argparse.ArgumentParser(prog="tools/frozen_build.py", description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if the stamp is current")
    args = parser.parse_args()
    problem = build(log=lambda text: sys.stderr.write("frozen_build: %s\n" % text), force=args.force)
    if problem:
        sys.stderr.write("error: frozen build: %s\n" % problem)
        return 1
    print(BINARY)
    return 0


if __name__ == "__main__":
    sys.exit(main())
