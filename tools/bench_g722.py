"""`make bench`, G.722 part: encode + decode of one 20 ms frame (ITU-T G.722 mode 1), viper and pure, ESP32 estimate.

Run by CPython (standalone, or report() from tools/bench.py with the CPU
factor it already computed), this runs itself under the MicroPython unix
port, which prints `RESULT name microseconds` lines, and prints the figures
side by side with the ESP32 estimate (the unix-port figure times the CPU
factor: pystones here over an ESP32's published pystones). The estimate
scales native viper code like bytecode, which overstates its cost (viper
is machine code on both CPUs): it is the project's one yardstick, not a
measurement on a device.

    .venv/bin/python tools/bench_g722.py          # measures the CPU factor too
    MICROPYPATH=firmware .venv/bin/micropython tools/bench_g722.py   # the raw RESULT lines
"""

import sys

GOAL_MS = 3.0           # encode + decode per 20 ms frame on the ESP32 estimate
FRAME = 160             # G.722 bytes (and 8 kHz timestamp units) per 20 ms: 320 samples at 16 kHz


def _frame():
    # 20 ms of a 1 kHz + 5 kHz mix at 16 kHz, from the tone table (no floats)
    from intercom.media.tones import SINE, phase_increment
    pcm = bytearray(4 * FRAME)
    p1 = p2 = 0
    i1 = phase_increment(1000, 16000)
    i2 = phase_increment(5000, 16000)
    for i in range(2 * FRAME):
        v = (SINE[p1 >> 16] * 1200 + SINE[p2 >> 16] * 600) >> 12
        p1 = (p1 + i1) & 0xFFFFFF
        p2 = (p2 + i2) & 0xFFFFFF
        pcm[2 * i] = v & 0xFF
        pcm[2 * i + 1] = (v >> 8) & 0xFF
    return pcm


def frame_us(kernels, loops, repeats=5):
    """Best microseconds for encode + decode of one 20 ms frame with a kernel module."""
    from array import array
    from bench_common import best_us
    from intercom.media import _g722_py
    enc = array("h", bytes(2 * _g722_py.STATE_LEN))
    dec = array("h", bytes(2 * _g722_py.STATE_LEN))
    _g722_py.reset(enc)
    _g722_py.reset(dec)
    pcm = _frame()
    codes = bytearray(FRAME)
    out = bytearray(4 * FRAME)
    encode = kernels.encode
    decode = kernels.decode

    def both():
        encode(enc, pcm, codes, FRAME)
        decode(dec, codes, out, FRAME)
    return best_us(both, repeats, loops)


def upy_main(args):
    """Under the unix port: RESULT lines for the viper and the pure kernels."""
    quick = "quick" in args
    from intercom.media import g722, _g722_py
    print("RESULT g722_impl_%s 0" % g722.IMPLEMENTATION)
    try:
        from intercom.media import _g722_viper
        print("RESULT g722_viper %.3f" % frame_us(_g722_viper, 5 if quick else 200))
    except Exception as err:  # noqa: BLE001 - a port without native emitters: say so
        print("ERROR g722_viper %s: %s" % (type(err).__name__, err))
    print("RESULT g722_pure %.3f" % frame_us(_g722_py, 1 if quick else 10, 2 if quick else 3))


# --- the CPython side -----------------------------------------------------------------------

def measure(exe=None, quick=False):
    """{name: us} from this file under the unix port, plus the pure kernels on this CPython."""
    import os
    from bench_common import run_upy, repo_dir
    out, proc = run_upy("bench_g722.py", ["quick"] if quick else [], exe=exe)
    if proc.returncode != 0 or "g722_pure" not in out:
        raise RuntimeError("bench_g722 under micropython: exit %d %s" % (proc.returncode, proc.stderr[-300:]))
    sys.path.insert(0, os.path.join(repo_dir(), "firmware"))
    from intercom.media import _g722_py
    out["g722_cpython_pure"] = frame_us(_g722_py, 2 if quick else 20, 2 if quick else 3)
    return out


def report(factor, exe=None, quick=False):
    """Print the G.722 figures with the ESP32 estimate (unix-port us * factor);
    returns the viper estimate in ms (None if viper did not run)."""
    figs = measure(exe, quick)
    impl = [k[len("g722_impl_"):] for k in figs if k.startswith("g722_impl_")]
    print("G.722 (ITU-T G.722 mode 1, 64 kbit/s), encode + decode of one 20 ms frame (320 samples at 16 kHz),"
          " best of several runs; g722.py binds: %s" % (impl[0] if impl else "?"))
    print("  %-8s %14s %24s" % ("kernels", "unix port", "ESP32 estimate (x%.0f)" % factor))
    est = None
    for label, key in (("viper", "g722_viper"), ("pure", "g722_pure")):
        us = figs.get(key, "missing")
        if isinstance(us, float):
            ms = us * factor / 1000
            if key == "g722_viper":
                est = ms
            print("  %-8s %11.1f us %21.2f ms" % (label, us, ms))
        else:
            print("  %-8s %14s" % (label, us))
    print("  pure kernels under CPython %s: %.1f us" % (sys.version.split()[0], figs["g722_cpython_pure"]))
    if est is not None:
        print("  goal <= %.1f ms per frame (viper, ESP32 estimate): %s, %.2f ms = %.1fx the goal"
              % (GOAL_MS, "MET" if est <= GOAL_MS else "NOT MET", est, est / GOAL_MS))
    return est


def _factor(exe=None):
    # the same CPU factor as tools/bench.py: unix-port pystones / the ESP32's published figure
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:0] = [os.path.join(os.path.dirname(here), "firmware"), here]
    import bench
    upy = bench.run_micropython(exe=exe)
    return bench.esp32_factor(upy["pystone"])


if __name__ == "__main__":
    if sys.implementation.name == "micropython":
        upy_main(sys.argv[1:])
    else:
        f = _factor()
        report(f, quick="quick" in sys.argv[1:])
