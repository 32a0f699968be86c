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


def test_attempts_count_again_from_zero_after_a_lockout():
    lock = DoorLock("1234", max_attempts=2, lockout_s=1)
    enter(lock, "1#2#", 0)
    assert enter(lock, "3#", 1000) == WRONG
    assert enter(lock, "4#", 1000) == LOCKED


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
