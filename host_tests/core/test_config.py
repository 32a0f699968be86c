"""Tests for intercom.config: the DESIGN.md configuration contract, validation, atomic save."""

import json
import os

from _helpers import raises, tmp_path_for
from intercom import config
from intercom.config import ConfigError

# The contract block from DESIGN.md "Configuration", verbatim but for
# sip.password: there is no default password any more (issue 9).
CONTRACT = """{
  "board": "host",
  "wifi":  {"ssid": "", "password": ""},
  "sip":   {"registrar": "127.0.0.1", "port": 5060, "user": "door",
            "password": "", "auth_user": null, "display_name": "Door",
            "expires": 300, "local_port": 5062},
  "media": {"rtp_port": 40000, "codecs": ["PCMU", "PCMA"], "ptime": 20},
  "calls": {"targets": ["sip:alice@127.0.0.1"], "ring_timeout": 30,
            "auto_answer": false, "accept_from": "registrar",
            "call_waiting": false, "max_duration": 0},
  "door":  {"pin": "", "pulse_ms": 3000, "max_attempts": 3,
            "lockout_s": 60}
}"""


def err(raw):
    return str(raises(ConfigError, config.validate, raw))


def with_key(path, value):
    section, key = path.split(".")
    return {section: {key: value}}


def read(path):
    with open(path) as f:
        return f.read()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def test_contract_defaults_match_design():
    d = config.defaults()
    contract = json.loads(CONTRACT)
    for section in contract:
        if isinstance(contract[section], dict):
            for key in contract[section]:
                assert d[section][key] == contract[section][key], section + "." + key
        else:
            assert d[section] == contract[section]
    assert config.validate(contract) == d


def test_extra_defaults():
    d = config.defaults()
    assert d["log_level"] == "info"
    s = d["sip"]
    assert (s["outbound_proxy"], s["t1_ms"], s["t2_ms"], s["t4_ms"], s["transport"]) == (None, 500, 4000, 5000, "udp")
    assert (d["calls"]["reject_code"], d["calls"]["no_answer_code"]) == (486, 480)


def test_defaults_is_a_fresh_deep_copy():
    a = config.defaults()
    a["media"]["codecs"].append("X")
    a["sip"]["port"] = 1
    b = config.defaults()
    assert b["media"]["codecs"] == ["PCMU", "PCMA"] and b["sip"]["port"] == 5060


def test_missing_keys_filled_from_defaults_nested():
    cfg = config.validate({"sip": {"user": "gate"}})
    assert cfg["sip"]["user"] == "gate"
    assert cfg["sip"]["port"] == 5060 and cfg["door"]["pin"] == ""
    assert config.validate({}) == config.defaults()


def test_validate_does_not_mutate_or_share_input():
    raw = {"calls": {"targets": ["sip:a@b"]}}
    cfg = config.validate(raw)
    cfg["calls"]["targets"].append("sip:c@d")
    assert raw == {"calls": {"targets": ["sip:a@b"]}}


def test_unknown_key_named_with_path():
    assert err({"sip": {"pasword": "x"}}) == "unknown key: sip.pasword"
    assert err({"colour": 1}) == "unknown key: colour"
    assert err({"door": {"pin": "1", "lock": 1}}) == "unknown key: door.lock"


def test_section_must_be_an_object():
    assert err({"sip": 5}).startswith("sip: expected an object")
    assert err([1]).startswith("config: expected a JSON object")


def test_bool_is_not_an_int():
    assert err(with_key("sip.port", True)) == "sip.port: expected an integer 1-65535, got true"
    assert err(with_key("media.ptime", True)).startswith("media.ptime: expected one of 10, 20, 30, 40")
    assert err(with_key("calls.reject_code", 1.0 * 486)).startswith("calls.reject_code:")


def test_int_type_and_range_messages():
    assert err(with_key("sip.port", "abc")) == 'sip.port: expected an integer 1-65535, got "abc"'
    assert err(with_key("sip.port", 0)).startswith("sip.port:")
    assert err(with_key("sip.port", 65536)).startswith("sip.port:")
    assert err(with_key("sip.port", 5060.0)).startswith("sip.port:")
    assert err(with_key("sip.expires", 9)).startswith("sip.expires: expected an integer 10-86400")
    assert config.validate(with_key("sip.expires", 3600))["sip"]["expires"] == 3600
    assert err(with_key("sip.local_port", 0)).startswith("sip.local_port:")
    assert err(with_key("media.rtp_port", 0)).startswith("media.rtp_port:")


def test_rfc3550_11_rtp_port_even():
    assert err(with_key("media.rtp_port", 40001)).startswith("media.rtp_port:")
    assert config.validate(with_key("media.rtp_port", 16384))["media"]["rtp_port"] == 16384


