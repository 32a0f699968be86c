"""pytest setup for the TLS tests: the interop harness (peers.py) and tlspeers.py are importable."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
for path in (HERE, os.path.join(os.path.dirname(HERE), "interop")):
    if path not in sys.path:
        sys.path.insert(0, path)
