"""Buttons: IRQ edge capture into preallocated state, debounce and long-press resolved later (pure)."""

from intercom.ticks import ticks_add, ticks_diff

DEBOUNCE_MS = 30       # contacts settle well within this
LONG_MS = 1500         # held this long: a "long" event (once per press)


class Buttons:
    """Debounced buttons with press, release, click and long events.

    `pins` are objects with .value() (machine.Pin on the device); `specs`
    are the board roles. irq(i) is all an interrupt handler does: it stores
    the tick of the latest edge into a preallocated list slot (no
    allocation, safe in a hard IRQ). poll(now) reads the settled level once
    the contact has been quiet for debounce_ms, and emits events."""

    def __init__(self, roles, pins, specs, clock):
        n = len(roles)
        self.roles = roles
        self.pins = pins
        self.clock = clock
        self.active = [0 if spec.get("active_low", True) else 1 for spec in specs]
        self.debounce = [spec.get("debounce_ms", DEBOUNCE_MS) for spec in specs]
        self.long_ms = [spec.get("long_ms", LONG_MS) for spec in specs]
        # written by irq(): 1 when an edge is waiting, and its tick
        self.edge = [0] * n
        self.edge_at = [0] * n
        # owned by poll()
        self.pressed = [False] * n
        self.pressed_at = [0] * n
        self.long_done = [False] * n
        # two preallocated event lists: poll() fills one while the caller
        # reads the other (take()), so a quiet loop allocates nothing
        self.events = []
        self.handed = []
        for i in range(n):           # a button held at boot counts as pressed, silently
            self.pressed[i] = pins[i].value() == self.active[i]
            self.long_done[i] = self.pressed[i]

    def irq(self, i):
        """Record an edge on button i (called from the pin's IRQ handler)."""
        self.edge_at[i] = self.clock()
        self.edge[i] = 1

    def handler(self, i):
        """A Pin.irq handler for button i, made once at setup."""
        def on_edge(_pin):
            self.edge_at[i] = self.clock()
            self.edge[i] = 1
        return on_edge

    def poll(self, now):
        """Resolve settled edges and long presses into events."""
        for i in range(len(self.roles)):
            if self.edge[i] and ticks_diff(now, self.edge_at[i]) >= self.debounce[i]:
                self.edge[i] = 0
                self._settle(i, self.pins[i].value() == self.active[i], now)
            if self.pressed[i] and not self.long_done[i] and ticks_diff(now, self.pressed_at[i]) >= self.long_ms[i]:
                self.long_done[i] = True
                self.events.append((self.roles[i], "long"))

    def _settle(self, i, down, now):
        if down == self.pressed[i]:
            return                   # a bounce that came back: no change
        self.pressed[i] = down
        role = self.roles[i]
        if down:
            self.pressed_at[i] = now
            self.long_done[i] = False
            self.events.append((role, "press"))
        else:
            self.events.append((role, "release"))
            if not self.long_done[i]:
                self.events.append((role, "click"))
            self.long_done[i] = False

    def next_deadline(self):
        """When poll() next has something to resolve, or None."""
        best = None
        for i in range(len(self.roles)):
            if self.edge[i]:
                at = ticks_add(self.edge_at[i], self.debounce[i])
            elif self.pressed[i] and not self.long_done[i]:
                at = ticks_add(self.pressed_at[i], self.long_ms[i])
            else:
                continue
            if best is None or ticks_diff(at, best) < 0:
                best = at
        return best

    def take(self, now):
        """Poll, then hand over the events gathered so far: a list of
        (role, action) owned by Buttons, valid until the next take()."""
        self.poll(now)
        return hand_over(self)


def hand_over(owner):
    """owner.events, handed out (Buttons, wifi.Station): the list handed out
    before becomes the new owner.events. Nothing new: the (empty) list
    itself, no swap. MicroPython's list.clear() reallocates even an empty
    list, so it runs only on one that held events."""
    out = owner.events
    if not out:
        return out
    spare = owner.handed
    if spare:
        spare.clear()
    owner.events = spare
    owner.handed = out
    return out
