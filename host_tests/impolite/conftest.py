"""Fixtures of the impolite-peers suite."""

from ._rig import Rig, rig_fixture

rig = rig_fixture(Rig, "A per-test rig (ports, processes, pcap reader), closed whatever happens.")
