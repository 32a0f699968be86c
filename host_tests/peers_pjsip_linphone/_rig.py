"""One test's network for the PJSIP and linphone interop tests: tools/sim and
one real peer (a pjsua2 agent or linphonec), peer to peer or both registered
at Kamailio, on 127.0.0.1, stopped by PID whatever happens.

Kamailio and Sim come from host_tests/interop/peers.py; the WAV analysis
(dominant frequency and SNR) from host_tests/interop/test_audio_interop.py;
the zero-crossing frequency from host_tests/core/_helpers.py.
"""

import os
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "interop"))
from peers import HOST, Kamailio, Sim, _tail, free_udp_ports, stop_pid  # noqa: E402,F401
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


class Ports:
    """Distinct free UDP ports: SIP ports, and even RTP ports with RTCP beside."""

    def __init__(self):
        self.taken = set()

    def pick(self, spacing=1, even=False):
        while True:
            p = free_udp_ports(1, spacing=spacing, even=even)[0]
            span = set(range(p, p + spacing))
            if not span & self.taken:
                self.taken |= span
                return p


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

    def sim(self, runtime="micropython", auto_answer=False, pin=None, mic=None, speaker=None):
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

    def pjsua(self, play=None, record=None, max_seconds=60):
        pjsua2_available()
        cfg = {"user": "pj", "password": USERS["pj"],
               "registrar": "" if self.mode == "p2p" else "%s:%d" % (HOST, self.kamailio.port),
               "sip_port": self.ports.pick(), "rtp_port": self.ports.pick(2, True),
               "max_seconds": max_seconds}
        if play:
            cfg["play"] = str(play)
        if record:
            cfg["record"] = str(record)
        agent = PjsuaAgent(cfg, str(self.tmp / ("pjsua%d" % len(self.peers))))
        agent.user = "pj"
        agent.sip_port = cfg["sip_port"]
        self.peers.append(agent)
        agent.start()
        agent.wait_event("ready", 10)
        if self.mode == "kamailio":
            agent.wait_event("registered", 8, status=200)
        return agent

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


def tone_check(label, path, f0):
    """analyse() (FFT, SNR as test_audio_interop) plus zc_freq over the judged
    audio; returns (ok, text, snr)."""
    res = analyse(path, f0)
    text = figures(label, res)
    if "error" in res:
        return False, text, None
    rate, s = read_wav(path)
    lo = int(res["call_start_s"] * rate) + rate // 5
    hi = int((res["call_start_s"] + res["audio_s"]) * rate)
    zc = zc_freq(s[lo:hi], rate) if hi - lo > rate // 2 else 0.0
    text += "; zero-crossing %.1f Hz" % zc
    ok = (res["worst_peak_error_hz"] <= FREQ_TOLERANCE_HZ and res["min_snr_db"] >= MIN_SNR_DB
          and abs(zc - f0) <= FREQ_TOLERANCE_HZ and res["longest_silence"] <= FRAME)
    return ok, text, res["min_snr_db"]


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    raise AssertionError("timeout %.1f s waiting for %s" % (timeout, what))
