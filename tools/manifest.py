# ruff: noqa: F821 - include/package/module are provided by MicroPython's manifest runner
# Freeze the intercom into a custom MicroPython firmware: bytecode then runs
# from flash instead of RAM (the ~90 wK that .mpy imports take; see README, "Memory").
#   make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=/abs/path/tools/manifest.py
# main.py, config.json and the board file stay on the filesystem (make deploy).
include("$(PORT_DIR)/boards/manifest.py")
package("intercom", base_path="../firmware", opt=3)
module("setup.py", base_path="../firmware", opt=3)
