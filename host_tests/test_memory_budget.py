"""Memory budget (issue 5): the whole firmware, imported from precompiled .mpy, runs a call in a bounded heap.

tools/sim --mpy --heap 288wK under the MicroPython unix port: boot, register
to Kamailio (digest auth), a call with audio both ways to a second simulator,
hold, resume, hang up, unregister. The scenario is tools/membench.py's (the
one `make bench` bisects); 288 wK is 1.5x the smallest heap measured for it
(191 wK), so this is a functional check that the firmware lives in a bounded
heap, not a timing or a goal assertion (the goal, <= 48 wK, is in the bench).
"""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tools"))
import membench  # noqa: E402
from peers import Kamailio  # noqa: E402  (membench puts host_tests/interop on sys.path)

HEAP_WK = 288


def test_whole_firmware_from_mpy_runs_a_call_in_a_bounded_heap(tmp_path):
    upy = os.path.join(REPO, ".venv", "bin", "micropython")
    if not os.access(upy, os.X_OK):
        msg = "MicroPython unix port not installed (make venv)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    with Kamailio(membench.USERS, workdir=str(tmp_path / "kamailio")) as kamailio:
        run = membench.Scenario(kamailio, HEAP_WK, str(tmp_path / "run"), audio_s=1.5)
        ok = run.run()
        detail = "" if ok else "\n%s\n--- B ---\n%s\n--- kamailio ---\n%s" % (
            run.a.describe(), run.b.describe(), kamailio.log_tail(20))
    assert ok, "at %d wK from build/mpy-x64: %s (steps done: %s)%s" % (
        HEAP_WK, run.failed, [s for s, _ in run.steps], detail)
    assert [s for s, _ in run.steps] == ["boot", "register", "call", "audio", "hold", "resume",
                                         "hangup", "unregister"]
    assert "--mpy" in run.a.cmd and "%dwK" % HEAP_WK in run.a.cmd
