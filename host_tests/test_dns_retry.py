"""tools/sim with a registrar name that cannot be resolved: it stays up, reports and retries (issue 9 item 7).

The simulator runs inside `unshare -n` (a network namespace with only the
loopback up), where every DNS lookup fails at once: no resolver is
reachable. Nothing leaves the machine, and the fixed ports cannot collide
with other tests."""

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIM = os.path.join(REPO, "tools", "sim")


def isolated_prefix():
    """The command prefix that runs a program in a fresh network namespace with lo up, or skip."""
    prefix = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"']
    ok = shutil.which("unshare") and shutil.which("ip")
    if ok:
        probe = subprocess.run(prefix + ["true"], capture_output=True, timeout=10)
        ok = probe.returncode == 0
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail("unshare -n (a network namespace) is needed for the DNS test")
        pytest.skip("unshare -n not available here (needs root or user namespaces)")
    return prefix


class Sim:
    """tools/sim in the namespace; stdout read line by line on a thread."""

    def __init__(self, cfg_path, runtime):
        self.proc = subprocess.Popen(isolated_prefix() + [sys.executable, SIM, "--config", cfg_path,
                                                          "--runtime", runtime],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines = queue.Queue()
        self.events = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait(self, name, timeout=15, **match):
        """The next event called name (with the given fields); fails after timeout seconds."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            assert left > 0, "no %s %r within %d s; saw %r" % (name, match, timeout, self.events)
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            assert line is not None, "the simulator exited: %r %s" % (self.events, self.proc.stderr.read())
            event = json.loads(line)        # stdout carries JSON lines only
            self.events.append(event)
            if event["event"] == name and all(event.get(k) == v for k, v in match.items()):
                return event

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()          # by PID (the namespace's sh exec'd into the simulator)
            self.proc.wait(10)


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_sim_dns_failure_at_boot_is_retried_on_a_backoff_and_quit_is_clean(tmp_path, runtime):
    cfg = tmp_path / "dns.json"
    cfg.write_text(json.dumps({"board": "host", "sip": {"registrar": "nonexistent.invalid", "user": "door",
                                                        "password": "pw"}}))
    sim = Sim(str(cfg), runtime)
    try:
        sim.wait("ready")
        first = sim.wait("registration_failed", reason="dns")
        assert first["retry_in"] == 2 and first["registrar"] == "nonexistent.invalid"
        sim.send("mem")                                  # the loop answers while DNS fails
        assert sim.wait("memory")["errors"] == 0
        started = time.monotonic()
        second = sim.wait("registration_failed", reason="dns")
        assert second["retry_in"] == 4
        assert time.monotonic() - started < 10
        sim.send("quit")
        assert sim.proc.wait(15) == 0
        stderr = sim.proc.stderr.read()
        assert "cannot resolve registrar 'nonexistent.invalid'" in stderr
        assert "Traceback" not in stderr
        assert not [e for e in sim.events if e["event"] in ("registered", "error")]
    finally:
        sim.stop()
