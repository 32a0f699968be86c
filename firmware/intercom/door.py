"""Door relay by DTMF PIN (local policy, no RFC): constant-time compare, relay pulse, escalating lockout."""

# Pure: the caller passes `now` in ticks_ms (wrapping modulo 2**30) and acts
# on the results (pulse the relay, play a tone, emit events). All durations
# are compared with ticks_diff, so a counter wrap in the middle of a pulse,
# an entry or a lockout is harmless (they are all far below 2**29 ms).

import struct

from intercom.ticks import ticks_add, ticks_diff

OPEN = "open"          # PIN matched: relay on for pulse_ms
WRONG = "wrong"        # PIN did not match
LOCKED = "locked"      # too many wrong PINs: entries refused while the lockout runs
DISABLED = "disabled"  # no PIN configured: DTMF door opening is off
CLOSE = "close"        # from tick(): the relay pulse is over

MAX_ENTRY = 32         # digits kept per entry; longer entries are wrong anyway
ENTRY_TIMEOUT_MS = 10000
MAX_LOCKOUT_MS = 3600000   # escalation stops doubling at 1 h (a longer lockout_s stays as set)
MAX_LEVEL = 30             # lockouts counted; far beyond the doubling cap

# The record kept in the board's reset-surviving store (RTC memory on the
# ESP32): version, escalation level, wrong PINs since the last lockout, and
# the lockout still to run in ms. Ticks do not survive a reset, so the
# remaining time is stored and re-armed from the first `now` after boot.
STORE_KEY = "door"
_RECORD = "<BBBI"
_VERSION = 1


def ct_equal(a, na, b, nb):
    """True if a[:na] == b[:nb], in time depending only on max(na, nb).

    Every index below max(na, nb) of both sequences is read (modulo its
    length) and XOR-accumulated; there is no early return. The lengths are
    folded into the result, so different lengths never compare equal."""
    diff = na ^ nb
    n = na if na > nb else nb
    for i in range(n):
        x = a[i % na] if na else 0
        y = b[i % nb] if nb else 0
        diff |= x ^ y
    return diff == 0


