"""RTCP receiver reports and the peer's SR/RR (RFC 3550 §6.4, §6.5 CNAME, §A.1 and §A.3 loss)."""

import struct

from intercom.ticks import ticks_diff

PT_SR = 200
PT_RR = 201
PT_SDES = 202
REPORT_INTERVAL_MS = 5000     # RFC 3550 §6.2 minimum, fixed for a two-party call
RTP_SEQ_MOD = 0x10000


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
    """Builds our RR + SDES CNAME compound packet in a preallocated buffer
    and parses the peer's SR/RR into statistics."""

    def __init__(self, ssrc, cname):
        cname = cname.encode()[:255]
        sdes_len = 4 + 4 + 2 + len(cname) + 1
        sdes_len = (sdes_len + 3) & ~3
        self.buf = bytearray(32 + sdes_len)
        self.view = memoryview(self.buf)
        b = self.buf
        b[0] = 0x81                       # V=2, RC=1
        b[1] = PT_RR
        struct.pack_into(">H", b, 2, 7)   # 8 words - 1
        s = 32
        b[s] = 0x81                       # V=2, SC=1
        b[s + 1] = PT_SDES
        struct.pack_into(">H", b, s + 2, sdes_len // 4 - 1)
        b[s + 8] = 1                      # CNAME
        b[s + 9] = len(cname)
        b[s + 10:s + 10 + len(cname)] = cname
        self.stats = ReceptionStats()
        self.lsr = bytearray(4)           # middle 32 bits of the last SR's NTP time
        self.reset(ssrc)

    def reset(self, ssrc):
        """Start over for a new call with our new 4-byte SSRC (same CNAME and buffer)."""
        b = self.buf
        for i in range(4):
            b[4 + i] = ssrc[i]            # the RR's sender
            b[36 + i] = ssrc[i]           # the SDES chunk's source
        self.stats.reset()
        self.next_report = None
        for i in range(4):
            self.lsr[i] = 0
        self.lsr_at = None
        # a new dict: the last call's statistics (MediaSession.stop()) keep theirs
        self.remote = {"reports": 0, "fraction_lost": 0, "cumulative_lost": 0, "jitter": 0}

    def due(self, now):
        if self.next_report is None:
            self.next_report = now
        return ticks_diff(now, self.next_report) >= 0

    def build(self, source_ssrc_hi, source_ssrc_lo, jitter, now):
        """Fill the RR for one source; returns the datagram view (no allocation)."""
        self.next_report = (now + REPORT_INTERVAL_MS) & 0x3FFFFFFF
        b = self.buf
        st = self.stats
        struct.pack_into(">HH", b, 8, source_ssrc_hi, source_ssrc_lo)
        b[12] = st.fraction_lost()
        lost = st.cumulative_lost() & 0xFFFFFF
        b[13] = lost >> 16
        b[14] = (lost >> 8) & 0xFF
        b[15] = lost & 0xFF
        struct.pack_into(">HH", b, 16, st.cycles, st.max_seq)
        jitter = min(jitter, 0x3FFFFFFF)
        struct.pack_into(">HH", b, 20, jitter >> 16, jitter & 0xFFFF)
        for i in range(4):
            b[24 + i] = self.lsr[i]
        dlsr = 0
        if self.lsr_at is not None:
            delay = ticks_diff(now, self.lsr_at)
            dlsr = min(0x3FFFFFFF, (delay << 16) // 1000) if delay > 0 else 0
        struct.pack_into(">HH", b, 28, dlsr >> 16, dlsr & 0xFFFF)
        return self.view

    def parse(self, data, now):
        """Read a compound RTCP packet from the peer; False if malformed."""
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
            pos += length
        return ok
