"""Registration usage and NAT keep-alive (RFC 3261 §10.2, §21.5.4; RFC 3581; RFC 5626 §3.5.1)."""

from intercom.ticks import ticks_add, ticks_diff, earliest
from intercom.sip.auth import DigestClient, DigestError
from intercom.sip.message import Message
from intercom.sip.uri import SyntaxErr, parse_name_addr, is_digits, is_ipv4, format_name_addr

# States, all transitions live in this module:
IDLE = "idle"                  # no binding and nothing pending (start, or after unregister)
REGISTERING = "registering"    # a REGISTER transaction is in flight (first or refresh)
REGISTERED = "registered"      # binding granted; refresh timer running
BACKOFF = "backoff"            # last attempt failed; retry timer running
UNREGISTERING = "unregistering"  # REGISTER with Expires: 0 in flight

RETRY_BASE_MS = 4000      # first retry after a failure...
RETRY_MAX_MS = 300000     # ...doubling up to five minutes, never hammering
MAX_AUTH_ROUNDS = 3       # challenges answered per attempt (stale nonces included)
# A granted expiry is peer input: the refresh timer only ever uses it inside
# [MIN_EXPIRES, MAX_EXPIRES] (the range config.py allows for sip.expires).
# 86400 s keeps every deadline far inside ticks' +-2**29 ms (6.2 days) window;
# an unclamped 700000 s wrapped it and the refresh fired at once, for ever.
MIN_EXPIRES = 10
MAX_EXPIRES = 86400
MAX_RETRY_AFTER_S = 3600  # a Retry-After is obeyed up to an hour (§20.33)
KEEPALIVE = b"\r\n\r\n"  # RFC 5626 §3.5.1 double CRLF, as one UDP datagram


