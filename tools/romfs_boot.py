# Runs under the MicroPython unix port (tools/sim --romfs): a ROMFS image as the device's ROM partition.
#   micropython -X heapsize=<firmware heap + image> tools/romfs_boot.py IMAGE [main.py arguments]
# The unix port has no ROM partition, so the image is read into one bytearray,
# the heap's first block, and mounted at /rom as ESP32 firmware with ROMFS
# mounts its partition. Imports from /rom run their bytecode in place, so the
# rest of the heap is what the firmware needs beside memory-mapped flash;
# tools/sim adds the image's blocks to --heap for exactly that reason.
import sys
import os
import vfs

image = bytearray(os.stat(sys.argv[1])[6])
with open(sys.argv[1], "rb") as f:
    f.readinto(image)
vfs.mount(vfs.VfsRom(image), "/rom")
sys.path[:0] = ["/rom"]
argv = sys.argv[2:]
del f

from intercom.boot import start  # noqa: E402

start(argv)
