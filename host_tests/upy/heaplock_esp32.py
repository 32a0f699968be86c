"""Under the MicroPython unix port: the ESP32 board's frame loop (buttons, Wi-Fi, LED, I2S) runs under heap_lock.

The door runs hal/esp32.py over the fakes in host_tests/fakes (machine: Pin,
I2S, WDT, RTC; network: WLAN), with real UDP sockets on 127.0.0.1; its peer
is a host phone as in heaplock_call.py. The door's microphone is a paced
fake I2S source (a 1 kHz tone in 32-bit words at 16 kHz, one frame per
20 ms of ticks), its speaker a counting fake I2S (fake_i2s_capture off), so
the fakes allocate nothing themselves, like the DMA and the scheduler.
After set-up and warm-up, N frames of the door's Driver.step() (service:
LED, relay, Wi-Fi supervision, buttons; button and board events; the
device-paced pump through I2sAudio) and the scheduler's I2S callbacks run
with micropython.heap_lock() held. Only the datagram read is let through:
the socket wrapper unlocks the heap around recv() and measures it.
A third argument `G722` makes it a wideband call (both list G.722 first):
the 16 kHz microphone goes straight to the encoder and the speaker runs at
16 kHz (640 bytes a frame).
Prints `N passed, N failed` and the bytes allocated per frame."""

import sys
import gc
import micropython
import time

import machine
import network
from intercom import config
from intercom.netcompat import UdpSocket
from _locked import LockedSocket, QuietBoard, allowed, locked, received_bytes  # noqa: F401
from intercom.sip.ua import UserAgent
from intercom.app import App
from intercom.driver import Driver
from intercom.hal.esp32 import Esp32Board
from intercom.hal.host_audio import HostAudio
from intercom.board import load_board

FRAMES = int(sys.argv[1]) if len(sys.argv) > 1 else 500
BASE = int(sys.argv[2]) if len(sys.argv) > 2 else 47200
WIDEBAND = len(sys.argv) > 3 and sys.argv[3] == "G722"
CODECS = ["G722", "PCMU"] if WIDEBAND else ["PCMU", "PCMA"]
BOARD = "esp32-devkitc-inmp441"


class QuietEsp32(Esp32Board):
    """The ESP32 board, its events kept for the set-up checks."""

    def __init__(self, description, cfg):
        Esp32Board.__init__(self, description, cfg, "error", time.ticks_ms, lambda line: None)
        self.seen = []

    def emit(self, event):
        self.seen.append(event)


def rand_hex(n):
    import os
    import binascii
    return binascii.hexlify(os.urandom(n)).decode()[:n]


def rand_bytes(n):
    import os
    return os.urandom(n)


def mic_pattern():
    """One period of 1 kHz at 16 kHz: 16 INMP441 words (24 bits MSB-aligned in 32, LE)."""
    from intercom.media.tones import ToneGenerator
    gen = ToneGenerator(16000)
    gen.start("busy")              # 425 Hz would not loop in 16 samples: build the sine by hand
    out = bytearray()
    quarter = (0, 3135, 5793, 7568, 8192)     # 8192 * sin(k * pi / 8), k = 0..4
    wave = list(quarter) + [quarter[3], quarter[2], quarter[1]]
    wave = wave + [-v for v in wave]
    for v in wave:
        w = ((v * 64) << 8) & 0xFFFFFFFF      # a 24-bit sample in the top of the word
        out += bytes((w & 0xFF, (w >> 8) & 0xFF, (w >> 16) & 0xFF, (w >> 24) & 0xFF))
    return bytes(out)


def write_tone(path):
    from intercom.media.wav import WavWriter
    from intercom.media.tones import ToneGenerator
    gen = ToneGenerator(8000)
    gen.start("busy")
    buf = bytearray(320)
    w = WavWriter(path, rate=8000)
    for _ in range(50):
        gen.fill(buf, 160)
        w.write(buf, 160)
    w.close()


def door():
    machine.fake_reset()
    network.fake_reset()
    cfg = config.defaults()
    cfg["sip"].update({"registrar": "", "user": "door", "local_port": BASE})
    cfg["media"]["rtp_port"] = BASE + 10
    cfg["media"]["codecs"] = CODECS
    cfg["calls"].update({"accept_from": ["127.0.0.1"], "auto_answer": True})
    cfg["wifi"].update({"ssid": "door-net", "password": "wifi-secret"})
    cfg["board"] = BOARD
    board = QuietEsp32(load_board(BOARD, ["../../boards"]), cfg)
    machine.fake_i2s_source(board.description["roles"]["mic"]["i2s_id"], mic_pattern(), time.ticks_ms)
    machine.fake_i2s_capture(board.description["roles"]["speaker"]["i2s_id"], False)
    board.start(time.ticks_ms())
    ua = UserAgent(cfg, "127.0.0.1", None, rand_hex, lambda lvl, txt: None, time.ticks_ms())
    app = App(ua, board, cfg, rand_bytes)
    drv = Driver(ua, app, board, UdpSocket("127.0.0.1", BASE), LockedSocket("127.0.0.1", BASE + 10),
                 LockedSocket("127.0.0.1", BASE + 11))
    return ua, app, board, drv


