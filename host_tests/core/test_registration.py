"""Registration usage against an in-process registrar with a fake clock (RFC 3261 §10.2, RFC 3581)."""

from _sipfakes import make_ua, drain, events, exchange, FakeRegistrar, REGISTRAR
from intercom.ticks import ticks_add, ticks_diff, TICKS_MAX
from intercom.sip.message import parse
from intercom.sip.validate import check_request


def registered_ua(now=0, **sip):
    ua = make_ua(now, **sip)
    reg = FakeRegistrar()
    ua.register()
    exchange(ua, reg, now)
    evs = events(ua)
    assert evs[-1]["event"] == "registered", evs
    return ua, reg


def test_rfc3261_10_2_register_carries_contact_expires_and_to_equals_from_aor():
    ua = make_ua()
    ua.register()
    (req, addr), = drain(ua)
    assert addr == REGISTRAR
    assert req.method == "REGISTER" and req.uri == "sip:192.0.2.10"
    assert str(req.to.uri) == str(req.from_.uri) == "sip:door@192.0.2.10"
    assert req.from_.tag and req.to.tag is None
    assert req.get("expires") == "300"
    contact = req.contacts[0]
    assert str(contact.uri) == "sip:door@192.0.2.20:5062" and contact.param("expires") == "300"
    assert req.vias[0].param("rport") == ""


def test_rfc3261_10_2_4_one_call_id_across_refreshes_cseq_increases_new_branch():
    ua, reg = registered_ua()
    now = ticks_add(0, 300 * 1000)
    ua.tick(now)
    exchange(ua, reg, now)
    assert events(ua)[-1]["event"] == "registered"
    reqs = reg.requests
    assert len(reqs) == 3       # challenged, authorized, refresh reusing the nonce
    assert "nc=00000002" in reqs[2].get("authorization")
    assert len(set(r.call_id for r in reqs)) == 1
    cseqs = [r.cseq[0] for r in reqs]
    assert cseqs == sorted(cseqs) and len(set(cseqs)) == len(cseqs)
    branches = [r.vias[0].branch for r in reqs]
    assert len(set(branches)) == len(branches)
    assert all(b.startswith("z9hG4bK") for b in branches)


def test_rfc3261_22_2_401_challenge_answered_with_authorization():
    ua, reg = registered_ua()
    first, second = reg.requests[:2]
    assert first.get("authorization") is None
    auth = second.get("authorization")
    assert auth.startswith("Digest ") and 'username="door"' in auth and "qop=auth" in auth
    assert "nc=00000001" in auth


def test_rfc3261_22_3_407_challenge_answered_with_proxy_authorization():
    ua = make_ua()
    reg = FakeRegistrar()
    reg.proxy = True
    ua.register()
    exchange(ua, reg, 0)
    assert events(ua)[-1]["event"] == "registered"
    assert reg.requests[1].get("proxy-authorization") is not None


def test_rfc8760_sha256_challenge_answered_with_sha256():
    ua = make_ua()
    reg = FakeRegistrar(algorithm="SHA-256")
    ua.register()
    exchange(ua, reg, 0)
    assert events(ua)[-1]["event"] == "registered"
    assert "algorithm=SHA-256" in reg.requests[1].get("authorization")


def test_rfc7616_3_3_stale_nonce_retried_without_counting_failure():
    ua, reg = registered_ua()
    reg.new_nonce()            # the server forgets the nonce: next request is stale
    now = 300 * 1000
    ua.tick(now)
    exchange(ua, reg, now)
    evs = events(ua)
    assert [e["event"] for e in evs] == ["registered"], evs
    assert "stale" not in str(evs)


