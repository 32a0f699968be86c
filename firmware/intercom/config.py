"""Configuration: load, validate, save (atomically) and show config.json (DESIGN.md "Configuration")."""

import json
import os

_MASK = "********"
_SECRETS = ("wifi.password", "sip.password", "door.pin", "mqtt.password")
_SECTIONS = ("wifi", "sip", "media", "calls", "door", "mqtt")


class ConfigError(Exception):
    """Bad configuration; the message names the key path and never a secret."""


def _got(value, secret=False):
    # How a rejected value is shown in a message: JSON-ish, short, and for
    # secrets only its type.
    if secret:
        if isinstance(value, str):
            return "a string"
        return "a " + type(value).__name__
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return text


def _fail(path, expected, value):
    raise ConfigError(f"{path}: expected {expected}, got {_got(value, path in _SECRETS)}")


def _is_int(v):
    # bool is a subclass of int in Python; a config "true" is not a number.
    return isinstance(v, int) and not isinstance(v, bool)


def _only(s, allowed):
    return all(c in allowed for c in s)


def _digits(s):
    # ASCII digits only (str.isdigit() accepts other scripts on CPython).
    return bool(s) and _only(s, "0123456789")


def _has_ctl(s):
    return any(ord(c) < 32 or ord(c) == 127 for c in s)


_HOST_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"


def _is_host(s):
    # Host name or IPv4 address (RFC 1123 labels), no port.
    if not isinstance(s, str) or not s or len(s) > 253:
        return False
    for label in s.split("."):
        if (not label or len(label) > 63 or label[0] == "-" or label[-1] == "-"
                or not _only(label, _HOST_CHARS)):
            return False
    return True


def _is_ipv4(s):
    parts = s.split(".") if isinstance(s, str) else ()
    if len(parts) != 4:
        return False
    for p in parts:
        if len(p) > 3 or not _digits(p) or int(p) > 255:
            return False
    return True


def _is_proxy(v):
    # "host" or "host:port".
    if not isinstance(v, str):
        return False
    colon = v.find(":")
    if colon < 0:
        return _is_host(v)
    port = v[colon + 1:]
    return (_is_host(v[:colon]) and _digits(port) and len(port) <= 5
            and 1 <= int(port) <= 65535)


def _is_sip_user(v):
    return (isinstance(v, str) and 0 < len(v) <= 64 and not _has_ctl(v)
            and not any(c in v for c in ' @:<>"\\;?'))


def _is_text(v, lo, hi):
    # Printable text; CR/LF would let a value inject SIP header lines.
    return isinstance(v, str) and lo <= len(v) <= hi and not _has_ctl(v)


def _rule(expected, ok):
    # A check(path, value) that returns value or raises naming path.
    def check(path, v):
        if not ok(v):
            _fail(path, expected, v)
        return v
    return check


def _int(lo, hi):
    return _rule(f"an integer {lo}-{hi}", lambda v: _is_int(v) and lo <= v <= hi)


def _text(lo, hi):
    return _rule(f"a string of {lo}-{hi} printable characters", lambda v: _is_text(v, lo, hi))


def _one_of(*allowed):
    # Same type too: 20.0 == 20 and True == 1 must not pass.
    names = ", ".join([f'"{a}"' if isinstance(a, str) else str(a) for a in allowed])
    return _rule("one of " + names,
                 lambda v: any(type(a) is type(v) and a == v for a in allowed))


def _list_of(expected, item_ok, non_empty=False, distinct=False):
    def ok(v):
        if not isinstance(v, list) or (non_empty and not v):
            return False
        for i, x in enumerate(v):
            if not item_ok(x) or (distinct and x in v[:i]):
                return False
        return True
    return _rule(expected, ok)


_bool = _rule("true or false", lambda v: isinstance(v, bool))
_board = _rule("a board name of 1-32 a-z, 0-9, '-', '_' (boards/<name>.json)",
               lambda v: isinstance(v, str) and 0 < len(v) <= 32
               and _only(v, "abcdefghijklmnopqrstuvwxyz0123456789-_"))
