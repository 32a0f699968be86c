"""MQTT 3.1.1 packet codec, QoS 0 only (OASIS MQTT 3.1.1 §2 fixed header, §3 control packets) (pure).

No I/O: bytes in, packets out. Encoders return the whole packet as bytes;
PacketReader frames a byte stream into packets with a hard size cap, so a
broker (or anything answering on its port) cannot make us buffer more than
MAX_PACKET bytes. Everything we send is QoS 0: no packet identifiers to
track, no retransmission state, nothing that grows (SUBSCRIBE carries one
identifier, which is only echoed in the SUBACK).
"""

import struct

CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
SUBSCRIBE = 8
SUBACK = 9
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14

PINGREQ_PACKET = b"\xc0\x00"       # §3.12
DISCONNECT_PACKET = b"\xe0\x00"    # §3.14

MAX_PACKET = 1024      # largest packet we accept from the broker (fixed header included)

# §3.2.2.3 CONNACK return codes
CONNACK_REASONS = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}


class MqttError(Exception):
    """A packet that breaks MQTT 3.1.1 or our size cap; the connection must be dropped."""


def _string(text):
    # §1.5.3: a UTF-8 string is a 2-byte length and the bytes
    data = text.encode() if isinstance(text, str) else bytes(text)
    if len(data) > 65535:
        raise ValueError("MQTT string longer than 65535 bytes")
    return struct.pack("!H", len(data)) + data


def _fixed_header(first, length):
    # §2.2.3: remaining length, 7 bits a byte, at most 4 bytes
    if length > 268435455:
        raise ValueError("MQTT packet too long")
    out = bytearray((first,))
    while True:
        byte = length & 0x7F
        length >>= 7
        if length:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return out


def _packet(first, body):
    return bytes(_fixed_header(first, len(body)) + body)


def connect(client_id, keepalive_s, user=None, password=None, will_topic=None,
            will_payload=b"", will_retain=False):
    """A CONNECT packet (§3.1) with a clean session and an optional QoS 0 last will."""
    flags = 0x02                                   # clean session
    payload = _string(client_id)
    if will_topic is not None:
        flags |= 0x04 | (0x20 if will_retain else 0)
        payload += _string(will_topic) + _string(will_payload)
    if user:
        flags |= 0x80
        payload += _string(user)
        if password:
            flags |= 0x40
            payload += _string(password)
    head = _string("MQTT") + struct.pack("!BBH", 4, flags, keepalive_s)
    return _packet(0x10, head + payload)


def publish(topic, payload, retain=False):
    """A QoS 0 PUBLISH packet (§3.3): no packet identifier."""
    if isinstance(payload, str):
        payload = payload.encode()
    return _packet(0x30 | (1 if retain else 0), _string(topic) + payload)


def subscribe(packet_id, topics):
    """A SUBSCRIBE packet (§3.8) asking QoS 0 for each topic filter."""
    body = struct.pack("!H", packet_id)
    for topic in topics:
        body += _string(topic) + b"\x00"
    return _packet(0x82, body)


class PacketReader:
    """Frames the bytes from the broker into (type, flags, body) packets.

    feed() appends; next_packet() returns one whole packet or None. A
    remaining length that needs more than 4 bytes, or a packet larger than
    max_packet, raises MqttError at once, before its body is buffered."""

    def __init__(self, max_packet=MAX_PACKET):
        self.max_packet = max_packet
        self.buf = b""

    def clear(self):
        self.buf = b""

    def space(self):
        """How many more bytes may be fed before the buffer holds one maximal packet."""
        return max(0, self.max_packet - len(self.buf))

    def feed(self, data):
        self.buf += data

    def next_packet(self):
        buf = self.buf
        if len(buf) < 2:
            return None
        length = 0
        shift = 0
        pos = 1
        while True:
            if pos >= len(buf):
                return None                          # the header is still arriving
            byte = buf[pos]
            length |= (byte & 0x7F) << shift
            pos += 1
            if not byte & 0x80:
                break
            shift += 7
            if pos > 4:
                raise MqttError("malformed remaining length (more than 4 bytes)")
        total = pos + length
        if total > self.max_packet:
            raise MqttError("packet of %d bytes is larger than the %d accepted" % (total, self.max_packet))
        if len(buf) < total:
            return None
        first = buf[0]
        body = buf[pos:total]
        self.buf = buf[total:]
        return first >> 4, first & 0x0F, body


def parse_connack(flags, body):
    """(session_present, return_code) of a CONNACK (§3.2)."""
    if flags != 0 or len(body) != 2 or body[0] & 0xFE:
        raise MqttError("malformed CONNACK")
    return bool(body[0] & 1), body[1]


def parse_publish(flags, body):
    """(topic, payload, retain) of a PUBLISH (§3.3); QoS 1 is read past its identifier.

    The caller subscribed at QoS 0, so the broker never sends more; QoS 3
    (both bits) is malformed (§3.3.1.2)."""
    qos = (flags >> 1) & 3
    if qos == 3:
        raise MqttError("PUBLISH with QoS 3")
    if len(body) < 2:
        raise MqttError("malformed PUBLISH")
    n = (body[0] << 8) | body[1]
    start = 2 + n + (2 if qos else 0)
    if start > len(body):
        raise MqttError("malformed PUBLISH topic")
    try:
        topic = bytes(body[2:2 + n]).decode()
    except UnicodeError:
        raise MqttError("PUBLISH topic is not UTF-8")
    return topic, bytes(body[start:]), bool(flags & 1)


def parse_suback(body):
    """The granted QoS codes of a SUBACK (§3.9); 0x80 means refused."""
    if len(body) < 3:
        raise MqttError("malformed SUBACK")
    return bytes(body[2:])
