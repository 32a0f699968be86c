"""G.722 wideband against real peers (RFC 3551 §4.5.2): a 6 kHz tone, which G.711 cannot carry, both ways.

baresip (Debian baresip-core, its g722 module) registered at Kamailio calls
the sim and is called by it through Kamailio, under both runtimes: the
sim's 16 kHz microphone WAV reaches baresip's decoder, baresip's ausine
reaches the sim's 16 kHz speaker WAV, each at 6 kHz with SNR >= 20 dB. A
baresip without G.722 falls back to G.711 in the same call setup. Two sims
(one per runtime) carry it to each other too. The measured figures are
printed (pytest -s).
"""

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import HOST, Baresip, Kamailio, Sim, rig_fixture  # noqa: E402
from test_audio_interop import (  # noqa: E402
    AudioBaresip, Net, analyse, figures, media_figures, write_baresip_config, write_tone)

WIDE_HZ = 6000              # above G.711's 3.4 kHz: only a wideband path carries it
WIDE_AMPLITUDE = 10000      # about -10 dBFS
MIN_SNR_DB = 20.0           # G.722's 2-bit upper band gives ~27 dB at 6 kHz (test_media_g722.py)
CALL_SECONDS = 4.0
USERS = {"door": "doorsecret", "bob": "bobsecret"}

class WideBaresip(AudioBaresip):
    """baresip registered as bob at Kamailio, auto-answering, with a 6 kHz
    ausine source and a recording of what it decodes (sndfile). `codecs`
    is its audio_codecs list: G722 first, or G.711 only (no g722 module)."""

    def __init__(self, net, workdir, registrar_port, codecs=("G722",)):
        Baresip.__init__(self, "bob", USERS["bob"], registrar_port, sip_port=net.baresip_sip(), workdir=workdir)
        modules = ["g711"]
        if "G722" in codecs:
            if not os.path.exists("/usr/lib/baresip/modules/g722.so"):
                if os.environ.get("CI") == "true":
                    pytest.fail("baresip's g722 module is missing (apt-get install baresip-core)")
                pytest.skip("baresip's g722 module is missing")
            modules.insert(0, "g722")
        write_baresip_config(self, net.baresip_rtp(), WIDE_HZ, modules)
        with open(os.path.join(self.workdir, "accounts"), "w") as f:
            f.write("<sip:bob@%s:%d;transport=udp>;auth_pass=%s;answermode=auto;regint=60;"
                    "audio_codecs=%s\n" % (HOST, registrar_port, USERS["bob"], ",".join(codecs)))


