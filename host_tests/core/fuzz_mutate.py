"""Stateful fuzzer, part 1: seeded PRNG, SDP bodies, header-level mutations of SIP messages (MicroPython-compatible)."""

from intercom.sip.message import parse, ParseError


class Rng:
    """xorshift32: the same numbers from the same seed under CPython and
    MicroPython (whose `random` module differs), 32-bit state."""

    def __init__(self, seed):
        s = (seed * 2654435761 + 0x9E3779B9) & 0xFFFFFFFF
        self.s = s or 0x2545F491
        for _ in range(4):
            self.next()

    def next(self):
        x = self.s
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.s = x
        return x

    def below(self, n):
        return self.next() % n

    def between(self, lo, hi):
        """lo <= n <= hi"""
        return lo + self.next() % (hi - lo + 1)

    def chance(self, percent):
        return self.next() % 100 < percent

    def pick(self, seq):
        return seq[self.next() % len(seq)]

    def hex(self, digits):
        out = ""
        while len(out) < digits:
            out += "%08x" % self.next()
        return out[:digits]


def sdp(ip="192.0.2.9", port=30000, direction="sendrecv", version=1, pts=(0, 8, 101)):
    """A well-formed audio offer or answer, as a phone would send it."""
    lines = ["v=0", "o=peer 4711 %d IN IP4 %s" % (version, ip), "s=-", "c=IN IP4 %s" % ip, "t=0 0",
             "m=audio %d RTP/AVP %s" % (port, " ".join([str(p) for p in pts]))]
    if 101 in pts:
        lines.append("a=rtpmap:101 telephone-event/8000")
    lines.append("a=" + direction)
    return ("\r\n".join(lines) + "\r\n").encode()


def _lines(body):
    try:
        return body.decode().replace("\r\n", "\n").split("\n")
    except UnicodeError:
        return None


def _join(lines):
    return "\r\n".join(lines).encode()


