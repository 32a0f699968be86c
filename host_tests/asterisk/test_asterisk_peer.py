"""Asterisk 22 as a real PBX (issue 10, item 9): the door registers with digest auth, calls and is called
with RTP anchored by Asterisk (direct_media=no), hears its own tone from Echo(), plays early media from
Progress()+Playback(), is opened by SendDTMF() (RFC 4733), holds and resumes, and is forwarded around
on busy and no answer by the dialplan; a wide codec list (opus, g722, gsm, alaw, ulaw) is offered.

One Asterisk per module (pbx.py: chroot into the cached Debian sid root
filesystem inside `unshare -n -m`); the sims join its network namespace with
nsenter. Every wait is bounded; every process is stopped by its PID. The
measured figures are printed (pytest -s or -rP) for the issue's peer matrix.
"""

import os
import re
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "interop"))
import pbx  # noqa: E402
from peers import Sim, free_udp_ports  # noqa: E402
from test_audio_interop import (  # noqa: E402
    FRAME, FREQ_TOLERANCE_HZ, TONE_HZ, analyse, assert_clean, figures, media_figures, read_wav,
    spectrum, write_tone)

RUNTIMES = ["micropython", "cpython"]
HOST = "127.0.0.1"           # Asterisk's loopback, inside its namespace
CALL_SECONDS = 3.0
ORIGINATE_MIN_SNR_DB = 20.0   # through Asterisk's opus transcoding (see the test)


@pytest.fixture(scope="module")
def asterisk(tmp_path_factory):
    a = pbx.Asterisk(workdir=str(tmp_path_factory.mktemp("asterisk")))
    a.start()
    try:
        yield a
    finally:
        a.stop()


class Rig:
    """The sims of one test, inside Asterisk's namespace, stopped by PID at the end."""

    def __init__(self, pbx_, tmp_path):
        self.pbx = pbx_
        self.tmp = tmp_path
        self.sims = []

    def sim(self, user, runtime, auto_answer=False, door=None, mic=None, speaker=None):
        # Ports free on the host are free in the namespace too: only Asterisk
        # binds there (5060 and its RTP range 20000-20999, below these).
        sip_port, rtp_port = free_udp_ports(1)[0], free_udp_ports(1, spacing=2, even=True)[0]
        cfg = {
            "board": "host",
            "sip": {"registrar": HOST, "port": self.pbx.port, "user": user,
                    "password": pbx.USERS[user], "expires": 60, "local_port": sip_port},
            "media": {"rtp_port": rtp_port, "codecs": ["PCMU", "PCMA"]},
            "calls": {"targets": [], "ring_timeout": 30, "auto_answer": auto_answer,
                      "accept_from": "registrar"},
        }
        if door is not None:
            cfg["door"] = door
        workdir = self.tmp / ("sim-" + user)
        args = ["--pcap", str(workdir / "sip.pcap")]
        if mic:
            args += ["--mic", str(mic)]
        if speaker:
            args += ["--speaker", str(speaker)]
        sim = Sim(cfg, runtime=runtime, extra_args=args, workdir=str(workdir))
        sim.cmd = self.pbx.nsenter() + sim.cmd
        sim.user = user
        self.sims.append(sim)
        sim.start()
        sim.wait_event("ready", 20)
        sim.wait_event("registered", 8)
        return sim

    def report(self):
        return "\n".join([s.describe() for s in self.sims] + [self.pbx.describe()])

    def close(self):
        for s in self.sims:
            s.stop()


@pytest.fixture
def rig(asterisk, tmp_path):
    r = Rig(asterisk, tmp_path)
    try:
        yield r
    finally:
        r.close()


def ext(number):
    return "sip:%s@%s:%d" % (number, HOST, pbx.SIP_PORT)


def contact_status(asterisk, aor):
    """The Status column of `pjsip show contacts` for aor (Avail once qualify OPTIONS are answered)."""
    out = asterisk.rx("pjsip show contacts")
    m = re.search(r"Contact:\s+%s/\S+\s+\S+\s+(\S+)\s+(\S+)" % re.escape(aor), out)
    return (m.group(1), m.group(2)) if m else (None, out)


def wait_for(pred, timeout, step=0.2):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def quit_all(rig):
    for s in rig.sims:
        assert s.quit(10) == 0, s.describe()