def refresh_delay_ms(granted_s):
    """Refresh well before expiry: half-way for short bindings, 60 s early otherwise.

    granted_s is clamped to [MIN_EXPIRES, MAX_EXPIRES] first."""
    granted_s = min(max(granted_s, MIN_EXPIRES), MAX_EXPIRES)
    margin = min(granted_s // 2, 60)
    return (granted_s - margin) * 1000


def seconds(text):
    """A delta-seconds header value or parameter as an int, or None.

    Leading digits only (Retry-After may carry a comment and parameters);
    an absurdly long number reads as 999999999, still a small int."""
    if text is None:
        return None
    text = text.split(";")[0].split("(")[0].strip()
    if not is_digits(text):
        return None
    return 999999999 if len(text) > 9 else int(text)


class Registration:
    """Keeps one binding of our Contact at the registrar alive.

    Events emitted through ua.emit(): registered {expires},
    registration_failed {status or reason, retry_in}, unregistered.
    While registered over UDP it also keeps the NAT binding towards the
    registrar open with a CRLF keep-alive after `sip.keepalive` idle seconds."""

    def __init__(self, ua, sip_cfg, target_addr):
        self.ua = ua
        self.target = target_addr            # (ip, port) of registrar or outbound proxy
        self.domain = sip_cfg["registrar"]
        port = sip_cfg["port"]
        self.request_uri = "sip:" + self.domain + ("" if port == 5060 else ":" + str(port))
        self.aor = "sip:" + sip_cfg["user"] + "@" + self.domain
        self.display_name = sip_cfg.get("display_name")
        self.expires = sip_cfg["expires"]
        self.auth = DigestClient(sip_cfg.get("auth_user") or sip_cfg["user"],
                                 sip_cfg["password"], lambda: ua.random_hex(16))
        self.call_id = ua.random_hex(16) + "@" + ua.local_ip
        self.from_tag = ua.random_hex(8)
        self.cseq = 0
        self.state = IDLE
        self.timer = None              # refresh or retry deadline (ticks)
        self.failures = 0
        self.auth_rounds = 0
        self.auth_header = None        # Authorization or Proxy-Authorization, once challenged
        self.sent_nonce = None         # nonce the credentials in flight answered (None: none sent)
        self.renonced = False          # this attempt already retried a non-stale new nonce
        self.bound = False             # a binding may exist at the registrar
        self.want_unregister = False
        self.granted = None
        keepalive = sip_cfg.get("keepalive", 25)
        if not isinstance(keepalive, int) or keepalive < 0:
            keepalive = 0
        # 0 = off. Over TCP/TLS the same double CRLF is the RFC 5626 §3.5.1
        # ping on the connection (the registrar answers with a CRLF pong).
        self.keepalive_ms = min(keepalive, MAX_EXPIRES) * 1000
        self.keepalives = 0            # CRLF keep-alives sent (for tests and stats)

    # --- commands ---------------------------------------------------------
    def start(self):
        """Register now (no-op while a REGISTER is in flight)."""
        if self.state in (IDLE, BACKOFF, REGISTERED):
            self._new_attempt()
            self._send(self.expires)

    def stop(self):
        """Unregister (Expires: 0) if a binding may exist; returns True if so."""
        self.timer = None
        if self.state == REGISTERING:
            self.want_unregister = True     # §10.2: one REGISTER at a time
            return True
        if self.state == UNREGISTERING:
            return True
        if not self.bound:
            self.state = IDLE
            return False
        self._new_attempt()
        self._send(0)
        return True

    # --- timers -------------------------------------------------------------
    def deadline(self):
        """The sooner of the refresh/retry timer and the next keep-alive (ticks), or None."""
        return earliest(self.timer, self._keepalive_due(), self.ua.now)

    def on_timer(self):
        """Called when deadline() is due: refresh/retry, or send a keep-alive."""
        now = self.ua.now
        if self.timer is not None and ticks_diff(now, self.timer) >= 0:
            self.timer = None
            if self.state in (REGISTERED, BACKOFF):
                self._new_attempt()
                self._send(self.expires)
            return
        due = self._keepalive_due()
        if due is not None and ticks_diff(now, due) >= 0:
            self.keepalives += 1
            self.ua.send_raw(KEEPALIVE, self.target)   # moves ua.last_sent: next one in full

    def _keepalive_due(self):
        """When the next CRLF keep-alive is due: only while registered (the
        binding is worth keeping) and `keepalive_ms` after the last datagram
        the UA sent, whatever it was (any traffic refreshes the NAT mapping)."""
        if not self.keepalive_ms or self.state != REGISTERED:
            return None
        return ticks_add(self.ua.last_sent, self.keepalive_ms)

    # --- requests -----------------------------------------------------------
    def _new_attempt(self):
        self.auth_rounds = 0
        self.renonced = False

    def _send(self, expires):
        ua = self.ua
        self.cseq += 1
        req = Message.request("REGISTER", self.request_uri)
        ua.add_via(req)
        req.add("Max-Forwards", "70")
        req.add("From", format_name_addr(self.display_name, self.aor, ";tag=" + self.from_tag))
        req.add("To", format_name_addr(self.display_name, self.aor))
        req.add("Call-ID", self.call_id)
        req.add("CSeq", "%d REGISTER" % self.cseq)
        req.add("Contact", "<%s>;expires=%d" % (ua.contact_uri(ua.layer.transport_to(self.target)), expires))
        req.add("Expires", str(expires))
        req.add("Allow", ua.ALLOW)
        req.add("User-Agent", ua.USER_AGENT)
        self.sent_nonce = None
        if self.auth_header is not None:
            req.add(self.auth_header, self.auth.authorization("REGISTER", self.request_uri))
            self.sent_nonce = self.auth.current["nonce"]
        self.state = UNREGISTERING if expires == 0 else REGISTERING
        ua.layer.start_client(req, self.target, self)

    # --- transaction user callbacks -------------------------------------------
    def on_response(self, tx, resp):
        status = resp.status
        if status < 200:
            return
        unregistering = self.state == UNREGISTERING
        if status in (401, 407):
            if self._answer_challenge(resp):
                return
        elif 200 <= status < 300:
            moved = self._correct_contact(resp)
            if unregistering:
                return self._finish_unregister(status)
            self._registered(resp, moved)
            return
        elif status == 423 and not unregistering:
            minimum = seconds(resp.get("min-expires"))
            if minimum is not None and self.expires < minimum <= MAX_EXPIRES:
                self.expires = minimum
                self.ua.log("info", "registrar wants Expires >= %d; retrying" % minimum)
                self._send(minimum)
                return
            # §10.3: we cannot meet it (missing, not above what we asked, or
            # beyond MAX_EXPIRES, which would wrap the refresh timer)
            self.ua.log("warn", "registrar demands Min-Expires %r; not retrying at once"
                        % resp.get("min-expires"))
        self._failed(status=status, reason=resp.reason,
                     retry_after=seconds(resp.get("retry-after")))

    def on_timeout(self, tx):
        error = tx.error
        if error is not None:          # the driver's transport error (sip.transport.transport_failed)
            self._failed(reason=error[0], message=error[1])
        else:
            self._failed(reason="timeout")

    def _answer_challenge(self, resp):
        """Retry with credentials; False if this challenge means failure."""
        if resp.source != self.target:
            self.ua.log("warn", "refusing challenge from %s:%d (not the registrar)" % resp.source)
            self._failed(status=resp.status, reason="challenge from unexpected address")
            return True
        header = "WWW-Authenticate" if resp.status == 401 else "Proxy-Authenticate"
        try:
            stale = self.auth.challenge(resp.get_all(header))
        except DigestError as err:
            self._failed(status=resp.status, reason=str(err))
            return True
        self.auth_rounds += 1
        # A challenge to a request that carried credentials: stale=true only
        # means the nonce aged (§22.4, RFC 7616 §3.3). The same nonce again
        # means the credentials were refused. A new nonce without stale=true
        # (registrars that rotate nonces without saying so) earns one retry
        # per attempt: a wrong password then costs three REGISTERs, not more.
        refused = False
        if self.sent_nonce is not None and not stale:
            if self.auth.current["nonce"] == self.sent_nonce or self.renonced:
                refused = True
            else:
                self.renonced = True
        if refused or self.auth_rounds > MAX_AUTH_ROUNDS:
            self._failed(status=resp.status, reason="authentication failed")
            return True
        self.auth_header = "Authorization" if resp.status == 401 else "Proxy-Authorization"
        self._send(0 if self.state == UNREGISTERING else self.expires)
        return True

    def _registered(self, resp, moved):
        granted = None
        ua = self.ua
        for contact in resp.get_all("contact"):
            try:
                parsed = parse_name_addr(contact)
            except SyntaxErr:
                continue
            uri = parsed.uri
            if (uri.user, uri.host, uri.port) == (ua.user, ua.contact_host, ua.contact_port):
                value = seconds(parsed.param("expires"))
                if value is not None:
                    granted = value
        if granted is None:
            granted = seconds(resp.get("expires"))
            if granted is None:
                granted = self.expires
        if granted == 0:
            # §10.2.4: a 200 granting 0 s to a non-zero request leaves no
            # binding; refreshing at once would storm, so it is a failure.
            self.bound = False
            return self._failed(status=resp.status, reason="registrar granted 0 s")
        if granted > MAX_EXPIRES:
            ua.log("warn", "registrar granted %d s; refreshing as for %d s" % (granted, MAX_EXPIRES))
            granted = MAX_EXPIRES
        self.bound = True
        self.failures = 0
        self.granted = granted
        self.state = REGISTERED
        if self.want_unregister:
            self.want_unregister = False
            self.stop()
            return
        # A Contact corrected by received/rport is re-registered at once.
        self.timer = ticks_add(ua.now, 0 if moved else refresh_delay_ms(granted))
        self.ua.emit({"event": "registered", "expires": granted,
                      "transport": self.ua.layer.transport_to(self.target)})

    def _finish_unregister(self, status=None, reason=None):
        self.bound = False
        self.state = IDLE
        self.timer = None
        event = {"event": "unregistered"}
        if status is not None:
            event["status"] = status
        if reason:
            event["reason"] = reason
        self.ua.emit(event)

    def _failed(self, status=None, reason=None, retry_after=None, message=None):
        """Report a failed attempt and retry on exponential backoff; a
        Retry-After (§20.33, §21.5.4) lengthens the wait, up to an hour."""
        if self.state == UNREGISTERING:
            return self._finish_unregister(status, reason)
        if self.want_unregister:
            self.want_unregister = False
            return self._finish_unregister(status, reason)
        delay = min(RETRY_BASE_MS << min(self.failures, 10), RETRY_MAX_MS)
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER_S) * 1000)
        self.failures += 1
        self.state = BACKOFF
        self.timer = ticks_add(self.ua.now, delay)
        event = {"event": "registration_failed", "retry_in": delay // 1000}
        if status is not None:
            event["status"] = status
        if reason:
            event["reason"] = reason
        if message:
            event["message"] = message
        self.ua.emit(event)

    def _correct_contact(self, resp):
        """RFC 3581: adopt the address the registrar saw us at, then refresh
        (the binding at once; each live call by a target-refresh re-INVITE).

        Both values go into every later Contact and SDP c= line, so they are
        checked first: received a dotted IPv4 address (§20.42 grammar; our
        c= line is IN IP4), rport 1-65535. A bad one is logged and ignored."""
        via = resp.vias[0]
        ua = self.ua
        host, port = ua.contact_host, ua.contact_port
        received = via.param("received")
        if received is not None:
            if is_ipv4(received):
                host = received
            else:
                ua.log("warn", "ignoring bad received=%r from the registrar" % received[:64])
        rport = via.param("rport")
        if rport:        # a bare ;rport is our own request echoed back
            if is_digits(rport) and len(rport) <= 5 and 0 < int(rport) <= 65535:
                port = int(rport)
            else:
                ua.log("warn", "ignoring bad rport=%r from the registrar" % rport[:64])
        if (host, port) != (ua.contact_host, ua.contact_port):
            ua.log("info", "registrar sees us at %s:%d; updating Contact" % (host, port))
            ua.contact_host, ua.contact_port = host, port
            for call in ua.calls.calls:    # live calls' peers learn the new Contact
                call.refresh_target()
            return True
        return False
