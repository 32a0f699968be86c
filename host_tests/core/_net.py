"""A fake network and clock that wire UserAgents together for call-flow tests (MicroPython-compatible)."""

from intercom import config
from intercom.sip.ua import UserAgent
from intercom.sip.message import parse
from intercom.ticks import ticks_add, ticks_diff
from _sipfakes import Counter


def phone_config(user, port=5060, registrar="", **calls):
    cfg = config.defaults()
    cfg["sip"].update({"registrar": registrar, "user": user, "password": "pw-" + user,
                       "local_port": port})
    cfg["calls"].update({"accept_from": "any", "ring_timeout": 30})
    cfg["calls"].update(calls)
    return cfg


class Net:
    """Delivers every queued datagram between registered UAs at the fake `now`.

    `drop(msg, src, dst)` returning True loses a datagram; `ladder` records
    (src, dst, summary) for every datagram sent."""

    def __init__(self, start=0):
        self.now = start
        self.nodes = {}
        self.drop = None
        self.ladder = []
        self.lost = []

    def phone(self, ip, user, port=5060, registrar="", registrar_addr=None, **calls):
        cfg = phone_config(user, port, registrar, **calls)
        logs = []
        ua = UserAgent(cfg, ip, registrar_addr, Counter(), lambda lvl, txt: logs.append(txt), self.now)
        ua.logs = logs
        ua.seen = []
        self.nodes[(ip, port)] = ua
        return ua

    def attach(self, addr, handler):
        """A scripted peer: handler(msg, src, net) is called for each datagram to addr."""
        self.nodes[addr] = handler

    def send(self, src, dst, data):
        """Inject raw bytes as if src had sent them."""
        self._deliver(src, dst, data)

    def _deliver(self, src, dst, data):
        if data == b"\r\n\r\n":
            self.ladder.append((src, dst, "keep-alive"))     # RFC 5626 §3.5.1 CRLF
            return
        msg = parse(data)
        summary = msg.method if msg.is_request else "%d %s" % (msg.status, msg.cseq[1])
        self.ladder.append((src, dst, summary))
        if self.drop is not None and self.drop(msg, src, dst):
            self.lost.append((src, dst, summary))
            return
        node = self.nodes.get(dst)
        if node is None:
            return
        if isinstance(node, UserAgent):
            node.receive(data, src, self.now)
        else:
            node(msg, src, self)

    def flush(self):
        moved = True
        while moved:
            moved = False
            for addr in list(self.nodes):
                node = self.nodes[addr]
                if not isinstance(node, UserAgent):
                    continue
                while True:
                    item = node.pop_datagram()
                    if item is None:
                        break
                    moved = True
                    self._deliver(addr, item[1], item[0])
            for node in self.nodes.values():
                if isinstance(node, UserAgent):
                    while True:
                        ev = node.next_event()
                        if ev is None:
                            break
                        node.seen.append(ev)

    def run(self, ms):
        """Advance the clock by ms, firing timers in order and delivering everything."""
        end = ticks_add(self.now, ms)
        self.flush()
        while True:
            soonest = None
            for node in self.nodes.values():
                if isinstance(node, UserAgent):
                    d = node.next_deadline()
                    if d is not None and (soonest is None or ticks_diff(d, soonest) < 0):
                        soonest = d
            if soonest is None or ticks_diff(soonest, end) > 0:
                break
            if ticks_diff(soonest, self.now) > 0:
                self.now = soonest
            for node in self.nodes.values():
                if isinstance(node, UserAgent):
                    node.tick(self.now)
            self.flush()
        self.now = end
        for node in self.nodes.values():
            if isinstance(node, UserAgent):
                node.tick(self.now)
        self.flush()

    def summaries(self):
        return [s for _src, _dst, s in self.ladder]


def states(ua):
    return [ev["state"] for ev in ua.seen if ev["event"] == "call"]


def last_call(ua):
    calls = [ev for ev in ua.seen if ev["event"] == "call"]
    return calls[-1] if calls else None
