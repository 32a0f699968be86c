"""Real-peer harness: Kamailio, SIPp and tools/sim as child processes on 127.0.0.1.

Every process is started in its own session, bounded in time, and stopped by
its PID (SIGTERM, then SIGKILL). Nothing here uses DNS names or system dirs:
configs, logs and traces live in a per-test directory.
"""

import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEERS_DIR = os.path.join(REPO, "host_tests", "peers")
SIM = os.path.join(REPO, "tools", "sim")
HOST = "127.0.0.1"

# Kamailio lives in /usr/sbin, which is not on every user's PATH.
_EXTRA_PATH = ("/usr/sbin", "/sbin", "/usr/local/sbin")


# -- the sim's pcap (tools/sim --pcap: LINKTYPE_RAW, IPv4 + UDP + SIP) --------------


def sim_pcap(path, sip_port):
    """Every SIP datagram in a sim's pcap, oldest first, as dicts: t (wall-clock
    seconds), out (True if sent from sip_port, the sim's), peer (ip, port),
    first (first line), text. [] when the file is missing."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    out = []
    off = 24
    while off + 16 <= len(data):
        sec, usec, incl, _orig = struct.unpack_from("<IIII", data, off)
        pkt = data[off + 16: off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 28:
            continue
        src = ".".join(str(b) for b in pkt[12:16])
        dst = ".".join(str(b) for b in pkt[16:20])
        sport, dport = struct.unpack_from(">HH", pkt, 20)
        text = pkt[28:].decode("utf-8", "replace")
        sent = sport == sip_port
        out.append({"t": sec + usec / 1e6, "out": sent, "peer": (dst, dport) if sent else (src, sport),
                    "first": text.split("\r\n", 1)[0], "text": text})
    return out


def sip_header(text, name):
    """The first value of header `name` (long form, case-insensitive) in a SIP message, or None."""
    key = name.lower() + ":"
    for line in text.split("\r\n")[1:]:
        if not line:
            break
        if line.lower().startswith(key):
            return line[len(key):].strip()
    return None


# -- ports and binaries -------------------------------------------------------


def free_udp_port():
    """A UDP port on 127.0.0.1 that was free a moment ago (and not handed out before)."""
    return free_udp_ports(1)[0]


def free_tcp_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (and not handed out before)."""
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


_GIVEN = set()        # every port free_udp_ports handed out in this process


def heaplock_base(span=32):
    """A base port for the host_tests/upy scripts, which bind base .. base + span - 1
    (UDP SIP and RTP, a TCP peer at base + 30). Below Linux's ephemeral range
    (32768-60999), where every port the kernel hands the suite's peers and
    connections lies, and checked free for UDP and TCP: a fixed base there
    once met a connection's port (EADDRINUSE)."""
    for _attempt in range(50):
        base = random.randrange(20000, 32000 - span, 2)
        held = []
        try:
            for port in range(base, base + span):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(socket.AF_INET, kind)
                    held.append(s)
                    s.bind((HOST, port))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise AssertionError("no %d free ports in a row below 32000" % span)


def free_udp_ports(n, spacing=1, even=False):
    """n distinct free UDP ports; with spacing > 1, port + 1 .. port + spacing - 1
    are free as well (baresip also binds SIP port + 1); even=True for RTP
    (an even port, RFC 3550 section 11)."""
    held = []
    ports = []
    try:
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((HOST, 0))
            base = s.getsockname()[1]
            group = [s]
            # never hand out a port (or the neighbours it needs) twice in one test run:
            # a port returned here is free again until its user binds it
            ok = not (even and base % 2) and not _GIVEN.intersection(range(base, base + max(spacing, 1)))
            for k in range(1, spacing):
                t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    t.bind((HOST, base + k))
                except OSError:
                    t.close()
                    ok = False
                    break
                group.append(t)
            held.extend(group)
            if ok:
                ports.append(base)
                _GIVEN.update(range(base, base + max(spacing, 1)))
        return ports
    finally:
        # Sockets are held until all ports are chosen, so they are distinct.
        for s in held:
            s.close()


