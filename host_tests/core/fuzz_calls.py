"""Stateful SIP fuzzer: calls both ways, header mutations, commands, time jumps, oracles (MicroPython-compatible).

`run(seed, steps)` drives UserAgents through episodes: a configuration is
drawn (peer-to-peer or via a registrar/proxy, auto-answer, call waiting,
a clock near the 2**30 ticks wrap...), then each step is one of: a queued
peer message delivered (maybe mutated, dropped, duplicated, reordered), a
peer starting something (a call, a re-INVITE, BYE, CANCEL, INFO...), a UA
command, or a time jump of 0 ms to 70 s. An episode ends with everything
hung up and 5 idle minutes. After every step the oracles below run; each
violation is a finding (a dict: seed, step, kind, detail, trace), and the
same seed replays the same steps.

Oracles: no exception escapes a call into the core, and the UA's own
catch-all for received messages never fires; everything the UA sends
parses with its own parser and validators; an incoming call goes live only
after answer() (or with auto_answer); after hang-up and 5 idle minutes no
call and no transaction is left (registration aside) and every call
reported `ended`; no deadline stays due after a tick; the server
transaction table stays under txlayer.MAX_SERVER_TRANSACTIONS."""

import sys

from intercom import config
from intercom.sip.ua import UserAgent
from intercom.sip.message import parse, ParseError
from intercom.sip.validate import check_request, check_response
from intercom.sip import txlayer
from intercom.ticks import ticks_add, ticks_diff, TICKS_MAX
from fuzz_mutate import Rng, mutate_message
from fuzz_peer import Peers, PEER, PROXY, STRANGER, UA_ADDR, first_line

LIVE = ("connected", "on_hold", "remote_hold")
IDLE_MS = 300000
MAX_CALLS = 4               # one live, one waiting, and room for a redirect or next target
MAX_SERVERS = getattr(txlayer, "MAX_SERVER_TRANSACTIONS", None)
HISTORY = 40


def format_exc(err):
    """A traceback as text under both runtimes."""
    if hasattr(sys, "print_exception"):            # MicroPython
        import io
        buf = io.StringIO()
        sys.print_exception(err, buf)
        return buf.getvalue()
    import traceback
    return "".join(traceback.format_exception(type(err), err, err.__traceback__))


