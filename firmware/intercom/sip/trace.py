"""SIP message trace lines for the log, with credentials masked (RFC 3261 §20.7, §20.28 headers)."""

_SECRET_HEADERS = (b"authorization:", b"proxy-authorization:")


def trace_text(direction, data, addr):
    """A log entry for one datagram: direction, peer, and the message with the
    digest of Authorization/Proxy-Authorization and the SRTP keys of
    a=crypto lines (RFC 4568 §9.1) replaced by ***."""
    lines = bytes(data).split(b"\r\n")
    out = []
    for line in lines:
        low = line.lower()
        for name in _SECRET_HEADERS:
            if low.startswith(name):
                # keep who authenticates (useful when debugging), hide the rest
                user = b""
                at = low.find(b"username=")
                if at >= 0:
                    end = line.find(b",", at)
                    user = line[at:end if end >= 0 else len(line)]
                line = line[:len(name)] + b" Digest " + user + b", ***"
        if low.startswith(b"a=crypto:"):
            line = mask_crypto(line)
        out.append(line)
    try:
        text = b"\n".join(out).decode()
    except UnicodeError:
        text = repr(b"\n".join(out))
    arrow = "<-" if direction == "in" else "->"
    return "SIP %s %s:%d\n%s" % (arrow, addr[0], addr[1], text)


def mask_crypto(line):
    """An a=crypto line (bytes) with every inline key (and its lifetime and
    MKI) overwritten by '*', length kept (a pcap's Content-Length stays
    right); suite and tag stay readable for debugging."""
    out = bytearray(line)
    at = out.find(b"inline:")
    while at >= 0:
        i = at + 7
        while i < len(out) and out[i] not in b" ;":
            out[i] = 0x2A
            i += 1
        at = out.find(b"inline:", i)
    return bytes(out)


def mask_body(data):
    """The datagram with the keys of its a=crypto lines masked (mask_crypto),
    unchanged (the same object) when it has none."""
    if b"a=crypto:" not in data:
        return data
    lines = bytes(data).split(b"\r\n")
    for i, line in enumerate(lines):
        if line.lower().startswith(b"a=crypto:"):
            lines[i] = mask_crypto(line)
    return b"\r\n".join(lines)
