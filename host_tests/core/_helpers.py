"""Test helpers shared by pytest (CPython) and the MicroPython test runner."""

import os

_counter = [0]


def raises(exc_type, fn, *args, **kw):
    """Call fn(*args, **kw); return the exc_type it raised, else raise AssertionError."""
    try:
        fn(*args, **kw)
    except exc_type as e:
        return e
    except Exception as e:  # noqa: BLE001 - any other exception is a test failure
        raise AssertionError(f"expected {exc_type.__name__}, got {type(e).__name__}: {e}")
    raise AssertionError(f"expected {exc_type.__name__}, nothing raised")


def _out_dir():
    here = __file__
    slash = here.rfind("/")
    base = here[:slash] if slash >= 0 else "."
    out = base + "/../_out"
    try:
        os.mkdir(out)
    except OSError:
        pass  # already there
    return out


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def tmp_path_for(name):
    """Return a fresh path under host_tests/_out/ (no file there, nor a .tmp beside it)."""
    _counter[0] += 1
    tag = "".join([f"{b:02x}" for b in os.urandom(4)])
    path = f"{_out_dir()}/{name}-{tag}-{_counter[0]}"
    _remove(path)
    _remove(path + ".tmp")
    return path


def heap_locked(fn):
    """Run fn() with the heap locked on MicroPython (MemoryError on any
    allocation); on CPython just run it."""
    import sys
    if sys.implementation.name != "micropython":
        return fn()
    import micropython
    micropython.heap_lock()
    try:
        return fn()
    finally:
        micropython.heap_unlock()


def pack16(values):
    """Little-endian 16-bit samples as a bytearray (the audio buffers' format)."""
    b = bytearray(2 * len(values))
    for i, v in enumerate(values):
        b[2 * i] = v & 0xFF
        b[2 * i + 1] = (v >> 8) & 0xFF
    return b


def zc_freq(x, rate):
    """Frequency in Hz from the count of sign changes (both directions)."""
    c = 0
    for i in range(1, len(x)):
        if (x[i - 1] < 0) != (x[i] < 0):
            c += 1
    return c * rate / (2.0 * len(x))
