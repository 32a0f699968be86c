"""Runs the device tests under the MicroPython unix port with the fake machine/network; prints `N passed, N failed`."""

import sys

MODULES = ("test_device_board", "test_device_hal", "test_device_app", "test_device_setup",
           "test_device_audio", "test_g722_device")


def main(names):
    import machine
    if not hasattr(machine, "fake_reset"):
        print("the fake machine module is not first on MICROPYPATH")
        return 1
    from mpy_runner import run        # host_tests/core is on MICROPYPATH
    return run(names or MODULES)


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1:]) else 0)
