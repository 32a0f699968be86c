"""DTMF as RFC 4733 telephone-events (§2.3 payload, §2.5.1 sending, §2.5.2 receiving), no allocation per packet."""

# Timestamps arrive as 16-bit halves (ts_hi, ts_lo), like everywhere in the
# media core, so no 32-bit value ever becomes a Python int (31-bit small
# ints on ESP32). Digits are returned as constant one-character strings from
# DIGITS; a new str is never built per packet.

from intercom.media.rtp import ts_diff

DIGITS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#", "A", "B", "C", "D")
_CODES = "0123456789*#ABCD"   # RFC 4733 §3.2: event codes 0..15

# §2.5.1.3: the final (E-bit) packet is sent three times in all.
END_REPEATS = 3
MAX_DURATION = 0xFFFF


def event_code(ch):
    """RFC 4733 §3.2 event code for a DTMF character ('0'-'9', '*', '#', 'A'-'D'; a-d too), else -1."""
    return _CODES.find(ch.upper()) if len(ch) == 1 else -1


class DtmfReceiver:
    """Turns received telephone-event payloads into digits, each reported once.

    An event is identified by its RTP timestamp (and event code). The first
    packet of an event reports its digit, whether or not the start was lost
    (§2.5.2.2: an event may be first seen in its end packets); updates and
    the retransmitted end packets (§2.5.1.3) of that event report nothing.
    Packets with an older timestamp than the current event (late
    retransmissions) are ignored. A long-duration continuation segment
    (§2.5.1.2, §2.5.2.3: same event, the previous one not ended, its
    timestamp within the duration so far) is the same press, not a new digit."""

    # §2.5.2.3 continuation: the new segment may start this much after the
    # last duration seen (packets lost near the 0xFFFF boundary).
    SEGMENT_SLACK = 800

    def __init__(self):
        self.reset()

    def reset(self):
        """Forget the current event (new call or new SSRC)."""
        self._have = False
        self._hi = 0
        self._lo = 0
        self.event = -1        # current event code
        self.ended = False     # its E bit has been seen
        self.duration = 0      # longest duration seen for it, timestamp units
        self.digits = 0        # digits reported so far

    def on_payload(self, ts_hi, ts_lo, buf, offset, length):
        """Parse the 4-byte event at buf[offset] (§2.3) and feed it; None if too short."""
        if length < 4:
            return None
        b = buf[offset + 1]
        return self.on_event(ts_hi, ts_lo, buf[offset], b & 0x80, (buf[offset + 2] << 8) | buf[offset + 3])

    def on_event(self, ts_hi, ts_lo, event, end, duration):
        """Feed one event packet; return its digit if it starts a new DTMF event, else None."""
        if self._have:
            d = ts_diff(ts_hi, ts_lo, self._hi, self._lo)
            if d == 0 and event == self.event:
                self._update(end, duration)
                return None
            if d is not None and d < 0:
                return None       # a late packet of an earlier event
            if (d is not None and event == self.event and not self.ended
                    and self.duration >= 0x8000 and d <= self.duration + self.SEGMENT_SLACK):
                self._hi = ts_hi & 0xFFFF
                self._lo = ts_lo & 0xFFFF
                self.duration = 0
                self._update(end, duration)
                return None
        self._have = True
        self._hi = ts_hi & 0xFFFF
        self._lo = ts_lo & 0xFFFF
        self.event = event
        self.ended = False
        self.duration = 0
        self._update(end, duration)
        if 0 <= event < 16:
            self.digits += 1
            return DIGITS[event]
        return None

    def _update(self, end, duration):
        if duration > self.duration:
            self.duration = duration
        if end:
            self.ended = True


