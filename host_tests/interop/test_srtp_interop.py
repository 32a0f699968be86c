"""SRTP end to end (issue 12): two tools/sim with media.srtp mandatory carry a tone that a capture of
their RTP cannot hear (RFC 3711 §3.1), and baresip (`mediaenc srtp-mand`) both ways (RFC 4568 SDES).

SDES keys cross plain UDP SIP here, so the sims set media.srtp_over_udp (until SIP over TLS lands).
The capture is dumpcap on the loopback interface (root, as CI runs), filtered to the sims' RTP ports;
its G.711 payloads are decoded and analysed like the speakers' WAVs. The same analysis of a call
with media.srtp "off" must hear the tone in the capture: the proof that the probe can fail.
"""

import os
import shutil
import struct
import subprocess
import sys
import time
import wave

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "firmware"))
from peers import HOST, rig_fixture, stop_pid  # noqa: E402
from test_audio_interop import (  # noqa: E402
    TONE_HZ, CALL_SECONDS, MIN_SNR_DB, write_tone, analyse, assert_clean, media_figures,
    ended, Rig, AudioBaresip, check_both_ways)
from intercom.media import g711  # noqa: E402

SRTP = {"srtp": "mandatory", "srtp_over_udp": True}


rig = rig_fixture(Rig)


def srtp_sim(rig, user, media, auto_answer=False, mic=None, speaker=None, runtime="micropython"):
    """Rig.sim with these media keys (the rig stops it by PID at the end)."""
    return rig.sim(user, runtime, auto_answer, mic=mic, speaker=speaker, media=media)


def udp_payloads(pcap, dst_port):
    """The UDP payloads to dst_port in a classic pcap (Ethernet, cooked or raw IPv4 link)."""
    with open(pcap, "rb") as f:
        data = f.read()
    magic, _v1, _v2, _tz, _sig, _snap, link = struct.unpack("<IHHiIII", data[:24])
    assert magic == 0xA1B2C3D4, "not a little-endian classic pcap"
    skip = {1: 14, 113: 16, 276: 20, 101: 0}[link]
    out = []
    pos = 24
    while pos + 16 <= len(data):
        incl = struct.unpack("<IIII", data[pos:pos + 16])[2]
        frame = data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        ip = frame[skip:]
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        udp = ip[(ip[0] & 0x0F) * 4:]
        if struct.unpack(">H", udp[2:4])[0] == dst_port:
            out.append(udp[8:])
    return out


def captured_audio(payloads, path, tag_len):
    """Decode the PCMU payloads as if they were clear RTP into a WAV; the path."""
    pcm = bytearray()
    for p in payloads:
        if len(p) < 12 + tag_len + 160 or p[1] & 0x7F != 0:
            continue                       # not a 20 ms PCMU packet (telephone-event, RTCP)
        codes = p[12:12 + 160]
        out = bytearray(320)
        g711.PCMU.decode(codes, out, 160)
        pcm += out
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(pcm))
    return str(path)


@pytest.mark.parametrize("media,runtime", [(SRTP, "micropython"), (SRTP, "cpython"), ({"srtp": "off"}, "micropython")],
                         ids=["srtp-micropython", "srtp-cpython", "clear-control"])
