"""SDP offer/answer for one audio stream among the offer's m= lines (RFC 4566, RFC 3264 §5-§8, RFC 4733 §7)."""

from intercom.sip.uri import is_digits, is_unicast_ipv4

# Static payload types we can carry (RFC 3551 §6) and the DTMF event type.
# G.722 is 9 with "G722/8000" in a=rtpmap although it samples at 16 kHz: its
# RTP clock runs at 8000 (RFC 3551 §4.5.2), so every rate check below is
# 8000 for it too, and telephone-event/8000 goes with it.
STATIC = {"PCMU": 0, "PCMA": 8, "G722": 9}
STATIC_NAMES = {0: "PCMU", 8: "PCMA", 9: "G722"}
DTMF_PT = 101                 # what we offer for telephone-event until a peer's offer names another
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
RTP_PROFILES = ("RTP/AVP", "RTP/AVPF")
SAVP_PROFILES = ("RTP/SAVP", "RTP/SAVPF")     # also taken with media.srtp on (RFC 3711 §12)
# what we do given the peer's direction (RFC 3264 §6.1)
ANSWER_DIRECTION = {"sendrecv": "sendrecv", "sendonly": "recvonly",
                    "recvonly": "sendonly", "inactive": "inactive"}


class SdpError(Exception):
    """An SDP body we cannot use (the UA answers 488 or 400)."""


class AudioOffer:
    """The parts of a session description a G.711 phone needs.

    The attributes describe the one audio stream taken: `formats` lists
    (payload type, encoding name, clock rate) in the peer's order of
    preference, `dtmf_pt` its telephone-event/8000 number (RFC 4733 §7.1.1;
    the rate of our codecs, never a 48 kHz one); `hold` is True for the
    legacy c=0.0.0.0. `lines` keeps every m= line as (media, port, proto,
    formats text) and `index` which of them is the stream taken, so an
    answer can mirror the offer line for line (RFC 3264 §6)."""

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
        self.lines = []
        self.index = 0
        self.rtcp_port = None          # a=rtcp (RFC 3605): where the peer wants RTCP, or None
        self.rtcp_address = None       # ... and its address when not the c= one

    # for sip/sdes.py (media.srtp on): the stream's transport and a=crypto values
    # (RFC 4568); class attributes, set only when they differ, cost a UDP call nothing
    proto = "RTP/AVP"
    crypto = ()

    def codec_names(self):
        return [name for _pt, name, _rate in self.formats]


class _Stream:
    """One m= section while parsing."""

    def __init__(self, parts):
        self.media = parts[0]
        self.port = int(parts[1])
        self.proto = parts[2]
        self.fmts = parts[3:]
        self.address = None
        self.direction = None
        self.ptime = None
        self.rtpmap = {}
        self.rtcp = None               # the a=rtcp value, read if this stream is taken

    crypto = ()                        # a=crypto values (RFC 4568 §9.1): a list once one is seen


def _sections(body):
    """Session-level (address, direction) and the m= sections, in order."""
    session_addr = None
    session_dir = None
    streams = []
    cur = None
    session_id = version = None
    for line in body.replace("\r\n", "\n").split("\n"):
        line = line.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            parts = value.split()
            if len(parts) < 4:
                raise SdpError("bad m= line")
            if not is_digits(parts[1]) or len(parts[1]) > 5 or int(parts[1]) > 65535:
                # port/count (RFC 4566 §5.14) is refused too: one stream per line here
                raise SdpError("bad port in m= line")
            cur = _Stream(parts)
            streams.append(cur)
        elif kind == "o":
            parts = value.split()
            if len(parts) >= 3:
                session_id, version = parts[1], parts[2]
        elif kind == "c":
            parts = value.split()
            if len(parts) != 3 or parts[0] != "IN":
                raise SdpError("bad c= line")
            # checked once a stream is chosen: only the audio stream's address matters
            addr = parts[2] if parts[1] == "IP4" else parts[1] + " " + parts[2]
            if cur is not None:
                cur.address = addr
            else:
                session_addr = addr
        elif kind == "a":
            name, _, arg = value.partition(":")
            if name in DIRECTIONS:
                if cur is not None:
                    cur.direction = name
                else:
                    session_dir = name
            elif cur is not None and name == "rtpmap":
                pt, _, enc = arg.partition(" ")
                bits = enc.split("/")
                if is_digits(pt) and len(bits) >= 2 and is_digits(bits[1]):
                    cur.rtpmap[int(pt)] = (bits[0].upper(), int(bits[1]))
            elif cur is not None and name == "ptime" and is_digits(arg.strip()):
                cur.ptime = int(arg.strip())
            elif cur is not None and name == "rtcp":
                cur.rtcp = arg
            elif cur is not None and name == "crypto":
                if not cur.crypto:
                    cur.crypto = []
                cur.crypto.append(arg)
    return session_addr, session_dir, session_id, version, streams


