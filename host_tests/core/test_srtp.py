"""SRTP/SRTCP transforms: RFC 3711 Appendix B vectors, round trips, ROC, replay window, tags (RFC 3711 §3-§4)."""

from binascii import unhexlify

from intercom.media import srtp, _srtp_py
from intercom.media.srtp import SrtpContext, MALFORMED, AUTH_FAILED, REPLAYED

S80 = "AES_CM_128_HMAC_SHA1_80"
S32 = "AES_CM_128_HMAC_SHA1_32"
# RFC 3711 B.3's master key and salt, as libsrtp's own test (srtp_driver.c) uses them
MASTER = unhexlify("e1f97a0d3e018be0d64fa32c06de41390ec675ad498afeebb6960b3aabe6")
PLAIN = unhexlify("800f1234decafbadcafebabe" + "ab" * 16)
# libsrtp's srtp_ciphertext for PLAIN (checked against pylibsrtp in test_srtp_libsrtp.py)
CIPHER = unhexlify("800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb")
RTCP = unhexlify("81c8000bcafebabe" + "ab" * 40)
SRTCP_1 = unhexlify("81c8000bcafebabe7128035be487b9bdbef89041f977a5a8d5efb8816abf868c340e5082be1e90ca"
                    "6bdd31954a81a47d8000000163a50d16b51439563031")


def _rtp(seq, payload=b"\x55" * 160, ssrc=b"\x01\x02\x03\x04"):
    return bytes([0x80, 0, seq >> 8, seq & 0xFF, 0, 0, 0, 160]) + ssrc + payload


def _pair(suite=S80, mki=b""):
    return SrtpContext(suite, MASTER, mki), SrtpContext(suite, MASTER, mki)


def _protect(ctx, packet):
    out = bytearray(len(packet) + 32)
    n = ctx.protect(packet, len(packet), out)
    return bytes(out[:n])


def test_rfc3711_b_2_aes_cm_keystream():
    ks = srtp.keystream(unhexlify("2B7E151628AED2A6ABF7158809CF4F3C"),
                        unhexlify("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"), b"\0\0\0\0", 0, 0, 48)
    assert ks == unhexlify("E03EAD0935C95E80E166B16DD92B4EB4D23513162B02D0F72A43A2FE4A5F97AB"
                           "41E95B3BB0A2E8DD477901E4FCA894C0")


def test_rfc3711_b_3_key_derivation():
    key, salt = MASTER[:16], MASTER[16:]
    assert srtp.derive(key, salt, 0, 16) == unhexlify("C61E7A93744F39EE10734AFE3FF7A087")
    assert srtp.derive(key, salt, 2, 14) == unhexlify("30CBBC08863D8C85D49DB34A9AE1")
    assert srtp.derive(key, salt, 1, 20) == unhexlify("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")


