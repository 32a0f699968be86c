"""Fixtures of the Home Assistant (MQTT) suite."""

import pytest

from ._broker import Rig


@pytest.fixture
def rig(tmp_path):
    """A per-test rig (ports, brokers, sims), closed whatever happens."""
    r = Rig(tmp_path)
    try:
        yield r
    finally:
        r.close()
