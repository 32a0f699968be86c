"""Impolite registrar (issue 9 items 9-10; RFC 3261 sections 10.2.4, 20.33, 21.5.4;
RFC 3581; RFC 5626 section 3.5.1 keep-alive).

A SIPp registrar answers the sim's first REGISTER with 503 and Retry-After: 5,
then grants 700000 s (past the ticks window: it used to wrap the refresh timer
into a REGISTER storm) with a Via rport=70000 (no such port: adopting it made
every later message unparseable by our own parser). tools/sim runs under both
runtimes; every wait is bounded and every process is stopped by its PID.
"""

import os
import sys
import time

import pytest

from ._rig import RUNTIMES, pcap_records

HERE = os.path.dirname(os.path.abspath(__file__))
FIRMWARE = os.path.join(os.path.dirname(os.path.dirname(HERE)), "firmware")
if FIRMWARE not in sys.path:
    sys.path.insert(0, FIRMWARE)

from intercom.sip.message import parse  # noqa: E402
from intercom.sip.validate import check_request, check_response  # noqa: E402

SCENARIO = "registrar_503_retry_after_then_huge_expires.xml"
RETRY_AFTER_S = 5
CLAMPED_EXPIRES = 86400        # registration.MAX_EXPIRES
QUIET_S = 10                   # the window in which REGISTERs are counted
KEEPALIVE_S = 4
# The pcap stamps come from the sim's wall clock, its timers from ticks_ms:
# each floors to 1 ms, so "no earlier than 5 s" is checked to within 5 ms.
CLOCKS_MS = 0.005


def explain(rig, fn):
    try:
        return fn()
    except AssertionError as e:
        raise AssertionError("%s\n==== peers ====\n%s" % (e, rig.report())) from None


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_registrar_503_retry_after_then_700000_s_and_rport_70000(rig, runtime):
    """The retry waits Retry-After; the 700000 s grant is clamped (one
    registered event, no REGISTER storm); rport=70000 is not adopted and every
    message the sim sends still parses; keep-alives go while idle."""

    def run():
        port = rig.port()
        uas = rig.sipp(SCENARIO, port=port, timeout=60, args=["-nr"]).start()
        time.sleep(0.2)
        sim = rig.sim(runtime, registrar=(port, "secret"), wait_registered=False,
                      sip={"expires": 300, "keepalive": KEEPALIVE_S})
        failed = sim.wait_event("registration_failed", 10, since=0)
        assert failed.get("status") == 503, failed
        assert failed.get("retry_in") == RETRY_AFTER_S, failed
        registered = sim.wait_event("registered", RETRY_AFTER_S + 10, since=0)
        assert registered.get("expires") == CLAMPED_EXPIRES, registered
        time.sleep(QUIET_S)

        recs = pcap_records(sim)
        sent = [r for r in recs if r["out"]]
        registers = [r for r in sent if r["first"].startswith("REGISTER ")]
        t503 = [r["t"] for r in recs if not r["out"] and r["first"].startswith("SIP/2.0 503")]
        t200 = [r["t"] for r in recs if not r["out"] and r["first"].startswith("SIP/2.0 200")]
        assert len(t503) == 1 and t200, [r["first"] for r in recs]
        assert len(registers) >= 2, [r["first"] for r in recs]
        waited = registers[1]["t"] - t503[0]
        print("%s: REGISTER after the 503 (Retry-After %d): %.3f s" % (runtime, RETRY_AFTER_S, waited))
        assert waited >= RETRY_AFTER_S - CLOCKS_MS, "second REGISTER %.3f s after the 503" % waited

        after = [r for r in registers if r["t"] > t200[0]]
        span = time.time() - t200[0]       # the pcap is stamped with this machine's wall clock
        print("%s: %d REGISTERs in the %.1f s after the 200 granting 700000 s"
              % (runtime, len(after), span))
        assert span >= QUIET_S - 1, span
        assert after == [], "REGISTER storm: %d REGISTERs after the 200" % len(after)
        assert sum(1 for e in sim.events if e["event"] == "registered") == 1, sim.events

        keepalives = [r for r in sent if r["text"] == "\r\n\r\n"]
        print("%s: %d CRLF keep-alives in %.1f s idle (sip.keepalive %d s)"
              % (runtime, len(keepalives), span, KEEPALIVE_S))
        assert keepalives and all(r["peer"] == ("127.0.0.1", port) for r in keepalives)
        assert len(keepalives) <= span / KEEPALIVE_S + 1, len(keepalives)

        assert sim.quit(10) == 0, sim.describe()
        sim.wait_event("unregistered", 1)
        assert uas.wait(15) == 0, uas.report()

        # everything the sim sent parses with our own parser, Contact unchanged
        contact = "sip:door@127.0.0.1:%d" % sim.sip_port
        checked = 0
        for r in pcap_records(sim):
            if not r["out"] or r["text"] == "\r\n\r\n":
                continue
            msg = parse(r["text"].encode())
            if msg.is_request:
                check_request(msg)
                if msg.method == "REGISTER":
                    assert str(msg.contacts[0].uri) == contact, r["text"]
            else:
                check_response(msg)
            checked += 1
        assert checked >= 3, checked
        assert "rport" in sim.stderr_text(), "the bad rport was not logged"

    explain(rig, run)
