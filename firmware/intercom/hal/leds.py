"""Status LED patterns: timing tables and a blinker driven by service(now) (pure, integer ms)."""

from intercom.ticks import ticks_add, ticks_diff

# pattern -> (RGB colour for RGB LEDs, on/off durations in ms, alternating,
# starting with "on"). () means steady on; (0,) means steady off.
PATTERNS = {
    "booting":        ((40, 24, 0), (100, 100)),              # fast amber flicker
    "not_registered": ((40, 0, 0), (500, 1500)),              # slow red blink
    "registered":     ((0, 24, 0), (60, 2940)),               # green heartbeat
    "ringing":        ((0, 0, 48), (120, 120, 120, 640)),     # blue double flash
    "in_call":        ((0, 40, 0), ()),                       # steady green
    "error":          ((48, 0, 0), (60, 60)),                 # very fast red
    "off":            ((0, 0, 0), (0,)),
}
BLACK = (0, 0, 0)


class Blinker:
    """Plays one pattern from PATTERNS on write(on, rgb).

    write is called only on changes; service(now) advances the phase."""

    def __init__(self, write):
        self.write = write
        self.pattern = None
        self.steps = ()
        self.colour = BLACK
        self.index = 0
        self.lit = None
        self.next_at = None

    def set(self, pattern, now):
        """Switch to pattern (unknown names raise ValueError); restarts its cycle."""
        if pattern not in PATTERNS:
            raise ValueError("unknown LED pattern %r; known: %s" % (pattern, ", ".join(sorted(PATTERNS))))
        if pattern == self.pattern:
            return
        self.pattern = pattern
        self.colour, self.steps = PATTERNS[pattern]
        self.index = 0
        self.lit = None              # the colour may differ: always write once
        if not self.steps:
            self._show(True)
            self.next_at = None
        elif self.steps == (0,):
            self._show(False)
            self.next_at = None
        else:
            self._show(True)
            self.next_at = ticks_add(now, self.steps[0])

    def service(self, now):
        if self.next_at is None:
            return
        # catch up at most one cycle; a late call does not replay old blinks
        for _ in range(len(self.steps)):
            if ticks_diff(now, self.next_at) < 0:
                return
            self.index = (self.index + 1) % len(self.steps)
            self._show(self.index % 2 == 0)
            self.next_at = ticks_add(self.next_at, self.steps[self.index])
        if ticks_diff(now, self.next_at) >= 0:
            self.next_at = ticks_add(now, self.steps[self.index])

    def next_deadline(self):
        return self.next_at

    def _show(self, on):
        if on != self.lit:
            self.lit = on
            self.write(on, self.colour if on else BLACK)
