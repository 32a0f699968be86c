"""SRTP/SRTCP against libsrtp (PyPI pylibsrtp) both ways, both suites, across a SEQ wrap (RFC 3711 §3.3, §3.4)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "firmware"))

from intercom.media.srtp import SrtpContext  # noqa: E402

pylibsrtp = pytest.importorskip("pylibsrtp") if os.environ.get("CI") != "true" else __import__("pylibsrtp")
Policy, Session = pylibsrtp.Policy, pylibsrtp.Session

PROFILES = {"AES_CM_128_HMAC_SHA1_80": Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
            "AES_CM_128_HMAC_SHA1_32": Policy.SRTP_PROFILE_AES128_CM_SHA1_32}


def _rtp(seq, n=160):
    return bytes([0x80, 0, seq >> 8, seq & 0xFF, 0, 1, 2, 3, 0xCA, 0xFE, 0xBA, 0xBE]) + os.urandom(n)


def _libsrtp(suite, key, outbound):
    kind = Policy.SSRC_ANY_OUTBOUND if outbound else Policy.SSRC_ANY_INBOUND
    return Session(Policy(key=key, ssrc_type=kind, srtp_profile=PROFILES[suite]))


@pytest.mark.parametrize("suite", sorted(PROFILES))
def test_rfc3711_ours_to_libsrtp_across_seq_wrap(suite):
    key = os.urandom(30)
    ours = SrtpContext(suite, key)
    theirs = _libsrtp(suite, key, False)
    out = bytearray(400)
    for seq in list(range(65530, 65536)) + list(range(0, 6)):
        packet = _rtp(seq)
        n = ours.protect(packet, len(packet), out)
        assert theirs.unprotect(bytes(out[:n])) == packet
    for size in (8, 40):
        rtcp = bytes([0x80, 201, 0, size // 4 - 1, 0xCA, 0xFE, 0xBA, 0xBE]) + os.urandom(size - 8)
        n = ours.protect_rtcp(rtcp, len(rtcp), out)
        assert theirs.unprotect_rtcp(bytes(out[:n])) == rtcp


@pytest.mark.parametrize("suite", sorted(PROFILES))
def test_rfc3711_libsrtp_to_ours_across_seq_wrap(suite):
    key = os.urandom(30)
    theirs = _libsrtp(suite, key, True)
    ours = SrtpContext(suite, key)
    out = bytearray(400)
    for seq in list(range(65530, 65536)) + list(range(0, 6)):
        packet = _rtp(seq, 80 + seq % 7)
        wire = theirs.protect(packet)
        assert ours.unprotect(wire, out) == len(packet) and bytes(out[:len(packet)]) == packet
    rtcp = bytes([0x81, 200, 0, 6]) + b"\xca\xfe\xba\xbe" + os.urandom(20)
    wire = theirs.protect_rtcp(rtcp)
    assert ours.unprotect_rtcp(wire, out) == len(rtcp) and bytes(out[:len(rtcp)]) == rtcp
