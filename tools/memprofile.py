#!/usr/bin/env python3
"""Where the heap goes: each firmware module's import cost and the boot objects', under the MicroPython unix port.

Runs the firmware from build/romfs.img (bytecode in place, as on a device
with a ROMFS partition or frozen firmware) or from build/mpy (--mpy), and
prints, per module in dependency order, the live heap its import added (after
gc.collect(), dependencies already imported) and the qstrs it interned; then
what the boot objects (HostBoard, UserAgent, App, Driver) add. Bytes are the
unix port's (8-byte words); `wK` divides by 2048, the scale of -X heapsize=NwK.

    .venv/bin/python tools/memprofile.py [--mpy] [--top N]
"""

import argparse
import ast
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(REPO, "firmware")
sys.path.insert(0, os.path.join(REPO, "tools"))
import mpy_build  # noqa: E402

# imported by the simulator's boot; esp32-only, REPL-only and optional modules are left out
SKIP = {"intercom.hal.esp32", "intercom.hal.i2s_audio", "intercom.hal.wifi", "intercom.hal.buttons",
        "intercom.hal.leds", "intercom.selftest", "intercom.hal.pcap", "intercom.sip.trace", "setup",
        "intercom._crypto_compat"}  # _crypto_compat: CPython-only AES shim


def module_deps():
    """{module: set of firmware modules it imports at top level}."""
    deps = {}
    for root, _dirs, names in os.walk(FIRMWARE):
        for name in names:
            if not name.endswith(".py") or name == "main.py":
                continue
            rel = os.path.relpath(os.path.join(root, name), FIRMWARE)[:-3].replace(os.sep, ".")
            mod = rel[:-len(".__init__")] if rel.endswith(".__init__") else rel
            with open(os.path.join(root, name)) as f:
                tree = ast.parse(f.read())
            found = set()
            for node in tree.body:
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("intercom"):
                    found.add(node.module)
                    for alias in node.names:
                        found.add(node.module + "." + alias.name)
                elif isinstance(node, ast.Import):
                    found.update(a.name for a in node.names if a.name.startswith("intercom"))
            deps[mod] = found
    for mod in deps:
        deps[mod] = {d for d in deps[mod] if d in deps and d != mod}
    return deps


def import_order(deps):
    order, seen = [], set()

    def visit(mod):
        if mod in seen:
            return
        seen.add(mod)
        for dep in sorted(deps[mod]):
            visit(dep)
        order.append(mod)
    for mod in sorted(deps):
        if mod not in SKIP:
            visit(mod)
    return order


UPY_SCRIPT = r'''
import gc, sys, os, micropython
MODE, SOURCE, CONFIG, BOARDS = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
MODS = sys.argv[5:]
image = None
if MODE == "romfs":
    from romfs_boot import mount
    image = mount(SOURCE)
else:
    sys.path.insert(0, SOURCE)
last = [0]
def measure(label):
    gc.collect()
    a = gc.mem_alloc()
    print("@", label, a - last[0], end=" ")
    micropython.qstr_info()
    last[0] = a
measure("start")
for m in MODS:
    __import__(m)
    measure("import " + m)
from intercom import boot
cfg, desc = boot.load_settings({"config": CONFIG, "boards": BOARDS})
measure("boot.load_settings (config and board modules dropped)")
from intercom.hal.host import HostBoard
from intercom.hal.host_audio import HostAudio
from intercom.netcompat import UdpSocket, ticks_ms
from intercom.sip.ua import UserAgent
from intercom.app import App
from intercom.driver import Driver
board = HostBoard(desc, "info")
board.audio = HostAudio(None, None)
measure("HostBoard + HostAudio")
socks = (UdpSocket("127.0.0.1", 0), UdpSocket("127.0.0.1", 0), UdpSocket("127.0.0.1", 0))
measure("3 UDP sockets")
ua = UserAgent(cfg, "127.0.0.1", ("127.0.0.1", 5060), boot.random_hex, board.log, ticks_ms())
measure("UserAgent")
app = App(ua, board, cfg, boot.random_bytes, None)
measure("App")
driver = Driver(ua, app, board, socks[0], socks[1], socks[2], None)
measure("Driver")
print("@ total", gc.mem_alloc() - (len(image) if image else 0), "")
'''


def main():
    parser = argparse.ArgumentParser(prog="tools/memprofile.py", description=__doc__.splitlines()[0])
    parser.add_argument("--mpy", action="store_true", help="from build/mpy instead of the ROMFS image")
    parser.add_argument("--top", type=int, default=0, help="only the N largest lines")
    args = parser.parse_args()
    upy = os.path.join(REPO, ".venv", "bin", "micropython")
    if args.mpy:
        error, source = mpy_build.build(), mpy_build.OUT
    else:
        source, error = mpy_build.romfs_image()
    if error:
        sys.stderr.write("error: %s\n" % error)
        return 2
    config = os.path.join(REPO, "build", "memprofile.json")
    with open(config, "w") as f:
        f.write('{"board": "host", "sip": {"registrar": "127.0.0.1", "user": "door", "password": "x"}}')
    script = os.path.join(REPO, "build", "memprofile_upy.py")
    with open(script, "w") as f:
        f.write(UPY_SCRIPT)
    mods = import_order(module_deps())
    proc = subprocess.run([upy, script, "mpy" if args.mpy else "romfs", source, config,
                           os.path.join(REPO, "boards")] + mods,
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, MICROPYPATH=os.path.join(REPO, "tools")))
    rows, qstrs, total, pools = [], None, None, 0
    for line in proc.stdout.splitlines():
        m = re.match(r"@ (.*?) (-?\d+) (?:qstr pool: n_pool=\d+, n_qstr=(\d+), n_str_data_bytes=\d+, "
                     r"n_total_bytes=(\d+))?", line)
        if not m:
            continue
        label, delta = m.group(1), int(m.group(2))
        if label == "total":
            total = delta
            continue
        n_qstr = int(m.group(3))
        pools = int(m.group(4))
        if label != "start":
            rows.append((label, delta, n_qstr - qstrs[0], int(m.group(4)) - qstrs[1]))
        qstrs = (n_qstr, int(m.group(4)))
    if proc.returncode != 0 or total is None:
        sys.stderr.write("error: the profile did not run (rc=%d):\n%s%s" % (proc.returncode, proc.stdout, proc.stderr))
        return 1
    shown = sorted(rows, key=lambda r: -r[1])[:args.top] if args.top else rows
    print("%-58s %8s %6s %7s %11s" % ("step (%s)" % ("build/mpy" if args.mpy else "ROMFS image"),
                                      "bytes", "wK", "qstrs", "qstr bytes"))
    for label, delta, nq, qb in shown:
        print("%-58s %8d %6.1f %7d %11d" % (label, delta, delta / 2048.0, nq, qb))
    print("%-58s %8d %6.1f" % ("live heap after boot (less the image)", total, total / 2048.0))
    print("%-58s %8d %6.1f %7d" % ("  of which interned names (qstr pools; in flash if frozen)", pools,
                                   pools / 2048.0, qstrs[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