class DoorLock:
    """Collects DTMF digits into a PIN entry and decides whether to open the door.

    on_digit(digit, now) takes '0'-'9', 'A'-'D', '*' (clear the entry) and
    '#' (submit it) and returns None, OPEN, WRONG, LOCKED or DISABLED.
    After max_attempts consecutive wrong PINs door opening is locked for
    lockout_s seconds (lockout_s = 0: no lockout). Every wrong PIN after a
    lockout locks again at once, for twice as long as the previous lockout
    (capped at MAX_LOCKOUT_MS); only the right PIN resets the escalation.
    While locked, digits are ignored (not collected, not counted) and '#'
    answers LOCKED. An entry with no digit for entry_timeout_ms is
    discarded. tick(now) returns CLOSE once when the relay pulse started by
    OPEN is over.

    store: anything with persist_load(key) -> bytes or None and
    persist_save(key, data) (the board: RTC memory on the ESP32, which
    survives a watchdog or soft reset). The escalation level, the wrong-PIN
    count and the lockout still to run are saved on every change and
    restored here; a restored lockout restarts from the first `now` seen
    after boot, so a reset never shortens it (it may lengthen it by the time
    already served)."""

    def __init__(self, pin, pulse_ms=3000, max_attempts=3, lockout_s=60, entry_timeout_ms=ENTRY_TIMEOUT_MS,
                 store=None):
        self._pin = bytes(pin, "ascii") if isinstance(pin, str) else bytes(pin)
        self.pulse_ms = pulse_ms
        self.max_attempts = max_attempts
        self.lockout_ms = lockout_s * 1000
        self.entry_timeout_ms = entry_timeout_ms
        self._entry = bytearray(MAX_ENTRY)
        self._n = 0              # digits entered (may exceed MAX_ENTRY)
        self._last = 0           # ticks of the last digit
        self.attempts = 0        # consecutive wrong PINs since the last lockout
        self.level = 0           # lockouts since the right PIN was last entered
        self._locked_until = None
        self._relay_until = None
        self._store = store if hasattr(store, "persist_save") and hasattr(store, "persist_load") else None
        self._rearm_ms = None    # restored lockout, armed at the first `now`
        if self._store is not None:
            self._restore(self._store.persist_load(STORE_KEY))

    # --- persistence --------------------------------------------------------------
    def _restore(self, data):
        # A record of another size or version (another firmware, junk) is
        # ignored; the board's store already checks its own integrity.
        if not data or len(data) != struct.calcsize(_RECORD):
            return
        version, level, attempts, remaining = struct.unpack(_RECORD, data)
        if version != _VERSION or level > MAX_LEVEL:
            return
        self.level = level
        self.attempts = attempts
        if 0 < remaining <= self.lockout_cap():
            self._rearm_ms = remaining

    def _save(self, now):
        if self._store is None:
            return
        remaining = 0
        if self._locked_until is not None:
            remaining = ticks_diff(self._locked_until, now)
            remaining = remaining if remaining > 0 else 0
        self._store.persist_save(STORE_KEY, struct.pack(_RECORD, _VERSION, self.level,
                                                        min(self.attempts, 255), remaining))

    def _arm(self, now):
        # The first `now` after a restore starts the remaining lockout.
        if self._rearm_ms is not None:
            self._locked_until = ticks_add(now, self._rearm_ms)
            self._rearm_ms = None

    def lockout_cap(self):
        """The longest lockout escalation reaches: MAX_LOCKOUT_MS, or lockout_s if longer."""
        return self.lockout_ms if self.lockout_ms > MAX_LOCKOUT_MS else MAX_LOCKOUT_MS

    def lockout_for(self, level):
        """Lockout in ms for the level-th lockout (1 = the first): lockout_s doubled level-1 times, capped."""
        ms = self.lockout_ms
        cap = self.lockout_cap()
        for _ in range(level - 1):
            ms += ms
            if ms >= cap:
                return cap
        return ms

    # --- entries -----------------------------------------------------------------
    @property
    def enabled(self):
        """False when the PIN is empty."""
        return len(self._pin) > 0

    def clear(self):
        """Discard the digits entered so far."""
        self._n = 0

    def locked(self, now):
        """True while wrong PINs keep DTMF door opening locked."""
        self._arm(now)
        if self._locked_until is None:
            return False
        if ticks_diff(now, self._locked_until) >= 0:
            self._locked_until = None
            return False
        return True

    def lock_remaining(self, now):
        """Milliseconds the running lockout still lasts (0 when not locked)."""
        return ticks_diff(self._locked_until, now) if self.locked(now) else 0

    def on_digit(self, digit, now):
        """Process one DTMF digit received at `now`; see the class docstring for results."""
        if self._pin and self.locked(now):
            # ignored, not collected: nothing keyed now can start the next entry
            self._n = 0
            return LOCKED if digit == "#" else None
        if self._n and ticks_diff(now, self._last) > self.entry_timeout_ms:
            self._n = 0
        self._last = now
        if digit == "*":
            self._n = 0
            return None
        if digit != "#":
            if self._n < MAX_ENTRY:
                self._entry[self._n] = ord(digit[0]) if digit else 0
            self._n += 1
            return None
        n = self._n
        self._n = 0
        if not self._pin:
            return DISABLED
        if n == 0:
            return None         # a lone '#' is not an attempt
        ok = ct_equal(self._entry, n if n < MAX_ENTRY else MAX_ENTRY, self._pin, len(self._pin))
        if ok and n <= MAX_ENTRY:
            if self.attempts or self.level:
                self.attempts = 0
                self.level = 0
                self._save(now)
            self._relay_until = ticks_add(now, self.pulse_ms)
            return OPEN
        self.attempts += 1
        if self.lockout_ms > 0 and (self.level > 0 or self.attempts >= self.max_attempts):
            # the first lockout after max_attempts; once escalated, every wrong PIN
            if self.level < MAX_LEVEL:
                self.level += 1
            self.attempts = 0
            self._locked_until = ticks_add(now, self.lockout_for(self.level))
            self._save(now)
            return LOCKED
        if self.attempts >= self.max_attempts:
            self.attempts = 0        # lockout_s = 0: counting on would only overflow
        self._save(now)
        return WRONG

    def relay_deadline(self):
        """Ticks at which the relay must close, or None if it is not pulsing."""
        return self._relay_until

    def relay_on(self):
        """True while the relay pulse is running (until tick() returned CLOSE)."""
        return self._relay_until is not None

    def tick(self, now):
        """Return CLOSE once when the relay pulse has ended, else None.
        (The first call after a restore also starts the restored lockout.)"""
        if self._rearm_ms is not None:
            self._arm(now)
        if self._relay_until is not None and ticks_diff(now, self._relay_until) >= 0:
            self._relay_until = None
            return CLOSE
        return None
