"""SIP message trace lines for the log, with credentials masked (RFC 3261 §20.7, §20.28 headers)."""

_SECRET_HEADERS = (b"authorization:", b"proxy-authorization:")


def trace_text(direction, data, addr):
    """A log entry for one datagram: direction, peer, and the message with the
    digest of Authorization/Proxy-Authorization replaced by ***."""
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
        out.append(line)
    try:
        text = b"\n".join(out).decode()
    except UnicodeError:
        text = repr(b"\n".join(out))
    arrow = "<-" if direction == "in" else "->"
    return "SIP %s %s:%d\n%s" % (arrow, addr[0], addr[1], text)