def test_wrong_password_reports_failure_and_backs_off():
    ua = make_ua(password="wrong")
    reg = FakeRegistrar()
    ua.register()
    exchange(ua, reg, 0)
    evs = events(ua)
    assert evs == [{"event": "registration_failed", "status": 401,
                    "reason": "authentication failed", "retry_in": 4}], evs
    # unauthenticated, then credentials; the fake registrar re-challenges a
    # wrong password with a new nonce, which earns one retry (not stale)
    assert len(reg.requests) == 3
    ua.tick(3999)
    assert drain(ua) == []
    ua.tick(4000)
    exchange(ua, reg, 4000)
    assert events(ua)[0]["retry_in"] == 8       # exponential backoff


def test_rfc3261_10_2_403_reported_and_retried_with_capped_backoff():
    ua = make_ua()
    reg = FakeRegistrar()
    reg.reject = 403
    ua.register()
    now = 0
    delays = []
    for _ in range(10):
        exchange(ua, reg, now)
        ev = events(ua)[-1]
        assert ev["event"] == "registration_failed" and ev["status"] == 403
        delays.append(ev["retry_in"])
        now += ev["retry_in"] * 1000
        ua.tick(now)
    assert delays[:4] == [4, 8, 16, 32]
    assert max(delays) == 300 and delays[-1] == 300


def test_rfc3261_10_3_423_retried_with_min_expires():
    ua = make_ua(expires=60)
    reg = FakeRegistrar()
    reg.min_expires = 120
    ua.register()
    exchange(ua, reg, 0)
    evs = events(ua)
    assert evs[-1] == {"event": "registered", "expires": 120, "transport": "udp"}, evs
    assert reg.requests[-1].get("expires") == "120"


def test_rfc3261_10_2_4_refresh_before_the_granted_expiry():
    ua = make_ua(expires=3600, keepalive=0)
    reg = FakeRegistrar()
    reg.grant = 100
    ua.register()
    exchange(ua, reg, 0)
    assert events(ua)[-1] == {"event": "registered", "expires": 100, "transport": "udp"}
    deadline = ua.registration.deadline()
    assert 50 * 1000 <= deadline < 100 * 1000, deadline
    ua.tick(deadline - 1)
    assert drain(ua) == []
    ua.tick(deadline)
    out = drain(ua)
    assert len(out) == 1 and out[0][0].method == "REGISTER"


def test_rfc3261_17_1_2_timeout_reported_and_backed_off():
    ua = make_ua()
    ua.register()
    now = 0
    sent = 0
    while now <= 32000:
        sent += len(drain(ua))
        now += 250
        ua.tick(now)
    evs = events(ua)
    assert evs and evs[0]["event"] == "registration_failed" and evs[0]["reason"] == "timeout", evs
    assert sent == 11      # Timer E: 0.5, 1, 2, 4, 4, ... until Timer F (32 s)


def test_rfc3261_10_2_2_unregister_sends_expires_zero():
    ua, reg = registered_ua()
    assert ua.unregister() is True
    exchange(ua, reg, 1000)
    last = reg.requests[-1]
    assert last.get("expires") == "0" and last.contacts[0].param("expires") == "0"
    assert events(ua) == [{"event": "unregistered", "status": 200}]
    assert ua.registration.deadline() is None
    ua.tick(1000 + 5000)          # Timer K ends the last transaction
    assert ua.next_deadline() is None


def test_unregister_without_binding_is_a_no_op():
    ua = make_ua()
    assert ua.unregister() is False
    assert drain(ua) == []


def test_rfc3581_received_and_rport_correct_the_contact():
    ua = make_ua()
    reg = FakeRegistrar()
    reg.received = "203.0.113.7"
    reg.rport = 40123
    ua.register()
    exchange(ua, reg, 0)
    assert events(ua)[-1]["event"] == "registered"
    assert ua.registration.deadline() == 0          # re-register at once with the new Contact
    ua.tick(0)
    exchange(ua, reg, 0)
    assert str(reg.requests[-1].contacts[0].uri) == "sip:door@203.0.113.7:40123"


