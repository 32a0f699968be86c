"""Call-progress and local tones (ITU-T E.180 / ETSI ES 201 970 cadences) from a sine table, integer only."""

# Tones are synthesised into 16-bit signed little-endian PCM frames, the same
# format as the audio pump's speaker and microphone buffers.
#
# Synthesis: a 256-entry sine table (peak 32767) and 24-bit phase
# accumulators, one per component. A component of f Hz at rate r advances
# by inc = f * 2**24 / r per sample; the table index is phase >> 16.
# Invariants (so every intermediate stays a small int on a 31-bit port):
#   - phase and inc are < 2**24,
#   - levels are Q12 gains in 0..4095, so table * level < 2**27 and the sum
#     of two components < 2**28,
#   - segment lengths are sample counts (< 2**20).
# TONES is the only table and every generator shares it: a segment's
# per-rate numbers (sample count, phase increments) are computed when it
# starts, with integer arithmetic only (no divmod tuple), so start(),
# fill() and mix_into() store small ints and the 20 ms path allocates
# nothing, and a generator costs a few attributes, not a copy of TONES.

from array import array

# The first quarter wave, round(32767 * sin(i * pi / 128)) for i = 0..64, as
# 16-bit little-endian bytes: a constant bytes object stays in flash with
# frozen or ROMFS firmware (a tuple would be built in the heap). Checked by
# test_media_tones.py (test_sine_table_within_one_lsb_of_sin).
_QUARTER = (
    b"\x00\x00\x24\x03\x48\x06\x6a\x09\x8c\x0c\xab\x0f\xc8\x12\xe2\x15"
    b"\xf9\x18\x0b\x1c\x1a\x1f\x23\x22\x28\x25\x26\x28\x1f\x2b\x11\x2e"
    b"\xfb\x30\xdf\x33\xba\x36\x8c\x39\x56\x3c\x17\x3f\xce\x41\x7a\x44"
    b"\x1c\x47\xb4\x49\x3f\x4c\xbf\x4e\x33\x51\x9b\x53\xf5\x55\x42\x58"
    b"\x82\x5a\xb3\x5c\xd7\x5e\xeb\x60\xf1\x62\xe8\x64\xcf\x66\xa6\x68"
    b"\x6d\x6a\x23\x6c\xc9\x6d\x5e\x6f\xe2\x70\x54\x72\xb5\x73\x04\x75"
    b"\x41\x76\x6b\x77\x84\x78\x89\x79\x7c\x7a\x5c\x7b\x29\x7c\xe3\x7c"
    b"\x89\x7d\x1d\x7e\x9c\x7e\x09\x7f\x61\x7f\xa6\x7f\xd8\x7f\xf5\x7f"
    b"\xff\x7f"
)


def _build_sine():
    t = array("h", [0] * 256)
    for i in range(256):
        q = i & 127
        q = q if q <= 64 else 128 - q
        v = _QUARTER[2 * q] | (_QUARTER[2 * q + 1] << 8)
        t[i] = -v if i >= 128 else v
    return t


SINE = _build_sine()  # one full period, 256 signed 16-bit samples

PHASE_MASK = 0xFFFFFF