class FreshPorts:
    """Free UDP ports on 127.0.0.1 for one test's rig: never one handed out before by this object."""

    def __init__(self):
        self.taken = set()

    def pick(self, spacing=1, even=False):
        """A free port with port + 1 .. port + spacing - 1 free too (even=True: an RTP port)."""
        while True:
            p = free_udp_ports(1, spacing=spacing, even=even)[0]
            span = set(range(p, p + spacing))
            if not span & self.taken:
                self.taken |= span
                return p


def rig_fixture(make, doc="A per-test rig, closed (its processes stopped by PID) whatever happens."):
    """A pytest fixture whose value is make(tmp_path), closed after the test whatever happens."""
    def rig(tmp_path):
        r = make(tmp_path)
        try:
            yield r
        finally:
            r.close()
    rig.__doc__ = doc
    return pytest.fixture(rig)


def free_rtp_port():
    """An even free UDP port with the next (RTCP) port free too."""
    return free_udp_ports(1, spacing=2, even=True)[0]


def find_binary(name):
    path = shutil.which(name)
    if path:
        return path
    return shutil.which(name, path=os.pathsep.join(_EXTRA_PATH))


def require_binary(name, package=None):
    """Path of `name`; a missing peer fails under CI=true and skips elsewhere."""
    path = find_binary(name)
    if path:
        return path
    msg = "real peer %r not installed (Debian package %s)" % (name, package or name)
    if os.environ.get("CI") == "true":
        pytest.fail(msg + "; under CI=true a missing peer is a failure", pytrace=False)
    pytest.skip(msg)


def _workdir(prefix):
    return tempfile.mkdtemp(prefix="intercom-%s-" % prefix)


def wait_for(predicate, timeout, what):
    """Poll predicate() until it is true; AssertionError naming `what` (a text,
    or a callable giving one, such as a peer's log) after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timeout %.1f s waiting: %s" % (timeout, what() if callable(what) else what))
        time.sleep(0.1)


def _tail(path, n=40):
    try:
        with open(path, "r", errors="replace") as f:
            lines = f.readlines()
    except OSError as e:
        return "<%s: %s>" % (path, e)
    return "".join(lines[-n:])


def stop_pid(proc, term_timeout=3.0):
    """Stop a Popen started with start_new_session=True: SIGTERM to its PID,
    then SIGKILL to its process group (the group id is that PID), then reap."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(term_timeout)
        except subprocess.TimeoutExpired:
            pass
    # Kamailio forks workers; kill whatever is left of the group it leads.
    try:
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        try:
            proc.kill()
        except ProcessLookupError:
            pass
    try:
        return proc.wait(5)
    except subprocess.TimeoutExpired:
        return None


# -- raw SIP over UDP (probes and a tiny digest client) -------------------------


def _hdr(msg, name):
    m = re.search(r"^%s\s*:\s*(.*?)\r?$" % re.escape(name), msg, re.I | re.M)
    return m.group(1) if m else None


