"""Under the MicroPython unix port: a call's per-frame loop under heap_lock with a TCP SIP connection open.

The door keeps an open SIP-over-TCP connection (intercom.stream_conn, as with
`sip.transport: "tcp"`, RFC 3261 §18) to a listener in this process while two
phones (real UDP RTP on 127.0.0.1) are in a call. Driver.step() then also asks
the connection table for deadlines, ticks it and polls its socket each pass:
N frames run with micropython.heap_lock() held, so any allocation by that
machinery fails the proof. Only the RTP datagram read is let through.
Arguments: frames, base port. Prints `N passed, N failed`."""

import sys
import time

from _locked import (host_phone, phone_config, write_tone, start_phones, settle, lock_frames,
                     allocation_failure, hang_up, TcpPeer)
from intercom.sip.transport import set_transport
from intercom.stream_conn import StreamTransport

FRAMES = int(sys.argv[1]) if len(sys.argv) > 1 else 300
BASE = int(sys.argv[2]) if len(sys.argv) > 2 else 47300

OPTIONS = (b"OPTIONS sip:proxy@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5062;branch=z9hG4bKhl1\r\n"
           b"From: <sip:door@127.0.0.1>;tag=1\r\nTo: <sip:proxy@127.0.0.1>\r\nCall-ID: hl1\r\n"
           b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")


def main():
    write_tone("/tmp/heaplock_tone.wav")
    listener = TcpPeer(BASE + 30)        # the proxy
    ua_a, app_a, board_a, drv_a = host_phone(phone_config("door", BASE, BASE + 10), "/tmp/heaplock_tone.wav")
    ua_b, app_b, board_b, drv_b = host_phone(phone_config("flat", BASE + 2, BASE + 20), "/tmp/heaplock_tone.wav")
    start_phones(drv_a, drv_b)
    proxy = ("127.0.0.1", BASE + 30)
    set_transport(ua_a, proxy, "tcp")
    drv_a.streams = StreamTransport(drv_a)        # as Driver.flush does on first use
    drv_a.streams.send(OPTIONS, proxy, time.ticks_ms())
    ua_a.dial("sip:flat@127.0.0.1:%d" % (BASE + 2))
    settle(drv_a, drv_b, serve=listener.serve, least_ms=4000, most_ms=4000)
    got = listener.got
    conn = drv_a.streams.conns[proxy]
    failures = 0
    if conn.state != "open" or not got.startswith(b"OPTIONS"):
        print("FAILED setup: connection %s, proxy received %r" % (conn.state, got[:40]))
        return 1
    if not [e for e in board_b.events if e.get("state") == "connected"]:
        print("FAILED setup: no connected call")
        return 1
    result = lock_frames(drv_a, drv_b, FRAMES)
    print("frames B=%d under heap_lock with a TCP connection open (state %s), datagrams %d, heap grown %d bytes"
          % (result["frames_b"], conn.state, result["datagrams"], result["grown"]))
    failures += allocation_failure(result)
    if conn.state != "open":
        failures += 1
        print("FAILED: the TCP connection did not stay open")
    hang_up(drv_a, drv_b)
    listener.close()
    print("%d passed, %d failed" % (1 - failures, failures))
    return failures


if __name__ == "__main__":
    sys.exit(1 if main() else 0)