_registrar = _rule('a host name or IPv4 address without port, or "" for peer-to-peer',
                   lambda v: v == "" or _is_host(v))
_proxy = _rule('null, "host" or "host:port"', lambda v: v is None or _is_proxy(v))
_sip_user = _rule('a SIP user name of 1-64 characters without spaces or @:<>";?', _is_sip_user)
_auth_user = _rule('null or a SIP user name of 1-64 characters without spaces or @:<>";?',
                   lambda v: v is None or _is_sip_user(v))
# RFC 3550 §11: RTP on an even port, RTCP on the next odd one.
_rtp_port = _rule("an even integer 1024-65534", lambda v: _is_int(v) and 1024 <= v <= 65534 and v % 2 == 0)
_codecs = _list_of('a non-empty list of distinct "PCMU", "PCMA", "G722"',
                   lambda c: c in ("PCMU", "PCMA", "G722"), non_empty=True, distinct=True)
_targets = _list_of('a list of "sip:" URIs',
                    lambda t: isinstance(t, str) and t[:4].lower() == "sip:" and len(t) > 4
                    and " " not in t and not _has_ctl(t))
_accept_from = _rule('"registrar", "any" or a list of IPv4 addresses',
                     lambda v: v in ("registrar", "any")
                     or (isinstance(v, list) and all(_is_ipv4(a) for a in v)))
# "" disables the door PIN.
_pin = _rule('a string of 0-16 digits ("" = disabled)',
             lambda v: isinstance(v, str) and len(v) <= 16 and (v == "" or _digits(v)))

# MQTT (Home Assistant): broker "" turns it off; topics without the wildcards
# + and #, without empty levels (no leading, trailing or double /). Short
# messages: every string here stays interned in the heap after boot.
_broker = _rule('"" or a host', lambda v: v == "" or _is_host(v))


def _is_topic(v):
    return (isinstance(v, str) and len(v) <= 128 and not _has_ctl(v) and "+" not in v
            and "#" not in v and "" not in v.split("/"))


_TOPIC = "a topic without +, # or empty levels"
_base_topic = _rule('"" or ' + _TOPIC, lambda v: v == "" or _is_topic(v))
_prefix = _rule(_TOPIC, _is_topic)

# (path, default, check). This order is the order of show() and save().
# Ranges: sip.port and sip.local_port 1-65535, rtp_port 1024-65534, expires 10-86400 s,
# t1 50-10000 ms, t2 t1-60000 ms, t4 0-60000 ms, keepalive 0-3600 s (0 = off),
# ring_timeout 0-600 s (0 = ring until cancelled), max_duration 0-86400 s
# (0 = unlimited), media_timeout 0-3600 s (0 = off), pulse_ms 50-60000,
# max_attempts 1-100, lockout_s 0-86400, mqtt.keepalive 10-3600 s. No default password and no default
# PIN: door.pin "" keeps DTMF door opening off until the owner sets one.
_SPEC = (
    ("board", "host", _board),
    ("log_level", "info", _one_of("debug", "info", "warn", "error")),
    ("wifi.ssid", "", _text(0, 32)),
    ("wifi.password", "", _text(0, 64)),
    ("sip.registrar", "127.0.0.1", _registrar),
    ("sip.port", 5060, _int(1, 65535)),
    ("sip.user", "door", _sip_user),
    ("sip.password", "", _text(0, 128)),
    ("sip.auth_user", None, _auth_user),
    ("sip.display_name", "Door", _text(0, 64)),
    ("sip.expires", 300, _int(10, 86400)),
    ("sip.local_port", 5062, _int(1, 65535)),
    ("sip.outbound_proxy", None, _proxy),
    ("sip.transport", "udp", _one_of("udp", "tcp", "tls")),
    ("sip.tls_ca", "", _text(0, 128)),
    ("sip.tls_verify", True, _bool),
    ("sip.t1_ms", 500, _int(50, 10000)),
    ("sip.t2_ms", 4000, _int(50, 60000)),
    ("sip.t4_ms", 5000, _int(0, 60000)),
    ("sip.keepalive", 25, _int(0, 3600)),
    ("media.rtp_port", 40000, _rtp_port),
    ("media.codecs", ["PCMU", "PCMA"], _codecs),
    ("media.ptime", 20, _one_of(10, 20, 30, 40)),
    ("media.srtp", "off", _one_of("off", "optional", "mandatory")),
    ("media.srtp_over_udp", False, _bool),
    ("calls.targets", ["sip:alice@127.0.0.1"], _targets),
    ("calls.ring_timeout", 30, _int(0, 600)),
    ("calls.auto_answer", False, _bool),
    ("calls.accept_from", "registrar", _accept_from),
    ("calls.call_waiting", False, _bool),
    ("calls.max_duration", 0, _int(0, 86400)),
    ("calls.media_timeout", 30, _int(0, 3600)),
    ("calls.reject_code", 486, _one_of(486, 603)),
    ("calls.no_answer_code", 480, _one_of(480, 408)),
    ("door.pin", "", _pin),
    ("door.pulse_ms", 3000, _int(50, 60000)),
    ("door.max_attempts", 3, _int(1, 100)),
    ("door.lockout_s", 60, _int(0, 86400)),
    # null: true whenever media.srtp is not "off" (see require_secure())
    ("door.require_secure", None, _rule("null, true or false", lambda v: v is None or isinstance(v, bool))),
    ("mqtt.broker", "", _broker),
    ("mqtt.port", 1883, _int(1, 65535)),
    ("mqtt.user", "", _text(0, 64)),
    ("mqtt.password", "", _text(0, 128)),
    ("mqtt.base_topic", "", _base_topic),
    ("mqtt.discovery_prefix", "homeassistant", _prefix),
    ("mqtt.allow_door", False, _bool),
    ("mqtt.keepalive", 60, _int(10, 3600)),
    ("mqtt.tls", False, _bool),
    ("mqtt.tls_ca", "", _text(0, 128)),
)


