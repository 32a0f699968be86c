"""TLS peers for the tests: a test CA and server certificate made with openssl, Kamailio with the tls module,
and small impolite TLS/TCP servers (garbage, stalled handshake, close mid-message, 100 KB message)."""

import os
import re
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "interop"))
from peers import (Kamailio, HOST, free_tcp_port, require_binary,  # noqa: E402
                   sip_options_probe)


def make_certs(workdir, name="Intercom Test CA"):
    """ca.pem/ca.der (a test CA), server.pem/server.key (127.0.0.1, localhost) and
    other_ca.pem (a CA that signed nothing here). Returns a dict of paths."""
    openssl = require_binary("openssl")
    paths = {k: os.path.join(workdir, v) for k, v in (
        ("ca", "ca.pem"), ("ca_key", "ca.key"), ("ca_der", "ca.der"), ("cert", "server.pem"),
        ("key", "server.key"), ("csr", "server.csr"), ("ext", "ext.cnf"),
        ("other_ca", "other_ca.pem"), ("other_key", "other_ca.key"))}
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]

    def run(*args):
        subprocess.run([openssl] + list(args), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=30)
    run("req", "-x509", *ec, "-keyout", paths["ca_key"], "-out", paths["ca"], "-days", "2",
        "-subj", "/CN=" + name)
    run("req", "-x509", *ec, "-keyout", paths["other_key"], "-out", paths["other_ca"], "-days", "2",
        "-subj", "/CN=Some Other CA")
    run("req", *ec, "-keyout", paths["key"], "-out", paths["csr"], "-subj", "/CN=127.0.0.1")
    with open(paths["ext"], "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", paths["csr"], "-CA", paths["ca"], "-CAkey", paths["ca_key"],
        "-CAcreateserial", "-out", paths["cert"], "-days", "2", "-extfile", paths["ext"])
    run("x509", "-in", paths["ca"], "-outform", "DER", "-out", paths["ca_der"])
    return paths


class KamailioTls(Kamailio):
    """Kamailio on udp:PORT, tcp:TCP_PORT and tls:TLS_PORT (127.0.0.1) with the
    server certificate from make_certs()."""

    def __init__(self, certs, **kw):
        kw.setdefault("template", os.path.join(HERE, "kamailio_tls.cfg"))
        Kamailio.__init__(self, **kw)
        self.certs = certs
        self.tcp_port = free_tcp_port()
        self.tls_port = free_tcp_port()
        while self.tls_port == self.tcp_port:
            self.tls_port = free_tcp_port()
        self.tls_cfg = os.path.join(self.workdir, "tls.cfg")

    def render(self):
        with open(self.tls_cfg, "w") as f:
            f.write("[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\n"
                    "require_certificate = no\nprivate_key = %s\ncertificate = %s\n\n"
                    "[client:default]\nmethod = TLSv1.2+\nverify_certificate = no\n"
                    "require_certificate = no\n" % (self.certs["key"], self.certs["cert"]))
        Kamailio.render(self)
        with open(self.cfg) as f:
            text = f.read()
        text = (text.replace("@TCP_PORT@", str(self.tcp_port)).replace("@TLS_PORT@", str(self.tls_port))
                .replace("@TLS_CFG@", self.tls_cfg))
        with open(self.cfg, "w") as f:
            f.write(text)
        return self.cfg

    LISTEN_FLAGS = ("-S", "-m", "64", "-M", "8")       # TCP and TLS on: no SCTP, more shared memory

    def ready(self):
        """True once Kamailio answers OPTIONS on UDP and its TLS port accepts connections."""
        return sip_options_probe(self.port) and _tcp_open(self.tls_port)

    def protos(self, method=None):
        """(method, proto, port) of every request Kamailio received, oldest first."""
        out = []
        for m in re.finditer(r"PROTO (\S+) (\S+) from [0-9.]+:(\d+)", self.log_text()):
            if method is None or m.group(1) == method:
                out.append((m.group(1), m.group(2), int(m.group(3))))
        return out


