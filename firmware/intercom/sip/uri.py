"""SIP URIs, name-addr and Via values (RFC 3261 §19.1, §20.10, §20.42, §25.1; RFC 3581)."""


class SyntaxErr(Exception):
    """A header value or URI does not follow the RFC 3261 grammar."""


_HEX = "0123456789abcdefABCDEF"
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# token characters of RFC 3261 §25.1 (besides alphanumerics)
_TOKEN_EXTRA = "-.!%*_+`'~"
_TOKEN = _ALNUM + _TOKEN_EXTRA
_HOST = _ALNUM + "-._"

# Speed: validating a string one character at a time in bytecode dominated
# parsing. text.strip(CHARS) does the same membership test in C (on CPython
# and MicroPython alike): it returns "" exactly when every character of text
# is in CHARS. Only what is left over (rare) goes through the per-character
# rule, which also accepts non-ASCII letters/digits as str.isalpha() does.


def _all_chars(text, ascii_ok, extra):
    """True if every character is in ascii_ok or a letter/digit or in extra."""
    for ch in text.strip(ascii_ok):
        if not (ch.isalpha() or ch.isdigit() or ch in extra):
            return False
    return True


def is_digits(text):
    """True if text is one or more ASCII digits (str.isdigit also accepts '²')."""
    return bool(text) and not text.strip("0123456789")


def is_ipv4(text):
    """True for a dotted-quad IPv4 address (four decimal octets 0-255)."""
    parts = text.split(".")
    if len(parts) != 4:
        return False
    for part in parts:
        if not is_digits(part) or len(part) > 3 or int(part) > 255:
            return False
    return True


def is_unicast_ipv4(text):
    """An IPv4 address we may send to: not 0.0.0.0 (a peer's "nowhere"), not
    multicast or broadcast (a peer's Contact must never make us flood)."""
    return is_ipv4(text) and 0 < int(text.split(".")[0]) < 224


def is_token(text):
    """True if text is a non-empty RFC 3261 token."""
    return bool(text) and (not text.strip(_TOKEN) or _all_chars(text, _TOKEN, _TOKEN_EXTRA))


def unescape(text):
    """Expand %HH escapes once (never recursively: value%2541 -> value%41)."""
    if "%" not in text:
        return text
    out = bytearray()
    raw = text.encode()
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i]
        if c == 37 and i + 2 < n and chr(raw[i + 1]) in _HEX and chr(raw[i + 2]) in _HEX:
            out.append(int(raw[i + 1:i + 3].decode(), 16))
            i += 3
        else:
            out.append(c)
            i += 1
    try:
        return bytes(out).decode()
    except UnicodeError:
        return text      # escapes that are not UTF-8 cannot name a user of ours: keep them literal


def split_params(text, where):
    """Parse ';name=value;flag' into an ordered list of [name, value-or-None].

    Empty parameters (';;') are a syntax error (RFC 4475 §3.1.2.1)."""
    params = []
    if not text:
        return params
    for part in split_quoted(text, ";"):
        part = part.strip()
        if not part:
            raise SyntaxErr("empty parameter in " + where)
        name, eq, value = part.partition("=")
        if eq:
            name = name.strip()
            value = value.strip()
            if not name or not value:
                raise SyntaxErr("bad parameter %r in %s" % (part, where))
            params.append([name, value])
        else:
            params.append([part, None])
    return params


def get_param(params, name, default=None):
    """Look up a parameter by case-insensitive name in a split_params list."""
    name = name.lower()
    for key, value in params:
        if key.lower() == name:
            return value if value is not None else ""
    return default


def set_param(params, name, value):
    """Replace or append a parameter in a split_params list."""
    low = name.lower()
    for item in params:
        if item[0].lower() == low:
            item[1] = value
            return
    params.append([name, value])


def join_params(params):
    """Serialize a split_params list back to ';name=value' text."""
    out = ""
    for name, value in params:
        out += ";" + name if value is None else ";" + name + "=" + value
    return out


def split_quoted(text, sep):
    """Split on sep outside double quotes and angle brackets (quoted-pairs honoured)."""
    if '"' in text:
        return _split_quoted_chars(text, sep)
    if "<" not in text and ">" not in text:     # the usual case: nothing to skip
        return text.split(sep)
    # brackets but no quotes: a separator only splits at bracket depth 0, so
    # glue back the pieces str.split cut inside <...>
    parts = []
    depth = 0
    for piece in text.split(sep):
        if depth:
            parts[-1] += sep + piece
        else:
            parts.append(piece)
        depth += piece.count("<") - piece.count(">")
    return parts


