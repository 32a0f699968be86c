"""In-process SIP peers for core tests: a fake registrar and a UA factory (MicroPython-compatible)."""

from intercom.sip.message import parse, make_response
from intercom.sip.auth import parse_challenge, digest_response
from intercom.sip.uri import parse_name_addr, get_param
from intercom.sip.ua import UserAgent
from intercom import config

REGISTRAR = ("192.0.2.10", 5060)
LOCAL_IP = "192.0.2.20"


class Counter:
    """Deterministic random_hex for tests."""

    def __init__(self):
        self.n = 0

    def __call__(self, digits):
        self.n += 1
        text = "%0*x" % (digits, self.n)
        return text[-digits:]


def make_ua(now=0, **sip):
    cfg = config.defaults()
    cfg["sip"].update({"registrar": "192.0.2.10", "user": "door", "password": "s3cret",
                       "local_port": 5062, "expires": 300})
    cfg["sip"].update(sip)
    logs = []
    ua = UserAgent(cfg, LOCAL_IP, REGISTRAR, Counter(), lambda lvl, txt: logs.append(txt), now)
    ua.logs = logs
    return ua


def drain(ua):
    """Parsed (message, addr) of every datagram queued; CRLF keep-alives
    (RFC 5626 §3.5.1) are not messages: they are counted in ua.keepalives_seen."""
    out = []
    while True:
        item = ua.pop_datagram()
        if item is None:
            return out
        if not item[0].strip(b"\r\n"):
            ua.keepalives_seen = getattr(ua, "keepalives_seen", 0) + 1
            continue
        out.append((parse(item[0]), item[1]))


def events(ua):
    out = []
    while True:
        ev = ua.next_event()
        if ev is None:
            return out
        out.append(ev)


class FakeRegistrar:
    """Answers REGISTER like a digest-authenticating registrar would.

    Behaviour is scripted by attributes: password, algorithm, grant (seconds
    granted, None = as asked), min_expires, reject (status to send instead),
    stale_next (next challenge says stale=true), via_received/rport.
    Impolite options (all off by default): grant_exact (seconds put in the
    200 whatever was asked, 0 included), retry_after (Retry-After value on a
    `reject`), renonce_next (next good credentials get a fresh challenge
    without stale=true), same_nonce_on_bad (a wrong password is re-challenged
    with the nonce it used); received/rport may be any text."""

    def __init__(self, password="s3cret", algorithm="MD5", realm="test.example"):
        self.password = password
        self.algorithm = algorithm
        self.realm = realm
        self.nonce_n = 0
        self.nonce = None
        self.grant = None
        self.min_expires = None
        self.reject = None
        self.stale_next = False
        self.proxy = False
        self.received = None
        self.rport = None
        self.grant_exact = None
        self.retry_after = None
        self.renonce_next = False
        self.same_nonce_on_bad = False
        self.requests = []

    def new_nonce(self):
        self.nonce_n += 1
        self.nonce = "nonce%d" % self.nonce_n
        return self.nonce

    def challenge(self, req, stale=False, same_nonce=False):
        status = 407 if self.proxy else 401
        resp = make_response(req, status, to_tag="reg1")
        header = "Proxy-Authenticate" if self.proxy else "WWW-Authenticate"
        value = 'Digest realm="%s", nonce="%s", qop="auth", algorithm=%s' % (
            self.realm, self.nonce if same_nonce else self.new_nonce(), self.algorithm)
        if stale:
            value += ", stale=true"
        resp.add(header, value)
        return resp

    def verify(self, req):
        header = req.get("proxy-authorization" if self.proxy else "authorization")
        if header is None:
            return "missing"
        ch = parse_challenge(header)    # same key=value grammar as a challenge
        if ch.get("nonce") != self.nonce:
            return "stale"
        fields = {}
        for part in header[len("Digest "):].split(","):
            key, _, value = part.strip().partition("=")
            fields[key.lower()] = value.strip('"')
        expected, _ = digest_response(
            {"realm": self.realm, "nonce": self.nonce, "algorithm": self.algorithm.upper(),
             "qop": ["auth"], "opaque": None, "stale": False, "scheme": "digest"},
            fields["username"], self.password, req.method, fields["uri"],
            fields["cnonce"], fields["nc"])
        return "ok" if expected == fields["response"] else "bad"

    def handle(self, req):
        """The response message to one REGISTER request."""
        self.requests.append(req)
        if self.reject:
            resp = make_response(req, self.reject, to_tag="reg1")
            if self.retry_after is not None:
                resp.add("Retry-After", str(self.retry_after))
            return resp
        check = self.verify(req)
        if check == "bad" and self.same_nonce_on_bad:
            return self.challenge(req, same_nonce=True)
        if check == "missing" or check == "bad":
            return self.challenge(req)
        if self.renonce_next:
            self.renonce_next = False
            return self.challenge(req)
        if check == "stale" or self.stale_next:
            self.stale_next = False
            return self.challenge(req, stale=True)
        asked = int(req.get("expires", "3600"))
        if self.min_expires and 0 < asked < self.min_expires:
            resp = make_response(req, 423, to_tag="reg1")
            resp.add("Min-Expires", str(self.min_expires))
            return resp
        granted = asked if self.grant is None or asked == 0 else min(asked, self.grant)
        if self.grant_exact is not None and asked:
            granted = self.grant_exact
        resp = make_response(req, 200, to_tag="reg1")
        if self.received or self.rport:
            via = resp.get_all("via")
            params = ""
            if self.received:
                params += ";received=" + self.received
            top = via[0].replace(";rport", ";rport=%s" % self.rport if self.rport else ";rport") + params
            resp.remove("via")
            resp.add("Via", ", ".join([top] + via[1:]))
        contact = parse_name_addr(req.get_all("contact")[0])
        resp.add("Contact", "<%s>;expires=%d" % (contact.uri, granted))
        return resp


def exchange(ua, registrar, now, lose=0):
    """Deliver every datagram the UA queued to the registrar and its answers
    back, until quiet. `lose` drops the first N requests. Returns requests seen."""
    seen = []
    while True:
        out = drain(ua)
        if not out:
            return seen
        for req, _addr in out:
            seen.append(req)
            if lose > 0:
                lose -= 1
                continue
            resp = registrar.handle(req)
            ua.receive(resp.encode(), REGISTRAR, now)


def param_of(value, name):
    semi = value.find(";")
    from intercom.sip.uri import split_params
    return get_param(split_params(value[semi + 1:], "x"), name) if semi >= 0 else None


# An INVITE that makes a phone from make_ua() ring (with accept_from "any"):
# the fuzzers mutate it so that call and SDP code are reached too.
RINGING_INVITE = (b"INVITE sip:door@192.0.2.20:5062 SIP/2.0\r\n"
              b"Via: SIP/2.0/UDP 192.0.2.30:5060;branch=z9hG4bKfz1;rport\r\n"
              b"From: \"Flat\" <sip:flat@192.0.2.30>;tag=f1\r\nTo: <sip:door@192.0.2.20>\r\n"
              b"Call-ID: fuzz-1@192.0.2.30\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
              b"Contact: <sip:flat@192.0.2.30:5060>\r\nContent-Type: application/sdp\r\n"
              b"Content-Length: 143\r\n\r\n"
              b"v=0\r\no=- 1 1 IN IP4 192.0.2.30\r\ns=-\r\nc=IN IP4 192.0.2.30\r\nt=0 0\r\n"
              b"m=audio 30000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")