def _tcp_open(port):
    s = socket.socket()
    s.settimeout(0.3)
    try:
        s.connect((HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class BadServer:
    """A TCP or TLS server on 127.0.0.1 that misbehaves, one of:
    "garbage" (random bytes instead of a ServerHello; use tls=False), "garbage_tls"
    (random bytes after a good handshake), "stall" (accepts TCP, never
    answers the ClientHello), "close_mid" (half a SIP response, then closes),
    "huge" (a response announcing and sending a 100 KB body), "no_cl" (a response
    without Content-Length), "no_pong" (answers every REGISTER 200 but never a
    CRLF keep-alive ping). Counts accepted connections in `accepted`; `pings`
    counts the double-CRLF pings a no_pong server ignored."""

    def __init__(self, mode, certs=None, tls=True):
        self.mode = mode
        self.tls = tls
        self.ctx = None
        if tls:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(certs["cert"], certs["key"])
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.pings = 0
        self.received = []
        self.stopped = False
        self.held = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped = True
        self.thread.join(5)
        for c in self.held:
            try:
                c.close()
            except OSError:
                pass
        self.sock.close()

    def _run(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            try:
                self._serve(conn)
            except (OSError, ssl.SSLError):
                pass

    def _serve(self, conn):
        if self.mode == "stall":
            self.held.append(conn)          # never read, never answer
            return
        conn.settimeout(5)
        if self.tls:
            conn = self.ctx.wrap_socket(conn, server_side=True)
        if self.mode == "no_pong":
            return self._registrar_without_pongs(conn)
        data = conn.recv(4096)
        self.received.append(data)
        if self.mode in ("garbage", "garbage_tls"):
            conn.sendall(os.urandom(3000))
            time.sleep(0.5)
        elif self.mode == "close_mid":
            conn.sendall(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS 127.0.0.1;branch=z9hG4bKx\r\n"
                         b"Content-Length: 400\r\n\r\nv=0")
            time.sleep(0.2)
        elif self.mode in ("huge", "no_cl"):
            length = b"Content-Length: 102400\r\n" if self.mode == "huge" else b""
            conn.sendall(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS 127.0.0.1;branch=z9hG4bKx\r\n" + length + b"\r\n")
            try:
                for _ in range(100):
                    conn.sendall(b"x" * 1024)
            except OSError:
                pass
            time.sleep(0.2)
        conn.close()


    def _registrar_without_pongs(self, conn):
        conn.settimeout(0.2)
        buf = b""
        while not self.stopped:
            try:
                data = conn.recv(4096)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            if not data:
                return
            buf += data
            while True:
                if buf.startswith(b"\r\n\r\n"):
                    self.pings += 1            # ignored: no pong
                    buf = buf[4:]
                    continue
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = buf[:end].decode("utf-8", "replace")
                m = re.search(r"(?im)^(content-length|l)\s*:\s*(\d+)", head)
                total = end + 4 + (int(m.group(2)) if m else 0)
                if len(buf) < total:
                    break
                buf = buf[total:]
                if head.startswith("REGISTER"):
                    conn.sendall(_ok_for(head))


class BaresipTls:
    """Builds on peers.Baresip: an account registered over TLS (or TCP) at Kamailio,
    the test CA as sip_cafile (baresip verifies Kamailio's certificate), and the
    server certificate for baresip's own TLS listener."""

    def __new__(cls, user, password, kam, certs, transport="tls", workdir=None, answermode="auto"):
        from peers import Baresip
        b = Baresip(user, password, kam.port, workdir=workdir, answermode=answermode)
        port = kam.tls_port if transport == "tls" else kam.tcp_port
        with open(os.path.join(b.workdir, "config")) as f:
            text = f.read()
        text = text.replace("sip_transports\t\tudp", "sip_transports\t\tudp,tcp,tls")
        bundle = os.path.join(b.workdir, "cert.pem")
        with open(bundle, "w") as out:
            for path in (certs["cert"], certs["key"]):
                with open(path) as f:
                    out.write(f.read())
        text += "sip_cafile\t\t%s\nsip_certificate\t\t%s\n" % (certs["ca"], bundle)
        with open(os.path.join(b.workdir, "config"), "w") as f:
            f.write(text)
        with open(os.path.join(b.workdir, "accounts"), "w") as f:
            f.write('<sip:%s@%s:%d;transport=%s>;auth_pass=%s;answermode=%s;regint=60;'
                    'outbound="sip:%s:%d;transport=%s"\n'
                    % (user, HOST, port, transport, password, answermode, HOST, port, transport))
        return b


def _ok_for(request_head):
    """A 200 OK to a REGISTER (header section as text), granting 60 s."""
    keep = []
    for line in request_head.split("\r\n")[1:]:
        name = line.split(":", 1)[0].strip().lower()
        if name in ("via", "from", "call-id", "cseq", "contact"):
            keep.append(line)
        elif name == "to":
            keep.append(line + ";tag=np1")
    return ("SIP/2.0 200 OK\r\n" + "\r\n".join(keep) + "\r\nExpires: 60\r\nContent-Length: 0\r\n\r\n").encode()


def hold_and_resume(holder, held):
    """holder puts the call on hold and takes it back; each side's state is awaited in turn."""
    holder.send("hold")
    holder.wait_event("call", 10, state="on_hold")
    held.wait_event("call", 10, state="remote_hold")
    holder.send("resume")
    holder.wait_event("call", 10, state="connected")
    held.wait_event("call", 10, state="connected")


class CuttableRelay:
    """A TCP relay on 127.0.0.1 in front of a server port: bytes pass unchanged
    (TLS too: the handshake is end to end), and cut() resets every connection
    at once, as a PBX restart or a Wi-Fi drop does. New connections are
    relayed again after a cut."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((HOST, 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.pairs = []
        self.accepted = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection((HOST, self.target_port), timeout=2)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.pairs.append((client, server))
                self.accepted += 1
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        # Each pump closes both of its sockets itself once its read ends: a
        # socket closed under a thread blocked in recv() would let that
        # thread read a later connection that reuses the descriptor.
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def cut(self):
        """Reset every relayed connection: SO_LINGER 0 makes the close an RST
        (not a FIN), and shutdown(SHUT_RD) wakes the pumps, which close."""
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for s in pair:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    s.shutdown(socket.SHUT_RD)
                except OSError:
                    pass
        return len(pairs)

    def close(self):
        self.closed = True
        self.listener.close()
        self.cut()
