"""RTP packetization and validation (RFC 3550 §5.1, §A.1; RFC 3551; RFC 4733 §2.3 events)."""

# 32-bit quantities never become Python ints here: ESP32 small ints are
# 31-bit, and anything >= 2**30 would be a heap-allocated long. So
#   - sequence numbers are ints in [0, 65536),
#   - timestamps are two 16-bit halves (ts_hi, ts_lo),
#   - SSRCs are 4 bytes on the send side and two 16-bit halves on receive.
# Both classes preallocate everything in __init__ and only store small ints
# afterwards, so the per-packet path allocates nothing.

RTP_VERSION = 2
HEADER_LEN = 12
PT_PCMU = 0
PT_PCMA = 8

# RFC 3550 §A.1: more than this many packets behind is treated as a restart.
MAX_MISORDER = 100


def seq_diff(a, b):
    """Signed distance a - b between 16-bit sequence numbers, in [-32768, 32767]."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


def ts_diff(a_hi, a_lo, b_hi, b_lo, limit=0x1FFF):
    """Signed distance a - b between 32-bit timestamps given as 16-bit halves.

    Returns None when |a - b| >= limit * 65536 (default ~2**29), so the result
    always stays a small int on a 31-bit port."""
    dhi = ((a_hi - b_hi + 0x8000) & 0xFFFF) - 0x8000
    if dhi >= limit or dhi <= -limit:
        return None
    return (dhi << 16) + (a_lo - b_lo)


class RtpSender:
    """Builds RTP packets in one preallocated buffer (RFC 3550 §5.1).

    Write the payload into `payload` (a memoryview over the payload area,
    made once), then call packet_for(n) to stamp the header and get the
    datagram to send. ssrc is 4 bytes; seq, ts_hi, ts_lo are the initial
    (random, RFC 3550 §5.1) sequence number and timestamp halves."""

    def __init__(self, ssrc, payload_type, clock_rate=8000, ptime=20,
                 seq=0, ts_hi=0, ts_lo=0):
        self.frame_bytes = clock_rate * ptime // 1000   # G.711: 1 byte/sample
        self.buf = bytearray(HEADER_LEN + self.frame_bytes)
        self.buf[0] = RTP_VERSION << 6                   # V=2, P=0, X=0, CC=0
        self.reset(ssrc, payload_type, seq, ts_hi, ts_lo)
        mv = memoryview(self.buf)
        self.payload = mv[HEADER_LEN:]
        # Views made once: the audio packets of every whole 10 ms up to the
        # buffer (RFC 3551 §4.5 packetizations) and a 4-byte RFC 4733 event.
        self._step = clock_rate // 100
        self._views = [mv[:HEADER_LEN + k * self._step] for k in range(self.frame_bytes // self._step + 1)]
        self._event = mv[:HEADER_LEN + 4]

    def reset(self, ssrc, payload_type, seq=0, ts_hi=0, ts_lo=0):
        """Start a new stream in the same buffer (a new call): new SSRC,
        payload type and initial sequence number and timestamp; counters 0."""
        if len(ssrc) != 4:
            raise ValueError("ssrc must be 4 bytes")
        self.payload_type = payload_type & 0x7F
        for i in range(4):
            self.buf[8 + i] = ssrc[i]
        self.seq = seq & 0xFFFF
        self.ts_hi = ts_hi & 0xFFFF
        self.ts_lo = ts_lo & 0xFFFF
        # RTCP SR counters (RFC 3550 §6.4.1): packets wraps at 2**30 (248
        # days of 20 ms frames); octets is kept as two 16-bit halves.
        self.packets = 0
        self.octets_hi = 0
        self.octets_lo = 0
        # The first audio packet of a stream starts a talk spurt (RFC 3551 §4.1).
        self._marker = 0x80

    def talkspurt(self):
        """Set the marker bit on the next audio packet (start of a talk spurt)."""
        self._marker = 0x80

    def advance(self, samples):
        """Move the timestamp on by samples (0 <= samples < 65536) without sending."""
        lo = self.ts_lo + samples
        if lo > 0xFFFF:
            lo -= 0x10000
            self.ts_hi = (self.ts_hi + 1) & 0xFFFF
        self.ts_lo = lo

    def packet_for(self, payload_len, ts_advance=-1, payload_type=-1, marker=False):
        """Stamp the header for a payload of payload_len bytes already in
        `payload`; return the whole datagram as a memoryview.

        The sequence number then goes up by one and the timestamp by
        ts_advance (default payload_len: one G.711 sample per byte; 0 for
        the repeated packets of an RFC 4733 event). payload_type -1 means
        the audio type given at construction; only audio packets consume a
        pending talk-spurt marker. Views for every whole 10 ms and for 4
        bytes are made once; any other length makes a new memoryview."""
        b = self.buf
        m = 0x80 if marker else 0
        if payload_type < 0:
            payload_type = self.payload_type
            m |= self._marker
            self._marker = 0
        b[1] = m | (payload_type & 0x7F)
        b[2] = self.seq >> 8
        b[3] = self.seq & 0xFF
        b[4] = self.ts_hi >> 8
        b[5] = self.ts_hi & 0xFF
        b[6] = self.ts_lo >> 8
        b[7] = self.ts_lo & 0xFF
        self.seq = (self.seq + 1) & 0xFFFF
        self.advance(payload_len if ts_advance < 0 else ts_advance)
        self.packets = (self.packets + 1) & 0x3FFFFFFF
        lo = self.octets_lo + payload_len
        if lo > 0xFFFF:
            lo &= 0xFFFF
            self.octets_hi = (self.octets_hi + 1) & 0xFFFF
        self.octets_lo = lo
        if payload_len == 4:
            return self._event
        if payload_len % self._step == 0 and payload_len <= self.frame_bytes:
            return self._views[payload_len // self._step]
        return memoryview(b)[:HEADER_LEN + payload_len]


class RtpReceiver:
    """Validates RTP packets (RFC 3550 §5.1, §A.1) and keeps their fields.

    parse(buf, n) returns True for an accepted packet and stores its fields
    in attributes (payload_type, marker, seq, ts_hi, ts_lo, ssrc_hi,
    ssrc_lo, offset, length: the payload is buf[offset:offset+length]).
    Malformed packets and packets from a foreign SSRC return False and are
    counted. The first good packet latches the SSRC; RELATCH consecutive
    packets from one other SSRC (and none from the latched one) move the
    latch, since PBXs change SSRC on re-bridging."""

    RELATCH = 10

    def __init__(self):
        self.reset()

    def reset(self):
        """Forget the stream: no SSRC latched, every counter 0 (a new call)."""
        self.payload_type = 0
        self.marker = 0
        self.seq = 0
        self.ts_hi = 0
        self.ts_lo = 0
        self.ssrc_hi = 0
        self.ssrc_lo = 0
        self.offset = 0
        self.length = 0
        self.received = 0        # accepted packets
        self.malformed = 0
        self.foreign = 0         # dropped for a foreign SSRC
        self.rtcp = 0            # RTCP seen on the RTP port (rtcp-mux), dropped
        self.ssrc_changes = 0
        self.latched = False
        self._cand_hi = 0
        self._cand_lo = 0
        self._cand_count = 0

    def unlatch(self):
        """Forget the latched SSRC (e.g. after the peer's SDP changed)."""
        self.latched = False
        self._cand_count = 0

    def parse(self, buf, n):
        """Validate the n-byte datagram in buf; see the class docstring."""
        if n < HEADER_LEN:
            self.malformed += 1
            return False
        b0 = buf[0]
        if b0 >> 6 != RTP_VERSION:
            self.malformed += 1
            return False
        b1 = buf[1]
        if 200 <= b1 <= 204:      # RTCP SR..APP multiplexed (RFC 5761 §4)
            self.rtcp += 1
            return False
        hlen = HEADER_LEN + ((b0 & 0x0F) << 2)           # CSRC list
        if b0 & 0x10:                                    # header extension
            if hlen + 4 > n:
                self.malformed += 1
                return False
            hlen += 4 + (((buf[hlen + 2] << 8) | buf[hlen + 3]) << 2)
        end = n
        if b0 & 0x20:                                    # padding
            pad = buf[n - 1]
            end = n - pad
            if pad == 0 or end < hlen:
                self.malformed += 1
                return False
        if hlen > end:
            self.malformed += 1
            return False
        s_hi = (buf[8] << 8) | buf[9]
        s_lo = (buf[10] << 8) | buf[11]
        if not self.latched:
            self.latched = True
            self.ssrc_hi = s_hi
            self.ssrc_lo = s_lo
        elif s_hi != self.ssrc_hi or s_lo != self.ssrc_lo:
            self.foreign += 1
            if self._cand_count and s_hi == self._cand_hi and s_lo == self._cand_lo:
                self._cand_count += 1
            else:
                self._cand_hi = s_hi
                self._cand_lo = s_lo
                self._cand_count = 1
            if self._cand_count < self.RELATCH:
                return False
            self.ssrc_hi = s_hi
            self.ssrc_lo = s_lo
            self.ssrc_changes += 1
            self._cand_count = 0
        else:
            self._cand_count = 0
        self.payload_type = b1 & 0x7F
        self.marker = b1 >> 7
        self.seq = (buf[2] << 8) | buf[3]
        self.ts_hi = (buf[4] << 8) | buf[5]
        self.ts_lo = (buf[6] << 8) | buf[7]
        self.offset = hlen
        self.length = end - hlen
        self.received += 1
        return True


class TelephoneEvent:
    """An RFC 4733 §2.3 telephone-event payload: event, end, volume, duration.

    parse() fills the attributes in place; pack_into() writes them. Events
    0-9 are digits, 10 '*', 11 '#', 12-15 'A'-'D' (RFC 4733 §3.2)."""

    DIGITS = "0123456789*#ABCD"

    def __init__(self):
        self.event = 0
        self.end = False
        self.volume = 0      # 0..63, -dBm0
        self.duration = 0    # timestamp units, 0..65535

    def parse(self, buf, offset, length):
        """Read the 4-byte event at buf[offset]; False if too short."""
        if length < 4:
            return False
        self.event = buf[offset]
        b = buf[offset + 1]
        self.end = bool(b & 0x80)
        self.volume = b & 0x3F
        self.duration = (buf[offset + 2] << 8) | buf[offset + 3]
        return True

    def pack_into(self, buf, offset):
        """Write the event as 4 bytes at buf[offset] (R bit 0)."""
        buf[offset] = self.event & 0xFF
        buf[offset + 1] = (0x80 if self.end else 0) | (self.volume & 0x3F)
        buf[offset + 2] = (self.duration >> 8) & 0xFF
        buf[offset + 3] = self.duration & 0xFF

    def digit(self):
        """The event as a one-character string, or None for non-DTMF events."""
        if self.event < 16:
            return self.DIGITS[self.event]
        return None
