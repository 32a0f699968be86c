"""hal/esp32.py against the fake machine/network: buttons, LEDs, relay, Wi-Fi, watchdog, I2S audio."""

import _device
from _device import Clock, make_board, make_cfg, settle, BOARDS, fresh
import machine
import network
from intercom.board import load_board


def press(gpio, down=True):
    machine.fake_set_level(gpio, 0 if down else 1)     # buttons are active low


# --- buttons -----------------------------------------------------------------------------
def test_click_is_debounced_into_press_release_click():
    board, clock, _ = make_board()
    for level in (0, 1, 0, 1, 0):                 # contact bounce inside 5 ms
        machine.fake_set_level(18, level)
    assert board.take_button_events() == []       # nothing before the contact settles
    assert settle(board, clock) == [("talk", "press")]
    press(18, False)
    assert settle(board, clock) == [("talk", "release"), ("talk", "click")]


def test_bounce_that_returns_is_no_event():
    board, clock, _ = make_board()
    press(19)
    press(19, False)
    assert settle(board, clock) == []


def test_long_press_fires_once_then_release_without_click():
    board, clock, _ = make_board()
    press(19)
    assert settle(board, clock) == [("hangup", "press")]
    assert settle(board, clock, 1000) == []
    assert settle(board, clock, 600) == [("hangup", "long")]
    assert settle(board, clock, 3000) == []
    press(19, False)
    assert settle(board, clock) == [("hangup", "release")]


def test_irq_handler_only_records_the_edge():
    board, clock, _ = make_board()
    st = machine.fake_pin(18)
    assert st.trigger == machine.Pin.IRQ_FALLING | machine.Pin.IRQ_RISING
    assert st.pull == machine.Pin.PULL_UP
    press(18)
    i = board.buttons.roles.index("talk")
    assert board.buttons.edge[i] == 1 and board.buttons.edge[1 - i] == 0
    assert board.buttons.edge_at[i] == clock()
    assert board.buttons.events == []


def test_irq_handler_does_not_allocate():
    try:
        import micropython
        lock = micropython.heap_lock
    except (ImportError, AttributeError):
        return                              # CPython: nothing to prove
    board, clock, _ = make_board()
    handler = machine.fake_pin(18).handler
    pin = machine.Pin(18)
    handler(pin)                            # warm up
    lock()
    try:
        handler(pin)
    finally:
        micropython.heap_unlock()


def test_atom_echo_button_has_no_internal_pull():
    board, clock, _ = make_board("atom-echo")
    assert machine.fake_pin(39).pull is None
    press(39)
    assert settle(board, clock) == [("talk", "press")]


# --- LED ---------------------------------------------------------------------------------
def test_led_patterns_blink_from_service():
    board, clock, _ = make_board()
    led = machine.fake_pin(21)
    assert led.level == 1                       # "booting" starts lit
    board.set_led("ringing")
    seen = []
    for _ in range(20):
        clock.advance(60)
        board.service(clock())
        seen.append(led.level)
    assert 0 in seen and 1 in seen
    board.set_led("in_call")
    clock.advance(5000)
    board.service(clock())
    assert led.level == 1
    for pattern in ("booting", "not_registered", "registered", "error"):
        board.set_led(pattern)
        board.service(clock.advance(10))


def test_led_unknown_pattern_raises():
    board, clock, _ = make_board()
    try:
        board.set_led("disco")
    except ValueError as err:
        assert "disco" in str(err)
    else:
        raise AssertionError("no error")


def test_neopixel_led_gets_the_pattern_colour():
    board, clock, _ = make_board("atom-echo")
    board.set_led("error")
    assert board.pixel.shown[-1] == [(48, 0, 0)]
    clock.advance(70)
    board.service(clock())
    assert board.pixel.shown[-1] == [(0, 0, 0)]


# --- relay ------------------------------------------------------------------------------
def test_relay_pulse_and_polarity():
    board, clock, _ = make_board()
    pin = machine.fake_pin(23)
    assert pin.level == 0
    board.set_relay(True, 3000)
    assert pin.level == 1 and board.relay
    clock.advance(2999)
    board.service(clock())
    assert pin.level == 1
    clock.advance(1)
    board.service(clock())
    assert pin.level == 0 and not board.relay


def test_relay_active_low_and_safety_stop():
    fresh()
    desc = load_board("esp32-devkitc-inmp441", [BOARDS])
    desc["roles"]["relay"]["active_low"] = True
    from intercom.hal.esp32 import Esp32Board
    clock = Clock()
    board = Esp32Board(desc, make_cfg(), "info", clock, lambda line: None)
    pin = machine.fake_pin(23)
    assert pin.level == 1                       # released = high on an active-low module
    board.set_relay(True)                       # the app forgets to end it
    assert pin.level == 0
    clock.advance(10000)
    board.service(clock())
    assert pin.level == 1


# --- watchdog -------------------------------------------------------------------------
def test_watchdog_created_at_start_and_fed():
    board, clock, _ = make_board()
    assert len(machine.wdts) == 1 and machine.wdts[0].timeout == 10000
    board.feed_watchdog()
    board.feed_watchdog()
    assert machine.wdts[0].feeds == 2


def test_boot_feeds_the_watchdog_while_waiting_for_wifi():
    from intercom.hal.esp32 import boot
    fresh()
    network.fake_script("timeout")
    clock = Clock()

    def sleep(ms):
        clock.advance(ms)
    cfg = make_cfg()
    cfg["board"] = "esp32-devkitc-inmp441"
    board = boot(cfg, load_board(cfg["board"], [BOARDS]), clock=clock, printer=lambda s: None,
                 wait_ms=1000, sleep_ms=sleep)
    assert not board.station.connected
    assert machine.wdts[0].feeds >= 19


