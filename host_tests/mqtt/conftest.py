"""Fixtures of the Home Assistant (MQTT) suite."""

from ._broker import Rig, rig_fixture

rig = rig_fixture(Rig, "A per-test rig (ports, brokers, sims), closed whatever happens.")
