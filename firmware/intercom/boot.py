"""Boot: configuration + board -> UserAgent, App and Driver, then run (device and simulator).

main.py is a stub that calls start(): this module is precompiled (.mpy,
ROMFS or frozen), so its bytecode is not compiled into RAM at every boot.
"""

import sys
import os
import binascii


BOARD_DIRS = ["boards", "/boards"]    # the device's /boards (cwd is /); the simulator passes --boards
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


def load_settings(opts):
    """The validated config and board description. The validators are needed
    only here, so their modules leave memory afterwards (about 18 wK)."""
    from intercom import config as config_mod
    from intercom.board import load_board, BoardError
    try:
        cfg = config_mod.load(opts["config"])
    except config_mod.ConfigError as err:
        fail(str(err))
    board_dirs = [opts["boards"]] if opts["boards"] else BOARD_DIRS
    try:
        description = load_board(cfg["board"], board_dirs)
    except BoardError as err:
        fail(str(err))
    for line in config_mod.warnings(cfg):
        sys.stderr.write("[warn] " + line + "\n")      # the boot log (before the board exists)
    if not cfg["mqtt"]["broker"]:
        del cfg["mqtt"]         # MQTT off: its section would stay in RAM for nothing
    import intercom
    for name in ("config", "board"):
        sys.modules.pop("intercom." + name, None)
        if hasattr(intercom, name):
            delattr(intercom, name)      # the package keeps a reference too
    return cfg, description


def main(argv):
    try:
        opts = parse_args(argv)
    except ValueError as err:
        fail(str(err))
    cfg, description = load_settings(opts)
    import gc
    gc.collect()
    if description["hal"] == "esp32":
        if sys.platform != "esp32":
            # tools/sim with a device's config: say so, not a traceback from `import machine`
            fail("board %r is a device board (hal esp32); on this computer the simulator runs"
                 " \"board\": \"host\" (set it in %s)" % (cfg["board"], opts["config"]))
        run_device(cfg, description)
    else:
        run_host(cfg, description, opts)


def run_device(cfg, description):
    """Boot on an ESP32: Wi-Fi and watchdog first, then the same loop as the simulator."""
    import time
    from intercom.hal.esp32 import boot

    print("intercom: starting in 3 s (Ctrl-C now for the REPL; the watchdog cannot be stopped later)")
    time.sleep(3)
    board = boot(cfg, description)
    local_ip = board.station.ip or "0.0.0.0"

    def setup_failed(message):
        board.log("error", message)
    run_phone(cfg, board, "0.0.0.0", local_ip, setup_failed, None)


def run_host(cfg, description, opts):
    from intercom.hal.host import HostBoard
    from intercom.hal.host_audio import HostAudio
    from intercom.media.wav import WavError

    board = HostBoard(description, cfg.get("log_level", "info"))
    try:
        board.audio = HostAudio(opts["mic"], opts["speaker"])
    except (OSError, WavError) as err:
        fail("audio file: %s" % err)
    trace = None
    if opts["pcap"]:
        from intercom.hal.pcap import PcapWriter
        trace = PcapWriter(opts["pcap"], ("127.0.0.1", cfg["sip"]["local_port"])).record
    run_phone(cfg, board, "127.0.0.1", "127.0.0.1", fail, trace, announce=True)
    board.audio.close()


def proxy_address(sip):
    """(host, port) of the outbound proxy, else of the registrar."""
    proxy = sip.get("outbound_proxy")
    if not proxy:
        return sip["registrar"], sip["port"]
    host, _, port = proxy.partition(":")
    return host, int(port) if port else 5060


def sip_tracer(board, then=None):
    """Log every SIP datagram (credentials masked), then pass it on (e.g. to the pcap)."""
    from intercom.sip.trace import trace_text

    def trace(direction, data, addr):
        board.log("debug", trace_text(direction, data, addr))
        if then is not None:
            then(direction, data, addr)
    return trace


def run_phone(cfg, board, bind_ip, local_ip, on_error, trace, announce=False):
    """Sockets, the SIP core, the app and the polling loop; returns when the app
    is finished. announce: emit the simulator's `ready` event (DESIGN.md)."""
    from intercom.netcompat import UdpSocket, resolve, ticks_ms
    from intercom.sip.ua import UserAgent
    from intercom.app import App
    from intercom.driver import Driver

    sip = cfg["sip"]
    rtp_port = cfg["media"]["rtp_port"]
    try:
        sockets = (UdpSocket(bind_ip, sip["local_port"]), UdpSocket(bind_ip, rtp_port),
                   UdpSocket(bind_ip, rtp_port + 1))
    except OSError as err:
        on_error("cannot bind SIP port %d or RTP ports %d-%d: %s" % (sip["local_port"], rtp_port, rtp_port + 1, err))
        return
    def resolve_registrar():
        # One lookup, called by the App at start, on its backoff timer and when
        # Wi-Fi returns; a failure is retried there, never fatal (not even in
        # the simulator). It blocks the loop for as long as the resolver takes
        # (an IP literal: no time; lwIP: about 7 s per unanswering DNS server),
        # so the watchdog is fed first and the lookup gets its whole period.
        host, port = proxy_address(sip)
        board.feed_watchdog()
        try:
            return resolve(host, port)
        except (OSError, IndexError, ValueError) as err:
            board.log("warn", "cannot resolve registrar %r: %s" % (host, err))
            return None

    # the registrar's address comes from the App's first lookup (App.start)
    ua = UserAgent(cfg, local_ip, None, random_hex, board.log, ticks_ms())
    if cfg.get("log_level") == "debug":               # setup.trace(True)
        trace = sip_tracer(board, trace)
    app = App(ua, board, cfg, random_bytes, resolve_registrar)
    if announce:
        board.emit({"event": "ready", "sip_port": sip["local_port"], "rtp_port": rtp_port})
    collect_early()
    driver = Driver(ua, app, board, sockets[0], sockets[1], sockets[2], trace)
    if "mqtt" in cfg:
        # Home Assistant: imported only when configured (heap)
        from intercom.ha import HomeAssistant
        app.integration = driver.integration = HomeAssistant(cfg, ua, app, board, ticks_ms())
    driver.run()
    for sock in sockets:
        sock.close()


def collect_early():
    """Make MicroPython collect whenever a sixteenth of the free heap has been
    allocated, not only when the heap is full. The GC never moves objects:
    collecting early lets new long-lived objects (a call's state) fill the
    holes low in the heap instead of spreading out, so a 4 KB receive buffer
    still finds room. Smallest heap for a whole call (.mpy, tools/membench.py):
    an eighth 146 wK, a sixteenth 144 wK, a thirty-second no better (ROMFS:
    98 wK without a threshold). A collection costs a few ms on an ESP32;
    the audio path allocates only its datagrams (~10 KB/s), so this is one
    every few hundred ms. CPython's gc has no threshold of this kind."""
    import gc
    gc.collect()
    if hasattr(gc, "mem_free"):
        gc.threshold(gc.mem_free() // 16)


def crash_report(err):
    """An uncaught error goes to stderr (stdout carries only JSON events)."""
    if hasattr(sys, "print_exception"):
        sys.print_exception(err, sys.stderr)
    else:
        import traceback
        traceback.print_exception(type(err), err, err.__traceback__, file=sys.stderr)
    sys.exit(1)


def start(argv):
    """The whole program: exits 0 when the phone is finished, 2 on a bad config, 1 on a crash."""
    try:
        main(argv)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as err:
        crash_report(err)
