"""Stateful fuzzer, part 2: peers (callee, caller, proxy, registrar) reacting to the UA (MicroPython-compatible).

Every message is built as a real peer would build it for its step of the
flow (RFC 3261 §13-§17, §21-§22); fuzz_calls.py mutates, drops, duplicates
and reorders them on the way to the UA."""

from intercom.sip.message import Message, make_response
from intercom.sip.uri import parse_name_addr, SyntaxErr
from fuzz_mutate import sdp, CONTACTS, NUMBERS, tag_of, with_tag

UA_ADDR = ("192.0.2.20", 5062)
PEER = ("192.0.2.9", 5060)
PROXY = ("192.0.2.10", 5060)
STRANGER = ("192.0.2.66", 5060)
UA_URI = "sip:door@192.0.2.20:5062"
QUEUE_MAX = 40

# How the callee answers an INVITE from the UA: a list of steps. "200b" is
# a second 2xx from another fork (another To tag), "183s" early media,
# "180b" an early dialog with another fork, "200n" a 2xx without SDP.
PLANS = (("100", "180", "200"), ("100", "180", "200"), ("180", "200"), ("100",), ("100",),
         ("180", "183s", "200"), ("100", "486"), ("100", "503"), ("302",), ("302",), ("401",),
         ("407",), ("180", "200", "200b"), ("100", "180", "200", "200b"), (), ("180", "487"),
         ("200",), ("183s", "180b", "200"), ("100", "180", "603"), ("180",), ("180", "200n"),
         ("100", "404"), ("180", "480"), ("183s",), ("100", "180", "200", "200"), ("488",),
         ("100", "180b", "200b", "200"))


def uri_of(value, default):
    try:
        return str(parse_name_addr(value).uri)
    except (SyntaxErr, AttributeError, TypeError):
        return default


