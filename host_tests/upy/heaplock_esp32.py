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
import time

import machine
import network
from _locked import (driver, host_phone, phone_config, write_tone, start_phones, settle, lock_frames,
                     allocation_failure, hang_up, received_bytes)
from intercom.hal.esp32 import Esp32Board
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


def door():
    machine.fake_reset()
    network.fake_reset()
    cfg = phone_config("door", BASE, BASE + 10, CODECS)
    cfg["wifi"].update({"ssid": "door-net", "password": "wifi-secret"})
    cfg["board"] = BOARD
    board = QuietEsp32(load_board(BOARD, ["../../boards"]), cfg)
    machine.fake_i2s_source(board.description["roles"]["mic"]["i2s_id"], mic_pattern(), time.ticks_ms)
    machine.fake_i2s_capture(board.description["roles"]["speaker"]["i2s_id"], False)
    board.start(time.ticks_ms())
    return driver(cfg, board)


def step(drv_a, drv_b):
    drv_a.step()
    machine.fake_run_scheduled()          # the hardware: DMA completions, I2S callbacks
    drv_b.step()


def main():
    write_tone("/tmp/heaplock_esp32_tone.wav")
    ua_a, app_a, board_a, drv_a = door()
    ua_b, app_b, board_b, drv_b = host_phone(phone_config("flat", BASE + 2, BASE + 20, CODECS),
                                             "/tmp/heaplock_esp32_tone.wav")
    start_phones(drv_a, drv_b)
    ua_a.dial("sip:flat@127.0.0.1:%d" % (BASE + 2))
    settle(drv_a, drv_b, step)
    failures = 0
    connected = [e for e in board_b.events if e.get("state") == "connected"]
    wifi = [e for e in board_a.seen if e.get("event") == "wifi" and e.get("connected")]
    audio = board_a.audio
    if not connected or not wifi or audio.rx is None or audio.tx is None:
        print("FAILED setup: call %r, wifi %r, mic %r, speaker %r" % (
            bool(connected), bool(wifi), audio.rx, audio.tx), board_a.seen, board_b.events)
        print("0 passed, 1 failed")
        return 1
    spk_before = machine.fake_i2s_written(1)[0]
    feeds_before = machine.stats["wdt_feeds"]
    polls_before = board_a.station.checked
    result = lock_frames(drv_a, drv_b, FRAMES, step)
    grown = result["grown"]
    frames = result["frames_a"]
    datagrams = result["datagrams"]
    other = grown - received_bytes[0]
    spk_bytes, spk_peak = machine.fake_i2s_written(1)
    spk_bytes -= spk_before
    stats_b = app_b.audio.session.jitter.stats()
    stats_a = app_a.audio.session.jitter.stats()
    print("esp32 door: frames %d under heap_lock (flat %d), datagrams received %d (%d bytes),"
          " heap grown %d bytes, %d bytes per frame outside the received datagrams;"
          " speaker %d bytes (peak %d), mic peak %d, watchdog feeds %d, door jitter received=%d lost=%d,"
          " flat jitter received=%d lost=%d" % (
              frames, result["frames_b"], datagrams, received_bytes[0], grown,
              other // frames if frames else -1, spk_bytes, spk_peak, audio.peak,
              machine.stats["wdt_feeds"] - feeds_before, stats_a["received"], stats_a["lost"],
              stats_b["received"], stats_b["lost"]))
    failures += allocation_failure(result)
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
    hang_up(drv_a, drv_b, step)
    if audio.rx is not None or audio.tx is not None:
        failures += 1
        print("FAILED: I2S still running after the call ended: mic %r, speaker %r" % (audio.rx, audio.tx))
    print("%d passed, %d failed" % (1 - min(failures, 1), min(failures, 1)))
    return failures


if __name__ == "__main__":
    sys.exit(1 if main() else 0)
