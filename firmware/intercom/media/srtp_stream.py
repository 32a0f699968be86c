"""The SRTP media session: buffers made once, both directions' contexts, drop counters (RFC 3711 §3.3, §3.4)."""

# Imported by audio.py only when media.srtp is on (then every call runs in
# an SrtpSession, SRTP when its SDP negotiated SDES keys). Every method on the 20 ms path allocates nothing:
# packets are protected into tx_buf / rtcp_buf and unprotected into rx_buf,
# and the datagram views of those buffers are made once per length (the few
# lengths a call sends: audio, RFC 4733 events, RTCP reports and BYE).

from intercom.media.srtp import SrtpContext, AUTH_FAILED, REPLAYED, COUNTER_MASK
from intercom.media.session import MediaSession

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
        return {"srtp": True, "srtp_auth_failed": self.auth_failed, "srtp_replayed": self.replayed,
                "srtp_malformed": self.malformed}


class SrtpSession(MediaSession):
    """The MediaSession of a phone with media.srtp on (audio.AudioControl
    picks it): SRTP/SRTCP for calls that negotiated SDES keys, clear RTP for
    the others. Received packets are authenticated and decrypted first
    (RFC 3711 §3.3): a forged or replayed one steers neither the source
    rule nor the stream, and is counted in the call's statistics."""

    srtp = None               # the SrtpStream, made by the first SRTP call
    srtp_keys = None          # the sdes.Keys in force, None: clear RTP

    def set_srtp(self, keys):
        """SRTP from now on with sdes.Keys, or clear RTP (None). The same
        Keys object keeps the contexts (ROC, replay window); new keys start
        new ones in the same buffers."""
        if keys is self.srtp_keys and (keys is None or self.srtp_on):
            return
        self.srtp_keys = keys
        self.srtp_on = keys is not None
        if keys is None:
            return
        if self.srtp is None:
            self.srtp = SrtpStream(len(self.sender.buf), len(self.rtcp.bye_buf))
        self.srtp.rekey(keys)

    def receive(self, data, addr, now, n=-1):
        if self.srtp_on and self.active:
            n = self.srtp.unprotect(data)
            if n < 0:
                self.digit = None
                return False
            data = self.srtp.rx_buf
        return MediaSession.receive(self, data, addr, now, n)

    def receive_rtcp(self, data, now, n=-1):
        if self.srtp_on and self.active:
            n = self.srtp.unprotect_rtcp(data)
            if n < 0:
                return False
            data = self.srtp.rx_buf
        return MediaSession.receive_rtcp(self, data, now, n)

    # Each datagram we send is protected here (RFC 3711 §3.3, §3.4): the
    # clear MediaSession builds it, these overrides encrypt it in tx_buf or
    # rtcp_buf (MediaSession.next_packet calls MediaSession.more, not this one).
    def next_packet(self, mic_pcm):
        return self._out(MediaSession.next_packet(self, mic_pcm))

    def more(self):
        return self._out(MediaSession.more(self))

    def rtcp_report(self, now):
        return self._out(MediaSession.rtcp_report(self, now), True)

    def _out(self, packet, rtcp=False):
        if self.srtp_on and packet is not None:
            return self.srtp.protect_rtcp(packet) if rtcp else self.srtp.protect(packet)
        return packet

    def stop(self):
        pending = self.bye              # a BYE not sent yet (already protected)
        self.bye = None
        stats = MediaSession.stop(self)
        if self.bye is None:
            self.bye = pending
        else:
            self.bye = self._out(self.bye, True)     # the RTCP BYE stop() just built
        if stats is not None and self.srtp_on:
            stats.update(self.srtp.stats())
        return stats


def _view(views, buf, n):
    v = views.get(n)
    if v is None:
        v = views[n] = memoryview(buf)[:n]      # once per length
    return v
