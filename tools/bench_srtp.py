"""SRTP cost per 20 ms frame (RFC 3711: protect + unprotect of a 160-byte G.711 payload), unix port and ESP32 estimate.

Under the MicroPython unix port (prints RESULT lines, like tools/bench_upy.py):

    MICROPYPATH=firmware .venv/bin/micropython tools/bench_srtp.py

From CPython, `report(factor)` runs that and prints the figures beside the
ESP32 estimate (factor: tools/bench.py's esp32_factor); `make bench` calls it.
`python3 tools/bench_srtp.py` does both, the factor from its own pystone run.
"""

import sys

from bench_common import best_us

SUITES = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")


def measure(srtp, suite):
    tx = srtp.SrtpContext(suite, bytes(range(30)))
    rx = srtp.SrtpContext(suite, bytes(range(30)))
    pkt = bytearray(172)
    pkt[0] = 0x80
    wire = bytearray(200)
    back = bytearray(200)
    seq = [0]

    def protect():
        s = seq[0] = (seq[0] + 1) & 0xFFFF
        pkt[2] = s >> 8
        pkt[3] = s & 0xFF
        return tx.protect(pkt, 172, wire)

    n = protect()
    mv = memoryview(wire)[:n]
    state = [0]

    def both():
        protect()
        # a fresh index every time: the replay window would drop a repeat
        rx.window.lo = -1
        state[0] = rx.unprotect(mv, back)

    print("RESULT srtp_protect_%s %.1f" % (suite[-2:], best_us(protect, loops=50, collect=False)))
    print("RESULT srtp_frame_%s %.1f" % (suite[-2:], best_us(both, loops=50, collect=False)))
    if state[0] != 172:
        print("ERROR srtp_frame_%s unprotect returned %d" % (suite[-2:], state[0]))


def upy_main():
    from intercom.media import srtp
    for suite in SUITES:
        measure(srtp, suite)
    print("RESULT srtp_impl_viper %d" % (1 if srtp.IMPLEMENTATION == "viper" else 0))


def run_upy(exe=None):
    """{figure: microseconds} from this file under the unix port."""
    import bench_common
    out, proc = bench_common.run_upy("bench_srtp.py", exe=exe, heapsize="4M", timeout=300)
    failed = [name + " " + value for name, value in out.items() if not isinstance(value, float)]
    if failed:
        raise RuntimeError("; ".join(failed))
    if proc.returncode != 0 or not out:
        raise RuntimeError("bench_srtp under micropython failed: %s" % proc.stderr[-300:])
    return out


def report(factor, exe=None):
    """Print the per-frame SRTP cost, unix port and ESP32 estimate; returns the worst ESP32 ms."""
    figures = run_upy(exe)
    worst = 0.0
    impl = "viper SHA-1" if figures.get("srtp_impl_viper") else "hashlib HMAC (allocates)"
    print("SRTP per 20 ms frame (RFC 3711; AES-CM from cryptolib ECB, HMAC-SHA1 on %s):" % impl)
    for suite in SUITES:
        tag = suite[-2:]
        for key, what in (("srtp_protect_", "protect (send)"), ("srtp_frame_", "protect + unprotect")):
            u = figures[key + tag]
            est = u * factor / 1000
            worst = max(worst, est)
            print("  %s %-20s %7.1f us unix port; ESTIMATE ESP32 (x%.0f): %.2f ms of the 20 ms frame"
                  % (suite, what, u, factor, est))
    return worst


def main():
    import os
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench
    upy = bench.run_micropython(quick=True)
    report(bench.esp32_factor(upy["pystone"]))


if __name__ == "__main__":
    if sys.implementation.name == "micropython":
        upy_main()
    else:
        main()
