# Runs under the MicroPython unix port (tools/sim --romfs): a ROMFS image as the device's ROM partition.
#   micropython -X heapsize=<firmware heap + image> tools/romfs_boot.py IMAGE [main.py arguments]
# The unix port has no ROM partition, so mount() reads the image into one
# bytearray, the heap's first block, and mounts it at /rom as ESP32 firmware
# with ROMFS mounts its partition. Imports from /rom run their bytecode in
# place, so the rest of the heap is what the firmware needs beside
# memory-mapped flash; tools/sim adds the image's blocks to --heap for exactly
# that reason. tools/memprofile.py and the tests import mount() too.
import sys
import os
import vfs


def mount(path):
    """Mount the ROMFS image at `path` on /rom, first on sys.path; returns its bytearray."""
    image = bytearray(os.stat(path)[6])
    with open(path, "rb") as f:
        f.readinto(image)
    vfs.mount(vfs.VfsRom(image), "/rom")
    sys.path.insert(0, "/rom")
    return image


if __name__ == "__main__":
    mount(sys.argv[1])
    from intercom.boot import start
    start(sys.argv[2:])
