"""SRTP and SRTCP, AES_CM_128_HMAC_SHA1_80/_32 (RFC 3711 §3-§4.3: AES-CM, HMAC-SHA1, keys, index, replay)."""

# Imported only when media.srtp is not "off" (media/session.py, sip/sdes.py).
#
# Allocation: protect/unprotect work on buffers made once per stream
# (SrtpStream) and rekeying reuses them; per packet they allocate nothing
# (host_tests/upy/heaplock_srtp.py proves it). AES is MicroPython's
# cryptolib.aes in ECB mode (every port has it; CTR is not everywhere): the
# counter blocks of AES-CM are encrypted one by one into a 16-byte keystream
# buffer and XORed into the packet. HMAC-SHA1 is media/_srtp_viper.py (its
# own SHA-1, pad states precomputed per key) or, on CPython, hmac/hashlib.
#
# Integers: the 48-bit SRTP index would be a heap long on a 31-bit port, so
# it is kept as (roc, seq) and compared as a small difference. ROC grows by
# one every 65,536 packets (22 minutes of 20 ms audio) and never nears 2**30.

try:
    from cryptolib import aes
except ImportError:                               # CPython: the host shim
    from intercom._crypto_compat import aes
from intercom.media.g711 import copy

IMPLEMENTATION = "python"
try:
    from intercom.media import _srtp_viper as _k
    IMPLEMENTATION = "viper"
except Exception:                                 # CPython, or no native emitter
    from intercom.media import _srtp_py as _k

# Suite name -> SRTP authentication tag length (RFC 4568 §6.2.1, §6.2.2;
# SRTCP always carries the 80-bit tag, RFC 3711 §5.2).
SUITES = {"AES_CM_128_HMAC_SHA1_80": 10, "AES_CM_128_HMAC_SHA1_32": 4}
SUITE_ORDER = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")
KEY_LEN = 16
SALT_LEN = 14
RTCP_TAG_LEN = 10
WINDOW = 64                 # replay window (RFC 3711 §3.3.2: at least 64)

# unprotect results below zero: why the packet was dropped
MALFORMED = -1
AUTH_FAILED = -2
REPLAYED = -3

COUNTER_MASK = 0x3FFFFFFF


def derive(master_key, master_salt, label, n):
    """n bytes of session key for `label` (RFC 3711 §4.3.1 with kdr 0:
    r = 0, x = (label << 48) XOR master_salt, AES-CM keystream from x * 2**16)."""
    cipher = aes(bytes(master_key), 1)
    iv = bytearray(16)
    iv[0:SALT_LEN] = master_salt
    iv[7] ^= label
    out = bytearray()
    ks = bytearray(16)
    block = 0
    while len(out) < n:
        iv[14] = block >> 8
        iv[15] = block & 0xFF
        cipher.encrypt(iv, ks)
        out.extend(ks)
        block += 1
    return bytes(out[:n])


def keystream(session_key, session_salt, ssrc, index_hi, index_lo, n):
    """n bytes of AES-CM keystream (RFC 3711 §4.1.1); for tests and tools
    (allocates). index_hi is the ROC (SRTP) or index >> 16 (SRTCP)."""
    cipher = aes(bytes(session_key), 1)
    out = bytearray(n)
    ctr = bytearray(16)
    ks = bytearray(16)
    _counter(ctr, session_salt, ssrc, 0, index_hi, index_lo)
    _apply(cipher, ctr, ks, out, 0, n)
    return bytes(out)


def _counter(ctr, salt, src, soff, hi, lo):
    # IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16) (RFC 3711 §4.1.1);
    # SSRC from src[soff:soff+4], the 48-bit index as hi (32 bits), lo (16)
    copy(ctr, 0, salt, 0, SALT_LEN)
    ctr[4] ^= src[soff]
    ctr[5] ^= src[soff + 1]
    ctr[6] ^= src[soff + 2]
    ctr[7] ^= src[soff + 3]
    ctr[8] ^= (hi >> 24) & 0xFF
    ctr[9] ^= (hi >> 16) & 0xFF
    ctr[10] ^= (hi >> 8) & 0xFF
    ctr[11] ^= hi & 0xFF
    ctr[12] ^= lo >> 8
    ctr[13] ^= lo & 0xFF


def _apply(cipher, ctr, ks, buf, off, n):
    # XOR the keystream into buf[off:off+n], block counter from 0
    block = 0
    while n > 0:
        ctr[14] = block >> 8
        ctr[15] = block & 0xFF
        cipher.encrypt(ctr, ks)
        _k.xor_into(buf, off, ks, 16 if n > 16 else n)
        off += 16
        n -= 16
        block += 1