def test_rfc3261_22_1_challenge_from_other_address_is_refused():
    ua = make_ua()
    reg = FakeRegistrar()
    ua.register()
    (req, _addr), = drain(ua)
    ua.receive(reg.handle(req).encode(), ("198.51.100.66", 5060), 0)
    evs = events(ua)
    assert evs[0]["event"] == "registration_failed"
    assert evs[0]["reason"] == "challenge from unexpected address"
    assert drain(ua) == []          # no credentials sent anywhere


def test_lost_register_recovered_by_retransmission():
    ua = make_ua()
    reg = FakeRegistrar()
    ua.register()
    drain(ua)                     # first REGISTER lost
    ua.tick(500)                  # Timer E
    exchange(ua, reg, 500)
    assert events(ua)[-1]["event"] == "registered"


def test_clock_wrap_refreshes_registration_across_ticks_period():
    start = TICKS_MAX - 10000          # 10 s before ticks_ms wraps
    ua, reg = registered_ua(now=start, expires=60, keepalive=0)
    deadline = ua.registration.deadline()
    assert deadline < start           # the refresh lies beyond the wrap
    ua.tick(ticks_add(deadline, -1))
    assert drain(ua) == []
    ua.tick(deadline)
    exchange(ua, reg, deadline)
    assert events(ua)[-1] == {"event": "registered", "expires": 60, "transport": "udp"}


def test_password_never_appears_in_datagrams_events_or_logs():
    ua, reg = registered_ua()
    ua.unregister()
    seen = exchange(ua, reg, 1000)
    text = " ".join([r.encode().decode() for r in reg.requests + seen])
    text += repr(events(ua)) + " ".join(ua.logs) + repr(ua.registration.auth)
    assert "s3cret" not in text


# --- hardening (issue 9): values from the registrar are peer input ------------


def run_for(ua, reg, start, span_ms, max_steps=20000):
    """Follow ua.next_deadline() from start for span_ms, answering every
    REGISTER with reg; returns the number of steps taken (bounded, so a
    REGISTER storm ends the loop instead of hanging the test)."""
    now = start
    end = ticks_add(start, span_ms)
    steps = 0
    while steps < max_steps:
        exchange(ua, reg, now)
        deadline = ua.next_deadline()
        if deadline is None or ticks_diff(deadline, end) > 0:
            return steps
        now = deadline
        ua.tick(now)
        steps += 1
    return steps


def test_rfc3581_bad_received_or_rport_is_ignored_and_every_register_parses():
    cases = [(None, "70000"), (None, "0"), (None, "5x"), (None, "123456"),
             ("999.1.1.1", None), ("a@b", None), ("1.2.3", None), ("evil.example", None),
             ("203.0.113.7", "99999")]
    for received, rport in cases:
        ua = make_ua()
        reg = FakeRegistrar()
        reg.received = received
        reg.rport = rport
        ua.register()
        exchange(ua, reg, 0)
        evs = events(ua)
        assert evs[-1]["event"] == "registered", (received, rport, evs)
        assert any("ignoring bad" in line for line in ua.logs), (received, rport, ua.logs)
        if received == "203.0.113.7":       # the good half is still adopted
            assert (ua.contact_host, ua.contact_port) == ("203.0.113.7", 5062)
            ua.tick(0)
            exchange(ua, reg, 0)
        else:
            assert (ua.contact_host, ua.contact_port) == ("192.0.2.20", 5062), (received, rport)
        now = 300 * 1000                    # a refresh, and an INVITE's Contact
        ua.tick(now)
        exchange(ua, reg, now)
        ua.dial("sip:flat@192.0.2.10")
        sent = [m for m, _a in drain(ua)]
        assert sent and sent[0].method == "INVITE"
        want = ["sip:door@192.0.2.20:5062", "sip:door@%s:5062" % ua.contact_host]
        for msg in reg.requests + sent:
            again = parse(msg.encode())      # our own parser, then the §8.2 checks
            check_request(again)
            assert str(again.contacts[0].uri) in want, (received, rport, str(again.contacts[0]))
        assert str(sent[0].contacts[0].uri) == want[1]
        assert str(reg.requests[-1].contacts[0].uri) == want[1]
        assert ("c=IN IP4 %s" % ua.contact_host) in sent[0].body.decode()


