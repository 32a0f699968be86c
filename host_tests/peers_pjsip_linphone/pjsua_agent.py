"""PJSIP 2.15 (PyPI pjsua2-python) as a SIP peer for the interop tests: one
pjsua2 user agent on 127.0.0.1 with the null sound device, playing a WAV into
every call and recording what it hears, driven like tools/sim.

    python pjsua_agent.py --config agent.json

config: {"user", "password", "registrar" ("" = peer to peer, else
"127.0.0.1:PORT"), "sip_port", "rtp_port", "play" (WAV, looped), "record"
(WAV), "max_seconds" (the agent exits by itself after that long)}.
stdin, one command a line: `dial URI`, `answer`, `decline` (603),
`hangup` (CANCEL while early), `hold`, `resume`, `dtmf DIGITS` (RFC 4733),
`quit`. stdout, one JSON object a line with an "event" key: `ready`
(`sip_port`), `registered` (`status`), `call` (`state`: pjsua's state text,
`status`, `reason`), `media` (`status`: active, local_hold, remote_hold,
none), `dtmf` (`digit`), `error` (`message`). pjsua's log goes to a file.
"""

import json
import os
import select
import sys
import time

import pjsua2 as pj

HOST = "127.0.0.1"


# The events get a private copy of stdout; fd 1 itself goes to stderr, so
# that what pjlib prints before its log file is set never reaches the JSON.
_OUT = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)


def emit(event, **fields):
    fields["event"] = event
    _OUT.write(json.dumps(fields) + "\n")
    _OUT.flush()


_MEDIA_STATUS = {
    pj.PJSUA_CALL_MEDIA_NONE: "none",
    pj.PJSUA_CALL_MEDIA_ACTIVE: "active",
    pj.PJSUA_CALL_MEDIA_LOCAL_HOLD: "local_hold",
    pj.PJSUA_CALL_MEDIA_REMOTE_HOLD: "remote_hold",
    pj.PJSUA_CALL_MEDIA_ERROR: "error",
}


