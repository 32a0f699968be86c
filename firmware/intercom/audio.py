"""Audio policy: which call owns the stream, local tones, DTMF digits and the door PIN (pure; RFC 4733 digits)."""

from intercom.ticks import ticks_add, ticks_diff, earliest
from intercom.media import g711
from intercom.media.session import MediaSession, FRAME_SAMPLES
from intercom.media.tones import ToneGenerator
from intercom.door import DoorLock

BUSY_TONE_MS = 3000
LOOPING = ("ring", "ringback", "call_waiting")     # tones that last until the state changes
ANSWERED = ("connected", "on_hold", "remote_hold")  # confirmed dialogs: the only ones digits count in


class AudioControl:
    """Runs one MediaSession for the call that should be heard and the
    speaker/line tones around it; turns DTMF into door-relay actions.

    frame(now, audio) is the 20 ms path and allocates nothing; everything
    else runs on call events and allocates freely."""

    # Class attributes, so that a G.711 phone without SRTP pays no slot for
    # them: wide (G.722 frames of 20 ms at 16 kHz in mic_mv/spk_mv, switched
    # by media/wideband.py); door.require_secure, set per instance when on.
    wide = False
    require_secure = False
    failed_call = None      # a call whose stream could not be built, until App.tick hangs it up

    def __init__(self, cfg, board, emit, random_bytes, cname):
        self.board = board
        self.emit = emit
        # media.srtp on: the session class that also runs SRTP (loaded only then)
        srtp = cfg["media"].get("srtp", "off") != "off"
        if srtp:
            from intercom.media.srtp_stream import SrtpSession
            self.session = SrtpSession(random_bytes, cname)
        else:
            self.session = MediaSession(random_bytes, cname)
        self.speaker_tone = ToneGenerator(8000)
        self.line_tone = ToneGenerator(8000)       # heard by the far end (door confirm/reject)
        self.mic = bytearray(2 * FRAME_SAMPLES)
        self.spk = bytearray(2 * FRAME_SAMPLES)
        self.mic_mv = memoryview(self.mic)
        self.spk_mv = memoryview(self.spk)
        door = cfg["door"]
        # the board's reset-surviving store (RTC memory) keeps the lockout
        self.door = DoorLock(door["pin"], door["pulse_ms"], door["max_attempts"], door["lockout_s"],
                             store=board)
        self.tone_until = None
        # door.require_secure (null: true with media.srtp on): DTMF that came
        # in clear never reaches the DoorLock (an instance slot only when on)
        secure = door.get("require_secure")
        if srtp if secure is None else secure:
            self.require_secure = True
        self.media = {}          # call id -> last media event
        self.call_states = {}    # call id -> state
        self.sources = {}        # call id -> the RTP source it had when it lost the stream
        self.stream_key = None
        self.frames = 0
        self.mute = False        # the stream's call is on our hold: send silence
        # calls.media_timeout (s, 0 = off): a connected call with no RTP or
        # RTCP for this long has a dead peer (App.tick hangs it up)
        self.media_timeout_ms = cfg["calls"].get("media_timeout", 30) * 1000
        # boards with I2S (hal/esp32.py) are told which directions to run: see _sync_device
        self.set_device = getattr(board, "set_audio", None)
        self.device_speaker = False
        self.device_mic = False

    # --- events from the SIP side ------------------------------------------------
    def on_call_event(self, event, now):
        """Follow a `call` event; returns media statistics for an ended call."""
        cid = event["id"]
        state = event["state"]
        stats = None
        session = self.session
        if session.active and session.call_id == cid and self.call_states.get(cid) != state:
            session.restart_clock()      # e.g. resumed: silence counts from now, not from the hold
        if state == "ended":
            self.call_states.pop(cid, None)
            self.media.pop(cid, None)
            self.sources.pop(cid, None)
            if self.session.active and self.session.call_id == cid:
                stats = self.session.stop()
                self.stream_key = None
            if event.get("reason") == "busy":
                self._tone("busy", now, BUSY_TONE_MS)
        else:
            self.call_states[cid] = state
        self._choose_stream()
        # on our hold the peer may still get a stream (sendonly), but never the microphone
        self.mute = self.session.active and self.call_states.get(self.session.call_id) == "on_hold"
        self._choose_tone(event, now)
        self._sync_device()
        return stats

    def on_media_event(self, event):
        self.media[event["id"]] = event
        self._choose_stream()
        self._sync_device()

    def _choose_stream(self):
        """The stream follows the call that is connected (else held, else early media).

        The session takes RTP only from the chosen call's SDP address (or a
        NAT latch from its signalling peer's IP); the other calls' media
        addresses are excluded even from that latch, so a held call's late
        packets never feed or steer the new call's stream."""
        best = None
        for rank in ("connected", "remote_hold", "on_hold", "ringing_out"):
            for cid, state in self.call_states.items():
                if state == rank and cid in self.media:
                    best = cid
                    break
            if best is not None:
                break
        session = self.session
        if session.active and session.call_id != best and session.source is not None:
            self.sources[session.call_id] = session.source
        if best is None:
            if session.active:
                session.stop()
            self.stream_key = None
            self._sync_rate()
            return
        m = self.media[best]
        d = m["direction"]
        send = d in ("sendrecv", "sendonly")
        recv = d in ("sendrecv", "recvonly")
        peer_ip = m.get("peer_ip")
        # pt/dtmf_pt: the peer's numbers (we send with them); recv_*: our SDP's (we accept them)
        pts = (m["pt"], m.get("dtmf_pt"), m.get("recv_pt"), m.get("recv_dtmf_pt"), m.get("codec"))
        ptime = m.get("ptime", 20)      # the negotiated send packetization (ms)
        key = (best, m["address"], m["port"], pts, d, peer_ip, ptime)
        if key != self.stream_key:
            try:
                if session.active and session.call_id == best:
                    session.update(m["address"], m["port"], pts[0], pts[1], send, recv, peer_ip,
                                   pts[2], pts[3], pts[4], ptime)
                else:
                    if session.active:
                        session.stop()
                    session.start(best, m["address"], m["port"], pts[0], pts[1], send, recv, peer_ip,
                                  pts[2], pts[3], pts[4], ptime)
            except Exception as err:
                # No stream (a MemoryError building it on a small heap): never
                # a silent call. App.tick hangs it up, reason "media_failed".
                self.board.log("error", "call %s: no audio stream: %s %s" % (best, type(err).__name__, err))
                if session.active:
                    session.stop()
                self.stream_key = None
                self.media.pop(best, None)
                self.failed_call = best
                return
            self.stream_key = key
        session.set_rtcp(m.get("rtcp_port"), m.get("rtcp_address"))     # a=rtcp (RFC 3605)
        keys = m.get("keys")            # SDES keys (RFC 4568): App reports the event without them
        if keys is not None or session.srtp_on:
            session.set_srtp(keys)      # SrtpSession only (media.srtp on makes the keys)
        self._sync_rate()
        excluded = []
        for cid, other in self.media.items():
            if cid != best:
                excluded.append((other["address"], other["port"]))
                if cid in self.sources:
                    excluded.append(self.sources[cid])
        session.excluded = tuple(excluded)

    def _sync_rate(self):
        # G.722 streams (and the first narrowband one after them) only: see media/wideband.py
        if self.wide or (self.session.active and self.session.wideband):
            from intercom.media import wideband
            wideband.sync(self)

    def _choose_tone(self, event, now):
        """Ring while a call rings here, ringback while the far end alerts
        (unless it sends early media), a beep for a waiting call."""
        state = event["state"]
        if state == "incoming":
            self._tone("call_waiting" if event.get("waiting") else "ring", now, None)
        elif state == "ringing_out" and not event.get("early_media"):
            self._tone("ringback", now, None)
        elif self.speaker_tone.active and self.speaker_tone.name in LOOPING:
            if "incoming" not in self.call_states.values():
                self.speaker_tone.stop()

    def _tone(self, name, now, duration_ms):
        self.speaker_tone.start(name)
        self.tone_until = ticks_add(now, duration_ms) if duration_ms else None

    # --- DTMF and the door --------------------------------------------------------
    def on_digit(self, digit, call_id, now, via, secure=False):
        """A digit from RFC 4733 (secure: the stream is SRTP) or SIP INFO
        (secure: the caller says whether the signalling was TLS)."""
        if self.call_states.get(call_id) not in ANSWERED:
            # one rule for RFC 4733 and INFO digits: only in a confirmed
            # dialog (early media cannot try PINs before anybody answered)
            self.board.log("info", "DTMF %s before the answer ignored" % via)
            return
        event = {"event": "dtmf", "digit": digit, "id": call_id, "via": via}
        if self.require_secure and not (secure or via == "rfc4733" and self.session.srtp_on):
            # door.require_secure: a PIN seen in clear may have been read (or
            # forged) on the LAN; it is reported but never tried on the door
            event["secure"] = False
            self.emit(event)
            return
        self.emit(event)
        result = self.door.on_digit(digit, now)
        if result == "open":
            # DoorLock times the pulse (tick() closes it); the board's own
            # max_on_ms only guards against a stuck relay
            self.board.set_relay(True)
            self.line_tone.start("door_open")
        elif result == "wrong":
            self.line_tone.start("door_reject")
        elif result == "locked":
            self.line_tone.start("lockout")
            self.emit({"event": "error", "message": "door PIN locked out after too many wrong PINs"})

    def send_digits(self, digits):
        if not self.session.send_digits(digits):
            self.emit({"event": "error", "message": "no call with telephone-event to send DTMF on"})

    # --- timers ----------------------------------------------------------------------
    def next_deadline(self, now):
        deadline = earliest(self.door.relay_deadline(), self.tone_until, now)
        return earliest(deadline, self._media_deadline(), now)

    def _media_deadline(self):
        # only a connected call: on hold the SIP side probes with OPTIONS instead
        session = self.session
        if not session.active or self.call_states.get(session.call_id) != "connected":
            return None
        return session.media_deadline(self.media_timeout_ms)

    def media_timed_out(self, now):
        """The id of the connected call that heard nothing (no RTP, no RTCP
        from its accepted source) for calls.media_timeout, else None. Its
        clock then starts over, so a call that survives is asked again one
        timeout later, not every tick."""
        deadline = self._media_deadline()
        if deadline is None or ticks_diff(now, deadline) < 0:
            return None
        self.session.restart_clock()
        self.session.start_clock(now)
        return self.session.call_id

    def tick(self, now):
        if self.session.active:
            self.session.start_clock(now)     # silence counts from the first tick of a stream
        if self.door.tick(now) == "close":
            self.board.set_relay(False)
        if self.tone_until is not None and ticks_diff(now, self.tone_until) >= 0:
            self.tone_until = None
            self.speaker_tone.stop()
        self._sync_device()

    # --- the 20 ms path ----------------------------------------------------------------
    def running(self):
        return self.session.active or self.speaker_tone.active or self.line_tone.active

    def frame(self, audio):
        """One frame each way; returns the RTP datagram to send (or None)."""
        # masked: this counter outlives calls, and past 2**30 it would be a
        # heap-allocated long on a 31-bit port (after ~248 days of audio)
        self.frames = (self.frames + 1) & 0x3FFFFFFF
        self._sync_device()
        # 160 samples at 8 kHz each way, or 320 at 16 kHz in a G.722 call
        # (media/wideband.py swaps the views; the device is told by the
        # buffer's length, 640 bytes, so nothing goes through 8 kHz)
        mic = self.mic_mv
        spk = self.spk_mv
        size = len(mic)
        n = size >> 1
        if audio is not None:
            audio.read_frame(mic)
        if self.mute:
            g711.fill(mic, 0, 0, size)      # held: silence, not the door's microphone
        if self.line_tone.active:
            self.line_tone.mix_into(mic, n)
        packet = self.session.next_packet(mic)
        if self.session.play(spk) < 0:
            g711.fill(spk, 0, 0, size)      # no stream: silence (viper on the device)
        if self.speaker_tone.active:
            self.speaker_tone.mix_into(spk, n)
        if audio is not None:
            audio.write_frame(spk)
        return packet

    # --- the board's audio device (issue 10 item 8) -------------------------------------
    def sending(self):
        """True while the stream sends media (the microphone is heard); not
        on local hold, where the far end gets silence, never the mic."""
        session = self.session
        return (session.active and session.send_enabled
                and self.call_states.get(session.call_id) != "on_hold")

    def _sync_device(self):
        """Tell the board which I2S directions to run, on a change only: the
        speaker whenever audio runs (calls, ring, ringback, early media,
        busy/error tones), the microphone only while media is sent.
        Compares two flags: allocation-free in the steady state."""
        speaker = self.running()
        mic = speaker and self.sending()
        if speaker == self.device_speaker and mic == self.device_mic:
            return
        self.device_speaker = speaker
        self.device_mic = mic
        if self.set_device is not None:
            self.set_device(speaker, mic)

    def on_rtp(self, data, addr, now):
        session = self.session
        if session.receive(data, addr, now) and session.digit is not None:
            self.on_digit(session.digit, session.call_id, now, "rfc4733")
