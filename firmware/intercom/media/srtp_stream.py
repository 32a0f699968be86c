"""The SRTP side of one media session: buffers made once, both directions' contexts, drop counters (RFC 3711 §3.3)."""

# Imported by media/session.py only for a call whose SDP negotiated SDES
# keys (media.srtp on). Every method on the 20 ms path allocates nothing:
# packets are protected into tx_buf / rtcp_buf and unprotected into rx_buf,
# and the datagram views of those buffers are made once per length (the few
# lengths a call sends: audio, RFC 4733 events, RTCP reports and BYE).

from intercom.media.srtp import SrtpContext, AUTH_FAILED, REPLAYED, COUNTER_MASK

TRAILER = 4 + 4 + 10        # room past a packet: ROC or SRTCP index, MKI (we send none), tag
RX_SIZE = 1500 + 4          # a received datagram (driver.RTP_RECV_SIZE) and the ROC appended


class SrtpStream:
    """protect()/protect_rtcp() return the datagram to send (a memoryview);
    unprotect()/unprotect_rtcp() return the plaintext length in rx_buf, or
    a negative number for a dropped packet (counted: auth_failed, replayed,
    malformed). rekey() starts new contexts in the same buffers."""

    def __init__(self, rtp_size, rtcp_size):
        self.tx_buf = bytearray(rtp_size + TRAILER)
        self.rtcp_buf = bytearray(rtcp_size + TRAILER)
        self.rx_buf = bytearray(RX_SIZE)
        self.views = {}
        self.rtcp_views = {}
        self.tx = None
        self.rx = None
        self.auth_failed = 0
        self.replayed = 0
        self.malformed = 0

    def rekey(self, keys):
        """New contexts for sdes.Keys (our key sends, the peer's receives)."""
        self.tx = SrtpContext(keys.suite, keys.tx_key)
        self.rx = SrtpContext(keys.rx_suite, keys.rx_key, keys.rx_mki)
        self.auth_failed = 0
        self.replayed = 0
        self.malformed = 0

    def protect(self, packet):
        n = self.tx.protect(packet, len(packet), self.tx_buf)
        return None if n < 0 else _view(self.views, self.tx_buf, n)

    def protect_rtcp(self, packet):
        n = self.tx.protect_rtcp(packet, len(packet), self.rtcp_buf)
        return None if n < 0 else _view(self.rtcp_views, self.rtcp_buf, n)

    def unprotect(self, data):
        if len(data) > RX_SIZE - 4:
            return self._count(-1)
        return self._count(self.rx.unprotect(data, self.rx_buf))

    def unprotect_rtcp(self, data):
        if len(data) > RX_SIZE - 4:
            return self._count(-1)
        return self._count(self.rx.unprotect_rtcp(data, self.rx_buf))

    def _count(self, n):
        if n == AUTH_FAILED:
            self.auth_failed = (self.auth_failed + 1) & COUNTER_MASK
        elif n == REPLAYED:
            self.replayed = (self.replayed + 1) & COUNTER_MASK
        elif n < 0:
            self.malformed = (self.malformed + 1) & COUNTER_MASK
        return n

    def stats(self):
        """The drop counters for the call's statistics."""
        return {"srtp_auth_failed": self.auth_failed, "srtp_replayed": self.replayed,
                "srtp_malformed": self.malformed}


def _view(views, buf, n):
    v = views.get(n)
    if v is None:
        v = views[n] = memoryview(buf)[:n]      # once per length
    return v