# name -> the cadence, one bytes constant of segments "ms,f1,f2,level1,level2"
# (Hz, and Q12 gains on a full-scale sine: 1000 ~ -12 dBFS peak per
# component, 560 each of a dual tone (the same peak), 2000 the speaker's
# ring) separated by spaces; f = 0 / level 0 is silence, and a leading "*"
# repeats the cadence until stop(). A bytes constant stays in flash with
# frozen or ROMFS firmware; the tuples this table used to be were built in
# the heap at import (about 3 KB). Cadences follow ITU-T E.180 Suppl. 2 /
# ETSI ES 201 970 for Europe (425 Hz), and ANSI T1.401 for the US variants.
TONES = {
    # Ringback: 425 Hz 1 s on / 4 s off (default, Europe).
    "ringback": b"*1000,425,0,1000,0 4000,0,0,0,0",
    # Ringback, North America: 440 + 480 Hz 2 s on / 4 s off.
    "ringback_us": b"*2000,440,480,560,560 4000,0,0,0,0",
    # Busy: 425 Hz 0.5 s on / 0.5 s off.
    "busy": b"*500,425,0,1000,0 500,0,0,0,0",
    # Busy, North America: 480 + 620 Hz 0.5 / 0.5.
    "busy_us": b"*500,480,620,560,560 500,0,0,0,0",
    # Call waiting: 425 Hz 0.2 s every 3 s, quieter than the call itself.
    "call_waiting": b"*200,425,0,500,0 2800,0,0,0,0",
    # Door opened: a short rising two-tone (one shot).
    "door_open": b"120,880,0,1000,0 200,1320,0,1000,0",
    # Door entry rejected: one low tone (one shot).
    "door_reject": b"500,330,0,1000,0",
    # Door PIN locked out: three short low beeps (one shot).
    "lockout": b"100,300,0,1000,0 100,0,0,0,0 100,300,0,1000,0 100,0,0,0,0 100,300,0,1000,0",
    # Incoming-call ring on the device speaker: two 0.4 s bursts of an
    # 800/1000 Hz warble (8 pairs of 25 ms each), 0.2 s apart, every 3 s.
    "ring": (b"*"
             b"25,800,0,2000,0 25,1000,0,2000,0 25,800,0,2000,0 25,1000,0,2000,0 "
             b"25,800,0,2000,0 25,1000,0,2000,0 25,800,0,2000,0 25,1000,0,2000,0 "
             b"25,800,0,2000,0 25,1000,0,2000,0 25,800,0,2000,0 25,1000,0,2000,0 "
             b"25,800,0,2000,0 25,1000,0,2000,0 25,800,0,2000,0 25,1000,0,2000,0 "
             b"200,0,0,0,0 "
             b"25,800,0,2000,0 25,1000,0,2000,0 25,800,0,2000,0 25,1000,0,2000,0 "
             b"25,800,0,2000,0 25,1000,0,2000,0 25,800,0,2000,0 25,1000,0,2000,0 "
             b"25,800,0,2000,0 25,1000,0,2000,0 25,800,0,2000,0 25,1000,0,2000,0 "
             b"25,800,0,2000,0 25,1000,0,2000,0 25,800,0,2000,0 25,1000,0,2000,0 "
             b"2000,0,0,0,0"),
}


