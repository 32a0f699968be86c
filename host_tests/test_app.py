"""App policy with a recording board: LED states, button mapping, commands and errors."""

from intercom import config
from intercom.app import App
from intercom.sip.ua import UserAgent
from intercom.board import load_board
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class RecordingBoard:
    def __init__(self, caps=None):
        self.description = load_board("host", [os.path.join(REPO, "boards")])
        if caps:
            self.description = dict(self.description, capabilities=caps)
        self.events = []
        self.leds = []
        self.relay = []
        self.audio = None
        self.in_call = []

    def emit(self, event):
        self.events.append(event)

    def log(self, level, text):
        pass

    def set_led(self, pattern):
        self.leds.append(pattern)

    def set_relay(self, on, pulse_ms=None):
        self.relay.append(on)

    def set_in_call(self, on):
        self.in_call.append(on)


def pump(app, ua):
    """What the driver's flush does: UA events to the app."""
    while True:
        ev = ua.next_event()
        if ev is None:
            return
        app.on_event(ev)


def make_app(registrar="", caps=None, pin="", **calls):
    cfg = config.defaults()
    cfg["sip"].update({"registrar": registrar, "user": "door"})
    cfg["door"]["pin"] = pin
    cfg["calls"].update(calls)
    counter = iter(range(1, 10 ** 6))
    ua = UserAgent(cfg, "192.0.2.1", ("192.0.2.10", 5060) if registrar else None,
                   lambda n: ("%0*x" % (n, next(counter)))[-n:], None, 0)
    board = RecordingBoard(caps)
    return App(ua, board, cfg, lambda n: bytes(range(n))), ua, board


def test_led_shows_error_for_refused_credentials_and_not_registered_for_timeouts():
    app, ua, board = make_app("pbx.example")
    app.on_event({"event": "registration_failed", "status": 403, "retry_in": 4})
    assert board.leds[-1] == "error"
    app.on_event({"event": "registration_failed", "reason": "timeout", "retry_in": 4})
    assert board.leds[-1] == "not_registered"
    app.on_event({"event": "registered", "expires": 300})
    assert board.leds[-1] == "registered"


def test_led_follows_the_call_and_in_call_switches_the_board():
    app, ua, board = make_app(targets=["sip:flat@192.0.2.2"])
    app.on_button("talk", "press", 0)               # idle: calls the targets
    pump(app, ua)
    assert ua.calls.calls and board.leds[-1] == "in_call"
    assert board.in_call[-1] is False                # dialing is not yet a live call
    app.on_button("hangup", "press", 10)             # cancels: the call ends at once
    assert not ua.calls.calls


def test_unknown_command_and_bad_button_are_errors_not_crashes():
    app, ua, board = make_app()
    app.on_command("frobnicate", 0)
    app.on_command("press doorbell", 0)
    app.on_command("dtmf 12x", 0)
    messages = [e["message"] for e in board.events if e["event"] == "error"]
    assert len(messages) == 3
    assert "unknown command" in messages[0] and "talk" in messages[1] and "0-9" in messages[2]


def test_dial_with_nothing_to_dial_reports_an_error():
    app, ua, board = make_app(targets=[])
    app.on_command("dial", 0)
    errors = []
    while True:
        ev = ua.next_event()
        if ev is None:
            break
        errors.append(ev)
    assert errors and errors[0]["event"] == "error" and "targets" in errors[0]["message"]


def test_one_button_board_toggles_talk_into_hangup():
    app, ua, board = make_app(targets=["sip:flat@192.0.2.2"], caps={"one_button": True})
    app.on_button("talk", "press", 0)
    assert ua.calls.calls[0].state == "dialing"
    app.on_button("talk", "click", 50)               # the click after the press does nothing
    assert ua.calls.calls and ua.calls.calls[0].state == "dialing"
    app.on_button("talk", "press", 1000)
    assert not ua.calls.calls


def test_sip_info_digits_open_the_door_like_rfc4733_digits():
    app, ua, board = make_app(pin="1234")
    app.on_event({"event": "call", "id": 1, "state": "connected", "peer": "sip:flat@192.0.2.2"})
    for digit in "1234#":
        app.on_event({"event": "dtmf", "id": 1, "digit": digit, "via": "info"})
    assert board.relay == [True]
    assert [e["digit"] for e in board.events if e["event"] == "dtmf"] == list("1234#")


