"""Impolite peers: a scanner flood at the minimum heap while a call carries a tone
(issue 9 item 4: bounded work and memory under any traffic).

Door sim A (registered at Kamailio, accept_from "registrar", microphone a
1 kHz tone) calls a SIPp callee whose SDP names a port of this test: an RTP
peer there records A's packets with kernel receive timestamps and talks
back with PCMU silence every 20 ms (so A's media timeout never fires).
Once the call is up, host_tests/impolite/flood.py (its own process) sends
2,000 OPTIONS + 2,000 INVITEs (from sources that are not the registrar, so
filtered) + 2,000 garbage datagrams, each unique, from 8 source ports at
A's SIP port, as fast as the loopback takes them.

Asserted: A never exits; the tone reaching the far end has no gap longer
than 100 ms (arrival gaps and sequence holes, kernel timestamps) and stays
a 1 kHz tone; A's live heap (the `mem` command's `memory` event) is back
within HEAP_MARGIN of its pre-flood baseline within 40 s. Under CPython the
live heap is not measurable (the `memory` event carries nulls): the heap
part is MicroPython-only, the rest runs under both runtimes. The figures
are printed (pytest -s) and written to flood-figures.json in the test's
tmp directory.
"""

import json
import os
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import wave

import pytest

from ._rig import HERE, RUNTIMES, raw_register, stop_pid

# The README's smallest heap for the `.mpy` deployment (README.md, "Memory",
# the table row "`.mpy` files on the filesystem (`make deploy`)"): the flood
# runs A at exactly that heap, with tools/sim --mpy.
README_MIN_HEAP_MPY = "149wK"
FLOOD_COUNT = 2000            # each of OPTIONS, INVITE, garbage
FLOOD_SOURCES = 8
# As fast as A's socket takes them: the generator pauses while more than this
# many bytes wait in A's receive queue, so the flood reaches the firmware
# instead of being dropped by the kernel (a burst at full speed loses ~97 %
# of it in the queue and is over in 0.1 s, before A has read a tenth).
FLOOD_QUEUE = 64 * 1024
MAX_GAP_MS = 100              # issue 9 item 4
RECOVERY_S = 40               # the heap is back at its baseline within 40 s
# Margin over the pre-flood baseline. The baseline is the largest of three
# `mem` samples in the quiet call; between two samples the live heap of a
# call moves by a few hundred bytes (the datagram being received, RTCP and
# jitter state, the stdout line being built). 2 KiB on this 64-bit host is
# 256 words: far less than one lingering server transaction per flood
# source (625-770 B each, 8 sources) plus a destination-cache entry each, so
# anything the flood leaves behind shows, and the call's own noise does not.
HEAP_MARGIN = 2048
TONE_HZ = 1000
USERS = {"door": "secret", "far": "farsecret"}
FLOOD = os.path.join(HERE, "flood.py")
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)    # Linux


def write_tone(path, seconds=1.0, rate=8000, amplitude=12000):
    """A mono 16-bit 8 kHz 1 kHz sine, whole periods (it loops without a click)."""
    import math
    n = int(rate * seconds)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(round(amplitude * math.sin(
            2 * math.pi * TONE_HZ * i / rate)))) for i in range(n)))
    return str(path)


def _ulaw(b):
    b = ~b & 0xFF
    exp = (b >> 4) & 7
    sample = ((((b & 0x0F) << 3) + 0x84) << exp) - 0x84
    return -sample if b & 0x80 else sample


ULAW = [_ulaw(b) for b in range(256)]


