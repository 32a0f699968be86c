#!/usr/bin/env python3
"""tools/asterisk_rootfs.py: a Debian sid root filesystem with Asterisk 22 for the real-PBX tests.

`debootstrap --variant=minbase --include=asterisk sid DIR MIRROR` into
build/asterisk-rootfs (about a minute, 500 MB), built only when missing: a
finished tree carries the stamp file STAMP, a half-built one is removed and
built again. The mirror is the one apt already uses on this machine (its
sources list), so no host name is hard-wired. host_tests/asterisk runs the
tree with chroot inside `unshare -n -m` (see host_tests/asterisk/pbx.py).

    tools/asterisk_rootfs.py [--dir DIR] [--mirror URL] [--force]
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DIR = os.path.join(REPO, "build", "asterisk-rootfs")
STAMP = ".intercom-asterisk-rootfs"
FALLBACK_MIRROR = "http://deb.debian.org/debian"
BUILD_TIMEOUT_S = 900


class RootfsError(Exception):
    """The root filesystem cannot be had: the message says why."""


def apt_mirror():
    """The Debian archive URL of apt's own sources (deb822 .sources first,
    then one-line sources.list), skipping security and update archives."""
    uris = []
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        for block in re.split(r"\n\s*\n", text):
            m = re.search(r"^URIs:\s*(\S+)", block, re.M)
            if m:
                uris.append(m.group(1))
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        try:
            with open(path) as f:
                lines = f.readlines()
        except OSError:
            continue
        for line in lines:
            m = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)", line)
            if m:
                uris.append(m.group(1))
    for uri in uris:
        if uri.startswith(("http://", "https://")) and "security" not in uri:
            return uri.rstrip("/")
    return FALLBACK_MIRROR


def asterisk_binary(root):
    return os.path.join(root, "usr", "sbin", "asterisk")


def is_ready(root=DEFAULT_DIR):
    """True when `root` is a finished tree (stamp present, asterisk installed)."""
    return os.path.exists(os.path.join(root, STAMP)) and os.path.exists(asterisk_binary(root))


def ensure(root=DEFAULT_DIR, mirror=None, force=False, log=None):
    """Path of a finished Asterisk root filesystem, built if missing.
    Raises RootfsError with the reason (not root, no debootstrap, build failed)."""
    log = log or (lambda text: sys.stderr.write("asterisk_rootfs: %s\n" % text))
    if is_ready(root) and not force:
        return root
    if os.geteuid() != 0:
        raise RootfsError("building the Asterisk root filesystem needs root (debootstrap, chroot)")
    debootstrap = shutil.which("debootstrap") or shutil.which(
        "debootstrap", path="/usr/sbin:/sbin")
    if not debootstrap:
        raise RootfsError("debootstrap not installed (Debian package debootstrap)")
    mirror = mirror or apt_mirror()
    if os.path.exists(root):
        log("removing unfinished %s" % root)
        shutil.rmtree(root)
    os.makedirs(os.path.dirname(root), exist_ok=True)
    logpath = root + ".log"
    cmd = [debootstrap, "--variant=minbase", "--include=asterisk", "sid", root, mirror]
    log("building %s from %s (about a minute; log %s)" % (root, mirror, logpath))
    with open(logpath, "wb") as logf:
        try:
            rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                timeout=BUILD_TIMEOUT_S).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout after %d s" % BUILD_TIMEOUT_S
    if rc != 0 or not os.path.exists(asterisk_binary(root)):
        with open(logpath, "r", errors="replace") as f:
            tail = "".join(f.readlines()[-15:])
        raise RootfsError("%s failed (%s):\n%s" % (" ".join(cmd), rc, tail))
    version = subprocess.run(["chroot", root, "asterisk", "-V"], capture_output=True, text=True,
                             timeout=30).stdout.strip()
    with open(os.path.join(root, STAMP), "w") as f:
        f.write("%s\nmirror %s\n" % (version, mirror))
    log("ready: %s" % version)
    return root


def main():
    parser = argparse.ArgumentParser(prog="tools/asterisk_rootfs.py", description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default=DEFAULT_DIR)
    parser.add_argument("--mirror", default=None, help="Debian mirror (default: apt's own)")
    parser.add_argument("--force", action="store_true", help="rebuild even if finished")
    args = parser.parse_args()
    try:
        print(ensure(args.dir, args.mirror, args.force))
    except RootfsError as e:
        sys.stderr.write("asterisk_rootfs: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
