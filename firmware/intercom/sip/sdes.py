"""SDES: SRTP keys in SDP, a=crypto with inline keys, offer/answer per media.srtp (RFC 4568 §4-§7, §9.1)."""

# Imported only when media.srtp is not "off". Keys come from the CSPRNG the
# UA is given (os.urandom) and never reach a log, an event or the trace:
# Crypto and Keys print as "***", and sip/trace.py masks a=crypto lines.

import binascii

from intercom.sip.uri import is_digits

SUITES = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")   # what we offer, in this order
KEY_SALT_LEN = 30               # 128-bit master key + 112-bit master salt (RFC 4568 §6.2.1)
# session parameters that weaken SRTP below what we run (RFC 4568 §6.3): refused
_REFUSED_PARAMS = ("UNENCRYPTED_SRTP", "UNENCRYPTED_SRTCP", "UNAUTHENTICATED_SRTP", "FEC_ORDER", "FEC_KEY")


class SdesError(Exception):
    """A malformed a=crypto attribute."""


class Crypto:
    """One a=crypto attribute: tag, suite, the 30-byte key||salt and the
    MKI its owner puts in each packet (b"" for none)."""

    def __init__(self, tag, suite, key, mki=b""):
        self.tag = tag
        self.suite = suite
        self.key = key
        self.mki = mki

    def __repr__(self):
        return "Crypto(%d, %s, ***)" % (self.tag, self.suite)

    def attribute(self):
        """The `a=crypto:` line (without CRLF)."""
        key = binascii.b2a_base64(self.key).decode().strip()
        return "a=crypto:%d %s inline:%s" % (self.tag, self.suite, key)


class Keys:
    """A negotiated SRTP stream: what we send with (our key) and receive
    with (the peer's key and MKI). The media session builds its SRTP
    contexts from this; an equal Keys object means "keep the contexts"."""

    def __init__(self, suite, tx_key, rx_suite, rx_key, rx_mki):
        self.suite = suite
        self.tx_key = tx_key
        self.rx_suite = rx_suite
        self.rx_key = rx_key
        self.rx_mki = rx_mki

    def __repr__(self):
        return "Keys(%s, ***)" % self.suite

    def same(self, other):
        return (other is not None and self.suite == other.suite and self.tx_key == other.tx_key
                and self.rx_suite == other.rx_suite and self.rx_key == other.rx_key
                and self.rx_mki == other.rx_mki)


def parse_crypto(value):
    """The Crypto of an a=crypto value (after "crypto:"), None if its suite
    or parameters are not ones we run; SdesError if malformed."""
    parts = value.split()
    if len(parts) < 3 or not is_digits(parts[0]) or len(parts[0]) > 9:
        raise SdesError("bad a=crypto %r" % value[:16])
    tag = int(parts[0])
    suite = parts[1]
    for param in parts[3:]:
        name = param.split("=")[0]
        if name in _REFUSED_PARAMS or (name == "KDR" and param != "KDR=0"):
            return None
    if suite not in SUITES:
        return None
    # several keys (";") are only for MKI rollover: the first one starts
    key_param = parts[2].split(";")[0]
    if not key_param.startswith("inline:"):
        raise SdesError("a=crypto key method is not inline")
    fields = key_param[7:].split("|")
    try:
        key = binascii.a2b_base64(fields[0])
    except Exception:                # binascii.Error (CPython), ValueError (MicroPython)
        raise SdesError("a=crypto key is not base64")
    if len(key) != KEY_SALT_LEN:
        raise SdesError("a=crypto key is %d bytes, not %d" % (len(key), KEY_SALT_LEN))
    mki = b""
    for field in fields[1:]:
        if ":" in field:
            mki = _mki(field)
        elif not _lifetime_ok(field):
            raise SdesError("bad a=crypto lifetime")
    return Crypto(tag, suite, key, mki)


def _mki(field):
    # "value:length" (RFC 4568 §6.1): the value as `length` big-endian bytes
    value, _, length = field.partition(":")
    if not is_digits(value) or not is_digits(length) or not 0 < int(length) <= 4 or len(value) > 10:
        raise SdesError("bad a=crypto MKI")
    n = int(length)
    v = int(value)
    if v >= 1 << (8 * n):
        raise SdesError("a=crypto MKI value does not fit its length")
    return bytes([(v >> (8 * (n - 1 - i))) & 0xFF for i in range(n)])


def _lifetime_ok(field):
    # decimal or 2^n (RFC 4568 §6.1); any lifetime is longer than a door call
    if field.startswith("2^"):
        return is_digits(field[2:]) and len(field) <= 4
    return is_digits(field) and len(field) <= 20


