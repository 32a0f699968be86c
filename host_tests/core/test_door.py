"""Door PIN policy: constant-time compare, relay pulse, lockout after wrong PINs, entry timeout; fake clock."""

from intercom import door
from intercom.door import CLOSE, DISABLED, LOCKED, OPEN, WRONG, DoorLock, ct_equal
from intercom.ticks import TICKS_MAX, ticks_add


def enter(lock, keys, now):
    """Feed each key at `now`; return the last result."""
    res = None
    for k in keys:
        res = lock.on_digit(k, now)
    return res


class _Touched:
    """A sequence that records which indices were read."""

    def __init__(self, data):
        self.data = data
        self.read = set()

    def __getitem__(self, i):
        self.read.add(i)
        return self.data[i]


def test_ct_equal_results():
    assert ct_equal(b"1234", 4, b"1234", 4)
    assert not ct_equal(b"1235", 4, b"1234", 4)
    assert not ct_equal(b"123", 3, b"1234", 4)
    assert not ct_equal(b"12345", 5, b"1234", 4)
    assert not ct_equal(b"", 0, b"1234", 4)
    assert ct_equal(b"", 0, b"", 0)
    assert ct_equal(b"1234xx", 4, b"1234", 4)           # only the first na bytes count
    assert not ct_equal(b"\x00\x00", 2, b"", 0)          # length folded in, not just bytes


def test_ct_equal_touches_every_character_on_equal_lengths():
    for a in (b"9999", b"1234", b"0000"):
        x = _Touched(a)
        y = _Touched(b"1234")
        ct_equal(x, 4, y, 4)
        assert x.read == {0, 1, 2, 3} and y.read == {0, 1, 2, 3}   # no early exit at a mismatch


def test_ct_equal_touches_every_character_on_different_lengths():
    x = _Touched(b"12")
    y = _Touched(b"123456")
    assert not ct_equal(x, 2, y, 6)
    assert y.read == {0, 1, 2, 3, 4, 5} and x.read == {0, 1}
    x = _Touched(b"12345678")
    y = _Touched(b"1234")
    assert not ct_equal(x, 8, y, 4)
    assert x.read == set(range(8)) and y.read == {0, 1, 2, 3}


def test_right_pin_then_hash_opens_and_pulses_once():
    lock = DoorLock("1234", pulse_ms=3000)
    assert enter(lock, "123", 1000) is None
    assert lock.on_digit("4", 1100) is None
    assert lock.on_digit("#", 1200) == OPEN
    assert lock.relay_on() and lock.relay_deadline() == 4200
    assert lock.tick(4199) is None
    assert lock.tick(4200) == CLOSE
    assert lock.tick(4300) is None and not lock.relay_on() and lock.relay_deadline() is None


def test_wrong_pin_is_wrong():
    lock = DoorLock("1234")
    assert enter(lock, "1235#", 0) == WRONG
    assert enter(lock, "12345#", 0) == WRONG
    assert lock.attempts == 2
    assert enter(lock, "1234#", 0) == OPEN
    assert lock.attempts == 0


def test_star_clears_the_entry():
    lock = DoorLock("1234")
    assert enter(lock, "99*1234#", 0) == OPEN
    assert enter(lock, "12*34#", 10) == WRONG


def test_lone_hash_is_not_an_attempt():
    lock = DoorLock("1234", max_attempts=1)
    assert lock.on_digit("#", 0) is None
    assert lock.attempts == 0 and not lock.locked(0)


def test_empty_pin_disables_door_opening():
    lock = DoorLock("")
    assert not lock.enabled
    assert enter(lock, "1234#", 0) == DISABLED
    assert lock.on_digit("#", 0) == DISABLED
    assert enter(lock, "#", 0) == DISABLED and not lock.relay_on()


def test_max_attempts_wrong_pins_lock_out_even_the_right_pin():
    lock = DoorLock("1234", max_attempts=3, lockout_s=60)
    assert enter(lock, "0000#", 0) == WRONG
    assert enter(lock, "0001#", 1000) == WRONG
    assert enter(lock, "0002#", 2000) == LOCKED
    assert lock.locked(2000)
    assert enter(lock, "1234#", 3000) == LOCKED
    assert enter(lock, "1234#", 61999) == LOCKED
    assert not lock.relay_on()


