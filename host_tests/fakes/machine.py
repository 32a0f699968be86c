"""Fake `machine` for host tests: Pin, I2S, WDT, Timer, RTC with MicroPython's documented signatures, plus test hooks.

Runs under CPython and the MicroPython unix port (put this folder first on the
path: it shadows the unix port's own `machine`). Hooks start with `fake_`.
Callbacks that MicroPython runs from the scheduler (I2S.irq, soft Pin.irq
in the esp32 port are scheduled too) are queued here and run by
fake_run_scheduled(), the way the VM runs them between bytecodes.

Like the hardware, the fakes allocate nothing in the steady state (so a
heap_lock() proof over them measures the firmware): the scheduler queue is a
fixed ring of MICROPY_SCHEDULER_DEPTH slots, a paced microphone source
(fake_i2s_source) loops a preallocated pattern, and the speaker capture can
be switched to counting (fake_i2s_capture). fake_i2s_feed and the default
capture allocate, for tests that read back every byte.
"""

SCHEDULER_DEPTH = 4          # MICROPY_SCHEDULER_DEPTH (py/mpconfig.h default)
_sched_fn = [None] * SCHEDULER_DEPTH
_sched_arg = [None] * SCHEDULER_DEPTH
_sched = [0, 0]              # head index, queued count
_pins = {}          # GPIO number -> _PinState
_i2s_active = {}    # I2S id -> the live I2S object
_i2s_rx = {}        # I2S id -> bytearray of microphone bytes not yet read
_i2s_tx = {}        # I2S id -> bytearray of everything written to the speaker
_i2s_src = {}       # I2S id -> [pattern, position, clock or None, due tick] (fake_i2s_source)
_i2s_capture = {}   # I2S id -> False when writes are only counted (fake_i2s_capture)
_i2s_written = {}   # I2S id -> [bytes written, peak |sample| of 16-bit writes]
_rtc_memory = [b""]         # RTC.memory(): survives fake_reset(power=False)
stats = {"i2s_bus_conflicts": 0, "wdt_feeds": 0, "resets": 0, "sched_dropped": 0}
wdts = []
RTC_MEMORY_MAX = 2048       # MICROPY_HW_RTC_USER_MEM_MAX on the esp32 port


def fake_reset(power=True):
    """Forget every pin, peripheral and queued callback (call at test start).

    power=True is a power cycle: RTC memory is lost too. power=False is a
    watchdog or soft reset: RTC memory keeps its bytes, as on the ESP32."""
    if power:
        _rtc_memory[0] = b""
    for i in range(SCHEDULER_DEPTH):
        _sched_fn[i] = _sched_arg[i] = None
    _sched[0] = _sched[1] = 0
    _pins.clear()
    _i2s_active.clear()
    _i2s_rx.clear()
    _i2s_tx.clear()
    _i2s_src.clear()
    _i2s_capture.clear()
    _i2s_written.clear()
    del wdts[:]
    for key in stats:
        stats[key] = 0


def fake_run_scheduled():
    """Let the hardware move (paced microphone sources complete their reads
    when their time has come), then run queued scheduler callbacks (those
    they queue run too); returns how many ran. Allocation-free."""
    for i2s_id in (0, 1):
        dev = _i2s_active.get(i2s_id)
        if dev is not None:
            dev._try_fill()
    n = 0
    while _sched[1]:
        head = _sched[0]
        fn = _sched_fn[head]
        arg = _sched_arg[head]
        _sched_fn[head] = _sched_arg[head] = None
        _sched[0] = (head + 1) % SCHEDULER_DEPTH
        _sched[1] -= 1
        fn(arg)
        n += 1
    return n


def _schedule(fn, arg):
    # mp_sched_schedule(): a full queue drops the callback (returns false)
    if _sched[1] >= SCHEDULER_DEPTH:
        stats["sched_dropped"] += 1
        return False
    tail = (_sched[0] + _sched[1]) % SCHEDULER_DEPTH
    _sched_fn[tail] = fn
    _sched_arg[tail] = arg
    _sched[1] += 1
    return True


