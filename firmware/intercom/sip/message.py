"""SIP message codec: framing, start line, headers, body (RFC 3261 §7, §18.3, §20)."""

from intercom.sip.uri import SyntaxErr, parse_name_addr, parse_via, split_quoted, is_token, is_digits


class ParseError(Exception):
    """A datagram is not a usable SIP message.

    `status` is the response a UAS should send (400, 505, 501...) or None when
    the message must be dropped; `message` is the partly parsed Message, if any."""

    def __init__(self, reason, status=400, message=None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.message = message


# Lookup tables as single string constants, "|key:value|key:value|": a
# string stays in flash with frozen or ROMFS firmware, where a dict would
# be built in the heap at import (about 1 KB for the reason phrases).

# compact forms (RFC 3261 §7.3.3 and later RFCs) -> lowercase long names
COMPACT = ("|i:call-id|m:contact|e:content-encoding|l:content-length|f:from|t:to|v:via"
           "|k:supported|c:content-type|s:subject|o:event|u:allow-events|r:refer-to"
           "|x:session-expires|b:referred-by|a:accept-contact|j:reject-contact"
           "|d:request-disposition|y:identity|n:identity-info|")

# canonical spelling used when we serialize, where it is not title case
# (two tuples of constants: a membership test is faster than a lookup in
# a string, and canonical_name runs for every header a response copies)
CANONICAL_KEYS = ("call-id", "cseq", "www-authenticate", "mime-version", "rseq", "rack")
CANONICAL_NAMES = ("Call-ID", "CSeq", "WWW-Authenticate", "MIME-Version", "RSeq", "RAck")

# headers whose values may be comma-separated lists (RFC 3261 §7.3.1)
MULTI = (
    "via", "contact", "route", "record-route", "allow", "supported", "require",
    "proxy-require", "unsupported", "accept", "accept-encoding", "accept-language",
    "allow-events", "content-encoding", "content-language", "in-reply-to", "warning",
)

# headers that must appear at most once (RFC 4475 §3.3.8)
SINGLE = ("call-id", "cseq", "from", "to", "max-forwards", "content-length", "content-type")

# reason phrases (RFC 3261 §21)
REASONS = ("|100:Trying|180:Ringing|181:Call Is Being Forwarded|182:Queued|183:Session Progress"
           "|200:OK|202:Accepted|301:Moved Permanently|302:Moved Temporarily|400:Bad Request"
           "|401:Unauthorized|403:Forbidden|404:Not Found|405:Method Not Allowed|406:Not Acceptable"
           "|407:Proxy Authentication Required|408:Request Timeout|415:Unsupported Media Type"
           "|416:Unsupported URI Scheme|420:Bad Extension|423:Interval Too Brief"
           "|480:Temporarily Unavailable|481:Call/Transaction Does Not Exist|482:Loop Detected"
           "|483:Too Many Hops|486:Busy Here|487:Request Terminated|488:Not Acceptable Here"
           "|491:Request Pending|500:Server Internal Error|501:Not Implemented"
           "|503:Service Unavailable|505:Version Not Supported|603:Decline|")


def lookup(table, key, default=None):
    """The value for key (a str without "|" or ":") in a "|key:value|" table, else default."""
    i = table.find("|" + key + ":")
    if i < 0:
        return default
    i += len(key) + 2
    return table[i:table.find("|", i)]


KNOWN_METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO",
                 "PRACK", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PUBLISH")

MAX_CSEQ = 4294967295  # 2**32 - 1 (RFC 3261 §8.1.1.5: 32-bit unsigned)


# Header names as received -> key, for names already checked to be tokens.
# Parsing looks each name up here instead of validating and lowercasing it
# again. It starts empty (heap: only the names peers really send, learned
# from their first message) and is capped. Only names of headers of RFC
# 3261 (the keys below, in any spelling or compact form) are learned: a
# scanner's made-up names would otherwise fill the table for good (heap that
# never comes back, and no room left for the names the PBX really sends).
_NAMES = {}
_NAMES_MAX = 64
_LEARNABLE = ("|via|from|to|call-id|cseq|contact|max-forwards|content-type|content-length"
              "|record-route|route|require|proxy-require|supported|unsupported|accept|allow"
              "|user-agent|server|expires|min-expires|retry-after|www-authenticate"
              "|proxy-authenticate|authorization|proxy-authorization|authentication-info|date"
              "|timestamp|warning|content-encoding|content-disposition|organization|subject"
              "|allow-events|session-expires|min-se|p-asserted-identity|privacy|")  # one string: no qstrs


def _learn(name, key):
    if len(_NAMES) < _NAMES_MAX and ("|" + key + "|") in _LEARNABLE:
        _NAMES[name] = key


def header_key(name):
    """Lowercase long form of a header name (compact forms expanded)."""
    key = _NAMES.get(name)
    if key is None:
        # the code asks with lowercase keys: no new string for those
        key = name if name.islower() else name.lower()
        if len(key) == 1:
            key = lookup(COMPACT, key, key)
    return key


def canonical_name(key):
    """The spelling we use on the wire for a lowercase header key."""
    if key in CANONICAL_KEYS:
        return CANONICAL_NAMES[CANONICAL_KEYS.index(key)]
    if "-" not in key:
        return key[:1].upper() + key[1:]
    return "-".join([w[:1].upper() + w[1:] for w in key.split("-")])


class Message:
    """A SIP request (method set) or response (status set).

    Headers keep their order; each is [key, name, value] with key the
    lowercase long name. Structured values are parsed on first use.
    `_index` maps each key to its items in order, so lookups do not scan
    the list: change headers only through add/set/remove, which keep it."""

    line_error = None        # set by parse() for a malformed Request-Line
    version_error = False    # set by parse() for a SIP version other than 2.0

    def __init__(self, method=None, uri=None, status=0, reason=""):
        self.method = method
        self.uri = uri
        self.status = status
        self.reason = reason
        self.headers = []
        self.body = b""
        self._index = {}
        self._cache = {}

    @classmethod
    def request(cls, method, uri):
        return cls(method=method, uri=uri)

    @classmethod
    def response(cls, status, reason=None):
        return cls(status=status, reason=lookup(REASONS, str(status), "") if reason is None else reason)

    @property
    def is_request(self):
        return self.method is not None

    # --- header access ---------------------------------------------------
    def get(self, name, default=None):
        """First value of a header (whole line, not split on commas)."""
        items = self._index.get(header_key(name))
        return items[0][2] if items else default

    def get_all(self, name):
        """Every value of a header; list headers are split on top-level commas."""
        return self._all(header_key(name))

    def _all(self, key):
        items = self._index.get(key)
        if not items:
            return []
        if key not in MULTI:
            return [h[2] for h in items]
        out = []
        for h in items:
            for part in split_quoted(h[2], ","):
                out.append(part.strip())
        return out

    def count(self, name):
        return len(self._index.get(header_key(name), ()))

    def add(self, name, value, first=False):
        key = header_key(name)
        item = [key, canonical_name(key) if len(name) == 1 else name, value]
        items = self._index.get(key)
        if items is None:
            self._index[key] = items = []
        if first:
            self.headers.insert(0, item)
            items.insert(0, item)
        else:
            self.headers.append(item)
            items.append(item)
        self._cache.pop(key, None)

    def set(self, name, value):
        """Replace every occurrence of a header with one value."""
        self.remove(name)
        self.add(name, value)

    def remove(self, name):
        key = header_key(name)
        if self._index.pop(key, None):
            self.headers = [h for h in self.headers if h[0] != key]
        self._cache.pop(key, None)

    # --- parsed views (cached) --------------------------------------------
    def _view(self, key, parse, many):
        value = self._cache.get(key)
        if value is None:
            if many:
                value = [parse(v) for v in self._all(key)]
            else:
                value = parse(self._required(key))
            self._cache[key] = value
        return value

    @property
    def vias(self):
        return self._view("via", parse_via, True)

    @property
    def from_(self):
        return self._view("from", parse_name_addr, False)

    @property
    def to(self):
        return self._view("to", parse_name_addr, False)

    @property
    def call_id(self):
        return self._required("call-id").strip()

    @property
    def cseq(self):
        """(number, METHOD) of the CSeq header."""
        return self._view("cseq", _parse_cseq, False)

    @property
    def contacts(self):
        return self._view("contact", parse_name_addr, True)

    def _required(self, key):
        items = self._index.get(key)
        if not items:
            raise SyntaxErr("missing " + canonical_name(key))
        return items[0][2]

    # --- serialization ---------------------------------------------------
    def start_line(self):
        if self.method is not None:
            return self.method + " " + str(self.uri) + " SIP/2.0"
        return "SIP/2.0 " + str(self.status) + " " + self.reason

    def encode(self):
        """Serialize to bytes; Content-Length is always recomputed."""
        lines = [h[1] + ": " + h[2] for h in self.headers if h[0] != "content-length"]
        lines.append("Content-Length: " + str(len(self.body)))
        return (self.start_line() + "\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode() + self.body

    def __repr__(self):
        return "<SIP %s>" % self.start_line()


def _parse_cseq(value):
    parts = value.split()
    if len(parts) != 2 or not is_digits(parts[0]) or len(parts[0]) > 10:
        raise SyntaxErr("bad CSeq")
    number = int(parts[0])
    if number > MAX_CSEQ or not is_token(parts[1]):
        raise SyntaxErr("CSeq out of range")
    return number, parts[1]


def _split_head(data):
    """Return (header text, body offset, has_blank_line)."""
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        return data[:end], end + 4, True
    end = data.find(b"\n\n")
    if end >= 0:
        return data[:end], end + 2, True
    return data, len(data), False


def parse(data):
    """Parse one datagram into a Message or raise ParseError.

    Framing follows §18.3: Content-Length bounds the body and trailing octets
    are ignored; without Content-Length the body runs to the datagram's end."""
    start = 0
    n = len(data)
    while start < n and data[start] in (13, 10):   # §7.5: skip leading CRLFs
        start += 1
    if start == n:
        raise ParseError("keep-alive", None)
    if start:
        data = data[start:]
    head, body_at, has_blank = _split_head(data)
    try:
        text = bytes(head).decode()
    except UnicodeError:
        raise ParseError("header section is not UTF-8", None)
    lines = text.split("\r\n")
    if text.count("\n") >= len(lines):      # some lines end in a bare LF
        lines = text.replace("\r\n", "\n").split("\n")
    msg = _parse_start_line(lines[0])
    _parse_headers(msg, lines)
    if msg.line_error:
        raise ParseError(msg.line_error, 400, msg)
    if not has_blank:
        raise ParseError("no empty line after the headers", 400, msg)
    lengths = msg._index.get("content-length")
    if lengths:
        length = lengths[0][2].strip()
        for h in lengths:
            if h[2].strip() != length:
                raise ParseError("conflicting Content-Length values", 400, msg)
        if not is_digits(length) or len(length) > 9:
            raise ParseError("bad Content-Length", 400, msg)
        length = int(length)
        if body_at + length > len(data):
            raise ParseError("Content-Length larger than the datagram", 400, msg)
        msg.body = bytes(data[body_at:body_at + length])
    else:
        msg.body = bytes(data[body_at:])
    return msg


def _parse_start_line(line):
    if line.startswith("SIP/"):
        parts = line.split(" ", 2)
        if parts[0] != "SIP/2.0":
            raise ParseError("unsupported SIP version in response", None)
        code = parts[1] if len(parts) > 1 else ""
        if len(code) != 3 or not is_digits(code) or not 100 <= int(code) <= 699:
            raise ParseError("bad status code %r" % code, None)
        return Message(status=int(code), reason=parts[2] if len(parts) > 2 else "")
    parts = line.split(" ")
    method = parts[0]
    if not is_token(method):
        raise ParseError("bad method", None)
    msg = Message(method, parts[1] if len(parts) > 1 else "")
    # RFC 4475 §3.1.2.8-10: extra or missing SP is malformed; the headers are
    # still parsed so that a 400 can be sent if they allow it.
    if len(parts) != 3 or not parts[1] or not parts[2].startswith("SIP/"):
        msg.line_error = "malformed Request-Line"
    elif parts[2] != "SIP/2.0":
        msg.version_error = True
    return msg


def _parse_headers(msg, lines):
    headers = msg.headers
    index = msg._index
    for i in range(1, len(lines)):
        line = lines[i]
        # fast path: "Name: value" with a name seen before (hence a token)
        name, colon, value = line.partition(":")
        key = _NAMES.get(name)
        if key is None or not colon:
            if not line:
                continue
            if line[0] in " \t":                       # §7.3.1 line folding
                if not headers:
                    raise ParseError("continuation line before any header", None)
                headers[-1][2] = headers[-1][2] + " " + line.strip()
                continue
            colon = line.find(":")
            if colon <= 0:
                raise ParseError("header line without a colon", 400, msg)
            name = line[:colon].rstrip()
            if not is_token(name):
                raise ParseError("bad header name %r" % name, 400, msg)
            key = header_key(name)
            _learn(name, key)
            value = line[colon + 1:]
        item = [key, name, value.strip()]
        headers.append(item)
        items = index.get(key)
        if items is None:
            index[key] = [item]
        else:
            items.append(item)


def make_response(request, status, reason=None, to_tag=None):
    """Build a response to a request as §8.2.6.2 requires: Via, From, To,
    Call-ID and CSeq copied; a To tag added when given and absent."""
    resp = Message.response(status, reason)
    for key in ("via", "from", "to", "call-id", "cseq"):
        for h in request._index.get(key, ()):
            value = h[2]
            if key == "to" and to_tag and ";tag=" not in value.replace(" ", "").lower():
                value = value + ";tag=" + to_tag
            resp.add(canonical_name(key), value)
    return resp