def test_two_sims_srtp_tone_arrives_but_the_capture_cannot_hear_it(rig, tmp_path, media, runtime):
    dumpcap = shutil.which("dumpcap")
    if dumpcap is None:
        if os.environ.get("CI") == "true":
            pytest.fail("dumpcap (tshark) is not installed")
        pytest.skip("dumpcap not installed")
    tone = write_tone(tmp_path / "tone.wav", 8000)
    heard = tmp_path / "b-speaker.wav"
    b = srtp_sim(rig, "b", media, auto_answer=True, speaker=heard, runtime=runtime)
    a = srtp_sim(rig, "a", media, mic=tone, runtime=runtime)
    pcap = str(tmp_path / "rtp.pcap")
    cap = subprocess.Popen([dumpcap, "-q", "-P", "-i", "lo", "-f", "udp port %d" % b.rtp_port,
                            "-a", "duration:%d" % (CALL_SECONDS + 8), "-w", pcap],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        time.sleep(1.0)                      # dumpcap is listening
        a.send("dial " + "sip:b@%s:%d" % (HOST, b.sip_port))
        a_media = a.wait_event("media", 8)
        a.wait_event("call", 8, state="connected")
        b.wait_event("call", 3, state="connected")
        time.sleep(CALL_SECONDS)
        a.send("hangup")
        ended(a)
        b_end = ended(b)
    finally:
        stop_pid(cap)
    assert a.quit(10) == 0 and b.quit(10) == 0
    secure = media["srtp"] != "off"
    assert a_media["srtp"] is secure and "keys" not in a_media, a_media
    bm, btext = media_figures("B (receives the tone)", b_end)
    if secure:
        assert bm.get("srtp") is True and bm.get("srtp_auth_failed") == 0 and bm.get("srtp_replayed") == 0, btext
    assert_clean("B speaker (decrypted)", analyse(heard, TONE_HZ), TONE_HZ, rig.report())
    payloads = udp_payloads(pcap, b.rtp_port)
    assert len(payloads) >= 150, "captured %d datagrams to B's RTP port" % len(payloads)
    res = analyse(captured_audio(payloads, tmp_path / "captured.wav", 10 if secure else 0), TONE_HZ)
    print("captured RTP payload as PCMU:", res.get("min_snr_db", res.get("error")))
    if secure:
        # ciphertext is noise: no 1 kHz peak stands out of it
        assert "error" in res or res["min_snr_db"] < 10.0, res
    else:
        assert_clean("captured clear RTP (the control)", res, TONE_HZ)
        assert res["min_snr_db"] >= MIN_SNR_DB


# -- baresip with mediaenc srtp-mand ---------------------------------------------------


class SrtpBaresip(AudioBaresip):
    """AudioBaresip with the srtp module and `mediaenc=srtp-mand` on its account."""

    def __init__(self, net, workdir):
        super().__init__(net, workdir, modules=("g711", "srtp"), mediaenc="srtp-mand")


def start_srtp_baresip(rig):
    b = SrtpBaresip(rig.net, str(rig.tmp / "baresip"))
    rig.baresips.append(b)
    b.start()
    return b


def srtp_call_with_baresip(rig, tmp_path, sim_calls):
    """A sim (media.srtp mandatory) and baresip (srtp-mand) in a call placed, and hung up,
    by the sim if sim_calls, else by baresip: SRTP on, nothing failed authentication, and
    each side's tone on the other's speaker."""
    tone = write_tone(tmp_path / "tone8000.wav", 8000)
    speaker = tmp_path / "sim-speaker.wav"
    bob = start_srtp_baresip(rig)
    sim = srtp_sim(rig, "door", SRTP, auto_answer=not sim_calls, mic=tone, speaker=speaker)
    if sim_calls:
        sim.send("dial sip:bob@%s:%d" % (HOST, bob.sip_port))
    else:
        bob.command("dial", "sip:door@%s:%d" % (HOST, sim.sip_port))
    media = sim.wait_event("media", 8)
    sim.wait_event("call", 8, state="connected")
    bob.wait_event("CALL_ESTABLISHED", 3)
    time.sleep(CALL_SECONDS)
    if sim_calls:
        sim.send("hangup")
    else:
        bob.command("hangup")
    sim_end = ended(sim)
    bob.wait_event("CALL_CLOSED", 5)
    assert sim.quit(10) == 0, sim.describe()
    bob.stop()
    assert media["srtp"] is True, media
    assert sim_end["media"].get("srtp_auth_failed") == 0, sim_end
    check_both_ways(rig, sim, sim_end, bob, speaker)


def test_sim_calls_baresip_srtp_mand_audio_both_ways(rig, tmp_path):
    srtp_call_with_baresip(rig, tmp_path, sim_calls=True)


def test_baresip_srtp_mand_calls_sim_audio_both_ways(rig, tmp_path):
    srtp_call_with_baresip(rig, tmp_path, sim_calls=False)


def test_baresip_srtp_mand_refused_by_a_sim_without_srtp(rig):
    bob = start_srtp_baresip(rig)
    sim = srtp_sim(rig, "door", {"srtp": "off"}, auto_answer=True)
    bob.command("dial", "sip:door@%s:%d" % (HOST, sim.sip_port))
    bob.wait_event("CALL_CLOSED", 8)
    assert not [e for e in sim.events if e.get("event") == "media"], sim.describe()
    assert sim.quit(10) == 0
