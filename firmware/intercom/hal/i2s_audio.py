"""I2S audio for ESP32 boards: non-blocking 20 ms mic/speaker frames, half-duplex bus switching.

The machine.I2S class and Pin factory are handed in by hal/esp32.py, the only
importer of machine. In non-blocking mode (a callback set with I2S.irq())
readinto()/write() return at once and the callback runs from the scheduler
when the buffer is full/emptied; the callbacks here only flip flags.
"""

FRAME_SAMPLES = 160            # 20 ms at 8 kHz: one G.711 frame
FRAME_BYTES = FRAME_SAMPLES * 2  # 16-bit little-endian mono PCM


def mic_to_pcm(src, nbytes, width, step, shift, dst):
    """Convert nbytes of I2S mic words (width 2 or 4 bytes, little-endian)
    to 16-bit PCM in dst, averaging `step` input samples per output sample
    (16 kHz -> 8 kHz is step 2) with a gain of 2**shift. Returns the peak
    absolute sample value. Private stand-in until media/pcm.py provides it."""
    peak = 0
    o = 0
    i = 0
    while i < nbytes:
        acc = 0
        for _ in range(step):
            if width == 4:
                # INMP441: 24 significant bits, MSB-aligned in a 32-bit word
                v = (src[i + 3] << 16) | (src[i + 2] << 8) | src[i + 1]
                if v & 0x800000:
                    v -= 0x1000000
                v >>= 8
            else:
                v = (src[i + 1] << 8) | src[i]
                if v & 0x8000:
                    v -= 0x10000
            acc += v
            i += width
        v = (acc << shift) // step
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        if v > peak:
            peak = v
        elif -v > peak:
            peak = -v
        dst[o] = v & 0xFF
        dst[o + 1] = (v >> 8) & 0xFF
        o += 2
    return peak


def pcm_upsample2(src, dst):
    """8 kHz -> 16 kHz by sample repetition (speaker wired at 16 kHz)."""
    o = 0
    for i in range(0, len(src), 2):
        lo, hi = src[i], src[i + 1]
        dst[o] = lo
        dst[o + 1] = hi
        dst[o + 2] = lo
        dst[o + 3] = hi
        o += 4


class I2sAudio:
    """board.audio: read_frame()/write_frame() move one 20 ms frame without blocking."""

    always_on = False       # I2S runs during calls only (set_in_call)

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
        if mic is not None:
            if mic["rate"] not in (8000, 16000):
                raise ValueError("mic rate must be 8000 or 16000")
            self.mic_step = mic["rate"] // 8000
            self.mic_width = mic["bits"] // 8
            self.rx_buf = bytearray(FRAME_SAMPLES * self.mic_step * self.mic_width)
        if speaker is not None:
            if speaker["rate"] not in (8000, 16000) or speaker["bits"] != 16:
                raise ValueError("speaker must be 16-bit at 8000 or 16000 Hz")
            self.spk_step = speaker["rate"] // 8000
            size = FRAME_BYTES * self.spk_step
            self.tx_bufs = (bytearray(size), bytearray(size))
        self.rx = None
        self.tx = None
        self.rx_full = False
        self.tx_busy = -1            # index of the buffer the driver is playing
        self.tx_pending = -1         # index of the buffer queued behind it
        self.peak = 0                # peak |sample| of the last mic frame
        self.dropped = 0             # speaker frames that found both buffers taken
        self.direction = "speaker" if half_duplex else "both"
        self.running = False
        self._rx_cb = self._rx_done  # bound once: the callbacks must not allocate
        self._tx_cb = self._tx_done

    # --- lifecycle -----------------------------------------------------------------
    def start(self):
        """Open the I2S peripherals (on a shared bus: the current direction only)."""
        if self.running:
            return
        self.running = True
        if self.direction in ("both", "mic"):
            self._open_rx()
        if self.direction in ("both", "speaker"):
            self._open_tx()

    def stop(self):
        self.running = False
        self._close_rx()
        self._close_tx()

    def set_talking(self, direction):
        """Half-duplex boards: "mic" (the visitor is heard, speaker muted) or
        "speaker" (mic muted while the speaker plays). Full duplex ignores it."""
        if direction not in ("mic", "speaker"):
            raise ValueError("direction must be 'mic' or 'speaker'")
        if not self.half_duplex or direction == self.direction:
            return
        self.direction = direction
        if not self.running:
            return
        if direction == "mic":
            self._close_tx()          # one bus: release it before re-opening the other way
            self._open_rx()
        else:
            self._close_rx()
            self._open_tx()

    # --- frames --------------------------------------------------------------------
    def frame_ready(self):
        """True when the microphone finished a 20 ms frame, False while it is
        recording; None when no microphone runs (then the driver's clock paces)."""
        if self.rx is None or not self.running:
            return None
        return self.rx_full

    def read_frame(self, pcm_mv):
        """Fill pcm_mv with 160 samples of 16-bit 8 kHz PCM; False when no frame is ready."""
        if not self.rx_full or self.rx is None:
            return False
        self.peak = mic_to_pcm(self.rx_buf, len(self.rx_buf), self.mic_width, self.mic_step,
                               self.mic.get("shift", 0), pcm_mv)
        self.rx_full = False
        self.rx.readinto(self.rx_buf)     # next 20 ms, in the background
        return True

    def write_frame(self, pcm_mv):
        """Queue one 20 ms frame for the speaker; False if muted or dropped."""
        if self.tx is None:
            return False
        if self.tx_busy < 0:
            idx = 0
        elif self.tx_pending >= 0:
            self.dropped += 1             # the queue is full: the newer frame replaces it
            idx = self.tx_pending
        else:
            idx = 1 - self.tx_busy
        buf = self.tx_bufs[idx]
        if self.spk_step == 1:
            buf[:] = pcm_mv
        else:
            pcm_upsample2(pcm_mv, buf)
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
            self.tx.write(self.tx_bufs[self.tx_busy])
        else:
            self.tx_busy = -1

    # --- peripherals -----------------------------------------------------------------------
    def _open(self, spec, mode, fmt):
        I2S, Pin = self.I2S, self.Pin
        bytes_per_frame = len(self.rx_buf) if mode == I2S.RX else len(self.tx_bufs[0])
        ibuf = spec.get("ibuf", max(4096, bytes_per_frame * 4))
        dev = I2S(spec["i2s_id"], sck=Pin(spec["sck"]), ws=Pin(spec["ws"]), sd=Pin(spec["sd"]),
                  mode=mode, bits=spec["bits"], format=fmt, rate=spec["rate"], ibuf=ibuf)
        return dev

    def _open_rx(self):
        if self.mic is None or not self.mic_ok or self.rx is not None:
            return
        mode = getattr(self.I2S, "PDM_RX") if self.mic["format"] == "pdm" else self.I2S.RX
        self.rx = self._open(self.mic, mode, self.I2S.MONO)
        self.rx_full = False
        self.rx.irq(self._rx_cb)
        self.rx.readinto(self.rx_buf)

    def _open_tx(self):
        if self.speaker is None or self.tx is not None:
            return
        self.tx = self._open(self.speaker, self.I2S.TX, self.I2S.MONO)
        self.tx_busy = self.tx_pending = -1
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