def mode_for(media_cfg, secure):
    """What a call does: "off", "optional", "mandatory", or "refused"
    (mandatory, but keys would cross plain signalling: every call fails).
    `secure` is the call's Call.secure_signalling (TLS)."""
    mode = media_cfg.get("srtp", "off")
    if mode == "off" or secure or media_cfg.get("srtp_over_udp", False):
        return mode
    return "refused" if mode == "mandatory" else "off"


class Sdes:
    """One call's SDES offer/answer state. Our keys are made once per
    offer or answer and kept while the peer keeps its own (RFC 4568 §7.1.4),
    so a re-INVITE for hold does not rekey the stream."""

    def __init__(self, mode, random_bytes):
        self.mode = mode
        self.random_bytes = random_bytes
        self.offered = None          # our Crypto list in the last offer
        self.answered = None         # (the peer's Crypto, ours) of the last offer we answered
        self.keys = None

    def proto(self):
        return "RTP/SAVP" if self.mode == "mandatory" else "RTP/AVP"

    def offer(self):
        """Our a=crypto lines: one per suite, each with its own key."""
        if self.offered is None:
            self.offered = [Crypto(i + 1, s, self.random_bytes(KEY_SALT_LEN)) for i, s in enumerate(SUITES)]
        return [c.attribute() for c in self.offered]

    def take_answer(self, desc):
        """Keys for the peer's answer, or None for clear RTP; ValueError
        (the call fails) if SRTP is mandatory and the answer has no keys
        for one of our offered tags and suites."""
        for value in desc.crypto:
            try:
                theirs = parse_crypto(value)
            except SdesError:
                continue
            for ours in self.offered or ():
                if theirs is not None and theirs.tag == ours.tag and theirs.suite == ours.suite:
                    return self._keep(Keys(ours.suite, ours.key, theirs.suite, theirs.key, theirs.mki))
        if self.mode == "mandatory" or desc.proto.startswith("RTP/SAVP"):
            raise ValueError("the answer has no usable a=crypto")
        self.keys = None
        return None

    def answer(self, desc):
        """(Keys, our a=crypto lines) for the peer's offer: the first of its
        attributes we run, in its order (RFC 4568 §7.1.2); (None, []) for
        clear RTP; ValueError (488) when SRTP is required and impossible."""
        for value in desc.crypto:
            try:
                theirs = parse_crypto(value)
            except SdesError:
                continue
            if theirs is None:
                continue
            last = self.answered
            if last is not None and last[0].suite == theirs.suite and last[0].key == theirs.key:
                ours = last[1]
                ours.tag = theirs.tag
            else:
                ours = Crypto(theirs.tag, theirs.suite, self.random_bytes(KEY_SALT_LEN))
            self.answered = (theirs, ours)
            keys = self._keep(Keys(ours.suite, ours.key, theirs.suite, theirs.key, theirs.mki))
            return keys, [ours.attribute()]
        if self.mode == "mandatory" or desc.proto.startswith("RTP/SAVP"):
            raise ValueError("the offer has no usable a=crypto")
        self.keys = None
        return None, []

    def _keep(self, keys):
        if keys.same(self.keys):
            return self.keys
        self.keys = keys
        return keys


# --- the glue for sip/call_media.CallMedia (kept here: loaded only with SRTP on) ---

def for_call(call):
    """The call's Sdes (made on first use), or None when this call runs
    without SRTP (media.srtp "optional" over plain signalling)."""
    if call.sdes is None:
        mode = mode_for(call.mgr.cfg["media"], call.secure_signalling)
        if mode == "refused":
            call.ua.log("warn", "call %d: media.srtp is mandatory but SDES keys would cross plain "
                        "signalling (use TLS or set media.srtp_over_udp): call refused" % call.id)

        def key_bytes(n):
            # the UA's random source is os.urandom behind random_hex (boot.py)
            return binascii.unhexlify(call.ua.random_hex(2 * n))
        call.sdes = Sdes(mode, key_bytes)
    return None if call.sdes.mode == "off" else call.sdes


def negotiate(call, desc, offer):
    """CallMedia._srtp: with desc None, set the call's m= transport and
    a=crypto lines for its next offer; else the Keys for the peer's offer
    (offer True: our answer's a=crypto lines go to call.sdp_extra) or
    answer, None for clear RTP, False to fail the call (488 for an offer),
    with the reason in the log."""
    srtp = for_call(call)
    if desc is None:
        if srtp is not None:
            call.sdp_proto = srtp.proto()
            call.sdp_extra = srtp.offer() if srtp.mode != "refused" else ()
        return None
    if srtp is None:
        return None
    if srtp.mode == "refused":
        return False
    try:
        if offer:
            keys, call.sdp_extra = srtp.answer(desc)
            return keys
        return srtp.take_answer(desc)
    except ValueError as err:
        call.ua.log("warn", "call %d: SRTP: %s" % (call.id, err))
        return False
