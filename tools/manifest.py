# ruff: noqa: F821 - include/package/module are provided by MicroPython's manifest runner
# Freeze the intercom into a custom MicroPython firmware: bytecode then runs
# from flash instead of RAM, qstrs and constant objects included (see README, "Memory").
#   ESP32:  make firmware BOARD=ESP32_GENERIC  (runs, with ESP-IDF and a MicroPython tree:
#           make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=/abs/path/tools/manifest.py)
#   unix:   make frozen  (tools/frozen_build.py: the same manifest, proved by host_tests/test_frozen.py)
# main.py (a stub calling intercom.boot), config.json and the board file stay on the
# filesystem (make deploy). The other way to keep bytecode in flash is a firmware
# built with a ROM partition (MICROPY_VFS_ROM) and `make deploy ROMFS=1`, which
# then updates the modules without rebuilding the firmware.

# First what the port freezes by default, where it has boards/manifest.py (the
# ESP32: _boot/inisetup mount the filesystem, asyncio...). The unix port (`make
# frozen`) has none there and needs nothing frozen but the intercom. Only a
# missing file is skipped: any other error in the port's manifest stops the build.
try:
    include("$(PORT_DIR)/boards/manifest.py")
except Exception as _e:
    if "No such file" not in str(_e) or "boards/manifest.py" not in str(_e):
        raise

package("intercom", base_path="../firmware", opt=3)
module("setup.py", base_path="../firmware", opt=3)