def test_digits_count_only_in_a_confirmed_dialog_whichever_way_they_come():
    # RFC 4733 digits in early media and INFO digits alike: no PIN attempt
    # before somebody answered (issue 10 item 6)
    app, ua, board = make_app(pin="1234")
    app.on_event({"event": "call", "id": 1, "state": "ringing_out", "peer": "sip:flat@192.0.2.2"})
    for via in ("rfc4733", "info"):
        for digit in "1234#":
            app.audio.on_digit(digit, 1, 0, via)
    assert board.relay == [] and not [e for e in board.events if e["event"] == "dtmf"]


def test_registrar_resolved_when_wifi_returns_after_dns_failed_at_boot():
    cfg = config.defaults()
    cfg["sip"].update({"registrar": "pbx.example", "user": "door"})
    ua = UserAgent(cfg, "192.0.2.1", None, lambda n: "1" * n, None, 0)
    board = RecordingBoard()
    answers = [None, ("192.0.2.10", 5060)]
    app = App(ua, board, cfg, lambda n: bytes(n), lambda: answers.pop(0))
    assert ua.registration is None
    app.on_board_event({"event": "wifi", "connected": True, "ip": "192.0.2.1"}, 0)
    assert ua.registration is None and ua.pop_datagram() is None      # DNS still failing
    app.on_board_event({"event": "wifi", "connected": True, "ip": "192.0.2.1"}, 100)
    data, addr = ua.pop_datagram()
    assert addr == ("192.0.2.10", 5060) and data.startswith(b"REGISTER ")


def test_door_opening_is_off_until_a_pin_is_set():
    app, ua, board = make_app(pin=config.defaults()["door"]["pin"])
    for pin in ("1234", "0000", ""):
        for digit in pin + "#":
            app.on_event({"event": "dtmf", "id": 1, "digit": digit, "via": "info"})
    assert board.relay == []


def dns_app(answers):
    """An App whose registrar is a name; the injected resolver pops answers (None = lookup failed)."""
    cfg = config.defaults()
    cfg["sip"].update({"registrar": "pbx.example", "user": "door", "password": "pw"})
    ua = UserAgent(cfg, "192.0.2.1", None, lambda n: "1" * n, None, 0)
    board = RecordingBoard()
    lookups = []

    def resolve():
        lookups.append(ua.now)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer
    app = App(ua, board, cfg, lambda n: bytes(n), resolve)
    return app, ua, board, lookups


def dns_failures(board):
    return [e for e in board.events if e["event"] == "registration_failed"]


def test_dns_failure_at_start_is_retried_on_a_backoff_timer_until_it_resolves():
    app, ua, board, lookups = dns_app([None, None, ("192.0.2.10", 5060)])
    app.start(0)
    assert len(lookups) == 1 and ua.registration is None and ua.pop_datagram() is None
    assert dns_failures(board) == [{"event": "registration_failed", "reason": "dns",
                                    "registrar": "pbx.example", "retry_in": 2}]
    assert board.leds[-1] == "not_registered"
    assert app.next_deadline() == 2000                  # the loop wakes for the retry
    app.tick(1999)
    assert len(lookups) == 1
    app.tick(2000)
    assert len(lookups) == 2 and dns_failures(board)[-1]["retry_in"] == 4
    assert app.next_deadline() == 6000 and board.leds[-1] == "not_registered"
    app.tick(6000)                                      # third lookup resolves
    assert len(lookups) == 3 and app.dns_retry_at is None
    data, addr = ua.pop_datagram()
    assert addr == ("192.0.2.10", 5060) and data.startswith(b"REGISTER ")
    assert len(dns_failures(board)) == 2
    app.tick(200000)
    assert len(lookups) == 3                            # no more lookups once resolved


def test_dns_retry_backoff_doubles_to_120_s():
    app, ua, board, lookups = dns_app([None] * 10)
    app.start(0)
    now = 0
    for _ in range(9):
        now = app.dns_retry_at
        app.tick(now)
    assert [e["retry_in"] for e in dns_failures(board)] == [2, 4, 8, 16, 32, 64, 120, 120, 120, 120]
    assert app.next_deadline() == now + 120000
    app.quit(now)                                       # nothing to unregister: done at once
    assert app.finished


def test_a_resolver_that_raises_is_a_failed_lookup_and_the_retry_stays_armed():
    app, ua, board, lookups = dns_app([OSError("boom"), ("192.0.2.10", 5060)])
    try:
        app.start(0)
        raise AssertionError("the resolver's exception was swallowed")
    except OSError:
        pass                                            # the driver logs and counts it
    assert app.dns_retry_at == 2000 and dns_failures(board)[-1]["reason"] == "dns"
    app.tick(2000)
    assert ua.pop_datagram()[1] == ("192.0.2.10", 5060)


