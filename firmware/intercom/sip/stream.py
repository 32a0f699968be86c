"""Sans-I/O framing of SIP on TCP/TLS: Content-Length (RFC 3261 §18.3), CRLF keep-alive (RFC 5626 §3.5.1)."""

# The largest message accepted on a stream: the UDP receive size. One
# preallocated buffer of this size holds the unframed bytes; a message that
# does not fit is an error that closes the connection, never more memory.
MAX_MESSAGE = 4096

PING = b"\r\n\r\n"      # RFC 5626 §3.5.1: the client's keep-alive ping
PONG = b"\r\n"          # and the server's answer


class StreamError(Exception):
    """The peer broke stream framing; the connection must be closed (§18.3)."""


class StreamFramer:
    """Bytes in, whole SIP messages out, in a fixed buffer of `cap` bytes.

    The driver reads at most room() bytes and hands them to feed(); then
    next_message() returns each complete message (bytes) in turn, or None.
    Between messages, a double CRLF is a ping (`pings` counts them; the
    driver answers each with PONG) and a single CRLF a pong (`pongs`).
    A header section without Content-Length, a bad one, or a message
    larger than the buffer raises StreamError: on a stream a message
    without a length cannot be delimited (§18.3: "MUST" for streams)."""

    def __init__(self, cap=MAX_MESSAGE):
        self.cap = cap
        self.buf = bytearray(cap)
        self.view = memoryview(self.buf)
        self.used = 0
        self.pings = 0
        self.pongs = 0
        self.want = 0            # bytes of the message being framed (0: header not ended yet)

    def room(self):
        """How many bytes the buffer can take now."""
        return self.cap - self.used

    def feed(self, data):
        """Append received bytes (at most room())."""
        n = len(data)
        if n > self.cap - self.used:
            raise StreamError("more than %d bytes buffered" % self.cap)
        self.view[self.used:self.used + n] = data
        self.used += n

    def reset(self):
        """Forget everything buffered (a new connection)."""
        self.used = 0
        self.want = 0

    def next_message(self):
        """The next whole message (bytes), or None until more bytes come.

        Raises StreamError when the stream cannot be framed any more."""
        self._skip_keepalives()
        if not self.used:
            return None
        if not self.want:
            end = self.buf.find(b"\r\n\r\n", 0, self.used)
            if end < 0:
                if self.used >= self.cap:
                    raise StreamError("header section longer than %d bytes" % self.cap)
                return None
            self.want = end + 4 + _content_length(bytes(self.view[:end]))
            if self.want > self.cap:
                size = self.want
                self.want = 0
                raise StreamError("message of %d bytes exceeds the %d-byte limit" % (size, self.cap))
        if self.used < self.want:
            return None
        size = self.want
        msg = bytes(self.view[:size])
        rest = self.used - size
        if rest:
            self.view[:rest] = bytes(self.view[size:self.used])   # a copy: the ranges overlap
        self.used = rest
        self.want = 0
        return msg

    def _skip_keepalives(self):
        # Only between messages: a CRLF pair inside a message is its own.
        buf = self.buf
        while not self.want and self.used >= 2 and buf[0] == 13 and buf[1] == 10:
            if self.used >= 4 and buf[2] == 13 and buf[3] == 10:
                self.pings += 1
                self._drop(4)
            elif self.used == 3 and buf[2] == 13:
                return           # maybe half a ping: wait for the next byte
            else:
                self.pongs += 1
                self._drop(2)

    def _drop(self, n):
        rest = self.used - n
        if rest:
            self.view[:rest] = bytes(self.view[n:self.used])
        self.used = rest


def _content_length(head):
    """The Content-Length of a header section (bytes), or StreamError."""
    found = None
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        name = name.strip().lower()
        if name == b"content-length" or name == b"l":
            value = value.strip()
            if not value or len(value) > 9 or not _digits(value):
                raise StreamError("bad Content-Length %r" % value[:20])
            length = int(value)
            if found is not None and found != length:
                raise StreamError("conflicting Content-Length values")
            found = length
    if found is None:
        raise StreamError("message without Content-Length on a stream (RFC 3261 §18.3)")
    return found


def _digits(value):
    for c in value:
        if c < 48 or c > 57:
            return False
    return True
