"""One test's network for the PJSIP and linphone interop tests: tools/sim and
one real peer (a pjsua2 agent or linphonec), peer to peer or both registered
at Kamailio, on 127.0.0.1, stopped by PID whatever happens.

Kamailio and Sim come from host_tests/interop/peers.py; the WAV analysis
(dominant frequency and SNR) from host_tests/interop/test_audio_interop.py;
the zero-crossing frequency from host_tests/core/_helpers.py.
"""

import os
import re
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "interop"))
from peers import (HOST, FreshPorts, Kamailio, Sim, _tail, free_udp_ports, require_binary, rig_fixture,  # noqa: E402,F401
                   stop_pid)
from test_audio_interop import analyse, figures, read_wav, write_tone  # noqa: E402,F401
from _helpers import zc_freq  # noqa: E402  (host_tests/core, on sys.path via conftest)

USERS = {"door": "secret", "pj": "pjsecret", "lin": "linsecret"}
SIM_TONE_HZ = 1000           # the door's microphone
PEER_TONE_HZ = 1200          # the peer's source: not the sim's, so its origin is unambiguous
MIN_SNR_DB = 30.0
FREQ_TOLERANCE_HZ = 10.0
CALL_SECONDS = 3.0
FRAME = 160                  # a gap of more than one 20 ms frame of silence is a fault
PIN = "2468"


def pjsua2_available():
    """pjsua2 imports (pjsua2-python from requirements.txt); under CI=true its
    absence is a failure, elsewhere a skip (as peers.require_binary)."""
    try:
        import pjsua2  # noqa: F401
        return True
    except ImportError as e:
        msg = "PJSIP peer not installed (PyPI pjsua2-python): %s" % e
        if os.environ.get("CI") == "true":
            pytest.fail(msg + "; under CI=true a missing peer is a failure", pytrace=False)
        pytest.skip(msg)


Ports = FreshPorts     # distinct free UDP ports: SIP ports, and even RTP ports with RTCP beside


class PjsuaAgent(Sim):
    """pjsua_agent.py as a child process: peers.Sim's JSON-lines driver over
    another command line (same stdin/stdout contract)."""

    def __init__(self, cfg, workdir):
        Sim.__init__(self, cfg, runtime="cpython", workdir=workdir)
        self.cmd = [sys.executable, os.path.join(HERE, "pjsua_agent.py"),
                    "--config", self.config_path]
        self.cfg = cfg

    def describe(self):
        return "--- pjsua agent ---\n%s\n--- pjsua.log tail ---\n%s" % (
            Sim.describe(self), _tail(os.path.join(self.workdir, "pjsua.log"), 60))


class Rig:
    """mode "p2p" (registrar "", the sim accepts 127.0.0.1) or "kamailio"
    (everyone registered, the sim accepts calls from the registrar only)."""

    def __init__(self, tmp_path, mode):
        self.tmp = tmp_path
        self.mode = mode
        self.ports = Ports()
        self.kamailio = None
        self.sims = []
        self.peers = []
        if mode == "kamailio":
            self.kamailio = Kamailio(USERS, workdir=str(tmp_path / "kamailio")).start()

    # -- the door ---------------------------------------------------------------

    def sim(self, runtime="micropython", auto_answer=False, pin=None, mic=None, speaker=None, codecs=None):
        sip_port, rtp_port = self.ports.pick(), self.ports.pick(2, True)
        if self.mode == "p2p":
            sip = {"registrar": "", "user": "door", "local_port": sip_port}
            accept = [HOST]
        else:
            sip = {"registrar": HOST, "port": self.kamailio.port, "user": "door",
                   "password": USERS["door"], "expires": 60, "local_port": sip_port}
            accept = "registrar"
        cfg = {"board": "host", "sip": sip, "media": {"rtp_port": rtp_port},
               "calls": {"targets": [], "ring_timeout": 30, "auto_answer": auto_answer,
                         "accept_from": accept}}
        if codecs is not None:
            cfg["media"]["codecs"] = list(codecs)
        if pin is not None:
            cfg["door"] = {"pin": pin, "pulse_ms": 500, "max_attempts": 3, "lockout_s": 60}
        workdir = self.tmp / ("sim%d" % len(self.sims))
        args = ["--pcap", str(workdir / "sip.pcap")]
        if mic:
            args += ["--mic", str(mic)]
        if speaker:
            args += ["--speaker", str(speaker)]
        sim = Sim(cfg, runtime=runtime, extra_args=args, workdir=str(workdir))
        sim.sip_port = sip_port
        self.sims.append(sim)
        sim.start()
        sim.wait_event("ready", 15)
        if self.mode == "kamailio":
            sim.wait_event("registered", 8)
        return sim

    def sim_uri(self, sim):
        if self.mode == "p2p":
            return "sip:door@%s:%d" % (HOST, sim.sip_port)
        return "sip:door@%s:%d" % (HOST, self.kamailio.port)

    # -- the peers ----------------------------------------------------------------

    def pjsua(self, play=None, record=None, max_seconds=60, codecs=None):
        pjsua2_available()
        cfg = {"user": "pj", "password": USERS["pj"],
               "registrar": "" if self.mode == "p2p" else "%s:%d" % (HOST, self.kamailio.port),
               "sip_port": self.ports.pick(), "rtp_port": self.ports.pick(2, True),
               "max_seconds": max_seconds}
        if play:
            cfg["play"] = str(play)
        if record:
            cfg["record"] = str(record)
        if codecs:
            cfg["codecs"] = list(codecs)
        agent = PjsuaAgent(cfg, str(self.tmp / ("pjsua%d" % len(self.peers))))
        agent.user = "pj"
        agent.sip_port = cfg["sip_port"]
        self.peers.append(agent)
        agent.start()
        agent.wait_event("ready", 10)
        if self.mode == "kamailio":
            agent.wait_event("registered", 8, status=200)
        return agent

    def linphone(self, play=None, record=None):
        lin = Linphone(self.ports, str(self.tmp / ("linphone%d" % len(self.peers))),
                       play=play, record=record)
        self.peers.append(lin)
        lin.start()
        if self.mode == "kamailio":
            lin.register(self.kamailio.port, USERS["lin"])
        return lin

    def peer_uri(self, peer):
        if self.mode == "p2p":
            return "sip:%s@%s:%d" % (peer.user, HOST, peer.sip_port)
        return "sip:%s@%s:%d" % (peer.user, HOST, self.kamailio.port)

    def report(self):
        parts = [p.describe() for p in self.peers]
        parts += [s.describe() for s in self.sims]
        if self.kamailio is not None:
            parts.append("--- kamailio ---\n" + _tail(self.kamailio.log, 30))
        return "\n".join(parts)

    def close(self):
        for p in self.peers:
            p.stop()
        for s in self.sims:
            s.stop()
        if self.kamailio is not None:
            self.kamailio.stop()


