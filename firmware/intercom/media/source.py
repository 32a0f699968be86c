"""Whose RTP a call takes, and when its peer went silent (RFC 3550 §8.2 source checks, RFC 4961 symmetric RTP)."""

from intercom.ticks import ticks_add, ticks_diff

LATCH_QUIET_MS = 1000        # the accepted source silent this long: a NAT'd peer may be latched
LATCH_RUN = 5                # ... after this many packets of one SSRC in strict sequence
COUNTER_MASK = 0x3FFFFFFF    # counters stay small ints on 31-bit ports


class SourceRule:
    """The source rule of a MediaSession (mixed into it; the state lives in
    MediaSession.__init__): the SDP address always wins; a NAT latch only
    after LATCH_QUIET_MS of silence from it, from the signalling peer's IP,
    never another call's media, LATCH_RUN packets of one SSRC in sequence.
    Also the silence clocks of the media timeout. Allocation free but for
    one tuple per NAT latch."""

    def accepts_source(self, data, addr, now):
        """True when the datagram comes from the accepted source (settling
        on the SDP address, or completing a NAT latch, on the way); else it
        is counted in foreign_source and must be dropped."""
        if not self.clock_on:
            self.start_clock(now)
        src = self.source
        # addresses are compared element by element: no tuple is made per packet
        if src is not None and addr[0] == src[0] and addr[1] == src[1]:
            return True
        sdp = self.sdp_dest
        if addr[0] == sdp[0] and addr[1] == sdp[1]:
            if len(data) >= 12 and data[0] >> 6 == 2:
                self._settle(sdp, False, now)        # the SDP address always wins
            return True
        if self._nat_candidate(data, addr, now):
            return True
        self.foreign_source = (self.foreign_source + 1) & COUNTER_MASK
        return False

    def forget_source(self):
        """The SDP moved the stream: the rule starts over for the new address."""
        self.source = None
        self.nat = False
        self.cand_addr = None
        self.cand_count = 0
        self.clock_on = False
        self.receiver.unlatch()     # the stream may come with a new SSRC

    def settled(self, now):
        """The address the RTP socket may be connected to (the kernel then
        drops every other source), or None while others must still be seen:
        no source yet, or a NAT latch silent for LATCH_QUIET_MS (so the SDP
        address, or the peer's new NAT binding, can be heard again)."""
        src = self.source
        if not self.active or src is None:
            return None
        if self.nat and ticks_diff(now, self.heard_at) >= LATCH_QUIET_MS:
            return None
        return src

    def start_clock(self, now):
        """Start the silence clocks (the first tick or packet after a start or move)."""
        if not self.clock_on:
            self.clock_on = True
            self.heard_at = now
            self.last_rx = now

    def restart_clock(self):
        """Count silence afresh from the next tick (e.g. a held call resumes)."""
        self.clock_on = False

    def media_deadline(self, timeout_ms):
        """When the media timeout expires: timeout_ms after the last RTP or
        RTCP accepted (or the clock's start); None when we expect no audio."""
        if not self.active or not self.clock_on or not self.recv_enabled or timeout_ms <= 0:
            return None
        return ticks_add(self.last_rx, timeout_ms)

    def _settle(self, addr, nat, now):
        self.source = addr
        self.dest = addr                 # symmetric RTP: media goes where it comes from
        self.nat = nat
        self.heard_at = now
        self.cand_addr = None
        self.cand_count = 0
        # RTCP on the next port (RFC 3550 §11): a tuple once per NAT latch, not per packet
        self.rtcp_dest = (addr[0], addr[1] + 1) if nat else self.sdp_rtcp
        self.receiver.unlatch()          # a new source: take its SSRC at once

    def _nat_candidate(self, data, addr, now):
        """A packet from neither the source nor the SDP address: True when it
        completes a NAT latch (see the class docstring), else False (dropped)."""
        if self.source is not None and not self.nat:
            return False                 # settled on the SDP address: never left
        ip = self.peer_ip
        if ip is None or addr[0] != ip:
            return False
        for other in self.excluded:      # the held call's late packets steer nothing
            if addr[0] == other[0] and addr[1] == other[1]:
                return False
        if len(data) < 12 or data[0] >> 6 != 2:
            return False
        pt = data[1] & 0x7F
        if pt != self.recv_pt and pt != self.recv_dtmf_pt:
            return False
        seq = (data[2] << 8) | data[3]
        s_hi = (data[8] << 8) | data[9]
        s_lo = (data[10] << 8) | data[11]
        cand = self.cand_addr
        if (cand is not None and addr[0] == cand[0] and addr[1] == cand[1] and s_hi == self.cand_hi
                and s_lo == self.cand_lo and seq == ((self.cand_seq + 1) & 0xFFFF)):
            if self.cand_count < LATCH_RUN:
                self.cand_count += 1
        else:
            self.cand_addr = addr        # a reference to the received address, not a copy
            self.cand_hi = s_hi
            self.cand_lo = s_lo
            self.cand_count = 1
        self.cand_seq = seq
        if self.cand_count < LATCH_RUN or ticks_diff(now, self.heard_at) < LATCH_QUIET_MS:
            return False
        self._settle(addr, True, now)
        return True
