"""Digest authentication client: RFC 2617, RFC 7616 §3.3-3.4, RFC 8760, as used by RFC 3261 §22."""

import binascii
import hashlib

# Canonical (upper-case) algorithm name -> (hashlib constructor name, is -sess).
_ALGORITHMS = {
    "MD5": ("md5", False),
    "MD5-SESS": ("md5", True),
    "SHA-256": ("sha256", False),
    "SHA-256-SESS": ("sha256", True),
}
# Spelling put on the wire in the Authorization header (RFC 7616 §3.3).
_WIRE_NAME = {
    "MD5": "MD5",
    "MD5-SESS": "MD5-sess",
    "SHA-256": "SHA-256",
    "SHA-256-SESS": "SHA-256-sess",
}
# Lower rank is stronger (RFC 8760 §2: prefer SHA-256 over MD5).
_RANK = {"SHA-256": 0, "SHA-256-SESS": 1, "MD5": 2, "MD5-SESS": 3}

# RFC 7230 §3.2.6 tchar, minus ALPHA/DIGIT which are checked separately.
_TCHAR_EXTRA = "!#$%&'*+-.^_`|~"
_MASK = "********"


class DigestError(Exception):
    """A challenge could not be parsed or answered. Never carries the password."""


def _is_token(s):
    if not s:
        return False
    for c in s:
        if ord(c) > 126 or not (c.isalpha() or c.isdigit() or c in _TCHAR_EXTRA):
            return False
    return True


def _is_bare_value(s):
    # Lenient unquoted value: servers send e.g. nonce=abc/def== unquoted.
    if not s:
        return False
    for c in s:
        if ord(c) <= 32 or ord(c) > 126 or c in '"\\':
            return False
    return True


def _skip_ws(s, i):
    n = len(s)
    while i < n and s[i] in " \t":
        i += 1
    return i


