"""The TLS client context of SIP over TLS: CA from sip.tls_ca, verification as configured (RFC 3261 §26.3.1).

Driver side, imported with intercom.stream_conn (only when TLS is used).
"""

import sys

CPYTHON = sys.implementation.name == "cpython"


class TlsSetupError(Exception):
    """sip.tls_ca cannot be used (missing, unreadable, not a certificate)."""


def der_certificates(data):
    """The DER certificates in a PEM bundle (or [data] for a DER file).

    MicroPython's mbedTLS build parses DER only, so PEM is decoded here."""
    if not data.lstrip().startswith(b"-----"):
        return [data]
    import binascii
    out = []
    for block in data.split(b"-----BEGIN CERTIFICATE-----")[1:]:
        body = block.split(b"-----END CERTIFICATE-----")[0]
        out.append(binascii.a2b_base64(body.replace(b"\r", b"").replace(b"\n", b"")))
    if not out:
        raise TlsSetupError("no CERTIFICATE block in the PEM file")
    return out


def make_context(sip):
    """A TLS client context as configured: the server certificate verified
    against sip.tls_ca (PEM or DER) unless sip.tls_verify is false, the
    same on MicroPython (mbedTLS) and CPython (OpenSSL)."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not sip.get("tls_verify", True):
        if CPYTHON:
            ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    path = sip.get("tls_ca") or ""
    if not path:
        raise TlsSetupError("sip.tls_ca is empty: set the CA certificate that signed the registrar's"
                            " certificate (or sip.tls_verify false, which is insecure)")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise TlsSetupError("cannot read sip.tls_ca %r: %s" % (path, err))
    try:
        for der in der_certificates(data):
            ctx.load_verify_locations(cadata=der)
    except (ValueError, OSError) as err:      # mbedTLS: ValueError; OpenSSL: SSLError
        raise TlsSetupError("sip.tls_ca %r is not a CA certificate: %s" % (path, _text(err)))
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _text(err):
    text = str(err).strip() or repr(err)
    return text.replace("\n", " ")
