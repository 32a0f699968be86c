"""Intercom policy: board inputs and REPL commands -> phone actions, events -> outputs (pure)."""

from intercom.ticks import ticks_add, ticks_diff, earliest
from intercom.roles import roles_of_kind
from intercom.sip.uri import is_digits
from intercom.audio import AudioControl

QUIT_GRACE_MS = 5000      # how long quit waits for the unregister to complete

# LED patterns by phone state (the board decides what a pattern looks like)
LED_BOOTING = "booting"
LED_UNREGISTERED = "not_registered"
LED_REGISTERED = "registered"
LED_RINGING = "ringing"
LED_IN_CALL = "in_call"
LED_ERROR = "error"

COMMAND_HELP = ("press NAME, release NAME, click NAME, dial URI, answer, hangup, "
                "hold, resume, dtmf DIGITS, mem, quit")


class App:
    """Turns inputs into UserAgent commands and UserAgent events into board output.

    The driver calls start(), on_command(), on_button(), on_event() and
    tick(); `finished` tells it to stop."""

    def __init__(self, ua, board, cfg, random_bytes=None, resolve_registrar=None):
        self.ua = ua
        self.board = board
        self.cfg = cfg
        self.buttons = roles_of_kind(board.description, "button")
        self.finished = False
        self.quit_deadline = None
        self.now = ua.now
        cname = "%s@%s" % (cfg["sip"]["user"], ua.local_ip)
        self.audio = AudioControl(cfg, board, board.emit, random_bytes or _no_random, cname)
        # resolve_registrar() -> (ip, port) or None: DNS, done by main.py's
        # glue when the network (re)appears; the App never does I/O itself
        self.resolve_registrar = resolve_registrar

    def start(self, now):
        self.board.set_led(LED_BOOTING)
        if self.ua.registration is not None:
            self.ua.register()
        else:
            self.board.set_led(LED_REGISTERED)

    # --- inputs -------------------------------------------------------------
    def on_command(self, line, now):
        """One REPL/stdin command line."""
        self.now = now
        words = line.split()
        if not words:
            return
        verb, args = words[0].lower(), words[1:]
        if verb == "quit":
            self.quit(now)
        elif verb in ("press", "release", "click"):
            if len(args) != 1 or args[0] not in self.buttons:
                self._error("%s needs a button of this board: %s" % (verb, ", ".join(self.buttons)))
            elif verb == "click":
                self.on_button(args[0], "press", now)
                self.on_button(args[0], "release", now)
            else:
                self.on_button(args[0], verb, now)
        elif verb == "dial":
            if len(args) > 1:
                self._error("dial takes at most one URI")
            else:
                self.ua.dial(args[0] if args else None)
        elif verb in ("answer", "hangup", "hold", "resume"):
            number = None
            if args:
                if len(args) != 1 or not is_digits(args[0]):
                    return self._error("%s takes an optional call id" % verb)
                number = int(args[0])
            getattr(self.ua, verb)(number)
        elif verb == "mem" and hasattr(self.board, "memory"):
            self.board.emit(self.board.memory())
        elif verb == "dtmf":
            digits = "".join(args).upper()
            if not digits or digits.strip("0123456789*#ABCD"):
                self._error("dtmf takes digits 0-9, *, #, A-D")
            else:
                self.audio.send_digits(digits)
        else:
            self._error("unknown command %r; commands: %s" % (verb, COMMAND_HELP))

    def on_button(self, role, action, now):
        """A button role was pressed, released or clicked.

        talk is off-hook: answer a ringing call, resume a held one, else
        call the targets; hangup ends, rejects or cancels."""
        self.now = now
        self.board.log("info", "button %s %s" % (role, action))
        calls = self.ua.calls
        caps = self.board.description.get("capabilities", {})
        in_call = calls.find(None, ("connected", "remote_hold"))
        if caps.get("half_duplex") and self.board.audio is not None and in_call and role == "talk":
            # push to talk on a shared I2S bus: the visitor is heard while held down
            if action == "long":
                self.ua.hangup()
            else:
                self.board.audio.set_talking("mic" if action == "press" else "speaker")
            return
        if action == "release" or action == "click":
            return      # a click is reported after its press, which already acted
        if role == "talk" and caps.get("one_button") and (
                in_call or calls.find(None, ("dialing", "ringing_out", "on_hold"))):
            self.ua.hangup()          # one-button boards: talk toggles
            return
        if role == "talk":
            if calls.find(None, ("incoming",)):
                self.ua.answer()
            elif calls.find(None, ("on_hold",)) and not calls.find(None, ("connected",)):
                self.ua.resume()
            elif not calls.calls:
                self.ua.dial()
        elif role == "hangup":
            if calls.calls:
                self.ua.hangup()

    def on_board_event(self, event, now):
        """Board news (Wi-Fi up/down): report it; re-register at once when Wi-Fi returns."""
        self.now = now
        self.board.emit(event)
        if event.get("event") != "wifi" or not event.get("connected"):
            return
        if self.resolve_registrar is not None and self.cfg["sip"]["registrar"]:
            addr = self.resolve_registrar()
            if addr is not None:
                self.ua.set_registrar(addr)
        if self.ua.registration is not None:
            self.ua.tick(now)
            self.ua.register()

    def quit(self, now):
        """Unregister if registered, then finish."""
        if self.quit_deadline is not None:
            return
        for call in list(self.ua.calls.calls):
            call.hangup("local_hangup")
        if self.ua.unregister():
            self.quit_deadline = ticks_add(now, QUIT_GRACE_MS)
        else:
            self.finished = True

    # --- outputs --------------------------------------------------------------
    def on_event(self, event):
        """One UserAgent event: report it and reflect it on the LEDs."""
        name = event["event"]
        if name == "dtmf":
            # digits from SIP INFO go through the same door logic as RFC 4733 ones
            self.audio.on_digit(event["digit"], event.get("id"), self.now, event.get("via", "info"))
            return
        if name == "media":
            self.audio.on_media_event(event)
        if name == "call":
            stats = self.audio.on_call_event(event, self.now)
            if stats is not None:
                event["media"] = stats
            live = False
            for call in self.ua.calls.calls:
                if call.state in ("connected", "on_hold", "remote_hold"):
                    live = True
            self.board.set_in_call(live)      # Wi-Fi power save off, I2S on
        if name == "registered":
            self.board.set_led(LED_REGISTERED)
        elif name == "registration_failed":
            # refused credentials or account need a person; a timeout may heal itself
            needs_fixing = event.get("status") in (401, 403, 404, 407)
            self.board.set_led(LED_ERROR if needs_fixing else LED_UNREGISTERED)
        elif name == "call":
            state = event["state"]
            if state == "incoming":
                self.board.set_led(LED_RINGING)
            elif state == "ended":
                self.board.set_led(LED_REGISTERED if self.ua.registered or self.ua.registration is None
                                   else LED_UNREGISTERED)
            else:
                self.board.set_led(LED_IN_CALL)
        elif name == "unregistered":
            self.board.set_led(LED_UNREGISTERED)
            if self.quit_deadline is not None:
                self.finished = True
        self.board.emit(event)

    def next_deadline(self):
        return earliest(self.quit_deadline, self.audio.next_deadline(self.now), self.now)

    def tick(self, now):
        self.now = now
        self.audio.tick(now)
        dead = self.audio.media_timed_out(now)
        if dead is not None:
            # calls.media_timeout: the peer vanished (no RTP, no RTCP); BYE it
            self.board.log("warn", "call %s: no media for %d s; hanging up" % (
                dead, self.audio.media_timeout_ms // 1000))
            self.ua.hangup(dead, "media_timeout")
        if self.quit_deadline is not None and ticks_diff(now, self.quit_deadline) >= 0:
            self.board.log("warn", "unregister did not complete in time; quitting anyway")
            self.finished = True

    def _error(self, message):
        self.board.emit({"event": "error", "message": message})


def _no_random(n):
    raise ValueError("no random source given to the App")
