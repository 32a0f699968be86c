"""Wi-Fi station supervisor: connect, notice drops, reconnect with exponential backoff (pure; WLAN given)."""

from intercom.ticks import ticks_add, ticks_diff
from intercom.hal.buttons import hand_over

CONNECT_TIMEOUT_MS = 15000   # a connect attempt that has not got an IP by then failed
CHECK_EVERY_MS = 500         # how often isconnected() is asked while up
BACKOFF_MIN_MS = 1000
BACKOFF_MAX_MS = 60000

# network.STAT_* names on the esp32 port that mean "this attempt is over"
_FAILED = ("STAT_WRONG_PASSWORD", "STAT_NO_AP_FOUND", "STAT_CONNECT_FAIL",
           "STAT_BEACON_TIMEOUT", "STAT_ASSOC_FAIL", "STAT_HANDSHAKE_TIMEOUT")


class Station:
    """Keeps a network.WLAN station connected; reports changes as events.

    States: "off" (no SSID configured), "idle" (before start()), "down" (waiting for retry_at),
    "connecting" (connect() called at started), "up" (has an IP).
    Events: {"event": "wifi", "connected": bool, "ip": str or None,
    "reason": str}; the app re-registers on connected=True."""

    def __init__(self, network, wlan, ssid, password, log):
        self.wlan = wlan
        self.ssid = ssid
        self.password = password
        self.log = log
        cls = type(wlan)
        self.pm_none = getattr(cls, "PM_NONE", None)
        self.pm_default = getattr(cls, "PM_PERFORMANCE", None)
        self.failed = [getattr(network, name) for name in _FAILED if hasattr(network, name)]
        self.state = "off" if not ssid else "idle"
        self.retry_at = None
        self.started = 0
        self.checked = 0
        self.backoff = BACKOFF_MIN_MS
        self.ip = None
        self.attempts = 0
        self.events = []             # filled by transitions; take_events() hands it over
        self.handed = []             # the list handed out last time (reused: no allocation per loop)
        self.in_call = False

    def start(self, now):
        """Bring the interface up and start the first attempt."""
        self.wlan.active(True)
        if self.state == "off":
            self.log("warn", "wifi: no SSID configured; use setup.wifi(ssid, password)")
            return
        if self.wlan.isconnected():
            self._up(now, "already connected")
        else:
            self._connect(now)

    def service(self, now):
        state = self.state
        if state == "up":
            if ticks_diff(now, self.checked) >= CHECK_EVERY_MS:
                self.checked = now
                if not self.wlan.isconnected():
                    self._down(now, "link lost")
        elif state == "connecting":
            if self.wlan.isconnected():
                self._up(now, "connected")
            elif self.wlan.status() in self.failed:
                self._down(now, "connect failed (status %r)" % (self.wlan.status(),))
            elif ticks_diff(now, self.started) >= CONNECT_TIMEOUT_MS:
                self._down(now, "no IP after %d ms" % CONNECT_TIMEOUT_MS)
        elif state == "down" and ticks_diff(now, self.retry_at) >= 0:
            self._connect(now)

    def next_deadline(self):
        if self.state == "down":
            return self.retry_at
        if self.state == "connecting":
            return ticks_add(self.started, CHECK_EVERY_MS // 5)  # poll the link while connecting
        return None

    def set_in_call(self, in_call):
        """Power save off while a call is up (PM_NONE), the default otherwise."""
        self.in_call = in_call
        pm = self.pm_none if in_call else self.pm_default
        if pm is not None:
            try:
                self.wlan.config(pm=pm)
            except (ValueError, OSError) as err:
                self.log("warn", "wifi: cannot set power management: %r" % (err,))

    def take_events(self):
        """The wifi events since the last call: a list owned by Station, valid until the next call."""
        return hand_over(self)

    # --- transitions -----------------------------------------------------------
    def _connect(self, now):
        self.attempts += 1
        self.state = "connecting"
        self.started = now
        self.log("info", "wifi: connecting to %r (attempt %d)" % (self.ssid, self.attempts))
        try:
            self.wlan.connect(self.ssid, self.password)
        except OSError as err:
            self._down(now, "connect() raised %r" % (err,))

    def _up(self, now, reason):
        self.state = "up"
        self.checked = now
        self.backoff = BACKOFF_MIN_MS
        self.attempts = 0
        self.ip = self._address()
        self.set_in_call(self.in_call)        # a new association starts with the default
        self.log("info", "wifi: %s, ip %s" % (reason, self.ip))
        self.events.append({"event": "wifi", "connected": True, "ip": self.ip, "reason": reason})

    def _down(self, now, reason):
        was_up = self.state == "up"
        self.state = "down"
        self.retry_at = ticks_add(now, self.backoff)
        self.log("warn", "wifi: %s; retry in %d ms" % (reason, self.backoff))
        self.backoff = min(self.backoff * 2, BACKOFF_MAX_MS)
        try:
            self.wlan.disconnect()       # stop the driver's own retries; we pace them
        except OSError:
            pass
        if was_up:
            self.ip = None
            self.events.append({"event": "wifi", "connected": False, "ip": None, "reason": reason})

    def _address(self):
        try:
            return self.wlan.ipconfig("addr4")[0]       # MicroPython >= 1.24
        except (AttributeError, ValueError, TypeError, OSError):
            return self.wlan.ifconfig()[0]

    @property
    def connected(self):
        return self.state == "up"