# --- Pin ---------------------------------------------------------------------------------
class _PinState:
    def __init__(self, gpio):
        self.gpio = gpio
        self.mode = -1
        self.pull = None
        self.level = 1            # floating inputs read high (boards pull buttons up)
        self.handler = None
        self.trigger = 0
        self.hard = False
        self.writes = []          # every level written by the firmware


def fake_pin(gpio):
    """The state behind GPIO gpio: .level, .mode, .pull, .writes, .handler."""
    if gpio not in _pins:
        _pins[gpio] = _PinState(gpio)
    return _pins[gpio]


def fake_set_level(gpio, level):
    """Drive an input from outside (a button); fires the IRQ on a matching edge."""
    st = fake_pin(gpio)
    old, st.level = st.level, 1 if level else 0
    if old == st.level or st.handler is None:
        return
    edge = Pin.IRQ_RISING if st.level else Pin.IRQ_FALLING
    if st.trigger & edge:
        pin = Pin(gpio)
        if st.hard:
            st.handler(pin)                 # runs inside the interrupt
        else:
            _schedule(st.handler, pin)      # soft IRQ: the scheduler runs it next
            fake_run_scheduled()


class Pin:
    """machine.Pin(id, mode=-1, pull=-1, *, value=None, drive=0, alt=-1)."""
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2
    WAKE_LOW = 4
    WAKE_HIGH = 5
    DRIVE_0 = 0
    DRIVE_1 = 1
    DRIVE_2 = 2
    DRIVE_3 = 3

    def __init__(self, id, mode=-1, pull=-1, *, value=None, drive=-1, alt=-1):
        if not isinstance(id, int) or not 0 <= id <= 48:
            raise ValueError("invalid pin")
        self.id = id
        self._st = fake_pin(id)
        self.init(mode, pull, value=value, drive=drive, alt=alt)

    def init(self, mode=-1, pull=-1, *, value=None, drive=-1, alt=-1):
        st = self._st
        if mode != -1:
            if mode not in (Pin.IN, Pin.OUT, Pin.OPEN_DRAIN):
                raise ValueError("invalid pin mode")
            if mode == Pin.OUT and 34 <= self.id <= 39:
                raise ValueError("pin can only be input")   # ESP32 GPIO 34-39
            st.mode = mode
        if pull != -1:
            if pull not in (None, Pin.PULL_UP, Pin.PULL_DOWN):
                raise ValueError("invalid pull")
            st.pull = pull
            if pull == Pin.PULL_UP:
                st.level = 1
            elif pull == Pin.PULL_DOWN:
                st.level = 0
        if value is not None:
            self.value(value)

    def value(self, *args):
        if not args:
            return self._st.level
        self._st.level = 1 if args[0] else 0
        self._st.writes.append(self._st.level)
        return None

    def __call__(self, *args):
        return self.value(*args)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=3, *, priority=1, wake=None, hard=False):
        st = self._st
        st.handler = handler
        st.trigger = trigger
        st.hard = hard
        return None

    def __repr__(self):
        return "Pin(%d)" % self.id


# --- I2S -------------------------------------------------------------------------------------
def fake_i2s_feed(i2s_id, data):
    """Queue microphone bytes (as the DMA would deliver them) on I2S i2s_id."""
    buf = _i2s_rx.setdefault(i2s_id, bytearray())
    buf.extend(data)
    dev = _i2s_active.get(i2s_id)
    if dev is not None:
        dev._try_fill()


def fake_i2s_sent(i2s_id):
    """Every byte written to I2S i2s_id so far (a bytearray, cleared by fake_reset)."""
    return _i2s_tx.setdefault(i2s_id, bytearray())


def fake_i2s_source(i2s_id, pattern, clock=None):
    """A microphone that loops `pattern` (bytes) on I2S i2s_id without
    allocating. With clock (a ticks_ms callable) a read completes only when
    the buffer's duration at the device's rate has passed, like the DMA;
    without it at once. fake_run_scheduled() completes due reads."""
    if not pattern:
        raise ValueError("empty microphone pattern")
    _i2s_src[i2s_id] = [pattern, 0, clock, None]


def fake_i2s_capture(i2s_id, keep):
    """keep=False: writes to I2S i2s_id are only counted (fake_i2s_written),
    not kept, so the speaker path allocates nothing; keep=True (the default)
    keeps every byte for fake_i2s_sent."""
    _i2s_capture[i2s_id] = bool(keep)


