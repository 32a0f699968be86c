"""hal/esp32.py against the fake machine/network: buttons, LEDs, relay, Wi-Fi, watchdog, I2S audio."""

import _device
from _device import Clock, make_board, make_cfg, settle, BOARDS, fresh
import machine
import network
from intercom.board import load_board
from _helpers import pack16


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


# --- state kept in RTC memory across a watchdog or soft reset ------------------------------
def reboot(cfg, power=False, clock=None):
    """A board after a reset: power=False is a watchdog/soft reset (RTC memory kept)."""
    from intercom.hal.esp32 import Esp32Board
    machine.fake_reset(power)
    network.fake_reset()
    clock = clock or Clock()
    board = Esp32Board(load_board("esp32-devkitc-inmp441", [BOARDS]), cfg, "info", clock, lambda line: None)
    board.start(clock())
    return board, clock


def door_of(cfg, board):
    """The door lock as the firmware builds it (AudioControl hands it the board's store)."""
    from intercom.audio import AudioControl
    return AudioControl(cfg, board, lambda event: None, lambda n: bytes(n), "door@test").door


def test_door_lockout_survives_a_watchdog_reset_in_rtc_memory():
    cfg = make_cfg(door={"pin": "2468", "max_attempts": 2, "lockout_s": 60})
    board, clock = reboot(cfg, power=True)
    lock = door_of(cfg, board)
    for key in "1#2#":
        result = lock.on_digit(key, clock())
    assert result == "locked"
    clock.advance(20000)                          # 40 s of the lockout left, then the watchdog bites
    board, clock = reboot(cfg, clock=Clock(7))    # ticks start again from boot
    lock = door_of(cfg, board)
    lock.tick(clock())                            # the loop's first pass re-arms the lockout
    assert lock.level == 1
    clock.advance(59999)
    for key in "2468#":
        result = lock.on_digit(key, clock())
    assert result == "locked"                     # the right PIN is still refused
    clock.advance(1)
    for key in "9#":
        result = lock.on_digit(key, clock())
    assert result == "locked"                     # escalated: one more failure, 120 s
    board, clock = reboot(cfg, clock=Clock(3))
    assert door_of(cfg, board).lock_remaining(clock()) == 120000


def test_power_cycle_forgets_the_lockout():
    cfg = make_cfg(door={"pin": "2468", "max_attempts": 1, "lockout_s": 60})
    board, clock = reboot(cfg, power=True)
    lock = door_of(cfg, board)
    lock.on_digit("1", clock())
    assert lock.on_digit("#", clock()) == "locked"
    board, clock = reboot(cfg, power=True)
    lock = door_of(cfg, board)
    assert lock.level == 0 and not lock.locked(clock())


def test_rtc_memory_records_are_checked_and_kept_apart():
    from intercom.hal.esp32 import rtc_pack, rtc_unpack, RTC_MAGIC
    board, clock = reboot(make_cfg(), power=True)
    assert board.persist_load("door") is None
    board.persist_save("door", b"\x01\x02")
    board.persist_save("other", b"xyz")
    assert board.persist_load("door") == b"\x01\x02" and board.persist_load("other") == b"xyz"
    raw = machine.RTC().memory()
    assert raw.startswith(RTC_MAGIC) and rtc_unpack(raw) == {"door": b"\x01\x02", "other": b"xyz"}
    flipped = bytearray(raw)
    flipped[len(RTC_MAGIC) + 2] ^= 1
    for junk in (b"", b"hello", bytes(flipped), raw[:-3] + raw[-2:], RTC_MAGIC + b"\x09ab"):
        assert rtc_unpack(junk) == {}, junk
    machine.RTC().memory(b"another program's bytes")
    assert board.persist_load("door") is None       # read as empty, then overwritten cleanly
    board.persist_save("door", b"\x05")
    assert rtc_unpack(machine.RTC().memory()) == {"door": b"\x05"}
    assert rtc_pack({}) == rtc_pack({})
    try:
        rtc_pack({"k": bytes(300)})
        raise AssertionError("an over-long record was accepted")
    except ValueError:
        pass


