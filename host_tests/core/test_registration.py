"""Registration usage against an in-process registrar with a fake clock (RFC 3261 §10.2, RFC 3581)."""

from _sipfakes import make_ua, drain, events, exchange, FakeRegistrar, REGISTRAR
from intercom.ticks import ticks_add, TICKS_MAX


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
    assert len(reg.requests) == 2
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
    assert evs[-1] == {"event": "registered", "expires": 120}, evs
    assert reg.requests[-1].get("expires") == "120"


def test_rfc3261_10_2_4_refresh_before_the_granted_expiry():
    ua = make_ua(expires=3600)
    reg = FakeRegistrar()
    reg.grant = 100
    ua.register()
    exchange(ua, reg, 0)
    assert events(ua)[-1] == {"event": "registered", "expires": 100}
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
    ua, reg = registered_ua(now=start, expires=60)
    deadline = ua.registration.deadline()
    assert deadline < start           # the refresh lies beyond the wrap
    ua.tick(ticks_add(deadline, -1))
    assert drain(ua) == []
    ua.tick(deadline)
    exchange(ua, reg, deadline)
    assert events(ua)[-1] == {"event": "registered", "expires": 60}


def test_password_never_appears_in_datagrams_events_or_logs():
    ua, reg = registered_ua()
    ua.unregister()
    seen = exchange(ua, reg, 1000)
    text = " ".join([r.encode().decode() for r in reg.requests + seen])
    text += repr(events(ua)) + " ".join(ua.logs) + repr(ua.registration.auth)
    assert "s3cret" not in text
