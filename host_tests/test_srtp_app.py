"""The App reports `media` events without the SRTP keys the session runs on (RFC 4568 §8.1)."""

import binascii
import json

from test_app import RecordingBoard, pump
from intercom import config
from intercom.app import App
from intercom.sip.ua import UserAgent

KEY = bytes(range(30))
B64 = binascii.b2a_base64(KEY).decode().strip()
OFFER = ("v=0\r\no=- 1 1 IN IP4 192.0.2.30\r\ns=-\r\nc=IN IP4 192.0.2.30\r\nt=0 0\r\n"
         "m=audio 30000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:%s\r\n" % B64).encode()
INVITE = (b"INVITE sip:door@192.0.2.1:5062 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.30:5060;branch=z9hG4bKk1\r\n"
          b"From: <sip:flat@192.0.2.30>;tag=f1\r\nTo: <sip:door@192.0.2.1>\r\nCall-ID: k1@192.0.2.30\r\n"
          b"CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContact: <sip:flat@192.0.2.30:5060>\r\n"
          b"Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n" % len(OFFER)) + OFFER


def test_media_event_reported_without_keys_while_the_session_runs_srtp():
    cfg = config.defaults()
    cfg["sip"].update({"registrar": "", "user": "door"})
    cfg["calls"].update({"accept_from": "any", "auto_answer": True})
    cfg["media"].update({"srtp": "mandatory", "srtp_over_udp": True})
    counter = iter(range(1, 10 ** 6))
    ua = UserAgent(cfg, "192.0.2.1", None, lambda n: ("%0*x" % (n, next(counter)))[-n:], None, 0)
    board = RecordingBoard()
    app = App(ua, board, cfg, lambda n: bytes(range(n)))
    ua.receive(INVITE, ("192.0.2.30", 5060), 0)
    pump(app, ua)
    media = [e for e in board.events if e["event"] == "media"]
    assert media and media[-1]["srtp"] is True and "keys" not in media[-1]
    assert B64 not in json.dumps(board.events)
    assert app.audio.session.srtp_on and app.audio.session.srtp_keys.rx_key == KEY
