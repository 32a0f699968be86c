"""REPL setup on the device: `import setup`, then setup.wifi(...), setup.sip(...), setup.show(), setup.test().

Every setter loads config.json, changes only the keys it was given, and
saves through intercom.config.save: the whole file is validated first (a bad
value is refused with a message and nothing is written) and replaced
atomically (written to config.json.tmp, then renamed over it).
"""

from intercom import config as _config

CONFIG = "config.json"                   # on the device: /config.json
BOARD_DIRS = ["boards", "/boards"]
_UNSET = object()                        # "argument not given" (None is a value: auth_user=None)


def _say(text):
    print(text)


def _current():
    """The saved config, or the defaults when there is none yet."""
    try:
        return _config.load(CONFIG)
    except _config.ConfigError as err:
        if "not found" in str(err):
            return _config.defaults()
        raise


def _apply(changes):
    """Set {"section.key": value} and save; True when saved."""
    try:
        cfg = _current()
    except _config.ConfigError as err:
        _say("refused: the saved config is broken (%s); setup.reset() starts over" % err)
        return False
    for path, value in changes.items():
        if value is _UNSET:
            continue
        dot = path.find(".")
        if dot < 0:
            cfg[path] = value
        else:
            cfg[path[:dot]][path[dot + 1:]] = value
    try:
        _config.save(cfg, CONFIG)       # validates first: nothing is written on error
    except _config.ConfigError as err:
        _say("refused: %s (nothing saved)" % err)
        return False
    shown = [p for p in changes if changes[p] is not _UNSET]
    _say("saved %s: %s; reboot (machine.reset()) to apply" % (CONFIG, ", ".join(sorted(shown))))
    return True


def wifi(ssid, password=""):
    """Wi-Fi network name and password (WPA2-PSK); password "" for an open network."""
    return _apply({"wifi.ssid": ssid, "wifi.password": password})


def sip(registrar=_UNSET, user=_UNSET, password=_UNSET, port=_UNSET, auth_user=_UNSET,
        display_name=_UNSET, expires=_UNSET, local_port=_UNSET, outbound_proxy=_UNSET,
        keepalive=_UNSET, transport=_UNSET, tls_ca=_UNSET, tls_verify=_UNSET):
    """PBX account: setup.sip(registrar="pbx.local", user="door", password="...").
    registrar="" is peer-to-peer mode (no REGISTER); keepalive: NAT keep-alive seconds (0 = off);
    transport "udp", "tcp" or "tls" (tls_ca: the CA file, e.g. "/ca.pem")."""
    if transport == "tls" and port is _UNSET:
        try:
            if _current()["sip"]["port"] == 5060:
                port = 5061           # the saved file names every key: move to TLS's default port
        except _config.ConfigError:
            pass
    return _apply({"sip.registrar": registrar, "sip.user": user, "sip.password": password,
                   "sip.port": port, "sip.auth_user": auth_user, "sip.display_name": display_name,
                   "sip.expires": expires, "sip.local_port": local_port,
                   "sip.outbound_proxy": outbound_proxy, "sip.keepalive": keepalive,
                   "sip.transport": transport, "sip.tls_ca": tls_ca, "sip.tls_verify": tls_verify})


def calls(targets=_UNSET, ring_timeout=_UNSET, auto_answer=_UNSET, accept_from=_UNSET,
          call_waiting=_UNSET, max_duration=_UNSET, reject_code=_UNSET, no_answer_code=_UNSET,
          media_timeout=_UNSET):
    """Who the talk button calls (a URI or a list, tried in turn) and call policy;
    media_timeout: seconds without RTP/RTCP that end a connected call (0 = off)."""
    if isinstance(targets, str):
        targets = [targets]
    return _apply({"calls.targets": targets, "calls.ring_timeout": ring_timeout,
                   "calls.auto_answer": auto_answer, "calls.accept_from": accept_from,
                   "calls.call_waiting": call_waiting, "calls.max_duration": max_duration,
                   "calls.reject_code": reject_code, "calls.no_answer_code": no_answer_code,
                   "calls.media_timeout": media_timeout})


def door(pin=_UNSET, pulse_ms=_UNSET, max_attempts=_UNSET, lockout_s=_UNSET, require_secure=_UNSET):
    """DTMF PIN that opens the door ("" disables it) and the relay pulse length;
    require_secure: only digits from SRTP / SIP over TLS open (None: when media.srtp is on)."""
    return _apply({"door.pin": pin, "door.pulse_ms": pulse_ms,
                   "door.max_attempts": max_attempts, "door.lockout_s": lockout_s,
                   "door.require_secure": require_secure})


