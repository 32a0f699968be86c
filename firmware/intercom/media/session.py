"""One call's audio stream: G.711 or G.722 over RTP, packetization and digits (RFC 3550 §5.1, RFC 3551, RFC 4733)."""

from intercom.media import g711
from intercom.media.rtp import RtpSender, RtpReceiver, TelephoneEvent
from intercom.media.jitter import JitterBuffer
from intercom.media.dtmf import DtmfReceiver, DtmfSender
from intercom.media.rtcp import RtcpReporter
from intercom.media.source import SourceRule, COUNTER_MASK

FRAME_SAMPLES = 160          # 20 ms at 8 kHz: the audio frame (mic, speaker, frame clock)
# G.722 (RFC 3551 §4.5.2) keeps every count here in 8 kHz units: 160
# payload bytes and 160 timestamp units per 20 ms. Only its PCM is wider:
# the mic and speaker frames are 2 * FRAME_SAMPLES samples at 16 kHz
# (`wideband`), which AudioControl provides.
SEND_PTIMES = (10, 20, 30, 40, 50, 60)   # packetizations we can send from 20 ms frames
STEP = 80                    # 10 ms: every send size and pending count is a multiple
SEND_BUFFER_MS = 70          # payload room: 50 ms pending plus the frame that completes a 60 ms packet


def codec_of(name, payload_type):
    """The g711.Codec for an SDP encoding name (PCMU/PCMA, on any number),
    else for static payload type 0 or 8; ValueError for anything else."""
    if name == "PCMU":
        return g711.PCMU
    if name == "PCMA":
        return g711.PCMA
    codec = g711.codec_for(payload_type)
    if codec is None:
        raise ValueError("payload type %d is not G.711" % payload_type)
    return codec


