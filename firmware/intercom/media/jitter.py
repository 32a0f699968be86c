"""Adaptive jitter buffer for G.711 payload (RFC 3550 §6.4.1 and §A.8 interarrival jitter)."""

# The buffer holds *encoded* payload (one byte per sample), so it is codec
# agnostic apart from three per-codec tables taken from a g711.Codec: the
# silence code, a -6 dB "fade" code map and a level map for quiet checks.
#
# Playout is driven by sequence number: get() is called once per frame
# period by the audio pump and plays `_play`, the next sequence number due.
#
# Invariants:
# - slot i holds the packet whose seq % slots == i; _tags[i] is that seq or
#   -1. Stored packets always lie in [_play, _play + slots), so a slot is
#   only reused after its seq has been played or given up.
# - depth (span) = _high - _play + 1 frames, 0 when nothing is at or after
#   _play. It includes holes.
# - Every stored value is a small int (< 2**16 or a clamped jitter), so
#   nothing here becomes a long on a 31-bit port; put()/get() allocate
#   nothing (buffers and per-slot memoryviews are made in __init__).
#
# Losses: a frame missing while a later one is buffered is lost: the last
# frame is repeated once, then faded by 6 dB per frame for fade_steps
# frames, then silence. A frame missing with nothing later buffered is an
# underrun: concealed the same way but _play does not move, so a packet
# that is merely a little late (slow sender clock, jitter) still plays and
# latency grows by exactly what the network needed. When a later packet
# ends an underrun, _play jumps to target - 1 frames before it, so the
# output stays continuous and the depth stays at the target.
# An underrun longer than the fade goes idle and re-prebuffers, which
# re-centres the depth at a talk-spurt boundary, where it is inaudible.
#
# Drift and adaptation: every `window` frames the target depth is set from
# the interarrival jitter (one frame + 3 J, 20..200 ms by default). If the
# depth never fell to the target during the window (sender fast, or the
# jitter went down) one frame is skipped; if it never reached the target
# (sender slow, jitter up) one frame is inserted. Either waits for a quiet
# frame, but no longer than another window, so at most one frame per
# second is changed: a +-0.5 % clock needs one every 4 s.

from intercom.media import g711
from intercom.media.rtp import seq_diff, ts_diff, MAX_MISORDER
from intercom.ticks import ticks_diff

FRAME = 0       # a received frame was written
CONCEALED = 1   # a repeated or faded frame was written (loss, underrun, insert)
SILENCE = 2     # silence codes were written (prebuffering, long loss)

MAX_DROPOUT = 3000  # RFC 3550 §A.1: a jump this far ahead is a restart
QUIET = 0x20        # level rank below which a frame counts as quiet (~ -40 dBov)
_JIT_CLAMP = 0x7FFFF  # largest |D| used in the jitter filter (65 s at 8 kHz)