def fake_i2s_written(i2s_id):
    """(bytes written to I2S i2s_id, peak |sample| of its 16-bit writes)."""
    w = _i2s_written.get(i2s_id)
    return (w[0], w[1]) if w is not None else (0, 0)


def _ticks_diff(a, b):
    return ((a - b + (1 << 29)) & ((1 << 30) - 1)) - (1 << 29)


def fake_i2s_active(i2s_id):
    return _i2s_active.get(i2s_id)


class I2S:
    """machine.I2S(id, *, sck, ws, sd, mck=None, mode, bits, format, rate, ibuf)."""
    RX = 5
    TX = 3
    MONO = 0
    STEREO = 1

    def __init__(self, id, *, sck, ws, sd, mck=None, mode, bits, format, rate, ibuf):
        if id not in (0, 1):
            raise ValueError("invalid id")
        for pin in (sck, ws, sd):
            if not isinstance(pin, Pin):
                raise TypeError("sck, ws and sd must be Pin objects")
        if mode not in (I2S.RX, I2S.TX, getattr(I2S, "PDM_RX", I2S.RX)):
            raise ValueError("invalid mode")
        if bits not in (16, 32):
            raise ValueError("invalid bits")
        if format not in (I2S.MONO, I2S.STEREO):
            raise ValueError("invalid format")
        if not isinstance(rate, int) or rate <= 0 or not isinstance(ibuf, int) or ibuf <= 0:
            raise ValueError("invalid rate or ibuf")
        if id in _i2s_active:
            stats["i2s_bus_conflicts"] += 1     # the port would silently deinit the old one
            _i2s_active[id].deinit()
        self.id = id
        self.mode = mode
        self.bits = bits
        self.format = format
        self.rate = rate
        self.ibuf = ibuf
        self.pins = (sck.id, ws.id, sd.id)
        self.callback = None
        self.pending = None
        self.live = True
        self._written_cb = self._written     # bound once: scheduling it allocates nothing
        _i2s_active[id] = self

    def init(self, **kw):
        raise NotImplementedError("the firmware re-creates I2S objects instead")

    def deinit(self):
        self.live = False
        self.pending = None
        if _i2s_active.get(self.id) is self:
            del _i2s_active[self.id]

    def irq(self, handler):
        """Setting a callback makes readinto()/write() non-blocking."""
        self.callback = handler

    def readinto(self, buf):
        if not self.live or self.mode == I2S.TX:
            raise OSError("I2S not set up for reading")
        if self.callback is None:
            data = _i2s_rx.setdefault(self.id, bytearray())
            if len(data) < len(buf):
                raise OSError("fake I2S: a blocking read would wait for data that never comes")
            self._copy(buf)
            return len(buf)
        if self.pending is not None:
            raise OSError("fake I2S: readinto() while a non-blocking read is in progress")
        self.pending = buf
        self._try_fill()
        return 0

    def _copy(self, buf):
        data = _i2s_rx[self.id]
        n = len(buf)
        buf[:] = data[:n]
        _i2s_rx[self.id] = data[n:]     # MicroPython bytearrays have no slice deletion

    def _try_fill(self):
        if self.pending is None or self.mode == I2S.TX:
            return
        src = _i2s_src.get(self.id)
        if src is not None:
            self._fill_from(src)
            return
        data = _i2s_rx.get(self.id)
        if data is not None and len(data) >= len(self.pending):
            self._copy(self.pending)
            self.pending = None
            _schedule(self.callback, self)

    def _fill_from(self, src):
        # the looping source: no allocation (small ints, item copies)
        buf = self.pending
        n = len(buf)
        clock = src[2]
        if clock is not None:
            now = clock()
            frame_ms = n * 1000 // (self.rate * (self.bits // 8) * (2 if self.format == I2S.STEREO else 1))
            if src[3] is None:
                src[3] = (now + frame_ms) & ((1 << 30) - 1)     # the DMA starts with this read
            if _ticks_diff(now, src[3]) < 0:
                return                  # the frame is still being recorded
            due = (src[3] + frame_ms) & ((1 << 30) - 1)          # drift-free, like a sample clock
            if _ticks_diff(due, now) < -200:
                due = (now + frame_ms) & ((1 << 30) - 1)         # far behind (closed a while): resync
            src[3] = due
        pattern = src[0]
        pos = src[1]
        size = len(pattern)
        for i in range(n):
            buf[i] = pattern[pos]
            pos += 1
            if pos == size:
                pos = 0
        src[1] = pos
        self.pending = None
        _schedule(self.callback, self)

    def write(self, buf):
        if not self.live or self.mode != I2S.TX:
            raise OSError("I2S not set up for writing")
        if self.callback is not None and self.pending is not None:
            raise OSError("fake I2S: write() while a non-blocking write is in progress")
        self._count(buf)
        if _i2s_capture.get(self.id, True):
            fake_i2s_sent(self.id).extend(bytes(buf))
        if self.callback is None:
            return len(buf)
        self.pending = buf
        _schedule(self._written_cb, self)
        return 0

    def _count(self, buf):
        w = _i2s_written.get(self.id)
        if w is None:
            w = _i2s_written[self.id] = [0, 0]
        n = len(buf)
        w[0] += n
        if self.bits == 16:
            peak = w[1]
            for i in range(0, n - 1, 2):
                v = buf[i] | (buf[i + 1] << 8)
                if v & 0x8000:
                    v = 65536 - v
                if v > peak:
                    peak = v
            w[1] = peak

    def _written(self, _arg):
        self.pending = None
        if self.live and self.callback is not None:
            self.callback(self)

    @staticmethod
    def shift(*, buf, bits, shift):
        width = bits // 8
        for i in range(0, len(buf), width):
            v = int.from_bytes(bytes(buf[i:i + width]), "little")
            if v >= 1 << (bits - 1):
                v -= 1 << bits
            v = (v << shift) if shift >= 0 else (v >> -shift)
            buf[i:i + width] = (v & ((1 << bits) - 1)).to_bytes(width, "little")