def test_rfc3261_10_2_4_granted_expiry_clamped_one_register_per_refresh_over_a_day():
    ua = make_ua(expires=3600)
    reg = FakeRegistrar()
    reg.grant_exact = 700000       # more than we asked, and past the ticks window
    ua.register()
    exchange(ua, reg, 0)
    assert events(ua) == [{"event": "registered", "expires": 86400, "transport": "udp"}]
    deadline = ua.registration.timer
    assert 0 < ticks_diff(deadline, 0) <= 86400 * 1000, deadline
    steps = run_for(ua, reg, 0, 86400 * 1000)
    assert steps < 20000, "REGISTER storm"
    # the initial pair (challenge, credentials), then exactly one refresh in the day
    assert len(reg.requests) == 3, len(reg.requests)
    evs = events(ua)
    assert evs == [{"event": "registered", "expires": 86400, "transport": "udp"}], evs[:5]
    assert ua.logs and any("700000" in line for line in ua.logs)


def test_rfc3261_10_2_4_granted_zero_to_a_register_is_a_failure_not_a_storm():
    ua = make_ua()
    reg = FakeRegistrar()
    reg.grant_exact = 0
    ua.register()
    exchange(ua, reg, 0)
    evs = events(ua)
    assert evs == [{"event": "registration_failed", "status": 200,
                    "reason": "registrar granted 0 s", "retry_in": 4}], evs
    assert not ua.registered
    run_for(ua, reg, 0, 3999)
    assert len(reg.requests) == 2           # no REGISTER before the backoff ends
    ua.tick(4000)
    exchange(ua, reg, 4000)
    assert events(ua)[-1]["retry_in"] == 8


def test_rfc3261_10_3_min_expires_above_a_day_is_a_failure_not_a_loop():
    ua = make_ua(expires=300)
    reg = FakeRegistrar()
    reg.min_expires = 700000
    ua.register()
    exchange(ua, reg, 0)
    evs = events(ua)
    assert evs == [{"event": "registration_failed", "status": 423,
                    "reason": "Interval Too Brief", "retry_in": 4}], evs
    assert all(r.get("expires") == "300" for r in reg.requests)
    steps = run_for(ua, reg, 0, 3600 * 1000)
    assert steps < 20000, "REGISTER storm"
    evs = events(ua)
    assert evs and all(e["event"] == "registration_failed" and e["status"] == 423 for e in evs)
    # backoff 4, 8, ... 300 s: about twenty attempts in an hour, one REGISTER each
    assert len(reg.requests) <= 25, len(reg.requests)
    assert all(r.get("expires") == "300" for r in reg.requests)


def test_rfc3261_21_5_4_503_retry_after_delays_the_next_register():
    ua = make_ua()
    reg = FakeRegistrar()
    reg.reject = 503
    reg.retry_after = 120
    ua.register()
    exchange(ua, reg, 0)
    ev = events(ua)[-1]
    assert ev == {"event": "registration_failed", "status": 503,
                  "reason": "Service Unavailable", "retry_in": 120}, ev
    ua.tick(119999)
    assert drain(ua) == []
    ua.tick(120000)
    reg.retry_after = "7200 (maintenance);duration=60"     # capped at an hour
    exchange(ua, reg, 120000)
    assert events(ua)[-1]["retry_in"] == 3600
    assert len(reg.requests) == 2
    now = 120000 + 3600 * 1000
    ua.tick(now - 1)
    assert drain(ua) == []
    ua.tick(now)
    reg.retry_after = None                  # plain 503: exponential backoff as before
    exchange(ua, reg, now)
    assert events(ua)[-1]["retry_in"] == 16
    reg.retry_after = 2                     # shorter than the backoff: backoff wins
    now += 16000
    ua.tick(now)
    exchange(ua, reg, now)
    assert events(ua)[-1]["retry_in"] == 32