class RtpPeer:
    """The far end's media: records every RTP packet from A with its kernel
    receive time, and sends PCMU silence to A every 20 ms from the port the
    SDP named."""

    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port = port
        self.packets = []          # (kernel time s, seq, payload)
        self.remote = None
        self.stop = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self, remote):
        self.remote = remote
        self.thread.start()
        return self

    def _run(self):
        ssrc = 0x1234ABCD
        seq, ts = 1, 0
        payload = b"\xff" * 160
        next_send = time.monotonic()
        while not self.stop.is_set():
            wait = max(0.0, next_send - time.monotonic())
            ready, _, _ = select.select([self.sock], [], [], wait)
            if ready:
                try:
                    data, anc, _flags, _addr = self.sock.recvmsg(2048, 64)
                except OSError:
                    data, anc = b"", []
                t = None
                for level, kind, cdata in anc:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                        sec, nsec = struct.unpack("qq", cdata[:16])
                        t = sec + nsec / 1e9
                if t is None:
                    t = time.time()
                if len(data) >= 12 and data[0] >> 6 == 2 and data[1] & 0x7F == 0:
                    self.packets.append((t, struct.unpack_from(">H", data, 2)[0], data[12:]))
            if time.monotonic() >= next_send:
                pkt = struct.pack(">BBHII", 0x80, 0, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload
                try:
                    self.sock.sendto(pkt, self.remote)
                    self.sent += 1
                except OSError:
                    pass
                seq += 1
                ts += 160
                next_send += 0.020
                if time.monotonic() - next_send > 0.2:      # we were descheduled: catch up
                    next_send = time.monotonic()

    def close(self):
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(2)
        self.sock.close()

    def analyse(self, t_from, t_to):
        """Longest audio gap (ms) between t_from and t_to (wall clock): the
        largest of each arrival gap and each sequence step x 20 ms; the
        sequence holes; the 1 kHz tone's frequency per second of audio."""
        pk = [p for p in self.packets if t_from <= p[0] <= t_to]
        out = {"packets": len(pk), "longest_gap_ms": None, "gap_at": None, "lost": 0}
        if len(pk) < 2:
            return out
        longest, at, lost = 0.0, None, 0
        for (t0, s0, _), (t1, s1, _) in zip(pk, pk[1:]):
            step = (s1 - s0) & 0xFFFF
            gap = t1 - t0
            if 0 < step < 1000:
                gap = max(gap, 0.020 * step)
                lost += step - 1
            if gap > longest:
                longest, at = gap, t0
        out.update(longest_gap_ms=round(longest * 1000, 1), gap_at=at, lost=lost)
        # the tone, in sequence order, one zero-crossing count per second
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "core"))
        from _helpers import zc_freq
        samples = []
        for _t, _s, payload in sorted(pk, key=lambda p: p[1]):
            samples.extend(ULAW[b] for b in payload)
        freqs = [round(zc_freq(samples[i:i + 8000], 8000), 1)
                 for i in range(0, len(samples) - 7999, 8000)]
        out["tone_hz"] = freqs
        return out


def udp_drops(port):
    """Datagrams the kernel dropped at 127.0.0.1:port because the socket's
    receive queue was full (Linux /proc/net/udp `drops`), or None."""
    try:
        with open("/proc/net/udp") as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        return None
    for row in rows:
        cols = row.split()
        if len(cols) >= 13 and cols[1] == "0100007F:%04X" % port:
            return int(cols[12])
    return None


def mem(sim, timeout=10):
    """A's `memory` event (live heap after a collection)."""
    mark = len(sim.events)
    sim.send("mem")
    return sim.wait_event("memory", timeout, since=mark)


