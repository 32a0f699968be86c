"""SIP flood generator of the impolite-peer suite: OPTIONS, INVITEs and garbage
at one UDP port on 127.0.0.1, as fast as the loopback takes them.

    python flood.py --port 5062 [--user door] [--count 2000] [--sources 8]
                    [--listen 3] [--limit 60] [--queue BYTES]

Sends `count` OPTIONS, `count` INVITEs and `count` garbage datagrams,
interleaved, round-robin from `sources` sockets bound to 127.0.0.1 (each its
own source port), every datagram unique (branch, Call-ID, tags, bytes).
With --queue, "as fast as the loopback takes them" means as fast as the
target's socket takes them: sending pauses while the target's receive
queue (Linux /proc/net/udp) holds more than BYTES, so the datagrams reach
the target instead of being dropped by the kernel. It
reads the target's answers while sending and for `listen` seconds after the
last datagram, then prints one JSON line: what was sent, the answers by
what they answer (OPTIONS, INVITE or garbage, told by the Call-ID we sent)
and status (datagrams, and distinct transactions answered), the
send duration. Binds and sends only to 127.0.0.1; resolves no names; ends
after `limit` seconds whatever happens.
"""

import argparse
import json
import os
import select
import socket
import sys
import threading
import time

HOST = "127.0.0.1"


def options(i, lport, port, user):
    tag = "%08x" % i
    return (
        "OPTIONS sip:%s@%s:%d SIP/2.0\r\n"
        "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bKfo%s%s;rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:scanner@%s>;tag=fo%s\r\n"
        "To: <sip:%s@%s:%d>\r\n"
        "Call-ID: flood-options-%s-%s\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Accept: application/sdp\r\n"
        "Content-Length: 0\r\n\r\n"
    ) % (user, HOST, port, HOST, lport, tag, os.urandom(4).hex(), HOST, tag, user, HOST, port,
         tag, os.urandom(4).hex())


def invite(i, lport, port, user):
    tag = "%08x" % i
    sdp = ("v=0\r\no=scan %d 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
           "m=audio %d RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n") % (
               i, HOST, HOST, 20000 + 2 * (i % 10000))
    return (
        "INVITE sip:%s@%s:%d SIP/2.0\r\n"
        "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bKfi%s%s;rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: \"scan\" <sip:%d@%s>;tag=fi%s\r\n"
        "To: <sip:%s@%s:%d>\r\n"
        "Call-ID: flood-invite-%s-%s\r\n"
        "CSeq: 1 INVITE\r\n"
        "Contact: <sip:%d@%s:%d>\r\n"
        "Content-Type: application/sdp\r\n"
        "Content-Length: %d\r\n\r\n%s"
    ) % (user, HOST, port, HOST, lport, tag, os.urandom(4).hex(), 100 + i, HOST, tag, user,
         HOST, port, tag, os.urandom(4).hex(), 100 + i, HOST, lport, len(sdp), sdp)


def garbage(i, lport, port, user):
    """Unique junk, three kinds in turn: random bytes; a SIP request line with
    random header names and values (a parser's learned tables must stay
    bounded); a truncated INVITE."""
    kind = i % 3
    if kind == 0:
        return os.urandom(40 + (i * 37) % 560)
    if kind == 1:
        lines = ["INVITE sip:%s@%s:%d SIP/2.0" % (user, HOST, port)]
        for k in range(3 + i % 6):
            lines.append("X-%s-%d: %s" % (os.urandom(3).hex(), k, os.urandom(6).hex()))
        lines.append("Call-ID: flood-garbage-%08x" % i)
        return ("\r\n".join(lines) + "\r\n\r\n").encode()
    text = invite(i, lport, port, user).replace("flood-invite-", "flood-garbage-").encode()
    return text[:60 + (i * 13) % (len(text) - 60)]


def rx_queue(port):
    """Bytes waiting in the receive queue of the UDP socket bound to
    127.0.0.1:port (Linux /proc/net/udp), or None if not found."""
    try:
        with open("/proc/net/udp") as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        return None
    want = "0100007F:%04X" % port
    for row in rows:
        cols = row.split()
        if len(cols) > 4 and cols[1] == want:
            return int(cols[4].split(":")[1], 16)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", default="door")
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--sources", type=int, default=8)
    ap.add_argument("--listen", type=float, default=3.0)
    ap.add_argument("--limit", type=float, default=60.0)
    ap.add_argument("--queue", type=int, default=0,
                    help="pause while the target's receive queue holds more than this (0: never)")
    args = ap.parse_args()
    hard_deadline = time.monotonic() + args.limit

    socks = []
    for _ in range(args.sources):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        except OSError:
            pass
        s.bind((HOST, 0))
        socks.append(s)
    dest = (HOST, args.port)

    answers = {}        # "METHOD STATUS" -> datagrams
    answered = {}       # "METHOD STATUS" -> distinct Call-IDs (transactions)
    seen = set()
    lock = threading.Lock()
    stop = threading.Event()
    other = [0]

    def reader():
        while not stop.is_set() and time.monotonic() < hard_deadline:
            ready, _, _ = select.select(socks, [], [], 0.1)
            for s in ready:
                while True:
                    try:
                        data = s.recv(65535, socket.MSG_DONTWAIT)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    text = data.decode("utf-8", "replace")
                    first = text.split("\r\n", 1)[0]
                    callid = ""
                    for line in text.split("\r\n")[1:]:
                        low = line.lower()
                        if low.startswith("call-id:") or low.startswith("i:"):
                            callid = line.split(":", 1)[1].strip()
                    if not first.startswith("SIP/2.0 "):
                        with lock:
                            other[0] += 1
                        continue
                    # what was answered, by the Call-ID we sent (a truncated
                    # INVITE is garbage, whatever its CSeq says)
                    kind = "?"
                    for prefix, name in (("flood-options-", "OPTIONS"),
                                         ("flood-invite-", "INVITE"),
                                         ("flood-garbage-", "garbage")):
                        if callid.startswith(prefix):
                            kind = name
                    key = "%s %s" % (kind, first.split(" ")[1])
                    with lock:
                        answers[key] = answers.get(key, 0) + 1
                        if (key, callid) not in seen:
                            seen.add((key, callid))
                            answered[key] = answered.get(key, 0) + 1

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    sent = {"OPTIONS": 0, "INVITE": 0, "garbage": 0}
    errors = 0
    t0 = time.monotonic()
    n = len(socks)
    waits = 0
    for i in range(args.count):
        if time.monotonic() > hard_deadline:
            break
        if args.queue and i % 4 == 0:
            while time.monotonic() < hard_deadline and (rx_queue(args.port) or 0) > args.queue:
                waits += 1
                time.sleep(0.0005)
        for k, (kind, make) in enumerate((("OPTIONS", options), ("INVITE", invite),
                                           ("garbage", garbage))):
            s = socks[(3 * i + k) % n]      # round-robin over the source ports
            data = make(i, s.getsockname()[1], args.port, args.user)
            if isinstance(data, str):
                data = data.encode()
            try:
                s.sendto(data, dest)
                sent[kind] += 1
            except OSError:
                errors += 1
    t_sent = time.monotonic()
    time.sleep(max(0.0, min(args.listen, hard_deadline - time.monotonic())))
    stop.set()
    t.join(1.0)
    with lock:
        out = {"sent": sent, "send_errors": errors, "send_seconds": round(t_sent - t0, 3),
               "queue_waits": waits,
               "answers": dict(answers), "answered": dict(answered),
               "non_sip_replies": other[0], "sources": [s.getsockname()[1] for s in socks]}
    for s in socks:
        s.close()
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
