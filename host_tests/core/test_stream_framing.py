"""Stream framing of SIP over TCP/TLS: Content-Length, CRLF keep-alive, bounds (RFC 3261 §18.3, RFC 5626 §3.5.1)."""

from intercom.sip.stream import StreamFramer, StreamError

MSG = (b"OPTIONS sip:a@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.2;branch=z9hG4bK1\r\n"
       b"Content-Length: 5\r\n\r\nhello")


def raises(fn, *args):
    try:
        fn(*args)
    except StreamError as err:
        return str(err)
    raise AssertionError("no StreamError")


def all_messages(f):
    out = []
    while True:
        m = f.next_message()
        if m is None:
            return out
        out.append(m)


def test_rfc3261_18_3_content_length_delimits_messages_in_one_read():
    f = StreamFramer()
    f.feed(MSG + MSG.replace(b"hello", b"world"))
    assert all_messages(f) == [MSG, MSG.replace(b"hello", b"world")]
    assert f.used == 0


def test_rfc3261_18_3_message_split_across_reads_byte_by_byte():
    f = StreamFramer()
    got = []
    for i in range(len(MSG)):
        f.feed(MSG[i:i + 1])
        got.extend(all_messages(f))
    assert got == [MSG]


def test_rfc3261_7_3_3_compact_content_length():
    f = StreamFramer()
    msg = MSG.replace(b"Content-Length: 5", b"l:5")
    f.feed(msg)
    assert all_messages(f) == [msg]


def test_rfc3261_18_3_missing_content_length_on_a_stream_is_an_error():
    f = StreamFramer()
    f.feed(MSG.replace(b"Content-Length: 5\r\n", b""))
    assert "Content-Length" in raises(f.next_message)


def test_rfc3261_18_3_bad_or_conflicting_content_length_is_an_error():
    f = StreamFramer()
    f.feed(MSG.replace(b"Content-Length: 5", b"Content-Length: -5"))
    assert "Content-Length" in raises(f.next_message)
    f = StreamFramer()
    f.feed(MSG.replace(b"Content-Length: 5", b"Content-Length: 5\r\nl: 6"))
    assert "conflicting" in raises(f.next_message)


def test_stream_message_over_the_cap_is_an_error_not_more_memory():
    f = StreamFramer(1024)
    f.feed(MSG.replace(b"Content-Length: 5", b"Content-Length: 100000"))
    assert "exceeds" in raises(f.next_message)
    f = StreamFramer(256)
    f.feed(b"INVITE sip:x SIP/2.0\r\n" + b"X: " + b"a" * 220)
    while f.room():
        f.feed(b"a" * min(10, f.room()))
    assert "header section longer" in raises(f.next_message)
    assert "more than" in raises(f.feed, b"a")


def test_stream_buffer_is_preallocated_and_fixed():
    f = StreamFramer()
    buf = f.buf
    for _ in range(20):
        f.feed(MSG)
        all_messages(f)
    assert f.buf is buf and len(buf) == 4096


def test_rfc5626_3_5_1_double_crlf_ping_and_single_crlf_pong_between_messages():
    f = StreamFramer()
    f.feed(b"\r\n\r\n" + MSG + b"\r\n")
    assert all_messages(f) == [MSG]
    assert f.pings == 1 and f.pongs == 1 and f.used == 0


def test_rfc5626_3_5_1_crlf_inside_a_body_is_not_a_keepalive():
    body = b"\r\n\r\n\r\n"
    msg = MSG.replace(b"Content-Length: 5\r\n\r\nhello", b"Content-Length: 6\r\n\r\n" + body)
    f = StreamFramer()
    f.feed(msg)
    assert all_messages(f) == [msg] and f.pings == 0 and f.pongs == 0


def test_rfc5626_3_5_1_half_a_ping_waits_for_the_rest():
    f = StreamFramer()
    f.feed(b"\r\n\r")
    assert f.next_message() is None and f.pings == 0
    f.feed(b"\n")
    assert f.next_message() is None and f.pings == 1
