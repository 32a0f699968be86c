"""The driver sends our RTCP (RFC 3550 §6): SRs on the frame clock while we send, a BYE when the stream stops (§6.6).

Real UserAgent, App and host board; real UDP sockets on 127.0.0.1; the peer's
RTCP port is given by a=rtcp (RFC 3605), so no port arithmetic is assumed."""

import socket

from intercom.netcompat import UdpSocket
from test_driver import make_driver, free_udp_port


def peer_socket():
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.bind(("127.0.0.1", 0))
    c.settimeout(0.05)
    return c


def received(c):
    got = []
    try:
        while True:
            got.append(c.recv(2048))
    except OSError:
        pass
    return got


def test_rfc3550_6_6_driver_sends_reports_then_a_bye_when_the_call_ends():
    drv, _ua, app, _board = make_driver()
    drv.rtp_sock = UdpSocket("127.0.0.1", free_udp_port())
    drv.rtcp_sock = UdpSocket("127.0.0.1", free_udp_port())
    rtp, rtcp = peer_socket(), peer_socket()
    media = {"event": "media", "id": "c1", "address": "127.0.0.1", "port": rtp.getsockname()[1],
             "codec": "PCMU", "pt": 0, "dtmf_pt": 101, "direction": "sendrecv",
             "rtcp_port": rtcp.getsockname()[1], "rtcp_address": None}
    app.audio.on_call_event({"id": "c1", "state": "connected"}, 0)
    app.audio.on_media_event(media)
    session = app.audio.session
    ssrc = bytes(session.sender.buf[8:12])
    drv.next_frame = 0
    sent = 0
    for i in range(500):                    # 10 s of frames on a synthetic clock
        drv.pump(20 * i)
        if i % 100 == 99:
            sent += len(received(rtp))       # (the kernel queue holds a few hundred)
    reports = received(rtcp)
    assert sent == 500 and 2 <= len(reports) <= 5
    for pkt in reports:
        assert pkt[1] == 200 and pkt[4:8] == ssrc            # SRs: we were sending
    app.audio.on_call_event({"id": "c1", "state": "ended"}, 10000)
    drv.flush(10000)
    bye = received(rtcp)
    assert len(bye) == 1 and bye[0][1] == 200 and bye[0][-8:] == b"\x81\xcb\x00\x01" + ssrc
    drv.flush(10020)
    assert received(rtcp) == []                               # sent once
    for s in (rtp, rtcp):
        s.close()
    for s in (drv.rtp_sock, drv.rtcp_sock, drv.sip_sock):
        s.close()