def _copy(v):
    # Lists are the only mutable leaves; never share them with the caller.
    return list(v) if isinstance(v, list) else v


def _split(path):
    dot = path.find(".")
    if dot < 0:
        return None, path
    return path[:dot], path[dot + 1:]


def _lookup(cfg, path):
    # (found, value) for "section.key" or "key".
    section, key = _split(path)
    d = cfg
    if section is not None:
        d = cfg.get(section) if isinstance(cfg, dict) else None
    if isinstance(d, dict) and key in d:
        return True, d[key]
    return False, None


def defaults():
    """Return a fresh, fully populated copy of the default configuration."""
    cfg = {}
    for s in _SECTIONS:
        cfg[s] = {}
    for path, default, _check in _SPEC:
        section, key = _split(path)
        (cfg if section is None else cfg[section])[key] = _copy(default)
    return cfg


def validate(raw):
    """Check raw (a dict as parsed from JSON) and return a new full config.

    Missing keys take their defaults; unknown keys, wrong types (a bool is
    not an integer) and out-of-range values raise ConfigError naming the
    key path. raw is not modified.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"config: expected a JSON object, got {_got(raw)}")
    known = {}
    for path, _d, _c in _SPEC:
        known[path] = True
    # Sorted, so the first error reported is the same on every runtime.
    for key in sorted(raw):
        if key in _SECTIONS:
            sub = raw[key]
            if not isinstance(sub, dict):
                raise ConfigError(f"{key}: expected an object, got {_got(sub)}")
            for k in sorted(sub):
                if (key + "." + str(k)) not in known:
                    raise ConfigError(f"unknown key: {key}.{k}")
        elif key not in known:
            raise ConfigError(f"unknown key: {key}")
    cfg = defaults()
    for path, _default, check in _SPEC:
        found, value = _lookup(raw, path)
        if found:
            section, key = _split(path)
            (cfg if section is None else cfg[section])[key] = _copy(check(path, value))
    sip = cfg["sip"]
    if sip["transport"] == "tls" and not _lookup(raw, "sip.port")[0]:
        sip["port"] = 5061            # RFC 3261 §19.1.2: the default port of SIP over TLS
    if sip["t2_ms"] < sip["t1_ms"]:
        t1, t2 = sip["t1_ms"], sip["t2_ms"]
        raise ConfigError(f"sip.t2_ms: expected at least sip.t1_ms ({t1}), got {t2}")
    mq = cfg["mqtt"]
    if mq["tls"]:
        # the broker's certificate is always verified: no CA, no TLS
        if not mq["tls_ca"]:
            raise ConfigError('mqtt.tls_ca: expected a CA file when mqtt.tls is true, got ""')
        if not _lookup(raw, "mqtt.port")[0]:
            mq["port"] = 8883
    return cfg


def loads(text):
    """Parse JSON text and validate it."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode()
        except UnicodeError:
            raise ConfigError("config is not valid UTF-8")
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"config is not valid JSON: {e}")
    return validate(raw)


