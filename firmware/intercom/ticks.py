"""Wrap-safe millisecond arithmetic with MicroPython's ticks semantics (pure, no clock)."""

# time.ticks_ms() on every MicroPython port counts modulo 2**30 so that values
# stay small ints (31-bit on ESP32). The core only ever stores such values and
# compares them with ticks_diff, so a counter wrap (every ~12.4 days) is harmless
# as long as deadlines lie within +-2**29 ms (~6.2 days) of now.
TICKS_PERIOD = 1 << 30
TICKS_MAX = TICKS_PERIOD - 1
_HALF = TICKS_PERIOD >> 1


def ticks_add(ticks, delta):
    """ticks + delta, wrapped into [0, TICKS_PERIOD)."""
    return (ticks + delta) & TICKS_MAX


def ticks_diff(end, start):
    """Signed distance end - start in ms, correct across one wrap."""
    return ((end - start + _HALF) & TICKS_MAX) - _HALF


def earliest(a, b, now):
    """The sooner of two deadlines (either may be None) as seen from now."""
    if a is None:
        return b
    if b is None:
        return a
    return a if ticks_diff(a, now) <= ticks_diff(b, now) else b
