"""Shared rig of the impolite-peer tests: tools/sim, SIPp and Kamailio on 127.0.0.1.

Built on host_tests/interop/peers.py (imported, not copied): every process
is started in its own session, bounded in time and stopped by its PID.
Ports are taken from one pool per test so no two peers collide; SIPp's four
media ports (-mp) are drawn from the same pool.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIOS = os.path.join(HERE, "scenarios")
INTEROP = os.path.join(os.path.dirname(HERE), "interop")
if INTEROP not in sys.path:
    sys.path.insert(0, INTEROP)

from peers import (HOST, PEERS_DIR, FreshPorts, Kamailio, Sim, Sipp, rig_fixture, sim_pcap, sip_header,  # noqa: E402,F401
                   raw_register, require_binary, stop_pid)

__all__ = ["HERE", "HOST", "PEERS_DIR", "SCENARIOS", "RUNTIMES", "Kamailio", "Rig", "Sipp",
           "raw_register", "require_binary", "stop_pid", "pcap_records", "header",
           "to_tag", "cseq_method", "ladder"]

# Every test runs under both runtimes of tools/sim.
RUNTIMES = ["micropython", "cpython"]


class Rig:
    """The processes and ports of one test; close() stops them all by PID."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.ports = FreshPorts()
        self.sims = []
        self.sipps = []
        self.kamailios = []
        self.extra = []          # other Popen children (flood generator)

    # -- ports ------------------------------------------------------------
    def port(self, spacing=1, even=False):
        """A free UDP port on 127.0.0.1 (with port+1..port+spacing-1 free too),
        never handed out before in this test."""
        return self.ports.pick(spacing, even)

    # -- peers ------------------------------------------------------------
    def sim(self, runtime, name="door", registrar=None, calls=None, sip=None, media=None,
            extra_args=(), pcap=True, wait_registered=True):
        """Start tools/sim: peer to peer (registrar None) or registered at a
        Kamailio (registrar = (port, password)). Waits for `ready` (and
        `registered`)."""
        sip_port, rtp_port = self.port(), self.port(2, even=True)
        c = {"targets": [], "ring_timeout": 30, "auto_answer": False, "accept_from": "any"}
        c.update(calls or {})
        if registrar is None:
            s = {"registrar": "", "user": name, "local_port": sip_port}
        else:
            s = {"registrar": HOST, "port": registrar[0], "user": name,
                 "password": registrar[1], "expires": 60, "local_port": sip_port}
        s.update(sip or {})
        m = {"rtp_port": rtp_port}
        m.update(media or {})
        cfg = {"board": "host", "sip": s, "media": m, "calls": c}
        workdir = self.tmp / ("sim%d-%s" % (len(self.sims), name))
        args = list(extra_args)
        path = None
        if pcap:
            path = str(workdir / "sip.pcap")
            args += ["--pcap", path]
        sim = Sim(cfg, runtime=runtime, extra_args=args, workdir=str(workdir))
        sim.pcap, sim.sip_port, sim.rtp_port, sim.user = path, sip_port, rtp_port, name
        self.sims.append(sim)
        sim.start()
        ready = sim.wait_event("ready", 30)
        assert ready.get("sip_port") == sip_port, ready
        if registrar is not None and wait_registered:
            sim.wait_event("registered", 10)
        return sim

    def sipp(self, scenario, port=None, remote=None, timeout=20, args=(), keys=None):
        """A SIPp run of host_tests/impolite/scenarios/<scenario> (or an
        absolute path), its media ports drawn from this test's pool."""
        if not os.path.isabs(scenario):
            mine = os.path.join(SCENARIOS, scenario)
            scenario = mine if os.path.exists(mine) else os.path.join(PEERS_DIR, scenario)
        media = self.port(4, even=True)
        s = Sipp(scenario, port=port or self.port(), remote=remote, timeout=timeout,
                 keys=keys, args=list(args) + ["-mp", str(media)],
                 workdir=str(self.tmp / ("sipp%d" % len(self.sipps))))
        self.sipps.append(s)
        return s

    def kamailio(self, users, trusted=(), template=None):
        k = Kamailio(users, port=self.port(), trusted=trusted, template=template,
                     workdir=str(self.tmp / ("kamailio%d" % len(self.kamailios))))
        self.kamailios.append(k)
        return k.start()

    def report(self):
        parts = []
        for s in self.sims:
            parts.append(s.describe())
            if s.pcap:
                parts.append(ladder(s))
        for p in self.sipps:
            parts.append(p.report())
        for k in self.kamailios:
            parts.append("--- kamailio ---\n" + k.log_tail(30))
        return "\n".join(parts)

    def close(self):
        for p in self.extra:
            stop_pid(p)
        for s in self.sims:
            s.stop()
        for p in self.sipps:
            p.stop()
        for k in self.kamailios:
            k.stop()


# -- the sim's pcap (LINKTYPE_RAW: IPv4 + UDP + SIP) -----------------------------------


def pcap_records(sim):
    """Every SIP datagram the sim sent or received (peers.sim_pcap of its pcap)."""
    return sim_pcap(sim.pcap, sim.sip_port)


def ladder(sim, limit=60):
    recs = pcap_records(sim)
    if not recs:
        return "(no SIP datagrams in %s)" % sim.pcap
    t0 = recs[0]["t"]
    lines = ["--- %s SIP ladder (%d datagrams) ---" % (sim.user, len(recs))]
    for r in recs[-limit:]:
        lines.append("%7.3f %s %s:%d  %s  [%s]" % (
            r["t"] - t0, "->" if r["out"] else "<-", r["peer"][0], r["peer"][1], r["first"],
            cseq_method(r["text"])))
    return "\n".join(lines)


header = sip_header


def to_tag(text):
    to = header(text, "To") or ""
    i = to.find(";tag=")
    if i < 0:
        return None
    return to[i + 5:].split(";")[0].strip()


def cseq_method(text):
    cseq = header(text, "CSeq")
    return cseq.split()[-1] if cseq else None
