"""linphone 5.1 (Debian linphone-cli, linphonec) against the door, issue 10
item 9: peer to peer and through Kamailio, register, calls both ways with a
tone checked both ways (RFC 3550/3551 G.711), hold and resume both ways
(RFC 3264 section 8.4), the PIN by RFC 4733 digits, CANCEL (RFC 3261
section 9) and decline both ways.

The door is tools/sim (MicroPython unless a test says CPython); linphonec
runs with a per-test HOME and config, WAV files instead of a sound card (a
tone file played, what it hears recorded), driven by its command line.
"""

import os
import re
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _rig import (CALL_SECONDS, CONNECTED, ENDED, INCOMING, PEER_TONE_HZ, PIN, SIM_TONE_HZ, Rig,  # noqa: E402
                  connect_linphone, linphonec_binary, tone_check, write_tone)

MODES = ["p2p", "kamailio"]


@pytest.fixture
def make_rig(tmp_path):
    linphonec_binary()          # a missing peer: a failure under CI=true, else a skip
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
    peer_tone = write_tone(tmp_path / "peer-tone.wav", 8000, ((PEER_TONE_HZ, 12000),),
                           seconds=CALL_SECONDS + 5)
    sim_heard = tmp_path / "sim-speaker.wav"
    peer_heard = tmp_path / "linphone-heard.wav"
    sim = rig.sim(runtime, auto_answer=not sim_calls, mic=sim_tone, speaker=sim_heard)
    lin = rig.linphone(play=peer_tone, record=peer_heard)
    connect_linphone(rig, sim, lin, sim_calls)
    time.sleep(CALL_SECONDS + 1.0)      # + linphone's settling second
    if sim_calls:
        sim.send("hangup")
    else:
        lin.send("terminate")
    end = ended(sim)
    lin.wait_line(ENDED, 5)
    assert sim.quit(10) == 0, rig.report()
    assert lin.quit(10) == 0, rig.report()      # closes the recording
    ok1, t1, _ = tone_check("door hears linphone (%d Hz)" % PEER_TONE_HZ, sim_heard,
                            PEER_TONE_HZ)
    ok2, t2, _ = tone_check("linphone hears the door (%d Hz)" % SIM_TONE_HZ, peer_heard,
                            SIM_TONE_HZ, settle_s=1.0, stretching=True)
    print("linphone %s %s %s: %s | %s | door media %s" % (
        mode, "door->linphone" if sim_calls else "linphone->door", runtime, t1, t2,
        end.get("media")))
    assert ok1 and ok2, "%s\n%s\n%s" % (t1, t2, rig.report())


@pytest.mark.parametrize("mode", MODES)
def test_linphone_register_and_door_calls_linphone_tone_both_ways(make_rig, tmp_path, mode):
    _tone_call(make_rig, tmp_path, mode, True, "micropython")


@pytest.mark.parametrize("mode,runtime", [("p2p", "micropython"), ("kamailio", "micropython"),
                                          ("p2p", "cpython")])
def test_linphone_calls_door_tone_both_ways(make_rig, tmp_path, mode, runtime):
    _tone_call(make_rig, tmp_path, mode, False, runtime)


@pytest.mark.parametrize("mode", MODES)
def test_linphone_rfc3264_8_4_hold_and_resume_both_ways(make_rig, mode):
    rig = make_rig(mode)
    sim = rig.sim()
    lin = rig.linphone()
    connect_linphone(rig, sim, lin)
    # the door holds, then resumes: linphone sees itself paused by the door
    sim.send("hold")
    sim.wait_event("call", 5, state="on_hold")
    lin.wait_line(r"Call \d+ has been paused by", 5)
    sim.send("resume")
    sim.wait_event("call", 5, state="connected")
    lin.wait_line(r"Media streams established", 5)
    # linphone pauses, then resumes: the door reports remote_hold, then connected
    lin.send("pause")
    sim.wait_event("call", 5, state="remote_hold")
    lin.wait_line(r"Call \d+ .* is now paused", 5)
    lin.send("resume")
    sim.wait_event("call", 5, state="connected")
    lin.wait_line(r"Media streams established", 5)
    sim.send("hangup")
    ended(sim)
    lin.wait_line(ENDED, 5)
    assert sim.quit(10) == 0, rig.report()


@pytest.mark.parametrize("mode", MODES)
def test_linphone_rfc4733_pin_from_linphone_opens_the_door(make_rig, mode):
    rig = make_rig(mode)
    sim = rig.sim(auto_answer=True, pin=PIN)
    lin = rig.linphone()
    lin.send("call " + rig.sim_uri(sim))
    sim.wait_event("call", 8, state="connected")
    lin.wait_line(CONNECTED, 5)
    time.sleep(0.3)
    got = []
    try:
        for digit in PIN + "#":
            lin.send(digit)          # linphonec sends a line of DTMF characters as RFC 4733
            ev = sim.wait_event("dtmf", 4)
            got.append(ev.get("digit"))
        on = sim.wait_event("relay", 3, on=True)
    except AssertionError as e:
        raise AssertionError("door got digits %r of %r#: %s\n%s" % (got, PIN, e, rig.report()))
    print("linphone %s: digits %r, relay %r" % (mode, got, on))
    assert got == list(PIN + "#"), rig.report()
    lin.send("terminate")
    ended(sim)
    assert sim.quit(10) == 0, rig.report()


@pytest.mark.parametrize("mode", MODES)
def test_linphone_rfc3261_cancel_and_decline_both_ways(make_rig, mode):
    rig = make_rig(mode)
    sim = rig.sim()
    lin = rig.linphone()
    # 1. the door cancels its ringing call
    sim.send("dial " + rig.peer_uri(lin))
    lin.wait_line(INCOMING, 8)
    sim.wait_event("call", 5, state="ringing_out")
    sim.send("hangup")
    ended(sim)
    lin.wait_line(ENDED, 5)
    # 2. linphone declines the door's call
    sim.send("dial " + rig.peer_uri(lin))
    lin.wait_line(INCOMING, 8)
    sim.wait_event("call", 5, state="ringing_out")
    lin.send("terminate")
    ev = ended(sim)
    assert 400 <= (ev.get("status") or 0) < 700, (ev, rig.report())
    declined = ev.get("status")
    lin.wait_line(ENDED, 5)
    # 3. linphone cancels its ringing call to the door
    lin.send("call " + rig.sim_uri(sim))
    sim.wait_event("call", 8, state="incoming")
    lin.wait_line(r"Remote ringing|ringing", 5)
    lin.send("terminate")
    ended(sim)
    lin.wait_line(ENDED, 5)
    # 4. the door declines linphone's call
    lin.send("call " + rig.sim_uri(sim))
    sim.wait_event("call", 8, state="incoming")
    lin.wait_line(r"Remote ringing|ringing", 5)
    sim.send("hangup")
    ended(sim)
    line = lin.wait_line(ENDED, 5)
    print("linphone %s: linphone declined with %s; door's decline seen as %r"
          % (mode, declined, re.sub(r"\s+", " ", line)))
    assert sim.quit(10) == 0, rig.report()
    assert lin.quit(10) == 0, rig.report()
