"""`make demo` and the simulator's pcap: two phones on 127.0.0.1, one clean call ladder."""

import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPECTED_LADDER = [
    ("door", "flat", "INVITE"), ("flat", "door", "100"), ("flat", "door", "180"),
    ("flat", "door", "200"), ("door", "flat", "ACK"),
    ("flat", "door", "INVITE"), ("door", "flat", "200"), ("flat", "door", "ACK"),     # hold
    ("flat", "door", "INVITE"), ("door", "flat", "200"), ("flat", "door", "ACK"),     # resume
    ("door", "flat", "BYE"), ("flat", "door", "200"),
]


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_demo_call_hold_resume_hangup_exits_0_with_one_clean_ladder(runtime):
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "demo.py"), runtime],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "demo finished" in proc.stdout
    ladder = []
    for line in proc.stdout.split("SIP ladder")[1].splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[2] == "->":
            what = parts[5] if parts[4] == "SIP/2.0" else parts[4]
            ladder.append((parts[1], parts[3], what))
    # exactly these datagrams: no premature retransmission, nothing lost
    assert ladder == EXPECTED_LADDER, proc.stdout


def test_sim_pcap_is_readable_by_tshark(tmp_path):
    tshark = shutil.which("tshark")
    if tshark is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tshark is not installed")
        pytest.skip("tshark not installed")
    cfg = tmp_path / "p.json"
    cfg.write_text('{"board":"host","sip":{"registrar":"","local_port":5098},"media":{"rtp_port":40098}}')
    pcap = tmp_path / "s.pcap"
    # a datagram to ourselves: an OPTIONS we answer, so the capture has both directions
    script = ("import socket,time;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
              "s.bind(('127.0.0.1',5097));"
              "s.sendto(b'OPTIONS sip:door@127.0.0.1:5098 SIP/2.0\\r\\nVia: SIP/2.0/UDP 127.0.0.1:5097;"
              "branch=z9hG4bKt1\\r\\nFrom: <sip:t@127.0.0.1>;tag=1\\r\\nTo: <sip:door@127.0.0.1>\\r\\n"
              "Call-ID: t1\\r\\nCSeq: 1 OPTIONS\\r\\nContent-Length: 0\\r\\n\\r\\n',('127.0.0.1',5098));"
              "s.settimeout(5);print(s.recv(2000).split(b'\\r\\n')[0].decode())")
    sim = subprocess.Popen([sys.executable, os.path.join(REPO, "tools", "sim"), "--config", str(cfg),
                            "--pcap", str(pcap)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert "ready" in sim.stdout.readline()
        reply = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=10)
        assert reply.stdout.strip() == "SIP/2.0 200 OK", reply.stderr
    finally:
        sim.stdin.write("quit\n")
        sim.stdin.close()
        sim.wait(timeout=10)
    out = subprocess.run([tshark, "-r", str(pcap), "-d", "udp.port==5098,sip", "-T", "fields",
                          "-e", "sip.Method", "-e", "sip.Status-Code"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["OPTIONS", "200"]
