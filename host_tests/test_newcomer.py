"""A newcomer's first hour (issue 11 item 6): what the README, `make`, `.ci/run` and tools/sim promise holds.

Each test is one surprise a first user met: the README's configs must pass
the validator and the deploy check they are shown with, tools/sim must run
from a plain shell and refuse a device config in one line, and the test and
CI entry points must say what they skip and install what they use.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SIM = os.path.join(REPO, "tools", "sim")
sys.path.insert(0, os.path.join(REPO, "tools"))
import deploy  # noqa: E402
import mpy_build  # noqa: E402
from intercom import config as config_mod  # noqa: E402

DEVICE_CONFIG = {"board": "esp32-devkitc-inmp441", "sip": {"registrar": "", "user": "door"}}


def readme():
    with open(os.path.join(REPO, "README.md")) as f:
        return f.read()


def readme_configs():
    """{name: text} of every config the README writes (`cat > NAME.json <<'EOF'`),
    plus its ```json blocks as json-block-N."""
    text = readme()
    found = {}
    for match in re.finditer(r"cat > (\S+\.json) <<'EOF'\n(.*?)\n *EOF\n", text, re.S):
        found[match.group(1)] = match.group(2)
    for i, match in enumerate(re.finditer(r"```json\n(.*?)```", text, re.S)):
        found["json-block-%d" % i] = match.group(1)
    return found


def system_python():
    """python3 from PATH without the venv: what a plain shell runs for tools/sim."""
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if not p.startswith(os.path.join(REPO, ".venv")))
    return shutil.which("python3", path=path) or sys.executable


def test_readme_configs_pass_the_validator_and_sim_ones_use_the_host_board(tmp_path):
    configs = readme_configs()
    assert len(configs) >= 3, configs
    for name, text in configs.items():
        path = tmp_path / "cfg.json"
        path.write_text(text)
        try:
            config_mod.load(str(path))
        except config_mod.ConfigError as err:
            raise AssertionError("README config %s is refused: %s" % (name, err))
    for name in re.findall(r"tools/sim --config ([\w.-]+\.json)", readme()):
        if name in configs:
            assert json.loads(configs[name])["board"] == "host", name


def test_readme_make_deploy_line_passes_the_deploy_check(tmp_path):
    """Every `make deploy ... BOARD=b CONFIG=f` the README shows names a config
    the README writes, for a device board that make deploy accepts."""
    configs = readme_configs()
    lines = re.findall(r"make deploy [^`\n]*BOARD=([\w-]+)[^`\n]*CONFIG=([\w.-]+\.json)", readme())
    assert lines, "the README shows no make deploy line with a real BOARD and CONFIG"
    for board, name in lines:
        assert name in configs, "README's make deploy uses %s, which the README never writes" % name
        path = tmp_path / name
        path.write_text(configs[name])
        assert json.loads(configs[name])["board"] == board
        deploy.deploy_commands("/dev/ttyUSB0", board, str(path), "mpremote", dry_run=True, check_only=True)


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_sim_with_a_device_board_says_so_in_one_line_and_exits_2(tmp_path, runtime):
    if runtime == "micropython" and not os.access(os.path.join(REPO, ".venv", "bin", "micropython"), os.X_OK):
        pytest.skip("MicroPython unix port not installed (make venv)")
    cfg = tmp_path / "door.json"
    cfg.write_text(json.dumps(DEVICE_CONFIG))
    proc = subprocess.run([sys.executable, SIM, "--config", str(cfg), "--runtime", runtime],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "device board" in lines[0] and '"board": "host"' in lines[0], proc.stderr


# Runs tools/sim as `python3 tools/sim` from a shell without the venv: the
# venv's packages (mpremote) are blocked so the result does not depend on what
# the system python happens to have installed.
PLAIN_SHELL = ("import sys, runpy; sys.modules['mpremote'] = None; sys.argv = sys.argv[1:];"
               " runpy.run_path(sys.argv[0], run_name='__main__')")


def test_sim_romfs_runs_from_a_plain_shell_when_the_image_is_current(tmp_path):
    if not os.access(os.path.join(REPO, ".venv", "bin", "micropython"), os.X_OK):
        pytest.skip("MicroPython unix port not installed (make venv)")
    cfg = tmp_path / "door.json"
    cfg.write_text(json.dumps(DEVICE_CONFIG))     # the firmware refuses it at once: it did start
    for _attempt in range(3):                      # another process may touch firmware/ meanwhile
        image, error = mpy_build.romfs_image()
        assert error is None, error
        proc = subprocess.run([system_python(), "-c", PLAIN_SHELL, SIM, "--romfs", "--config", str(cfg)],
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        if "mpy-cross into" not in proc.stderr:
            break
    assert "mpremote" not in proc.stderr, proc.stderr
    assert proc.returncode == 2 and "device board" in proc.stderr, proc.stderr


def test_make_test_prints_skip_reasons():
    with open(os.path.join(REPO, "Makefile")) as f:
        text = f.read()
    for target in ("test", "test-core"):
        body = re.search(r"^%s:.*\n((?:\t.*\n)+)" % re.escape(target), text, re.M).group(1)
        pytest_lines = [line for line in body.splitlines() if "pytest" in line]
        assert pytest_lines and all("-rs" in line.split() for line in pytest_lines), (target, body)


def test_ci_run_installs_what_it_assumes_and_nothing_unused():
    with open(os.path.join(REPO, ".ci", "run")) as f:
        installs = " ".join(line for line in f if "apt-get install" in line).split()
    for package in ("make", "python3-venv", "git", "ca-certificates"):
        assert package in installs, package
    assert "sipsak" not in installs


FUZZ_UPY = "test_mutated_sip_never_escapes_receive_under_micropython"


def test_ci_suite_without_the_rfc4475_messages_runs_our_own_and_says_what_it_lacks(tmp_path):
    env = dict(os.environ, CI="true", INTERCOM_RFC4475_DIR=str(tmp_path / "missing"))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           os.path.join(HERE, "test_rfc4475.py"),
                           os.path.join(HERE, "test_runtimes.py") + "::" + FUZZ_UPY],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert re.search(r"\b(1[0-9]|[2-9][0-9]) passed", proc.stdout), proc.stdout[-2000:]
    assert "RFC 4475 messages not found at %s" % (tmp_path / "missing") in proc.stdout


def documented(name, text):
    return ("`%s`" % name) in text or ('"%s":' % name) in text


def test_readme_documents_every_media_and_memory_key_and_config_key():
    from _net import Net
    from intercom.hal.host import HostBoard
    text = readme()
    net = Net()
    a = net.phone("192.0.2.1", "alice")
    b = net.phone("192.0.2.2", "bob")
    a.dial("sip:bob@192.0.2.2:5060")
    net.run(10)
    media = [e for e in b.seen if e["event"] == "media"]       # the callee's, from the offer
    assert media
    memory = HostBoard({"name": "host"}).memory()
    missing = ["media." + k for e in media for k in e if k != "event" and not documented(k, text)]
    missing += ["memory." + k for k in memory if k != "event" and not documented(k, text)]
    missing += ["config " + path for path, _default, _check in config_mod._SPEC
                if not (documented(path, text) or documented(path.split(".")[-1], text))]
    assert not missing, "the README does not mention: %s" % ", ".join(sorted(set(missing)))
