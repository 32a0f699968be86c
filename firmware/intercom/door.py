"""Door relay by DTMF PIN (local policy, no RFC): constant-time compare, relay pulse, lockout after guessing."""

# Pure: the caller passes `now` in ticks_ms (wrapping modulo 2**30) and acts
# on the results (pulse the relay, play a tone, emit events). All durations
# are compared with ticks_diff, so a counter wrap in the middle of a pulse,
# an entry or a lockout is harmless (they are all far below 2**29 ms).

from intercom.ticks import ticks_add, ticks_diff

OPEN = "open"          # PIN matched: relay on for pulse_ms
WRONG = "wrong"        # PIN did not match
LOCKED = "locked"      # too many wrong PINs: entries refused for lockout_s
DISABLED = "disabled"  # no PIN configured: DTMF door opening is off
CLOSE = "close"        # from tick(): the relay pulse is over

MAX_ENTRY = 32         # digits kept per entry; longer entries are wrong anyway
ENTRY_TIMEOUT_MS = 10000


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
    After max_attempts consecutive wrong PINs every submission is refused
    with LOCKED for lockout_s seconds (lockout_s = 0: no lockout). An entry
    with no digit for entry_timeout_ms is discarded. tick(now) returns CLOSE
    once when the relay pulse started by OPEN is over."""

    def __init__(self, pin, pulse_ms=3000, max_attempts=3, lockout_s=60, entry_timeout_ms=ENTRY_TIMEOUT_MS):
        self._pin = bytes(pin, "ascii") if isinstance(pin, str) else bytes(pin)
        self.pulse_ms = pulse_ms
        self.max_attempts = max_attempts
        self.lockout_ms = lockout_s * 1000
        self.entry_timeout_ms = entry_timeout_ms
        self._entry = bytearray(MAX_ENTRY)
        self._n = 0              # digits entered (may exceed MAX_ENTRY)
        self._last = 0           # ticks of the last digit
        self.attempts = 0        # consecutive wrong PINs
        self._locked_until = None
        self._relay_until = None

    @property
    def enabled(self):
        """False when the PIN is empty."""
        return len(self._pin) > 0

    def clear(self):
        """Discard the digits entered so far."""
        self._n = 0

    def locked(self, now):
        """True while wrong PINs keep DTMF door opening locked."""
        if self._locked_until is None:
            return False
        if ticks_diff(now, self._locked_until) >= 0:
            self._locked_until = None
            return False
        return True

    def on_digit(self, digit, now):
        """Process one DTMF digit received at `now`; see the class docstring for results."""
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
        if self.locked(now):
            return LOCKED
        if n == 0:
            return None         # a lone '#' is not an attempt
        ok = ct_equal(self._entry, n if n < MAX_ENTRY else MAX_ENTRY, self._pin, len(self._pin))
        if ok and n <= MAX_ENTRY:
            self.attempts = 0
            self._relay_until = ticks_add(now, self.pulse_ms)
            return OPEN
        self.attempts += 1
        if self.attempts >= self.max_attempts:
            self.attempts = 0
            if self.lockout_ms > 0:
                self._locked_until = ticks_add(now, self.lockout_ms)
                return LOCKED
        return WRONG

    def relay_deadline(self):
        """Ticks at which the relay must close, or None if it is not pulsing."""
        return self._relay_until

    def relay_on(self):
        """True while the relay pulse is running (until tick() returned CLOSE)."""
        return self._relay_until is not None

    def tick(self, now):
        """Return CLOSE once when the relay pulse has ended, else None."""
        if self._relay_until is not None and ticks_diff(now, self._relay_until) >= 0:
            self._relay_until = None
            return CLOSE
        return None