def sip_options_probe(port, timeout=0.3):
    """Send one OPTIONS to 127.0.0.1:port; True if any SIP response came back."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((HOST, 0))
        s.settimeout(timeout)
        lport = s.getsockname()[1]
        tag = os.urandom(4).hex()
        msg = (
            "OPTIONS sip:%s:%d SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:probe@%s>;tag=%s\r\n"
            "To: <sip:%s:%d>\r\n"
            "Call-ID: probe-%s\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        ) % (HOST, port, HOST, lport, tag, HOST, tag, HOST, port, tag)
        s.sendto(msg.encode(), (HOST, port))
        try:
            data = s.recv(65535)
        except (socket.timeout, ConnectionRefusedError):
            return False
        return data.startswith(b"SIP/2.0 ")
    finally:
        s.close()


def _digest(algorithm, user, realm, password, method, uri, nonce, nc, cnonce, qop):
    h = hashlib.sha256 if algorithm.upper() == "SHA-256" else hashlib.md5

    def H(x):
        return h(x.encode()).hexdigest()

    ha1 = H("%s:%s:%s" % (user, realm, password))
    ha2 = H("%s:%s" % (method, uri))
    if qop:
        return H("%s:%s:%s:%s:%s:%s" % (ha1, nonce, nc, cnonce, qop, ha2))
    return H("%s:%s:%s" % (ha1, nonce, ha2))


def raw_register(port, user, password, expires=60, contact_params="", timeout=2.0,
                 contact_port=None):
    """REGISTER to 127.0.0.1:port, answering one 401/407 with digest credentials
    (MD5 or SHA-256, qop=auth if offered). expires=None leaves out the Expires
    header; contact_params (";expires=0") is appended to the Contact;
    contact_port registers another endpoint's port (e.g. a SIPp UAS) instead
    of this socket's. Returns the list of (status, challenge header or None)
    of the responses received."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    s.settimeout(timeout)
    lport = s.getsockname()[1]
    cport = contact_port or lport
    callid = "raw-%s" % os.urandom(6).hex()
    ftag = os.urandom(4).hex()
    uri = "sip:%s:%d" % (HOST, port)
    out = []
    auth = ""
    try:
        for cseq in (1, 2):
            msg = (
                "REGISTER %s SIP/2.0\r\n"
                "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport\r\n"
                "Max-Forwards: 70\r\n"
                "From: <sip:%s@%s>;tag=%s\r\n"
                "To: <sip:%s@%s>\r\n"
                "Call-ID: %s\r\n"
                "CSeq: %d REGISTER\r\n"
                "Contact: <sip:%s@%s:%d>%s\r\n"
                "%s%s"
                "Content-Length: 0\r\n\r\n"
            ) % (uri, HOST, lport, os.urandom(6).hex(), user, HOST, ftag, user, HOST,
                 callid, cseq, user, HOST, cport, contact_params,
                 "" if expires is None else "Expires: %d\r\n" % expires, auth)
            s.sendto(msg.encode(), (HOST, port))
            while True:
                resp = s.recv(65535).decode("utf-8", "replace")
                status = int(resp.split(" ", 2)[1])
                if status >= 200:
                    break
            chal = _hdr(resp, "WWW-Authenticate") or _hdr(resp, "Proxy-Authenticate")
            out.append((status, chal))
            if status not in (401, 407) or cseq == 2 or not chal:
                break
            params = dict(
                (k.lower(), v.strip('"'))
                for k, v in re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', chal)
            )
            algorithm = params.get("algorithm", "MD5")
            qop = "auth" if "auth" in params.get("qop", "").split(",") else ""
            nc, cnonce = "00000001", os.urandom(4).hex()
            resp_hash = _digest(algorithm, user, params["realm"], password, "REGISTER",
                                uri, params["nonce"], nc, cnonce, qop)
            hname = "Authorization" if status == 401 else "Proxy-Authorization"
            auth = '%s: Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=%s' % (
                hname, user, params["realm"], params["nonce"], uri, resp_hash, algorithm)
            if qop:
                auth += ', qop=%s, nc=%s, cnonce="%s"' % (qop, nc, cnonce)
            auth += "\r\n"
        return out
    finally:
        s.close()


# -- Kamailio -----------------------------------------------------------------

_SAFE = re.compile(r"^[A-Za-z0-9._~!*+-]+$")
_REG_LINE = re.compile(
    r"REGISTER from (?P<ip>[0-9.]+):(?P<port>\d+) cseq=(?P<cseq>\d*) "
    r"expires=(?P<expires>\S*) cexpires=(?P<cexpires>\S*) auth=(?P<auth>\S*) "
    r"contact=(?P<contact>.*)$"
)

_REQ_LINE = re.compile(
    r"REQUEST (?P<method>\S+) (?P<ruri>\S+) from (?P<ip>[0-9.]+):(?P<port>\d+) "
    r"fu=(?P<fu>\S*) totag=(?P<totag>\S*) auth=(?P<auth>\S*)")


