"""Registration usage: REGISTER, refresh, backoff and unregister (RFC 3261 §10.2, RFC 3581)."""

from intercom.ticks import ticks_add
from intercom.sip.auth import DigestClient, DigestError
from intercom.sip.message import Message
from intercom.sip.uri import SyntaxErr, parse_name_addr, is_digits

# States, all transitions live in this module:
IDLE = "idle"                  # no binding and nothing pending (start, or after unregister)
REGISTERING = "registering"    # a REGISTER transaction is in flight (first or refresh)
REGISTERED = "registered"      # binding granted; refresh timer running
BACKOFF = "backoff"            # last attempt failed; retry timer running
UNREGISTERING = "unregistering"  # REGISTER with Expires: 0 in flight

RETRY_BASE_MS = 4000      # first retry after a failure...
RETRY_MAX_MS = 300000     # ...doubling up to five minutes, never hammering
MAX_AUTH_ROUNDS = 3       # challenges answered per attempt (stale nonces included)


def refresh_delay_ms(granted_s):
    """Refresh well before expiry: half-way for short bindings, 60 s early otherwise."""
    margin = min(granted_s // 2, 60)
    return max(1, granted_s - margin) * 1000


class Registration:
    """Keeps one binding of our Contact at the registrar alive.

    Events emitted through ua.emit(): registered {expires},
    registration_failed {status or reason, retry_in}, unregistered."""

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
        self.sent_credentials = False  # the REGISTER in flight carried credentials
        self.bound = False             # a binding may exist at the registrar
        self.want_unregister = False
        self.granted = None

    # --- commands ---------------------------------------------------------
    def start(self):
        """Register now (no-op while a REGISTER is in flight)."""
        if self.state in (IDLE, BACKOFF, REGISTERED):
            self.auth_rounds = 0
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
        self.auth_rounds = 0
        self._send(0)
        return True

    # --- timers -------------------------------------------------------------
    def deadline(self):
        return self.timer

    def on_timer(self):
        self.timer = None
        if self.state in (REGISTERED, BACKOFF):
            self.auth_rounds = 0
            self._send(self.expires)

    # --- requests -----------------------------------------------------------
    def _send(self, expires):
        ua = self.ua
        self.cseq += 1
        req = Message.request("REGISTER", self.request_uri)
        ua.add_via(req)
        req.add("Max-Forwards", "70")
        name = '"%s" ' % self.display_name if self.display_name else ""
        req.add("From", "%s<%s>;tag=%s" % (name, self.aor, self.from_tag))
        req.add("To", "%s<%s>" % (name, self.aor))
        req.add("Call-ID", self.call_id)
        req.add("CSeq", "%d REGISTER" % self.cseq)
        req.add("Contact", "<%s>;expires=%d" % (ua.contact_uri(), expires))
        req.add("Expires", str(expires))
        req.add("Allow", ua.ALLOW)
        req.add("User-Agent", ua.USER_AGENT)
        if self.auth_header is not None:
            req.add(self.auth_header, self.auth.authorization("REGISTER", self.request_uri))
        self.state = UNREGISTERING if expires == 0 else REGISTERING
        self.sent_credentials = self.auth_header is not None
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
            minimum = resp.get("min-expires", "")
            if is_digits(minimum.strip()) and int(minimum) > self.expires:
                self.expires = int(minimum)
                self.ua.log("info", "registrar wants Expires >= %d; retrying" % self.expires)
                self._send(self.expires)
                return
        self._failed(status=status, reason=resp.reason)

    def on_timeout(self, tx):
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
        # A fresh challenge to a request that already carried credentials
        # means they were wrong; stale=true only means the nonce aged (§22.4).
        if (self.sent_credentials and not stale) or self.auth_rounds > MAX_AUTH_ROUNDS:
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
                uri = parse_name_addr(contact).uri
                expires = parse_name_addr(contact).param("expires", "")
            except SyntaxErr:
                continue
            if (uri.user, uri.host, uri.port) == (ua.user, ua.contact_host, ua.contact_port) \
                    and is_digits(expires):
                granted = int(expires)
        if granted is None:
            header = resp.get("expires", "").strip()
            granted = int(header) if is_digits(header) else self.expires
        self.bound = granted > 0
        self.failures = 0
        self.granted = granted
        self.state = REGISTERED
        if self.want_unregister:
            self.want_unregister = False
            self.stop()
            return
        # A Contact corrected by received/rport is re-registered at once.
        self.timer = ticks_add(ua.now, 0 if moved else refresh_delay_ms(granted))
        self.ua.emit({"event": "registered", "expires": granted})

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

    def _failed(self, status=None, reason=None):
        if self.state == UNREGISTERING:
            return self._finish_unregister(status, reason)
        if self.want_unregister:
            self.want_unregister = False
            return self._finish_unregister(status, reason)
        delay = min(RETRY_BASE_MS << min(self.failures, 10), RETRY_MAX_MS)
        self.failures += 1
        self.state = BACKOFF
        self.timer = ticks_add(self.ua.now, delay)
        event = {"event": "registration_failed", "retry_in": delay // 1000}
        if status is not None:
            event["status"] = status
        if reason:
            event["reason"] = reason
        self.ua.emit(event)

    def _correct_contact(self, resp):
        """RFC 3581: adopt the address the registrar saw us at, then refresh."""
        via = resp.vias[0]
        received = via.param("received")
        rport = via.param("rport")
        host = received or self.ua.contact_host
        port = int(rport) if rport and is_digits(rport) else self.ua.contact_port
        if (host, port) != (self.ua.contact_host, self.ua.contact_port):
            self.ua.log("info", "registrar sees us at %s:%d; updating Contact" % (host, port))
            self.ua.contact_host, self.ua.contact_port = host, port
            return True
        return False