class Fuzzer:
    """One seeded run; see the module docstring."""

    def __init__(self, seed, trace=None):
        self.seed = seed
        self.rng = Rng(seed)
        self.trace = trace          # None, or a function printing each action
        self.findings = []
        self.step = 0
        self.episode = 0
        self.history = []
        self.now = 0
        self.ua = None
        self.counts = {"delivered": 0, "mutated": 0, "dropped": 0, "commands": 0, "episodes": 0,
                       "sent": 0}

    # --- findings and history -------------------------------------------------------
    def note(self, text):
        self.history.append("%d: %s" % (self.step, text))
        if len(self.history) > HISTORY:
            self.history.pop(0)
        if self.trace is not None:
            self.trace("[seed %d step %d] %s" % (self.seed, self.step, text))

    def finding(self, kind, detail, tb=None, sig=None):
        self.findings.append({"seed": self.seed, "step": self.step, "kind": kind, "detail": detail,
                              "traceback": tb, "trace": list(self.history), "sig": sig})
        if self.trace is not None:
            self.trace("FINDING %s: %s\n%s" % (kind, detail, tb or ""))

    def core(self, what, fn, *args):
        """Call into the core; an escaping exception is a finding."""
        try:
            return fn(*args)
        except Exception as err:
            self.finding("exception", "%s raised %r" % (what, err), format_exc(err))
            return None

    # --- episodes ----------------------------------------------------------------------
    def new_episode(self):
        rng = self.rng
        self.episode += 1
        self.counts["episodes"] += 1
        proxy = rng.chance(50)
        cfg = config.defaults()
        cfg["sip"].update({"registrar": "pbx.example" if proxy else "", "user": "door", "password": "s3cret",
                           "local_port": UA_ADDR[1], "expires": rng.pick((300, 60, 3600)),
                           "display_name": rng.pick(("Door", "Door", "", 'Door "A"', "Back\\slash"))})
        cfg["calls"].update({
            "accept_from": rng.pick(("registrar", "registrar", "any")) if proxy
            else rng.pick(("any", "any", [PEER[0]])),
            "auto_answer": rng.chance(15), "call_waiting": rng.chance(40),
            "ring_timeout": rng.pick((30, 30, 5, 0)), "max_duration": rng.pick((0, 0, 0, 20)),
            "targets": ["sip:flat@192.0.2.9:5060", "sip:second@192.0.2.9:5070"]})
        start = rng.below(3)
        if start == 0:
            self.now = 0
        elif start == 1:
            self.now = TICKS_MAX - rng.below(120000)      # the 2**30 ticks wrap is near
        else:
            self.now = rng.below(TICKS_MAX)
        self.cfg = cfg
        self.auto_answer = cfg["calls"]["auto_answer"]
        self.logs = []
        self.internal = []
        self.calls = {}           # call id -> last state (from events)
        self.roles = {}           # call id -> "in" / "out"
        self.answered = []        # ids answer() was issued for
        self.ended = []           # ids reported ended
        self.flagged = []         # ids already reported as live without answer
        self.input_bad = False
        self.peers = Peers(rng, proxy)
        self.idle = False
        ua_rng = Rng(self.seed * 7919 + self.episode)
        ua = self.core("UserAgent()", UserAgent, cfg, UA_ADDR[0], PROXY if proxy else None,
                       ua_rng.hex, self._log, self.now)
        self.ua = ua
        if ua is None:
            return
        # tracebacks for the UA's own catch-alls (they report only repr(err))
        for name in ("_receive", "_dispatch"):
            if hasattr(ua, name):
                setattr(ua, name, self._guarded(getattr(ua, name)))
        self.note("episode %d: %s, accept_from %s, auto_answer %s, call_waiting %s, now %d" % (
            self.episode, "proxy" if proxy else "p2p", cfg["calls"]["accept_from"], self.auto_answer,
            cfg["calls"]["call_waiting"], self.now))
        if proxy and rng.chance(70):
            self.command("register", ua.register)
        self.pump()

    def _guarded(self, fn):
        def guarded(*args):
            try:
                return fn(*args)
            except Exception as err:
                self.internal.append(format_exc(err))
                raise
        return guarded

    def _log(self, level, text):
        if level == "error":
            self.logs.append(text)

    def end_episode(self):
        """Hang up everything, 5 idle minutes without input, then nothing may be left."""
        ua = self.ua
        if ua is None:
            return
        self.note("teardown")
        for number in sorted(self.calls):
            if self.calls[number] != "ended":
                self.command("hangup", ua.hangup, number)
        self.command("unregister", ua.unregister)
        self.peers.queue = []
        self.idle = True
        self.advance(IDLE_MS, True)
        calls = ua.calls.calls
        if calls:
            self.finding("leak", "%d call(s) left after hang-up and 5 idle minutes: %s" % (
                len(calls), ", ".join(["%s %s" % (c.id, c.state) for c in calls])))
        left = [k for k in ua.layer.clients if not k.endswith("|REGISTER")]
        if left or ua.layer.servers:
            self.finding("leak", "transactions left after 5 idle minutes: clients %s, servers %s" % (
                [_tx_desc(ua.layer.clients[k]) for k in left],
                [_tx_desc(ua.layer.servers[k]) for k in ua.layer.servers]))
        unended = [n for n in sorted(self.calls) if n not in self.ended]
        if unended:
            self.finding("leak", "call(s) never reported ended: %s" % ", ".join(
                ["%d (%s)" % (n, self.calls[n]) for n in unended]))

    # --- the UA's output and events ------------------------------------------------------
    def pump(self):
        ua = self.ua
        while True:
            item = self.core("pop_datagram", ua.pop_datagram)
            if item is None:
                break
            data, addr = item
            self.counts["sent"] += 1
            msg = self.check_output(data, addr)
            # nobody answers from an address a datagram cannot reach
            if msg is not None and not self.idle and _good_destination(addr):
                self.peers.on_datagram(msg, addr)
        while True:
            ev = self.core("next_event", ua.next_event)
            if ev is None:
                break
            self.check_event(ev)
        if self.logs:
            self.finding("internal error", "error logged: %s" % " | ".join(self.logs),
                         "\n".join(self.internal) or None)
            self.logs = []
            self.internal = []
        if MAX_SERVERS is not None and len(ua.layer.servers) > MAX_SERVERS:
            self.finding("unbounded", "%d server transactions (cap %d)" % (len(ua.layer.servers), MAX_SERVERS))
        if len(ua.calls.calls) > MAX_CALLS:
            self.finding("unbounded", "%d calls" % len(ua.calls.calls))

    def check_output(self, data, addr):
        """Everything we send parses again with our own parser and validators."""
        if not _good_destination(addr):
            what = data[:data.find(b" ", 8) if data.startswith(b"SIP/") else data.find(b" ")]
            self.finding("bad destination", "datagram to %r: %r" % (addr, data[:80]),
                         sig="%s to %s" % (what.decode("utf-8", "replace"), _kind_of(addr[0]) if
                                           _good_destination((addr[0], 1)) is False else "port %r" % (addr[1],)))
        if data == b"\r\n\r\n":
            return None
        try:
            msg = parse(data)
        except ParseError as err:
            self.finding("unparsable output", "to %s:%d: %s: %r" % (addr[0], addr[1], err.reason, data[:400]),
                         sig=err.reason)
            return None
        except Exception as err:
            self.finding("exception", "parse() raised %r on our own output %r" % (err, data[:400]), format_exc(err))
            return None
        try:
            if msg.is_request:
                check_request(msg)
            else:
                check_response(msg)
        except ParseError as err:
            # a response to a request we found malformed echoes its bad headers (§8.2.6.2)
            if msg.is_request or not self.input_bad:
                self.finding("unparsable output", "to %s:%d: %s: %r" % (addr[0], addr[1], err.reason, data[:400]),
                             sig="%s in our %s" % (err.reason, msg.method or msg.status))
            return None
        except Exception as err:
            self.finding("exception", "validate raised %r on our own output %r" % (err, data[:400]), format_exc(err))
            return None
        self.note("UA -> %s:%d %s" % (addr[0], addr[1], first_line(data)))
        return msg

    def check_event(self, ev):
        kind = ev.get("event")
        if kind != "call":
            key = "event " + str(kind)
            self.counts[key] = self.counts.get(key, 0) + 1
        if kind == "call":
            number = ev.get("id")
            state = ev.get("state")
            if number not in self.roles:
                self.roles[number] = "in" if state == "incoming" else "out"
            self.note("event call %s %s %s" % (number, state, ev.get("reason", "")))
            if number in self.ended:
                self.finding("event after ended", "call %s reported %s after ended" % (number, state))
            self.calls[number] = state
            if state == "ended":
                self.ended.append(number)
            key = state if state != "ended" else "ended " + str(ev.get("reason"))
            self.counts[key] = self.counts.get(key, 0) + 1
            if (state in LIVE and self.roles[number] == "in" and number not in self.answered
                    and not self.auto_answer and number not in self.flagged):
                self.flagged.append(number)
                self.finding("live without answer", "incoming call %s went %s without answer()" % (number, state))
        elif kind == "media":
            if ev.get("id") in self.ended:
                self.finding("event after ended", "media event for call %s after it ended" % ev.get("id"))
            addr = (ev.get("address"), ev.get("port"))
            sends = ev.get("direction") in ("sendrecv", "sendonly")
            if not _good_destination(addr) and (sends or addr[0] != "0.0.0.0"):
                self.finding("bad media destination", "media event %r" % ev,
                             sig="%s %s" % (_kind_of(addr[0]), "port ok" if _good_destination(("1.1.1.1", addr[1]))
                                            else "bad port"))
        elif kind == "error":
            message = str(ev.get("message"))
            self.note("event error " + message[:80])
            if "internal error" in message:
                self.finding("internal error", message, "\n".join(self.internal) or None)
                self.internal = []
                self.logs = []

    # --- actions -------------------------------------------------------------------------
    def command(self, name, fn, *args):
        self.counts["commands"] += 1
        self.note("command %s%r" % (name, args))
        result = self.core(name, fn, *args)
        self.pump()
        return result

    def deliver(self):
        peers = self.peers
        rng = self.rng
        if not peers.queue:
            return False
        burst = rng.between(2, 6) if rng.chance(25) else 1
        while burst > 0 and peers.queue:
            burst -= 1
            roll = rng.below(100)
            if roll < 75:
                index = 0
            elif roll < 92:
                index = rng.below(min(len(peers.queue), 4))
            else:
                index = rng.below(len(peers.queue))     # reordered far
            data, src = peers.queue.pop(index)
            self.deliver_one(data, src)
        return True

    def deliver_one(self, data, src):
        rng = self.rng
        if rng.chance(4):
            self.counts["dropped"] += 1
            self.note("lost %s" % first_line(data))
            return
        if rng.chance(30):
            data = mutate_message(rng, data)
            self.counts["mutated"] += 1
        if rng.chance(3):
            src = STRANGER
        times = 2 if rng.chance(5) else 1
        try:
            msg = parse(data)
            if msg.is_request:
                check_request(msg)
            else:
                check_response(msg)
            self.input_bad = False
        except Exception:
            self.input_bad = True
        for _ in range(times):
            self.counts["delivered"] += 1
            self.note("%s:%d -> UA %s" % (src[0], src[1], first_line(data)))
            self.core("receive", self.ua.receive, data, src, self.now)
            self.pump()
        self.input_bad = False

    def random_command(self):
        rng = self.rng
        ua = self.ua
        incoming = [n for n in sorted(self.calls) if self.calls[n] == "incoming"]
        active = [n for n in sorted(self.calls) if self.calls[n] != "ended"]
        roll = rng.below(100)
        if roll < 25 and incoming:
            number = rng.pick(incoming)
            if rng.chance(20):
                number = None
                self.answered.append(incoming[0])
            else:
                self.answered.append(number)
            return self.command("answer", ua.answer, number)
        if roll < 45 or (roll < 70 and not active):
            if self.peers.proxy_mode:
                uri = rng.pick(("sip:flat@pbx.example", "sip:flat@192.0.2.9:5060", "sip:flat@192.0.2.9", None))
            else:
                uri = rng.pick(("sip:flat@192.0.2.9:5060", "sip:flat@192.0.2.9", "sip:x@pbx.example",
                                None, "sip:flat@192.0.2.9:5070;maddr=192.0.2.9"))
            return self.command("dial", ua.dial, uri)
        number = rng.pick(active) if active and rng.chance(70) else None
        if roll < 70:
            return self.command("hangup", ua.hangup, number)
        if roll < 80:
            return self.command("hold", ua.hold, number)
        if roll < 90:
            return self.command("resume", ua.resume, number)
        if rng.chance(50):
            return self.command("unregister", ua.unregister)
        return self.command("register", ua.register)

    def time_jump(self):
        rng = self.rng
        band = rng.below(100)
        if band < 10:
            ms = 0
        elif band < 40:
            ms = rng.between(1, 500)
        elif band < 65:
            ms = rng.between(500, 5000)
        elif band < 85:
            ms = rng.between(5000, 32000)
        else:
            ms = rng.between(32000, 70000)
        self.advance(ms, rng.chance(90))

    def advance(self, ms, follow):
        """Move the clock by ms; with follow, tick at every deadline on the way
        (as the driver does), else once at the end (a stalled loop)."""
        self.note("time +%d ms%s" % (ms, "" if follow else " (one tick)"))
        ua = self.ua
        end = ticks_add(self.now, ms)
        stuck = 0
        if follow:
            while True:
                deadline = self.core("next_deadline", ua.next_deadline)
                if deadline is None or ticks_diff(deadline, end) > 0:
                    break
                if ticks_diff(deadline, self.now) > 0:
                    self.now = deadline
                    stuck = 0
                else:
                    stuck += 1
                    if stuck > 20:
                        self.finding("busy loop", "deadline %d stays due at now %d after ticks" % (deadline, self.now))
                        break
                self.core("tick", ua.tick, self.now)
                self.pump()
        self.now = end
        self.core("tick", ua.tick, self.now)
        self.pump()

    def one_step(self):
        roll = self.rng.below(100)
        if roll < 50 and self.deliver():
            return
        if roll < 64:
            self.note("peer: " + self.peers.initiate())
            return
        if roll < 78:
            return self.random_command()
        self.time_jump()