def test_fake_rtc_memory_follows_the_documented_signature():
    machine.fake_reset()
    rtc = machine.RTC()
    assert rtc.memory() == b""
    assert rtc.memory(b"abc") is None and rtc.memory() == b"abc"
    machine.fake_reset(power=False)
    assert machine.RTC().memory() == b"abc"
    machine.fake_reset()
    assert machine.RTC().memory() == b""
    try:
        rtc.memory(bytes(machine.RTC_MEMORY_MAX + 1))
        raise AssertionError("over-long RTC memory accepted")
    except ValueError:
        pass


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


def _samples(buf):
    out = []
    for i in range(0, len(buf), 2):
        v = buf[i] | (buf[i + 1] << 8)
        out.append(v - 65536 if v & 0x8000 else v)
    return out


def _audio(mic=None, spk=None):
    from intercom.hal.i2s_audio import I2sAudio
    machine.fake_reset()
    return I2sAudio(machine.I2S, machine.Pin, mic, spk, False, lambda *a: None)


def _mic(rate, bits, shift=0):
    return {"kind": "mic", "i2s_id": 0, "sck": 26, "ws": 25, "sd": 33, "rate": rate,
            "bits": bits, "format": "mono", "shift": shift}


def _spk(rate):
    return {"kind": "speaker", "i2s_id": 1, "sck": 14, "ws": 12, "sd": 27, "rate": rate,
            "bits": 16, "format": "mono"}


def _read(audio, data):
    audio.start()
    machine.fake_i2s_feed(0, data)
    machine.fake_run_scheduled()
    out = bytearray(320)
    assert audio.read_frame(out) is True
    return out


def test_mic_32bit_16k_is_word_converted_then_decimated():
    from intercom.media import pcm
    words = _mic_words([(((i * 7919) % 65536) - 32768) * 37 for i in range(320)])  # 24-bit values
    out = _read(_audio(_mic(16000, 32, 3)), words)
    mid = bytearray(640)
    pcm.py_i2s32_to_16(words, mid, 320, 3)                 # shift 3: lower bits of the 24
    want = bytearray(320)
    pcm.Decimator(160, pcm.py_decimate2).process(mid, want, 160)
    assert out == want


def test_mic_32bit_8k_and_large_shift_uses_gain_after_the_word_shift():
    from intercom.media import pcm
    vals = [(i * 331) % 4096 - 2048 for i in range(160)]
    words = _mic_words(vals)
    audio = _audio(_mic(8000, 32, 10))
    assert audio.decimator is None and audio.mic_shift == 8 and audio.mic_gain == 1024
    out = _read(audio, words)
    want = bytearray(320)
    pcm.py_i2s32_to_16(words, want, 160, 8)
    pcm.py_apply_gain(want, 160, 1024)                      # the 2 bits beyond 8
    assert out == want
    assert audio.peak == pcm.py_peak16(want, 160)


def test_mic_16bit_paths():
    from intercom.media import pcm
    vals = [(i * 4001) % 65536 - 32768 for i in range(320)]
    raw = pack16(vals)
    out = _read(_audio(_mic(8000, 16)), raw[:320])        # 8 kHz, no gain: copied as is
    assert out == raw[:320]
    audio = _audio(_mic(16000, 16, 1))
    assert audio.mic16 is None and audio.mic_gain == 512
    out = _read(audio, raw)
    want = bytearray(320)
    pcm.Decimator(160, pcm.py_decimate2).process(raw, want, 160)
    pcm.py_apply_gain(want, 160, 512)
    assert out == want


def test_speaker_at_16k_is_interpolated():
    from intercom.media import pcm
    audio = _audio(spk=_spk(16000))
    audio.start()
    frame = pack16([(i * 2713) % 30000 - 15000 for i in range(160)])
    ref = pcm.Interpolator(160, pcm.py_interpolate2)
    want = bytearray()
    for _ in range(2):
        assert audio.write_frame(frame) is True
        machine.fake_run_scheduled()
        chunk = bytearray(640)
        ref.process(frame, chunk, 160)
        want += chunk
    sent = machine.fake_i2s_sent(1)
    assert bytes(sent) == bytes(want)
    # even outputs are the input delayed by 4 samples
    got = _samples(sent[640:])
    ins = _samples(frame)
    assert [got[2 * i] for i in range(4, 160)] == ins[:156]


