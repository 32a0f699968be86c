"""One call's audio stream: mic PCM -> G.711 -> RTP, RTP -> jitter buffer -> PCM (RFC 3550, RFC 3551, RFC 4733)."""

from intercom.media import g711
from intercom.media.rtp import RtpSender, RtpReceiver, TelephoneEvent
from intercom.media.jitter import JitterBuffer
from intercom.media.dtmf import DtmfReceiver, DtmfSender
from intercom.media.rtcp import RtcpReporter

FRAME_SAMPLES = 160          # 20 ms at 8 kHz


class MediaSession:
    """Everything the 20 ms audio path needs, preallocated by the first
    start() and reset (not rebuilt) by every later one or a codec change.

    Per frame the driver calls next_packet(mic_pcm) -> datagram view or
    None, play(speaker_pcm) -> jitter status, and receive(data, addr, now)
    for each RTP datagram. None of them allocates. Symmetric RTP: we send
    from the port we receive on and latch to the source address of the
    peer's first valid packet when it differs from its SDP (NAT)."""

    def __init__(self, random_bytes, cname="intercom"):
        self.random_bytes = random_bytes
        self.cname = cname
        self.rtcp = None
        self.rtcp_dest = None
        self.active = False
        self.codes = bytearray(FRAME_SAMPLES)
        self.codes_mv = memoryview(self.codes)
        self.event = TelephoneEvent()
        self.dest = None
        self.sdp_dest = None
        self.send_enabled = False
        self.recv_enabled = False
        self.codec = None
        self.dtmf_pt = -1
        self.foreign_pt = 0
        self.latched = False
        self.dtmf_rx = None
        self.dtmf_tx = None
        self.sender = None
        self.receiver = None
        self.jitter = None
        self.call_id = None
        self.digit = None

    # --- control (once per call or re-INVITE) --------------------------------------
    def start(self, call_id, address, port, payload_type, dtmf_pt, send, recv):
        """Begin a stream for a negotiated Media description."""
        codec = g711.codec_for(payload_type)
        if codec is None:
            raise ValueError("payload type %d is not G.711" % payload_type)
        self.call_id = call_id
        self.codec = codec
        seed = self.random_bytes(8)
        ssrc = seed[:4]
        seq = (seed[4] << 8) | seed[5]
        ts_hi = (seed[6] << 8) | seed[7]
        if self.sender is None:
            # The first call builds the stream's objects (about 3 KB, the
            # jitter ring the largest block); later calls reuse them, so
            # calls do not churn and fragment a small heap.
            self.sender = RtpSender(ssrc, payload_type, seq=seq, ts_hi=ts_hi)
            self.receiver = RtpReceiver()
            self.jitter = JitterBuffer(codec)
            self.rtcp = RtcpReporter(ssrc, self.cname)
            self.dtmf_rx = DtmfReceiver()
            self.dtmf_tx = DtmfSender()
        else:
            self.sender.reset(ssrc, payload_type, seq=seq, ts_hi=ts_hi)
            self.receiver.reset()
            self.jitter.reset(codec)
            self.rtcp.reset(ssrc)
            self.dtmf_rx.reset()
            self.dtmf_tx.reset()
        self.latched = False
        self.foreign_pt = 0
        self.active = True
        self.update(address, port, payload_type, dtmf_pt, send, recv)

    def update(self, address, port, payload_type, dtmf_pt, send, recv):
        """A re-INVITE changed the stream: follow the new address and direction."""
        if g711.codec_for(payload_type) is not self.codec:
            self.codec = g711.codec_for(payload_type)
            self.sender.payload_type = payload_type
            self.jitter.reset(self.codec)
        self.sdp_dest = (address, port)
        self.rtcp_dest = (address, port + 1)        # RFC 3550 §11: RTCP on the next port
        if not self.latched or address == "0.0.0.0":
            self.dest = self.sdp_dest
        if self.sdp_dest != self.dest and self.receiver is not None:
            # the peer moved (new SDP): listen for its new source again
            self.latched = False
            self.dest = self.sdp_dest
            self.receiver.unlatch()
        self.dtmf_pt = dtmf_pt if dtmf_pt is not None else -1
        if send and not self.send_enabled:
            self.sender.talkspurt()
        self.send_enabled = send and address != "0.0.0.0"
        self.recv_enabled = recv

    def stop(self):
        """End the stream; the statistics for the call's ended event."""
        if not self.active:
            return None
        self.active = False
        stats = self.jitter.stats()
        rx = self.receiver
        stats.update({"packets_sent": self.sender.packets, "malformed": rx.malformed,
                      "foreign_ssrc": rx.foreign, "foreign_pt": self.foreign_pt,
                      "remote": self.rtcp.remote})
        return stats

    def rtcp_report(self, now):
        """Our receiver report when one is due (every 5 s), else None."""
        if not self.active or not self.rtcp.due(now) or not self.receiver.latched:
            return None
        rx = self.receiver
        return self.rtcp.build(rx.ssrc_hi, rx.ssrc_lo, self.jitter.jitter, now)

    def receive_rtcp(self, data, now):
        if self.active:
            self.rtcp.parse(data, now)

    # --- the 20 ms path (allocation free) -----------------------------------------
    def receive(self, data, addr, now):
        """One datagram from the RTP socket. A DTMF digit that starts here is
        left in self.digit (a one-character constant), else None."""
        self.digit = None
        if not self.active:
            return False
        rx = self.receiver
        if not rx.parse(data, len(data)):
            return False
        if not self.latched:
            self.latched = True
            if addr != self.dest:
                self.dest = addr             # symmetric RTP: answer where it came from
                self.rtcp_dest = (addr[0], addr[1] + 1)
        self.rtcp.stats.update(rx.seq)
        pt = rx.payload_type
        if pt == self.dtmf_pt:
            ev = self.event
            if ev.parse(data, rx.offset, rx.length):
                self.digit = self.dtmf_rx.on_event(rx.ts_hi, rx.ts_lo, ev.event, ev.end, ev.duration)
            # events take audio's sequence numbers: store an empty (silent)
            # frame so the jitter buffer does not count them as lost
            if self.recv_enabled:
                self.jitter.put(rx.seq, rx.ts_hi, rx.ts_lo, data, rx.offset, 0, now)
            return True
        if pt != self.codec.payload_type:
            self.foreign_pt += 1
            return False
        if self.recv_enabled:
            self.jitter.put(rx.seq, rx.ts_hi, rx.ts_lo, data, rx.offset, rx.length, now)
        return True

    def next_packet(self, mic_pcm):
        """The RTP datagram for this frame (a memoryview), or None when not sending."""
        if not self.active or not self.send_enabled:
            return None
        sender = self.sender
        tx = self.dtmf_tx
        if tx.active and self.dtmf_pt >= 0:
            length = tx.next_payload(sender.payload)
            if length:
                return sender.packet_for(length, tx.ts_advance, self.dtmf_pt, tx.marker)
            if tx.active:
                return None      # the pause after an event: no packet this frame
        self.codec.encode(mic_pcm, sender.payload, FRAME_SAMPLES)
        return sender.packet_for(FRAME_SAMPLES)

    def play(self, speaker_pcm):
        """Decode the next frame into speaker_pcm (16-bit); the jitter status."""
        if not self.active:
            return -1
        status = self.jitter.get(self.codes_mv)
        self.codec.decode(self.codes_mv, speaker_pcm, FRAME_SAMPLES)
        return status

    def send_digits(self, digits):
        """Queue DTMF digits as RFC 4733 events (allocates the string only)."""
        if self.active and self.dtmf_pt >= 0:
            self.dtmf_tx.start(digits)
            return True
        return False
