"""Adaptive jitter buffer in samples for G.711 (RFC 3550 §5.1, §A.8 jitter; RFC 3551 §4.5 any packet size)."""

# The buffer holds *encoded* payload (one byte per sample), so it is codec
# agnostic apart from three per-codec tables taken from a g711.Codec: the
# silence code, a -6 dB "fade" code map and a level map for quiet checks.
#
# It works in samples, not packets (RFC 3551 §4.5: a receiver must accept
# any packet size up to 200 ms and a sender may change it): a packet is
# placed by its RTP timestamp, so 10, 20, 30, 60 ms packets, or a peer that
# changes its packetization mid-call, all fill the same sample ring. Playout
# is one frame (frame_bytes samples, 20 ms) per get() call, taken from
# whatever packets covered it.
#
# Invariants:
# - The ring is `slots` frames. _pslot is the slot of the frame due
#   (_play, a 16-bit frame number) whose first sample has timestamp
#   _p_hi/_p_lo; frame _play + k lives in slot (_pslot + k) % slots and
#   _tags[slot] is its frame number, or -1. A slot whose tag is not the
#   frame wanted is empty: it is cleared (silence, no granules) when reused.
# - _masks[slot] has one bit per GRANULE samples present (8 per frame).
# - _high is the end of the stored samples relative to the frame due (the
#   depth in samples when > 0). Stored samples always lie in
#   [0, slots * frame_bytes) relative to it.
# - Every stored value is a small int (16-bit halves, frame numbers,
#   offsets within a minute of audio), so nothing becomes a long on a
#   31-bit port; put()/get() allocate nothing.
#
# Losses and adaptation: see playout.py (concealment, skip/insert).

from intercom.media import g711
from intercom.media.rtp import seq_diff, ts_diff, MAX_MISORDER
from intercom.ticks import ticks_diff
from intercom.media.playout import Playout, FRAME, CONCEALED, SILENCE, GRANULE, FULL as _FULL  # noqa: F401


MAX_DROPOUT = 3000  # RFC 3550 §A.1: a jump this far ahead is a restart
_JIT_CLAMP = 0x7FFFF  # largest |D| used in the jitter filter (65 s at 8 kHz)
_SEQS = 32          # received sequence numbers kept for duplicate detection