def _good_destination(addr):
    """A unicast IPv4 address and a port we may send to."""
    try:
        ip, port = addr
        parts = ip.split(".")
        if len(parts) != 4 or not 0 < port < 65536:
            return False
        for p in parts:
            if not p.isdigit() or len(p) > 3 or int(p) > 255:
                return False
        return 0 < int(parts[0]) < 224
    except (TypeError, ValueError, AttributeError):
        return False


def _kind_of(host):
    if not isinstance(host, str):
        return repr(type(host))
    if _good_destination((host, 1)):
        return "IPv4"
    return "host %r" % host[:20]


def _tx_desc(tx):
    req = getattr(tx, "request", None)
    what = ""
    if req is not None and req.method == "INVITE":
        what = " (re-INVITE)" if req.get("to") and ";tag=" in req.get("to") else " (initial INVITE)"
    return "%s %s%s" % (tx.key, getattr(tx, "state", "?"), what)


def run(seed, steps, trace=None):
    """Run `steps` steps from `seed`; returns (findings, counts)."""
    fz = Fuzzer(seed, trace)
    remaining = 0
    while fz.step < steps:
        if remaining <= 0 or fz.ua is None:
            if fz.ua is not None:
                fz.end_episode()
            fz.new_episode()
            remaining = fz.rng.between(30, 150)
            if fz.ua is None:
                fz.step += 1
                continue
        fz.one_step()
        remaining -= 1
        fz.step += 1
    if fz.ua is not None:
        fz.end_episode()
    return fz.findings, fz.counts