# --- WDT, Timer and the rest ------------------------------------------------------------
class WDT:
    """machine.WDT(id=0, timeout=5000): cannot be stopped once started."""

    def __init__(self, id=0, timeout=5000):
        if timeout < 1:
            raise ValueError("timeout too small")
        self.timeout = timeout
        self.feeds = 0
        wdts.append(self)

    def feed(self):
        self.feeds += 1
        stats["wdt_feeds"] += 1


class Timer:
    """machine.Timer(id, mode=Timer.PERIODIC, period=-1, callback=None); fake_fire() runs it."""
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=-1, mode=1, period=-1, callback=None, freq=-1):
        self.id = id
        self.callback = None
        self.init(mode=mode, period=period, callback=callback, freq=freq)

    def init(self, *, mode=1, period=-1, callback=None, freq=-1):
        self.mode = mode
        self.period = period
        self.callback = callback

    def deinit(self):
        self.callback = None

    def fake_fire(self):
        cb = self.callback
        if cb is not None:
            if self.mode == Timer.ONE_SHOT:
                self.callback = None
            cb(self)


class RTC:
    """machine.RTC() as the esp32 port has it (no arguments; one RTC): init(datetime),
    datetime([datetimetuple]) (a stub) and memory([data]), kept across
    fake_reset(power=False) like the port's RTC_NOINIT user memory."""

    def __init__(self):
        pass

    def init(self, datetime):
        self._datetime = tuple(datetime)

    def datetime(self, *args):
        if args:
            self.init(args[0])
            return None
        return getattr(self, "_datetime", (2000, 1, 1, 5, 0, 0, 0, 0))

    def memory(self, *args):
        """RTC.memory([data]): with data (bytes-like) store it, without return
        what is stored (b"" when nothing is)."""
        if len(args) > 1:
            raise TypeError("function takes 1 or 2 positional arguments")
        if not args:
            return _rtc_memory[0]
        data = args[0]
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("object with buffer protocol required")
        if len(data) > RTC_MEMORY_MAX:
            raise ValueError("buffer too long")
        _rtc_memory[0] = bytes(data)
        return None


def reset():
    stats["resets"] += 1
    raise SystemExit("machine.reset()")


def unique_id():
    return b"\x24\x0a\xc4\x00\x00\x01"


def freq(*args):
    return 240000000