def test_rfc3261_20_33_retry_after_honoured_on_500_480_and_408():
    for status in (500, 480, 408, 486):
        ua = make_ua()
        reg = FakeRegistrar()
        reg.reject = status
        reg.retry_after = "30"
        ua.register()
        exchange(ua, reg, 0)
        ev = events(ua)[-1]
        assert ev["status"] == status and ev["retry_in"] == 30, ev
        ua.tick(29999)
        assert drain(ua) == [], status
        ua.tick(30000)
        assert len(drain(ua)) == 1, status


def test_rfc7616_rechallenge_with_new_nonce_retried_same_nonce_is_refusal():
    ua, reg = registered_ua()
    reg.renonce_next = True        # a fresh nonce without stale=true (rotating registrar)
    now = 300 * 1000
    ua.tick(now)
    exchange(ua, reg, now)
    evs = events(ua)
    assert evs == [{"event": "registered", "expires": 300, "transport": "udp"}], evs
    assert len(reg.requests) == 4   # 2 initial, refresh (401 new nonce), retry with it
    assert reg.nonce in reg.requests[-1].get("authorization")
    # the same nonce thrown back at our credentials: they were refused
    ua = make_ua(password="wrong")
    reg = FakeRegistrar()
    reg.same_nonce_on_bad = True
    ua.register()
    exchange(ua, reg, 0)
    assert events(ua) == [{"event": "registration_failed", "status": 401,
                           "reason": "authentication failed", "retry_in": 4}]
    assert len(reg.requests) == 2
    # a new nonce every time (Kamailio, Asterisk): one retry, then failure
    ua = make_ua(password="wrong")
    reg = FakeRegistrar()
    ua.register()
    exchange(ua, reg, 0)
    assert events(ua)[-1]["reason"] == "authentication failed"
    assert len(reg.requests) == 3


def test_rfc3261_25_1_display_name_escaped_in_register_from_and_to():
    for display, shown in (('Door "A"', 'Door "A"'), ("C:\\door\\", "C:\\door\\"),
                           ("Door\r\nX-Evil: 1", "DoorX-Evil: 1")):
        ua = make_ua(display_name=display)
        ua.register()
        raw = ua.pop_datagram()[0]
        msg = parse(raw)
        check_request(msg)
        assert msg.from_.display == shown and msg.to.display == shown, (display, raw)
        assert msg.get("x-evil") is None
        assert str(msg.from_.uri) == str(msg.to.uri) == "sip:door@192.0.2.10"
        assert msg.from_.tag and msg.to.tag is None


# --- NAT keep-alive (RFC 5626 §3.5.1 style CRLF over UDP) --------------------


def keepalives(ua):
    """(count of CRLF keep-alives to the registrar, parsed other datagrams)."""
    n = 0
    other = []
    while True:
        item = ua.pop_datagram()
        if item is None:
            return n, other
        if item[0] == b"\r\n\r\n":
            assert item[1] == REGISTRAR, item
            n += 1
        else:
            other.append(parse(item[0]))


def test_rfc5626_3_5_1_crlf_keepalive_after_25_s_idle():
    ua, reg = registered_ua()
    ua.tick(5000)                                # Timer K ends the REGISTER transaction
    assert ua.next_deadline() == 25000           # before the 240 s refresh
    ua.tick(24999)
    assert keepalives(ua) == (0, [])
    ua.tick(25000)
    assert keepalives(ua) == (1, [])
    assert ua.registration.keepalives == 1
    assert ua.next_deadline() == 50000
    ua.tick(50000)
    assert keepalives(ua) == (1, [])
    ua.tick(240 * 1000)                          # both due: the refresh goes, no keep-alive
    assert [m.method for m in keepalives(ua)[1]] == ["REGISTER"]
    ua.tick(240 * 1000 + 24999)                  # the REGISTER counts as traffic
    assert keepalives(ua)[0] == 0


