"""REPL setup (firmware/setup.py): setters save atomically, bad values are refused, secrets masked."""

import os

from _device import BOARDS
from _helpers import tmp_path_for
from intercom import config
import setup

_printed = []


def _use(name):
    path = tmp_path_for(name)
    setup.CONFIG = path
    setup.BOARD_DIRS = [BOARDS]
    setup._say = _printed.append
    del _printed[:]
    return path


def _read(path):
    with open(path) as f:
        return f.read()


def test_wifi_and_sip_are_saved():
    path = _use("setup-save.json")
    assert setup.wifi("home", "pw-12345") is True
    assert setup.sip(registrar="pbx.example.org", user="door", password="s3cret") is True
    cfg = config.load(path)
    assert cfg["wifi"] == {"ssid": "home", "password": "pw-12345"}
    assert cfg["sip"]["registrar"] == "pbx.example.org" and cfg["sip"]["password"] == "s3cret"
    assert cfg["sip"]["port"] == 5060                     # untouched keys keep their values
    assert "saved" in _printed[-1]


def test_bad_value_refused_and_nothing_saved():
    path = _use("setup-bad.json")
    setup.sip(registrar="pbx.example.org")
    before = _read(path)
    assert setup.sip(port=70000) is False
    assert "refused" in _printed[-1] and "sip.port" in _printed[-1]
    assert setup.calls(targets="alice@example.org") is False      # not a sip: URI
    assert setup.door(pin="12ab") is False
    assert setup.sip(user="a b") is False
    assert setup.board("no-such-board") is False
    assert _read(path) == before
    assert not _exists(path + ".tmp")


def test_calls_accepts_one_uri_and_door_pin():
    path = _use("setup-calls.json")
    assert setup.calls(targets="sip:alice@pbx.example.org", ring_timeout=20)
    assert setup.door(pin="4711", pulse_ms=2000)
    cfg = config.load(path)
    assert cfg["calls"]["targets"] == ["sip:alice@pbx.example.org"] and cfg["door"]["pin"] == "4711"


def test_show_masks_secrets():
    _use("setup-show.json")
    setup.wifi("home", "pw-12345")
    setup.sip(password="s3cret")
    setup.show()
    text = _printed[-1]
    assert "wifi.ssid = \"home\"" in text
    assert "pw-12345" not in text and "s3cret" not in text and "********" in text


def test_trace_sets_debug_and_back():
    path = _use("setup-trace.json")
    setup.trace(True)
    assert config.load(path)["log_level"] == "debug"
    setup.trace(False)
    assert config.load(path)["log_level"] == "info"


def test_reset_keeps_the_board():
    path = _use("setup-reset.json")
    assert setup.board("atom-echo")
    setup.wifi("home", "pw-12345")
    assert setup.reset()
    cfg = config.load(path)
    assert cfg["board"] == "atom-echo" and cfg["wifi"]["ssid"] == ""


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def test_interrupted_save_leaves_the_config_intact():
    path = _use("setup-interrupt.json")
    setup.wifi("home", "pw-12345")
    before = _read(path)
    os.mkdir(path + ".tmp")              # the temporary file cannot be written: the save fails midway
    try:
        assert setup.wifi("other", "pw-99999") is False
        assert "refused" in _printed[-1]
    finally:
        os.rmdir(path + ".tmp")
    assert _read(path) == before
    # a partial .tmp left by a power cut is never read
    with open(path + ".tmp", "w") as f:
        f.write('{"wifi": {"ssid": "hal')
    assert config.load(path)["wifi"]["ssid"] == "home"
    os.remove(path + ".tmp")


def test_self_test_on_the_host_board_skips_hardware_steps():
    _use("setup-selftest.json")
    setup.board("host")
    setup.sip(registrar="")
    failures = setup.test(seconds=1)
    text = "\n".join(_printed)
    assert failures == 0, text
    assert "SKIP wifi" in text and "SKIP tone" in text and "board has no speaker" in text
    assert "SKIP mic" in text


def test_repl_sets_the_keepalive_and_media_timeout_and_refuses_bad_values():
    path = _use("setup-timers.json")
    assert setup.sip(keepalive=15) is True
    assert setup.calls(media_timeout=0) is True
    assert setup.calls(media_timeout=-1) is False
    cfg = config.load(path)
    assert cfg["sip"]["keepalive"] == 15 and cfg["calls"]["media_timeout"] == 0


def test_media_sets_codecs_and_srtp_and_refuses_unknown_values():
    path = _use("setup-media.json")
    assert setup.media(codecs="G722") is True                  # one codec given as a string
    assert setup.media(srtp="mandatory") is True
    assert setup.door(require_secure=True) is True
    cfg = config.load(path)
    assert cfg["media"]["codecs"] == ["G722"] and cfg["media"]["srtp"] == "mandatory"
    assert cfg["door"]["require_secure"] is True
    before = _read(path)
    assert setup.media(codecs=["G729"]) is False
    assert setup.media(srtp="sometimes") is False
    assert "refused" in _printed[-1] and "media.srtp" in _printed[-1]
    assert _read(path) == before
