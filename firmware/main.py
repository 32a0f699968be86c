"""Boot: configuration + board -> UserAgent, App and Driver, then run (device and simulator)."""

import sys
import os
import binascii

from intercom import config as config_mod
from intercom.board import load_board, BoardError

USAGE = "usage: main.py [--config FILE] [--pcap FILE] [--boards DIR] [--mic WAV] [--speaker WAV]"


def random_hex(digits):
    return binascii.hexlify(os.urandom((digits + 1) // 2)).decode()[:digits]


def random_bytes(n):
    return os.urandom(n)


def parse_args(argv):
    opts = {"config": "config.json", "pcap": None, "boards": None, "mic": None, "speaker": None}
    i = 0
    while i < len(argv):
        arg = argv[i]
        key = arg[2:] if arg.startswith("--") else None
        if key not in opts or i + 1 >= len(argv):
            raise ValueError("bad argument %r; %s" % (arg, USAGE))
        opts[key] = argv[i + 1]
        i += 2
    return opts


def fail(message):
    sys.stderr.write("error: " + message + "\n")
    sys.exit(2)


def here():
    path = __file__ if "__file__" in globals() else "main.py"
    cut = path.rfind("/")
    return path[:cut] if cut >= 0 else "."


def main(argv):
    try:
        opts = parse_args(argv)
    except ValueError as err:
        fail(str(err))
    try:
        cfg = config_mod.load(opts["config"])
    except config_mod.ConfigError as err:
        fail(str(err))
    board_dirs = [opts["boards"]] if opts["boards"] else [here() + "/../boards", here() + "/boards", "/boards"]
    try:
        description = load_board(cfg["board"], board_dirs)
    except BoardError as err:
        fail(str(err))
    if description["hal"] == "esp32":
        run_device(cfg, description)
    else:
        run_host(cfg, description, opts)


def run_device(cfg, description):
    """Boot on an ESP32: Wi-Fi and watchdog first, then the same loop as the simulator."""
    import time
    from intercom.hal.esp32 import boot
    from intercom.netcompat import UdpSocket, resolve, ticks_ms
    from intercom.sip.ua import UserAgent
    from intercom.app import App
    from intercom.driver import Driver

    print("intercom: starting in 3 s (Ctrl-C now for the REPL; the watchdog cannot be stopped later)")
    time.sleep(3)
    board = boot(cfg, description)
    sip = cfg["sip"]
    local_ip = board.station.ip or "0.0.0.0"
    rtp_port = cfg["media"]["rtp_port"]
    sock = UdpSocket("0.0.0.0", sip["local_port"])
    rtp = UdpSocket("0.0.0.0", rtp_port)
    rtcp = UdpSocket("0.0.0.0", rtp_port + 1)
    registrar_addr = None
    if sip["registrar"]:
        target = sip.get("outbound_proxy") or sip["registrar"]
        try:
            registrar_addr = resolve(target, sip["port"])
        except OSError as err:
            board.log("error", "cannot resolve registrar %r: %s" % (target, err))
    ua = UserAgent(cfg, local_ip, registrar_addr, random_hex, board.log, ticks_ms())
    app = App(ua, board, cfg, random_bytes)
    Driver(ua, app, board, sock, rtp, rtcp).run()


def run_host(cfg, description, opts):
    from intercom.hal.host import HostBoard
    from intercom.netcompat import UdpSocket, resolve
    from intercom.sip.ua import UserAgent
    from intercom.app import App
    from intercom.driver import Driver
    from intercom.netcompat import ticks_ms

    from intercom.hal.host_audio import HostAudio
    from intercom.media.wav import WavError

    board = HostBoard(description, cfg.get("log_level", "info"))
    try:
        board.audio = HostAudio(opts["mic"], opts["speaker"])
    except (OSError, WavError) as err:
        fail("audio file: %s" % err)
    sip = cfg["sip"]
    local_ip = "127.0.0.1"
    rtp_port = cfg["media"]["rtp_port"]
    try:
        sock = UdpSocket(local_ip, sip["local_port"])
        rtp = UdpSocket(local_ip, rtp_port)
        rtcp = UdpSocket(local_ip, rtp_port + 1)
    except OSError as err:
        fail("cannot bind SIP port %d or RTP ports %d-%d: %s" % (sip["local_port"], rtp_port, rtp_port + 1, err))
    registrar_addr = None
    if sip["registrar"]:
        target = sip.get("outbound_proxy") or sip["registrar"]
        try:
            registrar_addr = resolve(target, sip["port"])
        except OSError as err:
            fail("cannot resolve registrar %r: %s" % (target, err))
    ua = UserAgent(cfg, local_ip, registrar_addr, random_hex, board.log, ticks_ms())
    trace = None
    if opts["pcap"]:
        from intercom.hal.pcap import PcapWriter
        trace = PcapWriter(opts["pcap"], (local_ip, sip["local_port"])).record
    app = App(ua, board, cfg, random_bytes)
    board.emit({"event": "ready", "sip_port": sip["local_port"], "rtp_port": rtp_port})
    Driver(ua, app, board, sock, rtp, rtcp, trace).run()
    board.audio.close()
    for s in (sock, rtp, rtcp):
        s.close()


if __name__ == "__main__":
    main(sys.argv[1:])