class Agent:
    """The endpoint, its one account, the current call, the WAV player and recorder."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.call = None
        self.old_calls = []      # pjsua2 objects must outlive their callbacks
        self.player = None
        self.recorder = None
        self.wired = set()

    def media(self):
        return self.player, self.recorder


class Call(pj.Call):
    def __init__(self, agent, acc, call_id=pj.PJSUA_INVALID_ID):
        pj.Call.__init__(self, acc, call_id)
        self.agent = agent

    def onCallState(self, prm):
        ci = self.getInfo()
        emit("call", state=ci.stateText, status=ci.lastStatusCode, reason=ci.lastReason)
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED and self.agent.call is self:
            self.agent.old_calls.append(self)
            self.agent.call = None

    def onCallMediaState(self, prm):
        ci = self.getInfo()
        for mi in ci.media:
            if mi.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            emit("media", status=_MEDIA_STATUS.get(mi.status, str(mi.status)))
            if mi.status in (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
                am = self.getAudioMedia(mi.index)
                player, recorder = self.agent.media()
                if player is not None:
                    player.startTransmit(am)
                if recorder is not None:
                    am.startTransmit(recorder)

    def onDtmfDigit(self, prm):
        emit("dtmf", digit=prm.digit, method=str(prm.method))


class Account(pj.Account):
    def __init__(self, agent):
        pj.Account.__init__(self)
        self.agent = agent

    def onRegState(self, prm):
        emit("registered", status=prm.code, reason=prm.reason, expires=prm.expiration)

    def onIncomingCall(self, prm):
        call = Call(self.agent, self, prm.callId)
        if self.agent.call is not None:
            op = pj.CallOpParam(True)
            op.statusCode = 486
            call.hangup(op)
            self.agent.old_calls.append(call)
            return
        self.agent.call = call
        ci = call.getInfo()
        emit("call", state="INCOMING", status=0, reason="", remote=ci.remoteUri)
        op = pj.CallOpParam(True)
        op.statusCode = 180
        call.answer(op)


def build(agent, workdir):
    cfg = agent.cfg
    ep = pj.Endpoint()
    ep.libCreate()
    ec = pj.EpConfig()
    ec.uaConfig.threadCnt = 0
    ec.uaConfig.mainThreadOnly = True
    ec.uaConfig.userAgent = "pjsua2-intercom-test"
    ec.logConfig.level = 5
    ec.logConfig.consoleLevel = 0
    ec.logConfig.filename = os.path.join(workdir, "pjsua.log")
    ec.medConfig.noVad = True
    ec.medConfig.ecTailLen = 0
    ec.medConfig.clockRate = 8000
    ec.medConfig.sndClockRate = 8000
    ep.libInit(ec)
    tc = pj.TransportConfig()
    tc.port = cfg["sip_port"]
    tc.boundAddress = HOST
    tc.publicAddress = HOST
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
    ep.libStart()
    ep.audDevManager().setNullDev()
    # G.711 only, PCMU first (pjsua adds telephone-event itself); or the
    # config's "codecs" (pjmedia codec ids, e.g. "G722/16000/1") in order
    for c in ep.codecEnum2():
        ep.codecSetPriority(c.codecId, 0)
    for i, codec in enumerate(cfg.get("codecs") or ("PCMU/8000/1", "PCMA/8000/1")):
        ep.codecSetPriority(codec, 255 - i)

    ac = pj.AccountConfig()
    user, reg = cfg["user"], cfg.get("registrar", "")
    if reg:
        ac.idUri = "sip:%s@%s" % (user, reg)
        ac.regConfig.registrarUri = "sip:%s" % reg
        ac.regConfig.timeoutSec = 120
        ac.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", user, 0, cfg["password"]))
    else:
        ac.idUri = "sip:%s@%s:%d" % (user, HOST, cfg["sip_port"])
    ac.natConfig.contactRewriteUse = 0
    ac.natConfig.viaRewriteUse = 0
    ac.natConfig.sdpNatRewriteUse = 0
    ac.natConfig.sipOutboundUse = 0
    ac.mediaConfig.transportConfig.port = cfg["rtp_port"]
    ac.mediaConfig.transportConfig.portRange = 1
    ac.mediaConfig.transportConfig.boundAddress = HOST
    ac.mediaConfig.transportConfig.publicAddress = HOST
    acc = Account(agent)
    acc.create(ac, True)
    if cfg.get("play"):
        agent.player = pj.AudioMediaPlayer()
        agent.player.createPlayer(cfg["play"], 0)     # looped
    if cfg.get("record"):
        agent.recorder = pj.AudioMediaRecorder()
        agent.recorder.createRecorder(cfg["record"])
    return ep, acc


def command(agent, acc, line):
    verb, _, arg = line.strip().partition(" ")
    call = agent.call
    if verb == "dial":
        if call is not None:
            raise ValueError("a call is already up")
        call = Call(agent, acc)
        agent.call = call
        call.makeCall(arg.strip(), pj.CallOpParam(True))
    elif verb in ("answer", "decline", "hangup", "hold", "resume", "dtmf"):
        if call is None:
            raise ValueError("no call for %r" % verb)
        op = pj.CallOpParam(True)
        if verb == "answer":
            op.statusCode = 200
            call.answer(op)
        elif verb == "decline":
            op.statusCode = 603
            call.hangup(op)
        elif verb == "hangup":
            call.hangup(op)
        elif verb == "hold":
            call.setHold(op)
        elif verb == "resume":
            op.opt.flag = pj.PJSUA_CALL_UNHOLD
            call.reinvite(op)
        else:
            call.dialDtmf(arg.strip())
    else:
        raise ValueError("unknown command %r" % line.strip())


def main(argv):
    if len(argv) != 3 or argv[1] != "--config":
        sys.stderr.write("usage: pjsua_agent.py --config FILE\n")
        return 2
    with open(argv[2]) as f:
        cfg = json.load(f)
    workdir = os.path.dirname(os.path.abspath(argv[2]))
    agent = Agent(cfg)
    ep, acc = build(agent, workdir)
    emit("ready", sip_port=cfg["sip_port"], rtp_port=cfg["rtp_port"])
    deadline = time.monotonic() + float(cfg.get("max_seconds", 60))
    fd = sys.stdin.fileno()
    buf = b""
    running = True
    while running and time.monotonic() < deadline:
        ep.libHandleEvents(10)
        while select.select([fd], [], [], 0)[0]:
            data = os.read(fd, 4096)
            if not data:
                running = False
                break
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("utf-8", "replace").strip()
                if not text:
                    continue
                if text == "quit":
                    running = False
                    break
                try:
                    command(agent, acc, text)
                except (ValueError, pj.Error) as e:
                    emit("error", message="%s: %s" % (text, getattr(e, "reason", e)))
            if not running:
                break
    # hang up, flush the recording, unregister, shut down
    if agent.call is not None:
        try:
            agent.call.hangup(pj.CallOpParam(True))
        except pj.Error:
            pass
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        ep.libHandleEvents(10)
    agent.recorder = None     # closes the WAV
    agent.player = None
    # Call objects go while pjsua still knows their ids (their destructor
    # asserts on a destroyed library).
    agent.call = None
    del agent.old_calls[:]
    try:
        acc.shutdown()
    except pj.Error:
        pass
    for _ in range(20):
        ep.libHandleEvents(10)
    ep.libDestroy()
    emit("exit")
    _OUT.close()
    # no Python finalisation of the SWIG objects after libDestroy()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
