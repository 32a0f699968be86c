"""Board descriptions: load and check boards/<name>.json (data, no hardware access)."""

import json

ROLE_KINDS = ("button", "relay", "led", "mic", "speaker")
REQUIRED_ROLES = ("talk",)
BOARD_KEYS = ("name", "description", "hal", "roles", "capabilities")

_I2S_KEYS = ("i2s_id", "sck", "ws", "sd", "rate", "bits", "format")
# Keys each role kind may carry; the ones a hardware HAL needs come first.
ROLE_KEYS = {
    "button": ("kind", "pin", "active_low", "pull", "debounce_ms", "long_ms"),
    "relay": ("kind", "pin", "active_low", "max_on_ms"),
    "led": ("kind", "pin", "type", "active_low"),
    "mic": ("kind",) + _I2S_KEYS + ("shift", "ibuf"),
    "speaker": ("kind",) + _I2S_KEYS + ("ibuf",),
}
NEEDS_PINS = {"button": ("pin",), "relay": ("pin",), "led": ("pin",), "mic": _I2S_KEYS, "speaker": _I2S_KEYS}
PIN_KEYS = ("pin", "sck", "ws", "sd")
CAPABILITY_KEYS = ("chip", "half_duplex", "one_button", "psram", "watchdog_ms")
CHIPS = ("esp32", "esp32s2", "esp32s3", "esp32c3", "esp32c6")
MAX_GPIO = 48

# key -> (allowed values) for the enumerated ones
_CHOICES = {
    "pull": ("up", "down", None),
    "type": ("gpio", "neopixel"),
    "format": ("mono", "stereo", "pdm"),
    "bits": (16, 32),
    "rate": (8000, 16000, 32000, 44100, 48000),
    "i2s_id": (0, 1),
}
# key -> (lo, hi) for the integer ones
_RANGES = {"debounce_ms": (1, 1000), "long_ms": (200, 10000), "max_on_ms": (50, 600000),
           "shift": (0, 16), "ibuf": (1024, 65536), "watchdog_ms": (1000, 120000)}


class BoardError(Exception):
    """A board file is missing or invalid; the message names the problem."""


def load_board(name, search_dirs):
    """Find <name>.json in search_dirs, parse it and check it."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise BoardError("bad board name %r" % (name,))
    for folder in search_dirs:
        path = folder + "/" + name + ".json"
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        try:
            data = json.loads(text)
        except ValueError as err:
            raise BoardError("board file %s is not valid JSON: %s" % (path, err))
        return check_board(data, path)
    raise BoardError("board file not found: %s.json (looked in %s)" % (name, ", ".join(search_dirs)))


def check_board(data, where):
    """Validate a parsed board description; return it unchanged."""
    if not isinstance(data, dict):
        raise BoardError("%s: top level must be an object" % where)
    for key in data:
        if key not in BOARD_KEYS:
            raise BoardError("%s: unknown key %r" % (where, key))
    roles = data.get("roles")
    if not isinstance(roles, dict):
        raise BoardError("%s: 'roles' must be an object" % where)
    if not isinstance(data.get("hal"), str):
        raise BoardError("%s: 'hal' must name the HAL module" % where)
    caps = _check_capabilities(data.get("capabilities", {}), where)
    hardware = data["hal"] != "host"
    required = list(REQUIRED_ROLES)
    if hardware:
        required.append("led")
        if not caps.get("one_button"):
            required.append("hangup")
    for role in required:
        if role not in roles:
            raise BoardError("%s: missing role %r" % (where, role))
    for role, spec in roles.items():
        if not isinstance(spec, dict) or spec.get("kind") not in ROLE_KINDS:
            raise BoardError("%s: role %r needs a kind, one of %s" % (where, role, ", ".join(ROLE_KINDS)))
        _check_role(role, spec, hardware, where)
    _check_pins(roles, caps, where)
    return data


def _check_capabilities(caps, where):
    if not isinstance(caps, dict):
        raise BoardError("%s: 'capabilities' must be an object" % where)
    for key, value in caps.items():
        if key not in CAPABILITY_KEYS:
            raise BoardError("%s: unknown capability %r" % (where, key))
        if key == "chip":
            if value not in CHIPS:
                raise BoardError("%s: capabilities.chip must be one of %s" % (where, ", ".join(CHIPS)))
        elif key == "watchdog_ms":
            _check_value("capabilities", key, value, where)
        elif not isinstance(value, bool):
            raise BoardError("%s: capabilities.%s must be true or false" % (where, key))
    return caps


def _check_role(role, spec, hardware, where):
    kind = spec["kind"]
    allowed = ROLE_KEYS[kind]
    for key in spec:
        if key not in allowed:
            raise BoardError("%s: role %r: unknown key %r (a %s takes %s)"
                             % (where, role, key, kind, ", ".join(allowed)))
    if hardware:
        for key in NEEDS_PINS[kind]:
            if key not in spec:
                raise BoardError("%s: role %r: missing key %r" % (where, role, key))
    for key, value in spec.items():
        if key != "kind":
            _check_value(role, key, value, where)


def _check_value(role, key, value, where):
    name = "%s: role %r: %s" % (where, role, key) if role != "capabilities" else "%s: capabilities.%s" % (where, key)
    if key in PIN_KEYS:
        if not _is_int(value) or not 0 <= value <= MAX_GPIO:
            raise BoardError("%s must be a GPIO number 0-%d, got %r" % (name, MAX_GPIO, value))
    elif key == "active_low":
        if not isinstance(value, bool):
            raise BoardError("%s must be true or false, got %r" % (name, value))
    elif key in _CHOICES:
        choices = _CHOICES[key]
        if not any(type(c) is type(value) and c == value for c in choices):
            raise BoardError("%s must be one of %s, got %r" % (name, ", ".join([repr(c) for c in choices]), value))
    elif key in _RANGES:
        lo, hi = _RANGES[key]
        if not _is_int(value) or not lo <= value <= hi:
            raise BoardError("%s must be an integer %d-%d, got %r" % (name, lo, hi, value))


def _check_pins(roles, caps, where):
    """Each GPIO has one user; the only exception is the clock pair of a
    half-duplex board whose mic and speaker share one I2S peripheral."""
    used = {}
    mic, spk = roles.get("mic"), roles.get("speaker")
    shared = (mic is not None and spk is not None and "i2s_id" in mic
              and mic.get("i2s_id") == spk.get("i2s_id"))
    if shared and not caps.get("half_duplex"):
        raise BoardError("%s: mic and speaker share I2S %d, so capabilities.half_duplex must be true"
                         % (where, mic["i2s_id"]))
    if shared and (mic.get("sck") != spk.get("sck") or mic.get("ws") != spk.get("ws")):
        raise BoardError("%s: mic and speaker share I2S %d but not its sck/ws pins" % (where, mic["i2s_id"]))
    for role, spec in roles.items():
        for key in PIN_KEYS:
            pin = spec.get(key)
            if pin is None:
                continue
            if shared and role == "speaker" and key in ("sck", "ws"):
                continue         # the shared bus clock, counted once under mic
            if pin in used:
                raise BoardError("%s: pin %d used twice: %s and %s.%s" % (where, pin, used[pin], role, key))
            used[pin] = role + "." + key


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


from intercom.roles import roles_of_kind  # noqa: E402,F401 - re-exported for callers of board.py