def test_codecs_and_ptime():
    assert config.validate(with_key("media.codecs", ["PCMA"]))["media"]["codecs"] == ["PCMA"]
    codecs = ["G722", "PCMU", "PCMA"]
    assert config.validate(with_key("media.codecs", codecs))["media"]["codecs"] == codecs
    for bad in ([], ["G729"], ["g722"], ["pcmu"], ["PCMU", "PCMU"], "PCMU", [1]):
        assert err(with_key("media.codecs", bad)).startswith("media.codecs:")
    for good in (10, 20, 30, 40):
        assert config.validate(with_key("media.ptime", good))["media"]["ptime"] == good
    assert err(with_key("media.ptime", 25)).startswith("media.ptime:")


def test_door_pin_digits_only_or_empty():
    assert config.validate(with_key("door.pin", ""))["door"]["pin"] == ""
    assert config.validate(with_key("door.pin", "0042"))["door"]["pin"] == "0042"
    for bad in (1234, "12a4", "12 4", "1" * 17):
        assert err(with_key("door.pin", bad)).startswith("door.pin:")


def test_no_default_password_and_door_opening_off_until_a_pin_is_set():
    d = config.defaults()
    assert d["sip"]["password"] == "" and d["door"]["pin"] == ""
    lines = config.show(d).split("\n")
    assert "sip.password = (empty)" in lines and "door.pin = (empty)" in lines


def test_keepalive_seconds_default_25_zero_off():
    assert config.defaults()["sip"]["keepalive"] == 25
    for good in (0, 1, 3600):
        assert config.validate(with_key("sip.keepalive", good))["sip"]["keepalive"] == good
    for bad in (-1, 3601, 25.0, True, "25", None):
        assert err(with_key("sip.keepalive", bad)).startswith("sip.keepalive: expected an integer 0-3600")


def test_media_timeout_seconds_default_30_zero_off():
    assert config.defaults()["calls"]["media_timeout"] == 30
    for good in (0, 5, 3600):
        assert config.validate(with_key("calls.media_timeout", good))["calls"]["media_timeout"] == good
    for bad in (-1, 3601, 30.5, False, "30"):
        assert err(with_key("calls.media_timeout", bad)).startswith("calls.media_timeout: expected an integer 0-3600")


def test_new_keys_are_saved_and_shown_in_order():
    path = tmp_path_for("newkeys.json")
    cfg = config.validate({"sip": {"keepalive": 0}, "calls": {"media_timeout": 90}})
    config.save(cfg, path)
    assert config.load(path) == cfg
    lines = config.show(cfg).split("\n")
    assert lines.index("sip.keepalive = 0") == lines.index("sip.t4_ms = 5000") + 1
    assert lines.index("calls.media_timeout = 90") == lines.index("calls.max_duration = 0") + 1


def test_targets_are_sip_uris():
    assert config.validate(with_key("calls.targets", []))["calls"]["targets"] == []
    for bad in ("sip:a@b", ["tel:123"], ["alice@host"], [5], ["sip:a b@c"]):
        assert err(with_key("calls.targets", bad)).startswith("calls.targets:")


def test_accept_from_forms():
    for good in ("registrar", "any", [], ["10.0.0.1", "192.168.1.20"]):
        assert config.validate(with_key("calls.accept_from", good))["calls"]["accept_from"] == good
    msg = 'calls.accept_from: expected "registrar", "any" or a list of IPv4 addresses'
    for bad in ("all", ["10.0.0.256"], ["pbx.local"], ["1.2.3"], 5):
        assert err(with_key("calls.accept_from", bad)).startswith(msg)


def test_registrar_empty_means_peer_to_peer():
    assert config.validate(with_key("sip.registrar", ""))["sip"]["registrar"] == ""
    assert config.validate(with_key("sip.registrar", "pbx.example.com"))["sip"]["registrar"] == "pbx.example.com"
    assert err(with_key("sip.registrar", "pbx:5060")).startswith("sip.registrar:")
    assert err(with_key("sip.registrar", None)).startswith("sip.registrar:")


def test_sip_extras():
    assert config.validate(with_key("sip.outbound_proxy", "proxy.lan:5070"))["sip"]["outbound_proxy"] == "proxy.lan:5070"  # noqa: E501
    assert err(with_key("sip.outbound_proxy", "proxy:0")).startswith("sip.outbound_proxy:")
    assert err(with_key("sip.transport", "sctp")) == 'sip.transport: expected one of "udp", "tcp", "tls", got "sctp"'
    assert err({"sip": {"t1_ms": 1000, "t2_ms": 500}}).startswith("sip.t2_ms:")
    assert err(with_key("sip.auth_user", "")).startswith("sip.auth_user:")
    assert err(with_key("sip.user", "a@b")).startswith("sip.user:")
    assert err(with_key("sip.display_name", "Door\r\nX: y")).startswith("sip.display_name:")