def phase_increment(freq, rate):
    """freq * 2**24 // rate without intermediates above 2**26 (freq < rate); allocates nothing."""
    q = (freq << 12) // rate
    r = (freq << 12) - q * rate
    return (q << 12) + ((r << 12) // rate)


class ToneGenerator:
    """Plays one tone from TONES at a time into 16-bit LE PCM frames.

    rate is 8000 (RTP/G.711 side) or 16000 (device speaker). start(name)
    selects a tone, fill() overwrites a frame, mix_into() adds to one with
    saturation; both return whether the tone is still running afterwards.
    Repeating tones run until stop(); one-shot tones end by themselves."""

    def __init__(self, rate=8000):
        if rate not in (8000, 16000):
            raise ValueError("rate must be 8000 or 16000")
        self.rate = rate
        self.name = None      # the tone playing, or None
        self.active = False
        self._segs = b""      # the tone's TONES entry
        self._n = 0           # where its next segment starts in _segs
        self._k = 0           # current segment index
        self._f1 = self._f2 = 0
        self._left = 0        # samples left in the current segment
        self._i1 = self._i2 = self._a1 = self._a2 = 0
        self._p1 = self._p2 = 0

    def start(self, name):
        """Start tone `name` (a key of TONES) from the beginning of its cadence."""
        if name not in TONES:
            raise ValueError("unknown tone %r" % (name,))
        self._segs = TONES[name]
        self.name = name
        self.active = True
        self._k = -1
        self._n = len(self._segs)     # past the end: _next_segment starts over
        self._a1 = self._a2 = 0     # "previous segment silent": phases restart
        self._next_segment()

    def stop(self):
        """Stop the tone; later frames are silence (fill) or untouched (mix_into)."""
        self.active = False
        self.name = None

    def _next_segment(self):
        # Advance to the next segment, wrapping for repeating tones. Phases
        # run on across segments (no click at a frequency change) and restart
        # at 0 after silence (the tone starts at a zero crossing).
        segs = self._segs
        k = self._k + 1
        if self._n >= len(segs):
            if k and segs[0] != 42:        # a one-shot tone ("*" repeats) is over
                self.active = False
                self.name = None
                return False
            k = 0
            self._n = 1 if segs[0] == 42 else 0
        silent = self._a1 == 0 and self._a2 == 0
        self._k = k
        ms = self._number()
        self._f1 = f1 = self._number()
        self._f2 = f2 = self._number()
        self._a1 = self._number()
        self._a2 = self._number()
        rate = self.rate
        self._left = ms * rate // 1000
        self._i1 = phase_increment(f1, rate)
        self._i2 = phase_increment(f2, rate)
        if silent:
            self._p1 = self._p2 = 0
        return True

    def _number(self):
        # the decimal number at _n in the segment text, and _n past its
        # separator: bytes indexing gives small ints, so nothing is allocated
        segs = self._segs
        n = self._n
        end = len(segs)
        value = 0
        while n < end:
            c = segs[n]
            n += 1
            if c < 48:                      # "," or " "
                break
            value = value * 10 + c - 48
        self._n = n
        return value

    def fill(self, buf, nsamples):
        """Overwrite nsamples 16-bit LE samples of buf with the tone (silence when idle)."""
        return self._run(buf, nsamples, False)

    def mix_into(self, buf, nsamples):
        """Add the tone to nsamples 16-bit LE samples of buf, saturating at +-32767/-32768."""
        return self._run(buf, nsamples, True)

    def _run(self, buf, n, mix):
        j = 0
        end = n << 1
        while j < end and self.active:
            if self._left == 0:
                if not self._next_segment():
                    break
                continue
            chunk = (end - j) >> 1
            if chunk > self._left:
                chunk = self._left
            self._left -= chunk
            stop = j + (chunk << 1)
            if self._a1 == 0 and self._a2 == 0:
                if not mix:
                    _zero(buf, j, stop)
            else:
                self._render(buf, j, stop, mix)
            j = stop
        if self._left == 0 and self.active:
            self._next_segment()    # a one-shot tone that ended exactly here is over
        if j < end and not mix:
            _zero(buf, j, end)
        return self.active

    def _render(self, buf, j, stop, mix):
        # buf[j:stop] gets (sin(p1) * a1 + sin(p2) * a2) >> 12, |value| < 2**15.
        t = SINE
        p1 = self._p1
        p2 = self._p2
        i1 = self._i1
        i2 = self._i2
        a1 = self._a1
        a2 = self._a2
        while j < stop:
            s = (t[p1 >> 16] * a1 + t[p2 >> 16] * a2) >> 12
            p1 = (p1 + i1) & PHASE_MASK
            p2 = (p2 + i2) & PHASE_MASK
            if mix:
                u = buf[j] | (buf[j + 1] << 8)
                s += u - ((u & 0x8000) << 1)
                if s > 32767:
                    s = 32767
                elif s < -32768:
                    s = -32768
            buf[j] = s & 0xFF
            buf[j + 1] = (s >> 8) & 0xFF
            j += 2
        self._p1 = p1
        self._p2 = p2


def _zero(buf, j, stop):
    while j < stop:
        buf[j] = 0
        j += 1
