"""Under the MicroPython unix port: an established call's per-frame loop runs under heap_lock.

Two complete phones (UserAgent + App + Driver + HostAudio, real UDP sockets on
127.0.0.1) set up a call, warm up, then run N frames of Driver.step() each with
micropython.heap_lock() held. Only the datagram read is let through: the socket
wrapper unlocks the heap around recv(), the one allocation the design allows.
Arguments: frames, base port, and the door's and the flat's media.ptime
(default 20 20). Other packetizations (RFC 3551 §4.5), e.g. `300 47200 30 40`:
the door's a=ptime asks for 30 ms, the flat's for 40 ms, so the door sends
40 ms packets (every second frame) and receives 30 ms ones, the flat the reverse.
A fifth argument `G722` makes it a wideband call: both phones list G.722
first, the microphone WAV is 16 kHz, and the call must have negotiated it.
Prints `N passed, N failed` like the core runner, and allocation figures."""

import sys

from _locked import (host_phone, phone_config, write_tone, start_phones, settle, lock_frames,
                     allocation_failure, hang_up, close_phones)

FRAMES = int(sys.argv[1]) if len(sys.argv) > 1 else 500
BASE = int(sys.argv[2]) if len(sys.argv) > 2 else 47000
PTIME_A = int(sys.argv[3]) if len(sys.argv) > 3 else 20
PTIME_B = int(sys.argv[4]) if len(sys.argv) > 4 else 20
# 5th argument: features of both phones, comma separated: an media.srtp mode
# (off, optional, mandatory; SDES over UDP) and/or G722 (a wideband call)
FEATURES = sys.argv[5].split(",") if len(sys.argv) > 5 else []
SRTP = "off"
for _word in FEATURES:
    if _word in ("off", "optional", "mandatory"):
        SRTP = _word
WIDEBAND = "G722" in FEATURES


def phone(user, sip_port, rtp_port, mic_path, ptime=20):
    cfg = phone_config(user, sip_port, rtp_port, ["G722", "PCMU"] if WIDEBAND else None)
    cfg["media"]["ptime"] = ptime
    cfg["media"].update({"srtp": SRTP, "srtp_over_udp": True})
    return host_phone(cfg, mic_path)


def main():
    write_tone("/tmp/heaplock_tone.wav", 16000 if WIDEBAND else 8000)
    failures = run(PTIME_A, PTIME_B, BASE, FRAMES)
    print("%d passed, %d failed" % (1 - failures, failures))
    return failures


def run(ptime_a, ptime_b, base, frames_wanted):
    """One call with these a=ptime values; 1 if it failed, else 0."""
    print("door a=ptime:%d, flat a=ptime:%d" % (ptime_a, ptime_b))
    ua_a, app_a, board_a, drv_a = phone("door", base, base + 10, "/tmp/heaplock_tone.wav", ptime_a)
    ua_b, app_b, board_b, drv_b = phone("flat", base + 2, base + 20, "/tmp/heaplock_tone.wav", ptime_b)
    start_phones(drv_a, drv_b)
    ua_a.dial("sip:flat@127.0.0.1:%d" % (base + 2))
    settle(drv_a, drv_b)
    connected = [e for e in board_b.events if e.get("state") == "connected"]
    failures = 0
    if not connected:
        print("FAILED setup: no connected call", board_a.events, board_b.events)
        return 1
    result = lock_frames(drv_a, drv_b, frames_wanted)
    grown = result["grown"]
    datagrams = result["datagrams"]
    frames = result["frames_b"]
    stats = app_b.audio.session.jitter.stats()
    print("frames A=%d B=%d under heap_lock, datagrams received %d, heap grown %d bytes"
          " (%d per datagram), jitter received=%d lost=%d" % (
              result["frames_a"], frames, datagrams, grown,
              grown // datagrams if datagrams else -1, stats["received"], stats["lost"]))
    door = app_a.audio.session.jitter
    print("door sends %d ms, receives: jitter received=%d lost=%d concealed=%d underruns=%d depth=%d ms" % (
        app_a.audio.session.ptime, door.received, door.lost, door.concealed, door.underruns, door.depth_ms))
    failures += allocation_failure(result)
    # the flat receives the door's packets: one per ptime_b ms (the door sends the flat's a=ptime)
    if frames < frames_wanted or stats["received"] < frames_wanted * 20 // ptime_b - 5:
        failures += 1
        print("FAILED: audio did not flow under the lock")
    for name, app in (("door", app_a), ("flat", app_b)):
        session = app.audio.session
        codec = "G722" if WIDEBAND else "PCMU"
        if session.codec.name != codec or session.wideband != WIDEBAND or app.audio.wide != WIDEBAND:
            failures += 1
            print("FAILED: the %s's call runs %s (wideband %r), not %s" % (
                name, session.codec.name, session.wideband, codec))
    for name, app, ptime in (("door", app_a, ptime_b), ("flat", app_b, ptime_a)):
        session = app.audio.session
        if session.ptime != ptime:
            failures += 1
            print("FAILED: the %s sends %d ms packets, not the peer's a=ptime:%d" % (name, session.ptime, ptime))
    # the locked frames ran the kernel-filtered path: each RTP socket connected
    # to the peer's SDP address, the source the session settled on
    for name, drv in (("A", drv_a), ("B", drv_b)):
        session = drv.app.audio.session
        if drv.rtp_peer is None or drv.rtp_peer != session.sdp_dest or session.nat:
            failures += 1
            print("FAILED: %s's RTP socket is not connected to the SDP address: %r, session %r"
                  % (name, drv.rtp_peer, session.sdp_dest))
    if SRTP != "off":
        # the locked frames were SRTP both ways, and nothing was dropped
        for name, app in (("door", app_a), ("flat", app_b)):
            session = app.audio.session
            if not session.srtp_on or session.srtp.auth_failed or session.srtp.replayed:
                failures += 1
                print("FAILED: the %s's stream is not clean SRTP: on=%r %r" % (
                    name, session.srtp_on, session.srtp and session.srtp.stats()))
        print("SRTP both ways: %s" % app_a.audio.session.srtp_keys)
    hang_up(drv_a, drv_b)
    close_phones(drv_a, drv_b)
    return min(failures, 1)


if __name__ == "__main__":
    sys.exit(1 if main() else 0)
