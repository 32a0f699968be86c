"""ESP32 board: buttons, LED, relay, watchdog, Wi-Fi, I2S audio from boards/<name>.json (sole machine/network user)."""

import machine
import network

from intercom.roles import roles_of_kind
from intercom.ticks import ticks_add, ticks_diff, earliest
from intercom.hal.buttons import Buttons
from intercom.hal.leds import Blinker
from intercom.hal.wifi import Station
from intercom.hal.i2s_audio import I2sAudio

try:
    from time import ticks_ms
except ImportError:                       # CPython with the fake machine module
    from intercom.netcompat import ticks_ms

LEVELS = ("debug", "info", "warn", "error")
WATCHDOG_MS = 10000
RELAY_MAX_ON_MS = 10000                  # a relay never stays on longer, whatever the app does
RTC_MAGIC = b"IC\x01"                    # our layout of RTC memory, version 1
RTC_MAX = 2048                           # RTC.memory() capacity on the esp32 port


class Esp32Board:
    """The board interface of hal/host.py, on real pins.

    Inputs arrive through IRQs and are resolved in service(now); outputs
    are GPIO writes. The driver calls service(now) every loop and
    take_button_events()/take_events() to hand inputs to the app."""

    def __init__(self, description, cfg, log_level="info", clock=None, printer=print):
        self.description = description
        self.cfg = cfg
        self.clock = clock or ticks_ms
        self.printer = printer
        self.min_level = LEVELS.index(log_level) if log_level in LEVELS else 1
        roles = description["roles"]
        caps = description.get("capabilities", {})
        self.one_button = bool(caps.get("one_button"))
        self.half_duplex = bool(caps.get("half_duplex"))
        # buttons: the IRQ handler only stores the edge tick (see Buttons.irq)
        names = roles_of_kind(description, "button")
        specs = [roles[n] for n in names]
        pins = [self._input_pin(spec) for spec in specs]
        self.buttons = Buttons(names, pins, specs, self.clock)
        for i, pin in enumerate(pins):
            pin.irq(handler=self.buttons.handler(i), trigger=machine.Pin.IRQ_FALLING | machine.Pin.IRQ_RISING)
        self.button_pins = pins
        # status LED: a GPIO or one SK6812/WS2812 pixel
        self.led_spec = roles.get("led")
        self.led_pin = None
        self.pixel = None
        if self.led_spec is not None:
            self.led_pin = machine.Pin(self.led_spec["pin"], machine.Pin.OUT,
                                       value=1 if self.led_spec.get("active_low") else 0)
            if self.led_spec.get("type") == "neopixel":
                import neopixel
                self.pixel = neopixel.NeoPixel(self.led_pin, 1)
        self.blinker = Blinker(self._write_led)
        self.led = None
        # door relay, released at boot
        self.relay_spec = roles.get("relay")
        self.relay_pin = None
        self.relay = False
        self.relay_off_at = None
        self.relay_pulse = False
        if self.relay_spec is not None:
            self.relay_pin = machine.Pin(self.relay_spec["pin"], machine.Pin.OUT,
                                         value=self._relay_level(False))
        # audio
        mic, spk = roles.get("mic"), roles.get("speaker")
        self.audio = None
        if mic is not None or spk is not None:
            self.audio = I2sAudio(machine.I2S, machine.Pin, mic, spk, self.half_duplex, self.log)
        # Wi-Fi and watchdog are started by start()
        wifi = cfg.get("wifi", {})
        self.wlan = network.WLAN(network.STA_IF)
        self.station = Station(network, self.wlan, wifi.get("ssid", ""), wifi.get("password", ""), self.log)
        self.watchdog_ms = caps.get("watchdog_ms", WATCHDOG_MS)
        self.wdt = None
        self.events = []
        self.errors = 0              # loop exceptions, set by the driver (memory())
        self.max_step_ms = 0        # longest loop pass after its wait, set by the driver (memory())
        self.rtc = machine.RTC()     # persist_load/persist_save

    def _input_pin(self, spec):
        pull = {"up": machine.Pin.PULL_UP, "down": machine.Pin.PULL_DOWN}.get(spec.get("pull"))
        if pull is None:
            return machine.Pin(spec["pin"], machine.Pin.IN)   # e.g. GPIO 34-39: no internal pulls
        return machine.Pin(spec["pin"], machine.Pin.IN, pull)

    def start(self, now, watchdog=True):
        """Start Wi-Fi and (unless watchdog=False, e.g. for setup.test) the watchdog."""
        self.set_led("booting")
        self.station.start(now)
        if watchdog:
            self.wdt = machine.WDT(timeout=self.watchdog_ms)

    # --- driver interface -----------------------------------------------------------
    def pollables(self):
        return []

    def owns(self, obj):
        return False

    def read_command(self):
        return None

    def service(self, now):
        """Periodic work: LED phase, relay safety stop, Wi-Fi supervision, button resolution."""
        self.blinker.service(now)
        if self.relay_off_at is not None and ticks_diff(now, self.relay_off_at) >= 0:
            self.log("info" if self.relay_pulse else "warn",
                     "relay: pulse ended" if self.relay_pulse else "relay: on too long; released")
            self.set_relay(False)
        self.station.service(now)
        self.buttons.poll(now)

    def next_deadline(self):
        """The earliest tick at which service() has something to do, or None."""
        best = earliest(self.blinker.next_deadline(), self.relay_off_at, self.clock())
        best = earliest(best, self.station.next_deadline(), self.clock())
        return earliest(best, self.buttons.next_deadline(), self.clock())

    def take_button_events(self):
        """[(role, action)] with action in press, release, click, long; debounced."""
        return self.buttons.take(self.clock())

    def take_events(self):
        """Board events for the app, e.g. {"event": "wifi", "connected": True, "ip": ...}.
        The list is the board's own: valid until the next call (no allocation
        per loop when there is nothing to report)."""
        if not self.events:
            return self.station.take_events()
        out = self.events + self.station.take_events()     # rare: allocates
        self.events = []
        return out

    def feed_watchdog(self):
        if self.wdt is not None:
            self.wdt.feed()

    def memory(self):
        """{"event": "memory", ...}: heap after a collection and the loop's error count."""
        import gc
        gc.collect()
        report = {"event": "memory", "alloc": None, "free": None, "mem_peak": None, "errors": self.errors,
                  "max_step_ms": self.max_step_ms}
        if hasattr(gc, "mem_alloc"):                 # not on CPython with the fake machine
            report["alloc"] = gc.mem_alloc()
            report["free"] = gc.mem_free()
        return report

    # --- state that survives a reset: RTC memory ---------------------------------------
    # RTC.memory() keeps its bytes across a watchdog, soft or deep-sleep reset
    # and machine.reset() (the esp32 port puts it in RTC_NOINIT memory unless
    # a board sets MICROPY_HW_RTC_MEM_INIT_ALWAYS), not across a power cycle,
    # and returns b"" when it holds nothing valid. Our
    # layout: RTC_MAGIC, then records (key length, key, data length, data),
    # then a 16-bit checksum. Anything else there (another program's bytes)
    # reads as no records. This board owns the whole of RTC memory.
    def persist_load(self, key):
        """The bytes last saved under key before this boot (or since), or None."""
        return rtc_unpack(self.rtc.memory()).get(key)

    def persist_save(self, key, data):
        """Save data (at most 255 bytes) under key in RTC memory."""
        records = rtc_unpack(self.rtc.memory())
        records[key] = bytes(data)
        self.rtc.memory(rtc_pack(records))

    def set_in_call(self, in_call):
        """Wi-Fi power save off during calls (PM_NONE); half-duplex boards
        start each call on the speaker (mic muted until push to talk).
        I2S follows set_audio, not this: it also runs outside calls."""
        self.station.set_in_call(in_call)
        if self.audio is not None and in_call and self.half_duplex:
            self.audio.set_talking("speaker")

    def set_audio(self, speaker, mic):
        """The app's audio started or stopped (AudioControl._sync_device): the
        speaker plays whenever it runs (ring, ringback, early media, busy and
        error tones, calls); the microphone runs only while media is sent, so
        a ringing or held door captures nothing it does not send."""
        if self.audio is not None:
            self.audio.set_streams(speaker, mic)

    # --- outputs ----------------------------------------------------------------------
    def emit(self, event):
        """Events are log lines on the REPL; the LED/relay reactions come from the app."""
        if event.get("event") == "relay":
            return
        self.log("info", "event " + " ".join(["%s=%s" % (k, event[k]) for k in sorted(event)]))

    def log(self, level, text):
        if LEVELS.index(level) >= self.min_level:
            self.printer("[%s] %s" % (level, text))

    def set_led(self, pattern):
        if pattern != self.led:
            self.led = pattern
            self.blinker.set(pattern, self.clock())

    def _write_led(self, on, rgb):
        if self.pixel is not None:
            self.pixel[0] = rgb
            self.pixel.write()
        elif self.led_pin is not None:
            self.led_pin.value((0 if on else 1) if self.led_spec.get("active_low") else (1 if on else 0))

    def set_relay(self, on, pulse_ms=None):
        """Energize or release the door relay. on=True without pulse_ms waits for
        set_relay(False) from the app, but never longer than max_on_ms."""
        on = bool(on)
        if self.relay_pin is None:
            self.log("warn", "relay: this board has no relay role")
            return
        self.relay = on
        self.relay_pin.value(self._relay_level(on))
        self.relay_pulse = on and pulse_ms is not None
        if on:
            limit = self.relay_spec.get("max_on_ms", RELAY_MAX_ON_MS)
            self.relay_off_at = ticks_add(self.clock(), min(pulse_ms or limit, limit))
        else:
            self.relay_off_at = None
        self.log("info", "relay %s" % ("on" if on else "off"))

    def _relay_level(self, on):
        active_low = self.relay_spec.get("active_low", False)
        return (0 if on else 1) if active_low else (1 if on else 0)

    def close(self):
        """Release outputs and audio (e.g. before dropping to the REPL)."""
        if self.audio is not None:
            self.audio.stop()
        if self.relay_pin is not None:
            self.set_relay(False)
        for pin in self.button_pins:
            pin.irq(handler=None)


