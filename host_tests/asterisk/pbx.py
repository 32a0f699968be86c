"""Asterisk 22 as a real PBX peer: chroot into the Debian sid root filesystem, inside its own network namespace.

Why a namespace and not host networking on 127.0.0.1: Asterisk binds its SIP
port and an RTP range, and loads modules that listen (HTTP, AMI, ...) unless
told not to; in `unshare -n -m` it sees only its own loopback, so nothing it
opens reaches the host, its fixed ports never collide with another test, and
the mounts it needs (/dev, /proc, the per-run config) vanish with it. The
sims of a test join that namespace with `nsenter --net=/proc/PID/ns/net`
(PID is Asterisk's own: unshare and chroot exec, they do not fork), so they
talk to it over the namespace's 127.0.0.1; pytest itself stays outside and
reads the sims' events, their recordings and Asterisk's logs from files.

Per run, a host directory is bound onto /run/intercom inside the chroot: the
configs (rendered from the templates here), the control socket, the logs and
the spool, so the cached root filesystem is never written to by a test.
Asterisk is stopped with `core stop now`, then by its PID.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tools"))
sys.path.insert(0, os.path.join(REPO, "host_tests", "interop"))
import asterisk_rootfs  # noqa: E402
from peers import _tail, find_binary, stop_pid  # noqa: E402

SIP_PORT = 5060           # inside the private namespace: nothing else binds there
RTP_START, RTP_END = 20000, 20999
INNER = "/run/intercom"   # the per-run directory, as seen inside the chroot
USERS = {"door": "doorsecret", "phone": "phonesecret"}


def unavailable(msg):
    """A missing Asterisk fails under CI=true and skips elsewhere (peers.require_binary's rule)."""
    if os.environ.get("CI") == "true":
        pytest.fail(msg + "; under CI=true a missing peer is a failure", pytrace=False)
    pytest.skip(msg)


def rootfs():
    """The cached root filesystem (built on first use), or fail/skip with the reason."""
    if os.geteuid() != 0:
        unavailable("Asterisk in a chroot needs root (unshare, chroot, nsenter)")
    for name in ("unshare", "nsenter", "chroot", "ip"):
        if not find_binary(name):
            unavailable("%s not installed (util-linux, coreutils, iproute2)" % name)
    try:
        return asterisk_rootfs.ensure()
    except asterisk_rootfs.RootfsError as e:
        unavailable("no Asterisk root filesystem: %s" % e)


_ASTERISK_CONF = """\
[directories]
astetcdir => {inner}/etc
astmoddir => /usr/lib/x86_64-linux-gnu/asterisk/modules
astvarlibdir => /var/lib/asterisk
astdbdir => {inner}/db
astkeydir => /var/lib/asterisk
astdatadir => /usr/share/asterisk
astagidir => /usr/share/asterisk/agi-bin
astspooldir => {inner}/spool
astrundir => {inner}/run
astlogdir => {inner}/log
astsbindir => /usr/sbin

[options]
verbose = 3
debug = 0
nofork = yes
entityid = 02:00:00:00:00:01
transmit_silence = no
"""

# Only what the tests use: no HTTP, AMI, CDR backends or other listeners.
_MODULES_CONF = """\
[modules]
autoload = no
load => res_pjproject.so
load => res_sorcery_config.so
load => res_sorcery_memory.so
load => res_sorcery_astdb.so
load => res_rtp_asterisk.so
load => res_pjsip.so
load => res_pjsip_session.so
load => res_pjsip_authenticator_digest.so
load => res_pjsip_endpoint_identifier_user.so
load => res_pjsip_registrar.so
load => res_pjsip_outbound_authenticator_digest.so
load => res_pjsip_sdp_rtp.so
load => res_pjsip_dtmf_info.so
load => res_pjsip_caller_id.so
load => res_pjsip_diversion.so
load => res_pjsip_send_to_voicemail.so
load => res_pjsip_pubsub.so
load => res_pjsip_mwi.so
load => res_pjsip_notify.so
load => res_pjsip_rfc3326.so
load => res_pjsip_logger.so
load => chan_pjsip.so
load => func_pjsip_endpoint.so
load => res_format_attr_opus.so
load => res_format_attr_g729.so
load => codec_opus_open_source.so
load => codec_ulaw.so
load => codec_alaw.so
load => codec_a_mu.so
load => codec_gsm.so
load => codec_g722.so
load => codec_resample.so
load => format_gsm.so
load => format_wav.so
load => format_pcm.so
load => app_echo.so
load => app_playback.so
load => app_senddtmf.so
load => app_dial.so
load => app_verbose.so
load => res_clioriginate.so
load => pbx_config.so
load => func_strings.so
load => func_logic.so
load => func_channel.so
load => bridge_simple.so
load => bridge_native_rtp.so
load => bridge_softmix.so
load => bridge_holding.so
load => bridge_builtin_features.so
"""

_LOGGER_CONF = """\
[general]
dateformat = %F %T.%3q
[logfiles]
messages.log => notice,warning,error,verbose,dtmf
"""

_RTP_CONF = """\
[general]
rtpstart = {rtp_start}
rtpend = {rtp_end}
"""

# Digest auth for each user, RTP anchored by Asterisk (direct_media=no), a
# wide codec list, RFC 4733 DTMF, qualify OPTIONS every few seconds.
_PJSIP_GLOBAL = """\
[global]
type = global
user_agent = Asterisk-intercom-ci
endpoint_identifier_order = username,ip

[udp]
type = transport
protocol = udp
bind = 127.0.0.1:{port}
"""

_PJSIP_USER = """\
[{user}]
type = endpoint
transport = udp
context = {context}
disallow = all
allow = opus,g722,gsm,alaw,ulaw
direct_media = no
dtmf_mode = rfc4733
rtp_symmetric = yes
force_rport = yes
rewrite_contact = yes
auth = {user}-auth
aors = {user}
timers = {timers}
timers_sess_expires = 90
timers_min_se = 90

[{user}-auth]
type = auth
auth_type = userpass
username = {user}
password = {password}

[{user}]
type = aor
max_contacts = 1
remove_existing = yes
qualify_frequency = 2
"""

# The door's calls land in from-door; the test phone's in from-phone.
#   600  Echo()                          the door hears itself
#   601  Progress() + Playback()         early media, then Busy
#   700  (originate target) Wait, SendDTMF(1234#) to the door
#   800  the seed's flow: ring the door 4 s; on BUSY or NOANSWER forward to the phone
_EXTENSIONS = """\
[general]
static = yes
writeprotect = yes

[from-door]
exten => 600,1,Answer()
 same => n,Echo()
 same => n,Hangup()
exten => 601,1,Progress()
 same => n,Playback(tt-monkeys,noanswer)
 same => n,Playback(tt-weasels,noanswer)
 same => n,Busy(5)
exten => 800,1,Goto(from-phone,800,1)

[from-phone]
exten => 800,1,Dial(PJSIP/door,4)
 same => n,Verbose(1,FORWARD dialstatus=${{DIALSTATUS}})
 same => n,GotoIf($["${{DIALSTATUS}}" = "BUSY"]?fwd)
 same => n,GotoIf($["${{DIALSTATUS}}" = "NOANSWER"]?fwd)
 same => n,Hangup()
 same => n(fwd),Dial(PJSIP/phone,10)
 same => n,Hangup()
exten => 600,1,Goto(from-door,600,1)

[to-door]
exten => dtmf,1,Wait(1.5)
 same => n,SendDTMF(1234#,200)
 same => n,Wait(2)
 same => n,Hangup()
exten => echo,1,Echo()
"""


class Asterisk:
    """Asterisk 22 in its own network namespace; `nsenter()` is the prefix
    that puts another process (a sim) into that namespace.

    with Asterisk(tmpdir) as pbx:
        pbx.rx("pjsip show contacts"); pbx.nsenter() + [...]
    """

    def __init__(self, workdir=None, start_timeout=30.0, timers="yes"):
        # timers: chan_pjsip's session-timer mode for every endpoint ("yes":
        # only if the peer supports them; "always": RFC 4028 §9, Asterisk as
        # UAS refreshes even when the door's INVITE has no Supported: timer)
        self.timers = timers
        self.root = rootfs()
        self.workdir = workdir or tempfile.mkdtemp(prefix="intercom-asterisk-")
        self.port = SIP_PORT
        self.start_timeout = start_timeout
        self.proc = None
        self.log = os.path.join(self.workdir, "asterisk.console.log")
        self.conf = INNER + "/etc/asterisk.conf"

    def _write(self, name, text):
        with open(os.path.join(self.workdir, "etc", name), "w") as f:
            f.write(text)

    def render(self):
        for sub in ("etc", "db", "spool", "run", "log"):
            os.makedirs(os.path.join(self.workdir, sub), exist_ok=True)
        self._write("asterisk.conf", _ASTERISK_CONF.format(inner=INNER))
        self._write("modules.conf", _MODULES_CONF)
        self._write("logger.conf", _LOGGER_CONF)
        self._write("rtp.conf", _RTP_CONF.format(rtp_start=RTP_START, rtp_end=RTP_END))
        pjsip = _PJSIP_GLOBAL.format(port=self.port)
        for user, pw in sorted(USERS.items()):
            pjsip += "\n" + _PJSIP_USER.format(user=user, password=pw,
                                               context="from-" + user,
                                               timers=self.timers)
        self._write("pjsip.conf", pjsip)
        self._write("extensions.conf", _EXTENSIONS.format())
        self._write("pjsip_notify.conf", "[check-sync]\nEvent => check-sync\n")

    def start(self):
        self.render()
        mnt = os.path.join(self.root, INNER.lstrip("/"))
        os.makedirs(mnt, exist_ok=True)
        # unshare -n -m: a network namespace with only loopback (brought up
        # here) and a private mount namespace; the binds die with it.
        script = (
            "set -e; ip link set lo up; "
            "mount --bind /dev {root}/dev; mount -t proc proc {root}/proc; "
            "mount --bind {work} {mnt}; "
            "exec chroot {root} /usr/sbin/asterisk -f -C {conf}"
        ).format(root=self.root, work=self.workdir, mnt=mnt, conf=self.conf)
        self.cmd = ["unshare", "-n", "-m", "--propagation", "private", "sh", "-c", script]
        logf = open(self.log, "wb")
        try:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            logf.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("asterisk exited with %s during start:\n%s"
                                   % (self.proc.returncode, _tail(self.log)))
            if os.path.exists(os.path.join(self.workdir, "run", "asterisk.ctl")):
                out = self.rx("core waitfullybooted", timeout=self.start_timeout)
                if "fully booted" in out:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("asterisk not fully booted within %.0f s:\n%s"
                           % (self.start_timeout, _tail(self.log)))

    def nsenter(self):
        """Command prefix that runs a program in Asterisk's network namespace."""
        return ["nsenter", "--net=/proc/%d/ns/net" % self.proc.pid]

    def rx(self, command, timeout=10.0):
        """`asterisk -rx COMMAND` over the control socket; its output."""
        cmd = ["nsenter", "-t", str(self.proc.pid), "-m", "-n",
               "chroot", self.root, "/usr/sbin/asterisk", "-C", self.conf, "-rx", command]
        try:
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            return "<asterisk -rx %r timed out>" % command
        # the CLI client has no NIC in the namespace either and says so: drop that line
        out = r.stdout + r.stderr
        return "".join(line for line in out.splitlines(True)
                       if not line.startswith("No ethernet interface found"))

    def messages(self):
        try:
            with open(os.path.join(self.workdir, "log", "messages.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def describe(self):
        return "asterisk cmd: %s\n--- console tail ---\n%s\n--- messages tail ---\n%s" % (
            " ".join(self.cmd), _tail(self.log, 20), "".join(self.messages().splitlines(True)[-40:]))

    def stop(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.rx("core stop now", timeout=5)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        rc = stop_pid(self.proc)
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def cleanup_workdir(path):
    shutil.rmtree(path, ignore_errors=True)