# -- registration and qualify ----------------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_asterisk_registers_door_with_digest_auth_and_qualify_options(rig, asterisk, runtime):
    door = rig.sim("door", runtime)
    # qualify_frequency=2: Asterisk sends OPTIONS to the contact; Avail means the door answered
    status = wait_for(lambda: contact_status(asterisk, "door")[0] == "Avail", 8)
    st = contact_status(asterisk, "door")
    print("%s: contact %s, qualify RTT %s ms" % (runtime, st[0], st[1]))
    assert status, "door contact not Avail: %s\n%s" % (st, rig.report())
    assert door.quit(10) == 0, door.describe()
    # the door unregisters on quit: its contact is gone
    assert wait_for(lambda: contact_status(asterisk, "door")[0] is None, 5), rig.report()


# -- Echo(): the door hears its own tone through Asterisk -------------------------------


def echo_call(rig, runtime, tmp_path):
    tone = write_tone(tmp_path / "tone.wav", 8000)
    speaker = tmp_path / "door-speaker.wav"
    door = rig.sim("door", runtime, mic=tone, speaker=speaker)
    door.send("dial " + ext(600))
    door.wait_event("call", 8, state="connected")
    return door, speaker


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_asterisk_echo_returns_the_door_tone(rig, asterisk, runtime, tmp_path):
    door, speaker = echo_call(rig, runtime, tmp_path)
    channels = asterisk.rx("core show channels concise")
    time.sleep(CALL_SECONDS)
    door.send("hangup")
    end = door.wait_event("call", 5, state="ended")
    quit_all(rig)
    print("%s: Echo() via Asterisk, channels: %s" % (runtime, channels.strip().splitlines()[-1:]))
    m, text = media_figures("door (hears its echo)", end)
    assert_clean("door speaker (echo of its %d Hz)" % TONE_HZ, analyse(speaker, TONE_HZ), TONE_HZ,
                 rig.report())
    assert m.get("received", 0) >= 100, text


# -- early media: Progress() + Playback() ------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_asterisk_early_media_from_progress_and_playback_reaches_the_speaker(rig, runtime, tmp_path):
    speaker = tmp_path / "door-speaker.wav"
    door = rig.sim("door", runtime, speaker=speaker)
    door.send("dial " + ext(601))
    ring = door.wait_event("call", 8, state="ringing_out", early_media=True)
    time.sleep(CALL_SECONDS)
    door.send("hangup")             # CANCEL: the call was never answered
    end = door.wait_event("call", 5, state="ended")
    quit_all(rig)
    assert not [e for e in door.events if e.get("state") == "connected"], door.describe()
    res = analyse(speaker, 1000)
    print("%s: early media: %s; ended %s; speaker %s" % (
        runtime, ring, end.get("reason"), res.get("rms", res.get("error"))))
    # tt-monkeys is speech-like, not a tone: only its presence is judged
    assert "error" not in res and res["audio_s"] >= 1.0, figures("early media", res) + rig.report()


# -- Asterisk calls the door -------------------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_asterisk_originated_call_is_answered_by_the_door(rig, asterisk, runtime, tmp_path):
    tone = write_tone(tmp_path / "tone.wav", 8000)
    speaker = tmp_path / "door-speaker.wav"
    door = rig.sim("door", runtime, auto_answer=True, mic=tone, speaker=speaker)
    out = asterisk.rx("channel originate PJSIP/door extension echo@to-door")
    door.wait_event("call", 8, state="incoming")
    door.wait_event("call", 5, state="connected")
    time.sleep(CALL_SECONDS)
    door.send("hangup")
    end = door.wait_event("call", 5, state="ended")
    quit_all(rig)
    media_figures("door (answered Asterisk)", end)
    # `channel originate` gives the Asterisk side opus as read/write format
    # (the best of allow=), so Echo() runs alaw -> opus -> alaw: the echo comes
    # back at ~28 dB SNR instead of G.711's ~49 dB. The door's own path is
    # proved clean by the Echo() test above; here the tone and no gap are judged.
    res = analyse(speaker, TONE_HZ)
    text = figures("door speaker (Asterisk Echo of its %d Hz via opus)" % TONE_HZ, res)
    print(text)
    ctx = "%s\n%s\n%s" % (text, out, rig.report())
    assert "error" not in res and res["worst_peak_error_hz"] <= FREQ_TOLERANCE_HZ, ctx
    assert res["min_snr_db"] >= ORIGINATE_MIN_SNR_DB and res["longest_silence"] <= FRAME, ctx


