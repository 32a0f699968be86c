"""Board files: every shipped board loads; a missing role, a reused pin or an unknown key is named."""

import json

from _device import BOARDS
from intercom.board import check_board, load_board, BoardError

SHIPPED = ("host", "esp32-devkitc-inmp441", "atom-echo", "esp32s3-dual-i2s")


def _raw(name):
    with open(BOARDS + "/" + name + ".json") as f:
        return json.loads(f.read())


def _error(data):
    try:
        check_board(data, "x.json")
    except BoardError as err:
        return str(err)
    raise AssertionError("no BoardError")


def test_every_shipped_board_loads():
    for name in SHIPPED:
        assert load_board(name, [BOARDS])["name"] == name


def test_atom_echo_pins_match_the_vendor_docs():
    roles = load_board("atom-echo", [BOARDS])["roles"]
    assert (roles["speaker"]["sck"], roles["speaker"]["ws"], roles["speaker"]["sd"]) == (19, 33, 22)
    assert roles["mic"]["sd"] == 23 and roles["talk"]["pin"] == 39 and roles["led"]["pin"] == 27
    assert roles["led"]["type"] == "neopixel" and "hangup" not in roles


def test_missing_role_is_named():
    data = _raw("esp32-devkitc-inmp441")
    del data["roles"]["hangup"]
    assert "missing role 'hangup'" in _error(data)
    data = _raw("esp32-devkitc-inmp441")
    del data["roles"]["talk"]
    assert "missing role 'talk'" in _error(data)


def test_pin_used_twice_is_named():
    data = _raw("esp32-devkitc-inmp441")
    data["roles"]["hangup"]["pin"] = 18
    err = _error(data)
    assert "pin 18 used twice" in err and "talk.pin" in err and "hangup.pin" in err
    data = _raw("esp32-devkitc-inmp441")
    data["roles"]["relay"]["pin"] = 33          # the mic's data pin
    assert "pin 33 used twice" in _error(data)


def test_unknown_keys_are_named():
    data = _raw("esp32-devkitc-inmp441")
    data["colour"] = "red"
    assert "unknown key 'colour'" in _error(data)
    data = _raw("esp32-devkitc-inmp441")
    data["roles"]["talk"]["pulll"] = "up"
    assert "unknown key 'pulll'" in _error(data)
    data = _raw("esp32-devkitc-inmp441")
    data["capabilities"]["wings"] = True
    assert "unknown capability 'wings'" in _error(data)


def test_bad_values_are_named():
    data = _raw("esp32-devkitc-inmp441")
    data["roles"]["mic"]["bits"] = 24
    assert "'mic': bits" in _error(data)
    data = _raw("esp32-devkitc-inmp441")
    data["roles"]["talk"]["pin"] = 99
    assert "GPIO number" in _error(data)
    data = _raw("esp32-devkitc-inmp441")
    del data["roles"]["speaker"]["sd"]
    assert "role 'speaker': missing key 'sd'" in _error(data)


def test_shared_i2s_bus_needs_half_duplex():
    data = _raw("atom-echo")
    data["capabilities"]["half_duplex"] = False
    assert "half_duplex must be true" in _error(data)
    data = _raw("esp32-devkitc-inmp441")
    data["roles"]["speaker"]["i2s_id"] = 0
    assert "share I2S 0" in _error(data)


def test_host_board_needs_no_pins():
    assert check_board({"name": "h", "hal": "host", "roles": {"talk": {"kind": "button"}}}, "h")