class JitterBuffer(Playout):
    """A ring of `slots` frames of frame_bytes encoded bytes each, filled in
    samples by RTP timestamp (packets of any length up to the ring).

    put() stores a packet's payload, get() writes one frame every period.
    Statistics are plain attributes: received, lost (frames with no
    sample), late, duplicates, concealed, underruns, inserted, skipped,
    overflow, restarts, depth_ms, jitter_ms and jitter (RFC 3550
    interarrival jitter in timestamp units)."""

    def __init__(self, codec=g711.PCMU, frame_bytes=160, slots=14, clock_rate=8000,
                 frame_ms=20, min_ms=20, max_ms=200, start_ms=40, fade_steps=2,
                 window=50):
        if frame_bytes != 8 * GRANULE:
            raise ValueError("frame_bytes must be %d" % (8 * GRANULE))
        self.frame_bytes = frame_bytes
        self.slots = slots
        self.frame_ms = frame_ms
        self._rate_ms = clock_rate // 1000
        self._min_frames = max(1, (min_ms + frame_ms - 1) // frame_ms)
        # room beyond the target for one 60 ms packet and the frame playing
        self._max_frames = max(self._min_frames, min(max_ms // frame_ms, slots - 4))
        self.fade_steps = fade_steps
        self.window = window
        self._ring = bytearray(slots * frame_bytes)
        mv = memoryview(self._ring)
        self._views = [mv[i * frame_bytes:(i + 1) * frame_bytes] for i in range(slots)]
        self._tags = [-1] * slots
        self._masks = bytearray(slots)
        self._seqs = [-1] * _SEQS
        self._conceal = bytearray(frame_bytes)
        self._start_frames = min(max(start_ms // frame_ms, self._min_frames), self._max_frames)
        self.reset(codec)

    def reset(self, codec):
        """Start over for a new stream of `codec` (a new call or a codec
        change): empty, statistics 0, target depth back to start_ms. The
        buffers made in __init__ are kept, so a call allocates nothing here."""
        self.silence = codec.silence
        self._fade = codec.fade
        self._level = codec.level
        self._target = self._start_frames
        self.received = 0
        self.lost = 0
        self.late = 0
        self.duplicates = 0
        self.concealed = 0
        self.underruns = 0
        self.inserted = 0
        self.skipped = 0
        self.overflow = 0
        self.restarts = 0
        self.depth_ms = 0
        self.jitter = 0
        self.jitter_ms = 0
        self._jit16 = 0          # J * 16 as in RFC 3550 §A.8
        self._have_transit = False
        self._l_hi = 0
        self._l_lo = 0
        self._l_arr = 0
        self._p_hi = 0           # timestamp of the frame due (kept while idle)
        self._p_lo = 0
        self._next_seq = -1      # the sequence number after the highest seen, -1 none
        self._pkt = 0            # samples in the last packet
        self._reset_stream()

    # ---- state helpers --------------------------------------------------

    def _reset_stream(self):
        # Forget the packets and the playout position (new stream or restart).
        for i in range(self.slots):
            self._tags[i] = -1
            self._masks[i] = 0
        for i in range(_SEQS):
            self._seqs[i] = -1
        self._have = False       # any packet since the reset
        self._playing = False
        self._play = 0
        self._pslot = 0
        self._high = 0
        self._underrun = False
        self._gap = False        # idle after playing: count the gap as lost
        self._loss_run = 0
        self._last = -1          # frame number of the last frame played, -1 none
        self._lslot = 0
        self._reset_window()
        self._want = 0           # -1 skip a frame, +1 insert one, 0 nothing
        self._want_age = 0

    def _reset_window(self):
        self._win_n = 0
        self._win_min = 0x7FFF
        self._win_max = 0
        self._win_pkt = 0x7FFF   # the smallest packet (samples) in the window

    def _span(self):
        # The depth in samples, holes included; 0 when nothing is buffered.
        if not self._have or self._high <= 0:
            return 0
        return self._high

    def _step(self):
        # The frame due moves on by one (its slot keeps its data for _repeat).
        fb = self.frame_bytes
        self._play = (self._play + 1) & 0xFFFF
        self._pslot = (self._pslot + 1) % self.slots
        self._high -= fb
        lo = self._p_lo + fb
        if lo > 0xFFFF:
            lo -= 0x10000
            self._p_hi = (self._p_hi + 1) & 0xFFFF
        self._p_lo = lo

    def _back(self, k):
        # The frame due moves back k frames (an earlier packet while prebuffering).
        fb = self.frame_bytes
        self._play = (self._play - k) & 0xFFFF
        self._pslot = (self._pslot - k) % self.slots
        self._high += k * fb
        lo = self._p_lo - k * fb
        while lo < 0:
            lo += 0x10000
            self._p_hi = (self._p_hi - 1) & 0xFFFF
        self._p_lo = lo

    def target_ms(self):
        """The current target depth in ms."""
        return self._target * self.frame_ms

    # ---- input ----------------------------------------------------------

    def _update_jitter(self, ts_hi, ts_lo, arrival_ms):
        # RFC 3550 §A.8 with integers: D = (Rj - Ri) - (Sj - Si) in
        # timestamp units, J += (|D| - J) / 16 kept as J * 16.
        if self._have_transit:
            dts = ts_diff(ts_hi, ts_lo, self._l_hi, self._l_lo)
            darr = ticks_diff(arrival_ms, self._l_arr)
            if dts is not None and -60000 < darr < 60000:
                d = darr * self._rate_ms - dts
                if d < 0:
                    d = -d
                if d > _JIT_CLAMP:
                    d = _JIT_CLAMP
                self._jit16 += d - ((self._jit16 + 8) >> 4)
                self.jitter = self._jit16 >> 4
                self.jitter_ms = self.jitter // self._rate_ms
        self._have_transit = True
        self._l_hi = ts_hi
        self._l_lo = ts_lo
        self._l_arr = arrival_ms

    def put(self, seq, ts_hi, ts_lo, src, offset, n, arrival_ms):
        """Store the n payload bytes (samples) at src[offset] of packet seq
        (16-bit) with timestamp halves ts_hi/ts_lo that arrived at
        arrival_ms (ticks). src None stores n samples of silence where
        nothing is yet (an RFC 4733 event: its timestamp is held, so it
        does not feed the jitter estimate).

        Returns True if stored; late and duplicate packets return False.
        Any length is placed by its timestamp; a packet longer than the
        ring keeps its newest samples."""
        self.received += 1
        fb = self.frame_bytes
        cap = self.slots * fb
        rel = ts_diff(ts_hi, ts_lo, self._p_hi, self._p_lo)
        if self._have or self._gap:
            d = seq_diff(seq, self._next_seq)
            # an event's timestamp is its start, held for all its packets:
            # only audio's timestamp may say the stream restarted
            far = rel is None or ((rel < -MAX_MISORDER * fb or rel > MAX_DROPOUT * fb) and src is not None)
            if far or d < -MAX_MISORDER or d > MAX_DROPOUT:
                # A new stream (restart, SSRC change): its timing is unrelated.
                self.restarts += 1
                self._reset_stream()
                self._have_transit = False
        if src is not None:
            self._update_jitter(ts_hi, ts_lo, arrival_ms)
            if n < self._win_pkt:
                self._win_pkt = n
        if not self._have:
            if self._gap:
                # the idle gap's packets never came (a DTX pause sends none: not lost)
                d = seq_diff(seq, self._next_seq)
                if d > 0 and rel is not None and rel > 0:
                    lost = d * self._pkt // fb
                    self.lost += lost if lost < rel // fb else rel // fb
                self._gap = False
            return self._put_first(seq, ts_hi, ts_lo, src, offset, n)
        i = seq % _SEQS
        if self._seqs[i] == seq:
            self.duplicates += 1
            return False
        if rel + n <= 0 and src is None:
            self._note(seq, 0)       # an event's time already played: nothing to fill
            return False
        if rel + n <= 0:
            # entirely before the frame due
            if not self._playing and -rel + self._span() <= cap - fb:
                self._back((fb - 1 - rel) // fb)     # an earlier packet while prebuffering
                rel = ts_diff(ts_hi, ts_lo, self._p_hi, self._p_lo)
            else:
                self.late += 1
                return False
        elif rel < 0:
            # partly before it: keep the part still to play
            offset -= rel
            n += rel
            rel = 0
        if self._underrun:
            self._underrun = False
            if rel >= fb:
                # Nothing was buffered and the frames before this one are
                # missing: resume target - 1 frames before it (those are
                # concealed as holes) so the depth stays at the target.
                k = rel // fb - (self._target - 1)
                if k > 0:
                    self.lost += k
                    while k > 0:
                        self._step()
                        k -= 1
                    rel = ts_diff(ts_hi, ts_lo, self._p_hi, self._p_lo)
        if n > cap - fb:
            offset += n - (cap - fb)
            rel += n - (cap - fb)
            n = cap - fb
        while rel + n > cap:
            # Too far ahead for the ring: give up the oldest frames.
            if self._tags[self._pslot] == self._play:
                self.overflow += 1
            else:
                self.lost += 1
            self._step()
            rel -= fb
        self._note(seq, n)
        return self._store(rel, src, offset, n)

    def _note(self, seq, n):
        self._seqs[seq % _SEQS] = seq
        if self._next_seq < 0 or seq_diff(seq, self._next_seq) >= 0:
            self._next_seq = (seq + 1) & 0xFFFF
        if n:
            self._pkt = n

    def _put_first(self, seq, ts_hi, ts_lo, src, offset, n):
        # The first packet of a (re)started stream: its first sample starts frame 0.
        self._have = True
        self._play = 0
        self._pslot = 0
        self._high = 0
        self._p_hi = ts_hi
        self._p_lo = ts_lo
        cap = self.slots * self.frame_bytes - self.frame_bytes
        if n > cap:
            offset += n - cap
            n = cap
        self._note(seq, n)
        return self._store(0, src, offset, n)

    def _store(self, rel, src, offset, n):
        # Write n samples (silence where empty if src is None) at rel >= 0.
        fb = self.frame_bytes
        end = rel + n
        k = rel // fb
        while k * fb < end:
            slot = (self._pslot + k) % self.slots
            f = (self._play + k) & 0xFFFF
            base = slot * fb
            if self._tags[slot] != f:
                self._tags[slot] = f
                self._masks[slot] = 0
                g711.fill(self._ring, base, self.silence, fb)
            a = rel - k * fb if rel > k * fb else 0
            b = end - k * fb if end < (k + 1) * fb else fb
            mask = 0
            g = a // GRANULE
            while g * GRANULE < b:
                mask |= 1 << g
                g += 1
            if src is not None:
                g711.copy(self._ring, base + a, src, offset + k * fb + a - rel, b - a)
            elif self._masks[slot] & mask:
                mask &= ~self._masks[slot]          # silence only where nothing is
                g = 0
                while g < 8:
                    if mask & (1 << g):
                        g711.fill(self._ring, base + g * GRANULE, self.silence, GRANULE)
                    g += 1
            self._masks[slot] |= mask
            k += 1
        if end > self._high:
            self._high = end
        return True

    # ---- output ---------------------------------------------------------

    def _emit(self, out):
        # Play the frame due and move past it.
        slot = self._pslot
        g711.copy(out, 0, self._ring, slot * self.frame_bytes, self.frame_bytes)
        self._last = self._play
        self._lslot = slot
        self._loss_run = 0
        self._underrun = False
        self._step()

    def get(self, out):
        """Write the next frame_bytes bytes of payload into out; return
        FRAME, CONCEALED or SILENCE. Call once per frame period."""
        fb = self.frame_bytes
        span = self._span()
        self.depth_ms = span // self._rate_ms
        if not self._playing:
            if not self._have or span < self._target * fb:
                g711.fill(out, 0, self.silence, fb)
                return SILENCE
            self._playing = True
        self._observe(span)
        slot = self._pslot
        mask = self._masks[slot] if self._tags[slot] == self._play else 0
        if mask == _FULL:
            if self._want:
                status = self._adjust(out)
                if status >= 0:
                    return status
            self._emit(out)
            return FRAME
        if mask and span >= fb:
            # partly present, later samples here: the rest was lost
            patched = self._patch()
            self._emit(out)
            if patched:
                self.concealed += 1
                return CONCEALED
            return FRAME
        self._loss_run += 1
        if not mask and span > 0:
            self.lost += 1                      # a hole: later frames are here
            self._step()
            return self._conceal_frame(out)
        self.underruns += 1
        self._underrun = True
        status = self._conceal_frame(out)
        if self._loss_run > self.fade_steps + 1:
            # Long underrun: the sender is silent (DTX) or gone. Go idle and
            # prebuffer again; the packets until its next one count as lost.
            self._reset_stream()
            self._gap = True
        return status

    def stats(self):
        """A dict of the statistics (allocates: call at call end, not per frame)."""
        return {"received": self.received, "lost": self.lost, "late": self.late,
                "duplicates": self.duplicates, "concealed": self.concealed,
                "underruns": self.underruns, "inserted": self.inserted,
                "skipped": self.skipped, "overflow": self.overflow,
                "restarts": self.restarts, "depth_ms": self.depth_ms,
                "jitter_ms": self.jitter_ms, "target_ms": self.target_ms()}