def test_lockout_expires_after_lockout_s():
    lock = DoorLock("1234", max_attempts=2, lockout_s=60)
    enter(lock, "1#", 5000)
    assert enter(lock, "2#", 5000) == LOCKED
    assert lock.locked(64999)
    assert not lock.locked(65000)
    assert enter(lock, "1234#", 65000) == OPEN


def test_digits_keyed_during_a_lockout_are_ignored_not_counted():
    lock = DoorLock("1234", max_attempts=2, lockout_s=60)
    enter(lock, "1#", 0)
    assert enter(lock, "2#", 0) == LOCKED
    assert enter(lock, "12", 59000) is None            # keyed while locked
    assert enter(lock, "34#", 60000) == LOCKED         # "34" alone after the lockout: wrong (escalated)
    lock = DoorLock("1234", max_attempts=2, lockout_s=60)
    enter(lock, "1#2#", 0)
    for _ in range(20):
        assert enter(lock, "0000#", 1000) == LOCKED    # refused, and none of them counts
    assert lock.level == 1 and lock.attempts == 0
    assert enter(lock, "1234#", 60000) == OPEN


def test_lockout_doubles_on_each_further_failure_capped_at_1h():
    lock = DoorLock("1234", max_attempts=3, lockout_s=60)
    now = 0
    enter(lock, "1#2#", now)
    assert enter(lock, "3#", now) == LOCKED
    want = [60000, 120000, 240000, 480000, 960000, 1920000, 3600000, 3600000, 3600000]
    for ms in want:
        assert lock.locked(ticks_add(now, ms - 1))
        now = ticks_add(now, ms)
        assert not lock.locked(now)
        assert enter(lock, "9#", now) == LOCKED        # one further failure is enough
    assert lock.lockout_for(100) == door.MAX_LOCKOUT_MS
    assert DoorLock("1", lockout_s=7200).lockout_for(5) == 7200000     # a longer lockout_s stays as set


def test_right_pin_resets_the_escalation():
    lock = DoorLock("1234", max_attempts=2, lockout_s=60)
    enter(lock, "1#2#", 0)
    assert enter(lock, "1234#", 60000) == OPEN
    assert lock.level == 0
    assert enter(lock, "9#", 61000) == WRONG           # back to max_attempts tries
    assert enter(lock, "9#", 61000) == LOCKED
    assert not lock.locked(121000)


class _Store:
    """The board's persist_load/persist_save, as a dict (RTC memory on the device)."""

    def __init__(self):
        self.data = {}
        self.saves = 0

    def persist_load(self, key):
        return self.data.get(key)

    def persist_save(self, key, data):
        self.data[key] = bytes(data)
        self.saves += 1


def test_lockout_and_escalation_survive_a_reset_through_the_store():
    store = _Store()
    lock = DoorLock("1234", max_attempts=2, lockout_s=60, store=store)
    enter(lock, "1#2#", 1000)                          # locked for 60 s, level 1
    after = DoorLock("1234", max_attempts=2, lockout_s=60, store=store)   # the watchdog reset
    boot = 5                                           # ticks start again after a reset
    assert after.level == 1
    assert after.tick(boot) is None                    # the loop's first tick arms the rest
    assert after.locked(ticks_add(boot, 59999)) and enter(after, "1234#", ticks_add(boot, 59999)) == LOCKED
    assert not after.locked(ticks_add(boot, 60000))
    assert enter(after, "9#", ticks_add(boot, 60000)) == LOCKED     # still escalated: 120 s now
    again = DoorLock("1234", max_attempts=2, lockout_s=60, store=store)
    assert again.locked(0) and again.lock_remaining(0) == 120000


def test_wrong_pins_before_a_lockout_survive_a_reset():
    store = _Store()
    lock = DoorLock("1234", max_attempts=3, lockout_s=60, store=store)
    enter(lock, "1#2#", 0)
    lock = DoorLock("1234", max_attempts=3, lockout_s=60, store=store)
    assert enter(lock, "3#", 100) == LOCKED            # a reset does not buy fresh attempts