class Hmac:
    """HMAC-SHA1 with one key (RFC 2104), allocation free per message."""

    def __init__(self, key):
        if IMPLEMENTATION == "viper":
            import struct
            self.ctx = ctx = bytearray(512)
            key = bytes(key)
            if len(key) > 64:                 # RFC 2104 §2: long keys are hashed first
                import hashlib
                key = hashlib.sha1(key).digest()
            for pad, at in ((0x36, 20), (0x5C, 40)):
                struct.pack_into("@5I", ctx, 0, 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)
                block = bytearray(64)
                for i in range(64):
                    block[i] = (key[i] if i < len(key) else 0) ^ pad
                _k.compress(ctx, block, 0)
                ctx[at:at + 20] = ctx[0:20]
        else:
            self.ctx = _k.prepare(key)

    def mac(self, src, n, out):
        """HMAC-SHA1 of src[0:n] into out[0:20]."""
        _k.hmac(self.ctx, src, n, out)


class _Keys:
    # One direction's session keys for RTP or RTCP (§4.3.2: labels 0-2, 3-5).
    def __init__(self, master, first_label):
        key = master[:KEY_LEN]
        salt = master[KEY_LEN:KEY_LEN + SALT_LEN]
        self.cipher = aes(derive(key, salt, first_label, KEY_LEN), 1)
        self.auth = Hmac(derive(key, salt, first_label + 1, 20))
        self.salt = derive(key, salt, first_label + 2, SALT_LEN)


class Replay:
    """A 64-packet replay window (RFC 3711 §3.3.2) over indices kept as
    (hi, lo) pairs: slot (lo & 63) of a ring marks which of the last 64
    indices were received."""

    def __init__(self):
        self.seen = bytearray(WINDOW)
        self.reset()

    def reset(self):
        self.hi = 0
        self.lo = -1             # none yet
        for i in range(WINDOW):
            self.seen[i] = 0

    def delta(self, hi, lo):
        """How far (hi, lo) is ahead of the highest index (a small int);
        1 for the first packet."""
        if self.lo < 0:
            return 1
        return ((hi - self.hi) << 16) + lo - self.lo

    def fresh(self, delta, lo):
        """False if the index was received already or is behind the window."""
        if delta > 0:
            return True
        return -delta < WINDOW and not self.seen[lo & (WINDOW - 1)]

    def mark(self, delta, hi, lo):
        """Record an authenticated index (never before authentication)."""
        seen = self.seen
        if delta > 0:
            k = delta if delta < WINDOW else WINDOW
            i = 1
            while i < k:                      # the indices skipped are not seen
                seen[(lo - i) & (WINDOW - 1)] = 0
                i += 1
            self.hi = hi
            self.lo = lo
        seen[lo & (WINDOW - 1)] = 1