# -- SendDTMF(1234#) opens the door ------------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_asterisk_senddtmf_opens_the_door_relay(rig, asterisk, runtime):
    # Asterisk offers opus first, so its telephone-event comes as 101/48000
    # and 102/8000: the door must receive on the number of its own answer and
    # send on Asterisk's (issue 10, item 1); otherwise every digit is dropped.
    door = rig.sim("door", runtime, auto_answer=True,
                   door={"pin": "1234", "pulse_ms": 500, "max_attempts": 3, "lockout_s": 60})
    asterisk.rx("channel originate PJSIP/door extension dtmf@to-door")
    door.wait_event("call", 8, state="connected")
    try:
        digits = [door.wait_event("dtmf", 6)["digit"] for _ in "1234#"]
        door.wait_event("relay", 3, on=True)
    finally:
        door.wait_event("call", 10, state="ended")
        quit_all(rig)
    assert digits == list("1234#"), door.describe()


# -- hold and resume by the door -----------------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_asterisk_door_holds_and_resumes(rig, asterisk, runtime, tmp_path):
    door, speaker = echo_call(rig, runtime, tmp_path)
    time.sleep(1.0)
    door.send("hold")
    door.wait_event("call", 5, state="on_hold")
    held = asterisk.rx("core show channels concise")
    time.sleep(1.0)
    door.send("resume")
    door.wait_event("call", 5, state="connected")
    time.sleep(CALL_SECONDS)
    door.send("hangup")
    end = door.wait_event("call", 5, state="ended")
    quit_all(rig)
    print("%s: while held: %s" % (runtime, held.strip().splitlines()[-1:]))
    media_figures("door (hold, resume)", end)
    # after resume the echo comes back: the last second before the hangup
    # (well after the resume) carries the tone cleanly again
    res = analyse(speaker, TONE_HZ)
    print(figures("door speaker over the whole call", res))
    assert "error" not in res and res["call_end_s"] >= res["call_start_s"] + 4.0, (
        figures("echo", res) + "\n" + rig.report())
    rate, samples = read_wav(speaker)
    end = int(res["call_end_s"] * rate) - rate // 5
    peak, snr, _ = spectrum(samples[end - 8192:end], rate, TONE_HZ)
    print("%s: after resume: %.2f Hz at %.1f dB SNR" % (runtime, peak, snr))
    assert abs(peak - TONE_HZ) <= FREQ_TOLERANCE_HZ and snr >= 30.0, (
        "after resume: %.2f Hz, %.1f dB\n%s" % (peak, snr, rig.report()))


# -- forwarding on busy and no answer (the dialplan's Dial + DIALSTATUS) -------------------


@pytest.mark.parametrize("case", ["noanswer", "busy"])
def test_asterisk_forwards_to_the_phone_on_busy_and_no_answer(rig, asterisk, case):
    door = rig.sim("door", "micropython")
    phone = rig.sim("phone", "cpython", auto_answer=True)
    if case == "busy":
        door.send("dial " + ext(600))          # the door is in a call: the next one gets 486
        door.wait_event("call", 8, state="connected")
    asterisk.rx("channel originate Local/800@from-phone application Wait 6")
    if case == "noanswer":
        door.wait_event("call", 8, state="incoming")
        door.wait_event("call", 8, state="ended")   # Dial(PJSIP/door,4) gives up: CANCEL
    phone.wait_event("call", 10, state="incoming")
    phone.wait_event("call", 5, state="connected")
    phone.wait_event("call", 10, state="ended")
    want = "FORWARD dialstatus=%s" % case.upper()
    log = asterisk.messages()
    if case == "busy":
        door.send("hangup")
        door.wait_event("call", 5, state="ended")
    quit_all(rig)
    assert want in log, "%r not in Asterisk's log\n%s" % (want, rig.report())


# -- an unsolicited NOTIFY (pjsip send notify) gets a final response ----------------------


def test_asterisk_unsolicited_notify_is_answered_and_the_door_stays_registered(rig, asterisk):
    door = rig.sim("door", "micropython")
    asterisk.rx("pjsip set logger on")
    try:
        out = asterisk.rx("pjsip send notify check-sync endpoint door")
        answered = wait_for(lambda: re.search(
            r"Received SIP response[^\n]*\n(SIP/2\.0 (\d{3})[^\n]*)\n(?:[^\n]+\n)*?CSeq: \d+ NOTIFY",
            asterisk.messages()), 5)
    finally:
        asterisk.rx("pjsip set logger off")
    print("NOTIFY check-sync: %s; door answered %r" % (
        out.strip().splitlines()[-1:], answered and answered.group(1)))
    assert answered, "no response to the NOTIFY\n%s" % rig.report()
    assert int(answered.group(2)) >= 200, answered.group(1)
    # still alive: the next qualify OPTIONS is answered and the door quits cleanly
    assert wait_for(lambda: contact_status(asterisk, "door")[0] == "Avail", 5), rig.report()
    assert not [e for e in door.events if e["event"] == "error"], door.describe()
    quit_all(rig)
