"""The per-frame media path allocates nothing: RTP parse -> jitter -> G.711 -> RTP, under heap_lock."""

import sys

from intercom.media import g711
from intercom.media.jitter import JitterBuffer, FRAME, CONCEALED, SILENCE
from intercom.media.rtp import RtpReceiver, RtpSender, TelephoneEvent
from intercom.ticks import ticks_add

MICROPYTHON = sys.implementation.name == "micropython"
WARMUP = 30
FRAMES = 500
FB = 160


def _pcm_frame(k):
    # A loud 16-bit LE sawtooth-ish frame, different per k.
    pcm = bytearray(2 * FB)
    for i in range(FB):
        v = ((i * 409 + k * 97) % 40000 - 20000) & 0xFFFF
        pcm[2 * i] = v & 0xFF
        pcm[2 * i + 1] = v >> 8
    return pcm


class FarEnd:
    """The peer: audio packets (seq and timestamp wrap on the way) prebuilt as
    bytes in chunks, so only one chunk is alive at a time; the payload's
    first 4 codes carry the frame number k."""

    def __init__(self, codec):
        self.codec = codec
        self.tx = RtpSender(b"\x0a\x0b\x0c\x0d", codec.payload_type, seq=65535 - 40,
                            ts_hi=0xFFFF, ts_lo=0x10000 - 160 * 50)
        self.k = 0

    def build(self, packets, start, count):
        for j in range(start, start + count):
            self.codec.encode(_pcm_frame(self.k), self.tx.payload, FB)
            for i in range(4):
                self.tx.payload[i] = (self.k >> (5 * i)) & 0x1F   # codes round-trip
            packets[j] = bytes(self.tx.packet_for(FB))
            self.k += 1
        for j in range(start):
            packets[j] = None                                    # free the old chunk


def event_packet():
    """An RFC 4733 end-of-event packet for '#'."""
    tx = RtpSender(b"\x0a\x0b\x0c\x0d", 101)
    ev = TelephoneEvent()
    ev.event, ev.end, ev.volume, ev.duration = 11, True, 10, 800
    ev.pack_into(tx.payload, 0)
    return bytes(tx.packet_for(4, 0, 101, True))


def build_packets(codec, count):
    """count prebuilt audio packets and one event packet."""
    packets = [None] * count
    FarEnd(codec).build(packets, 0, count)
    return packets, event_packet()


class MediaPath:
    """One frame in each direction, as the driver's audio pump will do it."""

    def __init__(self, codec, frames):
        self.codec = codec
        self.rx = RtpReceiver()
        self.jb = JitterBuffer(codec)
        self.tx = RtpSender(b"\x01\x02\x03\x04", codec.payload_type, seq=65530,
                            ts_hi=0xFFFF, ts_lo=0xFF60)
        self.ev = TelephoneEvent()
        self.frame = bytearray(FB)
        self.pcm = bytearray(2 * FB)
        self.now = (1 << 30) - 200          # ticks wrap during the run
        self.seen = [-1] * frames           # k carried by each sent packet
        self.statuses = [0, 0, 0]
        self.events = 0

    def step(self, i, pkt, event):
        rx = self.rx
        if rx.parse(pkt, len(pkt)):
            self.jb.put(rx.seq, rx.ts_hi, rx.ts_lo, pkt, rx.offset, rx.length, self.now)
        if event is not None and rx.parse(event, len(event)) and rx.payload_type == 101:
            if self.ev.parse(event, rx.offset, rx.length) and self.ev.end:
                self.events += 1
        st = self.jb.get(self.frame)
        self.statuses[st] += 1
        self.codec.decode(self.frame, self.pcm, FB)               # speaker side
        self.codec.encode(self.pcm, self.tx.payload, FB)          # mic side (looped back)
        out = self.tx.packet_for(FB)
        self.seen[i] = (out[12] & 0x1F) | ((out[13] & 0x1F) << 5) | ((out[14] & 0x1F) << 10)
        self.now = ticks_add(self.now, 20)


def run_frames(path, packets, event, start, count):
    i = start
    end = start + count
    while i < end:
        path.step(i, packets[i], event if i % 25 == 0 else None)
        i += 1


def check(path, packets, total):
    # One prebuffer frame, then every packet once, in order, except the one
    # frame skipped when the target drops from the 40 ms start to 20 ms.
    assert path.statuses[SILENCE] == 1 and path.statuses[CONCEALED] == 0
    assert path.statuses[FRAME] == total - 1
    assert path.jb.skipped == 1
    seen = path.seen                     # seen[0] is the prebuffer silence
    for i in range(2, total):
        assert seen[i] == seen[i - 1] + 1 or (seen[i] == seen[i - 1] + 2 and i > 40)
    assert seen[1] == 0 and seen[total - 1] == total - 1
    assert path.jb.lost == 0 and path.jb.late == 0 and path.jb.jitter == 0
    assert path.rx.malformed == 0 and path.rx.foreign == 0
    assert path.events == len(range(0, total, 25))
    assert path.tx.seq == (65530 + total) & 0xFFFF
    # the last packet sent carries the last packet's payload unchanged
    last = bytes(path.tx.packet_for(FB))   # re-stamps the header only
    assert last[12:] == packets[total - 1][12:]


