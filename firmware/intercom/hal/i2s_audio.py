"""I2S audio for ESP32 boards: non-blocking 20 ms mic/speaker frames, half-duplex bus switching.

The machine.I2S class and Pin factory are handed in by hal/esp32.py, the only
importer of machine. In non-blocking mode (a callback set with I2S.irq())
readinto()/write() return at once and the callback runs from the scheduler
when the buffer is full/emptied; the callbacks here only flip flags.
"""

from intercom.media import pcm, g711

FRAME_SAMPLES = 160            # 20 ms at 8 kHz: one G.711 frame
FRAME_BYTES = FRAME_SAMPLES * 2  # 16-bit little-endian mono PCM
MAX_WORD_SHIFT = 8             # gain taken from the low bits of a 24-in-32 mic word
MAX_GAIN_SHIFT = 8             # further gain by multiplication (apply_gain, +48 dB)


class I2sAudio:
    """board.audio: read_frame()/write_frame() move one 20 ms frame without blocking."""

    always_on = False       # I2S runs while the app's audio runs (Esp32Board.set_audio)

    def __init__(self, I2S, Pin, mic, speaker, half_duplex, log):
        self.I2S = I2S
        self.Pin = Pin
        self.mic = mic
        self.speaker = speaker
        self.half_duplex = half_duplex
        self.log = log
        self.sample_rate_mic = mic["rate"] if mic else None
        self.mic_ok = mic is not None
        if mic is not None and mic["format"] == "pdm" and not hasattr(I2S, "PDM_RX"):
            # machine.I2S has no PDM receive mode (micropython PR #14176 is unmerged)
            self.mic_ok = False
            log("warn", "audio: this MicroPython build cannot read a PDM microphone; mic disabled")
        self.mic16 = None            # 16 kHz 16-bit samples between word conversion and decimation
        self.decimator = None
        self.interpolator = None
        self.mic_shift = 0           # i2s32_to_16 shift (32-bit words only)
        self.mic_gain = 0            # apply_gain factor in Q8, 0 = none
        if mic is not None:
            if mic["rate"] not in (8000, 16000):
                raise ValueError("mic rate must be 8000 or 16000")
            self.mic_step = mic["rate"] // 8000
            self.mic_width = mic["bits"] // 8
            self.rx_buf = bytearray(FRAME_SAMPLES * self.mic_step * self.mic_width)
            shift = mic.get("shift", 0)
            if self.mic_width == 4:
                # INMP441: 24 significant bits; shifts up to 8 take lower bits, not just gain
                self.mic_shift = min(shift, MAX_WORD_SHIFT)
                shift -= self.mic_shift
            if shift > 0:
                self.mic_gain = 256 << min(shift, MAX_GAIN_SHIFT)
            if self.mic_step == 2:
                self.decimator = pcm.Decimator(FRAME_SAMPLES)
                if self.mic_width == 4:
                    self.mic16 = bytearray(FRAME_BYTES * 2)
        if speaker is not None:
            if speaker["rate"] not in (8000, 16000) or speaker["bits"] != 16:
                raise ValueError("speaker must be 16-bit at 8000 or 16000 Hz")
            self.spk_step = speaker["rate"] // 8000
            size = FRAME_BYTES * self.spk_step
            self.tx_bufs = (bytearray(size), bytearray(size))
            if self.spk_step == 2:
                self.interpolator = pcm.Interpolator(FRAME_SAMPLES)
        # Wideband (G.722) calls: read_frame/write_frame get 640-byte frames
        # (320 samples at 16 kHz). set_wideband() makes what they need once.
        self.wideband = False
        self.mic_up = None           # 8 kHz mic in a wideband call: 8 -> 16 kHz ...
        self.narrow = None           # ... through this 8 kHz frame
        self.tx_wide = None          # 16 kHz speaker buffers for a board whose speaker rate is 8000
        self.txb = self.tx_bufs if speaker is not None else None    # the pair the speaker plays from
        self.rx = None
        self.tx = None
        self.rx_full = False
        self.tx_busy = -1            # index of the buffer the driver is playing
        self.tx_pending = -1         # index of the buffer queued behind it
        self.peak = 0                # peak |sample| of the last mic frame
        self.dropped = 0             # speaker frames that found both buffers taken
        self.direction = "speaker" if half_duplex else "both"
        self.running = False         # some direction is wanted (set_streams)
        self.want_speaker = False
        self.want_mic = False
        self._rx_cb = self._rx_done  # bound once: the callbacks must not allocate
        self._tx_cb = self._tx_done

    # --- lifecycle -----------------------------------------------------------------
    def set_streams(self, speaker, mic):
        """Run the speaker and/or the microphone (the board calls this when the
        app's audio starts, stops, or starts or stops sending). Full duplex:
        each direction on its own peripheral. On a shared bus the direction
        chosen by set_talking() runs, but "mic" only while the mic is wanted:
        otherwise the speaker has the bus."""
        self.want_speaker = bool(speaker)
        self.want_mic = bool(mic)
        self.running = self.want_speaker or self.want_mic
        self._apply()

    def start(self):
        """Open both directions (on a shared bus: the current direction only)."""
        self.set_streams(True, True)

    def stop(self):
        self.set_streams(False, False)

    def set_talking(self, direction):
        """Half-duplex boards: "mic" (the visitor is heard, speaker muted) or
        "speaker" (mic muted while the speaker plays). Full duplex ignores it."""
        if direction not in ("mic", "speaker"):
            raise ValueError("direction must be 'mic' or 'speaker'")
        if not self.half_duplex or direction == self.direction:
            return
        self.direction = direction
        self._apply()

    def _apply(self):
        # close before open: on a shared bus one peripheral must be released
        # before the other direction takes the same I2S id
        if self.half_duplex:
            mic = self.want_mic and self.direction == "mic"
            speaker = self.running and not mic
        else:
            mic = self.want_mic
            speaker = self.want_speaker
        if not mic:
            self._close_rx()
        if not speaker:
            self._close_tx()
        if mic:
            self._open_rx()
        if speaker:
            self._open_tx()

    def set_wideband(self, wide):
        """A wideband (G.722) stream starts or ends (AudioControl, on events):
        16 kHz frames each way, the microphone without the 8 kHz decimation,
        the speaker run at 16 kHz (reopened now if it is open)."""
        wide = bool(wide)
        if wide == self.wideband:
            return
        self.wideband = wide
        if wide and self.mic is not None and self.mic_step == 1 and self.mic_up is None:
            self.mic_up = pcm.Interpolator(FRAME_SAMPLES)
            self.narrow = bytearray(FRAME_BYTES)
        if wide and self.speaker is not None and self.spk_step == 1 and self.tx_wide is None:
            self.tx_wide = (bytearray(2 * FRAME_BYTES), bytearray(2 * FRAME_BYTES))
        if self.tx is not None:
            self._close_tx()
            self._apply()

    # --- frames --------------------------------------------------------------------
    def frame_ready(self):
        """True when the microphone finished a 20 ms frame, False while it is
        recording; None when no microphone runs (then the driver's clock paces)."""
        if self.rx is None or not self.running:
            return None
        return self.rx_full

    def read_frame(self, pcm_mv):
        """Fill pcm_mv with 160 samples of 16-bit 8 kHz PCM, or 320 at 16 kHz
        when it is 640 bytes long (wideband); False when no frame is ready."""
        if not self.rx_full or self.rx is None:
            return False
        if len(pcm_mv) < FRAME_BYTES:
            raise ValueError("frame buffer smaller than 320 bytes")
        if len(pcm_mv) >= 2 * FRAME_BYTES:
            return self._read_wide(pcm_mv)
        # 32-bit words -> 16-bit (i2s32_to_16), 16 kHz -> 8 kHz (half-band
        # Decimator), optional gain, peak; all into preallocated buffers.
        if self.mic_width == 4:
            if self.decimator is None:
                pcm.i2s32_to_16(self.rx_buf, pcm_mv, FRAME_SAMPLES, self.mic_shift)
            else:
                pcm.i2s32_to_16(self.rx_buf, self.mic16, 2 * FRAME_SAMPLES, self.mic_shift)
                self.decimator.process(self.mic16, pcm_mv, FRAME_SAMPLES)
        elif self.decimator is None:
            pcm_mv[:FRAME_BYTES] = self.rx_buf
        else:
            self.decimator.process(self.rx_buf, pcm_mv, FRAME_SAMPLES)
        if self.mic_gain:
            pcm.apply_gain(pcm_mv, FRAME_SAMPLES, self.mic_gain)
        self.peak = pcm.peak16(pcm_mv, FRAME_SAMPLES)
        self.rx_full = False
        self.rx.readinto(self.rx_buf)     # next 20 ms, in the background
        return True

    def _read_wide(self, pcm_mv):
        # 20 ms at 16 kHz: a 16 kHz microphone goes straight to the encoder
        # (no 8 kHz round trip); an 8 kHz one is interpolated.
        if self.mic_step == 2:
            out = pcm_mv
            n = 2 * FRAME_SAMPLES
        else:
            out = self.narrow
            n = FRAME_SAMPLES
        if self.mic_width == 4:
            pcm.i2s32_to_16(self.rx_buf, out, n, self.mic_shift)
        else:
            g711.copy(out, 0, self.rx_buf, 0, 2 * n)
        if self.mic_gain:
            pcm.apply_gain(out, n, self.mic_gain)
        self.peak = pcm.peak16(out, n)
        if out is not pcm_mv:
            self.mic_up.process(out, pcm_mv, FRAME_SAMPLES)
        self.rx_full = False
        self.rx.readinto(self.rx_buf)
        return True

    def write_frame(self, pcm_mv):
        """Queue one 20 ms frame for the speaker (640 bytes: 16 kHz, see
        set_wideband); False if muted or dropped."""
        if self.tx is None:
            return False
        if len(pcm_mv) < FRAME_BYTES:
            raise ValueError("frame buffer smaller than 320 bytes")
        if self.tx_busy < 0:
            idx = 0
        elif self.tx_pending >= 0:
            self.dropped = (self.dropped + 1) & 0x3FFFFFFF   # full queue: the newer frame replaces it
            idx = self.tx_pending
        else:
            idx = 1 - self.tx_busy
        buf = self.txb[idx]
        if len(pcm_mv) >= 2 * FRAME_BYTES:
            g711.copy(buf, 0, pcm_mv, 0, 2 * FRAME_BYTES)               # wideband: 16 kHz as is
        elif self.interpolator is None:
            buf[:] = pcm_mv
        else:
            self.interpolator.process(pcm_mv, buf, FRAME_SAMPLES)   # 8 -> 16 kHz, half-band
        if self.tx_busy < 0:
            self.tx_busy = idx
            self.tx.write(buf)
        else:
            self.tx_pending = idx
        return True

    # --- I2S callbacks (scheduler context: flags only) -----------------------------------
    def _rx_done(self, _i2s):
        self.rx_full = True

    def _tx_done(self, _i2s):
        if self.tx_pending >= 0:
            self.tx_busy = self.tx_pending
            self.tx_pending = -1
            self.tx.write(self.txb[self.tx_busy])
        else:
            self.tx_busy = -1

    # --- peripherals -----------------------------------------------------------------------
    def _open(self, spec, mode, fmt):
        I2S, Pin = self.I2S, self.Pin
        bytes_per_frame = len(self.rx_buf) if mode == I2S.RX else len(self.txb[0])
        ibuf = spec.get("ibuf", max(4096, bytes_per_frame * 4))
        rate = spec["rate"]
        if mode == I2S.TX and self.wideband:
            rate = 16000         # a G.722 call: the speaker plays its 16 kHz as is
        dev = I2S(spec["i2s_id"], sck=Pin(spec["sck"]), ws=Pin(spec["ws"]), sd=Pin(spec["sd"]),
                  mode=mode, bits=spec["bits"], format=fmt, rate=rate, ibuf=ibuf)
        return dev

    def _open_rx(self):
        if self.mic is None or not self.mic_ok or self.rx is not None:
            return
        mode = getattr(self.I2S, "PDM_RX") if self.mic["format"] == "pdm" else self.I2S.RX
        self.rx = self._open(self.mic, mode, self.I2S.MONO)
        self.rx_full = False
        if self.decimator is not None:
            self.decimator.reset()        # a new stream: no history from the last one
        self.rx.irq(self._rx_cb)
        self.rx.readinto(self.rx_buf)

    def _open_tx(self):
        if self.speaker is None or self.tx is not None:
            return
        self.txb = self.tx_wide if self.wideband and self.tx_wide is not None else self.tx_bufs
        self.tx = self._open(self.speaker, self.I2S.TX, self.I2S.MONO)
        self.tx_busy = self.tx_pending = -1
        if self.interpolator is not None:
            self.interpolator.reset()
        self.tx.irq(self._tx_cb)

    def _close_rx(self):
        if self.rx is not None:
            self.rx.deinit()
            self.rx = None
        self.rx_full = False

    def _close_tx(self):
        if self.tx is not None:
            self.tx.deinit()
            self.tx = None
        self.tx_busy = self.tx_pending = -1
