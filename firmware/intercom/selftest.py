"""setup.test(): Wi-Fi, DNS, OPTIONS ping, one REGISTER with the real SIP core, a tone, a mic level meter."""

import os
import binascii

from intercom.board import load_board, BoardError
from intercom.netcompat import UdpSocket, resolve, ticks_ms
from intercom.ticks import ticks_diff

# one period of 400 Hz at 8 kHz (20 samples), amplitude 8000
_SINE = (0, 2472, 4702, 6472, 7608, 8000, 7608, 6472, 4702, 2472,
         0, -2472, -4702, -6472, -7608, -8000, -7608, -6472, -4702, -2472)


def random_hex(digits):
    return binascii.hexlify(os.urandom((digits + 1) // 2)).decode()[:digits]


def tone_frame():
    """One 20 ms frame (160 samples, 16-bit LE) of the 400 Hz tone."""
    frame = bytearray(320)
    for i in range(160):
        v = _SINE[i % 20] & 0xFFFF
        frame[2 * i] = v & 0xFF
        frame[2 * i + 1] = v >> 8
    return frame


def _sleep(ms):
    import time
    if hasattr(time, "sleep_ms"):
        time.sleep_ms(ms)
    else:
        time.sleep(ms / 1000)        # CPython (tests) only


class SelfTest:
    """Runs each step and prints PASS/FAIL/SKIP lines through say()."""

    def __init__(self, cfg, board_dirs, say, seconds=3, board=None, sleep_ms=None, timeout_ms=3000):
        self.cfg = cfg
        self.board_dirs = board_dirs
        self.say = say
        self.seconds = seconds
        self.board = board
        self.sleep_ms = sleep_ms or _sleep
        self.timeout_ms = timeout_ms
        self.failures = 0
        self.local_ip = "127.0.0.1"
        self.registrar = None

    def result(self, ok, step, reason):
        word = {True: "PASS", False: "FAIL", None: "SKIP"}[ok]
        if ok is False:
            self.failures += 1
        self.say("%s %-8s %s" % (word, step, reason))
        return ok

    def run(self):
        try:
            for step in (self.step_board, self.step_wifi, self.step_dns, self.step_options,
                         self.step_register, self.step_tone, self.step_mic):
                if step() is False and step in (self.step_board, self.step_wifi):
                    break          # nothing after works without a board or a network
        finally:
            if self.board is not None and hasattr(self.board, "close"):
                self.board.close()
        self.say("%d step(s) failed" % self.failures if self.failures else "all steps passed")
        return self.failures

    def step_board(self):
        try:
            self.description = load_board(self.cfg["board"], self.board_dirs)
        except BoardError as err:
            return self.result(False, "board", str(err))
        if self.board is None and self.description["hal"] == "esp32":
            from intercom.hal.esp32 import boot
            self.board = boot(self.cfg, self.description, printer=self.say, wait_ms=self.timeout_ms * 5,
                              watchdog=False)
        return self.result(True, "board", "%s (%s HAL)" % (self.cfg["board"], self.description["hal"]))

    def step_wifi(self):
        station = getattr(self.board, "station", None)
        if station is None:
            return self.result(None, "wifi", "skipped: the %s board has no Wi-Fi" % self.cfg["board"])
        if station.state == "off":
            return self.result(False, "wifi", "no SSID configured: setup.wifi(ssid, password)")
        if not station.connected:
            status = station.wlan.status()
            return self.result(False, "wifi", "not connected to %r (status %r): check SSID, password, signal"
                               % (self.cfg["wifi"]["ssid"], status))
        self.local_ip = station.ip
        return self.result(True, "wifi", "connected to %r, ip %s" % (self.cfg["wifi"]["ssid"], station.ip))

    def step_dns(self):
        sip = self.cfg["sip"]
        if not sip["registrar"]:
            return self.result(None, "dns", "skipped: peer-to-peer mode (no registrar)")
        target = sip.get("outbound_proxy") or sip["registrar"]
        try:
            self.registrar = resolve(target, sip["port"])
        except OSError as err:
            return self.result(False, "dns", "cannot resolve %r: %r" % (target, err))
        return self.result(True, "dns", "%s -> %s:%d" % (target, self.registrar[0], self.registrar[1]))

    def _socket(self):
        try:
            return UdpSocket(self.local_ip, self.cfg["sip"]["local_port"])
        except OSError as err:
            self.result(False, "socket", "cannot bind %s:%d: %r (is the firmware still running?)"
                        % (self.local_ip, self.cfg["sip"]["local_port"], err))
            return None

    def step_options(self):
        if self.registrar is None:
            return self.result(None, "options", "skipped: no registrar address")
        sock = self._socket()
        if sock is None:
            return False
        sip = self.cfg["sip"]
        port = sip["local_port"]
        msg = ("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport\r\n"
               "Max-Forwards: 70\r\nFrom: <sip:%s@%s>;tag=%s\r\nTo: <sip:%s>\r\n"
               "Call-ID: %s@%s\r\nCSeq: 1 OPTIONS\r\nAccept: application/sdp\r\nContent-Length: 0\r\n\r\n"
               % (sip["registrar"], self.local_ip, port, random_hex(16), sip["user"], sip["registrar"],
                  random_hex(8), sip["registrar"], random_hex(16), self.local_ip))
        try:
            sock.sendto(msg.encode(), self.registrar)
            start = ticks_ms()
            while ticks_diff(ticks_ms(), start) < self.timeout_ms:
                got = sock.recvfrom(2048)
                if got is not None:
                    line = bytes(got[0]).split(b"\r\n", 1)[0].decode()
                    return self.result(True, "options", "%s answered: %s" % (got[1][0], line))
                self.sleep_ms(20)
        finally:
            sock.close()
        return self.result(False, "options", "no answer from %s:%d in %d ms (firewall, wrong port?)"
                           % (self.registrar[0], self.registrar[1], self.timeout_ms))

    def step_register(self):
        if self.registrar is None:
            return self.result(None, "register", "skipped: no registrar address")
        from intercom.sip.ua import UserAgent
        sock = self._socket()
        if sock is None:
            return False
        ua = UserAgent(self.cfg, self.local_ip, self.registrar, random_hex,
                       lambda level, text: None, ticks_ms())
        try:
            ua.register()
            outcome = self._pump(ua, sock, ("registered", "registration_failed"), self.timeout_ms * 3)
            if outcome is None:
                return self.result(False, "register", "no final answer to REGISTER")
            if outcome["event"] == "registration_failed":
                why = outcome.get("status") or outcome.get("reason")
                hint = " (user/password?)" if why in (401, 403, 407) else ""
                return self.result(False, "register", "refused: %s%s" % (why, hint))
            if ua.unregister():
                self._pump(ua, sock, ("unregistered",), self.timeout_ms)
            return self.result(True, "register", "registered as %s, expires %s"
                               % (self.cfg["sip"]["user"], outcome.get("expires")))
        finally:
            sock.close()

    def _pump(self, ua, sock, wanted, timeout_ms):
        """A tiny blocking loop around the sans-I/O core: the first wanted event, or None."""
        start = ticks_ms()
        while ticks_diff(ticks_ms(), start) < timeout_ms:
            now = ticks_ms()
            got = sock.recvfrom(4096)
            if got is not None:
                ua.receive(got[0], got[1], now)
            ua.tick(now)
            item = ua.pop_datagram()
            while item is not None:
                sock.sendto(item[0], item[1])
                item = ua.pop_datagram()
            event = ua.next_event()
            while event is not None:
                if event["event"] in wanted:
                    return event
                event = ua.next_event()
            if got is None:
                self.sleep_ms(10)
        return None

    def _audio(self, need):
        audio = getattr(self.board, "audio", None)
        if audio is None:
            return None, "skipped: board has no %s" % need
        if need == "speaker" and audio.speaker is None:
            return None, "skipped: board has no speaker"
        if need == "microphone" and (audio.mic is None or not audio.mic_ok):
            why = "no microphone" if audio.mic is None else "a microphone this MicroPython cannot read (PDM)"
            return None, "skipped: board has %s" % why
        return audio, None

    def step_tone(self):
        audio, why = self._audio("speaker")
        if audio is None:
            return self.result(None, "tone", why)
        frame = tone_frame()
        audio.start()
        if audio.half_duplex:
            audio.set_talking("speaker")
        sent = 0
        for _ in range(50):                  # 1 s
            if audio.write_frame(frame):
                sent += 1
            self.sleep_ms(20)
        audio.stop()
        if not sent:
            return self.result(False, "tone", "the speaker took no frames (I2S TX)")
        return self.result(True, "tone", "played %d ms of 400 Hz: did you hear it?" % (sent * 20))

    def step_mic(self):
        audio, why = self._audio("microphone")
        if audio is None:
            return self.result(None, "mic", why)
        audio.start()
        if audio.half_duplex:
            audio.set_talking("mic")
        pcm = bytearray(320)
        frames = peak = shown = 0
        start = ticks_ms()
        while ticks_diff(ticks_ms(), start) < self.seconds * 1000:
            if audio.read_frame(pcm):
                frames += 1
                shown = max(shown, audio.peak)
                peak = max(peak, audio.peak)
                if frames % 12 == 0:       # ~4 lines a second
                    bar = "#" * (shown * 30 // 32768)
                    self.say("  mic |%s%s| %d" % (bar, " " * (30 - len(bar)), shown))
                    shown = 0
            else:
                self.sleep_ms(5)
        audio.stop()
        if not frames:
            return self.result(False, "mic", "no frames from the microphone in %d s (I2S RX wiring?)" % self.seconds)
        if peak == 0:
            return self.result(False, "mic", "only silence: check the SD pin and the L/R select pin")
        return self.result(True, "mic", "%d frames, peak level %d of 32767" % (frames, peak))