class JitterBuffer:
    """A ring of `slots` frames of frame_bytes encoded bytes each.

    put() stores a packet's payload, get() writes one frame every period.
    Statistics are plain attributes: received, lost, late, duplicates,
    concealed, underruns, inserted, skipped, overflow, restarts, depth_ms,
    jitter_ms and jitter (RFC 3550 interarrival jitter in timestamp units)."""

    def __init__(self, codec=g711.PCMU, frame_bytes=160, slots=12, clock_rate=8000,
                 frame_ms=20, min_ms=20, max_ms=200, start_ms=40, fade_steps=2,
                 window=50):
        self.frame_bytes = frame_bytes
        self.slots = slots
        self.frame_ms = frame_ms
        self._rate_ms = clock_rate // 1000
        self._min_frames = max(1, (min_ms + frame_ms - 1) // frame_ms)
        self._max_frames = max(self._min_frames, min(max_ms // frame_ms, slots - 2))
        self.fade_steps = fade_steps
        self.window = window
        self._ring = bytearray(slots * frame_bytes)
        mv = memoryview(self._ring)
        self._views = [mv[i * frame_bytes:(i + 1) * frame_bytes] for i in range(slots)]
        self._tags = [-1] * slots
        self._lens = [0] * slots
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
        self._reset_stream()

    # ---- state helpers --------------------------------------------------

    def _reset_stream(self):
        # Forget the packets and the playout position (new stream or restart).
        for i in range(self.slots):
            self._tags[i] = -1
        self._have = False       # any packet since the reset
        self._playing = False
        self._play = 0
        self._high = 0
        self._underrun = False
        self._gap = False        # idle after playing: count the gap as lost
        self._loss_run = 0
        self._last = -1          # seq of the last frame played, -1 none
        self._reset_window()
        self._want = 0           # -1 skip a frame, +1 insert one, 0 nothing
        self._want_age = 0

    def _reset_window(self):
        self._win_n = 0
        self._win_min = 0x7FFF
        self._win_max = 0

    def _span(self):
        if not self._have:
            return 0
        d = seq_diff(self._high, self._play) + 1
        return d if d > 0 else 0

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
        """Store the n payload bytes at src[offset] of packet seq (16-bit)
        with timestamp halves ts_hi/ts_lo that arrived at arrival_ms (ticks).

        Returns True if stored; late, duplicate packets return False. A
        payload longer than frame_bytes is truncated, a shorter one padded
        with silence when played."""
        self.received += 1
        d = seq_diff(seq, self._play)
        if (self._have or self._gap) and (d < -MAX_MISORDER or d > MAX_DROPOUT):
            # A new stream (restart, SSRC change): its timing is unrelated.
            self.restarts += 1
            self._reset_stream()
            self._have_transit = False
        self._update_jitter(ts_hi, ts_lo, arrival_ms)
        if not self._have:
            if self._gap:
                if d > 0:
                    self.lost += d    # the idle gap's frames never came
                self._gap = False
            return self._put_first(seq, src, offset, n)
        if d < 0:
            if not self._playing and seq_diff(self._high, seq) < self.slots:
                self._play = seq          # an earlier packet while prebuffering
                return self._store(seq, src, offset, n)
            if self._tags[seq % self.slots] == seq:
                self.duplicates += 1
            else:
                self.late += 1
            return False
        if self._underrun and d == 0:
            # the frame that was late during the underrun arrived: it plays
            self._underrun = False
        elif self._underrun and d > 0:
            # Nothing was buffered and the frames before seq are missing:
            # resume target - 1 frames before seq (those are concealed as
            # holes) so the depth stays at the target; the rest are lost.
            keep = self._target - 1
            if d > keep:
                self.lost += d - keep
                self._play = (seq - keep) & 0xFFFF
                d = keep
            self._underrun = False
        while d >= self.slots:
            # Too far ahead for the ring: give up the oldest frames.
            if self._tags[self._play % self.slots] == self._play:
                self.overflow += 1
            else:
                self.lost += 1
            self._play = (self._play + 1) & 0xFFFF
            d -= 1
        return self._store(seq, src, offset, n)

    def _put_first(self, seq, src, offset, n):
        # The first packet of a (re)started stream.
        self._have = True
        self._play = seq
        self._high = seq
        return self._store(seq, src, offset, n)

    def _store(self, seq, src, offset, n):
        i = seq % self.slots
        if self._tags[i] == seq:
            self.duplicates += 1
            return False
        if n > self.frame_bytes:
            n = self.frame_bytes
        fb = self.frame_bytes
        g711.copy(self._ring, i * fb, src, offset, n)
        if n < fb:
            g711.fill(self._ring, i * fb + n, self.silence, fb - n)
        self._tags[i] = seq
        self._lens[i] = n
        if seq_diff(seq, self._high) > 0 or self._span() == 0:
            self._high = seq
        return True

    # ---- output ---------------------------------------------------------

    def _emit(self, seq, out):
        # Play the frame stored for seq and move past it.
        i = seq % self.slots
        g711.copy(out, 0, self._ring, i * self.frame_bytes, self.frame_bytes)
        self._last = seq
        self._loss_run = 0
        self._underrun = False
        self._play = (seq + 1) & 0xFFFF

    def _repeat(self, out):
        # Write the last played frame again, or silence if it is gone.
        fb = self.frame_bytes
        i = self._last % self.slots if self._last >= 0 else 0
        if self._last >= 0 and self._tags[i] == self._last:
            g711.copy(out, 0, self._ring, i * fb, fb)
            return CONCEALED
        g711.fill(out, 0, self.silence, fb)
        return SILENCE

    def _conceal_frame(self, out):
        # Loss run k: k == 1 repeats, 2..fade_steps+1 fade by 6 dB each, then silence.
        fb = self.frame_bytes
        self.concealed += 1
        k = self._loss_run
        if k == 1:
            status = self._repeat(self._conceal)
            g711.copy(out, 0, self._conceal, 0, fb)
            return status
        if k <= self.fade_steps + 1:
            g711.translate(self._conceal, fb, self._fade)
            g711.copy(out, 0, self._conceal, 0, fb)
            return CONCEALED
        g711.fill(out, 0, self.silence, fb)
        return SILENCE

    def _observe(self, span):
        # Window statistics of the depth seen at each get(); decide once per window.
        if span < self._win_min:
            self._win_min = span
        if span > self._win_max:
            self._win_max = span
        self._win_n += 1
        if self._win_n < self.window:
            return
        t = (self.frame_ms + 3 * self.jitter_ms + self.frame_ms - 1) // self.frame_ms
        self._target = min(max(t, self._min_frames), self._max_frames)
        if self._want == 0:
            if self._win_min > self._target:
                self._want = -1
                self._want_age = 0
            elif self._win_max < self._target:
                self._want = 1
                self._want_age = 0
        self._reset_window()

    def _adjust(self, out):
        # A frame is due and a skip/insert is pending: do it if the frame is
        # quiet or the request is a window old. Returns a status or -1.
        seq = self._play
        i = seq % self.slots
        self._want_age += 1
        quiet = g711.peak(self._views[i], self._lens[i], self._level) < QUIET
        if not quiet and self._want_age < self.window:
            return -1
        if self._want < 0:
            nxt = (seq + 1) & 0xFFFF
            if self._tags[nxt % self.slots] != nxt:
                return -1
            self.skipped += 1
            self._want = 0
            self._reset_window()
            self._emit(nxt, out)
            return FRAME
        self.inserted += 1
        self._want = 0
        self._reset_window()
        if quiet:
            g711.fill(out, 0, self.silence, self.frame_bytes)
            return SILENCE
        return self._repeat(out)

    def get(self, out):
        """Write the next frame_bytes bytes of payload into out; return
        FRAME, CONCEALED or SILENCE. Call once per frame period."""
        span = self._span()
        self.depth_ms = span * self.frame_ms
        if not self._playing:
            if not self._have or span < self._target:
                g711.fill(out, 0, self.silence, self.frame_bytes)
                return SILENCE
            self._playing = True
        self._observe(span)
        seq = self._play
        if self._tags[seq % self.slots] == seq:
            if self._want:
                status = self._adjust(out)
                if status >= 0:
                    return status
            self._emit(seq, out)
            return FRAME
        self._loss_run += 1
        if span > 0:
            self.lost += 1                      # a hole: later frames are here
            self._play = (seq + 1) & 0xFFFF
            return self._conceal_frame(out)
        self.underruns += 1
        self._underrun = True
        status = self._conceal_frame(out)
        if self._loss_run > self.fade_steps + 1:
            # Long underrun: the sender is silent (DTX) or gone. Go idle and
            # prebuffer again; the frames until its next packet count as lost.
            play = self._play
            self._reset_stream()
            self._play = play
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
