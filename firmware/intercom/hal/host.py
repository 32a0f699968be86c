"""Host board for the simulator: stdin commands in, JSON-lines events out, logs on stderr."""

import json
import sys

LEVELS = ("debug", "info", "warn", "error")


class HostBoard:
    """The `host` board: buttons are stdin commands, outputs are events.

    stdout carries one JSON object per line and nothing else; every log
    line goes to stderr."""

    max_step_ms = 0     # longest loop pass after its wait, set by the driver (memory())

    def __init__(self, description, log_level="info", stdin=None, stdout=None, stderr=None):
        self.description = description
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.min_level = LEVELS.index(log_level) if log_level in LEVELS else 1
        self.led = None
        self.relay = False
        self.input_open = True
        self.audio = None           # a HostAudio when the simulator has WAV files
        self.persisted = {}         # persist_save() records: key -> bytes
        self.errors = 0             # loop exceptions, set by the driver (memory())

    # --- driver interface ------------------------------------------------------
    def pollables(self):
        """Objects the driver polls for input (stdin while it is open)."""
        return [self.stdin] if self.input_open else []

    def owns(self, obj):
        return obj is self.stdin or obj == 0

    def read_command(self):
        """One command line, or None at end of input (which means quit)."""
        line = self.stdin.readline()
        if not line:
            self.input_open = False
            return None
        return line.strip()

    # --- outputs ------------------------------------------------------------------
    def emit(self, event):
        self.stdout.write(json.dumps(event) + "\n")
        flush = getattr(self.stdout, "flush", None)
        if flush:
            flush()

    def log(self, level, text):
        if LEVELS.index(level) >= self.min_level:
            self.stderr.write("[%s] %s\n" % (level, text))

    def set_led(self, pattern):
        if pattern != self.led:
            self.led = pattern
            self.log("debug", "led: " + pattern)

    def set_relay(self, on, pulse_ms=None):
        self.relay = on
        self.emit({"event": "relay", "on": bool(on)})

    def feed_watchdog(self):
        pass

    # --- the parts of the board interface that only real hardware uses ------------
    def service(self, now):
        pass

    def next_deadline(self):
        return None

    def take_button_events(self):
        return ()        # buttons arrive as stdin commands here

    def take_events(self):
        return ()

    def set_in_call(self, in_call):
        pass

    # --- state that survives a reset (the door lockout) -------------------------------
    # The device keeps it in RTC memory, which survives a watchdog or soft reset
    # but not a power cycle. A simulator process ending is a power cycle, so the
    # host board keeps it in memory only: a new HostBoard (a test's "reset")
    # may be handed the old one's `persisted` dict.
    def persist_load(self, key):
        """The bytes last saved under key, or None."""
        return self.persisted.get(key)

    def persist_save(self, key, data):
        """Keep data (bytes) under key until the process ends."""
        self.persisted[key] = bytes(data)

    def memory(self):
        """{"event": "memory", ...}: live heap (alloc, free) after a collection and
        micropython.mem_peak() (the unix port's running maximum) on MicroPython;
        nulls on CPython; `errors`: exceptions the loop caught and went on."""
        import gc
        gc.collect()
        report = {"event": "memory", "alloc": None, "free": None, "mem_peak": None, "errors": self.errors,
                  "max_step_ms": self.max_step_ms}
        if hasattr(gc, "mem_alloc"):
            report["alloc"] = gc.mem_alloc()
            report["free"] = gc.mem_free()
        try:
            import micropython
            report["mem_peak"] = micropython.mem_peak()
        except (ImportError, AttributeError):
            pass
        return report