def _int_or_none(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


class Kamailio:
    """Kamailio registrar and proxy on udp:127.0.0.1:port with digest users
    from a dict; `trusted` users place calls without authenticating (static
    trunk peers such as a SIPp UAC).

    with Kamailio({"door": "secret"}) as k:
        k.port, k.register_count(), k.registers(), k.requests()
    """

    def __init__(self, users=None, port=None, realm="intercom.test", algorithm="",
                 workdir=None, start_timeout=10.0, trusted=(), template=None):
        self.binary = require_binary("kamailio")
        # the config template: host_tests/peers/kamailio.cfg (no forking) or
        # another file with the same placeholders (the impolite suite's forking one)
        self.template = template or os.path.join(PEERS_DIR, "kamailio.cfg")
        self.users = dict(users or {"door": "secret"})
        for name, pw in self.users.items():
            if not (_SAFE.match(name) and _SAFE.match(pw)):
                raise ValueError("user/password must match %s" % _SAFE.pattern)
        if algorithm not in ("", "MD5", "SHA-256"):
            raise ValueError("algorithm must be '', 'MD5' or 'SHA-256' (Kamailio 5.6)")
        self.trusted = tuple(trusted)
        for name in self.trusted:
            if name not in self.users:
                raise ValueError("trusted user %r must be one of the users" % name)
        self.port = port or free_udp_port()
        self.realm = realm
        self.algorithm = algorithm
        self.workdir = workdir or _workdir("kamailio")
        os.makedirs(self.workdir, exist_ok=True)
        self.cfg = os.path.join(self.workdir, "kamailio.cfg")
        self.log = os.path.join(self.workdir, "kamailio.log")
        self.rundir = os.path.join(self.workdir, "run")
        self.start_timeout = start_timeout
        self.proc = None
        self.cmd = None

    def render(self):
        with open(self.template) as f:
            text = f.read()
        users = "\n".join(
            '    $sht(users=>%s) = "%s";' % (u, p) for u, p in sorted(self.users.items())
        )
        trusted = "\n".join('    $sht(trusted=>%s) = 1;' % u for u in sorted(self.trusted))
        text = (text.replace("@PORT@", str(self.port))
                .replace("@TRUSTED@", trusted)
                .replace("@REALM@", self.realm)
                .replace("@ALGORITHM@", self.algorithm)
                .replace("@USERS@", users))
        with open(self.cfg, "w") as f:
            f.write(text)
        return self.cfg

    # no TCP, no SCTP (the cfg listens on udp:127.0.0.1:PORT only); shared and private memory in MB
    LISTEN_FLAGS = ("-T", "-S", "-m", "32", "-M", "8")

    def ready(self):
        """True once Kamailio serves: it answers OPTIONS on its UDP port."""
        return sip_options_probe(self.port)

    def start(self):
        self.render()
        os.makedirs(self.rundir, exist_ok=True)
        self.cmd = [
            self.binary, "-f", self.cfg,
            "-DD",            # no daemon: stays our child, killed by PID
            "-E",             # log to stderr (-> kamailio.log)
            "-n", "1",        # one UDP worker
        ] + list(self.LISTEN_FLAGS) + [
            "-Y", self.rundir,  # runtime dir (no /run/kamailio)
            "-w", self.workdir,
        ]
        logf = open(self.log, "wb")
        try:
            self.proc = subprocess.Popen(
                self.cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                cwd=self.workdir, start_new_session=True,
            )
        finally:
            logf.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("kamailio exited with %s during start:\n%s\ncmd: %s"
                                   % (self.proc.returncode, _tail(self.log), " ".join(self.cmd)))
            if self.ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("kamailio was not ready (%s) on %s:%d within %.0f s:\n%s"
                           % (self.ready.__doc__, HOST, self.port, self.start_timeout, _tail(self.log)))

    def stop(self):
        rc = stop_pid(self.proc)
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def log_text(self):
        with open(self.log, "r", errors="replace") as f:
            return f.read()

    def registers(self, src_port=None):
        """Every REGISTER Kamailio received, oldest first, as dicts: ip, port,
        cseq, expires (Expires header), cexpires (Contact param), auth (bool),
        contact, effective (cexpires if present else expires, or None)."""
        out = []
        for line in self.log_text().splitlines():
            m = _REG_LINE.search(line)
            if not m:
                continue
            d = m.groupdict()
            r = {
                "ip": d["ip"], "port": int(d["port"]), "cseq": _int_or_none(d["cseq"]),
                "expires": _int_or_none(d["expires"]), "cexpires": _int_or_none(d["cexpires"]),
                "auth": d["auth"] not in ("", "0", "<null>"), "contact": d["contact"],
            }
            r["effective"] = r["cexpires"] if r["cexpires"] is not None else r["expires"]
            if src_port is None or r["port"] == src_port:
                out.append(r)
        return out

    def requests(self, method=None):
        """Every non-REGISTER request routed by the script, oldest first, as
        dicts: method, ruri, ip, port, from_user, totag, auth (bool)."""
        out = []
        for line in self.log_text().splitlines():
            m = _REQ_LINE.search(line)
            if not m or (method and m.group("method") != method):
                continue
            d = m.groupdict()
            out.append({"method": d["method"], "ruri": d["ruri"], "ip": d["ip"],
                        "port": int(d["port"]), "from_user": d["fu"],
                        "totag": d["totag"] not in ("", "<null>"),
                        "auth": d["auth"] not in ("", "0", "<null>")})
        return out

    def register_count(self, src_port=None):
        return len(self.registers(src_port))

    def log_tail(self, n=40):
        return _tail(self.log, n)


# -- SIPp ---------------------------------------------------------------------


class Sipp:
    """One SIPp run of a scenario from host_tests/peers/.

    Sipp("uac_register_auth.xml", remote=("127.0.0.1", kport),
         args=["-s", "door", "-au", "door", "-ap", "secret"]).run(timeout=20)
    or start() ... wait() for a UAS running alongside another process.
    """

    def __init__(self, scenario, port=None, remote=None, args=(), calls=1, timeout=20,
                 keys=None, workdir=None):
        self.binary = require_binary("sipp", "sip-tester")
        self.scenario = scenario if os.path.isabs(scenario) else os.path.join(PEERS_DIR, scenario)
        self.port = port or free_udp_port()
        self.remote = remote
        self.timeout = timeout
        self.workdir = workdir or _workdir("sipp")
        os.makedirs(self.workdir, exist_ok=True)
        base = os.path.join(self.workdir, os.path.splitext(os.path.basename(self.scenario))[0])
        self.message_file = base + ".messages.log"
        self.error_file = base + ".errors.log"
        self.log_file = base + ".log"
        self.screen_file = base + ".screen.log"
        cmd = [self.binary]
        if remote:
            cmd.append("%s:%d" % tuple(remote))
        cmd += [
            "-sf", self.scenario,
            "-i", HOST, "-p", str(self.port),
            "-m", str(calls),
            "-timeout", "%ds" % timeout, "-timeout_error",
            "-nostdin",
            "-default_behaviors", "all,-bye",
            "-trace_msg", "-message_file", self.message_file,
            "-trace_err", "-error_file", self.error_file,
            "-trace_logs", "-log_file", self.log_file,
        ]
        for k, v in (keys or {}).items():
            cmd += ["-key", str(k), str(v)]
        cmd += list(args)
        self.cmd = cmd
        self.proc = None
        self.returncode = None

    def start(self):
        screen = open(self.screen_file, "wb")
        try:
            self.proc = subprocess.Popen(
                self.cmd, stdin=subprocess.DEVNULL, stdout=screen, stderr=subprocess.STDOUT,
                cwd=self.workdir, start_new_session=True,
            )
        finally:
            screen.close()
        self._deadline = time.monotonic() + self.timeout + 5
        return self

    def wait(self, timeout=None):
        """Exit code of SIPp (0: the scenario passed). Killed by PID if it
        outlives its own -timeout by 5 s (or `timeout`); then returns None."""
        limit = (self._deadline - time.monotonic()) if timeout is None else timeout
        try:
            self.returncode = self.proc.wait(max(0.0, limit))
        except subprocess.TimeoutExpired:
            stop_pid(self.proc)
            self.returncode = None
        return self.returncode

    def run(self, timeout=None):
        self.start()
        return self.wait(timeout)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            stop_pid(self.proc)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def _read(self, path):
        try:
            with open(path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def messages(self):
        """The -trace_msg message trace (every SIP message sent and received)."""
        return self._read(self.message_file)

    def errors(self):
        return self._read(self.error_file)

    def logs(self):
        return self._read(self.log_file)

    def screen(self):
        return self._read(self.screen_file)

    def report(self):
        """Everything useful for an assertion message."""
        return (
            "sipp rc=%s\ncmd: %s\n--- screen ---\n%s\n--- errors ---\n%s\n--- logs ---\n%s\n"
            "--- messages (tail) ---\n%s"
        ) % (
            self.returncode, " ".join(self.cmd), _tail(self.screen_file, 30),
            self.errors()[-3000:], self.logs()[-2000:], self.messages()[-4000:])


# -- baresip ------------------------------------------------------------------

_BARESIP_CONFIG = """\
# baresip 1.0 headless for the interop tests: SIP over UDP on 127.0.0.1 only,
# G.711 codecs, no audio device (no RTP is needed yet), driven by ctrl_tcp.
poll_method\t\tepoll
sip_listen\t\t127.0.0.1:{sip_port}
sip_transports\t\tudp
net_interface\t\t127.0.0.1
audio_player\t\tnone,none
audio_source\t\tnone,none
audio_alert\t\tnone,none
rtp_ports\t\t{rtp_lo}-{rtp_hi}
module_path\t\t/usr/lib/baresip/modules
module\t\t\tg711.so
module_app\t\taccount.so
# menu: the dial, hangup and accept commands of ctrl_tcp
module_app\t\tmenu.so
module_app\t\tctrl_tcp.so
ctrl_tcp_listen\t\t127.0.0.1:{ctrl_port}
"""


class Baresip:
    """baresip (Debian baresip-core) registered as `user` at a registrar on
    127.0.0.1:registrar_port, auto-answering, driven over ctrl_tcp
    (netstring JSON commands; its events are collected in `events`).

    It binds SIP port + 1 too, so sip_port and sip_port + 1 must be free.
    with Baresip("bob", "pw", kamailio.port) as b:
        b.wait_registered(5); b.command("dial", "sip:door@127.0.0.1:5060")
        b.wait_event("CALL_ESTABLISHED", 5)
    """

    def __init__(self, user, password, registrar_port, sip_port=None, answermode="auto",
                 workdir=None, start_timeout=8.0):
        self.binary = require_binary("baresip", "baresip-core")
        self.user = user
        self.registrar_port = registrar_port
        self.sip_port = sip_port or free_udp_ports(1, spacing=2)[0]
        self.ctrl_port = free_tcp_port()
        rtp = free_udp_ports(1, spacing=4, even=True)[0]
        self.workdir = workdir or _workdir("baresip")
        os.makedirs(self.workdir, exist_ok=True)
        with open(os.path.join(self.workdir, "config"), "w") as f:
            f.write(_BARESIP_CONFIG.format(sip_port=self.sip_port, ctrl_port=self.ctrl_port,
                                           rtp_lo=rtp, rtp_hi=rtp + 3))
        with open(os.path.join(self.workdir, "accounts"), "w") as f:
            f.write("<sip:%s@%s:%d;transport=udp>;auth_pass=%s;answermode=%s;regint=60\n"
                    % (user, HOST, registrar_port, password, answermode))
        self.log = os.path.join(self.workdir, "baresip.log")
        self.start_timeout = start_timeout
        self.cmd = [self.binary, "-f", self.workdir]
        self.proc = None
        self.sock = None
        self.events = []          # ctrl_tcp events (dicts with "type")
        self.responses = []
        self._cond = threading.Condition()
        self._reader = None
        self._cursor = 0

    def start(self):
        logf = open(self.log, "wb")
        try:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, cwd=self.workdir,
                                         start_new_session=True)
        finally:
            logf.close()
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("baresip exited with %s during start:\n%s"
                                   % (self.proc.returncode, _tail(self.log)))
            try:
                self.sock = socket.create_connection((HOST, self.ctrl_port), timeout=0.2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("baresip ctrl_tcp not listening on %d:\n%s"
                                       % (self.ctrl_port, _tail(self.log)))
                time.sleep(0.05)
        self.sock.settimeout(None)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self):
        buf = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            buf += data
            while True:            # netstrings: LEN ":" JSON ","
                colon = buf.find(b":")
                if colon < 0 or not buf[:colon].isdigit():
                    break
                n = int(buf[:colon])
                if len(buf) < colon + 2 + n:
                    break
                payload = buf[colon + 1: colon + 1 + n]
                buf = buf[colon + 2 + n:]
                try:
                    msg = json.loads(payload.decode("utf-8", "replace"))
                except ValueError:
                    continue
                with self._cond:
                    if msg.get("event"):
                        msg["_t"] = time.monotonic()
                        self.events.append(msg)
                    else:
                        self.responses.append(msg)
                    self._cond.notify_all()

    def command(self, name, params=None):
        """Send one ctrl_tcp command (a netstring of JSON)."""
        msg = {"command": name, "token": "t%d" % len(self.responses)}
        if params is not None:
            msg["params"] = params
        data = json.dumps(msg).encode()
        self.sock.sendall(b"%d:%s," % (len(data), data))

    def wait_event(self, etype, timeout):
        """The next ctrl_tcp event of type etype (CALL_INCOMING, CALL_ESTABLISHED,
        CALL_CLOSED, ...), or AssertionError with the log tail."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(self._cursor, len(self.events)):
                    if self.events[i].get("type") == etype:
                        self._cursor = i + 1
                        return self.events[i]
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.2))
        raise AssertionError("baresip: no %s event within %.1f s\n%s" % (etype, timeout, self.describe()))

    def wait_registered(self, timeout):
        """Wait for the registrar's 200 (baresip logs `USER@...: ... 200 OK`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(r"%s@\S+: \{\S+\} 200 OK" % re.escape(self.user), self.log_text()):
                return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("baresip %s did not register within %.1f s\n%s"
                             % (self.user, timeout, self.describe()))

    def log_text(self):
        try:
            with open(self.log, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def describe(self):
        with self._cond:
            evs = [{k: v for k, v in e.items() if k != "_t"} for e in self.events[-10:]]
        return "baresip cmd: %s\nevents: %s\n--- baresip log ---\n%s" % (
            " ".join(self.cmd), json.dumps(evs), _tail(self.log, 30))

    def stop(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        rc = stop_pid(self.proc)
        if self._reader is not None:
            self._reader.join(2)
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


# -- tools/sim ----------------------------------------------------------------


class Sim:
    """tools/sim as a child process, driven by its stdin and JSON-lines stdout
    (the DESIGN.md contract).

    with Sim(cfg, runtime="cpython") as sim:
        sim.wait_event("ready", 10)
        sim.wait_event("registered", 5)
        assert sim.quit(10) == 0
    """

    def __init__(self, config, runtime="micropython", extra_args=(), workdir=None,
                 raw_config=None):
        if not os.path.exists(SIM):
            pytest.fail("tools/sim not found at %s (the simulator has not landed yet)" % SIM,
                        pytrace=False)
        self.workdir = workdir or _workdir("sim")
        os.makedirs(self.workdir, exist_ok=True)
        self.config_path = os.path.join(self.workdir, "config.json")
        with open(self.config_path, "w") as f:
            if raw_config is not None:
                f.write(raw_config)
            else:
                json.dump(config, f, indent=1)
        self.stderr_path = os.path.join(self.workdir, "sim.stderr.log")
        self.cmd = [sys.executable, SIM, "--config", self.config_path, "--runtime", runtime]
        self.cmd += list(extra_args)
        self.events = []
        self.bad_stdout = []
        self.stdout_lines = []
        self._cursor = 0
        self._cond = threading.Condition()
        self._eof = False
        self.proc = None
        self._reader = None
        self._errf = None

    def start(self):
        self._errf = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errf,
            cwd=self.workdir, start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        return self

    def _read_stdout(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            ev = None
            try:
                ev = json.loads(line)
            except ValueError:
                pass
            with self._cond:
                self.stdout_lines.append(line)
                if isinstance(ev, dict) and "event" in ev:
                    ev["_t"] = time.monotonic()
                    self.events.append(ev)
                else:
                    self.bad_stdout.append(line)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def send(self, line):
        """Write one command line to the sim's stdin."""
        self.proc.stdin.write((line.rstrip("\n") + "\n").encode())
        self.proc.stdin.flush()

    def _matches(self, ev, name, match):
        if ev.get("event") != name:
            return False
        for k, v in match.items():
            if callable(v):
                if not v(ev.get(k)):
                    return False
            elif ev.get(k) != v:
                return False
        return True

    def wait_event(self, name, timeout, since=None, **match):
        """The next event called `name` (after the last one returned, or from
        index `since`) whose fields equal `match` (values may be predicates).
        AssertionError with the recent events and the stderr tail on timeout."""
        deadline = time.monotonic() + timeout
        start = self._cursor if since is None else since
        with self._cond:
            while True:
                for i in range(start, len(self.events)):
                    if self._matches(self.events[i], name, match):
                        self._cursor = i + 1
                        return self.events[i]
                start = len(self.events)
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    break
                self._cond.wait(min(left, 0.2))
        why = "sim exited (rc=%s)" % self.proc.poll() if self._eof else "timeout %.1f s" % timeout
        raise AssertionError(
            "no %r event%s: %s\n%s" % (name, (" matching %r" % match) if match else "", why,
                                        self.describe()))

    def describe(self):
        with self._cond:
            evs = list(self.events[-15:])
            bad = list(self.bad_stdout[-10:])
        return "cmd: %s\nlast events:\n  %s\nnon-JSON stdout: %r\n--- stderr tail ---\n%s" % (
            " ".join(self.cmd),
            "\n  ".join(json.dumps({k: v for k, v in e.items() if k != "_t"}) for e in evs) or "(none)",
            bad, _tail(self.stderr_path))

    def wait_exit(self, timeout):
        """Exit code, or AssertionError (after killing it) if still running."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop_pid(self.proc)
            raise AssertionError("sim still running after %.1f s\n%s" % (timeout, self.describe()))
        if self._reader is not None:
            self._reader.join(2)
        return rc

    def quit(self, timeout=10):
        """Send `quit`, close stdin, return the exit code."""
        try:
            self.send("quit")
            self.proc.stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass
        return self.wait_exit(timeout)

    def stderr_text(self):
        with open(self.stderr_path, "r", errors="replace") as f:
            return f.read()

    def check_stdout(self):
        if self.bad_stdout:
            raise AssertionError("non-JSON lines on the sim's stdout (logs belong on stderr): %r\n%s"
                                 % (self.bad_stdout[:10], self.describe()))

    def stop(self):
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except (OSError, ValueError):
                pass
            if self.proc.poll() is None:
                stop_pid(self.proc)
            if self._reader is not None:
                self._reader.join(2)
            try:
                self.proc.stdout.close()
            except OSError:
                pass
        if self._errf is not None:
            self._errf.close()
            self._errf = None

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        if exc_type is None:
            self.check_stdout()
        return False