def _run_codec(codec):
    total = WARMUP + 2 * FRAMES
    far = FarEnd(codec)
    packets = [None] * total
    event = event_packet()
    path = MediaPath(codec, total)
    far.build(packets, 0, WARMUP + FRAMES)
    run_frames(path, packets, event, 0, WARMUP)
    if not MICROPYTHON:
        run_frames(path, packets, event, WARMUP, FRAMES)
        far.build(packets, WARMUP + FRAMES, FRAMES)
        run_frames(path, packets, event, WARMUP + FRAMES, FRAMES)
        check(path, packets, total)
        return
    import gc
    import micropython
    # 1. Bytes allocated per frame, heap unlocked (catches allocations that a
    #    locked heap would silently route elsewhere).
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    run_frames(path, packets, event, WARMUP, FRAMES)
    used = gc.mem_alloc() - before
    gc.enable()
    assert used == 0, "%d bytes allocated in %d frames" % (used, FRAMES)
    far.build(packets, WARMUP + FRAMES, FRAMES)
    gc.collect()
    # 2. The same path with the heap locked: any allocation is a MemoryError.
    failed = None
    micropython.heap_lock()
    try:
        run_frames(path, packets, event, WARMUP + FRAMES, FRAMES)
    except MemoryError as err:
        failed = err
    finally:
        micropython.heap_unlock()
    assert failed is None, "allocation under heap_lock: %r" % (failed,)
    check(path, packets, total)


def test_pcmu_frame_path_allocates_nothing_for_500_frames():
    _run_codec(g711.PCMU)


def test_pcma_frame_path_allocates_nothing_for_500_frames():
    _run_codec(g711.PCMA)


class Stamper:
    """A far end that stamps packet k into one preallocated buffer on demand
    (no allocation), so packets can be sent out of order or twice. From
    frame `restart_at` on it uses a new sequence base (a stream restart)."""

    def __init__(self, codec, restart_at):
        self.tx = RtpSender(b"\x0a\x0b\x0c\x0d", codec.payload_type)
        self.restart_at = restart_at
        self.frames = []
        for k in range(8):
            f = bytearray(FB)
            codec.encode(_pcm_frame(k), f, FB)
            self.frames.append(f)

    def packet(self, k):
        tx = self.tx
        base = 30000 if k >= self.restart_at else 65535 - 40
        tx.seq = (base + k) & 0xFFFF
        tx.ts_hi = (k * FB) >> 16
        tx.ts_lo = (k * FB) & 0xFFFF
        g711.copy(tx.payload, 0, self.frames[k & 7], 0, FB)
        return tx.packet_for(FB)


def impaired_plan(ticks):
    """Per tick, the frame numbers delivered: single losses, swaps, late
    packets, duplicates, a burst long enough to go idle, then a restart."""
    plan = [[] for _ in range(ticks)]
    for k in range(ticks):
        if k % 17 == 5 or 200 <= k < 212:        # single losses, and a 12-frame burst
            continue
        t = k
        if k % 23 == 7:
            t = k + 1                            # swapped with its successor
        if k % 41 == 9:
            t = k + 4                            # late beyond the depth
        if t < ticks:
            plan[t].append(k)
        if k % 31 == 3 and t + 1 < ticks:
            plan[t + 1].append(k)                # duplicate
    return plan


def run_impaired(path, far, plan, start, count):
    i = start
    end = start + count
    rx = path.rx
    while i < end:
        ks = plan[i]
        j = 0
        while j < len(ks):
            pkt = far.packet(ks[j])
            if rx.parse(pkt, len(pkt)):
                path.jb.put(rx.seq, rx.ts_hi, rx.ts_lo, pkt, rx.offset, rx.length, path.now)
            j += 1
        st = path.jb.get(path.frame)
        path.statuses[st] += 1
        path.codec.decode(path.frame, path.pcm, FB)
        path.codec.encode(path.pcm, path.tx.payload, FB)
        path.tx.packet_for(FB)
        path.now = ticks_add(path.now, 20)
        i += 1


def test_impaired_stream_paths_allocate_nothing():
    # Every jitter-buffer branch (loss, reorder, late, duplicate, underrun,
    # idle, restart, SSRC unchanged) runs with the heap locked.
    codec = g711.PCMU
    ticks = WARMUP + 2 * FRAMES
    plan = impaired_plan(ticks)
    far = Stamper(codec, 400)
    path = MediaPath(codec, 1)
    run_impaired(path, far, plan, 0, WARMUP)
    if MICROPYTHON:
        import micropython
        failed = None
        micropython.heap_lock()
        try:
            run_impaired(path, far, plan, WARMUP, ticks - WARMUP)
        except MemoryError as err:
            failed = err
        finally:
            micropython.heap_unlock()
        assert failed is None, "allocation under heap_lock: %r" % (failed,)
    else:
        run_impaired(path, far, plan, WARMUP, ticks - WARMUP)
    jb = path.jb
    assert jb.lost > 30 and jb.late > 5 and jb.duplicates > 10 and jb.restarts == 1
    assert jb.concealed > 30 and jb.underruns >= 1
    assert path.statuses[FRAME] > ticks - 120 and path.statuses[SILENCE] >= 3  # went idle
    assert sum(path.statuses) == ticks
