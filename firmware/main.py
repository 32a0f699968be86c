"""Device and simulator entry point: everything lives in intercom.boot (precompiled)."""
import sys
from intercom.boot import start

start(sys.argv[1:])
