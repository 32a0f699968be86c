"""SDP for one audio stream: parse, offer and answer (RFC 4566, RFC 3264 §5-§8, RFC 4733 §7)."""

from intercom.sip.uri import is_digits, is_unicast_ipv4

# Static payload types we can carry (RFC 3551 §6) and the DTMF event type.
STATIC = {"PCMU": 0, "PCMA": 8}
STATIC_NAMES = {0: "PCMU", 8: "PCMA"}
DTMF_PT = 101
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
# what we do given the peer's direction (RFC 3264 §6.1)
ANSWER_DIRECTION = {"sendrecv": "sendrecv", "sendonly": "recvonly",
                    "recvonly": "sendonly", "inactive": "inactive"}


class SdpError(Exception):
    """An SDP body we cannot use (the UA answers 488 or 400)."""


class AudioOffer:
    """The parts of a session description a G.711 phone needs.

    `formats` lists (payload type, encoding name, clock rate) in the
    peer's order of preference; `hold` is True for the legacy c=0.0.0.0."""

    def __init__(self):
        self.address = None
        self.port = 0
        self.formats = []
        self.dtmf_pt = None
        self.direction = "sendrecv"
        self.ptime = None
        self.hold = False
        self.session_id = None
        self.version = None

    def codec_names(self):
        return [name for _pt, name, _rate in self.formats]


def parse_sdp(body):
    """Parse an SDP body (bytes or str) into an AudioOffer; SdpError if unusable."""
    if isinstance(body, (bytes, bytearray)):
        try:
            body = bytes(body).decode()
        except UnicodeError:
            raise SdpError("SDP is not UTF-8")
    offer = AudioOffer()
    session_addr = None
    session_dir = None
    in_audio = False
    seen_audio = False
    rtpmap = {}
    payloads = []
    for line in body.replace("\r\n", "\n").split("\n"):
        line = line.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            in_audio = False
            parts = value.split()
            if len(parts) >= 4 and parts[0] == "audio" and not seen_audio:
                if not is_digits(parts[1]) or len(parts[1]) > 5 or int(parts[1]) > 65535:
                    raise SdpError("bad port in m= line")
                seen_audio = in_audio = True
                offer.port = int(parts[1])
                if offer.port == 0:
                    # RFC 3264 §6, §8.2: port 0 refuses (or removes) the stream;
                    # this phone has no call without its one audio stream
                    raise SdpError("audio stream refused (port 0)")
                if parts[2] not in ("RTP/AVP", "RTP/AVPF"):
                    raise SdpError("unsupported transport " + parts[2])
                for pt in parts[3:]:
                    if not is_digits(pt):
                        raise SdpError("bad payload type " + pt)
                    payloads.append(int(pt))
        elif kind == "o":
            parts = value.split()
            if len(parts) >= 3:
                offer.session_id, offer.version = parts[1], parts[2]
        elif kind == "c":
            parts = value.split()
            if len(parts) != 3 or parts[0] != "IN":
                raise SdpError("bad c= line")
            # checked once chosen (below): only the audio stream's address matters
            addr = parts[2] if parts[1] == "IP4" else parts[1] + " " + parts[2]
            if in_audio:
                offer.address = addr
            elif not seen_audio:
                session_addr = addr
        elif kind == "a":
            name, _, arg = value.partition(":")
            if name in DIRECTIONS:
                if in_audio:
                    offer.direction = name
                elif not seen_audio:
                    session_dir = name
            elif in_audio and name == "rtpmap":
                pt, _, enc = arg.partition(" ")
                bits = enc.split("/")
                if is_digits(pt) and len(bits) >= 2 and is_digits(bits[1]):
                    rtpmap[int(pt)] = (bits[0].upper(), int(bits[1]))
            elif in_audio and name == "ptime" and is_digits(arg.strip()):
                offer.ptime = int(arg.strip())
    if not seen_audio:
        raise SdpError("no audio stream")
    if offer.address is None:
        offer.address = session_addr
    if offer.address is None:
        raise SdpError("no connection address")
    if not usable_media_address(offer.address):
        # media goes where c= says: no names (no DNS on the media path), no
        # IPv6, no multicast (RFC 4566 §5.7 allows them; this phone cannot use them)
        raise SdpError("unusable connection address %r" % offer.address[:40])
    if session_dir and offer.direction == "sendrecv":
        offer.direction = session_dir       # media-level attributes win (RFC 4566 §6)
    if offer.address == "0.0.0.0":
        offer.hold = True                   # RFC 2543 hold, still sent by some PBXes
    for pt in payloads:
        name, rate = rtpmap.get(pt) or (STATIC_NAMES.get(pt, "?"), 8000)
        if name == "TELEPHONE-EVENT" and rate == 8000:
            offer.dtmf_pt = pt
        else:
            offer.formats.append((pt, name, rate))
    return offer


def usable_media_address(text):
    """A unicast IPv4 address, or 0.0.0.0 (the RFC 2543 hold)."""
    return text == "0.0.0.0" or is_unicast_ipv4(text)


def build_sdp(ip, port, session_id, version, formats, dtmf_pt, ptime, direction):
    """An SDP body (bytes) for one audio stream.

    formats: (pt, name) in our order of preference; version must grow with
    every change of the session (RFC 3264 §8)."""
    pts = [str(pt) for pt, _name in formats]
    if dtmf_pt is not None:
        pts.append(str(dtmf_pt))
    lines = [
        "v=0",
        "o=intercom %s %d IN IP4 %s" % (session_id, version, ip),
        "s=intercom",
        "c=IN IP4 %s" % ip,
        "t=0 0",
        "m=audio %d RTP/AVP %s" % (port, " ".join(pts)),
    ]
    for pt, name in formats:
        lines.append("a=rtpmap:%d %s/8000" % (pt, name))
    if dtmf_pt is not None:
        lines.append("a=rtpmap:%d telephone-event/8000" % dtmf_pt)
        lines.append("a=fmtp:%d 0-16" % dtmf_pt)
    lines.append("a=ptime:%d" % ptime)
    lines.append("a=" + direction)
    return ("\r\n".join(lines) + "\r\n").encode()


def offer_formats(codecs):
    """Our offer: the configured codecs in order, as (pt, name)."""
    return [(STATIC[name], name) for name in codecs]


def choose_codec(offer, codecs):
    """First codec of the offer that we support (the offerer's preference
    wins, RFC 3264 §6.1); None means 488 Not Acceptable Here."""
    for pt, name, rate in offer.formats:
        if name in codecs and rate == 8000:
            return pt, name
    return None


def answer_direction(offer):
    """Our direction in an answer: the mirror of the offer's."""
    if offer.hold and offer.direction == "sendrecv":
        return "recvonly"
    return ANSWER_DIRECTION[offer.direction]


def is_remote_hold(offer):
    """True if the peer's description puts us on hold (sendonly, inactive, c=0.0.0.0)."""
    return offer.hold or offer.direction in ("sendonly", "inactive")
