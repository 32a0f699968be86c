"""Fixtures of the impolite-peers suite."""

import pytest

from ._rig import Rig


@pytest.fixture
def rig(tmp_path):
    """A per-test rig (ports, processes, pcap reader), closed whatever happens."""
    r = Rig(tmp_path)
    try:
        yield r
    finally:
        r.close()
