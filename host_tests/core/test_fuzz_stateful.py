"""A short run of the stateful SIP fuzzer (fuzz_calls.py): scripted impolite peers, mutations, commands, time jumps.

The long run is tools/fuzz_calls.py (README, "Fuzzing")."""

from fuzz_calls import run, summarize, report

SEEDS = (1, 2, 3, 4, 5, 6, 7, 8)
STEPS = 400


def test_stateful_fuzzer_short_run_finds_nothing():
    findings = []
    totals = {}
    for seed in SEEDS:
        found, counts = run(seed, STEPS)
        findings += found
        for key in counts:
            totals[key] = totals.get(key, 0) + counts[key]
    # the run must reach the interesting states, or it proves nothing
    for state in ("incoming", "dialing", "ringing_out", "connected"):
        assert totals.get(state, 0) > 0, (state, totals)
    assert totals["mutated"] > 0 and totals["episodes"] > len(SEEDS)
    text = "\n".join(["x%d %s\n%s" % (count, sig, report(first)) for sig, count, first in summarize(findings)])
    assert not findings, "stateful fuzzer findings (replay: tools/fuzz_calls.py --seed S --steps N --trace):\n" + text
