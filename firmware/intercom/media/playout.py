"""Playout of the jitter buffer: loss concealment and skip/insert adaptation (RFC 3550 §A.8 jitter, RFC 3551 §4.5)."""

# Losses: a frame with no samples while later ones are buffered is lost: the
# last frame is repeated once, then faded by 6 dB per frame for fade_steps
# frames, then silence. A frame partly present (a 10 or 30 ms packet lost)
# plays with the missing granules taken from the last frame. A frame
# missing (or partly present) with nothing later buffered is an underrun:
# concealed the same way but playout does not move, so a packet that is
# merely late still plays. When a later packet ends an underrun, playout
# jumps to target - 1 frames before it, so the depth stays at the target.
# An underrun longer than the fade goes idle and re-prebuffers, which
# re-centres the depth at a talk-spurt boundary, where it is inaudible.
#
# Drift and adaptation: every `window` frames the target depth is set from
# the interarrival jitter (one frame + 3 J, 20..200 ms by default). If the
# depth never fell to the target during the window (sender fast, or the
# jitter went down) one frame is skipped; if it never reached the target
# (sender slow, jitter up) one frame is inserted. Packets longer than a
# frame make the depth a sawtooth: its peaks are judged less the excess
# of the window's smallest packet. Either waits for a quiet frame, but no longer than
# another window, so at most one frame per second is changed.

from intercom.media import g711

FRAME = 0       # a received frame was written
CONCEALED = 1   # a repeated or faded frame was written (loss, underrun, insert)
SILENCE = 2     # silence codes were written (prebuffering, long loss)
QUIET = 0x20    # level rank below which a frame counts as quiet (~ -40 dBov)
GRANULE = 20    # samples per presence bit (2.5 ms at 8 kHz)
FULL = 0xFF     # every granule of a 160-sample frame present


class Playout:
    """Mixed into JitterBuffer (its ring, slots and counters live there):
    what get() writes when the frame due is missing, partly there, or to be
    skipped or doubled. Allocation free."""

    def _patch(self):
        # The frame due is partly present: fill its missing granules from
        # the last frame played (if still in the ring). True if any was.
        slot = self._pslot
        if self._last < 0 or self._tags[self._lslot] != self._last:
            return False
        fb = self.frame_bytes
        m = self._masks[slot]
        g = 0
        while g < 8:
            if not m & (1 << g):
                g711.copy(self._ring, slot * fb + g * GRANULE, self._ring,
                          self._lslot * fb + g * GRANULE, GRANULE)
            g += 1
        return True

    def _repeat(self, out):
        # Write the last played frame again, or silence if it is gone.
        fb = self.frame_bytes
        if self._last >= 0 and self._tags[self._lslot] == self._last:
            g711.copy(out, 0, self._ring, self._lslot * fb, fb)
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
        fb = self.frame_bytes
        t = (self.frame_ms + 3 * self.jitter_ms + self.frame_ms - 1) // self.frame_ms
        self._target = min(max(t, self._min_frames), self._max_frames)
        # packets of P samples lift the depth's peaks by P - frame (the
        # smallest P of the window: a mix of sizes never asks for an insert)
        excess = self._win_pkt - fb if 0x7FFF > self._win_pkt > fb else 0
        if self._want == 0:
            if self._win_min > self._target * fb:
                self._want = -1
                self._want_age = 0
            elif self._win_max - excess < self._target * fb:
                self._want = 1
                self._want_age = 0
        self._reset_window()

    def _adjust(self, out):
        # A frame is due and a skip/insert is pending: do it if the frame is
        # quiet or the request is a window old. Returns a status or -1.
        slot = self._pslot
        self._want_age += 1
        quiet = g711.peak(self._views[slot], self.frame_bytes, self._level) < QUIET
        if not quiet and self._want_age < self.window:
            return -1
        if self._want < 0:
            nxt = (slot + 1) % self.slots
            if self._tags[nxt] != ((self._play + 1) & 0xFFFF) or self._masks[nxt] != FULL:
                return -1
            self.skipped += 1
            self._want = 0
            self._reset_window()
            self._step()
            self._emit(out)
            return FRAME
        self.inserted += 1
        self._want = 0
        self._reset_window()
        if quiet:
            g711.fill(out, 0, self.silence, self.frame_bytes)
            return SILENCE
        return self._repeat(out)