def load(path):
    """Read and validate the config file at path.

    A PATH.tmp left by an interrupted save() is never read: it may be partial.
    """
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        if e.args and e.args[0] == 2:  # ENOENT
            raise ConfigError(f"config file not found: {path}")
        raise ConfigError(f"cannot read config file {path}: {e}")
    return loads(text)


def _dump(cfg):
    # Stable key order and one key a line, for hand editing on the device
    # (MicroPython's json.dumps has no indent and keeps no key order).
    lines = []
    current = None
    for path, _d, _c in _SPEC:
        section, key = _split(path)
        _found, value = _lookup(cfg, path)
        if section != current:
            if current is not None:
                lines[-1] = lines[-1][:-1]
                lines.append("  },")
            if section is not None:
                # Not an f-string: MicroPython <= 1.26 rejects one ending in `{{`.
                lines.append('  "' + section + '": {')
            current = section
        indent = "  " if section is None else "    "
        lines.append(f'{indent}"{key}": {_fmt(value)},')
    lines[-1] = lines[-1][:-1]
    lines.append("  }")
    return "{\n" + "\n".join(lines) + "\n}\n"


def _fmt(value):
    if isinstance(value, list):
        return "[" + ", ".join([_fmt(v) for v in value]) + "]"
    return json.dumps(value)


def save(cfg, path):
    """Validate cfg, then replace the file at path atomically.

    Writes PATH.tmp, flushes, then renames it over PATH (atomic on POSIX
    and LittleFS; on FAT, where rename onto an existing file fails, the old
    file is removed first). If cfg is invalid nothing is written.
    """
    text = _dump(validate(cfg))
    tmp = path + ".tmp"
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
        if hasattr(os, "sync"):
            os.sync()
    except OSError as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise ConfigError(f"cannot write config file {tmp}: {e}")
    try:
        os.rename(tmp, path)
    except OSError:
        try:
            os.remove(path)
            os.rename(tmp, path)
        except OSError as e:
            raise ConfigError(f"cannot replace config file {path}: {e}")


def show(cfg):
    """Return "key.path = value" lines for cfg, with secrets masked."""
    lines = []
    for path, default, _c in _SPEC:
        found, value = _lookup(cfg, path)
        if not found:
            value = default
        if path in _SECRETS:
            text = _MASK if value else "(empty)"
        else:
            text = _fmt(value)
        lines.append(f"{path} = {text}")
    return "\n".join(lines)


def warnings(cfg):
    """Settings that work but weaken security, one sentence each (shown by
    setup.show() and logged at boot)."""
    out = []
    sip = cfg.get("sip", {})
    if sip.get("transport") == "tls" and sip.get("tls_verify") is False:
        out.append("WARNING: sip.tls_verify is false: the registrar's TLS certificate is not checked,"
                   " so anyone on the network path can impersonate it and read the signalling")
    return out


def redact(text, cfg):
    """Return text with every non-empty secret value of cfg replaced by ********."""
    secrets = []
    for path in _SECRETS:
        found, value = _lookup(cfg, path)
        if found and isinstance(value, str) and value:
            secrets.append(value)
            quoted = json.dumps(value)[1:-1]
            if quoted != value:
                secrets.append(quoted)  # as it appears inside a JSON log line
    # Longest first, so a secret containing another is masked whole.
    secrets.sort(key=len, reverse=True)
    for s in secrets:
        text = text.replace(s, _MASK)
    return text

