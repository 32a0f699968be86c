"""Packetization end to end (RFC 3551 §4.5, RFC 4566 a=ptime): two tools/sim, one with media.ptime 30.

The door (media.ptime 20) calls a flat configured with media.ptime 30: the
door sends 30 ms packets (the flat's a=ptime), the flat 20 ms ones (the
door's); each side plays the other's tone from its 20 ms frames, recorded
to WAV and judged like test_audio_interop (frequency, SNR, no gap)."""

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import Sim  # noqa: E402
from test_audio_interop import (CALL_SECONDS, TONE_AMPLITUDE, Rig, analyse, assert_clean,  # noqa: E402
                                connect, ended, media_figures, sim_config, write_tone)

TONE_A = 1000
TONE_B = 1300


class PtimeRig(Rig):
    """Rig whose sims take a media.ptime."""

    def sim(self, user, runtime="micropython", auto_answer=False, mic=None, speaker=None, ptime=20):
        sip_port, rtp_port = self.net.sip(), self.net.rtp()
        workdir = self.tmp / ("sim-" + user)
        args = ["--mic", str(mic), "--speaker", str(speaker)]
        cfg = sim_config(user, sip_port, rtp_port, auto_answer)
        cfg["media"]["ptime"] = ptime
        sim = Sim(cfg, runtime=runtime, extra_args=args, workdir=str(workdir))
        sim.user, sim.sip_port, sim.rtp_port = user, sip_port, rtp_port
        self.sims.append(sim)
        sim.start()
        ready = sim.wait_event("ready", 15)
        assert ready.get("sip_port") == sip_port, ready
        return sim


@pytest.fixture
def prig(tmp_path):
    r = PtimeRig(tmp_path)
    try:
        yield r
    finally:
        r.close()


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_rfc4566_a_ptime_30_sim_and_20_sim_carry_tones_both_ways(prig, tmp_path, runtime):
    tone_a = write_tone(tmp_path / "a.wav", 8000, ((TONE_A, TONE_AMPLITUDE),), seconds=1.0)
    tone_b = write_tone(tmp_path / "b.wav", 8000, ((TONE_B, TONE_AMPLITUDE),), seconds=1.0)
    out_a, out_b = tmp_path / "a-speaker.wav", tmp_path / "b-speaker.wav"
    b = prig.sim("b", runtime, auto_answer=True, mic=tone_b, speaker=out_b, ptime=30)
    a = prig.sim("a", runtime, mic=tone_a, speaker=out_a, ptime=20)
    connect(prig, a, b)
    media_a = a.wait_event("media", 3, since=0)
    time.sleep(CALL_SECONDS)
    a.send("hangup")
    a_end = ended(a)
    b_end = ended(b)
    assert a.quit(10) == 0, a.describe()
    assert b.quit(10) == 0, b.describe()
    ctx = prig.report()
    assert media_a.get("ptime") == 30, media_a          # a sends what b's a=ptime asked for
    bm, btext = media_figures("B (30 ms a=ptime, receives A's 30 ms packets)", b_end)
    am, atext = media_figures("A (receives B's 20 ms packets)", a_end)
    assert_clean("B speaker (A's tone in 30 ms packets)", analyse(out_b, TONE_A), TONE_A, ctx)
    assert_clean("A speaker (B's tone in 20 ms packets)", analyse(out_a, TONE_B), TONE_B, ctx)
    # ~4 s of 30 ms packets from A, ~4 s of 20 ms packets from B, nothing lost
    assert bm.get("lost") == 0 and 100 <= bm.get("received", 0) <= am.get("packets_sent", 0) * 3 // 4 + 40, \
        btext + "\n" + atext + "\n" + ctx
    assert am.get("lost") == 0 and am.get("received", 0) >= 150, atext + "\n" + ctx
