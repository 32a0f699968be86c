"""Shared by the heap-lock proofs: a socket whose recv() alone may allocate, and a quiet host board."""

import gc
import micropython

from intercom.netcompat import UdpSocket
from intercom.hal.host import HostBoard

allowed = [0]          # datagrams received while unlocked
received_bytes = [0]   # heap taken by those reads (the one allocation allowed)
locked = [False]       # the heap is locked by the frame loop


class LockedSocket(UdpSocket):
    """recv() is the only call allowed to allocate: it runs with the heap unlocked."""

    def recv(self, size=1500):
        if not locked[0]:
            return UdpSocket.recv(self, size)
        micropython.heap_unlock()
        try:
            before = gc.mem_alloc()
            data = UdpSocket.recv(self, size)
            received_bytes[0] += gc.mem_alloc() - before
        finally:
            micropython.heap_lock()
        allowed[0] += 1
        return data


class QuietBoard(HostBoard):
    """A host board without stdin: events are kept, not printed."""

    def __init__(self, description):
        HostBoard.__init__(self, description, "error")
        self.events = []
        self.input_open = False

    def pollables(self):
        return []

    def emit(self, event):
        self.events.append(event)
