"""Per-call payload numbers against a real peer (issue 10 items 1-2; RFC 3264 §6, §6.1; RFC 4733).

SIPp calls tools/sim (auto-answer, door PIN 1234) the way pjsua and a video
phone do: a video line, then audio with telephone-event on 120. The scenario
checks the answer line for line (video refused with port 0, audio taken
with 0 and 120, no renumbered 101); the test then keys `1234#` as RFC 4733
events on 120 from the audio line's port and waits for the relay to open.
It also checks the door's own RTP comes to that port with PT 0. Both
runtimes; every wait bounded; every process stopped by its PID.
"""

import re
import socket
import struct
import time

import pytest

from ._rig import HOST, RUNTIMES, require_binary
from peers import Sim

DIGITS = "0123456789*#"


def _answered_event_pt(message_file, timeout):
    """The telephone-event number in the 200's SDP, from SIPp's message log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(message_file, errors="replace") as f:
                text = f.read()
        except OSError:
            text = ""
        found = re.search(r"SIP/2.0 200.*?a=rtpmap:(\d+) telephone-event/8000", text, re.S)
        if found:
            return int(found.group(1))
        time.sleep(0.05)
    raise AssertionError("no 200 with telephone-event in " + message_file)


def _event_packets(digits, ssrc, seq, ts, pt):
    """RFC 4733 packets for each digit on pt: start (marker), two updates,
    then the end packet three times (§2.5.1.4), one digit per 200 ms."""
    out = []
    for ch in digits:
        event = DIGITS.index(ch)
        for i, (end, duration) in enumerate(((0, 160), (0, 320), (0, 480), (1, 800), (1, 800), (1, 800))):
            head = struct.pack("!BBHII", 0x80, (0x80 if i == 0 else 0) | pt, seq & 0xFFFF, ts, ssrc)
            out.append(head + struct.pack("!BBH", event, (0x80 if end else 0) | 10, duration))
            seq += 1
        ts += 1600
    return out, seq, ts


def _audio_packet(seq, ts, ssrc):
    return struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts, ssrc) + b"\xff" * 160


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_telephone_event_120_digits_open_the_door_and_the_answer_mirrors_video_plus_audio(rig, runtime):
    require_binary("sipp", "sip-tester")
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind((HOST, rig.port(2, even=True)))
    rtp.settimeout(0.05)
    try:
        rtp_port = rtp.getsockname()[1]
        sip_port, door_rtp = rig.port(), rig.port(2, even=True)
        cfg = {"board": "host",
               "sip": {"registrar": "", "user": "door", "local_port": sip_port},
               "media": {"rtp_port": door_rtp},
               "calls": {"targets": [], "auto_answer": True, "accept_from": "any", "ring_timeout": 30},
               "door": {"pin": "1234"}}
        door = Sim(cfg, runtime=runtime, workdir=str(rig.tmp / "sim-door"))
        door.pcap, door.sip_port, door.rtp_port, door.user = None, sip_port, door_rtp, "door"
        rig.sims.append(door)
        door.start()
        door.wait_event("ready", 30)
        sipp = rig.sipp("interop_uac_video_audio_te120.xml", remote=(HOST, sip_port), timeout=20,
                        keys={"rtpport": str(rtp_port), "rtpvideo": str(rig.port(2, even=True))},
                        args=["-s", "door"]).start()
        door.wait_event("call", 10, state="connected")
        # like pjsua, key digits on the number the door's answer gives telephone-event
        answer_pt = _answered_event_pt(sipp.message_file, 5)
        target = (HOST, door_rtp)
        ssrc, seq, ts = 0x12345678, 1000, 8000
        heard = []
        for _ in range(5):                       # a little audio first: the SDP address settles
            rtp.sendto(_audio_packet(seq, ts, ssrc), target)
            seq, ts = seq + 1, ts + 160
            time.sleep(0.02)
        packets, seq, ts = _event_packets("1234#", ssrc, seq, ts, answer_pt)
        for i, pkt in enumerate(packets):
            rtp.sendto(pkt, target)
            if i % 6 == 5:
                time.sleep(0.1)
            try:
                heard.append(rtp.recv(2048))
            except OSError:
                pass
        relay = door.wait_event("relay", 5, on=True)
        assert relay["on"] is True and answer_pt == 120
        media = door.wait_event("media", 1, since=0)
        assert media["dtmf_pt"] == 120 and media["recv_dtmf_pt"] == 120, media
        digits = [e["digit"] for e in list(door.events) if e.get("event") == "dtmf"]
        assert "".join(digits).endswith("1234#"), digits
        assert heard and all(p[1] & 0x7F == 0 for p in heard if len(p) >= 12), [p[1] for p in heard[:5]]
        assert sipp.wait() == 0, rig.report()
        door.wait_event("call", 5, state="ended")
        assert door.quit(10) == 0, rig.report()
    finally:
        rtp.close()