def _formats(stream):
    """(formats, telephone-event/8000 pt) of an RTP audio stream."""
    formats = []
    dtmf_pt = None
    for text in stream.fmts:
        if not is_digits(text) or len(text) > 3 or int(text) > 127:
            raise SdpError("bad payload type " + text[:10])
        pt = int(text)
        name, rate = stream.rtpmap.get(pt) or (STATIC_NAMES.get(pt, "?"), 8000)
        if name == "TELEPHONE-EVENT":
            # only the event stream at our codecs' clock (RFC 4733 §2.1):
            # Asterisk with opus offers 48000 and 8000 side by side
            if rate == 8000 and dtmf_pt is None:
                dtmf_pt = pt
        else:
            formats.append((pt, name, rate))
    return formats, dtmf_pt


def _usable(stream, codecs, savp=False):
    """Why this m= line cannot be our audio stream, or None if it can."""
    if stream.media != "audio":
        return "no audio stream"
    if stream.port == 0:
        # RFC 3264 §6, §8.2: port 0 refuses (or removes) the stream: never taken, never sent to
        return "audio stream refused (port 0)"
    if stream.proto not in RTP_PROFILES and not (savp and stream.proto in SAVP_PROFILES):
        return "unsupported transport " + stream.proto[:20]
    if codecs is not None:
        formats, _dtmf = _formats(stream)
        for _pt, name, rate in formats:
            if name in codecs and rate == 8000:
                return None
        return "no common codec"
    return None


def parse_sdp(body, codecs=None, savp=False):
    """Parse an SDP body (bytes or str) into an AudioOffer for its first
    usable audio stream (live RTP/AVP(F) audio, or RTP/SAVP(F) when `savp`
    (media.srtp on), with one of `codecs` when given); SdpError if there is
    none or it is malformed."""
    if isinstance(body, (bytes, bytearray)):
        try:
            body = bytes(body).decode()
        except UnicodeError:
            raise SdpError("SDP is not UTF-8")
    session_addr, session_dir, session_id, version, streams = _sections(body)
    chosen = None
    why = None
    for i, stream in enumerate(streams):
        reason = _usable(stream, codecs, savp)
        if reason is None:
            chosen = i
            break
        if why is None and stream.media == "audio":
            why = reason             # the first audio line's reason tells most
    if chosen is None:
        raise SdpError(why or "no audio stream")
    stream = streams[chosen]
    offer = AudioOffer()
    offer.session_id, offer.version = session_id, version
    offer.lines = [(s.media, s.port, s.proto, " ".join(s.fmts)) for s in streams]
    offer.index = chosen
    offer.port = stream.port
    if stream.proto != offer.proto:
        offer.proto = stream.proto
    if stream.crypto:
        offer.crypto = stream.crypto
    offer.ptime = stream.ptime
    offer.formats, offer.dtmf_pt = _formats(stream)
    offer.address = stream.address or session_addr
    if offer.address is None:
        raise SdpError("no connection address")
    if not usable_media_address(offer.address):
        # media goes where c= says: no names (no DNS on the media path), no
        # IPv6, no multicast (RFC 4566 §5.7 allows them; this phone cannot use them)
        raise SdpError("unusable connection address %r" % offer.address[:40])
    # media-level attributes win over session-level ones (RFC 4566 §6)
    offer.direction = stream.direction or session_dir or "sendrecv"
    if stream.rtcp is not None:
        offer.rtcp_port, offer.rtcp_address = parse_rtcp_attribute(stream.rtcp)
    if offer.address == "0.0.0.0":
        offer.hold = True                   # RFC 2543 hold, still sent by some PBXes
    return offer


