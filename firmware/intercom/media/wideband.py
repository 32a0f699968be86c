"""Wideband (16 kHz) frames for G.722 calls (RFC 3551 §4.5.2): buffers, tones and device follow the stream."""

# Imported by AudioControl only when a stream is (or was) wideband, so a
# G.711-only device never loads it. Runs on call and media events, never in
# the 20 ms path: frame() only picks the buffers chosen here.

from intercom.media.tones import phase_increment


def sync(ac):
    """Frames at 16 kHz while ac's stream is wideband (G.722), else 8 kHz:
    the buffers (made once), both tone generators and the board's device
    (set_wideband, where it has one) follow."""
    session = ac.session
    wide = session.active and session.wideband
    if wide == ac.wide:
        return
    ac.wide = wide
    # the frames' views swap with the other rate's (kept here, on ac: a
    # G.711-only AudioControl has no such slot); made once, 20 ms at 16 kHz
    other = getattr(ac, "other_mv", None)
    if other is None:
        n = 4 * 160
        other = (memoryview(bytearray(n)), memoryview(bytearray(n)))
    ac.other_mv = (ac.mic_mv, ac.spk_mv)
    ac.mic_mv, ac.spk_mv = other
    rate = 16000 if wide else 8000
    retune(ac.speaker_tone, rate)
    retune(ac.line_tone, rate)
    device = getattr(ac.board, "audio", None)
    if device is not None and hasattr(device, "set_wideband"):
        device.set_wideband(wide)


def retune(gen, rate):
    """A ToneGenerator goes on at `rate` (8000 or 16000), mid-tone too: the
    cadence keeps its time (the segment's samples left scale with the rate)
    and the phase its place (the increments are recomputed)."""
    if rate not in (8000, 16000):
        raise ValueError("rate must be 8000 or 16000")
    if rate == gen.rate:
        return
    gen._left = gen._left * rate // gen.rate
    gen.rate = rate
    if gen.active:
        gen._i1 = phase_increment(gen._f1, rate)
        gen._i2 = phase_increment(gen._f2, rate)
