"""SDP offer/answer for one call: directions, hold, codecs, payload numbers, o= versions (RFC 3264 §5-§8, RFC 4566)."""

from intercom.sip import sdp as sdpmod

SEND_PTIMES = (10, 20, 30, 40)   # a=ptime values we send as asked (media.ptime's choices)


class Media:
    """The negotiated stream: where to send, which payload types.

    pt/dtmf_pt are the peer's numbers (what we send with), recv_pt/
    recv_dtmf_pt the ones in our own SDP (what we receive): RFC 3264 §6.1
    lets an answer renumber, so the two may differ."""

    def __init__(self, address, port, pt, codec, dtmf_pt, send, recv, recv_pt, recv_dtmf_pt):
        self.address = address
        self.port = port
        self.pt = pt
        self.codec = codec
        self.dtmf_pt = dtmf_pt
        self.recv_pt = recv_pt
        self.recv_dtmf_pt = recv_dtmf_pt
        self.send = send        # we may send audio
        self.recv = recv        # we expect audio


class CallMedia:
    """The SDP half of a Call (mixed into sip.call.Call): what we offer and
    answer, and the Media it negotiates. Needs self.mgr, self.ua, self.id,
    the hold flags and the SDP session fields that Call.__init__ sets.

    Payload numbers are per call: our offers use local_pts/local_dtmf_pt,
    which an answered offer replaces with the peer's numbers (we answer
    with the offer's numbers, RFC 3264 §6.1, and keep them in later offers,
    §8.3.2). sdp_lines/sdp_index keep the session's m= lines, so every later
    SDP keeps the others refused in place (§8: never fewer lines)."""

    local_pts = None            # codec name -> the number we receive it on (None: static)
    local_dtmf_pt = sdpmod.DTMF_PT
    sdp_lines = None            # the m= lines of the last offer we answered
    sdp_index = 0               # ... and which one is our audio stream
    sdes = None                 # SRTP keys (sip/sdes.Sdes) when media.srtp is on, made on first use
    sdp_proto = "RTP/AVP"       # our new offers' transport (RTP/SAVP for mandatory SRTP)
    sdp_extra = ()              # a=crypto lines of our last offer or answer

    def local_direction(self):
        """Our direction attribute (RFC 3264 §6.1, §8.4): what we want
        (holding: send only) intersected with what the peer last offered."""
        remote = self.remote_dir
        send = remote in ("sendrecv", "recvonly")
        recv = remote in ("sendrecv", "sendonly") and not self.local_hold
        if send:
            return "sendrecv" if recv else "sendonly"
        return "recvonly" if recv else "inactive"

    def build_sdp(self, formats=None, direction=None):
        """Our offer (bytes): every configured codec and telephone-event on
        this call's numbers; `formats` (pt, name) replaces the codec list."""
        if formats is None:
            formats = sdpmod.offer_formats(self.mgr.cfg["media"]["codecs"], self.local_pts)
        self._srtp(None, False)
        return self._sdp_body(formats, self.local_dtmf_pt, direction)

    # --- SRTP (RFC 4568): sip/sdes.py, imported only when media.srtp is on ---------
    def _srtp(self, desc, offer):
        # the sdes.Keys for the peer's offer or answer (desc None: set up our
        # offer), None for clear RTP, False to refuse: the call fails (488)
        if self.mgr.cfg["media"].get("srtp", "off") == "off":
            return None
        from intercom.sip import sdes
        return sdes.negotiate(self, desc, offer)

    def _sdp_body(self, formats, dtmf_pt, direction):
        cfg = self.mgr.cfg["media"]
        direction = direction or self.local_direction()
        args = (formats, dtmf_pt, cfg["ptime"], direction, self.sdp_lines, self.sdp_index)
        body = self._render(self.sdp_version, args)
        if body != self.last_sdp:
            # o= version grows with every change (RFC 3264 §8)
            self.sdp_version += 1
            body = self._render(self.sdp_version, args)
            self.last_sdp = body
        return body

    def _render(self, version, args):
        formats, dtmf_pt, ptime, direction, lines, index = args
        return sdpmod.build_sdp(self.ua.contact_host, self.mgr.cfg["media"]["rtp_port"], self.sdp_session,
                                version, formats, dtmf_pt, ptime, direction, lines, index,
                                self.sdp_proto, self.sdp_extra)

    def _parse(self, body, what):
        # (the AudioOffer, its codec choice), (None, None) if unusable
        media = self.mgr.cfg["media"]
        try:
            desc = sdpmod.parse_sdp(body, media["codecs"], media.get("srtp", "off") != "off")
        except sdpmod.SdpError as err:
            self.ua.log("warn", "call %d: bad SDP %s: %s" % (self.id, what, err))
            return None, None
        return desc, sdpmod.choose_codec(desc, media["codecs"])

    def take_answer(self, body):
        """Apply the peer's answer to our offer; False if unusable."""
        desc, choice = self._parse(body, "answer")
        if choice is None:
            return False
        keys = self._srtp(desc, False)
        if keys is False:
            return False
        # we send on the answer's numbers and receive on those we offered
        recv_pt = (self.local_pts or sdpmod.STATIC).get(choice[1], sdpmod.STATIC.get(choice[1]))
        self._apply_media(desc, choice, False, recv_pt, self.local_dtmf_pt, keys)
        return True

    def answer_offer(self, body):
        """Our answer (bytes) to the peer's offer, or None for 488: the
        offer's m= lines, one audio stream taken on the offer's numbers."""
        desc, choice = self._parse(body, "offer")
        if choice is None:
            return None
        keys = self._srtp(desc, True)
        if keys is False:
            return None
        # RFC 3264 §6.1: the answer reuses the offer's numbers, so both
        # directions use them; our later offers keep them (§8.3.2)
        pts = dict(self.local_pts or sdpmod.STATIC)
        pts[choice[1]] = choice[0]
        self.local_pts = pts
        if desc.dtmf_pt is not None and desc.dtmf_pt not in pts.values():
            self.local_dtmf_pt = desc.dtmf_pt
        self.sdp_lines = desc.lines
        self.sdp_index = desc.index
        self._apply_media(desc, choice, True, choice[0], desc.dtmf_pt, keys)
        return self._sdp_body([choice], desc.dtmf_pt, None)

    def _apply_media(self, desc, choice, is_offer, recv_pt, recv_dtmf_pt, keys=None):
        if is_offer:
            # Only the peer's offers say what it wants; its answers merely
            # mirror our offer (a "recvonly" answer to our hold is not its hold).
            remote = desc.direction
            if desc.hold:
                # RFC 2543 hold: c=0.0.0.0 means "do not send to me"
                remote = "sendonly" if remote in ("sendrecv", "sendonly") else "inactive"
            self.remote_dir = remote
            self.remote_hold = remote in ("sendonly", "inactive")
        direction = self.local_direction()
        if desc.hold and not is_offer:
            # an answer with c=0.0.0.0: whatever it says, nothing may be sent to it
            direction = "recvonly" if direction in ("sendrecv", "recvonly") else "inactive"
        self.media = Media(desc.address, desc.port, choice[0], choice[1], desc.dtmf_pt,
                           direction in ("sendrecv", "sendonly"),
                           direction in ("sendrecv", "recvonly"), recv_pt, recv_dtmf_pt)
        # RFC 4566 §6: a=ptime is how much audio its sender wants per packet;
        # we send the peer's when we can produce it, else ours (media.ptime)
        ptime = desc.ptime if desc.ptime in SEND_PTIMES else self.mgr.cfg["media"]["ptime"]
        # pt/dtmf_pt: the peer's numbers, what we send; recv_*: ours, what we accept
        event = {"event": "media", "id": self.id, "address": desc.address, "port": desc.port,
                 "ptime": ptime,
                 "codec": choice[1], "pt": choice[0], "dtmf_pt": desc.dtmf_pt,
                 "recv_pt": recv_pt, "recv_dtmf_pt": recv_dtmf_pt,
                 "direction": direction, "peer_ip": self.signal_ip,
                 "rtcp_port": desc.rtcp_port, "rtcp_address": desc.rtcp_address,
                 "srtp": keys is not None}
        if keys is not None:
            # sdes.Keys (printed as ***) for the media session: App reports the event without them
            event["keys"] = keys
        self.ua.emit(event)