class MediaSession(SourceRule):
    """Everything the 20 ms audio path needs, preallocated by the first
    start() and reset (not rebuilt) by every later one or a codec change.

    Per frame the driver calls next_packet(mic_pcm) -> datagram view or
    None (then more() until None: 10 ms packets make two a frame),
    play(speaker_pcm) -> jitter status, and receive(data, addr, now) for
    each RTP datagram. None of them allocates. Any packetization is
    received (the jitter buffer works in samples); we send `ptime`.

    Whose RTP is taken (the source rule; everything else is dropped and
    counted in foreign_source):
      - RTP from exactly the address and port the SDP named always wins: the
        stream settles there (`source`) and never leaves it for another.
      - Only while that address has been silent for LATCH_QUIET_MS (the peer
        is behind NAT and its packets come from elsewhere) may the stream
        latch to another source, and only to one whose IP is the signalling
        peer's (`peer_ip`), which is not another call's media (`excluded`),
        and which sent LATCH_RUN packets of one SSRC in strict sequence with
        our payload types. Media then goes to that source (symmetric RTP).
      - A re-INVITE that moves the media starts these rules over for the
        new SDP address; one that only changes direction keeps the source.
    The driver connects its socket to `settled(now)`, so the kernel drops
    every other source and the 20 ms path reads without source addresses.
    RTCP counts only when its sender is the accepted stream's SSRC."""

    def __init__(self, random_bytes, cname="intercom"):
        self.random_bytes = random_bytes
        self.cname = cname
        self.rtcp = None
        self.rtcp_dest = None
        self.active = False
        self.codes = bytearray(FRAME_SAMPLES)
        self.codes_mv = memoryview(self.codes)
        self.event = TelephoneEvent()
        self.dest = None             # where our RTP goes: the SDP address or a NAT latch
        self.sdp_dest = None
        self.sdp_rtcp = None
        self.rtcp_port = None        # the peer's a=rtcp (RFC 3605): port and address, or None
        self.rtcp_address = None
        self.bye = None              # our RTCP BYE (RFC 3550 §6.6) for the driver to send, or None
        self.bye_dest = None
        self.now = 0                 # the last frame's ticks (stop() has no clock of its own)
        self.peer_ip = None          # the signalling peer's IP (the only NAT latch candidates)
        self.excluded = ()           # other calls' media addresses: never latched
        self.source = None           # the accepted RTP source, None until one qualifies
        self.nat = False             # source is a NAT latch, not the SDP address
        self.heard_at = 0            # last packet from the source (or when listening began)
        self.last_rx = 0             # last RTP or RTCP accepted (the media timeout's clock)
        self.clock_on = False        # heard_at and last_rx are running
        self.cand_addr = None        # the NAT latch candidate: address, SSRC halves, last seq, run
        self.cand_hi = 0
        self.cand_lo = 0
        self.cand_seq = 0
        self.cand_count = 0
        self.foreign_source = 0      # RTP dropped: not from the accepted source
        self.foreign_rtcp = 0        # RTCP dropped: not from the accepted stream's SSRC
        self.send_enabled = False
        self.recv_enabled = False
        self.codec = None
        self.ptime = 20              # our send packetization (ms): ours, or the peer's a=ptime
        self.send_samples = FRAME_SAMPLES
        self.fill = 0                # encoded samples in sender.payload (sent ones included)
        self.sent = 0                # ... the first `sent` of them went out in the last packet
        self._at = None              # views of sender.payload at every 10 ms (made once)
        self.dtmf_pt = -1            # telephone-event number we send with (the peer's SDP)
        self.recv_pt = -1            # the numbers we accept (our own SDP, RFC 3264 §6.1):
        self.recv_dtmf_pt = -1       # an answer may renumber, so they may differ from the send ones
        self.foreign_pt = 0
        self.dtmf_rx = None
        self.dtmf_tx = None
        self.sender = None
        self.receiver = None
        self.jitter = None
        self.call_id = None
        self.digit = None

    # --- control (once per call or re-INVITE) --------------------------------------
    def start(self, call_id, address, port, payload_type, dtmf_pt, send, recv, peer_ip=None,
              recv_pt=None, recv_dtmf_pt=None, codec_name=None, ptime=20):
        """Begin a stream for a negotiated Media description; peer_ip is
        the IP the call's signalling comes from (None: no NAT latch).
        payload_type/dtmf_pt are the peer's numbers (we send with them),
        recv_pt/recv_dtmf_pt ours (we accept them; None: the same);
        codec_name names the codec when the numbers are dynamic; ptime the
        packetization we send (ms, one of SEND_PTIMES; any is received)."""
        codec = self._codec(codec_name, payload_type)
        if codec is self.g722:
            codec.reset()                # a new stream: both predictors from the reset state
        self.call_id = call_id
        self.codec = codec
        if self.wideband or codec is self.g722:
            self.wideband = codec is self.g722
        seed = self.random_bytes(8)
        ssrc = seed[:4]
        seq = (seed[4] << 8) | seed[5]
        ts_hi = (seed[6] << 8) | seed[7]
        if self.sender is None:
            # The first call builds the stream's objects (about 3 KB, the
            # jitter ring the largest block); later calls reuse them, so
            # calls do not churn and fragment a small heap.
            # All or nothing: a MemoryError half-way leaves sender None, so the
            # next start() builds them again instead of using a half-built set.
            sender = RtpSender(ssrc, payload_type, ptime=SEND_BUFFER_MS, seq=seq, ts_hi=ts_hi)
            pay = sender.payload
            at = [pay[k * STEP:] for k in range(SEND_BUFFER_MS // 10 - 1)]
            parts = (RtpReceiver(), JitterBuffer(codec), RtcpReporter(ssrc, self.cname), DtmfReceiver(),
                     DtmfSender())
            self.receiver, self.jitter, self.rtcp, self.dtmf_rx, self.dtmf_tx = parts
            self._at = at
            self.sender = sender
        else:
            self.sender.reset(ssrc, payload_type, seq=seq, ts_hi=ts_hi)
            self.receiver.reset()
            self.jitter.reset(codec)
            self.rtcp.reset(ssrc)
            self.dtmf_rx.reset()
            self.dtmf_tx.reset()
        self.foreign_pt = 0
        self.foreign_source = 0
        self.foreign_rtcp = 0
        self.sdp_dest = None            # update() starts the source rule over
        self.peer_ip = peer_ip
        self.excluded = ()
        self.send_enabled = False
        self.active = True
        self.update(address, port, payload_type, dtmf_pt, send, recv, peer_ip, recv_pt, recv_dtmf_pt,
                    codec_name, ptime)

    def update(self, address, port, payload_type, dtmf_pt, send, recv, peer_ip=None,
               recv_pt=None, recv_dtmf_pt=None, codec_name=None, ptime=20):
        """A re-INVITE changed the stream: follow the new address, direction,
        payload numbers and send packetization (as in start()). A new address
        starts the source rule over; the same one keeps the source."""
        if ptime not in SEND_PTIMES:
            raise ValueError("cannot send %r ms packets (one of %r)" % (ptime, SEND_PTIMES))
        codec = self._codec(codec_name, payload_type)
        if codec is not self.codec:
            if codec is self.g722:
                codec.reset()
            self.codec = codec
            if self.wideband or codec is self.g722:
                self.wideband = codec is self.g722
            self.jitter.reset(codec)
        self.sender.payload_type = payload_type & 0x7F
        self.recv_pt = payload_type if recv_pt is None else recv_pt
        if dtmf_pt is None:
            dtmf_pt = -1
        self.recv_dtmf_pt = dtmf_pt if recv_dtmf_pt is None else recv_dtmf_pt
        if peer_ip is not None:
            self.peer_ip = peer_ip
        sdp = self.sdp_dest
        if sdp is None or sdp[0] != address or sdp[1] != port:
            self.sdp_dest = (address, port)
            self.rtcp_port = None                       # set_rtcp() follows for a=rtcp
            self.sdp_rtcp = (address, port + 1)         # RFC 3550 §11: RTCP on the next port
            self.rtcp_dest = self.sdp_rtcp
            self.dest = self.sdp_dest
            self.forget_source()
        self.dtmf_pt = dtmf_pt
        self.ptime = ptime
        self.send_samples = ptime * STEP // 10
        if send and not self.send_enabled:
            self.sender.talkspurt()
            self.fill = 0                # audio pending from before a pause is not sent
            self.sent = 0
        self.send_enabled = send and address != "0.0.0.0"
        self.recv_enabled = recv

    def _codec(self, name, payload_type):
        # G.722 is imported and built by the first call that negotiates it
        # (a G.711-only device never loads it), then reused by every later one.
        if name == "G722" or (name is None and payload_type == 9):
            if self.g722 is None:
                from intercom.media import g722
                self.g722 = g722.Codec()
            return self.g722
        return codec_of(name, payload_type)

    def set_rtcp(self, port, address=None):
        """The peer's a=rtcp (RFC 3605 §2.1): its RTCP goes to this port (and
        address, else the RTP one) instead of the RTP port + 1 (RFC 3550
        §11); None: no a=rtcp. A NAT latch keeps its own (source port + 1)."""
        sdp = self.sdp_dest
        if sdp is None:
            return
        if port is None:
            if self.rtcp_port is None:
                return
            self.rtcp_port = None
            self.rtcp_address = None
            self.sdp_rtcp = (sdp[0], sdp[1] + 1)
        else:
            address = address or sdp[0]
            if self.rtcp_port == port and self.rtcp_address == address:
                return
            self.rtcp_port = port
            self.rtcp_address = address
            self.sdp_rtcp = (address, port)
        if not self.nat:
            self.rtcp_dest = self.sdp_rtcp

    def stop(self):
        """End the stream; the statistics for the call's ended event.
        Leaves our RTCP BYE (RFC 3550 §6.6) in `bye` (to `bye_dest`) for the
        driver, unless we never sent RTP or RTCP (§6.3.7: then no BYE)."""
        if not self.active:
            return None
        self.active = False
        dest = self.rtcp_dest
        if (self.sender.packets or self.rtcp.reports) and dest is not None and dest[0] != "0.0.0.0":
            rx = self.receiver
            self.bye = self.rtcp.build_bye(rx.ssrc_hi, rx.ssrc_lo, self.jitter.jitter, self.now,
                                           self.sender, self.held_samples(), rx.latched)
            self.bye_dest = dest
        stats = self.jitter.stats()
        rx = self.receiver
        stats.update({"packets_sent": self.sender.packets, "malformed": rx.malformed,
                      "foreign_ssrc": rx.foreign, "foreign_pt": self.foreign_pt,
                      "foreign_source": self.foreign_source, "foreign_rtcp": self.foreign_rtcp,
                      "rtp_source": "none" if self.source is None else ("nat" if self.nat else "sdp"),
                      "remote": self.rtcp.remote})
        return stats

    def rtcp_report(self, now):
        """Our compound report when one is due (RFC 3550 §6.3.1: randomised
        intervals, see rtcp.py), else None: an SR while we send, else an RR
        (§6.4), with a report block once the peer's RTP was heard. Called
        right after the frame's next_packet(), so the SR's RTP timestamp (the
        sampling clock) is the instant `now`. None while there is nowhere
        to send (c=0.0.0.0 hold). Allocation free."""
        self.now = now
        dest = self.rtcp_dest
        if not self.active or dest is None or dest[0] == "0.0.0.0" or not self.rtcp.due(now):
            return None
        rx = self.receiver
        return self.rtcp.build(rx.ssrc_hi, rx.ssrc_lo, self.jitter.jitter, now,
                               self.sender, self.held_samples(), rx.latched)

    def held_samples(self):
        """How far our RTP timestamp is behind the sampling clock: an RFC
        4733 event in progress, and the samples encoded but not yet sent
        (30 and 40 ms packets wait for a second or third frame)."""
        return self.dtmf_tx.held_samples() + self.fill - self.sent

    def receive_rtcp(self, data, now, n=-1):
        """The peer's RTCP; it counts (statistics, and alive for the media
        timeout) only when its first packet's sender SSRC (RFC 3550 §6.1:
        an SR or RR leads every compound) is the accepted RTP stream's."""
        if not self.active:
            return False
        if n < 0:
            n = len(data)           # n: SRTCP decrypted in a longer buffer
        rx = self.receiver
        if (not rx.latched or n < 8 or ((data[4] << 8) | data[5]) != rx.ssrc_hi
                or ((data[6] << 8) | data[7]) != rx.ssrc_lo):
            self.foreign_rtcp = (self.foreign_rtcp + 1) & COUNTER_MASK
            return False
        if not self.rtcp.parse(data, now, n):
            return False
        self.last_rx = now
        return True

    # --- the 20 ms path (allocation free) -----------------------------------------
    def receive(self, data, addr, now, n=-1):
        """One datagram from the RTP socket. A DTMF digit that starts here is
        left in self.digit (a one-character constant), else None."""
        self.digit = None
        if not self.active:
            return False
        if n < 0:
            n = len(data)           # n: SRTP decrypted in a longer buffer
        if not self.accepts_source(data, addr, now):
            return False
        rx = self.receiver
        if not rx.parse(data, n):
            return False
        self.heard_at = now
        self.last_rx = now
        self.rtcp.stats.update(rx.seq)
        pt = rx.payload_type
        if pt == self.recv_dtmf_pt:
            ev = self.event
            span = 0
            if ev.parse(data, rx.offset, rx.length):
                self.digit = self.dtmf_rx.on_event(rx.ts_hi, rx.ts_lo, ev.event, ev.end, ev.duration)
                span = ev.duration
            # the event stands for its duration of audio (RFC 4733 §2.5.1.1):
            # the jitter buffer fills that time with silence where no audio
            # came, so it is neither concealed nor counted as lost
            if self.recv_enabled:
                self.jitter.put(rx.seq, rx.ts_hi, rx.ts_lo, None, 0, span, now)
            return True
        if pt != self.recv_pt:
            self.foreign_pt += 1
            return False
        if self.recv_enabled:
            self.jitter.put(rx.seq, rx.ts_hi, rx.ts_lo, data, rx.offset, rx.length, now)
        return True

    def next_packet(self, mic_pcm):
        """The frame's first RTP datagram (a memoryview), or None when
        nothing is due. mic_pcm holds one 20 ms frame: 160 samples at 8 kHz,
        or 320 at 16 kHz when `wideband` (G.722); either way the frame is
        160 payload bytes and 160 timestamp units. It is encoded after the
        samples still pending, and a packet of send_samples goes out once they suffice
        (40 ms: every second frame; 30 ms: 240 of 320 samples, then 240 of
        240). With 10 ms packets a frame makes two: the driver sends this
        one, then asks more() for the next (one buffer serves both)."""
        if not self.active or not self.send_enabled:
            return None
        self._shift()
        sender = self.sender
        tx = self.dtmf_tx
        if tx.active and self.dtmf_pt >= 0:
            if self.fill:
                # audio pending when a digit starts is dropped, but its time
                # passes: the event starts on the sampling clock (RFC 3550 §5.1)
                sender.advance(self.fill)
                self.fill = 0
            length = tx.next_payload(sender.payload)
            if length:
                # the audio after the event starts a talk spurt: marker bit
                # (RFC 4733 §2.5.1.2, RFC 3551 §4.1)
                sender.talkspurt()
                return sender.packet_for(length, tx.ts_advance, self.dtmf_pt, tx.marker)
            if tx.active:
                # the pause after an event: no packet this frame, but the
                # timestamp stays on the sampling clock (RFC 3550 §5.1)
                sender.advance(FRAME_SAMPLES)
                return None
        self.codec.encode(mic_pcm, self._at[self.fill // STEP], FRAME_SAMPLES)
        self.fill += FRAME_SAMPLES
        return MediaSession.more(self)      # not SrtpSession's: it protects next_packet's result

    def more(self):
        """The frame's next RTP datagram, or None: call after sending the
        previous one (it is built in the same buffer). The timestamp moves
        on by the samples sent (RFC 3550 §5.1)."""
        self._shift()
        n = self.send_samples
        if not self.active or not self.send_enabled or self.fill < n:
            return None
        self.sent = n
        return self.sender.packet_for(n)

    def _shift(self):
        # The samples after the packet sent last move to the payload's start.
        sent = self.sent
        if sent:
            self.sent = 0
            self.fill -= sent
            if self.fill:
                g711.copy(self.sender.payload, 0, self.sender.payload, sent, self.fill)

    def play(self, speaker_pcm):
        """Decode the next frame into speaker_pcm (16-bit; 320 samples at
        16 kHz when `wideband`); the jitter status."""
        if not self.active:
            return -1
        status = self.jitter.get(self.codes_mv)
        self.codec.decode(self.codes_mv, speaker_pcm, FRAME_SAMPLES)
        return status

    # Class attributes: a G.711 phone without SRTP pays no slot per session.
    # media/srtp_stream.SrtpSession (media.srtp on) sets srtp_on per call and
    # protects what next_packet, more, rtcp_report and stop leave to send.
    srtp_on = False
    wideband = False        # the codec takes and gives 16 kHz PCM (G.722)
    g722 = None             # this session's G.722 codec, made by the first G.722 call

    def send_digits(self, digits):
        """Queue DTMF digits as RFC 4733 events (allocates the string only)."""
        if self.active and self.dtmf_pt >= 0:
            self.dtmf_tx.start(digits)
            return True
        return False