# linphonec's lines for a call's progress
INCOMING = r"Receiving new incoming call"
CONNECTED = r"Call \d+ with .* connected"
ENDED = r"Call \d+ .*(ended|declined|terminated|error)"


def connect_pjsua(rig, sim, pj, sim_calls=True):
    """The door calls pjsua, which answers (sim_calls), or pjsua calls the door (auto-answering);
    returns once both sides are connected."""
    if sim_calls:
        sim.send("dial " + rig.peer_uri(pj))
        pj.wait_event("call", 8, state="INCOMING")
        pj.send("answer")
    else:
        pj.send("dial " + rig.sim_uri(sim))
    sim.wait_event("call", 8, state="connected")
    pj.wait_event("call", 5, state="CONFIRMED")


def connect_linphone(rig, sim, lin, sim_calls=True):
    """As connect_pjsua, with linphonec."""
    if sim_calls:
        sim.send("dial " + rig.peer_uri(lin))
        lin.wait_line(INCOMING, 8)
        lin.send("answer")
    else:
        lin.send("call " + rig.sim_uri(sim))
    sim.wait_event("call", 8, state="connected")
    lin.wait_line(CONNECTED, 5)


def _skip_start(path, seconds):
    """A copy of a 16-bit mono WAV without its first `seconds`."""
    import wave
    with wave.open(str(path), "rb") as w:
        params = w.getparams()
        w.readframes(int(seconds * w.getframerate()))
        rest = w.readframes(w.getnframes())
    out = str(path) + ".settled.wav"
    with wave.open(out, "wb") as w:
        w.setparams(params)
        w.writeframes(rest)
    return out


# A peer whose adaptive jitter buffer time-stretches its playout (linphone)
# may leave one analysis window with a phase jump (no gap, right frequency)
# when the door's packets come in a burst on a loaded machine: its recording
# is judged on the median window at MIN_SNR_DB, every window at this floor.
STRETCH_FLOOR_DB = 20.0