def test_sip_keepalive_only_when_nothing_else_was_sent():
    ua, reg = registered_ua()
    options = parse(b"OPTIONS sip:door@192.0.2.20:5062 SIP/2.0\r\n"
                    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKopt%d\r\n"
                    b"From: <sip:pbx@192.0.2.10>;tag=p\r\nTo: <sip:door@192.0.2.20>\r\n"
                    b"Call-ID: q@192.0.2.10\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    now = 0
    for i in range(12):                          # PBX qualify every 20 s: we answer each
        now += 20000
        options.set("Via", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKopt%d" % i)
        options.set("CSeq", "%d OPTIONS" % (i + 1))
        ua.receive(options.encode(), REGISTRAR, now)
        ua.tick(now)
        n, other = keepalives(ua)
        assert n == 0, (now, other)
        exchange_sent = [m for m in other if m.is_request]
        for req in exchange_sent:                # the refresh at 240 s
            ua.receive(reg.handle(req).encode(), REGISTRAR, now)
    ua.tick(now + 24999)
    assert keepalives(ua)[0] == 0
    ua.tick(now + 25000)                          # traffic stopped: 25 s later, one
    assert keepalives(ua)[0] == 1


def test_sip_keepalive_setting_0_is_off_and_sets_the_period():
    ua, reg = registered_ua(keepalive=0)
    ua.tick(239999)
    assert keepalives(ua) == (0, [])
    assert ua.next_deadline() == 240000
    ua, reg = registered_ua(keepalive=10)
    ua.tick(9999)
    assert keepalives(ua)[0] == 0
    ua.tick(10000)
    assert keepalives(ua)[0] == 1


def test_sip_keepalive_only_while_registered():
    ua = make_ua()                                # never registered
    ua.tick(100000)
    assert keepalives(ua) == (0, []) and ua.next_deadline() is None
    ua = make_ua()                                # failing registration: none
    reg = FakeRegistrar()
    reg.reject = 403
    ua.register()
    exchange(ua, reg, 0)
    ua.tick(3999)
    assert keepalives(ua) == (0, [])
    ua, reg = registered_ua()                     # registered, then unregistered: none
    ua.tick(25000)
    assert keepalives(ua)[0] == 1
    ua.unregister()
    exchange(ua, reg, 25000)
    ua.tick(25000 + 100000)
    assert keepalives(ua) == (0, [])


def test_rfc5626_3_5_1_keepalive_ping_goes_on_the_tcp_connection():
    ua, reg = registered_ua(transport="tcp")
    assert ua.layer.transport_to(REGISTRAR) == "tcp"
    ua.tick(100000)
    assert keepalives(ua)[0] >= 1                 # the double-CRLF ping, sent on the flow


# --- the refresh that times out (DESIGN events contract) -----------------------


def test_rfc3261_10_2_4_refresh_timeout_keeps_retrying_on_backoff_then_recovers():
    ua, reg = registered_ua(keepalive=0)
    now = 240 * 1000
    ua.tick(now)
    lost = 0
    failed = []
    while len(failed) < 3:                        # the registrar is gone
        lost += len(drain(ua))
        now = ua.next_deadline()
        ua.tick(now)
        for ev in events(ua):
            assert ev["event"] == "registration_failed" and ev["reason"] == "timeout", ev
            assert not ua.registered
            failed.append((now, ev["retry_in"]))
        assert lost < 100
    assert [r for _t, r in failed] == [4, 8, 16], failed
    assert ticks_diff(failed[0][0], 240 * 1000) == 32000      # Timer F after the refresh
    assert ticks_diff(failed[1][0], failed[0][0]) == 4000 + 32000
    while ua.registration.state != "registering":              # back: the next retry wins
        ua.tick(ua.next_deadline())
    now = ua.now
    exchange(ua, reg, now)
    assert events(ua) == [{"event": "registered", "expires": 300, "transport": "udp"}]
    assert ua.registered and ua.registration.failures == 0
