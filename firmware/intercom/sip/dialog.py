"""Dialogs: identifiers, CSeq, route set and remote target (RFC 3261 §12, §16.12 loose routing)."""

from intercom.sip.message import Message
from intercom.sip.uri import parse_name_addr, parse_uri, SyntaxErr, format_name_addr


class Dialog:
    """The state two UAs share for the life of a call (§12).

    Created as UAC from a response with a To tag (§12.1.2) or as UAS from
    the INVITE we answer (§12.1.1); target-refresh requests and their 2xx
    update the remote target."""

    def __init__(self, call_id, local_tag, remote_tag, local_uri, remote_uri,
                 local_cseq, remote_cseq, route_set, remote_target, local_display=None):
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        self.local_uri = local_uri          # str: From for our requests
        self.remote_uri = remote_uri        # str: To for our requests
        self.local_cseq = local_cseq
        self.remote_cseq = remote_cseq      # None until the peer sends a request
        self.route_set = route_set          # list of route values (str), in order to use
        self.remote_target = remote_target  # str URI from the peer's Contact
        self.local_display = local_display

    @classmethod
    def as_uac(cls, request, response):
        """§12.1.2: route set = Record-Route reversed; target = Contact."""
        routes = response.get_all("record-route")
        routes.reverse()
        return cls(request.call_id, request.from_.tag, response.to.tag,
                   str(request.from_.uri), str(response.to.uri), request.cseq[0], None,
                   routes, contact_target(response, str(request.uri)),
                   request.from_.display)

    def fork(self, response, cseq):
        """The dialog another 2xx to the same INVITE makes (§13.2.2.4): our
        side as in this dialog, the peer's side from the response."""
        routes = response.get_all("record-route")
        routes.reverse()
        return Dialog(self.call_id, self.local_tag, response.to.tag, self.local_uri,
                      str(response.to.uri), cseq, None, routes,
                      contact_target(response, self.remote_target), self.local_display)

    @classmethod
    def as_uas(cls, request, local_tag):
        """§12.1.1: route set = Record-Route in order; target = Contact."""
        return cls(request.call_id, local_tag, request.from_.tag,
                   str(request.to.uri), str(request.from_.uri), 0, request.cseq[0],
                   request.get_all("record-route"), contact_target(request, None),
                   request.to.display)

    @property
    def id(self):
        return (self.call_id, self.local_tag, self.remote_tag)

    def matches(self, msg, incoming_request):
        """True if msg belongs to this dialog (§12.2.2 for requests)."""
        if msg.call_id != self.call_id:
            return False
        if incoming_request:
            return msg.to.tag == self.local_tag and msg.from_.tag == self.remote_tag
        return msg.from_.tag == self.local_tag and msg.to.tag == self.remote_tag

    def check_remote_cseq(self, request):
        """§12.2.2: a lower CSeq than the last one is out of order (500)."""
        number = request.cseq[0]
        if request.method in ("ACK", "CANCEL"):
            return True
        if self.remote_cseq is not None and number <= self.remote_cseq:
            return False
        self.remote_cseq = number
        return True

    def refresh_target(self, msg):
        """Target refresh (§12.2): a re-INVITE or its 2xx may carry a new Contact."""
        target = contact_target(msg, None)
        if target:
            self.remote_target = target

    def new_request(self, ua, method, cseq=None):
        """A request within the dialog (§12.2.1.1), Via and routing included.

        Returns (request, next-hop URI string)."""
        if cseq is None:
            self.local_cseq += 1
            cseq = self.local_cseq
        routes = list(self.route_set)
        uri = self.remote_target
        if routes and not _is_loose(routes[0]):
            # strict routing: the first route becomes the Request-URI and the
            # remote target goes last (§12.2.1.1)
            uri = _route_uri(routes.pop(0))
            routes.append("<" + self.remote_target + ">")
        req = Message.request(method, uri)
        ua.add_via(req)
        for route in routes:
            req.add("Route", route)
        req.add("Max-Forwards", "70")
        req.add("From", format_name_addr(self.local_display, self.local_uri, ";tag=" + self.local_tag))
        to = "<%s>" % self.remote_uri
        if self.remote_tag:
            to += ";tag=" + self.remote_tag
        req.add("To", to)
        req.add("Call-ID", self.call_id)
        req.add("CSeq", "%d %s" % (cseq, method))
        return req, self.next_hop()

    def next_hop(self):
        """The URI the request is sent to: the first route, or the target."""
        if self.route_set:
            return _route_uri(self.route_set[0])
        return self.remote_target


def contact_target(msg, default):
    contacts = msg.get_all("contact")
    if not contacts:
        return default
    try:
        return str(parse_name_addr(contacts[0]).uri)
    except SyntaxErr:
        return default


def _route_uri(route):
    return str(parse_name_addr(route).uri)


def _is_loose(route):
    try:
        return parse_name_addr(route).uri.param("lr") is not None
    except SyntaxErr:
        return True


def uri_addr(uri_text):
    """(host, port, transport) to send to for a sip:/sips: URI (maddr
    honoured; no DNS here). transport is "tls" for sips: (§26.2), else the
    ;transport= parameter (lower case) or "udp"; the default port is 5061
    for TLS, else 5060 (§19.1.2)."""
    uri = parse_uri(uri_text)
    host = uri.param("maddr") or uri.host
    transport = "tls" if uri.scheme == "sips" else (uri.param("transport") or "udp").lower()
    port = uri.port
    if port is None:
        port = 5061 if transport == "tls" else 5060
    return host, port, transport
