"""SIP over TLS with SRTP end to end (issue 12; RFC 3261 §26, RFC 3711, RFC 4568 §8.4): two sims
through Kamailio-TLS register, call with audio, hold, resume, open the door with a DTMF PIN and hang up,
while a capture of the loopback shows no SIP in clear and RTP that does not decode to the tone, and
replayed and forged SRTP packets (sent from the door's own address) are dropped and counted.

The control case runs the same call over UDP without SRTP: its capture must show the SIP and hear the
tone, the proof that both probes can fail.
"""

import os
import shutil
import socket
import struct
import subprocess
import time
import wave

import pytest

from peers import Sim, free_udp_ports, stop_pid
from tlspeers import BaresipTls, KamailioTls, hold_and_resume
from test_tls_kamailio import sim_config, two_rtp_ports
from test_audio_interop import TONE_HZ, MIN_SNR_DB, analyse, assert_clean, media_figures, write_tone
from test_srtp_interop import captured_audio, udp_payloads

PIN = "2468"
AUDIO_SECONDS = 3.0


def secure_config(kam, transport, user, sip_port, rtp_port, ca, srtp, door=None, auto_answer=False):
    cfg = sim_config(kam, transport, user, sip_port, rtp_port, ca)
    cfg["media"]["srtp"] = srtp
    cfg["calls"]["auto_answer"] = auto_answer
    if door:
        cfg["door"] = door
    return cfg


def before_hold(src, dst, seconds):
    """The first `seconds` of a recording (the speaker WAV starts with the call;
    the hold that follows the audio is silence by design)."""
    with wave.open(str(src), "rb") as r:
        params, frames = r.getparams(), r.readframes(int(r.getframerate() * seconds))
    with wave.open(str(dst), "wb") as w:
        w.setparams(params)
        w.writeframes(frames)
    return str(dst)


def sniff_rtp(src_port, dst_port, timeout=5.0):
    """The payload of one UDP datagram src_port -> dst_port seen on lo (AF_PACKET, root)."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
    try:
        s.bind(("lo", 0))
        s.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ip = s.recv(65535)[14:]                      # lo frames carry an Ethernet header
            if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
                continue
            udp = ip[(ip[0] & 0x0F) * 4:]
            if struct.unpack(">HH", udp[:4]) == (src_port, dst_port):
                return bytes(udp[8:])
    finally:
        s.close()
    raise AssertionError("no datagram %d -> %d on lo" % (src_port, dst_port))


def inject(src_port, dst_port, payload):
    """Send payload as a UDP datagram from 127.0.0.1:src_port (a port another process holds:
    an attacker's forged source) to 127.0.0.1:dst_port, through a raw IP socket."""
    udp = struct.pack(">HHHH", src_port, dst_port, 8 + len(payload), 0) + payload   # checksum 0: none
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton("127.0.0.1"), socket.inet_aton("127.0.0.1"))
    r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        r.sendto(ip + udp, ("127.0.0.1", 0))
    finally:
        r.close()


def replay_and_forge(src_port, dst_port):
    """RFC 3711 §3.3.2 and §3.3 step 5 on the wire: a packet the door sent is sent again twice
    (replays), and once with a later sequence number and a damaged tag (a forgery)."""
    packet = sniff_rtp(src_port, dst_port)
    inject(src_port, dst_port, packet)
    inject(src_port, dst_port, packet)
    forged = bytearray(packet)
    forged[2:4] = struct.pack(">H", (struct.unpack(">H", packet[2:4])[0] + 3000) & 0xFFFF)
    forged[-1] ^= 0x55
    inject(src_port, dst_port, bytes(forged))


def dumpcap():
    path = shutil.which("dumpcap")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("dumpcap (tshark) is not installed")
        pytest.skip("dumpcap not installed")
    return path


@pytest.mark.parametrize("runtime,transport,srtp", [("micropython", "tls", "mandatory"),
                                                    ("cpython", "tls", "mandatory"),
                                                    ("micropython", "udp", "off")],
                         ids=["tls-srtp-micropython", "tls-srtp-cpython", "clear-control"])
