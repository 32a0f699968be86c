"""G.722 calls under the MicroPython unix port: the heap-lock proofs (host phones, ESP32 board) in a wideband call."""

import os
import subprocess

from test_runtimes import HERE, heaplock_base, tool


def _run(script, args, path):
    env = dict(os.environ, MICROPYPATH=path)
    proc = subprocess.run([tool("micropython"), script] + args, cwd=os.path.join(HERE, "upy"), env=env,
                          capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "1 passed, 0 failed" in out, out
    return out


def test_g722_call_frame_loop_runs_under_heap_lock():
    """Two host phones listing G.722 first negotiate it; 300 frames of both
    Driver.step() (16 kHz WAV mic -> G.722 -> RTP -> G.722 -> speaker) run
    under heap_lock, only the received datagrams allocate."""
    out = _run("heaplock_call.py", ["300", str(heaplock_base()), "20", "20", "G722"], "../../firmware:.frozen")
    print(out.strip().splitlines()[1])


def test_g722_esp32_board_frame_loop_runs_under_heap_lock():
    """The ESP32 board over the fakes in a G.722 call: the 16 kHz I2S mic
    goes straight to the encoder, the speaker gets 640-byte 16 kHz frames;
    nothing allocates outside the datagram reads."""
    out = _run("heaplock_esp32.py", ["300", str(heaplock_base()), "G722"], "../fakes:../../firmware:.frozen")
    assert " 0 bytes per frame outside the received datagrams" in out, out