class Peers:
    """Everybody the UA talks to. `queue` holds (bytes, source) for the UA;
    `on_datagram(msg, dst)` reacts to one message the UA sent to dst;
    `initiate()` starts something on the peers' own account."""

    def __init__(self, rng, proxy_mode):
        self.rng = rng
        self.proxy_mode = proxy_mode
        self.queue = []
        self.dialogs = []          # confirmed or early dialogs the peers may send in
        self.calls_in = []         # INVITEs the peers sent (calls to the UA)
        self.sent = {}             # our request branch -> (Message, src)
        self.answers = {}          # UA request branch|method -> last final (bytes, src)
        self.ua_invites = {}       # UA INVITE branch -> (Message, dst, [to tags])
        self.nonce = 0
        self.n = 0

    # --- plumbing ---------------------------------------------------------------
    def put(self, msg, src):
        data = msg if isinstance(msg, bytes) else msg.encode()
        self.queue.append((data, src))
        if len(self.queue) > QUEUE_MAX:
            self.queue.pop(0)
        return data

    def uniq(self):
        self.n += 1
        return "%d%s" % (self.n, self.rng.hex(4))

    def contact(self, src):
        if self.rng.chance(8):
            return self.rng.pick(CONTACTS)
        return "<sip:flat@%s:%d>" % src

    # --- what the UA sent ------------------------------------------------------
    def on_datagram(self, msg, dst):
        if msg.is_request:
            self._on_request(msg, dst)
        else:
            self._on_response(msg, dst)

    def _on_request(self, req, dst):
        rng = self.rng
        method = req.method
        branch = req.vias[0].branch or ""
        key = branch + "|" + method
        if key in self.answers:                     # a retransmission
            if rng.chance(60):
                self.put(self.answers[key][0], self.answers[key][1])
            return
        if method == "ACK":
            return
        if method == "REGISTER":
            return self._registrar(req, dst, key)
        if method == "INVITE" and not req.to.tag:
            return self._callee(req, dst, key)
        if method == "CANCEL":
            return self._cancelled(req, dst, key)
        if method == "INVITE":
            return self._reinvited(req, dst, key)
        status = rng.pick((200, 200, 200, 200, 200, 200, 481, 500, 0, 401, 407, 408))
        if status in (401, 407) and dst != PROXY:
            status = 200
        if status:
            self._final(req, status, dst, key)
        if method == "BYE" and status in (200, 481):
            self._forget_dialog(req.call_id)

    def _final(self, req, status, src, key, tag=None, body=None):
        resp = make_response(req, status, to_tag=tag or (self.uniq() if status > 100 else None))
        if status in (401, 407):
            self.nonce += 1
            header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
            stale = ", stale=true" if self.rng.chance(20) else ""
            algo = self.rng.pick(("MD5", "MD5", "SHA-256", "MD5-sess", "FOO"))
            resp.add(header, 'Digest realm="pbx", nonce="n%d", qop="auth", algorithm=%s%s'
                     % (self.nonce, algo, stale))
        if status == 503 or status == 486:
            resp.add("Retry-After", self.rng.pick(NUMBERS))
        if 200 <= status < 300 and req.method == "INVITE":
            resp.add("Contact", self.contact(src))
        if body:
            resp.add("Content-Type", "application/sdp")
            resp.body = body
        data = self.put(resp, src)
        if status >= 200:
            self.answers[key] = (data, src)
        return resp

    def _registrar(self, req, dst, key):
        rng = self.rng
        creds = req.get("authorization") or req.get("proxy-authorization")
        roll = rng.below(100)
        if creds is None and roll < 70 or roll < 8:
            return self._final(req, rng.pick((401, 401, 407)), dst, key, tag="reg")
        if roll < 16:
            resp = make_response(req, 423, to_tag="reg")
            resp.add("Min-Expires", rng.pick(NUMBERS))
            self.answers[key] = (self.put(resp, dst), dst)
            return None
        if roll < 24:
            return self._final(req, rng.pick((503, 403, 500, 480)), dst, key, tag="reg")
        if roll < 28:
            return None                               # silence: the REGISTER times out
        resp = make_response(req, 200, to_tag="reg")
        if rng.chance(25):
            via = resp.get_all("via")
            top = via[0].replace(";rport", rng.pick((";rport=5099", ";rport=70000", ";rport=abc", ";rport")))
            top += rng.pick((";received=192.0.2.99", ";received=999.1.1.1", ";received=evil host",
                             ";received=pbx.example", ""))
            resp.remove("via")
            for v in [top] + via[1:]:
                resp.add("Via", v)
        contact = uri_of(req.get("contact") or "", "sip:door@192.0.2.20:5062")
        expires = rng.pick(NUMBERS + ("300", "300", "3600", "60")).strip()
        if rng.chance(80):
            resp.add("Contact", "<%s>;expires=%s" % (contact, expires))
        if rng.chance(30):
            resp.add("Expires", rng.pick(NUMBERS))
        self.answers[key] = (self.put(resp, dst), dst)
        return None

    def _callee(self, inv, dst, key):
        """The UA calls: answer per a plan (forks, early media, redirects, challenges...)."""
        rng = self.rng
        plan = rng.pick(PLANS)
        branch = inv.vias[0].branch or ""
        tags = []
        tag_a = "a" + self.uniq()
        tag_b = "b" + self.uniq()
        for step in plan:
            status = int(step[:3])
            tag = tag_b if step.endswith("b") else tag_a
            if status == 100:
                self.put(make_response(inv, 100), dst)
                continue
            resp = make_response(inv, status, to_tag=tag)
            if status < 300:
                resp.add("Contact", self.contact(dst))
                if rng.chance(15):
                    resp.add("Record-Route", rng.pick(("<sip:192.0.2.10;lr>", "<sip:192.0.2.10>",
                                                       "<sip:192.0.2.9:5060;lr>")))
                if status == 183 or (status == 200 and not step.endswith("n")):
                    resp.add("Content-Type", "application/sdp")
                    resp.body = sdp(port=30000 + 2 * rng.below(100))
                if tag not in tags:
                    tags.append(tag)
                if status >= 200:
                    self._dialog_uac(inv, tag, dst)
            elif status == 302:
                resp.add("Contact", rng.pick(("<sip:other@192.0.2.9:5070>", "<sip:other@192.0.2.9:5070>",
                                              "<sip:flat@192.0.2.9:5060>")) if rng.chance(60)
                         else rng.pick(CONTACTS))
            elif status in (401, 407):
                if dst == PROXY or rng.chance(20):
                    self._final(inv, status, dst, branch + "|INVITE", tag=tag)
                continue
            elif status == 503:
                resp.add("Retry-After", rng.pick(NUMBERS))
            data = self.put(resp, dst)
            if status >= 200:
                self.answers[key] = (data, dst)
        self.ua_invites[branch] = (inv, dst, tags)

    def _dialog_uac(self, inv, tag, src):
        """The callee's view of a dialog the UA's INVITE created."""
        self.dialogs.append({"call_id": inv.call_id, "peer_tag": tag, "ua_tag": inv.from_.tag,
                             "peer_uri": uri_of(inv.get("to"), "sip:flat@192.0.2.9"),
                             "ua_uri": uri_of(inv.get("from"), UA_URI),
                             "ua_target": uri_of(inv.get("contact") or "", UA_URI),
                             "cseq": self.rng.between(1, 5), "src": src, "early": False})
        if len(self.dialogs) > 8:
            self.dialogs.pop(0)

    def _cancelled(self, cancel, dst, key):
        rng = self.rng
        branch = cancel.vias[0].branch or ""
        found = self.ua_invites.get(branch)
        roll = rng.below(100)
        if found is None or roll < 5:
            if roll < 3:
                return None
            return self._final(cancel, 481, dst, key)
        self._final(cancel, 200, dst, key)
        inv, src, tags = found
        tag = tags[0] if tags else "c" + self.uniq()
        if roll < 75:
            data = self.put(make_response(inv, 487, to_tag=tag), src)
            self.answers[branch + "|INVITE"] = (data, src)
        elif roll < 85:                                  # the 200 won the race
            resp = make_response(inv, 200, to_tag=tag)
            resp.add("Contact", "<sip:flat@%s:%d>" % src)
            resp.add("Content-Type", "application/sdp")
            resp.body = sdp()
            self.put(resp, src)
            self._dialog_uac(inv, tag, src)
        return None                                      # else: nothing more, ever

    def _reinvited(self, req, dst, key):
        rng = self.rng
        status = rng.pick((200, 200, 200, 200, 200, 200, 491, 488, 481, 408, 500, 0, 407))
        if status == 407 and dst != PROXY:
            status = 200
        if rng.chance(20):
            self.put(make_response(req, 100), dst)
        if not status:
            return
        body = None
        if status == 200:
            offer = req.body or b""
            direction = "sendrecv"
            if b"a=sendonly" in offer:
                direction = "recvonly"
            elif b"a=inactive" in offer:
                direction = "inactive"
            body = sdp(direction=direction, version=self.rng.between(2, 9))
        self._final(req, status, dst, key, tag=req.to.tag, body=body)
        if status in (481, 408):
            self._forget_dialog(req.call_id)

    def _on_response(self, resp, dst):
        """The UA answered one of our requests."""
        branch = resp.vias[0].branch or ""
        sent = self.sent.get(branch)
        if sent is None:
            return
        req, src = sent
        method = resp.cseq[1]
        status = resp.status
        if method == "INVITE":
            call = self._call_in(req.call_id)
            if resp.to.tag and call is not None and status > 100:
                call["ua_tag"] = resp.to.tag
                call["ua_target"] = uri_of(resp.get("contact") or "", call["ua_target"])
            if status >= 200:
                if call is not None:
                    call["final"] = status
                if self.rng.chance(92):
                    self._ack(req, resp, src, status < 300)
                if status < 300 and resp.to.tag:
                    self._dialog_from_2xx(req, resp, src, call)
        elif method == "BYE" and status >= 200:
            self._forget_dialog(req.call_id)

    def _ack(self, req, resp, src, is_2xx):
        """ACK: end to end for a 2xx (new branch), hop by hop otherwise (§17.1.1.3)."""
        if is_2xx:
            ack = Message.request("ACK", uri_of(resp.get("contact") or "", req.uri))
            ack.add("Via", "SIP/2.0/UDP %s:%d;branch=z9hG4bKack%s;rport" % (src[0], src[1], self.uniq()))
        else:
            ack = Message.request("ACK", req.uri)
            ack.add("Via", req.get("via"))
        ack.add("Max-Forwards", "70")
        ack.add("From", req.get("from"))
        ack.add("To", resp.get("to"))
        ack.add("Call-ID", req.call_id)
        ack.add("CSeq", "%d ACK" % req.cseq[0])
        if is_2xx and not req.body and resp.body:
            ack.add("Content-Type", "application/sdp")
            ack.body = sdp(port=31000)
        self.put(ack, src)

    def _dialog_from_2xx(self, req, resp, src, call):
        for d in self.dialogs:
            if d["call_id"] == req.call_id:
                d["ua_tag"] = resp.to.tag
                d["early"] = False
                return
        self.dialogs.append({"call_id": req.call_id, "peer_tag": req.from_.tag, "ua_tag": resp.to.tag,
                             "peer_uri": uri_of(req.get("from"), "sip:flat@192.0.2.9"),
                             "ua_uri": uri_of(req.get("to"), UA_URI),
                             "ua_target": uri_of(resp.get("contact") or "", UA_URI),
                             "cseq": req.cseq[0], "src": src, "early": False})
        if len(self.dialogs) > 8:
            self.dialogs.pop(0)

    def _call_in(self, call_id):
        for call in self.calls_in:
            if call["call_id"] == call_id:
                return call
        return None

    def _forget_dialog(self, call_id):
        self.dialogs = [d for d in self.dialogs if d["call_id"] != call_id]

    # --- on the peers' own account ------------------------------------------------
    def initiate(self):
        """One request (or stray message) from a peer; returns a label."""
        roll = self.rng.below(100)
        pending = [c for c in self.calls_in if c.get("final") is None]
        if (roll < 15 and len(pending) < 2) or (roll < 60 and not self.dialogs and not pending):
            return self.new_call()
        if roll < 60 and self.dialogs:
            return self.in_dialog(self.rng.pick(self.dialogs))
        if roll < 68 and pending:
            return self.early_reinvite(self.rng.pick(pending))
        if roll < 78 and pending:
            return self.cancel(self.rng.pick(pending))
        if roll < 85 and self.calls_in:
            call = self.rng.pick(self.calls_in)
            self.put(call["data"], call["src"])
            return "retransmit INVITE"
        return self.stray()

    def new_call(self):
        rng = self.rng
        if self.proxy_mode:
            src = PROXY if rng.chance(85) else PEER
        else:
            src = PEER if rng.chance(85) else STRANGER
        body = None
        if rng.chance(85):
            body = sdp(ip=src[0], port=30000 + 2 * rng.below(100),
                       pts=rng.pick(((0, 8, 101), (8, 0), (0,), (8, 101), (101, 0))))
        call_id = "in%s@%s" % (self.uniq(), src[0])
        req = Message.request("INVITE", UA_URI if rng.chance(95) else "sip:nobody@192.0.2.20:5062")
        self._via(req, src)
        req.add("Max-Forwards", "70")
        req.add("From", '"Flat" <sip:flat@%s>;tag=f%s' % (src[0], self.uniq()))
        req.add("To", "<sip:door@%s>" % ("pbx.example" if self.proxy_mode else "192.0.2.20"))
        req.add("Call-ID", call_id)
        cseq = rng.between(1, 100)
        req.add("CSeq", "%d INVITE" % cseq)
        req.add("Contact", self.contact(src))
        if rng.chance(15):
            req.add("Record-Route", "<sip:192.0.2.10;lr>")
        if body is not None:
            req.add("Content-Type", "application/sdp")
            req.body = body
        data = self.put(req, src)
        self.calls_in.append({"call_id": call_id, "req": req, "data": data, "src": src,
                              "ua_tag": None, "ua_target": UA_URI, "final": None})
        if len(self.calls_in) > 6:
            self.calls_in.pop(0)
        return "new call"

    def _via(self, req, src):
        branch = "z9hG4bK" + self.uniq()
        rport = ";rport" if self.rng.chance(70) else ""
        req.add("Via", "SIP/2.0/UDP %s:%d;branch=%s%s" % (src[0], src[1], branch, rport))
        self.sent[branch] = (req, src)
        if len(self.sent) > 64:
            for k in list(self.sent)[:32]:
                del self.sent[k]
        return branch

    def request(self, d, method, body=None):
        """A request of the peer inside dialog d (§12.2.1.1)."""
        req = Message.request(method, d["ua_target"])
        self._via(req, d["src"])
        req.add("Max-Forwards", "70")
        req.add("From", "<%s>;tag=%s" % (d["peer_uri"], d["peer_tag"]))
        req.add("To", with_tag("<%s>" % d["ua_uri"], d["ua_tag"]))
        req.add("Call-ID", d["call_id"])
        d["cseq"] += 1
        req.add("CSeq", "%d %s" % (d["cseq"], method))
        if method == "INVITE":
            req.add("Contact", "<sip:flat@%s:%d>" % d["src"])
        if body is not None:
            ctype = "application/sdp" if method == "INVITE" else body[0]
            req.add("Content-Type", ctype)
            req.body = body if method == "INVITE" else body[1]
        return req

    def in_dialog(self, d):
        rng = self.rng
        kind = rng.below(10)
        if kind < 2:
            req = self.request(d, "BYE")
            label = "BYE"
        elif kind < 6:
            offer = rng.pick((sdp(direction="sendonly", version=3), sdp(ip="0.0.0.0", version=4),
                              sdp(direction="inactive", version=5), sdp(version=6),
                              sdp(ip="192.0.2.77", port=31000, version=7), b""))
            req = self.request(d, "INVITE", offer or None)
            label = "re-INVITE"
        elif kind < 8:
            req = self.request(d, "INFO", rng.pick((("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n"),
                                                   ("application/dtmf", b"#"), ("text/plain", b"x"),
                                                   ("application/dtmf-relay", b"Signal=\xff\r\n"))))
            label = "INFO"
        else:
            req = self.request(d, rng.pick(("OPTIONS", "UPDATE", "MESSAGE", "NOTIFY", "PRACK")))
            label = req.method
        self.put(req, d["src"])
        return label + " in dialog"

    def early_reinvite(self, call):
        """A re-INVITE (or BYE) in the early dialog, with the To tag of our 180 (§14.2: 500)."""
        if call["ua_tag"] is None:
            return self.cancel(call)
        inv = call["req"]
        d = {"call_id": call["call_id"], "peer_tag": inv.from_.tag, "ua_tag": call["ua_tag"],
             "peer_uri": uri_of(inv.get("from"), "sip:flat@192.0.2.9"), "ua_uri": uri_of(inv.get("to"), UA_URI),
             "ua_target": call["ua_target"], "cseq": inv.cseq[0], "src": call["src"]}
        method = self.rng.pick(("INVITE", "INVITE", "BYE", "INFO"))
        body = sdp(version=2) if method == "INVITE" else None
        if method == "INFO":
            body = ("application/dtmf", b"1")
        self.put(self.request(d, method, body), call["src"])
        return "early " + method

    def cancel(self, call):
        inv = call["req"]
        req = Message.request("CANCEL", inv.uri)
        req.add("Via", inv.get("via"))
        req.add("Max-Forwards", "70")
        req.add("From", inv.get("from"))
        req.add("To", inv.get("to"))
        req.add("Call-ID", inv.call_id)
        req.add("CSeq", "%d CANCEL" % inv.cseq[0])
        self.put(req, call["src"])
        return "CANCEL"

    def stray(self):
        rng = self.rng
        kind = rng.below(4)
        src = rng.pick((STRANGER, PEER, PROXY))
        if kind == 0:                       # a response nobody asked for
            req = Message.request("INVITE", UA_URI)
            req.add("Via", "SIP/2.0/UDP 192.0.2.20:5062;branch=z9hG4bK%s" % rng.hex(8))
            req.add("From", "<%s>;tag=%s" % (UA_URI, rng.hex(4)))
            req.add("To", "<sip:x@192.0.2.9>")
            req.add("Call-ID", rng.hex(8))
            req.add("CSeq", "1 " + rng.pick(("INVITE", "BYE", "REGISTER", "CANCEL")))
            self.put(make_response(req, rng.pick((100, 180, 200, 487, 503)), to_tag="s"), src)
            return "stray response"
        req = Message.request(rng.pick(("OPTIONS", "ACK", "BYE", "INFO")), UA_URI)
        self._via(req, src)
        req.add("Max-Forwards", "70")
        req.add("From", "<sip:scan@%s>;tag=%s" % (src[0], rng.hex(4)))
        req.add("To", "<%s>" % UA_URI + (";tag=" + rng.hex(4) if rng.chance(50) else ""))
        req.add("Call-ID", rng.hex(10))
        req.add("CSeq", "1 " + req.method)
        self.put(req, src)
        return "stray " + req.method


def first_line(data):
    end = data.find(b"\r\n")
    return data[:end if 0 <= end < 80 else 80]


def tag_in(value):
    return tag_of(value or "")
