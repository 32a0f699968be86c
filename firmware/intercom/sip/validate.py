"""Request and response validation before the transaction layer (RFC 3261 §8.2.1-8.2.2, §7.3.1; RFC 4475)."""

from intercom.sip.message import ParseError, SINGLE, KNOWN_METHODS, canonical_name
from intercom.sip.uri import SyntaxErr, parse_name_addr, parse_uri, is_digits


def check_request(msg):
    """Semantic checks of §8.2 for a parsed request; raise ParseError(status).

    Returns normally when the request can be handed to the transaction layer."""
    index = msg._index
    for key in ("via", "call-id", "cseq", "from", "to"):
        if not index.get(key):
            raise ParseError("missing " + canonical_name(key), None, msg)
    try:
        # fewer keys than headers means some header repeats: only then look
        # (Content-Length repeats were checked by parse(); Call-ID is not a
        # list header, so a single one is also a single value)
        if len(index) != len(msg.headers):
            for key in SINGLE:
                if key != "content-length" and len(index.get(key, ())) > 1:
                    raise SyntaxErr("more than one " + canonical_name(key))
        if msg.version_error:
            raise ParseError("SIP version not supported", 505, msg)
        vias = msg.vias
        if not vias:
            raise SyntaxErr("empty Via")
        # parse every structured header now, so a syntax error is a 400 here
        _ = (msg.from_, msg.to, msg.contacts)
        number, method = msg.cseq
        if method != msg.method:
            status = 400 if msg.method in KNOWN_METHODS else 501
            raise ParseError("CSeq method does not match the request", status, msg)
        uri = parse_uri(msg.uri)
        if uri.is_sip and uri.headers is not None:
            raise SyntaxErr("Request-URI carries header fields")
        max_forwards = msg.get("max-forwards")
        if max_forwards is not None and not is_digits(max_forwards):
            raise SyntaxErr("bad Max-Forwards")
        _check_lists(msg, index)
    except SyntaxErr as err:
        raise ParseError(str(err), 400, msg)


def _check_lists(msg, index):
    """List headers this UA reads later must split (and Record-Route values,
    which become a dialog's route set, must parse) now, where an error is a
    400 or a drop rather than an exception deep in a call."""
    if msg.is_request:
        for key in ("require", "accept"):          # read by the UAS checks
            if key in index:
                msg.get_all(key)
        creates_dialog = msg.method == "INVITE"
    else:
        creates_dialog = msg.cseq[1] == "INVITE" and msg.status < 300
    if creates_dialog and "record-route" in index:
        for value in msg.get_all("record-route"):
            parse_name_addr(value)


def check_response(msg):
    """Checks for a received response; a bad one is dropped (status None)."""
    try:
        index = msg._index
        if len(msg.vias) < 1 or len(index.get("cseq", ())) != 1 or len(index.get("call-id", ())) != 1:
            raise SyntaxErr("missing or repeated Via/CSeq/Call-ID")
        _ = (msg.cseq, msg.from_, msg.to)
        _check_lists(msg, index)
    except SyntaxErr as err:
        raise ParseError(str(err), None, msg)