def _split_quoted_chars(text, sep):
    """split_quoted's general case, one character at a time."""
    parts = []
    start = 0
    quoted = False
    angle = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            angle += 1
        elif ch == ">":
            angle -= 1
        elif ch == sep and angle == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    if quoted:
        raise SyntaxErr("unterminated quoted string")
    parts.append(text[start:])
    return parts


class Uri:
    """A parsed sip:/sips: URI (other schemes keep only scheme and opaque text)."""

    def __init__(self, scheme, user=None, host="", port=None, params=None,
                 headers=None, password=None, opaque=None):
        self.scheme = scheme
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.params = params if params is not None else []
        self.headers = headers
        self.opaque = opaque

    @property
    def is_sip(self):
        return self.scheme in ("sip", "sips")

    def param(self, name, default=None):
        return get_param(self.params, name, default)

    def host_port(self, default_port=5060):
        return self.host, (self.port if self.port is not None else default_port)

    def __str__(self):
        if not self.is_sip:
            return self.scheme + ":" + self.opaque
        out = self.scheme + ":"
        if self.user is not None:
            out += self.user
            if self.password is not None:
                out += ":" + self.password
            out += "@"
        out += self.host
        if self.port is not None:
            out += ":" + str(self.port)
        out += join_params(self.params)
        if self.headers:
            out += "?" + self.headers
        return out

    def __repr__(self):
        return "Uri(%s)" % self


def parse_uri(text):
    """Parse a URI; raise SyntaxErr for LWS, brackets or a bad host/port."""
    text = text.strip()
    colon = text.find(":")
    if colon <= 0:
        raise SyntaxErr("URI has no scheme: %r" % text)
    scheme = text[:colon].lower()
    rest = text[colon + 1:]
    if " " in rest or "\t" in rest or "<" in rest or ">" in rest or '"' in rest:
        for ch in " \t<>\"":
            if ch in rest:
                raise SyntaxErr("illegal character %r in URI %r" % (ch, text))
    if scheme not in ("sip", "sips"):
        if not is_token(scheme.replace("+", "")):
            raise SyntaxErr("bad URI scheme %r" % scheme)
        return Uri(scheme, opaque=rest)
    # userinfo ends at the first '@' ('@' is never unescaped inside user or host)
    at = rest.find("@")
    user = password = None
    if at >= 0:
        userinfo = rest[:at]
        rest = rest[at + 1:]
        pc = userinfo.find(":")
        if pc >= 0:
            user, password = userinfo[:pc], userinfo[pc + 1:]
        else:
            user = userinfo
        if user == "":
            raise SyntaxErr("empty user part in %r" % text)
    headers = None
    q = rest.find("?")
    if q >= 0:
        headers = rest[q + 1:]
        rest = rest[:q]
    hostport, semi, params = rest.partition(";")
    params = split_params(params, "URI parameters") if semi else []
    host, port = parse_hostport(hostport, text)
    return Uri(scheme, user, host, port, params, headers, password)


def parse_hostport(hostport, context):
    """Split 'host[:port]' (IPv6 references in brackets); validate the port."""
    port = None
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise SyntaxErr("unterminated IPv6 reference in %r" % context)
        host = hostport[:end + 1]
        tail = hostport[end + 1:]
        if tail:
            if not tail.startswith(":"):
                raise SyntaxErr("bad host in %r" % context)
            port = tail[1:]
    else:
        host, pc, port = hostport.partition(":")
        if not pc:
            port = None
        if host.strip(_HOST) and not _all_chars(host, _HOST, "-._"):
            raise SyntaxErr("bad host %r in %r" % (host, context))
    if not host:
        raise SyntaxErr("empty host in %r" % context)
    if port is not None:
        # port 0 is no UDP destination: a peer's ":0" would make us send
        # ACKs and BYEs into the void, so it is as bad as 65536
        if not is_digits(port) or len(port) > 5 or not 0 < int(port) <= 65535:
            raise SyntaxErr("bad port %r in %r" % (port, context))
        port = int(port)
    return host.lower(), port


class NameAddr:
    """A From/To/Contact/Route value: optional display name, URI, header params."""

    def __init__(self, uri, display=None, params=None):
        self.uri = uri
        self.display = display
        self.params = params if params is not None else []

    def param(self, name, default=None):
        return get_param(self.params, name, default)

    @property
    def tag(self):
        return get_param(self.params, "tag")

    def __str__(self):
        out = ""
        if self.display:
            out = '"' + self.display.replace("\\", "\\\\").replace('"', '\\"') + '" '
        return out + "<" + str(self.uri) + ">" + join_params(self.params)