class SrtpContext:
    """One direction of one stream: SRTP and SRTCP with a master key||salt
    (30 bytes) for `suite`, and the MKI the sender puts in its packets.
    protect*/unprotect* write into a caller's buffer (at least the packet
    plus 18 bytes) and allocate nothing."""

    def __init__(self, suite, master, mki=b""):
        if suite not in SUITES or len(master) != KEY_LEN + SALT_LEN:
            raise ValueError("unsupported SRTP suite or key length")
        self.suite = suite
        self.tag_len = SUITES[suite]
        self.mki = bytes(mki)
        self.rtp = _Keys(master, 0)
        self.rtcp = _Keys(master, 3)
        self.ctr = bytearray(16)
        self.ks = bytearray(16)
        self.mac = bytearray(20)
        self.window = Replay()           # receiving: SRTP (ROC, SEQ)
        self.rtcp_window = Replay()      # receiving: SRTCP index >> 16, & 0xFFFF
        self.roc = 0                     # sending: ROC and the last SEQ sent
        self.last_seq = -1
        self.rtcp_index = 0              # sending: the next SRTCP index (31 bits)

    # --- sending -----------------------------------------------------------
    def protect(self, src, n, out):
        """The SRTP packet for RTP src[0:n] in out; its length (MALFORMED
        if src is no RTP packet)."""
        hl = _header_len(src, n)
        if hl < 0:
            return MALFORMED
        copy(out, 0, src, 0, n)
        seq = (out[2] << 8) | out[3]
        if 0 <= seq < self.last_seq and self.last_seq - seq > 0x8000:
            self.roc += 1                    # our SEQ wrapped (§3.3.1)
        self.last_seq = seq
        k = self.rtp
        _counter(self.ctr, k.salt, out, 8, self.roc, seq)
        _apply(k.cipher, self.ctr, self.ks, out, hl, n - hl)
        roc = self.roc
        return self._sign(k, out, n, roc >> 16, roc & 0xFFFF, self.tag_len)

    def protect_rtcp(self, src, n, out):
        """The SRTCP packet for compound RTCP src[0:n] in out (encrypted,
        E flag set, RFC 3711 §3.4); its length."""
        if n < 8:
            return MALFORMED
        copy(out, 0, src, 0, n)
        index = self.rtcp_index
        self.rtcp_index = (index + 1) & 0x7FFFFFFF
        k = self.rtcp
        _counter(self.ctr, k.salt, out, 4, index >> 16, index & 0xFFFF)
        _apply(k.cipher, self.ctr, self.ks, out, 8, n - 8)
        out[n] = 0x80 | (index >> 24)
        out[n + 1] = (index >> 16) & 0xFF
        out[n + 2] = (index >> 8) & 0xFF
        out[n + 3] = index & 0xFF
        # the E flag and index are authenticated; no ROC is appended
        return self._sign(k, out, n + 4, -1, 0, RTCP_TAG_LEN)

    def _sign(self, k, out, n, roc_hi, roc_lo, tag_len):
        # Authenticated portion || ROC (SRTP only, §4.2), then MKI and tag.
        m = n
        if roc_hi >= 0:
            out[n] = roc_hi >> 8
            out[n + 1] = roc_hi & 0xFF
            out[n + 2] = roc_lo >> 8
            out[n + 3] = roc_lo & 0xFF
            m = n + 4
        k.auth.mac(out, m, self.mac)
        ml = len(self.mki)
        if ml:
            copy(out, n, self.mki, 0, ml)
        copy(out, n + ml, self.mac, 0, tag_len)
        return n + ml + tag_len

    # --- receiving ---------------------------------------------------------
    def unprotect(self, data, out):
        """The RTP packet of SRTP datagram `data` decrypted into out; its
        length, or MALFORMED, REPLAYED, AUTH_FAILED (dropped: the replay
        window and ROC change only for authentic packets)."""
        tl = self.tag_len
        ml = len(self.mki)
        total = len(data)
        n = total - ml - tl
        if n < 12:
            return MALFORMED
        hl = _header_len(data, n)
        if hl < 0:
            return MALFORMED
        seq = (data[2] << 8) | data[3]
        w = self.window
        # the ROC guess v (§3.3.1, Appendix A)
        v = w.hi
        if w.lo >= 0:
            if w.lo < 0x8000:
                if seq - w.lo > 0x8000:
                    v -= 1
            elif w.lo - 0x8000 > seq:
                v += 1
        if v < 0:
            return REPLAYED                  # before the first ROC: older than the stream
        delta = w.delta(v, seq)
        if not w.fresh(delta, seq):
            return REPLAYED
        copy(out, 0, data, 0, n)
        out[n] = v >> 24
        out[n + 1] = (v >> 16) & 0xFF
        out[n + 2] = (v >> 8) & 0xFF
        out[n + 3] = v & 0xFF
        k = self.rtp
        if not self._authentic(k, out, n + 4, data, n, tl):
            return AUTH_FAILED
        _counter(self.ctr, k.salt, out, 8, v, seq)
        _apply(k.cipher, self.ctr, self.ks, out, hl, n - hl)
        w.mark(delta, v, seq)
        return n

    def unprotect_rtcp(self, data, out):
        """The compound RTCP of SRTCP datagram `data` in out (decrypted if
        its E flag is set); its length, or MALFORMED, REPLAYED, AUTH_FAILED."""
        ml = len(self.mki)
        total = len(data)
        n = total - RTCP_TAG_LEN - ml - 4
        if n < 8 or data[0] >> 6 != 2:
            return MALFORMED
        e = data[n] & 0x80
        hi = ((data[n] & 0x7F) << 8) | data[n + 1]
        lo = (data[n + 2] << 8) | data[n + 3]
        w = self.rtcp_window
        delta = w.delta(hi, lo)
        if not w.fresh(delta, lo):
            return REPLAYED
        copy(out, 0, data, 0, n + 4)
        k = self.rtcp
        if not self._authentic(k, out, n + 4, data, n + 4, RTCP_TAG_LEN):
            return AUTH_FAILED
        if e:
            _counter(self.ctr, k.salt, out, 4, hi, lo)
            _apply(k.cipher, self.ctr, self.ks, out, 8, n - 8)
        w.mark(delta, hi, lo)
        return n

    def _authentic(self, k, out, m, data, at, tl):
        # HMAC over out[0:m]; data[at:] holds the MKI (must be ours) and the tag
        mki = self.mki
        ml = len(mki)
        bad = 0
        i = 0
        while i < ml:
            bad |= data[at + i] ^ mki[i]
            i += 1
        k.auth.mac(out, m, self.mac)
        mac = self.mac
        at += ml
        i = 0
        while i < tl:                        # all bytes compared: no early exit
            bad |= data[at + i] ^ mac[i]
            i += 1
        return bad == 0


def _header_len(buf, n):
    # RTP header with CSRCs and extension (RFC 3550 §5.1, §5.3.1), or -1
    if n < 12 or buf[0] >> 6 != 2:
        return -1
    hl = 12 + ((buf[0] & 0x0F) << 2)
    if buf[0] & 0x10:
        if hl + 4 > n:
            return -1
        hl += 4 + (((buf[hl + 2] << 8) | buf[hl + 3]) << 2)
    return hl if hl <= n else -1
