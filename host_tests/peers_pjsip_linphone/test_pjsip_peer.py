"""PJSIP 2.15 (PyPI pjsua2-python) against the door, issue 10 item 9: peer to
peer and through Kamailio, register, calls both ways with a tone checked both
ways (RFC 3550/3551 G.711), hold and resume both ways (RFC 3264 section 8.4),
the PIN by RFC 4733 digits, CANCEL (RFC 3261 section 9) and decline both ways.

The door is tools/sim (MicroPython unless a test says CPython); pjsua runs in
pjsua_agent.py, a child process with the null sound device, a looped tone WAV
as its source and a WAV recording of what it hears.
"""

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _rig import (CALL_SECONDS, PEER_TONE_HZ, PIN, SIM_TONE_HZ, Rig, connect_pjsua,  # noqa: E402
                  tone_check, write_tone)

MODES = ["p2p", "kamailio"]


@pytest.fixture
def make_rig(tmp_path):
    made = []

    def make(mode):
        r = Rig(tmp_path, mode)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def ended(sim, timeout=6):
    return sim.wait_event("call", timeout, state="ended")


def _tone_call(make_rig, tmp_path, mode, sim_calls, runtime):
    rig = make_rig(mode)
    sim_tone = write_tone(tmp_path / "sim-tone.wav", 8000, ((SIM_TONE_HZ, 12000),))
    # longer than the call: pjmedia's WAV player puts a silent frame at each loop
    peer_tone = write_tone(tmp_path / "peer-tone.wav", 8000, ((PEER_TONE_HZ, 12000),),
                           seconds=CALL_SECONDS + 3)
    sim_heard = tmp_path / "sim-speaker.wav"
    peer_heard = tmp_path / "pjsua-heard.wav"
    sim = rig.sim(runtime, auto_answer=not sim_calls, mic=sim_tone, speaker=sim_heard)
    pj = rig.pjsua(play=peer_tone, record=peer_heard)
    connect_pjsua(rig, sim, pj, sim_calls)
    time.sleep(CALL_SECONDS)
    if sim_calls:
        sim.send("hangup")
    else:
        pj.send("hangup")
    end = ended(sim)
    pj.wait_event("call", 5, state="DISCONNECTED")
    assert sim.quit(10) == 0, rig.report()
    assert pj.quit(10) == 0, rig.report()      # closes the recording
    ok1, t1, snr1 = tone_check("door hears pjsua (%d Hz)" % PEER_TONE_HZ, sim_heard, PEER_TONE_HZ)
    ok2, t2, snr2 = tone_check("pjsua hears the door (%d Hz)" % SIM_TONE_HZ, peer_heard,
                               SIM_TONE_HZ)
    print("pjsip %s %s %s: %s | %s | door media %s" % (
        mode, "door->pjsua" if sim_calls else "pjsua->door", runtime, t1, t2, end.get("media")))
    assert ok1 and ok2, "%s\n%s\n%s" % (t1, t2, rig.report())


@pytest.mark.parametrize("mode", MODES)
def test_pjsip_register_and_door_calls_pjsua_tone_both_ways(make_rig, tmp_path, mode):
    _tone_call(make_rig, tmp_path, mode, True, "micropython")


@pytest.mark.parametrize("mode,runtime", [("p2p", "micropython"), ("kamailio", "micropython"),
                                          ("p2p", "cpython")])
def test_pjsip_pjsua_calls_door_tone_both_ways(make_rig, tmp_path, mode, runtime):
    _tone_call(make_rig, tmp_path, mode, False, runtime)