class WideRig:
    """Kamailio, the sims and baresips of one test, stopped by PID at the end."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.net = Net()
        self.kamailio = None
        self.procs = []

    def start_kamailio(self):
        self.kamailio = Kamailio(USERS, workdir=str(self.tmp / "kamailio")).start()
        self.procs.append(self.kamailio)

    def sim(self, user, runtime, codecs, mic=None, speaker=None, auto_answer=False, registered=True):
        sip_port, rtp_port = self.net.sip(), self.net.rtp()
        if registered:
            sip = {"registrar": HOST, "port": self.kamailio.port, "user": user, "password": USERS[user],
                   "expires": 60, "local_port": sip_port}
            accept = "registrar"
        else:
            sip = {"registrar": "", "user": user, "local_port": sip_port}
            accept = [HOST]
        cfg = {"board": "host", "sip": sip, "media": {"rtp_port": rtp_port, "codecs": list(codecs)},
               "calls": {"targets": [], "ring_timeout": 30, "auto_answer": auto_answer,
                         "accept_from": accept}}
        args = []
        if mic:
            args += ["--mic", str(mic)]
        if speaker:
            args += ["--speaker", str(speaker)]
        sim = Sim(cfg, runtime=runtime, extra_args=args, workdir=str(self.tmp / ("sim-" + user + runtime)))
        sim.user, sim.sip_port = user, sip_port
        self.procs.append(sim)
        sim.start()
        sim.wait_event("ready", 15)
        if registered:
            sim.wait_event("registered", 8)
        return sim

    def baresip(self, codecs=("G722",)):
        b = WideBaresip(self.net, str(self.tmp / "baresip"), self.kamailio.port, codecs)
        self.procs.append(b)
        b.start()
        b.wait_registered(5)
        return b

    def report(self):
        return "\n".join(p.describe() for p in self.procs if hasattr(p, "describe"))

    def close(self):
        for p in reversed(self.procs):
            p.stop()


wrig = rig_fixture(WideRig)


def wide_tone(tmp_path):
    return write_tone(tmp_path / "tone6k.wav", 16000, ((WIDE_HZ, WIDE_AMPLITUDE),))


def assert_wide(label, path, ctx):
    res = analyse(path, WIDE_HZ)
    text = figures(label, res)
    print(text)
    assert "error" not in res, text + "\n" + ctx
    assert res["rate"] == 16000, text + "\n" + ctx
    assert res["worst_peak_error_hz"] <= 10, text + "\n" + ctx
    assert res["min_snr_db"] >= MIN_SNR_DB, text + "\n" + ctx
    return res


def media_event(sim):
    return [e for e in sim.events if e["event"] == "media"][-1]


def call_and_check(wrig, tmp_path, runtime, sim_calls):
    speaker = tmp_path / "sim-speaker.wav"
    sim = wrig.sim("door", runtime, ["G722", "PCMU"], mic=wide_tone(tmp_path), speaker=speaker,
                   auto_answer=not sim_calls)
    bob = wrig.baresip()
    if sim_calls:
        sim.send("dial sip:bob@%s:%d" % (HOST, wrig.kamailio.port))
    else:
        bob.command("dial", "sip:door@%s:%d" % (HOST, wrig.kamailio.port))
    sim.wait_event("call", 10, state="connected")
    bob.wait_event("CALL_ESTABLISHED", 5)
    time.sleep(CALL_SECONDS)
    if sim_calls:
        sim.send("hangup")
    else:
        bob.command("hangup")
    end = sim.wait_event("call", 5, state="ended")
    bob.wait_event("CALL_CLOSED", 5)
    assert sim.quit(10) == 0, sim.describe()
    bob.stop()          # closes the WAV dumps
    ctx = wrig.report()
    media = media_event(sim)
    print("runtime %s, %s; negotiated %s on %d (telephone-event %s)" % (
        runtime, "sim calls baresip" if sim_calls else "baresip calls sim", media["codec"], media["pt"],
        media.get("dtmf_pt")))
    assert media["codec"] == "G722" and media["pt"] == 9, ctx
    m, text = media_figures("sim", end)
    assert_wide("sim speaker (baresip ausine %d Hz over G.722)" % WIDE_HZ, speaker, ctx)
    assert_wide("baresip decoded (sim mic %d Hz over G.722)" % WIDE_HZ, bob.recording(), ctx)
    assert m.get("received", 0) >= 150 and m.get("lost", 1) == 0, text + "\n" + ctx
    invites = [r for r in wrig.kamailio.requests("INVITE") if not r["totag"]]
    assert invites, "the call did not go through Kamailio\n" + ctx


RUNTIMES = ["micropython", "cpython"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_sim_calls_baresip_g722_via_kamailio_6khz_both_ways(wrig, tmp_path, runtime):
    wrig.start_kamailio()
    call_and_check(wrig, tmp_path, runtime, sim_calls=True)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_baresip_calls_sim_g722_via_kamailio_6khz_both_ways(wrig, tmp_path, runtime):
    wrig.start_kamailio()
    call_and_check(wrig, tmp_path, runtime, sim_calls=False)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_baresip_without_g722_falls_back_to_g711_via_kamailio(wrig, tmp_path, runtime):
    # the sim lists G.722 first; this baresip has only PCMU/PCMA, both ways
    wrig.start_kamailio()
    sim = wrig.sim("door", runtime, ["G722", "PCMU"], auto_answer=True)
    bob = wrig.baresip(codecs=("PCMU", "PCMA"))
    bob.command("dial", "sip:door@%s:%d" % (HOST, wrig.kamailio.port))
    sim.wait_event("call", 10, state="connected")
    bob.wait_event("CALL_ESTABLISHED", 5)
    assert media_event(sim)["codec"] == "PCMU", wrig.report()
    bob.command("hangup")
    sim.wait_event("call", 5, state="ended")
    bob.wait_event("CALL_CLOSED", 5)
    sim.send("dial sip:bob@%s:%d" % (HOST, wrig.kamailio.port))
    sim.wait_event("call", 10, state="connected")
    bob.wait_event("CALL_ESTABLISHED", 5)
    codec = media_event(sim)["codec"]
    sim.send("hangup")
    sim.wait_event("call", 5, state="ended")
    assert codec == "PCMU", wrig.report()
    assert sim.quit(10) == 0, sim.describe()


def test_two_sims_carry_6khz_over_g722_across_runtimes(wrig, tmp_path):
    # a CPython door with a 16 kHz mic calls a MicroPython flat that records
    # at 16 kHz, and the flat's 16 kHz mic comes back to the door's speaker
    a_spk, b_spk = tmp_path / "a-speaker.wav", tmp_path / "b-speaker.wav"
    tone = wide_tone(tmp_path)
    b = wrig.sim("bob", "micropython", ["G722", "PCMA"], mic=tone, speaker=b_spk, auto_answer=True,
                 registered=False)
    a = wrig.sim("door", "cpython", ["G722", "PCMU"], mic=tone, speaker=a_spk, registered=False)
    a.send("dial sip:bob@%s:%d" % (HOST, b.sip_port))
    a.wait_event("call", 8, state="connected")
    b.wait_event("call", 3, state="connected")
    time.sleep(CALL_SECONDS)
    a.send("hangup")
    a.wait_event("call", 5, state="ended")
    b.wait_event("call", 5, state="ended")
    assert a.quit(10) == 0 and b.quit(10) == 0, wrig.report()
    ctx = wrig.report()
    assert media_event(a)["codec"] == "G722" and media_event(b)["codec"] == "G722", ctx
    assert_wide("micropython flat's speaker (cpython door's mic)", b_spk, ctx)
    assert_wide("cpython door's speaker (micropython flat's mic)", a_spk, ctx)