def media(codecs=_UNSET, ptime=_UNSET, rtp_port=_UNSET, srtp=_UNSET, srtp_over_udp=_UNSET):
    """Audio: setup.media(codecs=["G722", "PCMU", "PCMA"]) for HD voice first;
    srtp="off", "optional" or "mandatory" (SDES keys: with sip transport "tls")."""
    if isinstance(codecs, str):
        codecs = [codecs]
    return _apply({"media.codecs": codecs, "media.ptime": ptime, "media.rtp_port": rtp_port,
                   "media.srtp": srtp, "media.srtp_over_udp": srtp_over_udp})


def mqtt(broker=_UNSET, port=_UNSET, user=_UNSET, password=_UNSET, base_topic=_UNSET,
         discovery_prefix=_UNSET, allow_door=_UNSET, keepalive=_UNSET, tls=_UNSET, tls_ca=_UNSET):
    """Home Assistant over MQTT (broker "" turns it off); allow_door=True lets it open the door."""
    return _apply({"mqtt.broker": broker, "mqtt.port": port, "mqtt.user": user, "mqtt.password": password,
                   "mqtt.base_topic": base_topic, "mqtt.discovery_prefix": discovery_prefix,
                   "mqtt.allow_door": allow_door, "mqtt.keepalive": keepalive, "mqtt.tls": tls,
                   "mqtt.tls_ca": tls_ca})


def board(name):
    """Which boards/<name>.json describes this hardware."""
    from intercom.board import load_board, BoardError
    try:
        load_board(name, BOARD_DIRS)
    except BoardError as err:
        _say("refused: %s (nothing saved)" % err)
        return False
    return _apply({"board": name})


def trace(on=True):
    """Print every SIP message on the REPL (log_level "debug"), credentials masked."""
    return _apply({"log_level": "debug" if on else "info"})


def show():
    """Print the configuration, secrets masked."""
    try:
        cfg = _current()
    except _config.ConfigError as err:
        _say("the saved config is broken: %s" % err)
        return
    _say(_config.show(cfg))
    for line in _config.warnings(cfg):
        _say(line)


def reset():
    """Back to the defaults (the board name is kept, so the device still boots)."""
    try:
        name = _current()["board"]
    except _config.ConfigError:
        name = None
    cfg = _config.defaults()
    if name:
        cfg["board"] = name
    try:
        _config.save(cfg, CONFIG)
    except _config.ConfigError as err:
        _say("refused: %s" % err)
        return False
    _say("config reset to defaults (board %r kept); now setup.wifi(...) and setup.sip(...)" % cfg["board"])
    return True


def test(seconds=3):
    """Self-test: Wi-Fi, DNS, OPTIONS ping, one registration, a tone, a mic level meter.
    Each step prints PASS, FAIL or SKIP with the reason. Returns the number of failures."""
    from intercom.selftest import SelfTest
    try:
        cfg = _current()
    except _config.ConfigError as err:
        _say("FAIL config: %s" % err)
        return 1
    return SelfTest(cfg, BOARD_DIRS, _say, seconds).run()


_HELP = """setup.wifi(ssid, password)        Wi-Fi network
setup.sip(registrar=, user=, password=, port=, auth_user=, display_name=, expires=,
          local_port=, outbound_proxy=, keepalive=, transport=, tls_ca=, tls_verify=)
setup.calls(targets=, ring_timeout=, auto_answer=, accept_from=, call_waiting=,
            max_duration=, reject_code=, no_answer_code=, media_timeout=)
setup.door(pin=, pulse_ms=, max_attempts=, lockout_s=, require_secure=)
setup.media(codecs=, ptime=, rtp_port=, srtp=, srtp_over_udp=)
setup.mqtt(broker=, port=, user=, password=, base_topic=, discovery_prefix=, allow_door=,
           keepalive=, tls=, tls_ca=)  Home Assistant (broker "" = off)
setup.board(name)                 boards/<name>.json
setup.trace(on=True)              print SIP messages (credentials masked); False: stop
setup.show()                      the configuration, secrets masked
setup.test(seconds=3)             self-test: Wi-Fi, DNS, OPTIONS, REGISTER, tone, microphone
setup.reset()                     defaults (keeps the board)
setup.help()                      this list"""


def help():
    """Every setup function and its arguments (host_tests/test_setup_help.py keeps it complete)."""
    _say(_HELP)