@pytest.mark.parametrize("mode", MODES)
def test_pjsip_rfc3264_8_4_hold_and_resume_both_ways(make_rig, mode):
    rig = make_rig(mode)
    sim = rig.sim()
    pj = rig.pjsua()
    connect_pjsua(rig, sim, pj)
    # the door holds: pjsua sees its media put on hold by the remote, then back
    sim.send("hold")
    sim.wait_event("call", 5, state="on_hold")
    pj.wait_event("media", 5, status="remote_hold")
    sim.send("resume")
    sim.wait_event("call", 5, state="connected")
    pj.wait_event("media", 5, status="active")
    # pjsua holds: the door reports remote_hold, then connected again
    pj.send("hold")
    sim.wait_event("call", 5, state="remote_hold")
    pj.wait_event("media", 5, status="local_hold")
    pj.send("resume")
    sim.wait_event("call", 5, state="connected")
    pj.wait_event("media", 5, status="active")
    sim.send("hangup")
    ended(sim)
    pj.wait_event("call", 5, state="DISCONNECTED")
    assert sim.quit(10) == 0, rig.report()


@pytest.mark.parametrize("mode", MODES)
def test_pjsip_rfc4733_pin_from_pjsua_opens_the_door(make_rig, mode):
    """pjsua offers telephone-event on payload type 120: the door must
    receive the digits on the number pjsua sends them on."""
    rig = make_rig(mode)
    sim = rig.sim(auto_answer=True, pin=PIN)
    pj = rig.pjsua()
    pj.send("dial " + rig.sim_uri(sim))
    sim.wait_event("call", 8, state="connected")
    pj.wait_event("call", 5, state="CONFIRMED")
    time.sleep(0.3)
    pj.send("dtmf %s#" % PIN)
    got = []
    try:
        for _ in PIN + "#":
            ev = sim.wait_event("dtmf", 4)
            got.append(ev.get("digit"))
        on = sim.wait_event("relay", 3, on=True)
    except AssertionError as e:
        raise AssertionError("door got digits %r of %r#: %s\n%s" % (got, PIN, e, rig.report()))
    print("pjsip %s: digits %r, relay %r" % (mode, got, on))
    assert got == list(PIN + "#"), rig.report()
    pj.send("hangup")
    ended(sim)
    assert sim.quit(10) == 0, rig.report()


@pytest.mark.parametrize("mode", MODES)
def test_pjsip_rfc3261_cancel_and_decline_both_ways(make_rig, mode):
    rig = make_rig(mode)
    sim = rig.sim()
    pj = rig.pjsua()
    # 1. the door cancels its ringing call (CANCEL, pjsua answers 487)
    sim.send("dial " + rig.peer_uri(pj))
    pj.wait_event("call", 8, state="INCOMING")
    sim.wait_event("call", 5, state="ringing_out")
    sim.send("hangup")
    ev = ended(sim)
    pj_end = pj.wait_event("call", 5, state="DISCONNECTED")
    assert pj_end.get("status") == 487, (pj_end, rig.report())
    # 2. pjsua declines the door's call (603)
    sim.send("dial " + rig.peer_uri(pj))
    pj.wait_event("call", 8, state="INCOMING")
    sim.wait_event("call", 5, state="ringing_out")
    pj.send("decline")
    ev = ended(sim)
    assert ev.get("status") == 603, (ev, rig.report())
    pj.wait_event("call", 5, state="DISCONNECTED")
    # 3. pjsua cancels its ringing call to the door
    pj.send("dial " + rig.sim_uri(sim))
    sim.wait_event("call", 8, state="incoming")
    pj.wait_event("call", 5, state="EARLY")
    pj.send("hangup")
    ev = ended(sim)
    pj_end = pj.wait_event("call", 5, state="DISCONNECTED")
    assert pj_end.get("status") == 487, (pj_end, rig.report())
    # 4. the door declines pjsua's call
    pj.send("dial " + rig.sim_uri(sim))
    sim.wait_event("call", 8, state="incoming")
    pj.wait_event("call", 5, state="EARLY")
    sim.send("hangup")
    ended(sim)
    pj_end = pj.wait_event("call", 5, state="DISCONNECTED")
    assert 400 <= pj_end.get("status", 0) < 700, (pj_end, rig.report())
    print("pjsip %s: door declined with %s %s" % (mode, pj_end.get("status"),
                                                  pj_end.get("reason")))
    assert sim.quit(10) == 0, rig.report()
    assert pj.quit(10) == 0, rig.report()