# --- Wi-Fi ------------------------------------------------------------------------------
def test_wifi_connects_and_reports():
    board, clock, _ = make_board()
    assert network.log[:2] == [("active", True), ("connect", "door-net", "wifi-secret")]
    board.service(clock.advance(10))
    assert board.take_events() == [{"event": "wifi", "connected": True, "ip": "192.168.1.50",
                                    "reason": "connected"}]


def test_wifi_drop_and_return_with_backoff():
    network.fake_reset()
    board, clock, _ = make_board()
    board.service(clock.advance(10))
    board.take_events()
    network.fake_drop()
    network.fake_script("no_ap", "no_ap", "ok")
    board.service(clock.advance(600))
    ev = board.take_events()
    assert ev[0]["event"] == "wifi" and ev[0]["connected"] is False
    connects = []
    for _ in range(200):                                  # 20 s
        board.service(clock.advance(100))
        connects += [e for e in board.take_events() if e["connected"]]
        if connects:
            break
    tries = [e for e in network.log if e[0] == "connect"]
    assert len(tries) == 4                                # first + no_ap, no_ap, ok
    assert connects and connects[0]["ip"] == "192.168.1.50"
    assert board.station.backoff == 1000                  # reset after success


def test_wifi_power_save_off_during_calls():
    board, clock, _ = make_board()
    board.service(clock.advance(10))
    board.set_in_call(True)
    assert board.wlan.config("pm") == network.WLAN.PM_NONE
    board.set_in_call(False)
    assert board.wlan.config("pm") == network.WLAN.PM_PERFORMANCE


def test_no_ssid_is_reported_not_retried():
    cfg = make_cfg()
    cfg["wifi"]["ssid"] = ""
    board, clock, lines = make_board(cfg=cfg)
    board.service(clock.advance(60000))
    assert [e for e in network.log if e[0] == "connect"] == []
    assert any("setup.wifi" in line for line in lines)


# --- audio --------------------------------------------------------------------------------
def _mic_words(values):
    out = bytearray()
    for v in values:                     # 24-bit sample MSB-aligned in a 32-bit LE word
        w = (v << 8) & 0xFFFFFFFF
        out += bytes((w & 0xFF, (w >> 8) & 0xFF, (w >> 16) & 0xFF, (w >> 24) & 0xFF))
    return out


def test_mic_frames_are_read_without_blocking_and_converted():
    board, clock, _ = make_board()
    board.set_in_call(True)
    audio = board.audio
    rx = machine.fake_i2s_active(0)
    assert rx.mode == machine.I2S.RX and rx.bits == 32 and rx.rate == 16000 and rx.callback is not None
    pcm = bytearray(320)
    assert audio.read_frame(pcm) is False             # nothing yet: returns at once
    machine.fake_i2s_feed(0, _mic_words([256 * 100, 256 * 300] * 160))   # 20 ms at 16 kHz
    machine.fake_run_scheduled()
    assert audio.read_frame(pcm) is True
    first = pcm[0] | (pcm[1] << 8)
    assert first == (200 << 2)                         # mean of the pair, shift 2 (+12 dB)
    assert audio.peak == 800
    assert audio.read_frame(pcm) is False


def test_speaker_frames_are_queued_double_buffered():
    board, clock, _ = make_board()
    board.set_in_call(True)
    audio = board.audio
    tx = machine.fake_i2s_active(1)
    assert tx.mode == machine.I2S.TX and tx.rate == 8000 and tx.bits == 16
    frame = bytearray(range(256)) + bytearray(64)
    assert audio.write_frame(frame) and audio.write_frame(frame)
    assert audio.write_frame(frame)                    # both buffers busy: replaces the queued one
    assert audio.dropped == 1
    machine.fake_run_scheduled()
    assert len(machine.fake_i2s_sent(1)) == 640 and audio.tx_busy == -1
    assert bytes(machine.fake_i2s_sent(1)[:320]) == bytes(frame)
    board.set_in_call(False)
    assert machine.fake_i2s_active(1) is None and machine.fake_i2s_active(0) is None


def test_half_duplex_switches_the_shared_bus():
    board, clock, lines = make_board("atom-echo")
    audio = board.audio
    assert audio.half_duplex and not audio.mic_ok       # PDM RX is not in machine.I2S
    assert any("PDM" in line for line in lines)
    board.set_in_call(True)
    dev = machine.fake_i2s_active(0)
    assert dev.mode == machine.I2S.TX
    machine.I2S.PDM_RX = 9                             # a build with PDM RX support
    try:
        audio.mic_ok = True
        audio.set_talking("mic")
        dev = machine.fake_i2s_active(0)
        assert dev.mode == 9 and audio.tx is None
        assert audio.write_frame(bytearray(320)) is False  # speaker muted while the mic is on
        audio.set_talking("speaker")
        assert machine.fake_i2s_active(0).mode == machine.I2S.TX and audio.rx is None
        assert audio.write_frame(bytearray(320)) is True
    finally:
        del machine.I2S.PDM_RX
    assert machine.stats["i2s_bus_conflicts"] == 0     # always released before re-opening


def test_full_duplex_board_ignores_set_talking():
    board, clock, _ = make_board("esp32s3-dual-i2s")
    board.set_in_call(True)
    board.audio.set_talking("mic")
    assert machine.fake_i2s_active(0) is not None and machine.fake_i2s_active(1) is not None


def test_board_interface_matches_host_board():
    board, clock, _ = make_board()
    for name in ("description", "pollables", "owns", "read_command", "emit", "log", "set_led",
                 "set_relay", "feed_watchdog", "take_button_events", "service", "audio",
                 "take_events", "set_in_call", "next_deadline"):
        assert hasattr(board, name), name
    assert board.pollables() == [] and board.read_command() is None
    assert _device.REPO
