"""REPL setup of SIP over TLS (firmware/setup.py): transport, CA, port 5061, the tls_verify warning."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from _device import BOARDS  # noqa: E402
from intercom import config  # noqa: E402
import setup  # noqa: E402


def test_setup_sip_tls_moves_to_port_5061_and_show_warns_about_tls_verify_false(tmp_path):
    printed = []
    setup.CONFIG = str(tmp_path / "config.json")
    setup.BOARD_DIRS = [BOARDS]
    setup._say = printed.append
    assert setup.sip(registrar="pbx.example.org", user="door", password="s3cret") is True
    assert setup.sip(transport="tls", tls_ca="/ca.pem") is True
    cfg = config.load(setup.CONFIG)
    assert cfg["sip"]["transport"] == "tls" and cfg["sip"]["port"] == 5061 and cfg["sip"]["tls_ca"] == "/ca.pem"
    del printed[:]
    setup.show()
    assert not [line for line in printed if "WARNING" in line]
    assert setup.sip(tls_verify=False) is True
    del printed[:]
    setup.show()
    assert [line for line in printed if "WARNING" in line and "tls_verify is false" in line], printed
    assert setup.sip(transport="udp", port=5060) is True
    assert config.load(setup.CONFIG)["sip"]["port"] == 5060