class DtmfSender:
    """Produces RFC 4733 event payloads, one per frame, for a queue of digits.

    Each digit is on_ms long: packets every frame with the duration growing
    by frame_samples (§2.5.1.1), the last carrying the E bit and repeated
    END_REPEATS times in all (§2.5.1.3), then gap_ms without packets.

    Per frame, call next_payload(out, offset): it writes 4 bytes and returns
    4, or returns 0 when nothing is due. After a call, `marker` says the RTP
    marker bit must be set (first packet of an event, §2.5.1.1) and
    `new_event` that the RTP layer must take the current media timestamp for
    this event and keep it for every packet of the event (§2.5.1.1); `end`
    mirrors the E bit and `event` the event code. `ts_advance` is how far
    the RTP timestamp moves on after this packet: 0 within an event, and on
    its last packet the whole time the event took (frames * frame_samples),
    so the audio that follows is stamped with real time again."""

    _IDLE = 0
    _TONE = 1
    _END = 2
    _GAP = 3

    def __init__(self, on_ms=100, gap_ms=60, volume=10, clock_rate=8000, ptime=20):
        self.frame_samples = clock_rate * ptime // 1000
        self.on_samples = on_ms * clock_rate // 1000
        if self.on_samples < self.frame_samples or self.on_samples > MAX_DURATION:
            raise ValueError("on_ms must be at least one frame and below 0xFFFF samples")
        self.gap_frames = (gap_ms + ptime - 1) // ptime
        self.volume = volume & 0x3F
        self.reset()

    def reset(self):
        """Drop everything, even a digit being sent (a new call)."""
        self._queue = bytearray()
        self._pos = 0
        self._state = self._IDLE
        self._left = 0
        self.event = 0
        self.duration = 0
        self.end = False
        self.marker = False
        self.new_event = False
        self.ts_advance = 0
        self._frames = 0          # packets sent for the current event

    def start(self, digits):
        """Queue the DTMF characters of `digits` after any still being sent; ValueError if one is invalid."""
        codes = bytearray()
        for ch in digits:
            c = event_code(ch)
            if c < 0:
                raise ValueError("not a DTMF digit: %r" % (ch,))
            codes.append(c)
        if self._pos:
            self._queue = self._queue[self._pos:]
            self._pos = 0
        self._queue.extend(codes)

    def cancel(self):
        """Drop the queued digits; a digit already started still ends properly."""
        self._queue = bytearray()
        self._pos = 0

    @property
    def active(self):
        """True while a digit is being sent or queued (same as busy)."""
        return self._state != self._IDLE or self._pos < len(self._queue)

    @property
    def busy(self):
        """True while a digit or its end packets or trailing gap are still due."""
        return self.active

    def held_samples(self):
        """How far the RTP timestamp is behind the sampling clock right now:
        the frames of the event in progress (its packets keep its start
        timestamp until the last one moves it on by ts_advance), else 0."""
        if self._state == self._TONE or self._state == self._END:
            return self._frames * self.frame_samples
        return 0

    def next_payload(self, out, offset=0):
        """Write this frame's event payload at out[offset]; return 4, or 0 if none is due."""
        self.marker = False
        self.new_event = False
        self.ts_advance = 0
        state = self._state
        if state == self._GAP:
            self._left -= 1
            if self._left > 0:
                return 0
            self._state = state = self._IDLE
        if state == self._IDLE:
            if self._pos >= len(self._queue):
                return 0
            self.event = self._queue[self._pos]
            self._pos += 1
            self.duration = 0
            self.end = False
            self._frames = 0
            self.marker = True
            self.new_event = True
            self._state = state = self._TONE
        if state == self._TONE:
            d = self.duration + self.frame_samples
            if d >= self.on_samples:
                d = self.on_samples
                self.end = True
                self._state = self._END
                self._left = END_REPEATS - 1
            self.duration = d
        else:   # _END: retransmit the final packet unchanged
            self._left -= 1
        self._frames += 1
        if self._state == self._END and self._left <= 0:
            self._state = self._GAP
            self._left = self.gap_frames + 1
            self.ts_advance = self._frames * self.frame_samples
        out[offset] = self.event
        out[offset + 1] = (0x80 if self.end else 0) | self.volume
        out[offset + 2] = self.duration >> 8
        out[offset + 3] = self.duration & 0xFF
        return 4
