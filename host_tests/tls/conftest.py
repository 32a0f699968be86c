"""pytest setup for the TLS tests: the interop harness (peers.py) and tlspeers.py are importable."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
for path in (HERE, os.path.join(os.path.dirname(HERE), "interop")):
    if path not in sys.path:
        sys.path.insert(0, path)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A test CA and a server certificate for 127.0.0.1 (openssl), per test module."""
    from tlspeers import make_certs
    return make_certs(str(tmp_path_factory.mktemp("certs")))
