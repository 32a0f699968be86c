#!/usr/bin/env python3
"""Device tooling: deploy firmware (mpremote or ampy), flash MicroPython (esptool), REPL, package.json."""

import argparse
import json
import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(REPO, "firmware")
BOARDS = os.path.join(REPO, "boards")
sys.path.insert(0, os.path.join(REPO, "tools"))
import mpy_build  # noqa: E402
BUILD_MPY = mpy_build.OUT
ROMFS_IMAGE = mpy_build.ROMFS
# A ROMFS deploy leaves the modules in the ROM partition only: an older .mpy
# deploy's copies on the filesystem would shadow them, so they go first.
REMOVE_FS_COPIES = """import os
def rm(p):
    try:
        mode = os.stat(p)[0]
    except OSError:
        return
    if mode & 0x4000:
        for n in os.listdir(p):
            rm(p + '/' + n)
        os.rmdir(p)
    else:
        os.remove(p)
rm('/intercom')
rm('/setup.mpy')
"""
STAGE = os.path.join(REPO, "build", "deploy")
VERSION = "0.1.0"
FLASH_OFFSET = {"esp32": "0x1000", "esp32s2": "0x1000", "esp32s3": "0x0", "esp32c3": "0x0", "esp32c6": "0x0"}

sys.path.insert(0, FIRMWARE)
from intercom import config as config_mod  # noqa: E402
from intercom.board import load_board, BoardError  # noqa: E402


class UsageError(Exception):
    """A bad or missing argument; the message says what to type instead."""


def tool(name):
    local = os.path.join(REPO, ".venv", "bin", name)
    return local if os.path.exists(local) else name


def check_port(port, dry_run):
    if not port:
        raise UsageError("PORT is missing: name the serial device, e.g. PORT=/dev/ttyUSB0 "
                         "(Linux), PORT=/dev/cu.usbserial-0001 (macOS), PORT=COM3 (Windows)")
    if not dry_run and port.startswith("/dev/") and not os.path.exists(port):
        raise UsageError("serial device %s does not exist: is the board plugged in? "
                         "(ls /dev/ttyUSB* /dev/ttyACM*; your user may need the dialout group)" % port)


def check_board(name):
    if not name:
        raise UsageError("BOARD is missing: one of %s" % ", ".join(board_names()))
    try:
        return load_board(name, [BOARDS])
    except BoardError as err:
        raise UsageError("BOARD=%s: %s (known: %s)" % (name, err, ", ".join(board_names())))


def board_names():
    return sorted(f[:-5] for f in os.listdir(BOARDS) if f.endswith(".json") and f != "host.json")


def deploy_commands(port, board, config_path, tool_name, dry_run, check_only=False, romfs=False):
    """Check everything, stage build/deploy, and return the commands that copy it
    (check_only: the arguments only, before build/mpy exists; returns []).
    romfs: the modules go to the device's ROM partition as build/romfs.img
    (`mpremote romfs deploy`); main.py, the board file and the config to its filesystem."""
    check_port(port, dry_run)
    description = check_board(board)
    if description["hal"] == "host":
        raise UsageError("BOARD=host is the simulator; pick a device board: %s" % ", ".join(board_names()))
    if not config_path:
        raise UsageError("CONFIG is missing: a config.json for the device (see README; start from "
                         "the DESIGN.md example with \"board\": \"%s\")" % board)
    try:
        cfg = config_mod.load(config_path)
    except config_mod.ConfigError as err:
        raise UsageError("CONFIG=%s: %s" % (config_path, err))
    if cfg["board"] != board:
        raise UsageError("CONFIG=%s says \"board\": \"%s\" but BOARD=%s" % (config_path, cfg["board"], board))
    if tool_name not in ("mpremote", "ampy"):
        raise UsageError("TOOL must be mpremote or ampy, not %r" % tool_name)
    if romfs and tool_name != "mpremote":
        raise UsageError("ROMFS=1 needs TOOL=mpremote (ampy cannot write a ROM partition)")
    if check_only:
        return []
    if romfs:
        return romfs_commands(port, board, config_path)
    if not os.path.exists(os.path.join(BUILD_MPY, "intercom")):
        raise UsageError("%s is empty: run `make mpy` first (make deploy does it for you)"
                         % os.path.relpath(BUILD_MPY, REPO))
    stage(board, config_path)
    top = sorted(os.listdir(STAGE))
    files = [os.path.join(STAGE, f) for f in top if os.path.isfile(os.path.join(STAGE, f))]
    dirs = [os.path.join(STAGE, f) for f in top if os.path.isdir(os.path.join(STAGE, f))]
    if tool_name == "mpremote":
        return [[tool("mpremote"), "connect", port, "fs", "cp", "-r"] + dirs + files + [":", "+", "reset"]]
    ampy = [tool("ampy"), "--port", port]
    return [ampy + ["put", path, os.path.basename(path)] for path in dirs + files] + [ampy + ["reset"]]