def signature(finding):
    """What makes two findings the same bug: kind, and the last traceback line or the detail's head."""
    if finding.get("sig"):
        return "%s: %s" % (finding["kind"], finding["sig"])
    tb = finding.get("traceback")
    if tb:
        lines = [ln.strip() for ln in tb.strip().split("\n") if ln.strip()]
        where = [ln for ln in lines if ln.startswith("File")]
        return "%s: %s @ %s" % (finding["kind"], lines[-1], where[-1] if where else "")
    detail = finding["detail"]
    for sep in (":", "("):
        if sep in detail:
            detail = detail.split(sep)[0]
    words = []
    for word in detail[:100].split(" "):
        words.append("N" if word and word[0] in "0123456789" else word)
    return "%s: %s" % (finding["kind"], " ".join(words))


def report(finding, full=False):
    out = "seed %d step %d: %s: %s" % (finding["seed"], finding["step"], finding["kind"], finding["detail"])
    if finding.get("traceback"):
        out += "\n" + finding["traceback"].rstrip()
    if full:
        out += "\n  last actions:\n    " + "\n    ".join(finding["trace"])
    return out


def summarize(findings):
    """Unique findings: a list of [signature, count, first finding], first seen first."""
    out = []
    index = {}
    for f in findings:
        sig = signature(f)
        if sig in index:
            index[sig][1] += 1
        else:
            index[sig] = [sig, 1, f]
            out.append(index[sig])
    return out