def readme_mpy_minimum_heap():
    """The `.mpy` row's **N wK** figure in README.md's Memory table, as "NwK"."""
    with open(os.path.join(os.path.dirname(os.path.dirname(HERE)), "README.md")) as f:
        text = f.read()
    row = [line for line in text.splitlines() if line.startswith("| `.mpy` files")]
    figure = re.search(r"\*\*(\d+) wK\*\*", row[0]) if row else None
    return figure.group(1) + "wK" if figure else None


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_flood_at_minimum_heap_keeps_the_call_and_the_heap(rig, tmp_path, runtime):
    # the constant is the README's figure: keep them in step
    assert readme_mpy_minimum_heap() == README_MIN_HEAP_MPY, (
        "README.md's .mpy minimum heap is %s, this test uses %s"
        % (readme_mpy_minimum_heap(), README_MIN_HEAP_MPY))
    kam = rig.kamailio(USERS)
    media_port = rig.port(2, even=True)
    uas = rig.sipp("flood_uas_answer_media_at_key.xml", timeout=180, args=["-s", "far"],
                   keys={"rtp_port": media_port}).start()
    # A, registered, places its calls through Kamailio: the far end is "far" there
    regs = raw_register(kam.port, "far", USERS["far"], expires=300, contact_port=uas.port)
    assert regs and regs[-1][0] == 200, regs
    tone = write_tone(tmp_path / "tone.wav")
    extra = ["--mic", tone]
    if runtime == "micropython":
        extra += ["--mpy", "--heap", README_MIN_HEAP_MPY]
    try:
        a = rig.sim(runtime, registrar=(kam.port, USERS["door"]),
                    calls={"accept_from": "registrar"}, extra_args=extra, pcap=False)
    except AssertionError as e:
        raise AssertionError("A did not boot and register (%s): %s" % (
            " ".join(extra[2:]) or runtime, e)) from None
    peer = RtpPeer(media_port).start(("127.0.0.1", a.rtp_port))
    figures = {"runtime": runtime, "heap": README_MIN_HEAP_MPY if runtime == "micropython" else None}

    def alive():
        return a.proc.poll() is None

    def sample(samples):
        """One `mem` sample into samples; False if A is gone."""
        try:
            samples.append(mem(a, 20))
            return True
        except (AssertionError, OSError):      # no event, or A's stdin is a broken pipe
            if alive():
                raise
            return False

    def run():
        a.send("dial sip:far@127.0.0.1:%d" % kam.port)
        first = a.wait_event("call", 5, state="dialing")
        cid = first["id"]
        a.wait_event("call", 8, id=cid, state="connected")
        time.sleep(2.0)
        assert len(peer.packets) > 50, "harness: no RTP from A at the far end"
        base = [mem(a) for _ in range(3)]
        figures["baseline_samples"] = [m.get("alloc") for m in base]
        baseline = max(m["alloc"] for m in base) if base[0].get("alloc") is not None else None
        figures["heap_before"] = baseline

        drops_before = udp_drops(a.sip_port)
        t_flood = time.time()
        gen = subprocess.Popen(
            [sys.executable, FLOOD, "--port", str(a.sip_port), "--count", str(FLOOD_COUNT),
             "--sources", str(FLOOD_SOURCES), "--listen", "3", "--limit", "90",
             "--queue", str(FLOOD_QUEUE)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        rig.extra.append(gen)
        samples = []
        # sample A's live heap while the generator runs (its last 3 s only listen)
        while gen.poll() is None and time.time() - t_flood < 100 and sample(samples):
            time.sleep(0.5)
        try:
            out, err = gen.communicate(timeout=100)
        except subprocess.TimeoutExpired:
            stop_pid(gen)
            raise AssertionError("the flood generator did not finish") from None
        assert gen.returncode == 0, err.decode(errors="replace")
        flood = json.loads(out.decode().strip().splitlines()[-1])
        t_flood_end = t_flood + flood["send_seconds"]
        figures["flood"] = flood
        answered = flood["answered"]
        figures["answered"] = answered
        figures["unanswered"] = dict(
            (kind, flood["sent"][kind] - sum(v for k, v in answered.items()
                                             if k.startswith(kind + " ")))
            for kind in ("OPTIONS", "INVITE", "garbage"))
        drops_after = udp_drops(a.sip_port)
        if drops_before is not None and drops_after is not None:
            # the kernel dropped these because A's socket queue was full: they never reached A
            figures["kernel_dropped_at_A"] = drops_after - drops_before
        # heap back at its baseline within RECOVERY_S of the last datagram
        back_at = None
        while baseline is not None and time.time() - t_flood_end < RECOVERY_S and sample(samples):
            m = samples[-1]
            if m["alloc"] <= baseline + HEAP_MARGIN:
                back_at = time.time() - t_flood_end
                break
            time.sleep(1.0)
        allocs = [m["alloc"] for m in samples if m.get("alloc") is not None]
        figures["heap_peak_sampled"] = max(allocs) if allocs else None
        figures["heap_after"] = samples[-1].get("alloc") if samples else None
        figures["heap_back_after_s"] = None if back_at is None else round(back_at, 1)
        figures["errors"] = samples[-1].get("errors") if samples else None
        figures["a_exited"] = not alive()
        end = None
        if alive():
            time.sleep(1.0)            # a last second of audio after the flood
            t_end = time.time()
            a.send("hangup")
            end = a.wait_event("call", 5, id=cid, state="ended")
            figures["a_media_stats"] = end.get("media")
        else:
            t_end = time.time()
        media = peer.analyse(t_flood - 1.0, t_end)
        figures["audio"] = dict((k, v) for k, v in media.items() if k != "gap_at")
        if media.get("gap_at") is not None:
            figures["audio"]["gap_at_s_after_flood_start"] = round(media["gap_at"] - t_flood, 3)
        text = json.dumps(figures, indent=1, sort_keys=True)
        print(text)
        with open(str(tmp_path / "flood-figures.json"), "w") as f:
            f.write(text)

        assert alive(), "A exited (rc %s) during or after the flood\n%s\n%s" % (
            a.proc.poll(), text, a.stderr_text()[-2000:])
        assert "MemoryError" not in a.stderr_text(), a.stderr_text()[-3000:]
        assert end.get("reason") == "local_hangup", end
        assert uas.wait(10) == 0, uas.report()
        assert media["longest_gap_ms"] is not None and media["longest_gap_ms"] <= MAX_GAP_MS, (
            "audio gap of %s ms at the far end\n%s" % (media["longest_gap_ms"], text))
        assert media["tone_hz"] and all(abs(f - TONE_HZ) <= 20 for f in media["tone_hz"]), text
        if baseline is not None:
            assert back_at is not None, (
                "A's live heap not back within %d B of its baseline %d B %d s after the flood "
                "(now %s B)\n%s" % (HEAP_MARGIN, baseline, RECOVERY_S, figures["heap_after"], text))
        assert a.quit(10) == 0
        a.check_stdout()

    try:
        run()
    except AssertionError as e:
        raise AssertionError("%s\n==== peers ====\n%s" % (e, rig.report())) from None
    finally:
        peer.close()