def test_rfc3711_tls_srtp_call_pin_and_hold_leave_nothing_in_clear_on_the_wire(certs, tmp_path, runtime,
                                                                              transport, srtp):
    secure = srtp != "off"
    sip_a, sip_b = free_udp_ports(2)
    rtp_a, rtp_b = two_rtp_ports()
    tone = write_tone(tmp_path / "tone.wav", 8000, seconds=AUDIO_SECONDS + 2)
    heard = tmp_path / "flat-speaker.wav"
    door_cfg = {"pin": PIN, "pulse_ms": 500, "max_attempts": 3, "lockout_s": 60}
    with KamailioTls(certs, users={"door": "secret", "flat": "secret"}, workdir=str(tmp_path / "k")) as kam:
        pcap = str(tmp_path / "wire.pcap")
        ports = " or ".join("port %d" % p for p in (kam.port, kam.tls_port, kam.tcp_port, rtp_a, rtp_b))
        cap = subprocess.Popen([dumpcap(), "-q", "-P", "-i", "lo", "-f", ports, "-a", "duration:60", "-w", pcap],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            time.sleep(1.0)                                   # dumpcap is listening
            door = Sim(secure_config(kam, transport, "door", sip_a, rtp_a, certs["ca"], srtp, door=door_cfg),
                       runtime=runtime, extra_args=["--mic", str(tone)], workdir=str(tmp_path / "door"))
            flat = Sim(secure_config(kam, transport, "flat", sip_b, rtp_b, certs["ca"], srtp, auto_answer=True),
                       runtime=runtime, extra_args=["--speaker", str(heard)], workdir=str(tmp_path / "flat"))
            with door, flat:
                assert door.wait_event("registered", 20)["transport"] == transport
                flat.wait_event("registered", 20, transport=transport)
                door.send("dial sip:flat@127.0.0.1")
                media = door.wait_event("media", 15)
                assert media["srtp"] is secure and "keys" not in media, media
                door.wait_event("call", 15, state="connected")
                flat.wait_event("call", 15, state="connected")
                if secure:
                    time.sleep(1.0)
                    replay_and_forge(rtp_a, rtp_b)       # the call must go on undisturbed
                    time.sleep(AUDIO_SECONDS - 1.0)
                else:
                    time.sleep(AUDIO_SECONDS)
                hold_and_resume(door, flat)
                flat.send("dtmf %s#" % PIN)
                assert door.wait_event("relay", 10, on=True)
                digits = [e for e in door.events if e["event"] == "dtmf"]
                assert "".join(e["digit"] for e in digits) == PIN + "#", digits
                flat.send("hangup")
                door_end = door.wait_event("call", 10, state="ended")
                flat_end = flat.wait_event("call", 10, state="ended")
                assert door.quit(15) == 0 and flat.quit(15) == 0
                door.check_stdout()
                flat.check_stdout()
        finally:
            stop_pid(cap)
    for who, ev in (("door", door_end), ("flat", flat_end)):
        m, text = media_figures(who, ev)
        text += "; srtp_auth_failed=%s srtp_replayed=%s" % (m.get("srtp_auth_failed"), m.get("srtp_replayed"))
        print(text)
        if secure:
            # flat got two replays and one forgery of the door's packets; dropped and counted
            forged, replayed = (1, 2) if who == "flat" else (0, 0)
            assert m.get("srtp") is True and m.get("srtp_auth_failed") == forged, text
            assert m.get("srtp_replayed") == replayed, text
    talk = before_hold(heard, tmp_path / "talk.wav", AUDIO_SECONDS - 0.2)
    assert_clean("flat's speaker (decrypted), before the hold", analyse(talk, TONE_HZ, max_windows=2), TONE_HZ)
    with open(pcap, "rb") as f:
        wire = f.read()
    clear_sip = [word for word in (b"SIP/2.0", b"REGISTER sip:", b"INVITE sip:", b"a=crypto") if word in wire]
    payloads = udp_payloads(pcap, rtp_b)
    assert len(payloads) >= 100, "captured %d datagrams to flat's RTP port" % len(payloads)
    payloads = payloads[:int((AUDIO_SECONDS - 0.5) * 50)]       # the talk before the hold
    res = analyse(captured_audio(payloads, tmp_path / "captured.wav", 10 if secure else 0), TONE_HZ,
                  max_windows=1)
    print("clear SIP on the wire: %r; captured RTP as PCMU: %s" % (clear_sip, res.get("min_snr_db", res.get("error"))))
    if secure:
        assert clear_sip == [], "SIP in clear on the wire: %r" % clear_sip
        assert "error" in res or res["min_snr_db"] < 10.0, res
    else:
        assert b"SIP/2.0" in clear_sip and b"INVITE sip:" in clear_sip, clear_sip
        assert_clean("captured clear RTP (the control)", res, TONE_HZ)
        assert res["min_snr_db"] >= MIN_SNR_DB


def srtp_baresip(kam, certs, workdir):
    """baresip over TLS (tlspeers.BaresipTls) with its srtp module and `mediaenc=srtp-mand`."""
    b = BaresipTls("bob", "secret", kam, certs, transport="tls", workdir=workdir)
    cfg = os.path.join(b.workdir, "config")
    with open(cfg) as f:
        text = f.read()
    with open(cfg, "w") as f:
        # srtp, and a 1 kHz sine as baresip's microphone (48 kHz stereo, see test_audio_interop)
        text = text.replace("audio_source\t\tnone,none", "audio_source\t\tausine,%d\nausrc_srate\t\t48000\n"
                            "ausrc_channels\t\t2" % TONE_HZ)
        f.write(text.replace("module\t\t\tg711.so\n", "module\t\t\tg711.so\nmodule\t\t\tsrtp.so\n"
                             "module\t\t\tausine.so\n"))
    accounts = os.path.join(b.workdir, "accounts")
    with open(accounts) as f:
        line = f.read().strip()
    with open(accounts, "w") as f:
        f.write(line + ";mediaenc=srtp-mand\n")
    return b


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_rfc4568_sim_and_baresip_srtp_mand_over_tls_both_ways(certs, tmp_path, runtime):
    """SDES keys over TLS need no media.srtp_over_udp: the sim calls baresip and baresip calls the
    sim, each call SRTP (baresip's srtp-mand refuses anything else), packets authenticated both ways
    and baresip's 1 kHz sine decrypted on the sim's speaker; in baresip's call the door holds and
    resumes, and baresip's RFC 4733 digits (in SRTP) open the door."""
    (sip_port,) = free_udp_ports(1)
    tone = write_tone(tmp_path / "tone.wav", 8000)
    heard = tmp_path / "sim-speaker.wav"
    with KamailioTls(certs, users={"door": "secret", "bob": "secret"}, workdir=str(tmp_path / "k")) as kam:
        bob = srtp_baresip(kam, certs, str(tmp_path / "bob"))
        cfg = secure_config(kam, "tls", "door", sip_port, two_rtp_ports()[0], certs["ca"], "mandatory",
                            auto_answer=True, door={"pin": PIN, "pulse_ms": 500, "max_attempts": 3,
                                                    "lockout_s": 60})
        with bob, Sim(cfg, runtime=runtime, extra_args=["--mic", str(tone), "--speaker", str(heard)],
                               workdir=str(tmp_path / "sim")) as sim:
            bob.wait_registered(10)
            sim.wait_event("registered", 20, transport="tls")
            ends = []
            for caller in ("sim", "bob"):
                mark = len(sim.events)
                if caller == "sim":
                    sim.send("dial sip:bob@127.0.0.1")
                else:
                    bob.command("dial", "sip:door@127.0.0.1")
                call = sim.wait_event("call", 15, state="connected")
                media = [e for e in sim.events[mark:] if e["event"] == "media"]
                assert media and media[-1]["srtp"] is True and "keys" not in media[-1], media
                bob.wait_event("CALL_ESTABLISHED", 5)
                time.sleep(1.5)
                if caller == "bob":
                    # hold and resume (re-INVITEs with new SDES keys), then baresip keys the PIN
                    sim.send("hold")
                    sim.wait_event("call", 10, id=call["id"], state="on_hold")
                    sim.send("resume")
                    sim.wait_event("call", 10, id=call["id"], state="connected")
                    time.sleep(0.5)
                    bob.command("sndcode", PIN + "#")
                    assert sim.wait_event("relay", 10, on=True)
                    digits = [e for e in sim.events if e["event"] == "dtmf"]
                    assert "".join(e["digit"] for e in digits) == PIN + "#", digits
                    assert all(e.get("secure") is not False for e in digits), digits
                if caller == "sim":
                    sim.send("hangup")
                else:
                    bob.command("hangup")
                ends.append(sim.wait_event("call", 10, id=call["id"], state="ended"))
                bob.wait_event("CALL_CLOSED", 10)
            assert sim.quit(15) == 0
            sim.check_stdout()
    for end in ends:
        m, text = media_figures("sim", end)
        assert m.get("srtp") is True and m.get("srtp_auth_failed") == 0 and m.get("srtp_replayed") == 0, text
        assert m.get("received", 0) >= 40 and m.get("packets_sent", 0) >= 40, text
    res = analyse(str(heard), TONE_HZ, max_windows=1)
    print("sim's speaker:", res)
    assert "error" not in res and res["worst_peak_error_hz"] <= 5 and res["min_snr_db"] >= 20, res
