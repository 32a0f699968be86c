"""SDP offer/answer for one call: directions, hold styles, codec choice, o= versions (RFC 3264 §5-§8, RFC 4566)."""

from intercom.sip import sdp as sdpmod


class Media:
    """The negotiated stream: where to send, which payload types."""

    def __init__(self, address, port, pt, codec, dtmf_pt, send, recv):
        self.address = address
        self.port = port
        self.pt = pt
        self.codec = codec
        self.dtmf_pt = dtmf_pt
        self.send = send        # we may send audio
        self.recv = recv        # we expect audio


class CallMedia:
    """The SDP half of a Call (mixed into sip.call.Call): what we offer and
    answer, and the Media it negotiates. Needs self.mgr, self.ua, self.id,
    the hold flags and the SDP session fields that Call.__init__ sets."""

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
        cfg = self.mgr.cfg["media"]
        if formats is None:
            formats = sdpmod.offer_formats(cfg["codecs"])
        body = sdpmod.build_sdp(self.ua.contact_host, cfg["rtp_port"], self.sdp_session,
                                self.sdp_version, formats, sdpmod.DTMF_PT, cfg["ptime"],
                                direction or self.local_direction())
        if body != self.last_sdp:
            # o= version grows with every change (RFC 3264 §8)
            self.sdp_version += 1
            body = sdpmod.build_sdp(self.ua.contact_host, cfg["rtp_port"], self.sdp_session,
                                    self.sdp_version, formats, sdpmod.DTMF_PT, cfg["ptime"],
                                    direction or self.local_direction())
            self.last_sdp = body
        return body

    def take_answer(self, body):
        """Apply the peer's answer to our offer; False if unusable."""
        try:
            desc = sdpmod.parse_sdp(body)
        except sdpmod.SdpError as err:
            self.ua.log("warn", "call %d: bad SDP answer: %s" % (self.id, err))
            return False
        choice = sdpmod.choose_codec(desc, self.mgr.cfg["media"]["codecs"])
        if choice is None:
            return False
        self._apply_media(desc, choice, False)
        return True

    def answer_offer(self, body):
        """Our answer (bytes) to the peer's offer, or None for 488."""
        try:
            desc = sdpmod.parse_sdp(body)
        except sdpmod.SdpError as err:
            self.ua.log("warn", "call %d: bad SDP offer: %s" % (self.id, err))
            return None
        choice = sdpmod.choose_codec(desc, self.mgr.cfg["media"]["codecs"])
        if choice is None:
            return None
        self._apply_media(desc, choice, True)
        return self.build_sdp([choice])

    def _apply_media(self, desc, choice, is_offer):
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
                           direction in ("sendrecv", "recvonly"))
        self.ua.emit({"event": "media", "id": self.id, "address": desc.address, "port": desc.port,
                      "codec": choice[1], "pt": choice[0], "dtmf_pt": desc.dtmf_pt,
                      "direction": direction, "peer_ip": self.signal_ip})
