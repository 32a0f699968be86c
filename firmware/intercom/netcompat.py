"""UDP sockets and the millisecond clock on MicroPython and CPython alike (no RFC; I/O glue)."""

import socket
import time

try:
    ticks_ms = time.ticks_ms            # MicroPython: wraps at 2**30
except AttributeError:                   # CPython: emulate the same wrap
    from intercom.ticks import TICKS_MAX

    def ticks_ms():
        return int(time.monotonic() * 1000) & TICKS_MAX

_sockaddr = getattr(socket, "sockaddr", None)   # unix port: raw sockaddr -> tuple
DEST_CACHE = 8         # destinations per generation of the sockaddr cache (two generations kept)


def resolve(host, port):
    """The (ip, port) for host; call only at start-up or re-registration."""
    info = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)
    raw = info[0][-1]
    return to_tuple(raw)


def to_tuple(raw):
    """Normalize a socket address to ("a.b.c.d", port)."""
    if isinstance(raw, tuple):
        return raw[0], raw[1]
    if _sockaddr is not None:
        family, ip, port = _sockaddr(raw)
        if isinstance(ip, (bytes, bytearray)):
            ip = "%d.%d.%d.%d" % (ip[0], ip[1], ip[2], ip[3])
        return ip, port
    raise ValueError("unknown socket address %r" % (raw,))


def sockaddr(addr):
    """The object sendto() wants for ("a.b.c.d", port) on this runtime."""
    if _sockaddr is None:
        return addr
    return socket.getaddrinfo(addr[0], addr[1], socket.AF_INET, socket.SOCK_DGRAM)[0][-1]


class UdpSocket:
    """A non-blocking UDP socket bound to (ip, port) with a bounded cache of
    destination sockaddrs, so sending to a recent peer never converts again.

    The cache has two generations of at most DEST_CACHE entries: when the
    young one is full it becomes the old one (the previous old one is
    dropped) and a hit in the old one moves up. Peers used all the time
    (registrar, RTP peer) stay; one entry per scanner never accumulates."""

    def __init__(self, ip, port):
        self.local = (ip, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        except (AttributeError, OSError):
            pass
        self.sock.bind(sockaddr((ip, port)))
        self.sock.setblocking(False)
        self._dest = {}
        self._old = {}

    def fileno(self):
        return self.sock.fileno()

    def recvfrom(self, size=4096):
        """(data, (ip, port)) for one datagram, or None when nothing is queued."""
        try:
            data, raw = self.sock.recvfrom(size)
        except OSError:
            return None
        return data, to_tuple(raw)

    def recv(self, size=1500):
        """One datagram without its source (the only per-packet allocation), or None."""
        try:
            return self.sock.recv(size)
        except OSError:
            return None

    def connect(self, addr):
        """Accept datagrams from addr only, so recv() needs no source check."""
        self.sock.connect(sockaddr(addr))

    def send(self, data):
        try:
            self.sock.send(data)
            return True
        except OSError:
            return False

    def sendto(self, data, addr):
        dest = self._dest.get(addr)
        if dest is None:
            dest = self._old.get(addr)
            if dest is None:
                dest = sockaddr(addr)
            if len(self._dest) >= DEST_CACHE:
                self._old = self._dest
                self._dest = {}
            self._dest[addr] = dest
        try:
            self.sock.sendto(data, dest)
            return True
        except OSError:
            return False       # e.g. ICMP unreachable surfaced on UDP; the transaction retries

    def close(self):
        self.sock.close()
