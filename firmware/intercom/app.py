"""Intercom policy: board inputs and REPL commands -> phone actions, events -> outputs (pure)."""

from intercom.ticks import ticks_add, ticks_diff, earliest
from intercom.roles import roles_of_kind
from intercom.sip.uri import is_digits
from intercom.audio import AudioControl

QUIT_GRACE_MS = 5000      # how long quit waits for the unregister to complete
DNS_RETRY_FIRST_MS = 2000     # a failed registrar lookup is tried again after 2, 4, 8 ... s
DNS_RETRY_MAX_MS = 120000     # ... and then every 2 minutes

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

    # Home Assistant (intercom/ha.py) when mqtt.broker is set: sees every
    # reported event and the talk button's rings (a class attribute: no slot without it)
    integration = None

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
        # resolve_registrar() -> (ip, port) or None: one bounded DNS lookup by
        # boot.py's glue; the App only decides when (at start, on its retry
        # timer, when Wi-Fi returns) and never does I/O itself
        self.resolve_registrar = resolve_registrar
        self.dns_retry_at = None     # ticks of the next lookup after a failed one
        self.dns_failures = 0        # failed lookups in a row (the backoff step)

    def start(self, now):
        self.board.set_led(LED_BOOTING)
        if self.ua.registration is not None:
            self.ua.register()
        elif not self.cfg["sip"]["registrar"]:
            self.board.set_led(LED_REGISTERED)        # peer-to-peer: nothing to register
        elif self.resolve_registrar is not None:
            self.lookup_registrar(now)                # registers once the name resolves
        else:
            self.board.set_led(LED_UNREGISTERED)

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
                if self.integration is not None:
                    self.integration.on_ring(now)
        elif role == "hangup":
            if calls.calls:
                self.ua.hangup()

    def on_board_event(self, event, now):
        """Board news (Wi-Fi up/down): report it; re-register at once when Wi-Fi returns."""
        self.now = now
        self.board.emit(event)
        if self.integration is not None:
            self.integration.on_event(event, now)
        if event.get("event") != "wifi" or not event.get("connected"):
            return
        if self.resolve_registrar is not None and self.cfg["sip"]["registrar"]:
            self.dns_failures = 0                      # a new network: back to the short delay
            if self.ua.registration is None:
                self.lookup_registrar(now)             # registers when it resolves
                return
            addr = self.resolve_registrar()            # the network changed: look again
            if addr is not None:
                self.ua.set_registrar(addr)            # (else keep the address we had)
        if self.ua.registration is not None:
            self.ua.tick(now)
            self.ua.register()

    def lookup_registrar(self, now):
        """One lookup of the registrar (or outbound proxy) through the injected
        resolver, which bounds its own time. Found: the UA gets the address
        and registers. Not found: `registration_failed` with reason "dns" and
        retry_in, the LED shows not registered, and tick() tries again after
        2, 4, 8 ... up to 120 s. Returns True if the name resolved."""
        self.dns_retry_at = None
        addr = None
        try:
            addr = self.resolve_registrar()
        finally:
            # a resolver that raises counts as a failed lookup: the retry stays armed
            if addr is None:
                delay = DNS_RETRY_FIRST_MS << self.dns_failures
                if delay >= DNS_RETRY_MAX_MS:
                    delay = DNS_RETRY_MAX_MS
                else:
                    self.dns_failures += 1
                self.dns_retry_at = ticks_add(now, delay)
                self.board.set_led(LED_UNREGISTERED)
                self.board.emit({"event": "registration_failed", "reason": "dns",
                                 "registrar": self.cfg["sip"]["registrar"], "retry_in": delay // 1000})
        if addr is None:
            return False
        self.dns_failures = 0
        self.ua.set_registrar(addr)
        self.ua.tick(now)
        self.ua.register()
        return True

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
            self.audio.on_digit(event["digit"], event.get("id"), self.now, event.get("via", "info"),
                                event.pop("secure", False))
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
                self.board.set_led(LED_REGISTERED if self.ua.registered or not self.cfg["sip"]["registrar"]
                                   else LED_UNREGISTERED)
            else:
                self.board.set_led(LED_IN_CALL)
        elif name == "unregistered":
            self.board.set_led(LED_UNREGISTERED)
            if self.quit_deadline is not None:
                self.finished = True
        if "keys" in event:
            event = dict(event)       # SRTP keys (audio keeps them) are never reported
            del event["keys"]
        self.board.emit(event)
        if self.integration is not None:
            self.integration.on_event(event, self.now)

    def next_deadline(self):
        deadline = earliest(self.quit_deadline, self.audio.next_deadline(self.now), self.now)
        return earliest(deadline, self.dns_retry_at, self.now)

    def tick(self, now):
        self.now = now
        self.audio.tick(now)
        dead = self.audio.media_timed_out(now)
        if dead is not None:
            # calls.media_timeout: the peer vanished (no RTP, no RTCP); BYE it
            self.board.log("warn", "call %s: no media for %d s; hanging up" % (
                dead, self.audio.media_timeout_ms // 1000))
            self.ua.hangup(dead, "media_timeout")
        failed = self.audio.failed_call
        if failed is not None:
            self.audio.failed_call = None
            self.ua.hangup(failed, "media_failed")      # logged by AudioControl
        if self.dns_retry_at is not None and ticks_diff(now, self.dns_retry_at) >= 0 and self.quit_deadline is None:
            self.lookup_registrar(now)
        if self.quit_deadline is not None and ticks_diff(now, self.quit_deadline) >= 0:
            self.board.log("warn", "unregister did not complete in time; quitting anyway")
            self.finished = True

    def _error(self, message):
        self.board.emit({"event": "error", "message": message})


def _no_random(n):
    raise ValueError("no random source given to the App")
