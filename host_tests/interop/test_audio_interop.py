"""Audio end to end (issue 4, "Tests and evidence"): G.711 over RTP (RFC 3550,
RFC 3551) between two tools/sim instances and between tools/sim and baresip,
proven by analysing the recorded WAVs; RFC 4733 DTMF opening the door relay by
PIN, and the PIN lockout.

Everything runs on 127.0.0.1 peer-to-peer (registrar "", accept_from
["127.0.0.1"]); every wait is bounded; every process is stopped by its PID.
The analysis is pure Python (no numpy in the test venv): a radix-2 FFT over
Hann-windowed 8192-sample windows of the call audio, found by energy.
The measured figures are printed (pytest -s, or -rP) for the issue's notes.
"""

import array
import cmath
import glob
import math
import os
import struct
import sys
import time
import wave

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import HOST, Baresip, FreshPorts, Sim, rig_fixture  # noqa: E402

TONE_HZ = 1000
TONE_AMPLITUDE = 12000      # about -8.7 dBFS: well inside G.711's range
AUSINE_HZ = 1200            # baresip's source: not the sim's 1 kHz, so its origin is unambiguous
CALL_SECONDS = 4.0
SKIP_MS = 200               # the first 200 ms of a call are not judged
FRAME = 160                 # one 20 ms frame at 8 kHz
SILENT = 100                # |sample| below this counts as silence (-50 dBFS)
MIN_SNR_DB = 30.0
FREQ_TOLERANCE_HZ = 10.0
BAND_HZ = 20.0


# -- WAV generation and analysis ------------------------------------------------------


def write_tone(path, rate, parts=((TONE_HZ, TONE_AMPLITUDE),), seconds=1.0):
    """Mono 16-bit PCM sum of sines (frequency, amplitude); whole numbers of
    periods, so it loops without a click."""
    n = int(rate * seconds)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(
            struct.pack("<h", int(round(sum(a * math.sin(2 * math.pi * f * i / rate)
                                            for f, a in parts))))
            for i in range(n)))
    return str(path)


def read_wav(path):
    """(rate, samples of the first channel) of a 16-bit PCM WAV."""
    with wave.open(str(path), "rb") as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        data = w.readframes(w.getnframes())
    assert width == 2, "%s: %d-byte samples, expected 16-bit PCM" % (path, width)
    a = array.array("h")
    a.frombytes(data[:len(data) - len(data) % 2])
    if sys.byteorder == "big":
        a.byteswap()
    return rate, list(a[::channels])


def fft(x):
    """Iterative radix-2 FFT of a list whose length is a power of two."""
    n = len(x)
    a = [complex(v) for v in x]
    j = 0
    for i in range(1, n):
        bit = n >> 1
        while j & bit:
            j ^= bit
            bit >>= 1
        j |= bit
        if i < j:
            a[i], a[j] = a[j], a[i]
    size = 2
    while size <= n:
        half = size // 2
        tw = [cmath.exp(-2j * math.pi * k / size) for k in range(half)]
        for start in range(0, n, size):
            for k in range(half):
                u = a[start + k]
                v = a[start + k + half] * tw[k]
                a[start + k] = u + v
                a[start + k + half] = u - v
        size *= 2
    return a


