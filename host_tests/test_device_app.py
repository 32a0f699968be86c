"""The ESP32 board feeding the real App and UserAgent: buttons place/end calls, Wi-Fi return re-registers.

`deliver()` is what the driver does on each loop for boards with inputs
(see the HAL wiring notes): service, button events to the app, board events
(Wi-Fi) to the app, watchdog."""

from _device import make_board, make_cfg, settle
import machine
import network
from intercom.app import App
from intercom.sip.ua import UserAgent
from intercom.sip.message import parse, make_response

REGISTRAR = ("192.168.1.1", 5060)


def rand_hex(n):
    return ("a1b2c3d4e5f60718" * 4)[:n]


def setup_phone(board_name="esp32-devkitc-inmp441", registrar="192.168.1.1"):
    cfg = make_cfg(sip={"registrar": registrar}, calls={"targets": ["sip:alice@192.168.1.1"]})
    board, clock, lines = make_board(board_name, cfg)
    ua = UserAgent(cfg, "192.168.1.50", REGISTRAR if registrar else None, rand_hex, board.log, clock())
    app = App(ua, board, cfg)
    return board, clock, ua, app


def deliver(board, ua, app, now):
    board.service(now)
    for role, action in board.take_button_events():
        app.on_button(role, action, now)
    for event in board.take_events():
        board.emit(event)
        if event["event"] == "wifi" and event["connected"] and ua.registration is not None:
            ua.register()                 # re-register at once after Wi-Fi returns
    ua.tick(now)
    board.feed_watchdog()


def sent(ua, answer=False, now=0):
    """Methods of the datagrams the UA sent; answer=True replies 200 OK to each REGISTER."""
    out = []
    item = ua.pop_datagram()
    replies = []
    while item is not None:
        out.append(bytes(item[0]).split(b" ", 1)[0])
        if answer and out[-1] == b"REGISTER":
            req = parse(bytes(item[0]))
            resp = make_response(req, 200, to_tag="reg1")
            resp.add("Contact", req.get("contact") + ";expires=300")
            replies.append(resp.encode())
        item = ua.pop_datagram()
    for data in replies:
        ua.receive(data, REGISTRAR, now)
    return out


def test_talk_button_calls_the_targets():
    board, clock, ua, app = setup_phone(registrar="")
    machine.fake_set_level(18, 0)
    deliver(board, ua, app, clock.advance(60))
    assert sent(ua) == [b"INVITE"]
    assert len(ua.calls.calls) == 1


def test_hangup_button_ends_the_outgoing_call():
    board, clock, ua, app = setup_phone(registrar="")
    machine.fake_set_level(18, 0)
    deliver(board, ua, app, clock.advance(60))
    sent(ua)
    calls = []
    real_hangup = ua.hangup
    ua.hangup = lambda number=None: calls.append(number) or real_hangup(number)
    machine.fake_set_level(18, 1)
    machine.fake_set_level(19, 0)
    deliver(board, ua, app, clock.advance(60))
    assert calls == [None]


def test_one_button_board_reaches_the_app_as_talk():
    board, clock, ua, app = setup_phone("atom-echo", registrar="")
    machine.fake_set_level(39, 0)
    deliver(board, ua, app, clock.advance(60))
    assert sent(ua) == [b"INVITE"]


def test_long_press_reaches_the_app():
    board, clock, ua, app = setup_phone(registrar="")
    seen = []
    app.on_button = lambda role, action, now: seen.append((role, action))
    machine.fake_set_level(19, 0)
    deliver(board, ua, app, clock.advance(60))
    deliver(board, ua, app, clock.advance(1500))
    machine.fake_set_level(19, 1)
    deliver(board, ua, app, clock.advance(60))
    assert seen == [("hangup", "press"), ("hangup", "long"), ("hangup", "release")]


def test_wifi_return_triggers_reregistration():
    board, clock, ua, app = setup_phone()
    deliver(board, ua, app, clock.advance(10))          # Wi-Fi up: the first REGISTER
    assert sent(ua, True, clock()) == [b"REGISTER"]
    assert ua.registered
    network.fake_drop()
    deliver(board, ua, app, clock.advance(600))
    assert board.station.state == "down"
    for _ in range(30):
        deliver(board, ua, app, clock.advance(100))
        if board.station.connected:
            break
    assert board.station.connected
    assert sent(ua) == [b"REGISTER"]                    # at once, not at the refresh time


def test_watchdog_fed_every_loop():
    board, clock, ua, app = setup_phone(registrar="")
    for _ in range(5):
        deliver(board, ua, app, clock.advance(20))
    assert machine.wdts[0].feeds == 5


def test_app_led_reaches_the_pin():
    board, clock, ua, app = setup_phone(registrar="")
    app.start(clock())
    assert board.led == "registered"                   # peer-to-peer: ready at once
    settle(board, clock)
