"""Runs the core test modules under the MicroPython unix port; prints `N passed, N failed`."""

import gc
import os
import sys


def run(names):
    """Import each test module and call its test_* functions; the number failed.
    (host_tests/device_runner.py runs the device tests through this too.)"""
    passed = failed = 0
    for name in names:
        module = __import__(name)
        for attr in sorted(dir(module)):
            if not attr.startswith("test_"):
                continue
            fn = getattr(module, attr)
            gc.collect()          # big test buffers must not fragment the heap for the next test
            try:
                fn()
                passed += 1
            except Exception as err:   # AssertionError and anything else count as failures
                failed += 1
                print("FAILED %s.%s: %r" % (name, attr, err))
                sys.print_exception(err)
    print("%d passed, %d failed" % (passed, failed))
    return failed


def main(names):
    if not names:
        names = sorted(n[:-3] for n in os.listdir(".") if n.startswith("test_") and n.endswith(".py"))
    return run(names)


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1:]) else 0)
