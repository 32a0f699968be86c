# ruff: noqa: F821 - include/package/module are provided by MicroPython's manifest runner
# Freeze the intercom into a custom MicroPython firmware: bytecode then runs
# from flash instead of RAM, qstrs and constant objects included (see README, "Memory").
#   make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=/abs/path/tools/manifest.py
# main.py (a stub calling intercom.boot), config.json and the board file stay on the
# filesystem (make deploy). The other way to keep bytecode in flash is a firmware
# built with a ROM partition (MICROPY_VFS_ROM) and `make deploy ROMFS=1`, which
# then updates the modules without rebuilding the firmware.
include("$(PORT_DIR)/boards/manifest.py")
package("intercom", base_path="../firmware", opt=3)
module("setup.py", base_path="../firmware", opt=3)
