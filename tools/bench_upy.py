"""`make bench` workloads (RFC 3261 parse, §17.2.1 INVITE -> 180, RFC 3550 media frame, pystone), any runtime.

Run under the MicroPython unix port by tools/bench.py, it prints one
`RESULT name microseconds` line per figure (`ERROR name why` when one
fails); imported under CPython, the same functions time our side there.
Arguments: `quick` (tiny iteration counts, for host_tests/test_bench.py).
"""

import gc
import sys

from intercom.sip.message import parse
from intercom.sip.validate import check_request, check_response
from intercom.sip.auth import parse_challenge
from intercom.sip.sdp import parse_sdp
from intercom.sip.uri import parse_name_addr

try:
    from time import ticks_diff, ticks_us
except ImportError:   # CPython: the same methodology on perf_counter
    from time import perf_counter

    def ticks_us():
        return perf_counter() * 1e6

    def ticks_diff(a, b):
        return a - b

SDP = (
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.10\r\n"
    b"t=0 0\r\n"
    b"m=audio 49170 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)


def _msg(head, body=b""):
    return head.replace(b"\n", b"\r\n") + b"Content-Length: %d\r\n\r\n" % len(body) + body


INVITE = _msg(
    b"INVITE sip:door@192.0.2.20:5060 SIP/2.0\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\n"
    b"Max-Forwards: 70\n"
    b'From: "Alice" <sip:alice@example.com>;tag=1928301774\n'
    b"To: <sip:door@example.com>\n"
    b"Call-ID: a84b4c76e66710@192.0.2.10\n"
    b"CSeq: 314159 INVITE\n"
    b"Contact: <sip:alice@192.0.2.10:5060;transport=udp>\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY\n"
    b"Supported: replaces, timer\n"
    b"User-Agent: Softphone 3.2.1\n"
    b"Content-Type: application/sdp\n",
    SDP,
)

OK200 = _msg(
    b"SIP/2.0 200 OK\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport=5060;received=192.0.2.10\n"
    b"Record-Route: <sip:192.0.2.1;lr;ftag=1928301774>\n"
    b"Record-Route: <sip:198.51.100.1;lr>\n"
    b'From: "Alice" <sip:alice@example.com>;tag=1928301774\n'
    b"To: <sip:door@example.com>;tag=a6c85cf\n"
    b"Call-ID: a84b4c76e66710@192.0.2.10\n"
    b"CSeq: 314159 INVITE\n"
    b"Contact: <sip:door@192.0.2.20:5060>\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\n"
    b"Supported: replaces\n"
    b"Server: Intercom/1.0\n"
    b"Content-Type: application/sdp\n",
    SDP.replace(b"alice", b"door").replace(b"192.0.2.10", b"192.0.2.20"),
)

REGISTER = _msg(
    b"REGISTER sip:example.com SIP/2.0\n"
    b"Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKnashds7;rport\n"
    b"Max-Forwards: 70\n"
    b"From: <sip:door@example.com>;tag=456248\n"
    b"To: <sip:door@example.com>\n"
    b"Call-ID: 843817637684230@192.0.2.20\n"
    b"CSeq: 1827 REGISTER\n"
    b"Contact: <sip:door@192.0.2.20:5060>;expires=3600\n"
    b'Authorization: Digest username="door", realm="example.com", nonce="ea9c8e88df84f1cec4341ae6cbe5a359",'
    b' uri="sip:example.com", response="dfe56131d1958046689d83306477ecc", algorithm=MD5,'
    b' cnonce="0a4f113b", qop=auth, nc=00000001\n'
    b"Expires: 3600\n"
    b"User-Agent: Intercom/1.0\n",
)

MESSAGES = (("invite", INVITE), ("ok200", OK200), ("register", REGISTER))

# Headers whose value has a structure, and the parser this project's UA uses
# for it; every other header is read through get_all (split on commas for
# list headers). Like pyVoIP's SIPMessage, which parses every header and the
# SDP body in its constructor, the full parse leaves nothing unparsed.
_NAME_ADDR = ("record-route", "route")
_AUTH = ("authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate")
_NUMBERS = ("content-length", "max-forwards", "expires")


def ours_full(data):
    """Full parse: start line, every header (structured ones into their
    values), the UA's receive checks, and the SDP body. Returns the message."""
    msg = parse(data)
    if msg.is_request:
        check_request(msg)
    else:
        check_response(msg)
    _ = msg.vias, msg.from_, msg.to, msg.cseq, msg.call_id, msg.contacts
    seen = []
    for h in msg.headers:
        key = h[0]
        if key in seen:
            continue
        seen.append(key)
        if key in _NAME_ADDR:
            for v in msg.get_all(key):
                parse_name_addr(v)
        elif key in _AUTH:
            for v in msg.get_all(key):
                parse_challenge(v)
        elif key in _NUMBERS:
            int(msg.get(key))
        else:
            msg.get_all(key)
    if msg.body:
        parse_sdp(msg.body)
    return msg


def accepts(fn, data):
    try:
        fn(data)
        return True
    except Exception:
        return False


# --- INVITE receive -> 180 Ringing (RFC 3261 §17.2.1, §13.3.1.1) ------------------

PEER = ("192.0.2.10", 5060)


def _invite_ua():
    from intercom import config
    from intercom.sip.ua import UserAgent
    cfg = config.defaults()
    cfg["sip"].update({"registrar": PEER[0], "port": PEER[1], "user": "door", "password": "s3cret",
                       "local_port": 5060})
    return UserAgent(cfg, "192.0.2.20", PEER, lambda n: "%0*x" % (n, 7), None, 0)


def invite_response_us(runs=20):
    """Best microseconds from UserAgent.receive(INVITE) to the 180 Ringing in
    its outbox (the 100 Trying popped on the way), each run on a fresh UA
    (built outside the timed part) so every INVITE is a new call."""
    best = None
    for _ in range(runs):
        ua = _invite_ua()
        gc.collect()
        t0 = ticks_us()
        ua.receive(INVITE, PEER, 10)
        ringing = False
        while True:
            item = ua.pop_datagram()
            if item is None:
                break
            if item[0].startswith(b"SIP/2.0 180 "):
                ringing = True
                break
        us = ticks_diff(ticks_us(), t0)
        if not ringing:
            raise ValueError("no 180 Ringing after the INVITE")
        best = us if best is None or us < best else best
    return best


# --- the 20 ms media path (RFC 3550 RTP, G.711, jitter buffer) ---------------------


def media_frame_us(frames=500, repeats=3):
    """Microseconds per 20 ms frame per phone, unpaced: two MediaSessions in
    PCMU talk to each other; a frame is next_packet (encode + RTP out), the
    peer's receive (RTP in + jitter put) and play (jitter get + decode), both
    ways, halved. bytes(packet) stands for the datagram the socket would
    return (the one allocation of the real path)."""
    from intercom.media.session import MediaSession
    a_addr, b_addr = ("192.0.2.10", 40000), ("192.0.2.20", 40002)
    a = MediaSession(lambda n: b"\x11\x22\x33\x44\x55\x66\x77\x88"[:n])
    b = MediaSession(lambda n: b"\x99\xaa\xbb\xcc\xdd\xee\xff\x10"[:n])
    a.start("bench", b_addr[0], b_addr[1], 0, 101, True, True)
    b.start("bench", a_addr[0], a_addr[1], 0, 101, True, True)
    mic = bytearray(320)
    for i in range(160):
        v = ((i * 409) % 40000 - 20000) & 0xFFFF
        mic[2 * i] = v & 0xFF
        mic[2 * i + 1] = v >> 8
    spk = bytearray(320)
    now = [0]

    def run(n):
        t = now[0]
        for _ in range(n):
            t = (t + 20) & 0x3FFFFFFF
            pa = a.next_packet(mic)
            pb = b.next_packet(mic)
            b.receive(bytes(pa), a_addr, t)
            a.receive(bytes(pb), b_addr, t)
            a.play(spk)
            b.play(spk)
        now[0] = t

    run(50)                      # the jitter buffer fills and settles
    best = None
    for _ in range(repeats):
        gc.collect()
        t0 = ticks_us()
        run(frames)
        per = ticks_diff(ticks_us(), t0) / (2 * frames)
        best = per if best is None or per < best else best
    if a.receiver is None or b.jitter is None:
        raise ValueError("media sessions did not start")
    return best


# --- pystone (Python/1.2, R. Weicker's Dhrystone as translated by G. van Rossum) ---
# A faithful transcription of the loop that micropython-lib's pystone_lowmem
# runs, so that pystones/s here and on a published ESP32 run compare.

# Module globals, as in the original (a dict would time subscripts, not global loads).
_int_glob = 0
_bool_glob = False
_char1_glob = "\0"
_char2_glob = "\0"
_ptr_glb = None


class _Record:
    def __init__(self, ptr=None, discr=0, enum=0, intc=0, string=0):
        self.ptr = ptr
        self.discr = discr
        self.enum = enum
        self.intc = intc
        self.string = string

    def copy(self):
        return _Record(self.ptr, self.discr, self.enum, self.intc, self.string)


def _proc1(par):
    par.ptr = nxt = _ptr_glb.copy()
    par.intc = 5
    nxt.intc = par.intc
    nxt.ptr = par.ptr
    nxt.ptr = _proc3(nxt.ptr)
    if nxt.discr == 1:
        nxt.intc = 6
        nxt.enum = _proc6(par.enum)
        nxt.ptr = _ptr_glb.ptr
        nxt.intc = _proc7(nxt.intc, 10)
    else:
        par = nxt.copy()
    nxt.ptr = None
    return par


def _proc2(io):
    loc = io + 10
    enum = 0
    while True:
        if _char1_glob == "A":
            loc = loc - 1
            io = loc - _int_glob
            enum = 1
        if enum == 1:
            break
    return io


def _proc3(out):
    global _int_glob
    if _ptr_glb is not None:
        out = _ptr_glb.ptr
    else:
        _int_glob = 100
    _ptr_glb.intc = _proc7(10, _int_glob)
    return out


def _proc4():
    global _char2_glob
    loc = _char1_glob == "A"
    loc = loc or _bool_glob
    _char2_glob = "B"


def _proc5():
    global _char1_glob, _bool_glob
    _char1_glob = "A"
    _bool_glob = False


def _proc6(par):
    out = par
    if not _func3(par):
        out = 4
    if par == 1:
        out = 1
    elif par == 2:
        out = 1 if _int_glob > 100 else 4
    elif par == 3:
        out = 2
    elif par == 5:
        out = 3
    return out


def _proc7(i1, i2):
    loc = i1 + 2
    return i2 + loc


def _proc8(a1, a2, i1, i2):
    global _int_glob
    loc = i1 + 5
    a1[loc] = i2
    a1[loc + 1] = a1[loc]
    a1[loc + 30] = loc
    for i in range(loc, loc + 2):
        a2[loc][i] = loc
    a2[loc][loc - 1] = a2[loc][loc - 1] + 1
    a2[loc + 20][loc] = a1[loc]
    _int_glob = 5


def _func1(c1, c2):
    loc1 = c1
    loc2 = loc1
    if loc2 != c2:
        return 1
    return 2


def _func2(s1, s2):
    loc = 1
    char = "A"
    while loc <= 1:
        if _func1(s1[loc], s2[loc + 1]) == 1:
            char = "A"
            loc = loc + 1
    if "W" <= char <= "Z":
        loc = 7
    if char == "X":
        return True
    if s1 > s2:
        return True
    return False


def _func3(par):
    loc = par
    if loc == 3:
        return True
    return False


def pystones_per_s(loops=2000):
    """Pystone 1.2 loops per second on this interpreter."""
    global _int_glob, _bool_glob, _char1_glob, _char2_glob, _ptr_glb
    _int_glob, _bool_glob, _char1_glob, _char2_glob = 0, False, "\0", "\0"
    a1 = [0] * 51
    a2 = [a1[:] for _ in range(51)]
    _ptr_glb = _Record(_Record(), 1, 3, 40, "DHRYSTONE PROGRAM, SOME STRING")
    s1 = "DHRYSTONE PROGRAM, 1'ST STRING"
    a2[8][7] = 10
    gc.collect()
    t0 = ticks_us()
    for _ in range(loops):
        pass
    null_us = ticks_diff(ticks_us(), t0)     # the bare loop, taken off as the original does
    t0 = ticks_us()
    for _ in range(loops):
        _proc5()
        _proc4()
        i1 = 2
        i2 = 3
        s2 = "DHRYSTONE PROGRAM, 2'ND STRING"
        enum = 2
        _bool_glob = not _func2(s1, s2)
        while i1 < i2:
            i3 = 5 * i1 - i2
            i3 = _proc7(i1, i2)
            i1 = i1 + 1
        _proc8(a1, a2, i1, i3)
        _ptr_glb = _proc1(_ptr_glb)
        ch = "A"
        while ch <= _char2_glob:
            if enum == _func1(ch, "C"):
                enum = _proc6(1)
            ch = chr(ord(ch) + 1)
        i3 = i2 * i1
        i2 = i3 // i1
        i2 = 7 * (i3 - i2) - i1
        i1 = _proc2(i1)
    us = ticks_diff(ticks_us(), t0) - null_us
    return loops * 1e6 / us if us > 0 else 0.0


def best_us(fn, data, repeats=5, budget_us=50000):
    """Best of `repeats` runs of K calls (K sized to ~budget_us); min microseconds per call."""
    for _ in range(3):
        fn(data)
    t0 = ticks_us()
    for _ in range(10):
        fn(data)
    k = max(10, int(budget_us * 10 / max(1, ticks_diff(ticks_us(), t0))))
    best = None
    for _ in range(repeats):
        gc.collect()
        t0 = ticks_us()
        for _ in range(k):
            fn(data)
        per = ticks_diff(ticks_us(), t0) / k
        best = per if best is None or per < best else best
    return best




def figures(quick=False):
    """(name, function) of every figure, with iteration counts (tiny when quick)."""
    figs = []
    budget = 2000 if quick else 50000
    for name, data in MESSAGES:
        figs.append(("parse_" + name, lambda d=data: best_us(ours_full, d, 2 if quick else 5, budget)))
    figs.append(("invite_rx", lambda: invite_response_us(2 if quick else 20)))
    figs.append(("media", lambda: media_frame_us(20 if quick else 500, 1 if quick else 3)))
    # best of 3 pystone runs: the least disturbed by other processes
    figs.append(("pystone", lambda: max(pystones_per_s(50 if quick else 5000) for _ in range(3))))
    return figs


def main(args):
    for name, fn in figures("quick" in args):
        try:
            print("RESULT %s %.3f" % (name, fn()))
        except Exception as err:
            print("ERROR %s %s: %s" % (name, type(err).__name__, err))


if __name__ == "__main__":
    main(sys.argv[1:])
