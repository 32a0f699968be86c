"""pcap writer for the simulator: every SIP datagram as UDP over IPv4 (libpcap format, LINKTYPE_RAW)."""

import struct
import time

LINKTYPE_RAW = 101      # packets start with the IPv4 header


def _ip_bytes(ip):
    return bytes([int(part) for part in ip.split(".")])


def _checksum(header):
    total = 0
    for i in range(0, len(header), 2):
        total += (header[i] << 8) | header[i + 1]
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class PcapWriter:
    """Appends records to a pcap file that tshark and Wireshark read."""

    def __init__(self, path, local_addr):
        self.local = local_addr
        self.file = open(path, "wb")
        self.ident = 0
        self.file.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_RAW))
        self.file.flush()

    def record(self, direction, data, addr):
        """Write one datagram; direction is "in" (from addr) or "out" (to addr)."""
        src, dst = (addr, self.local) if direction == "in" else (self.local, addr)
        data = bytes(data)
        if b"a=crypto:" in data:
            # SRTP keys never reach a capture (RFC 4568 §8.1); the length is kept
            from intercom.sip.trace import mask_body
            data = mask_body(data)
        self.ident = (self.ident + 1) & 0xFFFF
        udp = struct.pack(">HHHH", src[1], dst[1], 8 + len(data), 0)
        ip = bytearray(struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp) + len(data), self.ident,
                                   0, 64, 17, 0, _ip_bytes(src[0]), _ip_bytes(dst[0])))
        struct.pack_into(">H", ip, 10, _checksum(ip))
        now = time.time()
        seconds = int(now)
        micros = int((now - seconds) * 1000000)
        packet = bytes(ip) + udp + bytes(data)
        self.file.write(struct.pack("<IIII", seconds, micros, len(packet), len(packet)))
        self.file.write(packet)
        self.file.flush()