def test_rfc2202_hmac_sha1_vectors():
    out = bytearray(20)
    cases = ((b"Jefe", b"what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
             (b"\xaa" * 20, b"\xdd" * 50, "125d7342b9ac11cd91a39af48aa17b4f63f175d3"),
             (b"\x0c" * 20, b"Test With Truncation", "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"),
             (b"\xaa" * 80, b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
              "e8e99d0f45237d786d6bbaa7965c7808bbff1a91"))
    for key, data, mac in cases:
        srtp.Hmac(key).mac(data, len(data), out)
        assert bytes(out) == unhexlify(mac), key


def test_hmac_kernel_matches_reference_at_every_length_around_blocks():
    # the native SHA-1's padding has a branch at 55/56 bytes in the last block
    key = bytes(range(20))
    ours = srtp.Hmac(key)
    ref = _srtp_py.prepare(key)
    a = bytearray(20)
    b = bytearray(20)
    data = bytes((i * 7) & 0xFF for i in range(200))
    for n in list(range(0, 140)) + [191, 192, 193]:
        ours.mac(data, n, a)
        _srtp_py.hmac(ref, data, n, b)
        assert a == b, n


def test_rfc3711_known_answer_srtp_packet():
    tx, _rx = _pair()
    assert _protect(tx, PLAIN) == CIPHER


def test_rfc3711_known_answer_srtcp_packet():
    tx, rx = _pair()
    tx.rtcp_index = 1           # libsrtp's first index is 1; ours is 0 (RFC 3711 §3.4)
    out = bytearray(200)
    n = tx.protect_rtcp(RTCP, len(RTCP), out)
    assert bytes(out[:n]) == SRTCP_1
    assert rx.unprotect_rtcp(SRTCP_1, out) == len(RTCP) and bytes(out[:len(RTCP)]) == RTCP


def test_rfc3711_3_1_round_trip_both_suites():
    for suite, tag in ((S80, 10), (S32, 4)):
        tx, rx = _pair(suite)
        out = bytearray(300)
        for seq in (100, 101, 102):
            packet = _rtp(seq)
            wire = _protect(tx, packet)
            assert len(wire) == len(packet) + tag and wire[12:] != packet[12:]
            assert rx.unprotect(wire, out) == len(packet) and bytes(out[:len(packet)]) == packet


def test_rfc3711_3_1_header_stays_clear_payload_encrypted():
    tx, _rx = _pair()
    wire = _protect(tx, _rtp(7, b"\x00" * 160))
    assert wire[:12] == _rtp(7)[:12] and wire[12:172].count(b"\x00") < 10


def test_rfc3711_3_3_bad_tag_dropped_and_state_unchanged():
    tx, rx = _pair()
    out = bytearray(300)
    wire = bytearray(_protect(tx, _rtp(5)))
    wire[-1] ^= 1
    assert rx.unprotect(bytes(wire), out) == AUTH_FAILED
    wire[-1] ^= 1
    assert rx.unprotect(bytes(wire), out) == 172      # the genuine one is still fresh


def test_rfc3711_3_3_tampered_payload_fails_authentication():
    tx, rx = _pair()
    wire = bytearray(_protect(tx, _rtp(5)))
    wire[20] ^= 0x80
    assert rx.unprotect(bytes(wire), bytearray(300)) == AUTH_FAILED


def test_rfc3711_3_3_2_replayed_packet_dropped():
    tx, rx = _pair()
    out = bytearray(300)
    wire = _protect(tx, _rtp(9))
    assert rx.unprotect(wire, out) == 172
    assert rx.unprotect(wire, out) == REPLAYED


def test_rfc3711_3_3_2_reordered_packet_within_window_accepted():
    tx, rx = _pair()
    out = bytearray(300)
    wires = [_protect(tx, _rtp(s)) for s in range(1000, 1010)]
    for i in (0, 5, 9, 3, 1):
        assert rx.unprotect(wires[i], out) == 172, i
    assert rx.unprotect(wires[3], out) == REPLAYED


def test_rfc3711_3_3_2_packet_behind_window_dropped():
    tx, rx = _pair()
    out = bytearray(300)
    old = _protect(tx, _rtp(10))
    new = _protect(tx, _rtp(10 + 64))
    assert rx.unprotect(new, out) == 172
    assert rx.unprotect(old, out) == REPLAYED
    edge = _protect(SrtpContext(S80, MASTER), _rtp(10 + 1))
    assert rx.unprotect(edge, out) == 172          # 63 behind: still in the window


def test_rfc3711_3_3_1_roc_follows_sequence_wrap():
    tx, rx = _pair()
    out = bytearray(300)
    for seq in (65534, 65535, 0, 1):
        assert rx.unprotect(_protect(tx, _rtp(seq)), out) == 172, seq
    assert tx.roc == 1 and rx.window.hi == 1
    # a late packet from before the wrap is guessed at ROC-1 and still decrypts
    late = _protect(SrtpContext(S80, MASTER), _rtp(65533))
    assert rx.unprotect(late, out) == 172 and bytes(out[:172]) == _rtp(65533)


def test_rfc3711_3_3_1_wrong_roc_fails_authentication():
    # a receiver that missed the wrap (ROC 0) cannot take ROC 1 packets far ahead
    tx, rx = _pair()
    tx.roc = 1
    tx.last_seq = 30000
    assert rx.unprotect(_protect(tx, _rtp(30001)), bytearray(300)) == AUTH_FAILED


def test_rfc3711_3_4_srtcp_replayed_and_bad_tag_dropped():
    tx, rx = _pair()
    out = bytearray(200)
    wire = bytearray(200)
    n = tx.protect_rtcp(RTCP, len(RTCP), wire)
    packet = bytes(wire[:n])
    assert packet[len(RTCP):len(RTCP) + 4] == b"\x80\x00\x00\x00"     # E flag, index 0
    bad = bytearray(packet)
    bad[-2] ^= 4
    assert rx.unprotect_rtcp(bytes(bad), out) == AUTH_FAILED
    assert rx.unprotect_rtcp(packet, out) == len(RTCP)
    assert rx.unprotect_rtcp(packet, out) == REPLAYED


def test_rfc4568_6_2_srtcp_tag_is_80_bits_with_the_32_bit_suite():
    tx, rx = _pair(S32)
    wire = bytearray(200)
    n = tx.protect_rtcp(RTCP, len(RTCP), wire)
    assert n == len(RTCP) + 4 + 10
    assert rx.unprotect_rtcp(bytes(wire[:n]), bytearray(200)) == len(RTCP)


def test_rfc3711_3_1_mki_sent_and_checked():
    tx, rx = _pair(S80, b"\x00\x07")
    wire = _protect(tx, _rtp(3))
    assert len(wire) == 172 + 2 + 10 and wire[172:174] == b"\x00\x07"
    assert rx.unprotect(wire, bytearray(300)) == 172
    other = SrtpContext(S80, MASTER, b"\x00\x08")
    assert other.unprotect(_protect(SrtpContext(S80, MASTER, b"\x00\x07"), _rtp(4)),
                           bytearray(300)) == AUTH_FAILED


def test_rfc3711_3_1_csrc_and_extension_stay_clear():
    tx, rx = _pair()
    ext = bytes([0x91, 0, 0, 5, 0, 0, 0, 160, 1, 2, 3, 4]) + b"\x09\x09\x09\x09" + b"\xbe\xde\x00\x01" + b"\x11" * 4
    packet = ext + b"\x22" * 20
    wire = _protect(tx, packet)
    assert wire[:24] == packet[:24] and wire[24:44] != packet[24:]
    out = bytearray(100)
    assert rx.unprotect(wire, out) == len(packet) and bytes(out[:len(packet)]) == packet


def test_malformed_packets_dropped_not_raised():
    _tx, rx = _pair()
    out = bytearray(300)
    for junk in (b"", b"\x80" * 5, b"\x00" * 40, bytes([0x8F]) + b"\x00" * 30, bytes([0x90]) + b"\x00" * 22):
        assert rx.unprotect(junk, out) == MALFORMED, junk
        assert rx.unprotect_rtcp(junk, out) in (MALFORMED, AUTH_FAILED), junk
    assert SrtpContext(S80, MASTER).protect(b"\x00" * 20, 20, out) == MALFORMED


def test_unknown_suite_or_short_key_refused():
    for suite, key in (("AES_256_CM_HMAC_SHA1_80", MASTER), (S80, MASTER[:29])):
        try:
            SrtpContext(suite, key)
        except ValueError:
            continue
        raise AssertionError("accepted %s" % suite)