def parse_name_addr(text):
    """Parse name-addr or addr-spec with header parameters (RFC 3261 §20.10)."""
    text = text.strip()
    if text == "*":
        return NameAddr(Uri("*", opaque=""))
    display = None
    if text.startswith('"'):
        i = text.find('"', 1)
        if i > 0 and "\\" not in text[1:i]:   # no quoted-pairs: one slice
            display = text[1:i]
        else:
            i = 1
            n = len(text)
            chars = []
            while i < n and text[i] != '"':
                if text[i] == "\\":
                    i += 1
                if i < n:
                    chars.append(text[i])
                i += 1
            if i >= n:
                raise SyntaxErr("unterminated quoted display name")
            display = "".join(chars)
        text = text[i + 1:].lstrip()
        if not text.startswith("<"):
            raise SyntaxErr("display name not followed by <URI>")
    lt = text.find("<")
    if lt >= 0:
        if display is None and lt:
            words = text[:lt].strip()
            # RFC 4475 §3.1.1.6: accept a token display name with no LWS before '<'
            for word in words.split():
                if not is_token(word):
                    raise SyntaxErr("display name %r must be quoted" % words)
            display = words or None
        gt = text.find(">", lt)
        if gt < 0:
            raise SyntaxErr("unterminated <URI>")
        inner = text[lt + 1:gt]
        if inner != inner.strip():
            raise SyntaxErr("whitespace inside <URI>")
        uri = parse_uri(inner)
        rest = text[gt + 1:].strip()
    else:
        # addr-spec: parameters after the URI belong to the header, and the
        # URI itself may carry neither ';' params, '?' headers nor commas.
        semi = text.find(";")
        spec = text if semi < 0 else text[:semi]
        rest = "" if semi < 0 else text[semi:]
        spec = spec.strip()
        if "?" in spec or " " in spec or "," in spec:
            raise SyntaxErr("addr-spec %r must be enclosed in <>" % spec)
        uri = parse_uri(spec)
    params = []
    if rest:
        if not rest.startswith(";"):
            raise SyntaxErr("unexpected text %r after URI" % rest)
        params = split_params(rest[1:], "header parameters")
    return NameAddr(uri, display, params)


class Via:
    """One Via value: protocol, transport, sent-by and parameters (§20.42)."""

    def __init__(self, transport, host, port, params):
        self.transport = transport
        self.host = host
        self.port = port
        self.params = params

    def param(self, name, default=None):
        return get_param(self.params, name, default)

    @property
    def branch(self):
        return get_param(self.params, "branch")

    def __str__(self):
        out = "SIP/2.0/" + self.transport + " " + self.host
        if self.port is not None:
            out += ":" + str(self.port)
        return out + join_params(self.params)


def parse_via(text):
    """Parse a single Via value (LWS allowed around '/')."""
    text = text.strip()
    semi = text.find(";")
    head = text if semi < 0 else text[:semi]
    params = [] if semi < 0 else split_params(text[semi + 1:], "Via")
    if head.startswith("SIP/2.0/") and head.count("/") == 2:    # the usual spelling
        tail = head[8:].strip().split(None, 1)
        if len(tail) != 2:
            raise SyntaxErr("bad Via %r" % head)
    else:
        parts = head.split("/")
        if len(parts) != 3:
            raise SyntaxErr("bad Via sent-protocol %r" % head)
        name = parts[0].strip()
        version = parts[1].strip()
        tail = parts[2].strip().split(None, 1)
        if name.upper() != "SIP" or version != "2.0" or len(tail) != 2:
            raise SyntaxErr("bad Via %r" % head)
    if not is_token(tail[0]):
        raise SyntaxErr("bad Via transport %r" % tail[0])
    host, port = parse_hostport(tail[1].strip(), "Via")
    return Via(tail[0].upper(), host, port, params)


def format_name_addr(display, uri, params=""):
    """name-addr text for a header we build (RFC 3261 §20.10, §25.1).

    The display name becomes a quoted-string: backslash and double quote are
    escaped as quoted-pairs; CR, LF and other controls (which no quoted-string
    may hold, and which would split the header) are dropped. An empty or
    missing display name gives a bare <uri>. `params` (";tag=...") follows."""
    out = "<" + str(uri) + ">" + params
    if not display:
        return out
    text = str(display)
    clean = []
    for ch in text:
        if ch >= " " and ch != "\x7f":
            clean.append(ch)
    text = "".join(clean).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text + '" ' + out