def tone_check(label, path, f0, settle_s=0.0, stretching=False):
    """analyse() (FFT, SNR as test_audio_interop) plus zc_freq over the judged
    audio; returns (ok, text, snr). settle_s leaves out the start of a peer's
    recording while its adaptive jitter buffer settles (linphone's may
    stretch the first second of a call: a phase jump, no gap); stretching:
    see STRETCH_FLOOR_DB."""
    if settle_s:
        path = _skip_start(path, settle_s)
        label += " (after %.1f s)" % settle_s
    res = analyse(path, f0)
    text = figures(label, res)
    if "error" in res:
        return False, text, None
    rate, s = read_wav(path)
    lo = int(res["call_start_s"] * rate) + rate // 5
    hi = int((res["call_start_s"] + res["audio_s"]) * rate)
    zc = zc_freq(s[lo:hi], rate) if hi - lo > rate // 2 else 0.0
    text += "; zero-crossing %.1f Hz" % zc
    snrs = sorted(res["snrs_db"])
    if stretching:
        snr_ok = snrs[len(snrs) // 2] >= MIN_SNR_DB and snrs[0] >= STRETCH_FLOOR_DB
    else:
        snr_ok = snrs[0] >= MIN_SNR_DB
    ok = (res["worst_peak_error_hz"] <= FREQ_TOLERANCE_HZ and snr_ok
          and abs(zc - f0) <= FREQ_TOLERANCE_HZ and res["longest_silence"] <= FRAME)
    return ok, text, res["min_snr_db"]


# -- linphone ------------------------------------------------------------------

# linphonec (Debian linphone-cli 5.1) on 127.0.0.1 only: no network-state
# monitor (it would keep the core "offline" where no default route exists),
# IPv4 only, its SIP port given by command after start-up, WAV files instead
# of a sound card.
_LINPHONERC = """\
[sip]
auto_net_state_mon=0
use_ipv6=0
guess_hostname=0
bind_address={host}
contact="lin" <sip:lin@{host}>
sip_port=-1
register_only_when_network_is_up=0
# no GRUU: Kamailio assigns none, and linphone would put a portless gr= URI in its Contact
supported=replaces, outbound
[net]
auto_net_state_mon=0
[rtp]
audio_rtp_port={rtp}
bind_address={host}
[video]
enabled=0
automatically_initiate=0
automatically_accept=0
"""


def linphonec_binary():
    return require_binary("linphonec", "linphone-cli")


class Linphone:
    """linphonec as a child process with a per-test HOME, driven by its
    command line; every output line is kept with its arrival time.

    lin = Linphone(rig.ports, workdir).start(); lin.send("call sip:...")
    lin.wait_line(r"Call \\d+ .* connected", 5)
    """

    def __init__(self, ports, workdir, play=None, record=None):
        self.binary = linphonec_binary()
        self.user = "lin"
        self.sip_port = ports.pick()
        self.rtp_port = ports.pick(2, True)
        self.workdir = workdir
        self.home = os.path.join(workdir, "home")
        os.makedirs(os.path.join(self.home, ".local", "share", "linphone"), exist_ok=True)
        self.rc = os.path.join(workdir, "linphonerc")
        with open(self.rc, "w") as f:
            f.write(_LINPHONERC.format(host=HOST, rtp=self.rtp_port))
        self.play, self.record = play, record
        self.log = os.path.join(workdir, "linphonec.out")
        self.cmd = [self.binary, "-c", self.rc, "-d", "0"]
        self.proc = None
        self.lines = []            # (monotonic time, text)
        self._cursor = 0
        self._cond = threading.Condition()
        self._reader = None

    def start(self):
        env = dict(os.environ, HOME=self.home)
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, cwd=self.workdir, env=env,
                                     start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.send("ports sip %d" % self.sip_port)
        self.wait_line(r"Setting sip port to %d" % self.sip_port, 10)
        self.send("soundcard use files")
        self.wait_line(r"Using wav files", 5)
        if self.play:
            self.send("play %s" % self.play)
        if self.record:
            self.send("record %s" % self.record)
        return self

    def _read(self):
        with open(self.log, "w") as log:
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                log.write(line + "\n")
                log.flush()
                with self._cond:
                    self.lines.append((time.monotonic(), line))
                    self._cond.notify_all()

    def send(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def register(self, registrar_port, password):
        self.send("register sip:%s@%s sip:%s:%d %s" % (self.user, HOST, HOST, registrar_port,
                                                       password))
        # linphonec -d 0 prints nothing when the 200 comes: ask until it says so
        deadline = time.monotonic() + 8
        while True:
            self.send("status register")
            line = self.wait_line(r"registered[,=]", 2)
            if line.startswith("registered, identity=sip:%s@" % self.user):
                return line
            if time.monotonic() > deadline:
                raise AssertionError("linphonec did not register: %r\n%s"
                                     % (line, self.describe()))
            time.sleep(0.2)

    def wait_line(self, pattern, timeout):
        """The next output line (after the last one matched) matching the
        regular expression, or AssertionError with the output tail."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(self._cursor, len(self.lines)):
                    if rx.search(self.lines[i][1]):
                        self._cursor = i + 1
                        return self.lines[i][1]
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    break
                self._cond.wait(min(left, 0.2))
        raise AssertionError("linphonec: no line matching %r within %.1f s\n%s"
                             % (pattern, timeout, self.describe()))

    def describe(self):
        with self._cond:
            tail = [t for _, t in self.lines[-40:]]
        return "--- linphonec (%s, rc=%s) ---\n%s" % (
            " ".join(self.cmd), self.proc.poll() if self.proc else None, "\n".join(tail))

    def quit(self, timeout=8):
        try:
            self.send("quit")
            self.proc.stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop_pid(self.proc)
            raise AssertionError("linphonec still running %.0f s after quit\n%s"
                                 % (timeout, self.describe()))

    def stop(self):
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except (OSError, ValueError):
                pass
            stop_pid(self.proc)
            if self._reader is not None:
                self._reader.join(2)
