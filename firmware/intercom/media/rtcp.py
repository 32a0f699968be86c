"""RTCP sender and receiver reports, BYE and the peer's SR/RR (RFC 3550 §6.2-§6.6, §A.1, §A.3, §A.7)."""

import struct

from intercom.ticks import ticks_add, ticks_diff

PT_SR = 200
PT_RR = 201
PT_SDES = 202
PT_BYE = 203
REPORT_INTERVAL_MS = 5000     # RFC 3550 §6.2 minimum interval Tmin (our bandwidth share never exceeds it)
RTP_SEQ_MOD = 0x10000
# RFC 3550 §6.3.1 / §A.7: the interval is Tmin (Tmin/2 before the first
# report) times a random factor in [0.5, 1.5), divided by e - 3/2 = 1.21828
# (the RFC's compensation for timer reconsideration); 8209/10000 ~ 1/1.21828.
# So reports come 2.05 to 6.16 s apart (first one 1.03 to 3.08 s after start).
COMPENSATION_NUM = 8209
COMPENSATION_DEN = 10000
SR_INFO_LEN = 20              # NTP timestamp, RTP timestamp, packet and octet counts (§6.4.1)
BLOCK_LEN = 24                # one reception report block (§6.4.1)


class ReceptionStats:
    """Per-source sequence bookkeeping of RFC 3550 §A.1, without longs.

    The extended highest sequence number is kept as cycles (16-bit) and
    max_seq, so 32-bit values are only ever written as bytes."""

    def __init__(self):
        self.reset()

    def reset(self):
        """Forget the source (a new call)."""
        self.started = False
        self.base_seq = 0
        self.max_seq = 0
        self.cycles = 0
        self.received = 0
        self.expected_prior = 0
        self.received_prior = 0

    def update(self, seq):
        if not self.started:
            self.started = True
            self.base_seq = seq
            self.max_seq = seq
            self.received = 1
            return
        delta = (seq - self.max_seq) & 0xFFFF
        if delta < 0x8000:
            if seq < self.max_seq:
                self.cycles = (self.cycles + 1) & 0xFFFF
            self.max_seq = seq
        self.received = (self.received + 1) & 0x3FFFFFFF

    def expected(self):
        # fits a small int for 2**14 cycles (over 8 days of 20 ms packets)
        return ((self.cycles & 0x3FFF) << 16) + self.max_seq - self.base_seq + 1

    def cumulative_lost(self):
        lost = self.expected() - self.received
        return max(-0x800000, min(0x7FFFFF, lost))

    def fraction_lost(self):
        """Loss since the last report as a fraction of 256 (§A.3); moves the interval on."""
        expected = self.expected()
        expected_interval = expected - self.expected_prior
        received_interval = self.received - self.received_prior
        self.expected_prior = expected
        self.received_prior = self.received
        lost = expected_interval - received_interval
        if expected_interval <= 0 or lost <= 0:
            return 0
        return min(255, (lost << 8) // expected_interval)


class RtcpReporter:
    """Our compound RTCP packets (RFC 3550 §6.1: SR or RR first, then SDES
    CNAME; BYE last when the stream ends), built in preallocated buffers,
    and the peer's SR/RR parsed into statistics.

    SR or RR (§6.4): an SR while we send, i.e. when RTP went out since the
    report before last (§6.4: "since the second previous report"), else an
    RR. The report block about the peer is there once its SSRC is known.

    The SR's NTP timestamp is not wallclock time: the core has no clock
    but ticks, so it is a monotonic elapsed time in NTP format (seconds
    since the first report of this reporter, plus 1, and the fraction),
    which §6.4.1 allows to a sender without wallclock ("elapsed time").
    Its one use, the peer's LSR/DLSR round trip (§6.4.1), needs only that
    it runs at the right rate. It advances by ticks_diff between reports
    (the ticks clock wraps after 2**29 ms, so a gap of more than 6 days
    between reports loses time; it never runs backwards). Its RTP
    timestamp is the sender's sampling clock at the same instant, so the
    peer can map our RTP time to the NTP one (lip sync, §6.4.1).

    Every 32-bit field is written as 16-bit halves or bytes: no value above
    2**30 is ever a Python int (31-bit small ints on ESP32)."""

    def __init__(self, ssrc, cname):
        cname = cname.encode()[:255]
        sdes_len = 4 + 4 + 2 + len(cname) + 1
        sdes_len = (sdes_len + 3) & ~3
        # the SDES CNAME chunk, copied after the SR/RR of each report
        sdes = self.sdes = bytearray(sdes_len)
        sdes[0] = 0x81                    # V=2, SC=1
        sdes[1] = PT_SDES
        struct.pack_into(">H", sdes, 2, sdes_len // 4 - 1)
        sdes[8] = 1                       # CNAME
        sdes[9] = len(cname)
        sdes[10:10 + len(cname)] = cname
        size = 8 + SR_INFO_LEN + BLOCK_LEN + sdes_len
        self.buf = bytearray(size)
        self.bye_buf = bytearray(size + 8)
        # one view per possible length (RR or SR, with or without a block;
        # +8 with the BYE): made once, so no report makes a new one
        self.views = {}
        for n in (8, 8 + SR_INFO_LEN, 8 + BLOCK_LEN, 8 + SR_INFO_LEN + BLOCK_LEN):
            self.views[n + sdes_len] = memoryview(self.buf)[:n + sdes_len]
            self.views[n + sdes_len + 8] = memoryview(self.bye_buf)[:n + sdes_len + 8]
        self.view = self.views[8 + BLOCK_LEN + sdes_len]
        self.stats = ReceptionStats()
        self.lsr = bytearray(4)           # middle 32 bits of the last SR's NTP time
        # the monotonic NTP-format clock (see the class docstring): kept across calls
        self.ntp_at = None
        self.ntp_sec = 1
        self.ntp_ms = 0
        self.reset(ssrc)

    def reset(self, ssrc):
        """Start over for a new call with our new 4-byte SSRC (same CNAME and
        buffers). The report interval's random generator is seeded from the
        SSRC, itself from the session's random source (deterministic in tests)."""
        b = self.buf
        for i in range(4):
            b[4 + i] = ssrc[i]            # the SR's or RR's sender
            self.sdes[4 + i] = ssrc[i]    # the SDES chunk's source
        self.stats.reset()
        self.next_report = None
        for i in range(4):
            self.lsr[i] = 0
        self.lsr_at = None
        # xorshift16 state: never 0
        self.rand = (((ssrc[0] ^ ssrc[2]) << 8) | (ssrc[1] ^ ssrc[3])) or 0xACE1
        self.sent1 = 0                    # the sender's packet count at the last report
        self.sent2 = 0                    # ... and at the one before
        self.reports = 0                  # compound packets built this call
        # a new dict: the last call's statistics (MediaSession.stop()) keep theirs
        # rtt_ms: the round trip from the peer's LSR/DLSR about our last SR (§6.4.1), None until one
        self.remote = {"reports": 0, "fraction_lost": 0, "cumulative_lost": 0, "jitter": 0, "rtt_ms": None}

    def interval(self, initial=False):
        """The next report interval in ms (RFC 3550 §6.3.1, §A.7): see the constants."""
        x = self.rand                     # xorshift16 (7, 9, 8): small ints only
        x ^= (x << 7) & 0xFFFF
        x ^= x >> 9
        x ^= (x << 8) & 0xFFFF
        self.rand = x
        t = REPORT_INTERVAL_MS >> 1 if initial else REPORT_INTERVAL_MS
        t = t * (0x8000 + x) >> 16          # x [0.5, 1.5): 5000 * 0x17FFF < 2**30
        return t * COMPENSATION_NUM // COMPENSATION_DEN

    def due(self, now):
        """True when a report is due; the first is due one initial interval after the first ask."""
        if self.next_report is None:
            self.next_report = ticks_add(now, self.interval(True))
        return ticks_diff(now, self.next_report) >= 0

    def clock(self, now):
        """Move the monotonic NTP-format clock on to now (see the class docstring)."""
        if self.ntp_at is None:
            self.ntp_at = now
            return
        d = ticks_diff(now, self.ntp_at)
        if d > 0:
            ms = self.ntp_ms + d
            self.ntp_sec = (self.ntp_sec + ms // 1000) & 0x3FFFFFFF
            self.ntp_ms = ms % 1000
            self.ntp_at = now

    def build(self, source_ssrc_hi, source_ssrc_lo, jitter, now, sender=None, held=0, block=True):
        """Fill our next compound report and schedule the one after; returns
        the datagram view (no allocation).

        sender is the RtpSender (None: we never send) and held the samples
        its timestamp is behind the sampling clock (an RFC 4733 event in
        progress keeps its start timestamp); block False leaves the report
        block out (no RTP received yet)."""
        self.next_report = ticks_add(now, self.interval())
        self.reports = (self.reports + 1) & 0x3FFFFFFF
        return self.views[self._fill(source_ssrc_hi, source_ssrc_lo, jitter, now, sender, held, block)]

    def _fill(self, source_ssrc_hi, source_ssrc_lo, jitter, now, sender, held, block):
        b = self.buf
        sr = False
        if sender is not None:
            packets = sender.packets
            sr = packets != self.sent2     # sent since the second previous report (§6.4)
            self.sent2 = self.sent1
            self.sent1 = packets
        b[0] = 0x81 if block else 0x80     # V=2, RC
        b[1] = PT_SR if sr else PT_RR
        pos = 8
        if sr:
            self.clock(now)
            sec = self.ntp_sec
            struct.pack_into(">HH", b, 8, sec >> 16, sec & 0xFFFF)
            # the fraction ms * 2**32 / 1000, in two 16-bit steps
            f = self.ntp_ms << 16
            struct.pack_into(">HH", b, 12, f // 1000, ((f % 1000) << 16) // 1000)
            lo = sender.ts_lo + held
            struct.pack_into(">HH", b, 16, (sender.ts_hi + (lo >> 16)) & 0xFFFF, lo & 0xFFFF)
            struct.pack_into(">HHHH", b, 20, packets >> 16, packets & 0xFFFF,
                             sender.octets_hi, sender.octets_lo)
            pos = 8 + SR_INFO_LEN
        if block:
            self._block(b, pos, source_ssrc_hi, source_ssrc_lo, jitter, now)
            pos += BLOCK_LEN
        b[2] = 0
        b[3] = (pos >> 2) - 1               # length in words - 1
        sdes = self.sdes
        for i in range(len(sdes)):          # no slice: nothing allocated
            b[pos + i] = sdes[i]
        return pos + len(sdes)

    def _block(self, b, pos, source_ssrc_hi, source_ssrc_lo, jitter, now):
        st = self.stats
        struct.pack_into(">HH", b, pos, source_ssrc_hi, source_ssrc_lo)
        b[pos + 4] = st.fraction_lost()
        lost = st.cumulative_lost() & 0xFFFFFF
        b[pos + 5] = lost >> 16
        b[pos + 6] = (lost >> 8) & 0xFF
        b[pos + 7] = lost & 0xFF
        struct.pack_into(">HH", b, pos + 8, st.cycles, st.max_seq)
        jitter = min(jitter, 0x3FFFFFFF)
        struct.pack_into(">HH", b, pos + 12, jitter >> 16, jitter & 0xFFFF)
        for i in range(4):
            b[pos + 16 + i] = self.lsr[i]
        dlsr = 0
        if self.lsr_at is not None:
            delay = ticks_diff(now, self.lsr_at)
            dlsr = min(0x3FFFFFFF, (delay << 16) // 1000) if delay > 0 else 0
        struct.pack_into(">HH", b, pos + 20, dlsr >> 16, dlsr & 0xFFFF)

    def build_bye(self, source_ssrc_hi, source_ssrc_lo, jitter, now, sender=None, held=0, block=True):
        """Our last compound packet (RFC 3550 §6.6): the final SR/RR and SDES,
        then a BYE for our SSRC; in its own buffer, so the next call's
        reports cannot overwrite it before it is sent. Returns the view."""
        n = self._fill(source_ssrc_hi, source_ssrc_lo, jitter, now, sender, held, block)
        b = self.buf
        out = self.bye_buf
        for i in range(n):
            out[i] = b[i]
        out[n] = 0x81                       # V=2, SC=1, no reason
        out[n + 1] = PT_BYE
        out[n + 2] = 0
        out[n + 3] = 1
        for i in range(4):
            out[n + 4 + i] = b[4 + i]
        self.next_report = None
        return self.views[n + 8]

    def _round_trip(self, data, block, now):
        """remote["rtt_ms"] from a report block about us: now - LSR - DLSR in
        the NTP middle 32 bits (§6.4.1), computed in 16-bit halves."""
        for i in range(4):
            if data[block + i] != self.buf[4 + i]:
                return                          # a block about another source
        l_hi = (data[block + 16] << 8) | data[block + 17]
        l_lo = (data[block + 18] << 8) | data[block + 19]
        if (l_hi | l_lo) == 0:
            return                              # no SR of ours reached the peer yet
        self.clock(now)
        lo = ((self.ntp_ms << 16) // 1000 - l_lo - ((data[block + 22] << 8) | data[block + 23]))
        hi = (self.ntp_sec & 0xFFFF) - l_hi - ((data[block + 20] << 8) | data[block + 21])
        while lo < 0:
            lo += 0x10000
            hi -= 1
        hi &= 0xFFFF
        if hi < 64:                             # else negative or absurd: a bad LSR/DLSR
            self.remote["rtt_ms"] = hi * 1000 + ((lo * 1000) >> 16)

    def parse(self, data, now, n=-1):
        """Read a compound RTCP packet from the peer (its first n bytes, or
        all of data); False if malformed."""
        if n < 0:
            n = len(data)
        pos = 0
        ok = False
        while pos + 4 <= n:
            if data[pos] >> 6 != 2:
                return ok
            count = data[pos] & 0x1F
            pt = data[pos + 1]
            length = (((data[pos + 2] << 8) | data[pos + 3]) + 1) * 4
            if pos + length > n:
                return ok
            block = pos + 8
            if pt == PT_SR:
                for i in range(4):              # no slices: nothing allocated
                    self.lsr[i] = data[pos + 10 + i]
                self.lsr_at = now
                block = pos + 28
            if pt == PT_SR or pt == PT_RR:      # (a tuple of globals would allocate)
                ok = True
                if count and block + 24 <= pos + length:
                    r = self.remote
                    r["reports"] += 1
                    r["fraction_lost"] = data[block + 4]
                    lost = (data[block + 5] << 16) | (data[block + 6] << 8) | data[block + 7]
                    r["cumulative_lost"] = lost - 0x1000000 if lost & 0x800000 else lost
                    r["jitter"] = (data[block + 14] << 8 | data[block + 15]) if data[block + 12] == 0 \
                        and data[block + 13] == 0 else 0xFFFF
                    self._round_trip(data, block, now)
            pos += length
        return ok
