"""ITU-T G.722 at 64 kbit/s (mode 1) for RTP payload type 9 (RFC 3551 §4.5.2): 16 kHz audio, 8000 Hz clock."""

# Imported only when a call negotiates G.722 (media/session.py codec_of), so
# a G.711-only device never pays the heap for it.
#
# RTP: one G.722 byte per 8 kHz "sample" (two 16 kHz samples, RFC 3551
# §4.5.2: the clock rate is 8000 "for historical reasons"), so a 20 ms frame
# is 160 bytes and 160 timestamp units, exactly like G.711: the RTP sender,
# jitter buffer, RTCP and RFC 4733 events work unchanged in 8 kHz units.
# Only the PCM side is wider: encode() takes 320 samples (640 bytes) at
# 16 kHz for its 160 bytes and decode() gives 320 back.
#
# The codec is stateful (two ADPCM predictors and the QMF delay lines), so
# each MediaSession owns one Codec whose state arrays are made once and
# reset() per stream. The kernels are native viper (media/_g722_viper.py)
# when that imports and passes the self-check below, else the pure Python
# twins (media/_g722_py.py), which are bit-exact with the spandsp/libg722
# reference every softphone uses.
#
# Delay: the QMF analysis and synthesis filters (24 taps each) delay the
# audio by 22 samples at 16 kHz (1.375 ms); host_tests/core/test_media_g722.py
# measures it.

from array import array

from intercom.media import _g722_tables as _t

IMPLEMENTATION = "python"
PAYLOAD_TYPE = 9
# The code the decoder turns into silence: low-band index 60 and high-band 3
# decode to differences that let both predictors decay to 0 (from a loud
# signal: below -50 dBFS within one 20 ms frame). Not what the encoder
# emits for digital silence (an idle pattern around 0xFA, which decodes
# to a DC offset).
SILENCE = 0xFC

# For the jitter buffer's concealment (media/playout.py). G.722 bytes are
# ADPCM codes, not samples: no byte map halves their level, so "fade" maps
# every code to the silence code (a lost frame is repeated once, then the
# decoder is fed silence and its predictors decay), and no code is "quiet"
# by itself (skip/insert wait for the window instead of a quiet frame).
FADE = bytes([SILENCE]) * 256
LEVEL = b"\x7f" * 256

# The pure kernels' output for _exercise (checked by test_media_g722.py).
_SELF_CHECK = b" \x84 \x86%\x84\xb5\x9e\t\x00\x8b\xfe\xf0\xff\x0b\x03"


def _exercise(k):
    # Both kernels once over a loud square wave and back: 8 codes, 4 samples.
    st = array("h", bytes(2 * _t.STATE_LEN))
    _t.reset(st)
    pcm = bytes((0x00, 0x80, 0xff, 0x7f) * 8)
    codes = bytearray(8)
    k.encode(st, pcm, codes, 8)
    _t.reset(st)
    out = bytearray(32)
    k.decode(st, codes, out, 8)
    return bytes(codes) + bytes(out[24:])


# The native kernels when they import and pass the self-check; otherwise
# the pure ones, which are then the only ones loaded.
_k = None
try:
    from intercom.media import _g722_viper
    if _exercise(_g722_viper) == _SELF_CHECK:
        _k = _g722_viper
        IMPLEMENTATION = "viper"
except Exception:  # noqa: BLE001 - ImportError, SyntaxError, ViperTypeError...: keep pure
    pass
if _k is None:
    from intercom.media import _g722_py as _k


class Codec:
    """G.722 for one stream: the same interface as g711.Codec (name,
    payload_type, silence, fade, level, encode(src, dst, n),
    decode(src, dst, n) with n in bytes = 8 kHz timestamp units) plus
    `wideband` and reset(). encode reads 2*n samples at 16 kHz, decode
    writes 2*n. State lives in two preallocated arrays: no allocation per
    frame."""

    name = "G722"
    payload_type = PAYLOAD_TYPE
    silence = SILENCE
    fade = FADE
    level = LEVEL
    wideband = True
    rate = 16000

    def __init__(self):
        self.enc_state = array("h", bytes(2 * _t.STATE_LEN))
        self.dec_state = array("h", bytes(2 * _t.STATE_LEN))
        self._enc = _k.encode
        self._dec = _k.decode
        self.reset()

    def reset(self):
        """A new stream: both sides start from the ITU-T reset state."""
        _t.reset(self.enc_state)
        _t.reset(self.dec_state)

    def encode(self, src, dst, n):
        """Encode 2*n int16 LE samples (16 kHz) from src into n bytes of dst."""
        self._enc(self.enc_state, src, dst, n)

    def decode(self, src, dst, n):
        """Decode n G.722 bytes from src into 2*n int16 LE samples (16 kHz) in dst."""
        self._dec(self.dec_state, src, dst, n)
