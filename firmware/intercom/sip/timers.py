"""Named deadlines for transactions and calls: one timer mechanism for the SIP core (RFC 3261 §17 Table 4, §13)."""

from intercom.ticks import ticks_add, ticks_diff, earliest


class Timed:
    """Mixin: a small dict of named deadlines (ticks); when one is due the
    owner's method `timer_<name>` runs. The owner provides `_now()`.

    The same code serves transactions (Timers A-M) and calls (ring, 2xx
    retransmission, hold probe...). Deadline scans iterate the dict itself
    (no .values() view, no list) because they run on every loop of the
    audio path; only firing a due timer allocates (the list of names)."""

    timers = None

    def start_timer(self, name, delay):
        if self.timers is None:
            self.timers = {}
        self.timers[name] = ticks_add(self._now(), delay)

    def stop_timer(self, name):
        if self.timers:
            self.timers.pop(name, None)

    def stop_timers(self):
        self.timers = None

    def deadline(self):
        """The earliest of the pending deadlines, or None."""
        timers = self.timers
        if not timers:
            return None
        best = None
        now = self._now()
        for name in timers:
            best = earliest(best, timers[name], now)
        return best

    def is_due(self, now):
        timers = self.timers
        if not timers:
            return False
        for name in timers:
            if ticks_diff(now, timers[name]) >= 0:
                return True
        return False

    def fire_due(self, now):
        """Run every due timer once, in no particular order. A timer is
        removed before its handler runs, so a handler that raises never
        fires again; a handler may start or stop timers."""
        if not self.is_due(now):
            return
        for name in list(self.timers):
            timers = self.timers
            if not timers:
                return
            when = timers.get(name)
            if when is not None and ticks_diff(now, when) >= 0:
                del timers[name]
                getattr(self, "timer_" + name)()