def test_wifi_return_looks_up_at_once_and_restarts_the_backoff():
    app, ua, board, lookups = dns_app([None, None, None, ("192.0.2.10", 5060)])
    app.start(0)
    app.tick(2000)
    assert dns_failures(board)[-1]["retry_in"] == 4
    app.on_board_event({"event": "wifi", "connected": True, "ip": "192.0.2.1"}, 3000)
    assert len(lookups) == 3 and dns_failures(board)[-1]["retry_in"] == 2
    app.tick(5000)
    assert ua.pop_datagram()[1] == ("192.0.2.10", 5060)


def test_led_stays_not_registered_after_a_call_while_the_registrar_is_unresolved():
    app, ua, board, lookups = dns_app([None])
    app.start(0)
    app.on_event({"event": "call", "id": 1, "state": "ended", "peer": "sip:a@192.0.2.5", "reason": "remote_hangup"})
    assert board.leds[-1] == "not_registered"


class LoudMic:
    """A board audio device whose microphone is a full-scale square wave."""

    def read_frame(self, mic):
        for i in range(0, len(mic), 2):
            mic[i] = 0x00
            mic[i + 1] = 0x40 if (i // 16) % 2 else 0xC0

    def write_frame(self, spk):
        pass


def test_local_hold_sends_silence_never_the_microphone():
    app, ua, board = make_app()
    audio = app.audio
    media = {"event": "media", "id": 1, "address": "192.0.2.2", "port": 30000, "codec": "PCMU",
             "pt": 0, "dtmf_pt": 101, "direction": "sendrecv", "peer_ip": "192.0.2.2"}
    app.on_event({"event": "call", "id": 1, "state": "connected", "peer": "sip:flat@192.0.2.2"})
    app.on_event(media)
    live = bytes(audio.frame(LoudMic())[12:])
    assert len(set(live)) > 1                       # the microphone is heard while connected
    app.on_event(dict(media, direction="sendonly"))
    app.on_event({"event": "call", "id": 1, "state": "on_hold", "peer": "sip:flat@192.0.2.2"})
    held = bytes(audio.frame(LoudMic())[12:])
    assert held == b"\xff" * 160                    # PCMU silence, not the door's microphone


def test_a_stream_that_cannot_be_built_ends_the_call_with_media_failed_not_in_silence():
    # a MemoryError while building the stream (a small heap at call setup) used
    # to leave the call connected without audio, and lost the `call` event
    from intercom.sip.message import parse, make_response
    app, ua, board = make_app(targets=["sip:flat@192.0.2.2"])
    logged = []
    board.log = lambda level, text: logged.append((level, text))
    app.on_button("talk", "press", 0)
    pump(app, ua)
    invite = parse(ua.pop_datagram()[0])
    assert invite.method == "INVITE"

    def no_memory(*args):
        raise MemoryError("memory allocation failed, allocating 752 bytes")
    app.audio.session.start = no_memory
    ok = make_response(invite, 200, to_tag="flat1")
    ok.add("Contact", "<sip:flat@192.0.2.2>")
    ok.add("Content-Type", "application/sdp")
    ok.body = (b"v=0\r\no=- 1 1 IN IP4 192.0.2.2\r\ns=-\r\nc=IN IP4 192.0.2.2\r\nt=0 0\r\n"
               b"m=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
    ua.receive(ok.encode(), ("192.0.2.2", 5060), 10)
    pump(app, ua)
    assert ua.calls.calls[0].state == "connected"
    assert [e["state"] for e in board.events if e["event"] == "call"][-1] == "connected"    # still reported
    assert any(level == "error" and "no audio stream: MemoryError" in text for level, text in logged)
    assert not app.audio.session.active
    app.tick(20)
    pump(app, ua)
    ended = [e for e in board.events if e["event"] == "call" and e["state"] == "ended"]
    assert ended and ended[-1]["reason"] == "media_failed" and not ua.calls.calls
    methods = []
    while True:
        out = ua.pop_datagram()
        if out is None:
            break
        methods.append(parse(out[0]).method)
    assert methods == ["ACK", "BYE"]
    app.tick(40)                                    # hung up once
    assert app.audio.failed_call is None