def test_short_frame_buffers_are_refused():
    from _helpers import raises
    audio = _audio(_mic(16000, 32), _spk(16000))
    audio.start()
    raises(ValueError, audio.write_frame, bytearray(100))
    machine.fake_i2s_feed(0, bytearray(1280))
    machine.fake_run_scheduled()
    raises(ValueError, audio.read_frame, bytearray(100))


class _IdleI2S:
    """A driver that accepts buffers and does nothing (no allocation of its own)."""

    def readinto(self, buf):
        return 0

    def write(self, buf):
        return 0


def _convert_frames(audio, frame):
    for _ in range(20):
        audio.rx_full = True
        audio.read_frame(frame)
        audio.tx_busy = -1
        audio.write_frame(frame)


def test_frame_conversion_allocates_nothing():
    try:
        import micropython
        lock = micropython.heap_lock
    except (ImportError, AttributeError):
        return                              # CPython: nothing to prove
    for mic, spk in ((_mic(16000, 32, 2), _spk(16000)), (_mic(16000, 16, 1), _spk(8000)),
                     (_mic(8000, 32, 10), _spk(16000))):
        audio = _audio(mic, spk)
        audio.rx = _IdleI2S()
        audio.tx = _IdleI2S()
        frame = bytearray(320)
        _convert_frames(audio, frame)           # warm up
        lock()
        try:
            _convert_frames(audio, frame)
        finally:
            micropython.heap_unlock()


def test_mic_frames_are_read_without_blocking_and_converted():
    board, clock, _ = make_board()
    board.set_audio(True, True)
    audio = board.audio
    rx = machine.fake_i2s_active(0)
    assert rx.mode == machine.I2S.RX and rx.bits == 32 and rx.rate == 16000 and rx.callback is not None
    pcm = bytearray(320)
    assert audio.read_frame(pcm) is False             # nothing yet: returns at once
    machine.fake_i2s_feed(0, _mic_words([256 * 100, 256 * 300] * 320))   # 2 x 20 ms at 16 kHz
    machine.fake_run_scheduled()
    assert audio.read_frame(pcm) is True
    # 100/300 alternating = DC 200 + a tone at 8 kHz, which the half-band
    # low-pass removes exactly; shift 2 is +12 dB. The first 7 outputs are
    # the filter's start-up (zero history).
    assert list(_samples(pcm))[7:] == [200 << 2] * 153
    assert audio.read_frame(pcm) is False
    machine.fake_run_scheduled()
    assert audio.read_frame(pcm) is True
    assert list(_samples(pcm)) == [200 << 2] * 160     # steady state, history carried
    assert audio.peak == 800
    assert audio.read_frame(pcm) is False


def test_speaker_frames_are_queued_double_buffered():
    board, clock, _ = make_board()
    board.set_audio(True, True)
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
    board.set_audio(False, False)
    assert machine.fake_i2s_active(1) is None and machine.fake_i2s_active(0) is None


def test_half_duplex_switches_the_shared_bus():
    board, clock, lines = make_board("atom-echo")
    audio = board.audio
    assert audio.half_duplex and not audio.mic_ok       # PDM RX is not in machine.I2S
    assert any("PDM" in line for line in lines)
    board.set_audio(True, True)
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
    board.set_audio(True, True)
    board.audio.set_talking("mic")
    assert machine.fake_i2s_active(0) is not None and machine.fake_i2s_active(1) is not None


def test_board_interface_matches_host_board():
    board, clock, _ = make_board()
    for name in ("description", "pollables", "owns", "read_command", "emit", "log", "set_led",
                 "set_relay", "feed_watchdog", "take_button_events", "service", "audio",
                 "take_events", "set_in_call", "set_audio", "next_deadline", "persist_load", "persist_save",
                 "memory"):
        assert hasattr(board, name), name
    assert board.pollables() == [] and board.read_command() is None
    assert _device.REPO