def mutate_sdp(rng, body):
    """One SDP defect or oddity (RFC 4566 / RFC 3264 corner cases)."""
    lines = _lines(body or sdp())
    if lines is None:
        return body
    op = rng.below(16)
    if op == 0:          # no c= at all
        lines = [ln for ln in lines if not ln.startswith("c=")]
    elif op == 1:        # RFC 2543 hold
        lines = [("c=IN IP4 0.0.0.0" if ln.startswith("c=") else ln) for ln in lines]
    elif op == 2:        # port 0: stream refused
        lines = [(_m_port(ln, "0") if ln.startswith("m=") else ln) for ln in lines]
    elif op == 3:        # only codecs we do not have
        lines = [("m=audio 30000 RTP/AVP 96 97" if ln.startswith("m=") else ln) for ln in lines]
        lines.append("a=rtpmap:96 opus/48000/2")
        lines.append("a=rtpmap:97 G729/8000")
    elif op == 4:        # several m= lines: video first, then audio twice
        lines.insert(5, "m=video 30002 RTP/AVP 96")
        lines.insert(6, "a=rtpmap:96 H264/90000")
        lines.append("m=audio 30004 RTP/AVP 8")
    elif op == 5:        # broken rtpmap lines
        lines.append(rng.pick(("a=rtpmap:0", "a=rtpmap:x PCMU/8000", "a=rtpmap:0 PCMU/abc",
                               "a=rtpmap:101 telephone-event/", "a=rtpmap:99999999999 X/8000",
                               "a=rtpmap:8 PCMU/16000")))
    elif op == 6:        # IPv6 or a name in c=
        addr = rng.pick(("IN IP6 ::1", "IN IP4 pbx.example", "IN IP4 999.1.1.1", "IN IP4",
                         "IN IP4 192.0.2.9/127", "OUT IP4 1.2.3.4", "IN IP4 " + "9" * 300))
        lines = [("c=" + addr if ln.startswith("c=") else ln) for ln in lines]
    elif op == 7:        # a direction
        d = rng.pick(("a=sendonly", "a=recvonly", "a=inactive", "a=sendrecv", "a=bogus"))
        lines = [ln for ln in lines if ln not in ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive")]
        lines.append(d)
    elif op == 8:        # truncated
        text = _join(lines)
        return text[:rng.below(len(text) + 1)]
    elif op == 9:        # not UTF-8
        return _join(lines) + b"a=x:\xff\xfe\r\n"
    elif op == 10:       # odd ports
        lines = [(_m_port(ln, rng.pick(("99999", "-1", "30000/2", "abc", "65536", "1")))
                  if ln.startswith("m=") else ln) for ln in lines]
    elif op == 11:       # SRTP profile or odd transport
        lines = [(ln.replace("RTP/AVP", rng.pick(("RTP/SAVP", "UDP/TLS/RTP/SAVPF", "RTP/AVPF", "TCP")))
                  if ln.startswith("m=") else ln) for ln in lines]
    elif op == 12:       # empty body
        return b""
    elif op == 13:       # session-level direction and c= only
        lines.insert(3, rng.pick(("a=sendonly", "a=inactive", "a=recvonly")))
    elif op == 14:       # odd payload types in m=
        lines = [(ln + " " + rng.pick(("-1", "x", "128", "13", "101", "0"))
                  if ln.startswith("m=") else ln) for ln in lines]
    else:                # garbage lines and a huge attribute
        lines.append(rng.pick(("garbage", "=", "a=", "x=" + "y" * 2000, "a=ptime:0", "a=ptime:99999")))
    return _join(lines)


def _m_port(line, port):
    parts = line.split(" ")
    if len(parts) >= 2:
        parts[1] = port
    return " ".join(parts)


def tag_of(value):
    i = value.find(";tag=")
    if i < 0:
        return None
    return value[i + 5:].split(";")[0].strip()


def with_tag(value, tag):
    i = value.find(";tag=")
    if i >= 0:
        rest = value[i + 5:]
        j = rest.find(";")
        value = value[:i] + (rest[j:] if j >= 0 else "")
    return value + (";tag=" + tag if tag else "")


CONTACTS = ("", "<sip:>", "garbage", "<sips:flat@192.0.2.9:5061>", "*",
            "<sip:flat@192.0.2.9:99999>", '"q\\"x" <sip:flat@192.0.2.9>',
            "<sip:flat@192.0.2.9;transport=tcp>", "<sip:a@192.0.2.9>, <sip:b@192.0.2.9:5070>",
            "<tel:+4930123>", "<sip:flat@[2001:db8::1]:5060>", "<sip:flat@pbx.example>",
            "<sip:flat@0.0.0.0>", "<sip:flat@192.0.2.9:0>", "sip:flat@192.0.2.9;expires=abc",
            "<sip:flat@192.0.2.9;maddr=192.0.2.77>", "<sip:flat@192.0.2.9", "<>",
            "<sip:%s@192.0.2.9>" % ("x" * 1500), "<sip:flat@192.0.2.9;lr>;expires=4294967296")
VIA_PARAMS = (";rport=70000", ";rport=abc", ";rport=", ";received=999.1.1.1", ";received=evil host",
              ";received=pbx.example", ";received=", ";rport=0", ";received=192.0.2.99;rport=5099",
              ";branch=", ";branch=nomagic", ";maddr=192.0.2.1", ";ttl=999")
NUMBERS = ("0", "-1", "abc", "4294967295", "4294967296", "99999999999", "700000", "1", "2147483648",
           "120 (later);duration=10", "", " 60 ")
DISPLAYS = ('"Door \\"A\\""', '"back\\\\slash"', '"unterminated', 'Plain Name', '"\\"', '"T\xfcr"',
            '"a;tag=x"', '"<sip:evil@x>"', '""')
DROPPABLE = ("via", "from", "to", "call-id", "cseq", "contact", "max-forwards", "content-type",
             "record-route", "content-length")


def mutate_message(rng, data):
    """1-3 header-level mutations of one encoded message; the new bytes
    (returned unchanged if it does not parse with our own parser)."""
    try:
        msg = parse(data)
    except ParseError:
        return data
    for _ in range(rng.between(1, 3)):
        _mutate_once(rng, msg)
    return msg.encode()


def _mutate_once(rng, msg):
    op = rng.below(20)
    if op == 0:
        msg.remove(rng.pick(DROPPABLE))
    elif op == 1:        # a header twice
        if msg.headers:
            h = rng.pick(msg.headers)
            msg.add(h[1], h[2] if rng.chance(70) else h[2] + "x")
    elif op == 2:        # To and From tags swapped
        f, t = msg.get("from"), msg.get("to")
        if f is not None and t is not None:
            msg.set("From", with_tag(f, tag_of(t)))
            msg.set("To", with_tag(t, tag_of(f)))
    elif op == 3:        # CSeq number
        cseq = (msg.get("cseq") or "1 INVITE").split()
        n = int(cseq[0]) if cseq and cseq[0].isdigit() and len(cseq[0]) < 11 else 1
        num = rng.pick((str(n + 1), str(max(n - 1, 0)), "0", "4294967295", "4294967296", str(n + 1000), "x"))
        msg.set("CSeq", num + " " + (cseq[-1] if len(cseq) > 1 else "INVITE"))
    elif op == 4:        # CSeq method
        cseq = (msg.get("cseq") or "1 INVITE").split()
        msg.set("CSeq", cseq[0] + " " + rng.pick(("INVITE", "ACK", "BYE", "CANCEL", "FOO", "REGISTER", "INFO")))
    elif op == 5:        # another Call-ID
        msg.set("Call-ID", rng.pick(("other-%d@192.0.2.9" % rng.below(9), "x", "a b", "@")))
    elif op == 6 or op == 7:
        value = rng.pick(CONTACTS)
        msg.remove("contact")
        if value:
            msg.add("Contact", value)
    elif op == 8:        # Via received/rport garbage, or a second Via
        vias = msg.get_all("via")
        if vias:
            msg.remove("via")
            msg.add("Via", vias[0] + rng.pick(VIA_PARAMS))
            for v in vias[1:]:
                msg.add("Via", v)
            if rng.chance(20):
                msg.add("Via", "SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bKextra")
    elif op == 9:        # Expires, Min-Expires, Retry-After extremes
        msg.set(rng.pick(("Expires", "Min-Expires", "Retry-After")), rng.pick(NUMBERS))
    elif op == 10:       # contact expires param extremes
        c = msg.get("contact")
        if c:
            msg.set("Contact", c.split(";expires")[0] + ";expires=" + rng.pick(NUMBERS).strip())
    elif op == 11 or op == 12:
        if msg.body or rng.chance(30):
            msg.body = mutate_sdp(rng, msg.body)
    elif op == 13:       # display names with quotes and backslashes
        key = rng.pick(("From", "To"))
        value = msg.get(key)
        if value:
            lt = value.find("<")
            rest = value[lt:] if lt >= 0 else "<" + value.split(";")[0] + ">" + value[len(value.split(";")[0]):]
            msg.set(key, rng.pick(DISPLAYS) + " " + rest)
    elif op == 14:       # Record-Route oddities
        msg.add("Record-Route", rng.pick(("<sip:192.0.2.50;lr>", "<sip:proxy.example>", "garbage",
                                          "<sip:192.0.2.51:5070>", "<sip:192.0.2.50;lr>, <sips:x@y;lr>")))
    elif op == 15:       # the To tag goes
        t = msg.get("to")
        if t:
            msg.set("To", with_tag(t, None))
    elif op == 16:       # Require / Supported
        msg.add(rng.pick(("Require", "Supported", "Proxy-Require")), rng.pick(("100rel", "timer", "foo, bar", "")))
    elif op == 17:       # Content-Type
        msg.set("Content-Type", rng.pick(("application/SDP", "text/plain", "application/sdp;charset=x",
                                          "multipart/mixed;boundary=x", "", "application/dtmf-relay")))
    elif op == 18:       # Max-Forwards
        msg.set("Max-Forwards", rng.pick(("0", "abc", "999", "-1")))
    else:                # a new From tag or a strange Request-URI / reason phrase
        if msg.is_request and rng.chance(50):
            msg.uri = rng.pick(("sip:door@192.0.2.20:5062", "sips:door@192.0.2.20", "sip:door@192.0.2.20;maddr=1.2.3.4",
                                "tel:123", "sip:other@192.0.2.20:5062", "sip:%64oor@192.0.2.20:5062"))
        elif not msg.is_request:
            msg.reason = rng.pick(("", "x" * 300, "OK OK", "\xfc"))
        else:
            f = msg.get("from")
            if f:
                msg.set("From", with_tag(f, rng.pick(("x", "", "a" * 200))))
