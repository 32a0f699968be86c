"""tools/deploy.py and the device Makefile targets: argument checks and generated commands, no serial device needed."""

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tools"))
import deploy  # noqa: E402


@pytest.fixture
def staged(tmp_path, monkeypatch):
    mpy = tmp_path / "mpy"
    (mpy / "intercom" / "sip").mkdir(parents=True)
    (mpy / "intercom" / "__init__.mpy").write_bytes(b"M")
    (mpy / "intercom" / "sip" / "ua.mpy").write_bytes(b"M")
    (mpy / "setup.mpy").write_bytes(b"M")
    (mpy / "main.py").write_text("# boot\n")
    monkeypatch.setattr(deploy, "BUILD_MPY", str(mpy))
    monkeypatch.setattr(deploy, "STAGE", str(tmp_path / "deploy"))
    cfg = tmp_path / "my.json"
    cfg.write_text(json.dumps({"board": "esp32-devkitc-inmp441", "wifi": {"ssid": "home", "password": "pw"}}))
    return tmp_path, str(cfg)


def error_of(argv, capsys):
    assert deploy.main(argv) == 2
    return capsys.readouterr().err


def test_missing_port_is_explained(capsys, staged):
    _, cfg = staged
    err = error_of(["deploy", "--board", "esp32-devkitc-inmp441", "--config", cfg], capsys)
    assert "PORT is missing" in err and "/dev/ttyUSB0" in err
    assert "PORT is missing" in error_of(["repl"], capsys)
    assert "PORT is missing" in error_of(["flash", "--firmware", "x.bin"], capsys)


def test_absent_device_node_is_explained(capsys, staged):
    _, cfg = staged
    err = error_of(["deploy", "--port", "/dev/ttyUSB97", "--board", "esp32-devkitc-inmp441", "--config", cfg], capsys)
    assert "/dev/ttyUSB97 does not exist" in err
    assert "does not exist" in error_of(["repl", "--port", "/dev/ttyACM97"], capsys)


def test_bad_board_config_and_tool(capsys, staged):
    tmp, cfg = staged
    base = ["--dry-run", "deploy", "--port", "/dev/ttyUSB0"]
    assert "BOARD is missing" in error_of(base + ["--config", cfg], capsys)
    assert "not found" in error_of(base + ["--board", "nope", "--config", cfg], capsys)
    assert "simulator" in error_of(base + ["--board", "host", "--config", cfg], capsys)
    assert "CONFIG is missing" in error_of(base + ["--board", "atom-echo"], capsys)
    assert "but BOARD=atom-echo" in error_of(base + ["--board", "atom-echo", "--config", cfg], capsys)
    bad = tmp / "bad.json"
    bad.write_text('{"board": "esp32-devkitc-inmp441", "sip": {"port": 0}}')
    assert "sip.port" in error_of(base + ["--board", "esp32-devkitc-inmp441", "--config", str(bad)], capsys)
    assert "TOOL must be" in error_of(base + ["--board", "esp32-devkitc-inmp441", "--config", cfg,
                                              "--tool", "rshell"], capsys)