def flat(mic_path):
    cfg = config.defaults()
    cfg["sip"].update({"registrar": "", "user": "flat", "local_port": BASE + 2})
    cfg["media"]["rtp_port"] = BASE + 20
    cfg["media"]["codecs"] = CODECS
    cfg["calls"].update({"accept_from": ["127.0.0.1"], "auto_answer": True})
    board = QuietBoard(load_board("host", ["../../boards"]))
    board.audio = HostAudio(mic_path, None)
    ua = UserAgent(cfg, "127.0.0.1", None, rand_hex, lambda lvl, txt: None, time.ticks_ms())
    app = App(ua, board, cfg, rand_bytes)
    drv = Driver(ua, app, board, UdpSocket("127.0.0.1", BASE + 2), LockedSocket("127.0.0.1", BASE + 20),
                 LockedSocket("127.0.0.1", BASE + 21))
    return ua, app, board, drv


def step(drv_a, drv_b):
    drv_a.step()
    machine.fake_run_scheduled()          # the hardware: DMA completions, I2S callbacks
    drv_b.step()


def main():
    write_tone("/tmp/heaplock_esp32_tone.wav")
    ua_a, app_a, board_a, drv_a = door()
    ua_b, app_b, board_b, drv_b = flat("/tmp/heaplock_esp32_tone.wav")
    for drv in (drv_a, drv_b):
        drv.ua.tick(time.ticks_ms())
        drv.app.start(time.ticks_ms())
    ua_a.dial("sip:flat@127.0.0.1:%d" % (BASE + 2))
    start = time.ticks_ms()
    # set up + warm up, until both sides sent their first RTCP report (its
    # randomised first interval is 1.25-3.75 s): the first datagram to a new
    # destination converts its address once per call, which is not per-frame work
    while (time.ticks_diff(time.ticks_ms(), start) < 3000
           or (time.ticks_diff(time.ticks_ms(), start) < 8000
               and not (app_a.audio.session.rtcp.reports and app_b.audio.session.rtcp.reports))):
        step(drv_a, drv_b)
    failures = 0
    connected = [e for e in board_b.events if e.get("state") == "connected"]
    wifi = [e for e in board_a.seen if e.get("event") == "wifi" and e.get("connected")]
    audio = board_a.audio
    if not connected or not wifi or audio.rx is None or audio.tx is None:
        print("FAILED setup: call %r, wifi %r, mic %r, speaker %r" % (
            bool(connected), bool(wifi), audio.rx, audio.tx), board_a.seen, board_b.events)
        print("0 passed, 1 failed")
        return 1
    gc.collect()
    before_a = app_a.audio.frames
    before_b = app_b.audio.frames
    received_before = allowed[0]
    spk_before = machine.fake_i2s_written(1)[0]
    feeds_before = machine.stats["wdt_feeds"]
    polls_before = board_a.station.checked
    gc.disable()
    mem_before = gc.mem_alloc()
    error = None
    micropython.heap_lock()
    locked[0] = True
    try:
        while app_a.audio.frames - before_a < FRAMES or app_b.audio.frames - before_b < FRAMES:
            step(drv_a, drv_b)
    except MemoryError as err:
        error = err
    finally:
        locked[0] = False
        micropython.heap_unlock()
    grown = gc.mem_alloc() - mem_before
    gc.enable()
    frames = app_a.audio.frames - before_a
    datagrams = allowed[0] - received_before
    other = grown - received_bytes[0]
    spk_bytes, spk_peak = machine.fake_i2s_written(1)
    spk_bytes -= spk_before
    stats_b = app_b.audio.session.jitter.stats()
    stats_a = app_a.audio.session.jitter.stats()
    print("esp32 door: frames %d under heap_lock (flat %d), datagrams received %d (%d bytes),"
          " heap grown %d bytes, %d bytes per frame outside the received datagrams;"
          " speaker %d bytes (peak %d), mic peak %d, watchdog feeds %d, door jitter received=%d lost=%d,"
          " flat jitter received=%d lost=%d" % (
              frames, app_b.audio.frames - before_b, datagrams, received_bytes[0], grown,
              other // frames if frames else -1, spk_bytes, spk_peak, audio.peak,
              machine.stats["wdt_feeds"] - feeds_before, stats_a["received"], stats_a["lost"],
              stats_b["received"], stats_b["lost"]))
    if error is not None:
        failures += 1
        print("FAILED: allocation under heap_lock:", repr(error))
        sys.print_exception(error)
    if other != 0:
        failures += 1
        print("FAILED: %d bytes allocated outside the datagram reads" % other)
    if frames < FRAMES or stats_b["received"] < FRAMES // 2 or stats_a["received"] < FRAMES // 2:
        failures += 1
        print("FAILED: audio did not flow both ways under the lock")
    if WIDEBAND and not (audio.wideband and app_a.audio.session.codec.name == "G722"):
        failures += 1
        print("FAILED: the call is not wideband: codec %s" % app_a.audio.session.codec.name)
    if spk_bytes < (640 if WIDEBAND else 320) * (FRAMES - 2) or spk_peak < 1000 or audio.peak < 1000:
        failures += 1
        print("FAILED: the door's speaker or microphone did not carry the tones")
    if board_a.station.checked == polls_before or machine.stats["wdt_feeds"] - feeds_before < FRAMES:
        failures += 1
        print("FAILED: Wi-Fi supervision or the watchdog did not run under the lock")
    if drv_a.rtp_peer is None or drv_a.rtp_peer != app_a.audio.session.sdp_dest:
        failures += 1
        print("FAILED: the door's RTP socket is not connected to the SDP address")
    ua_a.hangup()
    for _ in range(50):
        step(drv_a, drv_b)
    if audio.rx is not None or audio.tx is not None:
        failures += 1
        print("FAILED: I2S still running after the call ended: mic %r, speaker %r" % (audio.rx, audio.tx))
    print("%d passed, %d failed" % (1 - min(failures, 1), min(failures, 1)))
    return failures


if __name__ == "__main__":
    sys.exit(1 if main() else 0)