def _read_quoted(s, i):
    # s[i] is the opening quote; returns (unquoted text, index after closing quote).
    out = []
    i += 1
    n = len(s)
    while i < n:
        c = s[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\":
            i += 1
            if i >= n:
                break
            c = s[i]
        if c in "\r\n\x00":
            raise DigestError("control character inside quoted string")
        out.append(c)
        i += 1
    raise DigestError("unterminated quoted string")


def _parse_params(s, i):
    # auth-param list after the scheme: name=token / name="quoted", comma-separated.
    params = {}
    n = len(s)
    while True:
        while i < n and s[i] in " \t,":
            i += 1
        if i >= n:
            return params
        start = i
        while i < n and s[i] not in " \t=,\"":
            i += 1
        name = s[start:i].lower()
        if not _is_token(name):
            raise DigestError(f"bad parameter name {s[start:i + 1][:32]!r}")
        i = _skip_ws(s, i)
        if i >= n or s[i] != "=":
            raise DigestError(f"expected '=' after parameter {name[:32]!r}")
        i = _skip_ws(s, i + 1)
        if i < n and s[i] == '"':
            value, i = _read_quoted(s, i)
        else:
            start = i
            while i < n and s[i] not in " \t,":
                i += 1
            value = s[start:i]
            if not _is_bare_value(value):
                raise DigestError(f"bad value for parameter {name[:32]!r}")
        i = _skip_ws(s, i)
        if i < n and s[i] != ",":
            raise DigestError(f"expected ',' after parameter {name[:32]!r}")
        if name in params:
            raise DigestError(f"duplicate parameter {name[:32]!r}")
        params[name] = value


def parse_challenge(value):
    """Parse one WWW-Authenticate / Proxy-Authenticate header value.

    Returns {'scheme': 'digest', 'realm', 'nonce', 'algorithm' (canonical
    upper case, default 'MD5'), 'qop' (list of lower-case tokens),
    'opaque' (str or None), 'stale' (bool), 'domain' (str or None),
    'userhash' (bool)} for Digest, or {'scheme': <lower-case scheme>} for
    any other scheme. Raises DigestError (and nothing else) on bad input.
    """
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode()
        except UnicodeError:
            raise DigestError("challenge is not valid UTF-8")
    if not isinstance(value, str):
        raise DigestError("challenge must be a string")
    s = value.strip()
    i = 0
    n = len(s)
    while i < n and s[i] not in " \t":
        i += 1
    scheme = s[:i]
    if not scheme:
        raise DigestError("empty challenge")
    if not _is_token(scheme):
        raise DigestError(f"bad auth scheme {scheme[:32]!r}")
    scheme = scheme.lower()
    if scheme != "digest":
        return {"scheme": scheme}
    params = _parse_params(s, i)
    for key in ("realm", "nonce"):
        if key not in params:
            raise DigestError(f"digest challenge has no {key}")
    if not params["nonce"]:
        raise DigestError("digest challenge has an empty nonce")
    qop = []
    for tok in params.get("qop", "").split(","):
        tok = tok.strip().lower()
        if tok:
            qop.append(tok)
    return {
        "scheme": "digest",
        "realm": params["realm"],
        "nonce": params["nonce"],
        "algorithm": params.get("algorithm", "MD5").upper(),
        "qop": qop,
        "opaque": params.get("opaque"),
        "stale": params.get("stale", "").lower() == "true",
        "domain": params.get("domain"),
        "userhash": params.get("userhash", "").lower() == "true",
    }


def _supported(ch):
    if ch.get("scheme") != "digest":
        return False
    algo = _ALGORITHMS.get(ch["algorithm"])
    if algo is None:
        return False
    qop = ch["qop"]
    if not qop:
        # RFC 2069 compatibility has no cnonce, which -sess needs.
        return not algo[1]
    return "auth" in qop or "auth-int" in qop


def choose_challenge(challenges):
    """Return the strongest supported parsed challenge, or None.

    Order: SHA-256 > SHA-256-sess > MD5 > MD5-sess; among equals one that
    offers qop=auth wins; ties keep the server's order.
    """
    best = None
    best_key = None
    for ch in challenges:
        if not _supported(ch):
            continue
        key = (_RANK[ch["algorithm"]], 0 if "auth" in ch["qop"] else 1)
        if best is None or key < best_key:
            best = ch
            best_key = key
    return best


def _hex(algo, text):
    if isinstance(text, str):
        text = text.encode()
    return binascii.hexlify(getattr(hashlib, algo)(text).digest()).decode()


def _nc_str(nc):
    if isinstance(nc, int) and not isinstance(nc, bool):
        if nc < 1 or nc > 0xFFFFFFFF:
            raise DigestError("nonce count out of range")
        return f"{nc:08x}"
    if isinstance(nc, str) and len(nc) == 8:
        try:
            int(nc, 16)
            return nc.lower()
        except ValueError:
            pass
    raise DigestError("nonce count must be an int or 8 hex digits")


def digest_response(ch, username, password, method, uri, cnonce, nc, body=b""):
    """Compute the request-digest for parsed challenge ch.

    nc is an int or an 8-hex-digit string. Returns (response_hex, qop_used)
    with qop_used 'auth', 'auth-int' or None (RFC 2069 compatibility).
    HA1/HA2/response per RFC 7616 §3.4.1-3.4.3 and RFC 2617 §3.2.2.
    """
    if not _supported(ch):
        algorithm = ch.get("algorithm")
        raise DigestError(f"unsupported digest challenge (algorithm={algorithm})")
    algo, sess = _ALGORITHMS[ch["algorithm"]]
    qop_offered = ch["qop"]
    if "auth" in qop_offered:
        qop = "auth"
    elif "auth-int" in qop_offered:
        qop = "auth-int"
    else:
        qop = None
    if qop is not None and (not isinstance(cnonce, str) or not cnonce):
        raise DigestError(f"qop={qop} needs a non-empty cnonce")
    realm = ch["realm"]
    nonce = ch["nonce"]
    ha1 = _hex(algo, f"{username}:{realm}:{password}")
    if sess:
        # RFC 7616 §3.4.2: session variant binds HA1 to this nonce and cnonce.
        ha1 = _hex(algo, f"{ha1}:{nonce}:{cnonce}")
    if qop == "auth-int":
        if isinstance(body, str):
            body = body.encode()
        ha2 = _hex(algo, f"{method}:{uri}:{_hex(algo, bytes(body))}")
    else:
        ha2 = _hex(algo, f"{method}:{uri}")
    if qop is None:
        response = _hex(algo, f"{ha1}:{nonce}:{ha2}")
    else:
        response = _hex(algo, f"{ha1}:{nonce}:{_nc_str(nc)}:{cnonce}:{qop}:{ha2}")
    return response, qop


def _quote(value):
    # quoted-string with quoted-pairs (RFC 7230 §3.2.6); a line break would
    # let a value inject a header, so refuse it.
    value = str(value)
    for c in value:
        if c in "\r\n\x00":
            raise DigestError("header value contains a control character")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _describe(value):
    try:
        ch = parse_challenge(value)
    except DigestError:
        return "unparsable"
    scheme = ch["scheme"]
    name = scheme[:1].upper() + scheme[1:]
    if scheme != "digest":
        return name
    text = name + " algorithm=" + ch["algorithm"]
    if ch["qop"]:
        text += " qop=" + ",".join(ch["qop"])
    return text


class DigestClient:
    """Answers 401/407 challenges for one set of credentials.

    cnonce_source() must return a fresh hex string on each call. The
    password is kept only in this object and never shown by repr/str.
    """

    def __init__(self, username, password, cnonce_source):
        self.username = username
        self._password = password
        self._cnonce_source = cnonce_source
        self.current = None  # the chosen parsed challenge, or None
        self.realm = None
        self.nc = 0  # requests answered with the current nonce
        # True once authorization() answered the current challenge.
        self._answered = False
        # -sess: one cnonce per nonce, so HA1 is the same whether the server
        # computes it once (RFC 2617 §3.2.2.2) or per request.
        self._sess_cnonce = None

    def __repr__(self):
        return (f"<DigestClient username={self.username!r} realm={self.realm!r}"
                f" nc={self.nc} password={_MASK}>")

    __str__ = __repr__

    def challenge(self, values):
        """Take the challenge header values of one 401/407 response.

        Picks the strongest supported challenge and makes it current; nc
        restarts when the nonce changes. Returns True when this is a
        stale=true nonce refresh of a challenge already answered (the
        credentials were good: do not count it as a failed attempt; the
        caller should still bound retries). Raises DigestError if no value
        holds a supported challenge.
        """
        if values is None:
            values = []
        elif isinstance(values, (str, bytes)):
            values = [values]
        parsed = []
        for v in values:
            try:
                parsed.append(parse_challenge(v))
            except DigestError:
                pass
        ch = choose_challenge(parsed)
        if ch is None:
            offered = ", ".join([_describe(v) for v in values]) or "nothing"
            raise DigestError(f"no supported digest challenge (offered: {offered})")
        prev = self.current
        refresh = bool(ch["stale"] and prev is not None and self._answered
                       and prev["nonce"] != ch["nonce"])
        if prev is None or prev["nonce"] != ch["nonce"]:
            self.nc = 0
            self._answered = False
            self._sess_cnonce = None
        self.current = ch
        self.realm = ch["realm"]
        return refresh

    def authorization(self, method, uri, body=b""):
        """Return the Authorization / Proxy-Authorization header value for a request."""
        ch = self.current
        if ch is None:
            raise DigestError("no challenge to answer")
        self.nc += 1
        cnonce = None
        if ch["qop"]:
            cnonce = self._sess_cnonce or self._cnonce_source()
            if not isinstance(cnonce, str) or not cnonce:
                raise DigestError("cnonce_source must return a non-empty string")
            if _ALGORITHMS[ch["algorithm"]][1]:
                self._sess_cnonce = cnonce
        response, qop = digest_response(ch, self.username, self._password,
                                        method, uri, cnonce, self.nc, body)
        self._answered = True
        parts = [
            "Digest username=" + _quote(self.username),
            "realm=" + _quote(ch["realm"]),
            "nonce=" + _quote(ch["nonce"]),
            "uri=" + _quote(uri),
            'response="' + response + '"',
            "algorithm=" + _WIRE_NAME[ch["algorithm"]],
        ]
        if qop is not None:
            parts.append("cnonce=" + _quote(cnonce))
            parts.append("qop=" + qop)
            parts.append("nc=" + _nc_str(self.nc))
        if ch["opaque"] is not None:
            parts.append("opaque=" + _quote(ch["opaque"]))
        return ", ".join(parts)