def test_mpremote_command_line(capsys, staged):
    tmp, cfg = staged
    assert deploy.main(["--dry-run", "deploy", "--port", "/dev/ttyUSB0", "--board", "esp32-devkitc-inmp441",
                        "--config", cfg]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    words = out[0].split()
    assert words[1].endswith("mpremote") and words[2:7] == ["connect", "/dev/ttyUSB0", "fs", "cp", "-r"]
    names = [os.path.basename(w) for w in words[7:-3]]
    assert names == ["boards", "intercom", "config.json", "main.py", "setup.mpy"]
    assert words[-3:] == [":", "+", "reset"]
    stage = tmp / "deploy"
    assert (stage / "boards" / "esp32-devkitc-inmp441.json").exists()
    assert json.loads((stage / "config.json").read_text())["wifi"]["ssid"] == "home"


def test_ampy_command_lines(capsys, staged):
    _, cfg = staged
    assert deploy.main(["--dry-run", "deploy", "--port", "/dev/ttyUSB0", "--board", "esp32-devkitc-inmp441",
                        "--config", cfg, "--tool", "ampy"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    puts = [line.split()[-1] for line in lines if " put " in line]
    assert puts == ["boards", "intercom", "config.json", "main.py", "setup.mpy"]
    assert all("--port /dev/ttyUSB0" in line for line in lines) and lines[-1].endswith("reset")


def test_flash_command_lines_per_chip(capsys, tmp_path):
    image = tmp_path / "ESP32_GENERIC.bin"
    image.write_bytes(b"\xe9")
    assert deploy.main(["--dry-run", "flash", "--port", "/dev/ttyUSB0", "--firmware", str(image)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].endswith("--chip esp32 --port /dev/ttyUSB0 erase_flash")
    assert lines[1].endswith("write_flash -z 0x1000 " + str(image))
    assert deploy.main(["--dry-run", "flash", "--port", "/dev/ttyUSB0", "--firmware", str(image),
                        "--board", "esp32s3-dual-i2s"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "--chip esp32s3" in lines[1] and "write_flash -z 0x0 " in lines[1]
    assert "FIRMWARE is missing" in error_of(["--dry-run", "flash", "--port", "/dev/ttyUSB0"], capsys)
    assert "not a .bin" in error_of(["--dry-run", "flash", "--port", "/dev/ttyUSB0", "--firmware", "x.hex"], capsys)


def test_make_targets_refuse_without_port():
    for target in (["deploy", "BOARD=atom-echo", "CONFIG=x.json"], ["repl"], ["flash-micropython", "FIRMWARE=x.bin"]):
        proc = subprocess.run(["make", "--no-print-directory"] + target, cwd=REPO, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode != 0 and "PORT is missing" in proc.stderr, proc.stdout + proc.stderr
    proc = subprocess.run(["make", "--no-print-directory", "repl", "PORT=/dev/ttyUSB97"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "does not exist" in proc.stderr


def test_package_json_lists_every_firmware_module():
    with open(os.path.join(REPO, "package.json")) as f:
        package = json.load(f)
    listed = [dest for dest, _src in package["urls"]]
    expected = [dest for dest, _src in deploy.package_json("X/Y")["urls"]]
    assert listed == expected, "package.json is stale: run `make package`"
    for root, _dirs, names in os.walk(os.path.join(REPO, "firmware")):
        for name in names:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(root, name), os.path.join(REPO, "firmware"))
                assert rel in listed, rel
    for dest, src in package["urls"]:
        assert src.startswith("github:") and src.endswith(dest)
    assert package["deps"] == [] and package["version"]


def test_frozen_manifest_names_existing_firmware_only():
    """tools/manifest.py (for FROZEN_MANIFEST builds) uses only the manifest
    commands and names files that exist; the firmware build itself needs a
    MicroPython source tree and is not run here."""
    import os
    tools = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools")
    calls = []
    env = {"include": lambda path: calls.append(("include", path, ".")),
           "package": lambda name, base_path=".", **kw: calls.append(("package", name, base_path)),
           "module": lambda name, base_path=".", **kw: calls.append(("module", name, base_path))}
    with open(os.path.join(tools, "manifest.py")) as f:
        exec(compile(f.read(), "manifest.py", "exec"), env)
    assert calls[0][:2] == ("include", "$(PORT_DIR)/boards/manifest.py")
    for _kind, name, base in calls[1:]:
        # paths in a manifest are relative to the manifest's own folder
        assert os.path.exists(os.path.join(tools, base, name)), name
    assert [c[1] for c in calls[1:]] == ["intercom", "setup.py"]


def test_romfs_deploy_writes_the_rom_partition_then_main_board_and_config(capsys, staged, monkeypatch):
    tmp, cfg = staged
    image = tmp / "romfs.img"
    image.write_bytes(b"\xd2\xcd\x31\x00")
    monkeypatch.setattr(deploy, "ROMFS_IMAGE", str(image))
    assert deploy.main(["--dry-run", "deploy", "--port", "/dev/ttyUSB0", "--board", "esp32-devkitc-inmp441",
                        "--config", cfg, "--romfs"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].split()[2:] == ["connect", "/dev/ttyUSB0", "romfs", "deploy", str(image)]
    # modules left on the filesystem by an earlier .mpy deploy would shadow /rom: removed
    assert " exec " in lines[1] and "rm('/intercom')" in lines[1]
    copy = lines[2].split()
    assert copy[2:6] == ["connect", "/dev/ttyUSB0", "fs", "cp"]
    assert [os.path.basename(w) for w in copy[7:-3]] == ["boards", "config.json", "main.py"]
    assert copy[-3:] == [":", "+", "reset"]
    stage = tmp / "deploy"
    assert sorted(os.listdir(stage)) == ["boards", "config.json", "main.py"]


def test_romfs_deploy_needs_mpremote_and_a_built_image(capsys, staged, monkeypatch):
    tmp, cfg = staged
    base = ["--dry-run", "deploy", "--port", "/dev/ttyUSB0", "--board", "esp32-devkitc-inmp441", "--config", cfg,
            "--romfs"]
    assert "needs TOOL=mpremote" in error_of(base + ["--tool", "ampy"], capsys)
    monkeypatch.setattr(deploy, "ROMFS_IMAGE", str(tmp / "absent.img"))
    assert "make romfs" in error_of(base, capsys)
