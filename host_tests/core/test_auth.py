"""Tests for intercom.sip.auth: digest client per RFC 2617, RFC 7616, RFC 8760 (RFC 3261 §22)."""

import binascii
import hashlib

from _helpers import raises
from intercom.sip import auth
from intercom.sip.auth import DigestClient, DigestError

# RFC 7616 §3.9.1 example.
R_REALM = "http-auth@example.org"
R_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
R_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
R_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
R_MD5 = "8ca523f5e9506fed4657c9700eebdbec"
R_SHA256 = "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"


def H(algo, data):
    if isinstance(data, str):
        data = data.encode()
    return binascii.hexlify(getattr(hashlib, algo)(data).digest()).decode()


def rfc7616_challenge(algorithm):
    return (f'Digest realm="{R_REALM}", qop="auth, auth-int", algorithm={algorithm}, nonce="{R_NONCE}", opaque="{R_OPAQUE}"')  # noqa: E501


def counter_source(prefix="c0ffee"):
    n = [0]

    def source():
        n[0] += 1
        return f"{prefix}{n[0]:02x}"
    return source


def fixed_source(value):
    return lambda: value


def client_for(header, user="door", password="pw"):
    c = DigestClient(user, password, counter_source())
    c.challenge([header])
    return c


def params_of(header):
    # Parse an Authorization value back with the challenge parser.
    return auth._parse_params(header, len("Digest"))


def test_rfc2617_3_5_example_vector():
    ch = auth.parse_challenge('Digest realm="testrealm@host.com", qop="auth,auth-int", '
                              'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
                              'opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    resp, qop = auth.digest_response(ch, "Mufasa", "Circle Of Life", "GET",
                                     "/dir/index.html", "0a4f113b", 1)
    assert resp == "6629fae49393a05397450978507c4ef1"
    assert qop == "auth"


def test_rfc7616_3_9_1_md5_example_vector():
    ch = auth.parse_challenge(rfc7616_challenge("MD5"))
    resp, qop = auth.digest_response(ch, "Mufasa", "Circle of Life", "GET",
                                     "/dir/index.html", R_CNONCE, "00000001")
    assert (resp, qop) == (R_MD5, "auth")


def test_rfc7616_3_9_1_sha256_example_vector():
    ch = auth.parse_challenge(rfc7616_challenge("SHA-256"))
    resp, qop = auth.digest_response(ch, "Mufasa", "Circle of Life", "GET",
                                     "/dir/index.html", R_CNONCE, 1)
    assert (resp, qop) == (R_SHA256, "auth")


def test_rfc7616_3_9_1_authorization_header_fields():
    c = DigestClient("Mufasa", "Circle of Life", fixed_source(R_CNONCE))
    # Both challenges offered, as in the RFC's example: SHA-256 must win.
    assert c.challenge([rfc7616_challenge("MD5"), rfc7616_challenge("SHA-256")]) is False
    value = c.authorization("GET", "/dir/index.html")
    assert value.startswith("Digest ")
    p = params_of(value)
    assert p["username"] == "Mufasa"
    assert p["realm"] == R_REALM
    assert p["nonce"] == R_NONCE
    assert p["uri"] == "/dir/index.html"
    assert p["response"] == R_SHA256
    assert p["algorithm"] == "SHA-256"
    assert p["cnonce"] == R_CNONCE
    assert p["qop"] == "auth"
    assert p["nc"] == "00000001"
    assert p["opaque"] == R_OPAQUE
    assert c.realm == R_REALM


def test_rfc7616_3_3_parse_challenge_fields():
    ch = auth.parse_challenge('Digest realm="x", nonce="y", qop="auth,auth-int", '
                              'algorithm=SHA-256, opaque="z", stale=TRUE, domain="sip:a sip:b"')
    assert ch["scheme"] == "digest"
    assert ch["realm"] == "x" and ch["nonce"] == "y"
    assert ch["algorithm"] == "SHA-256"
    assert ch["qop"] == ["auth", "auth-int"]
    assert ch["opaque"] == "z"
    assert ch["stale"] is True
    assert ch["domain"] == "sip:a sip:b"