def usable_media_address(text):
    """A unicast IPv4 address, or 0.0.0.0 (the RFC 2543 hold)."""
    return text == "0.0.0.0" or is_unicast_ipv4(text)


def build_sdp(ip, port, session_id, version, formats, dtmf_pt, ptime, direction, lines=None, index=0,
              proto="RTP/AVP", extra=()):
    """An SDP body (bytes) for one audio stream.

    formats: (pt, name) in our order of preference, with the numbers we
    receive on; version must grow with every change of the session
    (RFC 3264 §8). `lines` (the m= lines of the offer being answered, or of
    the session so far) and `index` place our stream among them: every
    other line is refused with port 0 and its own format list (RFC 3264 §6,
    §8: an answer has the offer's lines, a new offer at least as many).
    `proto` is a new offer's transport, `extra` more a= lines (a=crypto)."""
    pts = [str(pt) for pt, _name in formats]
    if dtmf_pt is not None:
        pts.append(str(dtmf_pt))
    head = [
        "v=0",
        "o=intercom %s %d IN IP4 %s" % (session_id, version, ip),
        "s=intercom",
        "c=IN IP4 %s" % ip,
        "t=0 0",
    ]
    if not lines:
        lines, index = [None], 0
    # the offer's RTP profile (RTP/AVPF answered as RTP/AVP is a transport
    # mismatch pjmedia refuses); AVPF feedback is optional, we send none
    proto = lines[index][2] if lines[index] else proto
    ours = ["m=audio %d %s %s" % (port, proto, " ".join(pts))]
    for pt, name in formats:
        ours.append("a=rtpmap:%d %s/8000" % (pt, name))
    if dtmf_pt is not None:
        ours.append("a=rtpmap:%d telephone-event/8000" % dtmf_pt)
        ours.append("a=fmtp:%d 0-16" % dtmf_pt)
    ours.append("a=ptime:%d" % ptime)
    ours.extend(extra)
    ours.append("a=" + direction)
    out = head
    for i, line in enumerate(lines):
        if i == index:
            out.extend(ours)
        else:
            media, _port, proto, fmts = line
            out.append("m=%s 0 %s %s" % (media, proto, fmts))
    return ("\r\n".join(out) + "\r\n").encode()


def offer_formats(codecs, numbers=None):
    """Our offer: the configured codecs in order, as (pt, name); `numbers`
    maps a name to the payload type this call already uses for it."""
    return [((numbers or STATIC).get(name, STATIC[name]), name) for name in codecs]


def choose_codec(offer, codecs):
    """The first of our `codecs` (media.codecs, in its order) that the
    offer carries, as (its pt, name); None means 488 Not Acceptable Here.
    Our list order decides (RFC 3264 §6.1 lets the answerer pick any
    offered format): a door station that lists G.722 first gets wideband
    from a peer that merely offers it after G.711."""
    for want in codecs:
        for pt, name, rate in offer.formats:
            if name == want and rate == 8000:
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


def parse_rtcp_attribute(arg):
    """The value of `a=rtcp:port [IN IP4 address]` (RFC 3605 §2.1) as
    (port, address or None); SdpError if malformed or not unicast IPv4."""
    parts = arg.split()
    if (not parts or not is_digits(parts[0]) or len(parts[0]) > 5
            or not 0 < int(parts[0]) <= 65535 or len(parts) not in (1, 4)):
        raise SdpError("bad a=rtcp %r" % arg[:40])
    address = None
    if len(parts) == 4:
        if parts[1] != "IN" or parts[2] != "IP4" or not is_unicast_ipv4(parts[3]):
            raise SdpError("unusable a=rtcp address %r" % arg[:40])
        address = parts[3]
    return int(parts[0]), address