def _checksum(data, n):
    a = b = 0
    for i in range(n):                   # Fletcher-16: catches reordering, not only flips
        a = (a + data[i]) % 255
        b = (b + a) % 255
    return bytes((a, b))


def rtc_pack(records):
    """RTC memory bytes for {key: bytes}; ValueError if a record or the whole is too long."""
    out = bytearray(RTC_MAGIC)
    for key in sorted(records):
        k = key.encode()
        v = records[key]
        if len(k) > 255 or len(v) > 255:
            raise ValueError("RTC record %r too long" % key)
        out.append(len(k))
        out.extend(k)
        out.append(len(v))
        out.extend(v)
    out.extend(_checksum(out, len(out)))
    if len(out) > RTC_MAX:
        raise ValueError("RTC memory holds %d bytes, not %d" % (RTC_MAX, len(out)))
    return bytes(out)


def rtc_unpack(data):
    """{key: bytes} from RTC memory bytes; {} for anything not written by rtc_pack."""
    n = len(data)
    if n < len(RTC_MAGIC) + 2 or data[:len(RTC_MAGIC)] != RTC_MAGIC or _checksum(data, n - 2) != data[n - 2:]:
        return {}
    records = {}
    i = len(RTC_MAGIC)
    end = n - 2
    while i < end:
        kn = data[i]
        j = i + 1 + kn
        if j >= end or j + 1 + data[j] > end:
            return {}
        try:
            key = bytes(data[i + 1:j]).decode()
        except UnicodeError:
            return {}
        records[key] = bytes(data[j + 1:j + 1 + data[j]])
        i = j + 1 + data[j]
    return records


def boot(cfg, description, log=None, clock=None, printer=print, wait_ms=20000, watchdog=True, sleep_ms=None):
    """Create the board, start Wi-Fi and the watchdog, and wait (feeding it) up
    to wait_ms for an IP address. Returns the board; board.station.ip is the
    local address to bind SIP/RTP to (None if Wi-Fi is not up yet: the app
    registers when the wifi event arrives)."""
    board = Esp32Board(description, cfg, cfg.get("log_level", "info"), clock, printer)
    if log is not None:
        board.log = log
        board.station.log = log
    now = board.clock()
    board.start(now, watchdog)
    start = now
    while not board.station.connected and ticks_diff(now, start) < wait_ms and board.station.state != "off":
        board.service(now)
        board.feed_watchdog()
        (sleep_ms or _sleep_ms)(50)
        now = board.clock()
    return board


def _sleep_ms(ms):
    import time
    if hasattr(time, "sleep_ms"):
        time.sleep_ms(ms)
    else:
        time.sleep(ms / 1000)       # CPython tests only