def test_rfc7616_3_3_quoted_pairs_and_commas_in_quotes():
    ch = auth.parse_challenge('DIGEST REALM="a, \\"b\\" \\\\ c",NONCE="n,1"  ,  qop=auth')
    assert ch["realm"] == 'a, "b" \\ c'
    assert ch["nonce"] == "n,1"
    assert ch["qop"] == ["auth"]


def test_rfc7616_3_3_algorithm_defaults_to_md5_and_is_canonical():
    ch = auth.parse_challenge('Digest realm="r", nonce="n"')
    assert ch["algorithm"] == "MD5"
    assert ch["qop"] == [] and ch["opaque"] is None and ch["stale"] is False
    assert auth.parse_challenge('Digest realm="r", nonce="n", algorithm=md5-sess')["algorithm"] == "MD5-SESS"
    assert auth.parse_challenge('Digest realm="r", nonce="n", algorithm="sha-256-Sess"')["algorithm"] == "SHA-256-SESS"
    assert auth.parse_challenge('Digest realm="r", nonce="n", algorithm=SHA-512-256')["algorithm"] == "SHA-512-256"


def test_rfc7235_non_digest_scheme_is_never_chosen():
    basic = auth.parse_challenge('Basic realm="r"')
    assert basic == {"scheme": "basic"}
    assert auth.choose_challenge([basic]) is None


def test_rfc8760_sha256_preferred_over_md5():
    md5 = auth.parse_challenge('Digest realm="r", nonce="a", qop="auth"')
    sha = auth.parse_challenge('Digest realm="r", nonce="b", qop="auth", algorithm=SHA-256')
    assert auth.choose_challenge([md5, sha]) is sha
    assert auth.choose_challenge([sha, md5]) is sha


def test_rfc8760_strength_order_sha256_sess_md5_md5sess():
    def ch(algo):
        return auth.parse_challenge(f'Digest realm="r", nonce="{algo}", qop=auth, algorithm={algo}')
    order = [ch("SHA-256"), ch("SHA-256-sess"), ch("MD5"), ch("MD5-sess")]
    for i in range(len(order)):
        assert auth.choose_challenge(order[i:]) is order[i]
        assert auth.choose_challenge(list(reversed(order[i:]))) is order[i]


def test_rfc8760_unsupported_algorithm_not_chosen():
    ch = auth.parse_challenge('Digest realm="r", nonce="n", qop=auth, algorithm=SHA-512-256')
    assert auth.choose_challenge([ch]) is None
    odd_qop = auth.parse_challenge('Digest realm="r", nonce="n", qop="auth-conf"')
    assert auth.choose_challenge([odd_qop]) is None


def test_choose_prefers_qop_auth_among_equal_algorithms():
    int_only = auth.parse_challenge('Digest realm="r", nonce="a", qop="auth-int"')
    plain = auth.parse_challenge('Digest realm="r", nonce="b", qop="auth"')
    assert auth.choose_challenge([int_only, plain]) is plain


def test_rfc7616_3_4_qop_auth_preferred_over_auth_int():
    ch = auth.parse_challenge('Digest realm="r", nonce="n", qop="auth-int,auth"')
    assert auth.digest_response(ch, "u", "p", "INVITE", "sip:b@h", "cn", 1, b"v=0")[1] == "auth"


def test_rfc7616_3_4_3_auth_int_hashes_body():
    ch = auth.parse_challenge('Digest realm="r", nonce="n", qop="auth-int", algorithm=SHA-256')
    body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"
    resp, qop = auth.digest_response(ch, "u", "p", "INVITE", "sip:b@h", "cn", 1, body)
    ha1 = H("sha256", "u:r:p")
    ha2 = H("sha256", "INVITE:sip:b@h:" + H("sha256", body))
    assert qop == "auth-int"
    assert resp == H("sha256", ha1 + ":n:00000001:cn:auth-int:" + ha2)
    other, _ = auth.digest_response(ch, "u", "p", "INVITE", "sip:b@h", "cn", 1, body + b"x")
    assert other != resp


def test_rfc7616_3_4_2_md5_sess_ha1():
    ch = auth.parse_challenge('Digest realm="r", nonce="n", qop=auth, algorithm=MD5-sess')
    resp, _ = auth.digest_response(ch, "u", "p", "REGISTER", "sip:h", "cn", 2)
    ha1 = H("md5", H("md5", "u:r:p") + ":n:cn")
    ha2 = H("md5", "REGISTER:sip:h")
    assert resp == H("md5", ha1 + ":n:00000002:cn:auth:" + ha2)