def test_right_pin_clears_the_stored_lockout_state():
    store = _Store()
    lock = DoorLock("1234", max_attempts=2, lockout_s=1, store=store)
    enter(lock, "1#2#", 0)
    assert enter(lock, "1234#", 1000) == OPEN
    lock = DoorLock("1234", max_attempts=2, lockout_s=1, store=store)
    assert lock.level == 0 and lock.attempts == 0 and not lock.locked(0)


def test_store_is_written_only_when_the_state_changes():
    store = _Store()
    lock = DoorLock("1234", store=store)
    enter(lock, "1234#1234#", 0)
    assert store.saves == 0
    enter(lock, "1#", 0)
    assert store.saves == 1


def test_junk_in_the_store_is_ignored():
    for junk in (b"", b"\x01", b"\x09\x01\x00\x10\x27\x00\x00", b"\x01\xff\x00\x10\x27\x00\x00", b"x" * 40):
        store = _Store()
        store.data["door"] = junk
        lock = DoorLock("1234", store=store)
        assert lock.level == 0 and not lock.locked(0), junk
    store = _Store()
    store.data["door"] = b"\x01\x01\x00\xff\xff\xff\x7f"   # longer than any lockout
    assert not DoorLock("1234", lockout_s=60, store=store).locked(0)


def test_lockout_zero_means_no_lockout():
    lock = DoorLock("1234", max_attempts=1, lockout_s=0)
    for _ in range(5):
        assert enter(lock, "9#", 0) == WRONG
    assert enter(lock, "1234#", 0) == OPEN


def test_lockout_across_the_ticks_wrap():
    start = TICKS_MAX - 20000
    lock = DoorLock("42", max_attempts=1, lockout_s=60)
    assert enter(lock, "1#", start) == LOCKED
    mid = ticks_add(start, 30000)                     # past the wrap
    assert mid < start
    assert lock.locked(mid) and enter(lock, "42#", mid) == LOCKED
    end = ticks_add(start, 60000)
    assert not lock.locked(end)
    assert enter(lock, "42#", end) == OPEN


def test_relay_pulse_across_the_ticks_wrap():
    now = TICKS_MAX - 100
    lock = DoorLock("1", pulse_ms=500)
    assert enter(lock, "1#", now) == OPEN
    assert lock.relay_deadline() == 399
    assert lock.tick(TICKS_MAX) is None
    assert lock.tick(398) is None
    assert lock.tick(399) == CLOSE


def test_open_while_open_extends_the_pulse():
    lock = DoorLock("1", pulse_ms=1000)
    enter(lock, "1#", 0)
    enter(lock, "1#", 800)
    assert lock.tick(1000) is None
    assert lock.tick(1800) == CLOSE


def test_entry_is_discarded_after_10s_without_a_digit():
    lock = DoorLock("1234")
    enter(lock, "12", 0)
    assert enter(lock, "1234#", 10001) == OPEN        # the stale "12" was dropped
    enter(lock, "12", 20000)
    assert enter(lock, "34#", 29000) == OPEN           # 9 s gaps are fine
    lock2 = DoorLock("1234", entry_timeout_ms=2000)
    enter(lock2, "12", 0)
    assert enter(lock2, "34#", 2500) == WRONG


def test_entry_timeout_across_the_ticks_wrap():
    t = TICKS_MAX - 1000
    lock = DoorLock("1234")
    enter(lock, "12", t)
    assert enter(lock, "34#", ticks_add(t, 5000)) == OPEN
    enter(lock, "12", t)
    assert enter(lock, "1234#", ticks_add(t, 10001)) == OPEN


def test_overlong_entries_are_wrong_not_truncated():
    lock = DoorLock("1234")
    assert enter(lock, "0" * (door.MAX_ENTRY + 10) + "#", 0) == WRONG
    pin = "1" * 16
    lock = DoorLock(pin)
    assert enter(lock, pin + "#", 0) == OPEN
    assert enter(lock, "1" * door.MAX_ENTRY + "#", 0) == WRONG
    assert enter(lock, "1" * (door.MAX_ENTRY + 1) + "#", 0) == WRONG


def test_letters_in_the_entry_make_it_wrong():
    lock = DoorLock("1234")
    assert enter(lock, "12A4#", 0) == WRONG