def spectrum(samples, rate, f0, probe=None):
    """(peak frequency in Hz, SNR in dB, probe level in dB) of one window:
    the power within f0 +- BAND_HZ against all the rest (DC, harmonics and
    noise included); the power within probe +- BAND_HZ against f0's."""
    n = len(samples)
    win = [0.5 - 0.5 * math.cos(2 * math.pi * i / n) for i in range(n)]
    spec = fft([s * w for s, w in zip(samples, win)])
    power = [abs(spec[k]) ** 2 for k in range(n // 2 + 1)]
    k = max(range(1, n // 2), key=power.__getitem__)
    # parabolic interpolation on the log magnitude around the peak bin
    a, b, c = (math.log(power[i] + 1e-12) for i in (k - 1, k, k + 1))
    den = a - 2 * b + c
    delta = 0.5 * (a - c) / den if den else 0.0
    peak = (k + delta) * rate / n
    band = sum(p for i, p in enumerate(power) if abs(i * rate / n - f0) <= BAND_HZ)
    rest = sum(power) - band
    snr = 10 * math.log10(band / rest) if rest > 0 else float("inf")
    level = None
    if probe is not None:
        pb = sum(p for i, p in enumerate(power) if abs(i * rate / n - probe) <= BAND_HZ)
        level = 10 * math.log10(max(pb, 1e-12) / band)
    return peak, snr, level


def analyse(path, f0, max_windows=3, probe=None):
    """Find the call's audio in a recording by energy, skip its first SKIP_MS,
    and measure: the dominant frequency and SNR of up to max_windows
    non-overlapping windows (worst reported), and the longest run of silent
    samples from there to the end of the call's audio."""
    rate, s = read_wav(path)
    flen = rate // 50
    rms = [math.sqrt(sum(v * v for v in s[i:i + flen]) / flen)
           for i in range(0, len(s) - flen + 1, flen)]
    out = {"path": str(path), "rate": rate, "seconds": len(s) / rate}
    if not rms or max(rms) < 300:
        out["error"] = "no audio in the recording (max frame RMS %.0f)" % (max(rms) if rms else 0)
        return out
    thresh = 0.3 * max(rms)
    first = next(i for i, v in enumerate(rms) if v > thresh)
    last = max(i for i, v in enumerate(rms) if v > thresh)
    start, end = first * flen, (last + 1) * flen
    judged = start + rate * SKIP_MS // 1000
    out.update(call_start_s=start / rate, call_end_s=end / rate, audio_s=(end - start) / rate)
    # the longest run of silent samples in the judged part
    run = longest = 0
    longest_at = None
    for i in range(judged, end):
        if -SILENT < s[i] < SILENT:
            run += 1
            if run > longest:
                longest, longest_at = run, i - run + 1
        else:
            run = 0
    out["longest_silence"] = longest
    out["longest_silence_at_s"] = None if longest_at is None else longest_at / rate
    n = 1
    while n * 2 <= min(rate * 1.1, end - judged):
        n *= 2
    if n < 2048:
        out["error"] = "call audio too short to analyse (%d samples after the skip)" % (end - judged)
        return out
    peaks, snrs, levels = [], [], []
    for w in range(max_windows):
        lo = judged + w * n
        if lo + n > end:
            break
        peak, snr, level = spectrum(s[lo:lo + n], rate, f0, probe)
        peaks.append(peak)
        snrs.append(snr)
        levels.append(level)
    if probe is not None:
        out["probe_hz"] = probe
        out["probe_db"] = max(levels)
    out.update(window=n, windows=len(peaks), peaks_hz=[round(p, 2) for p in peaks],
               snrs_db=[round(x, 1) for x in snrs], peak_hz=peaks[0],
               worst_peak_error_hz=max(abs(p - f0) for p in peaks), min_snr_db=min(snrs),
               rms=round(sum(rms[first:last + 1]) / (last - first + 1)))
    return out


def figures(label, res):
    if "error" in res:
        return "%s: %s (%s)" % (label, res["error"], res["path"])
    return ("%s: dominant %s Hz (worst error %.2f Hz), SNR %s dB (min %.1f) over %d windows of %d "
            "samples at %d Hz; call audio %.2f s from %.2f s, RMS %d; longest silent run after "
            "%d ms: %d samples" % (
                label, res["peaks_hz"], res["worst_peak_error_hz"], res["snrs_db"],
                res["min_snr_db"], res["windows"], res["window"], res["rate"], res["audio_s"],
                res["call_start_s"], res["rms"], SKIP_MS, res["longest_silence"])
            + ("; %d Hz at %.1f dB below it" % (res["probe_hz"], -res["probe_db"])
               if "probe_hz" in res else ""))


def assert_clean(label, res, f0, context=""):
    text = figures(label, res)
    print(text)
    assert "error" not in res, text + "\n" + context
    assert res["worst_peak_error_hz"] <= FREQ_TOLERANCE_HZ, text + "\n" + context
    assert res["min_snr_db"] >= MIN_SNR_DB, text + "\n" + context
    assert res["longest_silence"] <= FRAME, (
        "%s\ngap of %d silent samples at %.3f s\n%s" % (
            text, res["longest_silence"], res["longest_silence_at_s"], context))


def media_figures(label, ev):
    m = ev.get("media") or {}
    keys = ("received", "lost", "late", "concealed", "underruns", "skipped", "duplicates",
            "jitter_ms", "depth_ms", "packets_sent", "remote")
    text = "%s media: %s" % (label, ", ".join("%s=%s" % (k, m.get(k)) for k in keys))
    print(text)
    return m, text


# -- the simulators -------------------------------------------------------------------


class Net(FreshPorts):
    """Free ports on 127.0.0.1: SIP ports for sims, even RTP ports two apart
    (RTCP on rtp_port + 1), baresip's SIP port with port + 1 free."""

    def sip(self):
        return self.pick(1, False)

    def rtp(self):
        return self.pick(2, True)

    def baresip_sip(self):
        return self.pick(2, False)

    def baresip_rtp(self):
        return self.pick(4, True)


def sim_config(user, sip_port, rtp_port, auto_answer=False, door=None):
    cfg = {
        "board": "host",
        "sip": {"registrar": "", "user": user, "local_port": sip_port},
        "media": {"rtp_port": rtp_port},
        "calls": {"targets": [], "ring_timeout": 30, "auto_answer": auto_answer,
                  "accept_from": [HOST]},
    }
    if door is not None:
        cfg["door"] = door
    return cfg


class Rig:
    """The processes of one test, stopped (by PID) at the end whatever happens."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.net = Net()
        self.sims = []
        self.baresips = []

    def sim(self, user, runtime="micropython", auto_answer=False, door=None, mic=None,
            speaker=None, media=None):
        """A sim on fresh ports (media: more media.* keys), started and ready."""
        sip_port, rtp_port = self.net.sip(), self.net.rtp()
        workdir = self.tmp / ("sim-" + user)
        pcap = str(workdir / "sip.pcap")
        args = ["--pcap", pcap]
        if mic:
            args += ["--mic", str(mic)]
        if speaker:
            args += ["--speaker", str(speaker)]
        cfg = sim_config(user, sip_port, rtp_port, auto_answer, door)
        cfg["media"].update(media or {})
        sim = Sim(cfg, runtime=runtime, extra_args=args, workdir=str(workdir))
        sim.user, sim.sip_port, sim.rtp_port, sim.pcap = user, sip_port, rtp_port, pcap
        self.sims.append(sim)
        sim.start()
        ready = sim.wait_event("ready", 15)
        assert ready.get("sip_port") == sip_port and ready.get("rtp_port") == rtp_port, ready
        return sim

    def uri(self, sim):
        return "sip:%s@%s:%d" % (sim.user, HOST, sim.sip_port)

    def report(self):
        parts = [s.describe() for s in self.sims]
        parts += [b.describe() for b in self.baresips]
        return "\n".join(parts)

    def close(self):
        for b in self.baresips:
            b.stop()
        for s in self.sims:
            s.stop()


rig = rig_fixture(Rig)


def ended(sim, timeout=5):
    return sim.wait_event("call", timeout, state="ended")


def connect(rig, caller, callee):
    caller.send("dial " + rig.uri(callee))
    caller.wait_event("call", 8, state="connected")
    callee.wait_event("call", 3, state="connected")


# -- 1. two simulators carry a 1 kHz tone ---------------------------------------------


# A 16 kHz mic exercises the low-pass decimation 16 -> 8 kHz: its WAV also
# carries 6 kHz, which dropping every other sample would fold onto 2 kHz at
# the tone's level (SNR ~0 dB); the half-band low-pass must remove it.
ALIAS_HZ = 6000
ALIAS_FOLDED_HZ = 8000 - ALIAS_HZ


@pytest.mark.parametrize("runtime,mic_rate", [
    ("micropython", 8000),
    ("cpython", 8000),
    ("micropython", 16000),
], ids=["micropython", "cpython", "micropython-mic16k"])
def test_two_sims_carry_a_1khz_tone_clean(rig, tmp_path, runtime, mic_rate):
    parts = [(TONE_HZ, TONE_AMPLITUDE)]
    if mic_rate == 16000:
        parts.append((ALIAS_HZ, 8000))
    tone = write_tone(tmp_path / ("tone%d.wav" % mic_rate), mic_rate, parts)
    out = tmp_path / "b-speaker.wav"
    b = rig.sim("b", runtime, auto_answer=True, speaker=out)
    a = rig.sim("a", runtime, mic=tone)
    connect(rig, a, b)
    time.sleep(CALL_SECONDS)
    a.send("hangup")
    a_end = ended(a)
    b_end = ended(b)
    assert b_end.get("reason") == "remote_hangup", b_end
    assert a.quit(10) == 0, a.describe()
    assert b.quit(10) == 0, b.describe()

    res = analyse(out, TONE_HZ, probe=ALIAS_FOLDED_HZ if mic_rate == 16000 else None)
    ctx = rig.report()
    print("runtime %s, mic %d Hz%s" % (runtime, mic_rate,
                                      " (+ %d Hz)" % ALIAS_HZ if mic_rate == 16000 else ""))
    bm, btext = media_figures("B (receives the tone)", b_end)
    am, atext = media_figures("A (receives B's silence)", a_end)
    assert_clean("B speaker", res, TONE_HZ, ctx)
    # loopback: nothing may be lost, and ~4 s of 20 ms frames arrived
    assert bm.get("lost") == 0 and bm.get("received", 0) >= 150, btext + "\n" + ctx
    assert am.get("lost") == 0 and am.get("received", 0) >= 150, atext + "\n" + ctx


# -- 2. DTMF (RFC 4733) opens the door --------------------------------------------------


def dtmf_rig(rig, door):
    b = rig.sim("b", "micropython", auto_answer=True, door=door)
    a = rig.sim("a", "cpython")
    connect(rig, a, b)
    return a, b


def send_pin(a, b, pin):
    """A sends `pin` then '#' as RFC 4733 events; B reports each digit in order."""
    a.send("dtmf %s#" % pin)
    got = []
    for digit in pin + "#":
        ev = b.wait_event("dtmf", 5)
        got.append(ev)
        assert ev.get("digit") == digit and ev.get("via") == "rfc4733", (pin, got, b.describe())
    return got


def test_dtmf_pin_opens_the_door_relay(rig):
    a, b = dtmf_rig(rig, {"pin": "2468", "pulse_ms": 500, "max_attempts": 3, "lockout_s": 60})
    digits = send_pin(a, b, "2468")
    on = b.wait_event("relay", 3, on=True)
    off = b.wait_event("relay", 3, on=False)
    pulse = off["_t"] - on["_t"]
    print("relay on %.0f ms after '#', pulse %.0f ms (door.pulse_ms 500)"
          % ((on["_t"] - digits[-1]["_t"]) * 1000, pulse * 1000))
    assert on["_t"] >= digits[-1]["_t"], b.describe()
    assert 0.4 <= pulse <= 1.0, "relay pulse %.3f s for pulse_ms 500\n%s" % (pulse, b.describe())
    assert not [e for e in b.events if e["event"] == "error"], b.describe()
    a.send("hangup")
    ended(a)
    media_figures("B after the PIN", ended(b))
    assert a.quit(10) == 0, a.describe()
    assert b.quit(10) == 0, b.describe()
    assert [e["on"] for e in b.events if e["event"] == "relay"] == [True, False], b.describe()


def test_wrong_pins_lock_out_the_door(rig):
    a, b = dtmf_rig(rig, {"pin": "2468", "pulse_ms": 500, "max_attempts": 2, "lockout_s": 60})
    send_pin(a, b, "1111")
    send_pin(a, b, "9999")
    send_pin(a, b, "2468")          # the right PIN, but the door is locked now
    time.sleep(1.0)                 # a relay pulse would have started by now
    a.send("hangup")
    ended(a)
    ended(b)
    assert a.quit(10) == 0, a.describe()
    assert b.quit(10) == 0, b.describe()
    relays = [e for e in b.events if e["event"] == "relay"]
    errors = [e for e in b.events if e["event"] == "error"]
    print("errors: %s" % [e.get("message") for e in errors])
    assert not relays, "the door opened during the lockout: %s\n%s" % (relays, b.describe())
    assert any("lock" in str(e.get("message", "")).lower() for e in errors), b.describe()


# -- 3. baresip: audio both ways ----------------------------------------------------------

# baresip 1.0 (Debian baresip-core): ausine is a 48 kHz stereo source (baresip
# resamples it to 8 kHz for G.711); its device string is the frequency. It has
# no WAV player, so the sndfile filter records what baresip decodes
# (dump-*-dec.wav in snd_path); the aubridge player just consumes the audio.
_BARESIP_AUDIO_CONFIG = """\
poll_method\t\tepoll
sip_listen\t\t127.0.0.1:{sip_port}
sip_transports\t\tudp
net_interface\t\t127.0.0.1
audio_player\t\taubridge,sink
audio_source\t\tausine,{freq}
audio_alert\t\tnone,none
ausrc_srate\t\t48000
ausrc_channels\t\t2
rtp_ports\t\t{rtp_lo}-{rtp_hi}
module_path\t\t/usr/lib/baresip/modules
{modules}module\t\t\tausine.so
module\t\t\taubridge.so
module\t\t\tsndfile.so
snd_path\t\t{workdir}
module_app\t\taccount.so
module_app\t\tmenu.so
module_app\t\tctrl_tcp.so
ctrl_tcp_listen\t\t127.0.0.1:{ctrl_port}
"""


def write_baresip_config(b, rtp, freq, modules=("g711",)):
    """baresip b's config (in b.workdir) from _BARESIP_AUDIO_CONFIG: its SIP and control ports,
    RTP ports rtp .. rtp + 3, ausine at freq Hz, and these modules (codecs first) before ausine."""
    with open(os.path.join(b.workdir, "config"), "w") as f:
        f.write(_BARESIP_AUDIO_CONFIG.format(
            sip_port=b.sip_port, ctrl_port=b.ctrl_port, rtp_lo=rtp, rtp_hi=rtp + 3, freq=freq,
            workdir=b.workdir, modules="".join("module\t\t\t%s.so\n" % m for m in modules)))


class AudioBaresip(Baresip):
    """peers.Baresip, peer-to-peer (no registration), auto-answering, with a
    sine source and a recording of the decoded audio; `modules` as in write_baresip_config,
    `mediaenc` (e.g. srtp-mand) on its account if given."""

    def __init__(self, net, workdir, freq=AUSINE_HZ, modules=("g711",), mediaenc=None):
        super().__init__("bob", "unused", 0, sip_port=net.baresip_sip(), workdir=workdir)
        write_baresip_config(self, net.baresip_rtp(), freq, modules)
        with open(os.path.join(self.workdir, "accounts"), "w") as f:
            f.write("<sip:bob@%s:%d;transport=udp>;regint=0;answermode=auto;"
                    "audio_codecs=PCMU,PCMA%s\n" % (HOST, self.sip_port, ";mediaenc=" + mediaenc if mediaenc else ""))

    def recording(self):
        files = sorted(glob.glob(os.path.join(self.workdir, "dump-*-dec.wav")))
        assert files, "baresip's sndfile wrote no dump-*-dec.wav\n" + self.describe()
        return files[-1]


def start_baresip(rig):
    b = AudioBaresip(rig.net, str(rig.tmp / "baresip"))
    rig.baresips.append(b)
    b.start()
    return b


def check_both_ways(rig, sim, sim_end, bob, speaker):
    ctx = rig.report()
    m, text = media_figures("sim (receives ausine)", sim_end)
    assert_clean("sim speaker (baresip ausine %d Hz)" % AUSINE_HZ, analyse(speaker, AUSINE_HZ),
                 AUSINE_HZ, ctx)
    assert_clean("baresip decoded (sim mic %d Hz)" % TONE_HZ, analyse(bob.recording(), TONE_HZ),
                 TONE_HZ, ctx)
    assert m.get("lost") == 0 and m.get("received", 0) >= 150, text + "\n" + ctx


def test_sim_calls_baresip_audio_both_ways(rig, tmp_path):
    tone = write_tone(tmp_path / "tone8000.wav", 8000)
    speaker = tmp_path / "sim-speaker.wav"
    bob = start_baresip(rig)
    sim = rig.sim("door", "micropython", mic=tone, speaker=speaker)
    sim.send("dial sip:bob@%s:%d" % (HOST, bob.sip_port))
    sim.wait_event("call", 8, state="connected")
    bob.wait_event("CALL_ESTABLISHED", 3)
    time.sleep(CALL_SECONDS)
    sim.send("hangup")
    sim_end = ended(sim)
    bob.wait_event("CALL_CLOSED", 5)
    assert sim.quit(10) == 0, sim.describe()
    bob.stop()          # closes the WAV dumps
    check_both_ways(rig, sim, sim_end, bob, speaker)


def test_baresip_calls_sim_audio_both_ways(rig, tmp_path):
    tone = write_tone(tmp_path / "tone8000.wav", 8000)
    speaker = tmp_path / "sim-speaker.wav"
    bob = start_baresip(rig)
    sim = rig.sim("door", "micropython", auto_answer=True, mic=tone, speaker=speaker)
    bob.command("dial", rig.uri(sim))
    sim.wait_event("call", 8, state="connected")
    bob.wait_event("CALL_ESTABLISHED", 3)
    time.sleep(CALL_SECONDS)
    bob.command("hangup")
    sim_end = ended(sim)
    assert sim_end.get("reason") == "remote_hangup", sim_end
    bob.wait_event("CALL_CLOSED", 5)
    assert sim.quit(10) == 0, sim.describe()
    bob.stop()
    check_both_ways(rig, sim, sim_end, bob, speaker)
