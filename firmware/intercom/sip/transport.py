"""SIP over TCP/TLS in the sans-I/O core: stream peers, Via transport, transport errors (RFC 3261 §18, §8.1.3.1).

Imported only when a stream transport is configured or asked for by a URI:
a UDP phone never loads it. The UA keeps `transports` ((ip, port) ->
"tcp"/"tls"; absent = UDP) and `transport_to(addr)`; everything else about
streams is here. Sockets, handshakes and framing are the driver's
(intercom.stream_conn, intercom.sip.stream).
"""

from intercom.sip.transaction import TERMINATED

STREAMS = ("tcp", "tls")
# Peers reached over TCP or TLS at most (the registrar and a few dialed
# peers); each is a connection on the driver side. At the cap an entry that
# is not the registrar's is forgotten, so peers' addresses cost bounded memory.
MAX_STREAM_PEERS = 4


def set_transport(ua, addr, transport):
    """Messages to addr go over a "tcp"/"tls" connection ("udp": datagrams)."""
    table = ua.layer.transports
    if transport not in STREAMS:
        table.pop(addr, None)
        return
    if addr not in table and len(table) >= MAX_STREAM_PEERS:
        keep = ua.registration.target if ua.registration is not None else None
        for key in table:
            if key != keep:
                del table[key]
                break
    table[addr] = transport


def set_via_transport(request, transport):
    """Rewrite the top Via's sent-protocol to SIP/2.0/TCP or SIP/2.0/TLS (§18.1.1)."""
    item = request._index["via"][0]
    value = item[2]
    slash = value.find("/", value.find("/") + 1)     # SIP/2.0/<transport>
    space = value.find(" ", slash)
    if slash < 0 or space < 0:
        return
    item[2] = value[:slash + 1] + transport.upper() + value[space:]
    request._cache.pop("via", None)


def transport_failed(ua, addr, transport, message):
    """The driver could not connect to addr, lost the connection, or its TLS
    handshake or certificate check failed: every client transaction towards
    addr ends now (§8.1.3.1: a transport error counts as a timeout) with
    tx.error = (transport, message), instead of waiting for Timer B/F, and
    a live registration there is reported lost and refreshed on its
    backoff, which reconnects. Never a fallback to another transport."""
    ua.log("warn", "%s to %s:%d failed: %s" % (transport, addr[0], addr[1], message))
    layer = ua.layer
    failed = [layer.clients[key] for key in layer.clients
              if layer.clients[key].addr == addr and layer.clients[key].state != TERMINATED
              and layer.clients[key].request is not None]
    for tx in failed:
        tx.error = (transport, message)
        tx.terminate()
        if tx.tu is not None:
            tx.tu.on_timeout(tx)
    layer.tick(layer.now)                  # collect the terminated ones
    reg = ua.registration
    if reg is not None and reg.target == addr and reg.state == "registered":
        # the registrar reaches us only on that connection: the binding is lost
        reg._failed(reason=transport, message=message)