def test_rfc3261_19_1_2_tls_default_port_5061():
    cfg = config.validate(with_key("sip.transport", "tls"))
    assert cfg["sip"]["port"] == 5061
    assert cfg["sip"]["tls_verify"] is True and cfg["sip"]["tls_ca"] == ""
    explicit = with_key("sip.transport", "tls")
    explicit["sip"]["port"] = 5070
    assert config.validate(explicit)["sip"]["port"] == 5070
    assert config.validate(with_key("sip.transport", "tcp"))["sip"]["port"] == 5060
    assert err(with_key("sip.tls_verify", "no")).startswith("sip.tls_verify:")


def test_tls_verify_false_is_warned_about():
    cfg = config.validate({"sip": {"transport": "tls", "tls_verify": False}})
    warn = config.warnings(cfg)
    assert len(warn) == 1 and "tls_verify is false" in warn[0]
    assert config.warnings(config.validate({"sip": {"transport": "tls", "tls_ca": "ca.pem"}})) == []


def test_rfc3261_response_code_choices():
    assert config.validate(with_key("calls.reject_code", 603))["calls"]["reject_code"] == 603
    assert err(with_key("calls.reject_code", 480)).startswith("calls.reject_code: expected one of 486, 603")
    assert config.validate(with_key("calls.no_answer_code", 408))["calls"]["no_answer_code"] == 408
    assert err(with_key("calls.no_answer_code", 486)).startswith("calls.no_answer_code:")


def test_log_level_and_board():
    assert config.validate({"log_level": "debug"})["log_level"] == "debug"
    assert err({"log_level": "trace"}).startswith("log_level:")
    assert config.validate({"board": "esp32-s3_box"})["board"] == "esp32-s3_box"
    assert err({"board": "../etc"}).startswith("board:")


def test_errors_never_show_secrets():
    assert "Sekr1t" not in err({"wifi": {"password": "Sekr1t" * 20}})
    assert "9876" not in err(with_key("door.pin", 9876))
    assert "Sekr1t" not in err({"sip": {"password": "Sekr1t\n"}})


def test_loads_invalid_json():
    assert str(raises(ConfigError, config.loads, "{sip:")).startswith("config is not valid JSON: ")
    assert config.loads(CONTRACT) == config.defaults()


def test_load_missing_file():
    path = tmp_path_for("missing.json")
    assert str(raises(ConfigError, config.load, path)) == "config file not found: " + path


def test_load_ignores_stale_tmp_from_interrupted_save():
    path = tmp_path_for("stale.json")
    write(path + ".tmp", '{"sip": {"user": "fromtmp"}}')
    raises(ConfigError, config.load, path)
    config.save(config.validate({"sip": {"user": "real"}}), path)
    write(path + ".tmp", '{"sip": {"user": "fromtm')  # a half-written save
    assert config.load(path)["sip"]["user"] == "real"


def test_save_roundtrip_and_no_tmp_left():
    path = tmp_path_for("round.json")
    cfg = config.validate({"sip": {"password": 'p"w\\', "registrar": ""}, "door": {"pin": ""}})
    config.save(cfg, path)
    assert not exists(path + ".tmp")
    assert config.load(path) == cfg
    assert json.loads(read(path)) == cfg
    cfg["sip"]["user"] = "second"
    config.save(cfg, path)  # replacing an existing file
    assert config.load(path)["sip"]["user"] == "second"
    assert not exists(path + ".tmp")


def test_save_invalid_config_leaves_old_file_untouched():
    path = tmp_path_for("keep.json")
    config.save(config.defaults(), path)
    before = read(path)
    bad = config.defaults()
    bad["sip"]["port"] = "x"
    raises(ConfigError, config.save, bad, path)
    assert read(path) == before
    assert not exists(path + ".tmp")


def test_save_unwritable_path_raises_config_error():
    path = tmp_path_for("nodir") + "/sub/config.json"
    raises(ConfigError, config.save, config.defaults(), path)


def test_show_masks_secrets():
    cfg = config.validate({"wifi": {"password": "wifipass1"}, "sip": {"password": "sippass"},
                           "door": {"pin": ""}})
    text = config.show(cfg)
    assert "wifipass1" not in text and "sippass" not in text
    lines = text.split("\n")
    assert "wifi.password = ********" in lines
    assert "sip.password = ********" in lines
    assert "door.pin = (empty)" in lines
    assert 'sip.registrar = "127.0.0.1"' in lines
    assert "sip.port = 5060" in lines
    assert 'calls.targets = ["sip:alice@127.0.0.1"]' in lines
    assert "sip.auth_user = null" in lines
    assert lines[0] == 'board = "host"'


def test_redact_replaces_every_secret():
    cfg = config.validate({"wifi": {"password": "wifipass1"}, "sip": {"password": 'sip"pw'},
                           "door": {"pin": "4711"}})
    line = 'join wifipass1 auth sip"pw json {"pw": "sip\\"pw"} pin 4711 4711'
    out = config.redact(line, cfg)
    assert "wifipass1" not in out and "4711" not in out and 'sip"pw' not in out
    assert 'sip\\"pw' not in out
    assert out.count("********") == 5
    empty = config.validate({"wifi": {"password": ""}})
    assert config.redact("nothing here", empty) == "nothing here"