def test_rfc7616_3_4_2_sha256_sess_ha1_and_one_cnonce_per_nonce():
    c = DigestClient("u", "p", counter_source())
    c.challenge(['Digest realm="r", nonce="n", qop=auth, algorithm=SHA-256-sess'])
    first = params_of(c.authorization("REGISTER", "sip:h"))
    second = params_of(c.authorization("REGISTER", "sip:h"))
    assert first["algorithm"] == "SHA-256-sess"
    # The session cnonce is kept so HA1 stays the same for every request.
    assert first["cnonce"] == second["cnonce"]
    cn = first["cnonce"]
    ha1 = H("sha256", H("sha256", "u:r:p") + ":n:" + cn)
    ha2 = H("sha256", "REGISTER:sip:h")
    assert second["response"] == H("sha256", ha1 + ":n:00000002:" + cn + ":auth:" + ha2)


def test_rfc2069_no_qop_compatibility():
    c = client_for('Digest realm="r", nonce="n"', "u", "p")
    p = params_of(c.authorization("REGISTER", "sip:h"))
    ha1 = H("md5", "u:r:p")
    ha2 = H("md5", "REGISTER:sip:h")
    assert p["response"] == H("md5", ha1 + ":n:" + ha2)
    assert "cnonce" not in p and "qop" not in p and "nc" not in p and "opaque" not in p


def test_rfc2617_sess_without_qop_not_supported():
    ch = auth.parse_challenge('Digest realm="r", nonce="n", algorithm=MD5-sess')
    assert auth.choose_challenge([ch]) is None
    raises(DigestError, auth.digest_response, ch, "u", "p", "GET", "/", "c", 1)


def test_rfc7616_3_4_nc_increments():
    c = client_for('Digest realm="r", nonce="n", qop=auth')
    ncs = [params_of(c.authorization("REGISTER", "sip:h"))["nc"] for _ in range(3)]
    assert ncs == ["00000001", "00000002", "00000003"]


def test_rfc7616_3_4_fresh_cnonce_per_request():
    c = client_for('Digest realm="r", nonce="n", qop=auth')
    a = params_of(c.authorization("REGISTER", "sip:h"))["cnonce"]
    b = params_of(c.authorization("REGISTER", "sip:h"))["cnonce"]
    assert a != b


def test_rfc7616_3_4_nc_resets_on_new_nonce():
    c = client_for('Digest realm="r", nonce="n1", qop=auth')
    c.authorization("REGISTER", "sip:h")
    c.authorization("REGISTER", "sip:h")
    # Same nonce again keeps counting.
    c.challenge(['Digest realm="r", nonce="n1", qop=auth'])
    assert params_of(c.authorization("REGISTER", "sip:h"))["nc"] == "00000003"
    c.challenge(['Digest realm="r", nonce="n2", qop=auth'])
    p = params_of(c.authorization("REGISTER", "sip:h"))
    assert p["nc"] == "00000001" and p["nonce"] == "n2"


def test_rfc7616_3_3_stale_refresh_after_answer_is_not_a_failure():
    c = client_for('Digest realm="r", nonce="n1", qop=auth')
    c.authorization("REGISTER", "sip:h")
    assert c.challenge(['Digest realm="r", nonce="n2", qop=auth, stale=true']) is True
    assert c.nc == 0


def test_rfc7616_3_3_stale_without_prior_answer_is_false():
    c = DigestClient("u", "p", counter_source())
    # First challenge of all, even if marked stale.
    assert c.challenge(['Digest realm="r", nonce="n1", qop=auth, stale=true']) is False
    # Not answered yet: a second stale challenge is not a refresh either.
    assert c.challenge(['Digest realm="r", nonce="n2", qop=auth, stale=true']) is False


def test_rfc7616_3_3_non_stale_rechallenge_is_a_failure():
    c = client_for('Digest realm="r", nonce="n1", qop=auth')
    c.authorization("REGISTER", "sip:h")
    assert c.challenge(['Digest realm="r", nonce="n2", qop=auth']) is False
    c.authorization("REGISTER", "sip:h")
    # stale=true with the nonce we just used is not a refresh.
    assert c.challenge(['Digest realm="r", nonce="n2", qop=auth, stale=true']) is False


