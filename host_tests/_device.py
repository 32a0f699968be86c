"""Device-test helpers (CPython and the MicroPython unix port): fakes on the path, a fake clock, boards."""

import sys

_here = __file__[:__file__.rfind("/")] if "/" in __file__ else "."
REPO = _here + "/.."
FAKES = _here + "/fakes"
BOARDS = REPO + "/boards"
if sys.implementation.name != "micropython" and FAKES not in sys.path:
    sys.path.insert(0, FAKES)      # the unix port gets it from MICROPYPATH instead

import machine  # noqa: E402  (the fake)
import network  # noqa: E402  (the fake)
from intercom import config  # noqa: E402
from intercom.board import load_board  # noqa: E402


class Clock:
    """A settable ticks_ms() for the board and its IRQ handlers."""

    def __init__(self, now=1000):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, ms):
        self.now = (self.now + ms) & ((1 << 30) - 1)
        return self.now


def fresh():
    machine.fake_reset()
    network.fake_reset()


def make_cfg(**sections):
    cfg = config.defaults()
    cfg["wifi"]["ssid"] = "door-net"
    cfg["wifi"]["password"] = "wifi-secret"
    for name, values in sections.items():
        cfg[name].update(values)
    return cfg


def make_board(name="esp32-devkitc-inmp441", cfg=None, clock=None, start=True):
    """A started Esp32Board on the fakes; returns (board, clock, lines logged)."""
    from intercom.hal.esp32 import Esp32Board
    fresh()
    clock = clock or Clock()
    lines = []
    cfg = cfg or make_cfg()
    cfg["board"] = name
    board = Esp32Board(load_board(name, [BOARDS]), cfg, "debug", clock, lines.append)
    if start:
        board.start(clock())
    return board, clock, lines


def settle(board, clock, ms=60):
    """Let debounce time pass and return the button events."""
    clock.advance(ms)
    board.service(clock())
    return board.take_button_events()