def romfs_commands(port, board, config_path):
    if not os.path.exists(ROMFS_IMAGE):
        raise UsageError("%s is missing: run `make romfs` first (make deploy ROMFS=1 does it for you)"
                         % os.path.relpath(ROMFS_IMAGE, REPO))
    shutil.rmtree(STAGE, ignore_errors=True)
    os.makedirs(os.path.join(STAGE, "boards"))
    shutil.copy(os.path.join(FIRMWARE, "main.py"), os.path.join(STAGE, "main.py"))
    shutil.copy(os.path.join(BOARDS, board + ".json"), os.path.join(STAGE, "boards", board + ".json"))
    shutil.copy(config_path, os.path.join(STAGE, "config.json"))
    mpremote = [tool("mpremote"), "connect", port]
    return [mpremote + ["romfs", "deploy", ROMFS_IMAGE],
            mpremote + ["exec", REMOVE_FS_COPIES],
            mpremote + ["fs", "cp", "-r"] + [os.path.join(STAGE, name) for name in
                                             ("boards", "config.json", "main.py")] + [":", "+", "reset"]]


def stage(board, config_path):
    """build/deploy = build/mpy (.mpy modules, main.py) + setup + boards/<board>.json + config.json."""
    shutil.rmtree(STAGE, ignore_errors=True)
    shutil.copytree(BUILD_MPY, STAGE)
    if not os.path.exists(os.path.join(STAGE, "main.py")):
        shutil.copy(os.path.join(FIRMWARE, "main.py"), os.path.join(STAGE, "main.py"))
    if not os.path.exists(os.path.join(STAGE, "setup.mpy")):
        shutil.copy(os.path.join(FIRMWARE, "setup.py"), os.path.join(STAGE, "setup.py"))
    os.makedirs(os.path.join(STAGE, "boards"))
    shutil.copy(os.path.join(BOARDS, board + ".json"), os.path.join(STAGE, "boards", board + ".json"))
    shutil.copy(config_path, os.path.join(STAGE, "config.json"))


def flash_commands(port, firmware, board, chip, dry_run):
    check_port(port, dry_run)
    if not firmware:
        raise UsageError("FIRMWARE is missing: the MicroPython .bin for your chip from "
                         "https://micropython.org/download/ (e.g. ESP32_GENERIC-20240602-v1.23.0.bin)")
    if not firmware.endswith(".bin"):
        raise UsageError("FIRMWARE=%s is not a .bin image" % firmware)
    if not os.path.isfile(firmware):
        raise UsageError("FIRMWARE=%s does not exist" % firmware)
    if board and not chip:
        chip = check_board(board).get("capabilities", {}).get("chip")
    chip = chip or "esp32"
    if chip not in FLASH_OFFSET:
        raise UsageError("CHIP=%s unknown; one of %s" % (chip, ", ".join(sorted(FLASH_OFFSET))))
    esptool = [tool("esptool"), "--chip", chip, "--port", port]
    return [esptool + ["erase_flash"],
            esptool + ["--baud", "460800", "write_flash", "-z", FLASH_OFFSET[chip], firmware]]


