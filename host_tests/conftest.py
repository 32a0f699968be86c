"""pytest setup: the firmware and the dual-runtime core tests are importable."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
for path in (os.path.join(REPO, "firmware"), os.path.join(HERE, "core")):
    if path not in sys.path:
        sys.path.insert(0, path)
