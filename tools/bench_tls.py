"""`make bench`, TLS part (issue 12): the smallest MicroPython heap that runs the whole call over SIP/TLS.

The scenario of tools/membench.py (boot, register with digest auth, call a
second simulator through Kamailio, audio both ways, hold, resume, hang up,
unregister), with both phones on `sip.transport: "tls"` to Kamailio's tls
module (host_tests/tls/kamailio_tls.cfg, a test CA made here by openssl), or
"tcp". Phone A's heap is bisected like membench's; compare the figure with
membench's UDP one: the difference is what TLS (the stream module, the
framer's 4 KB buffer, `ssl`, mbedTLS's session on the unix port) costs.

    .venv/bin/python tools/bench_tls.py                 # bisect, .mpy deployment
    .venv/bin/python tools/bench_tls.py --transport tcp
    .venv/bin/python tools/bench_tls.py --heap 200      # one run at 200 wK
    .venv/bin/python tools/bench_tls.py --set media.srtp=mandatory   # TLS + SRTP
"""

import argparse
import os
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))
sys.path.insert(0, os.path.join(REPO, "host_tests", "tls"))
import membench  # noqa: E402
from tlspeers import KamailioTls, make_certs  # noqa: E402


def use_transport(transport, ca):
    """Make membench's phones register over `transport` (its scenario is reused as is)."""
    plain = membench.sim_config

    def sim_config(kamailio, user, sip_port, rtp_port, auto_answer, overrides=()):
        cfg = plain(kamailio, user, sip_port, rtp_port, auto_answer, overrides)
        port = kamailio.tls_port if transport == "tls" else kamailio.tcp_port
        cfg["sip"].update({"transport": transport, "port": port, "tls_ca": ca})
        return cfg
    membench.sim_config = sim_config


def smallest_heap(transport="tls", lo=16, hi=512, audio_s=1.5, workdir=None, log=print, overrides=()):
    """(smallest wK or None, runs, top scenario) for the whole call over `transport`; the
    function tools/bench.py calls."""
    workdir = workdir or tempfile.mkdtemp(prefix="bench-tls-")
    certs = make_certs(os.makedirs(os.path.join(workdir, "certs"), exist_ok=True) or os.path.join(workdir, "certs"))
    use_transport(transport, certs["ca"])
    with KamailioTls(certs, users=membench.USERS, workdir=os.path.join(workdir, "kamailio")) as kam:
        best, runs, _top = membench.bisect(kam, lo, hi, os.path.join(workdir, "mpy"), audio_s, log,
                                           overrides=overrides)
    return best, runs, _top


def main():
    parser = argparse.ArgumentParser(prog="tools/bench_tls.py", description=__doc__.splitlines()[0])
    parser.add_argument("--transport", choices=("tls", "tcp"), default="tls")
    parser.add_argument("--min", type=int, default=16)
    parser.add_argument("--max", type=int, default=512)
    parser.add_argument("--heap", type=int, help="one run at this heap (wK), step by step")
    parser.add_argument("--set", dest="overrides", action="append", default=[], type=membench.parse_override,
                        metavar="SECTION.KEY=JSON", help="more config for both phones, e.g. --set media.srtp=mandatory")
    parser.add_argument("--modes", nargs="+", choices=["mpy"], default=["mpy"],
                        help="the deployment bisected (.mpy only: what TLS and SRTP add shows there)")
    parser.add_argument("--workdir", default=os.path.join(REPO, "build", "bench_tls"))
    args = parser.parse_args()
    if args.heap:
        certs = make_certs(os.makedirs(os.path.join(args.workdir, "certs"), exist_ok=True)
                           or os.path.join(args.workdir, "certs"))
        use_transport(args.transport, certs["ca"])
        with KamailioTls(certs, users=membench.USERS, workdir=os.path.join(args.workdir, "kamailio")) as kam:
            sc = membench.Scenario(kam, args.heap, os.path.join(args.workdir, "single"), sample_memory=True,
                                   overrides=args.overrides)
            ok = sc.run()
            for name, secs in sc.steps:
                print("  %-10s %5.2f s" % (name, secs))
            print("%d wK over %s: %s" % (args.heap, args.transport, "ok" if ok else "FAILED: " + sc.failed))
            return 0 if ok else 1
    print("bench_tls: bisecting phone A's heap over %d..%d wK, .mpy, whole call over %s"
          % (args.min, args.max, args.transport), flush=True)
    best, runs, top = smallest_heap(args.transport, args.min, args.max, workdir=args.workdir,
                               log=lambda t: print(t, flush=True), overrides=args.overrides)
    if best is None:
        print("smallest heap over %s: > %d wK" % (args.transport, args.max))
        return 1
    # the lines tools/bench.py reads, in membench's format
    print("smallest heap, whole call over %s (.mpy)  %d wK = %d KiB on a 32-bit device (%d runs)"
          % (args.transport, best, best, len(runs)))
    for name, value in membench.memory_rows(top, False):
        print("  %s  %s" % (name, value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
