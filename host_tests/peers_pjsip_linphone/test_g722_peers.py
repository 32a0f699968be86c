"""G.722 with PJSIP (pjsua2) and linphone (linphonec): both negotiate it with the door (RFC 3551 §4.5.2), audio flows.

The door lists G.722 first; each peer offers or answers G.722 (PT 9,
G722/8000) and a 1 kHz tone crosses both ways over it (the peers' own
audio runs at 8 kHz here: WAV files through their conference bridges).
With pjsua limited to G.711 the same call setup falls back to PCMU.
"""

import os
import time

import pytest

from _rig import (ENDED, HOST, USERS, Linphone, Rig, connect_linphone, connect_pjsua,  # noqa: F401
                  rig_fixture, tone_check, write_tone)

SIM_TONE_HZ = 1000
PEER_TONE_HZ = 1200
CALL_SECONDS = 3.0


rig = rig_fixture(lambda tmp_path: Rig(tmp_path, "kamailio"))


# linphone ships G.722 disabled: its codec list in linphonerc turns it on
# (mediastreamer names it at its RTP clock, 8000), G.711 after it
LINPHONE_CODECS = """
[audio_codec_0]
mime=G722
rate=8000
channels=1
enable=1
[audio_codec_1]
mime=PCMU
rate=8000
channels=1
enable=1
"""


def wideband_linphone(rig, tmp_path):
    lin = Linphone(rig.ports, str(tmp_path / "linphone-g722"))
    with open(lin.rc, "a") as f:
        f.write(LINPHONE_CODECS)
    rig.peers.append(lin)
    lin.start()
    lin.register(rig.kamailio.port, USERS["lin"])
    return lin


def media(sim):
    return [e for e in sim.events if e["event"] == "media"][-1]


def _pjsua_log(pj):
    try:
        with open(os.path.join(pj.workdir, "pjsua.log"), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


@pytest.mark.parametrize("sim_calls,runtime", [(True, "micropython"), (False, "cpython")],
                         ids=["door-calls-pjsua-micropython", "pjsua-calls-door-cpython"])
def test_pjsip_negotiates_g722_with_the_door_tone_both_ways(rig, tmp_path, sim_calls, runtime):
    sim_tone = write_tone(tmp_path / "sim-tone.wav", 16000, ((SIM_TONE_HZ, 12000),))
    peer_tone = write_tone(tmp_path / "peer-tone.wav", 8000, ((PEER_TONE_HZ, 12000),),
                           seconds=CALL_SECONDS + 3)
    sim_heard = tmp_path / "sim-speaker.wav"
    peer_heard = tmp_path / "pjsua-heard.wav"
    sim = rig.sim(runtime, auto_answer=not sim_calls, mic=sim_tone, speaker=sim_heard,
                  codecs=["G722", "PCMU"])
    pj = rig.pjsua(play=peer_tone, record=peer_heard, codecs=["PCMU/8000/1", "G722/16000/1"])
    connect_pjsua(rig, sim, pj, sim_calls)
    time.sleep(CALL_SECONDS)
    sim.send("hangup")
    sim.wait_event("call", 6, state="ended")
    pj.wait_event("call", 5, state="DISCONNECTED")
    assert sim.quit(10) == 0, rig.report()
    assert pj.quit(10) == 0, rig.report()
    m = media(sim)
    # pjsua lists PCMU first: as answerer the door still takes G.722 (its own
    # list order); as offerer it offers G.722 first and pjsua accepts it
    print("pjsip %s %s: door negotiated %s on %d" % ("door->pjsua" if sim_calls else "pjsua->door",
                                                     runtime, m["codec"], m["pt"]))
    assert m["codec"] == "G722" and m["pt"] == 9, rig.report()
    assert "G722" in _pjsua_log(pj), rig.report()
    ok1, t1, _ = tone_check("door hears pjsua over G.722 (%d Hz)" % PEER_TONE_HZ, sim_heard, PEER_TONE_HZ)
    ok2, t2, _ = tone_check("pjsua hears the door over G.722 (%d Hz)" % SIM_TONE_HZ, peer_heard, SIM_TONE_HZ)
    print(t1)
    print(t2)
    assert ok1 and ok2, "%s\n%s\n%s" % (t1, t2, rig.report())


def test_pjsip_without_g722_falls_back_to_pcmu(rig, tmp_path):
    sim = rig.sim("micropython", auto_answer=True, codecs=["G722", "PCMU"])
    pj = rig.pjsua(codecs=["PCMU/8000/1"])
    pj.send("dial " + rig.sim_uri(sim))
    sim.wait_event("call", 8, state="connected")
    pj.wait_event("call", 5, state="CONFIRMED")
    assert media(sim)["codec"] == "PCMU", rig.report()
    pj.send("hangup")
    sim.wait_event("call", 6, state="ended")
    assert sim.quit(10) == 0, rig.report()


@pytest.mark.parametrize("sim_calls", [True, False], ids=["door-calls-linphone", "linphone-calls-door"])
def test_linphone_negotiates_g722_with_the_door(rig, tmp_path, sim_calls):
    sim_tone = write_tone(tmp_path / "sim-tone.wav", 16000, ((SIM_TONE_HZ, 12000),))
    sim_heard = tmp_path / "sim-speaker.wav"
    sim = rig.sim("micropython", auto_answer=not sim_calls, mic=sim_tone, speaker=sim_heard,
                  codecs=["G722", "PCMU"])
    lin = wideband_linphone(rig, tmp_path)
    connect_linphone(rig, sim, lin, sim_calls)
    time.sleep(1.0)
    sim.send("hangup")
    sim.wait_event("call", 6, state="ended")
    lin.wait_line(ENDED, 5)
    assert sim.quit(10) == 0, rig.report()
    assert lin.quit(10) == 0, rig.report()
    m = media(sim)
    print("linphone %s: door negotiated %s on %d" % ("door->linphone" if sim_calls else "linphone->door",
                                                     m["codec"], m["pt"]))
    assert m["codec"] == "G722" and m["pt"] == 9, rig.report()
