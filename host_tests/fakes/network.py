"""Fake `network` for host tests: WLAN with MicroPython's documented signatures and scripted connects/drops.

Hooks start with `fake_`. Each connect() takes the next scripted outcome
("ok", "wrong_password", "no_ap", "timeout"); with an empty script it
succeeds. An "ok" connect gets its IP on the first isconnected()/status()
call after connect(), like a real association that completes shortly after.
"""

STA_IF = 0
AP_IF = 1
# esp32 port values (wifi_err_reason_t / custom codes)
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_BEACON_TIMEOUT = 200
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_ASSOC_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204

_script = []
_wlans = {}
log = []            # ("connect", ssid, key) / ("disconnect",) / ("pm", value) / ("active", bool)


def fake_reset():
    del _script[:]
    del log[:]
    _wlans.clear()


def fake_script(*outcomes):
    """Outcomes for the next connect() calls, in order."""
    for o in outcomes:
        if o not in ("ok", "wrong_password", "no_ap", "timeout"):
            raise ValueError("unknown outcome %r" % (o,))
        _script.append(o)


def fake_drop(interface_id=STA_IF):
    """The access point goes away: the link drops."""
    w = _wlans.get(interface_id)
    if w is not None:
        w._connected = False
        w._status = STAT_BEACON_TIMEOUT


class WLAN:
    """network.WLAN(interface_id): one object per interface, as on the device."""
    PM_NONE = 0
    PM_PERFORMANCE = 1
    PM_POWERSAVE = 2
    IF_STA = STA_IF
    IF_AP = AP_IF

    def __new__(cls, interface_id=STA_IF):
        if interface_id not in (STA_IF, AP_IF):
            raise ValueError("invalid WLAN interface identifier")
        w = _wlans.get(interface_id)
        if w is None:
            w = object.__new__(cls)
            w._setup(interface_id)
            _wlans[interface_id] = w
        return w

    def __init__(self, interface_id=STA_IF):
        pass

    def _setup(self, interface_id):
        self.interface_id = interface_id
        self._active = False
        self._connected = False
        self._pending = None
        self._status = STAT_IDLE
        self._pm = WLAN.PM_PERFORMANCE
        self._ip = "192.168.1.50"
        self.fake_ip_next = "192.168.1.50"

    def active(self, *args):
        if not args:
            return self._active
        self._active = bool(args[0])
        log.append(("active", self._active))
        return None

    def connect(self, ssid=None, key=None, *, bssid=None):
        if not self._active:
            raise OSError("Wifi Not Started")
        log.append(("connect", ssid, key))
        self._connected = False
        self._pending = _script.pop(0) if _script else "ok"
        self._status = STAT_CONNECTING

    def disconnect(self):
        log.append(("disconnect",))
        self._connected = False
        self._pending = None
        self._status = STAT_IDLE

    def _progress(self):
        outcome, self._pending = self._pending, None
        if outcome is None:
            return
        if outcome == "ok":
            self._connected = True
            self._ip = self.fake_ip_next
            self._status = STAT_GOT_IP
        elif outcome == "wrong_password":
            self._status = STAT_WRONG_PASSWORD
        elif outcome == "no_ap":
            self._status = STAT_NO_AP_FOUND
        else:
            self._pending = "timeout"        # stays connecting for ever
            self._status = STAT_CONNECTING

    def isconnected(self):
        self._progress()
        return self._connected

    def status(self, *args):
        if args:
            if args[0] == "rssi":
                return -55
            raise ValueError("unknown status param")
        self._progress()
        return self._status

    def ifconfig(self, *args):
        if args:
            self._ip = args[0][0]
            return None
        ip = self._ip if self._connected else "0.0.0.0"
        return (ip, "255.255.255.0", "192.168.1.1", "192.168.1.1")

    def ipconfig(self, *args, **kw):
        if kw:
            return None
        if len(args) != 1:
            raise TypeError("ipconfig takes one parameter name")
        if args[0] == "addr4":
            return (self._ip if self._connected else "0.0.0.0", "255.255.255.0")
        if args[0] == "gw4":
            return "192.168.1.1"
        raise ValueError("unexpected key")

    def config(self, *args, **kw):
        if args and kw:
            raise TypeError("either query or set")
        if args:
            key = args[0]
            if key == "pm":
                return self._pm
            if key == "mac":
                return b"\x24\x0a\xc4\x00\x00\x01"
            if key in ("ssid", "essid"):
                return ""
            raise ValueError("unknown config param")
        for key, value in kw.items():
            if key == "pm":
                if value not in (WLAN.PM_NONE, WLAN.PM_PERFORMANCE, WLAN.PM_POWERSAVE):
                    raise ValueError("invalid pm")
                self._pm = value
                log.append(("pm", value))
            elif key not in ("reconnects", "txpower", "hostname", "dhcp_hostname"):
                raise ValueError("unknown config param")
        return None

    def scan(self):
        return []