def _clock():
    import time
    if hasattr(time, "ticks_ms"):
        return time.ticks_ms() / 1000
    return time.time()


def main(argv):
    """fuzz_calls.py SEED STEPS [SEEDS] [--trace] [--full]: run seeds SEED..SEED+SEEDS-1,
    STEPS steps each; prints steps/s and unique findings; returns the number of findings."""
    flags = [a for a in argv if a.startswith("--")]
    args = [int(a) for a in argv if not a.startswith("--")]
    seed = args[0] if args else 1
    steps = args[1] if len(args) > 1 else 10000
    seeds = args[2] if len(args) > 2 else 1
    trace = print if "--trace" in flags else None
    everything = []
    total = 0
    started = _clock()
    for s in range(seed, seed + seeds):
        t0 = _clock()
        findings, counts = run(s, steps, trace)
        dt = _clock() - t0
        total += steps
        everything += findings
        print("seed %d: %d steps in %.1f s (%d steps/s), %d findings; %s" % (
            s, steps, dt, steps / dt if dt > 0 else 0, len(findings),
            ", ".join(["%s %d" % (k, counts[k]) for k in sorted(counts)])))
    elapsed = _clock() - started
    for sig, count, first in summarize(everything):
        print("FINDING x%d %s" % (count, sig))
        print("  " + report(first, "--full" in flags).replace("\n", "\n  "))
    print("SUMMARY steps=%d seconds=%.1f steps_per_s=%d findings=%d unique=%d" % (
        total, elapsed, total / elapsed if elapsed > 0 else 0, len(everything), len(summarize(everything))))
    return len(everything)


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1:]) else 0)
