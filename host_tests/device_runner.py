"""Runs the device tests under the MicroPython unix port with the fake machine/network; prints `N passed, N failed`."""

import sys

MODULES = ("test_device_board", "test_device_hal", "test_device_app", "test_device_setup")


def main(names):
    import machine
    if not hasattr(machine, "fake_reset"):
        print("the fake machine module is not first on MICROPYPATH")
        return 1
    passed = failed = 0
    for name in names or MODULES:
        module = __import__(name)
        for attr in sorted(dir(module)):
            if not attr.startswith("test_"):
                continue
            try:
                getattr(module, attr)()
                passed += 1
            except Exception as err:     # AssertionError and anything else count as failures
                failed += 1
                print("FAILED %s.%s: %r" % (name, attr, err))
                sys.print_exception(err)
    print("%d passed, %d failed" % (passed, failed))
    return failed


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1:]) else 0)
