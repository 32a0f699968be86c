"""`make bench` (tools/bench.py): its workloads run (tiny counts, no timing asserted); a missing peer fails loudly."""

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))
import bench  # noqa: E402
import bench_upy  # noqa: E402


def test_full_parse_reads_every_header_and_the_sdp_body():
    for _, data in bench_upy.MESSAGES:
        msg = bench_upy.ours_full(data)
        assert msg.headers
    broken = bench_upy.INVITE.replace(b"m=audio 49170", b"m=audio x")
    assert not bench_upy.accepts(bench_upy.ours_full, broken)


def test_invite_response_media_and_pystone_run_under_cpython():
    assert bench_upy.invite_response_us(1) > 0
    assert bench_upy.media_frame_us(5, 1) > 0
    assert bench_upy.pystones_per_s(10) > 0


def test_micropython_figures_all_present_in_a_quick_run():
    if bench.find_micropython() is None:
        pytest.skip("micropython not installed (make venv)")
    results = bench.run_micropython(quick=True)
    for name in ("parse_invite", "parse_ok200", "parse_register", "invite_rx", "media", "pystone"):
        assert isinstance(results[name], float), (name, results[name])


def test_a_peer_that_cannot_parse_is_shown_not_skipped():
    def refuses(data):
        raise ValueError("no REGISTER here")
    assert bench.measure(refuses, bench_upy.REGISTER, quick=True).startswith("cannot parse (ValueError")


def test_missing_micropython_fails_loudly(monkeypatch):
    monkeypatch.setattr(bench, "find_micropython", lambda: None)
    with pytest.raises(bench.PeerMissing, match="micropython not found"):
        bench.run_micropython(quick=True)
    with pytest.raises(bench.PeerMissing):
        bench.run_micropython(quick=True, exe="/nonexistent/micropython")


def test_missing_pyvoip_fails_loudly_with_exit_2(monkeypatch, capsys):
    def gone():
        raise ImportError("No module named 'pyVoIP'")
    monkeypatch.setattr(bench, "load_pyvoip", gone)
    with pytest.raises(bench.PeerMissing, match="pyVoIP"):
        bench.peers()
    monkeypatch.setenv("INTERCOM_BENCH_CHILD", "1")
    monkeypatch.setattr(bench, "report", lambda extra, quick=False: bench.peers())
    assert bench.main([]) == 2
    assert "FAILED, a peer is missing" in capsys.readouterr().err


def test_membench_without_a_deployment_fails_loudly(monkeypatch):
    monkeypatch.setattr(bench, "membench_modes", lambda python: ["mpy", "romfs"])
    with pytest.raises(bench.PeerMissing, match="frozen"):
        bench.run_membench([])


def test_membench_report_parsed_per_deployment():
    text = ("memory (MicroPython unix port)\n"
            "smallest heap, .mpy files (copied into RAM at import)          139 wK = 139 KiB on a 32-bit device\n"
            "  runs                                                         9 in 60 s\n"
            "  peak live heap in the call (7 samples)                      233000 bytes (~113.8 wK)\n"
            "smallest heap, a ROMFS image (bytecode in place, as frozen)    > 512 wK (fails at 512 wK: boot)\n")
    rows = bench.parse_membench(text)
    assert rows == [[".mpy files (copied into RAM at import)", "139 wK", "113.8 wK"],
                    ["a ROMFS image (bytecode in place, as frozen)", "> 512 wK (fails at 512 wK: boot)", "n/a"]]


def test_report_prints_every_goal_then_fails_when_memory_cannot_be_measured(monkeypatch, capsys):
    monkeypatch.setattr(bench, "peers", lambda: [("ours (CPython)", bench_upy.ours_full),
                                                 ("pyVoIP stand-in", bench_upy.ours_full)])
    figures = {"parse_invite": 400.0, "parse_ok200": 500.0, "parse_register": 500.0,
               "invite_rx": 800.0, "media": 20.0, "pystone": 101400.0}
    monkeypatch.setattr(bench, "run_micropython", lambda quick=False: figures)

    def no_kamailio(extra):
        raise bench.PeerMissing("membench needs Kamailio")
    monkeypatch.setattr(bench, "run_membench", no_kamailio)
    with pytest.raises(bench.PeerMissing, match="Kamailio"):
        bench.report([], quick=True)
    out = capsys.readouterr().out
    assert "noisy on a shared machine" in out and "NOT MEASURED: membench needs Kamailio" in out
    assert "full parse >= 2x pyVoIP (CPython): " in out
    assert "INVITE receive -> response <= 10 ms (ESP32 estimate): NOT MET (80.0 ms, 8.00x the goal)" in out
    assert "media path <= 2 ms per frame (ESP32 estimate): MET (2.00 ms, 1.00x the goal)" in out
    assert "ESTIMATE" in out and "GOAL UNKNOWN" not in out


def _membench_with_frozen_build(monkeypatch, problem, argv):
    import membench
    built = []

    def build(log=None, force=False):
        built.append(1)
        return problem

    def no_kamailio_here(*args, **kw):
        raise AssertionError("Kamailio started before make frozen was settled")
    monkeypatch.setattr(membench.frozen_build, "build", build)
    monkeypatch.setattr(membench, "Kamailio", no_kamailio_here)
    monkeypatch.setattr(membench, "find_binary", lambda name: None)
    monkeypatch.setattr(membench, "heaplock_figures", lambda: (None, "not run here"))
    monkeypatch.setattr(sys, "argv", ["membench.py"] + argv)
    return membench.main(), built


def test_membench_builds_the_frozen_port_once_before_any_timed_run(monkeypatch, capsys):
    # a stale build redone inside tools/sim's 20 s boot step read as "> 512 wK"
    rc, built = _membench_with_frozen_build(monkeypatch, None, ["--modes", "frozen"])
    assert built == [1] and rc == 1, (built, rc)


def test_membench_single_frozen_run_stops_on_a_build_error_before_kamailio(monkeypatch, capsys):
    rc, built = _membench_with_frozen_build(monkeypatch, "apt-get source failed", ["--heap", "56", "--frozen"])
    assert rc == 1 and built == [1]
    assert "make frozen: apt-get source failed" in capsys.readouterr().out