def test_rfc7616_3_4_opaque_echoed_unchanged():
    c = client_for('Digest realm="r", nonce="n", qop=auth, opaque="o/p,q"')
    assert params_of(c.authorization("REGISTER", "sip:h"))["opaque"] == "o/p,q"


def test_rfc7616_3_4_username_and_realm_quoted_pair_escaping():
    c = DigestClient('a"b\\c', "p", counter_source())
    c.challenge(['Digest realm="r\\"1", nonce="n", qop=auth'])
    value = c.authorization("REGISTER", "sip:h")
    assert 'username="a\\"b\\\\c"' in value
    assert 'realm="r\\"1"' in value
    p = params_of(value)
    assert p["username"] == 'a"b\\c' and p["realm"] == 'r"1'
    # The digest uses the unquoted values.
    ha1 = H("md5", 'a"b\\c:r"1:p')
    ha2 = H("md5", "REGISTER:sip:h")
    assert p["response"] == H("md5", ha1 + ":n:00000001:" + p["cnonce"] + ":auth:" + ha2)


def test_rfc3261_22_4_header_injection_refused():
    c = DigestClient("u\r\nX-Evil: 1", "p", counter_source())
    c.challenge(['Digest realm="r", nonce="n", qop=auth'])
    raises(DigestError, c.authorization, "REGISTER", "sip:h")


def test_password_never_in_repr_str_or_errors():
    secret = "Sup3rS3cret!"
    c = DigestClient("door", secret, counter_source())
    assert secret not in repr(c) and secret not in str(c)
    assert "********" in repr(c)
    e = raises(DigestError, c.authorization, "REGISTER", "sip:h")
    assert secret not in str(e)
    e = raises(DigestError, c.challenge, ['Digest realm="r", nonce="n", algorithm=SHA-512'])
    assert secret not in str(e) and secret not in repr(e)
    c.challenge(['Digest realm="r", nonce="n", qop=auth'])
    header = c.authorization("REGISTER", "sip:h")
    assert secret not in header and secret not in repr(c)


def test_no_supported_challenge_message_lists_offered():
    c = DigestClient("u", "p", counter_source())
    e = raises(DigestError, c.challenge, ['Basic realm="x"', 'Digest realm="x", nonce="n", algorithm=SHA-512'])
    msg = str(e)
    assert msg.startswith("no supported digest challenge (offered: ")
    assert "Basic" in msg and "Digest algorithm=SHA-512" in msg
    raises(DigestError, c.challenge, [])


def test_challenge_ignores_unparsable_values():
    c = DigestClient("u", "p", counter_source())
    assert c.challenge(['Digest realm="x', 'Digest realm="r", nonce="n", qop=auth']) is False
    assert c.current["nonce"] == "n"


def test_authorization_before_challenge_raises():
    raises(DigestError, DigestClient("u", "p", counter_source()).authorization, "REGISTER", "sip:h")


def test_malformed_challenge_raises_digest_error():
    bad = [
        "", "   ", None, 42, b"\xff\xfe", "Digest", 'Digest realm="r"', 'Digest nonce="n"',
        'Digest realm="r", nonce="n', 'Digest realm="r" nonce="n"', 'Digest realm=, nonce="n"',
        'Digest realm="r", nonce=""', 'Digest realm="r", nonce="n", realm="x"',
        'Digest realm="r", ="n"', 'Digest realm="r", nonce', '"Digest" realm="r"',
        'Digest realm="r\nX", nonce="n"', 'Digest realm="r", nonce="n\\',
    ]
    for value in bad:
        raises(DigestError, auth.parse_challenge, value)


def test_parse_challenge_never_raises_other_exceptions():
    # Deterministic pseudo-random mutations of a valid challenge.
    base = 'Digest realm="r\\"x", nonce="n,1", qop="auth,auth-int", algorithm=SHA-256, opaque="o", stale=true'
    alphabet = ' \t,="\\=aZ\r\n-'
    seed = 12345
    for _ in range(400):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        pos = seed % len(base)
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        ch = alphabet[seed % len(alphabet)]
        mutated = base[:pos] + ch + base[pos + 1:]
        try:
            auth.parse_challenge(mutated)
        except DigestError:
            pass
