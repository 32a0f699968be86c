"""Asterisk 22 session-timer refreshes (RFC 4028 §7, §9, §10; issue 10, item 9): the door's call to Echo() outlives
the session interval because the door answers Asterisk's mid-dialog refresh re-INVITE with 200 and keeps the media.

This module's own Asterisk runs its endpoints with `timers = always`,
`timers_min_se = 90`, `timers_sess_expires = 90` (the smallest interval
chan_pjsip accepts). pbx.py's default `timers = yes` starts no timer with the
door, whose INVITE carries no `Supported: timer` (measured: no Session-Expires
in the 200, no refresh in 95 s); with `always`, Asterisk, the UAS, takes the
refresher role itself (RFC 4028 §9: `refresher=uas` in its 200) and refreshes
at half the interval, about 45 s in, with a re-INVITE (the door's Allow has no
UPDATE). Without a 2xx to that refresh Asterisk ends the call (at the latest
at the expiry, 90 s), so the call is held for 95 s after it connected. One call, one
runtime (MicroPython): it is long.

Judged from the door's own pcap (every SIP datagram it sent and received) and
its speaker recording: the refresh arrives inside the dialog, is answered 200
(with an SDP, since the re-INVITE carries an offer) and ACKed; the call is
still connected after the expiry; the echoed tone is clean in a window just
after the refresh and at the end; the door's BYE is answered 200.
"""

import json
import os
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "interop"))
import pbx  # noqa: E402
from peers import sim_pcap, sip_header  # noqa: E402
from test_asterisk_peer import Rig, ext, quit_all  # noqa: E402
from test_audio_interop import (  # noqa: E402
    FRAME, FREQ_TOLERANCE_HZ, MIN_SNR_DB, TONE_HZ, analyse, figures, media_figures, read_wav, spectrum,
    write_tone)

SESSION_EXPIRES_S = 90        # pbx.py: timers_sess_expires = timers_min_se = 90
HOLD_S = SESSION_EXPIRES_S + 5  # past the expiry: a refresh not answered 2xx would have ended it
WINDOW = 8192                 # samples of one spectrum window (~1 s at 8 kHz)


@pytest.fixture(scope="module")
def asterisk(tmp_path_factory):
    a = pbx.Asterisk(workdir=str(tmp_path_factory.mktemp("asterisk")), timers="always")
    a.start()
    try:
        yield a
    finally:
        a.stop()


@pytest.fixture
def rig(asterisk, tmp_path):
    r = Rig(asterisk, tmp_path)
    try:
        yield r
    finally:
        r.close()


def sip_datagrams(path, sip_port):
    """(wall-clock seconds, sent by the door?, SIP text) of every datagram in the sim's pcap."""
    return [(r["t"], r["out"], r["text"]) for r in sim_pcap(path, sip_port)]


def ladder(recs):
    t0 = recs[0][0] if recs else 0
    return "\n".join("%8.3f %s %s  [%s]" % (t - t0, "->" if sent else "<-",
                                            text.split("\r\n", 1)[0], sip_header(text, "CSeq"))
                     for t, sent, text in recs)


def tone_at(samples, rate, start_s):
    """(peak Hz, SNR dB) of one WINDOW of the recording from start_s."""
    lo = int(start_s * rate)
    return spectrum(samples[lo:lo + WINDOW], rate, TONE_HZ)[:2]