def repl_commands(port, dry_run):
    check_port(port, dry_run)
    return [[tool("mpremote"), "connect", port, "repl"]]


def package_json(repo):
    """mip's package.json: every firmware module, main.py, setup.py and the device boards."""
    urls = []
    for root, _dirs, names in os.walk(FIRMWARE):
        for name in sorted(names):
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(root, name), FIRMWARE).replace(os.sep, "/")
                urls.append([rel, "github:%s/firmware/%s" % (repo, rel)])
    for name in board_names():
        urls.append(["boards/%s.json" % name, "github:%s/boards/%s.json" % (repo, name)])
    urls.sort()
    return {"urls": urls, "deps": [], "version": VERSION}


def format_package(package):
    """package.json with one url pair a line (diff-friendly)."""
    rows = ",\n".join(["    " + json.dumps(pair) for pair in package["urls"]])
    return '{\n  "urls": [\n%s\n  ],\n  "deps": %s,\n  "version": %s\n}\n' % (
        rows, json.dumps(package["deps"]), json.dumps(package["version"]))


def default_repo():
    try:
        url = subprocess.run(["git", "remote", "get-url", "origin"], cwd=REPO, capture_output=True,
                             text=True, timeout=10).stdout.strip()
    except OSError:
        url = ""
    if "github.com" in url:
        tail = url.split("github.com", 1)[1].lstrip(":/")
        return tail[:-4] if tail.endswith(".git") else tail
    return os.environ.get("INTERCOM_GITHUB_REPO", "OWNER/REPO")


def run(commands, dry_run):
    for cmd in commands:
        print("+ " + " ".join(word if "\n" not in word else repr(word) for word in cmd), flush=True)
        if not dry_run:
            code = subprocess.call(cmd)
            if code != 0:
                print("error: %s failed with exit status %d" % (os.path.basename(cmd[0]), code), file=sys.stderr)
                return code
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tools/deploy.py", description=__doc__)
    parser.add_argument("--dry-run", action="store_true", help="print the commands instead of running them")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("deploy", help="copy the firmware, board file and config to the device")
    p.add_argument("--port", default="")
    p.add_argument("--board", default="")
    p.add_argument("--config", default="")
    p.add_argument("--tool", default="mpremote")
    p.add_argument("--check", action="store_true", help="only check the arguments")
    p.add_argument("--romfs", action="store_true",
                   help="modules to the ROM partition (mpremote romfs deploy), not the filesystem")
    p = sub.add_parser("flash", help="erase the flash and write a MicroPython firmware image")
    p.add_argument("--port", default="")
    p.add_argument("--firmware", default="")
    p.add_argument("--board", default="")
    p.add_argument("--chip", default="")
    p = sub.add_parser("repl", help="open the MicroPython REPL")
    p.add_argument("--port", default="")
    p = sub.add_parser("package", help="write package.json for `mpremote mip install github:OWNER/REPO`")
    p.add_argument("--repo", default=None)
    p.add_argument("--output", default=os.path.join(REPO, "package.json"))
    args = parser.parse_args(argv)
    try:
        if args.command == "deploy":
            commands = deploy_commands(args.port, args.board, args.config, args.tool, args.dry_run, args.check,
                                       args.romfs)
        elif args.command == "flash":
            commands = flash_commands(args.port, args.firmware, args.board, args.chip, args.dry_run)
        elif args.command == "repl":
            commands = repl_commands(args.port, args.dry_run)
        else:
            with open(args.output, "w") as f:
                f.write(format_package(package_json(args.repo or default_repo())))
            print("wrote %s" % args.output)
            return 0
    except UsageError as err:
        print("error: %s" % err, file=sys.stderr)
        return 2
    return run(commands, args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