def test_rfc4028_asterisk_session_refresh_reinvite_is_answered_and_the_call_survives_expiry(
        rig, asterisk, tmp_path):
    tone = write_tone(tmp_path / "tone.wav", 8000)
    speaker = tmp_path / "door-speaker.wav"
    door = rig.sim("door", "micropython", mic=tone, speaker=speaker)
    with open(door.config_path) as f:
        sip_port = json.load(f)["sip"]["local_port"]
    door.send("dial " + ext(600))
    door.wait_event("call", 8, state="connected")
    connected_at = time.monotonic()
    # poll (bounded) so a dropped call is seen when it drops, not 95 s later
    ended_early = None
    while time.monotonic() - connected_at < HOLD_S:
        ended_early = [e for e in door.events if e.get("event") == "call" and e.get("state") == "ended"]
        if ended_early:
            break
        time.sleep(0.5)
    held_s = time.monotonic() - connected_at
    channels = asterisk.rx("core show channels concise")
    door.send("hangup")
    end = door.wait_event("call", 5, state="ended")
    quit_all(rig)

    pcap = str(tmp_path / "sim-door" / "sip.pcap")
    recs = sip_datagrams(pcap, sip_port)
    report = "%s\n--- door SIP ladder ---\n%s\n%s" % (channels, ladder(recs), rig.report())
    assert not ended_early, "the call ended %.1f s after it connected: %s\n%s" % (
        held_s, ended_early, report)
    assert "PJSIP/door" in channels, "Asterisk had no door channel at %.0f s\n%s" % (held_s, report)

    # the initial INVITE and Asterisk's 200 to it: the timer Asterisk agreed on
    invite = next(r for r in recs if r[1] and r[2].startswith("INVITE "))
    call_id = sip_header(invite[2], "Call-ID")
    ok = next(r for r in recs if not r[1] and r[2].startswith("SIP/2.0 200")
              and sip_header(r[2], "CSeq").endswith("INVITE") and sip_header(r[2], "Call-ID") == call_id)
    se = sip_header(ok[2], "Session-Expires")
    print("Asterisk's 200 to the door's INVITE: Session-Expires: %s" % se)
    assert se and se.split(";")[0].strip() == str(SESSION_EXPIRES_S) and "refresher=uas" in se, (
        "no session timer with Asterisk as refresher in its 200: %r\n%s" % (se, report))

    # the refresh: an INVITE from Asterisk inside the same dialog
    refreshes = [r for r in recs if not r[1] and r[2].startswith("INVITE ")
                 and sip_header(r[2], "Call-ID") == call_id]
    assert refreshes, "no refresh re-INVITE from Asterisk in %.0f s\n%s" % (held_s, report)
    for t, _, reinvite in refreshes:
        cseq = sip_header(reinvite, "CSeq")
        finals = [r for r in recs if r[1] and r[0] >= t and r[2].startswith("SIP/2.0 ")
                  and not r[2].startswith("SIP/2.0 1") and sip_header(r[2], "CSeq") == cseq
                  and sip_header(r[2], "Call-ID") == call_id]
        status = finals[0][2].split("\r\n", 1)[0] if finals else None
        acked = [r for r in recs if not r[1] and r[2].startswith("ACK ")
                 and sip_header(r[2], "CSeq") == cseq.split()[0] + " ACK"]
        print("refresh re-INVITE (CSeq %s, Session-Expires %s) %.1f s after the 200; door answered "
              "%r%s" % (cseq, sip_header(reinvite, "Session-Expires"), t - ok[0], status,
                        ", ACKed" if acked else ", no ACK"))
        assert status and status.startswith("SIP/2.0 200"), "refresh answered %r\n%s" % (status, report)
        assert "\r\n\r\nv=0" in finals[0][2], "the 200 to the refresh has no SDP answer\n%s" % report
        assert acked, "Asterisk did not ACK the door's 200 to the refresh\n%s" % report
    t_ref = refreshes[0][0]
    refresh_s = t_ref - ok[0]
    # RFC 4028 §10: the refresher refreshes at half the interval
    assert SESSION_EXPIRES_S / 3 <= refresh_s <= SESSION_EXPIRES_S / 2 + 5, (
        "refresh at %.1f s\n%s" % (refresh_s, report))

    # the door hung up cleanly: its BYE answered 200
    bye = [r for r in recs if r[1] and r[2].startswith("BYE ") and sip_header(r[2], "Call-ID") == call_id]
    bye_ok = [r for r in recs if not r[1] and r[2].startswith("SIP/2.0 200")
              and (sip_header(r[2], "CSeq") or "").endswith(" BYE")]
    print("hangup: %d BYE, %d 200; ended %s" % (len(bye), len(bye_ok), end.get("reason")))
    assert bye and bye_ok, "the door's BYE was not answered 200\n%s" % report

    # audio: the echo is clean over the whole call (no gap at the refresh),
    # right after the refresh and at the end
    m, mtext = media_figures("door (session refreshed)", end)
    res = analyse(speaker, TONE_HZ)
    text = figures("door speaker over the whole call", res)
    print(text)
    assert "error" not in res and res["audio_s"] >= HOLD_S - 2, text + "\n" + report
    assert res["longest_silence"] <= FRAME, text + "\n" + report
    rate, samples = read_wav(speaker)
    after = res["call_start_s"] + (t_ref - ok[0]) + 0.5
    peak_a, snr_a = tone_at(samples, rate, after)
    peak_e, snr_e = tone_at(samples, rate, res["call_end_s"] - 0.2 - WINDOW / rate)
    print("tone 0.5 s after the refresh: %.2f Hz at %.1f dB SNR; at the end: %.2f Hz at %.1f dB SNR"
          % (peak_a, snr_a, peak_e, snr_e))
    for label, peak, snr in (("after the refresh", peak_a, snr_a), ("at the end", peak_e, snr_e)):
        assert abs(peak - TONE_HZ) <= FREQ_TOLERANCE_HZ and snr >= MIN_SNR_DB, (
            "%s: %.2f Hz at %.1f dB\n%s\n%s" % (label, peak, snr, mtext, report))
