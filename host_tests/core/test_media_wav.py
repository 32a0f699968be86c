"""WAV (RIFF/WAVE PCM) reader and writer on both runtimes: format checks, looping, crash-safe sizes."""

import struct
import sys

from _helpers import pack16, raises, heap_locked as _heap_locked, tmp_path_for
from intercom.media.wav import WavError, WavReader, WavWriter

MICROPYTHON = sys.implementation.name == "micropython"


def unpack16(buf, n=None):
    n = len(buf) // 2 if n is None else n
    out = []
    for i in range(n):
        u = buf[2 * i] | (buf[2 * i + 1] << 8)
        out.append(u - 65536 if u & 0x8000 else u)
    return out


def fmt_chunk(tag, channels, rate, bits, extra=b""):
    align = channels * bits // 8
    body = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits) + extra
    return b"fmt " + struct.pack("<I", len(body)) + body


def make_wav(name, data, channels=1, rate=8000, bits=16, tag=1, before_fmt=b"", before_data=b"",
             data_size=None, fmt_extra=b""):
    """Write a hand-built WAV file; returns its path."""
    chunks = before_fmt + fmt_chunk(tag, channels, rate, bits, fmt_extra) + before_data
    size = len(data) if data_size is None else data_size
    chunks += b"data" + struct.pack("<I", size) + data
    path = tmp_path_for(name)
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)
    return path


def read_all(path):
    with open(path, "rb") as f:
        return f.read()


def test_writer_header_is_canonical_44_byte_pcm():
    path = tmp_path_for("w.wav")
    w = WavWriter(path)
    w.write(pack16([1, -1, 32767, -32768]), 4)
    w.close()
    raw = read_all(path)
    assert len(raw) == 52
    assert raw[0:4] == b"RIFF" and struct.unpack("<I", raw[4:8])[0] == 44
    assert raw[8:16] == b"WAVEfmt "
    assert struct.unpack("<IHHIIHH", raw[16:36]) == (16, 1, 1, 8000, 16000, 2, 16)
    assert raw[36:40] == b"data" and struct.unpack("<I", raw[40:44])[0] == 8
    assert raw[44:] == bytes(pack16([1, -1, 32767, -32768]))


def test_write_then_read_round_trip_8k_and_16k():
    for rate in (8000, 16000):
        path = tmp_path_for("rt.wav")
        values = [(i * 37) % 65536 - 32768 for i in range(1000)]
        with WavWriter(path, rate) as w:
            buf = pack16(values)
            w.write(buf, 600)
            w.write(memoryview(buf)[1200:], 400)
        r = WavReader(path, loop=False)
        assert r.rate == rate and r.nsamples == 1000
        out = bytearray(2000)
        assert r.read_into(out, 1000) == 1000
        r.close()
        assert unpack16(out) == values


def test_write_only_the_first_nsamples_of_the_buffer():
    path = tmp_path_for("part.wav")
    with WavWriter(path) as w:
        w.write(pack16([5, 6, 7, 8]), 2)
    assert read_all(path)[44:] == bytes(pack16([5, 6]))


def test_reader_rejects_stereo_44100_with_a_clear_message():
    path = make_wav("st.wav", bytes(16), channels=2, rate=44100)
    e = raises(WavError, WavReader, path)
    assert str(e) == "expected mono 16-bit PCM at 8 or 16 kHz, got 2 channels 44100 Hz", str(e)
    assert isinstance(e, ValueError)


def test_reader_rejects_other_widths_formats_and_rates():
    cases = (
        (dict(bits=8), "got 1 channel 8-bit 8000 Hz"),
        (dict(bits=32, tag=3, rate=16000), "got 1 channel 32-bit format 3 16000 Hz"),
        (dict(rate=48000), "got 1 channel 48000 Hz"),
        (dict(tag=6), "got 1 channel format 6 8000 Hz"),      # A-law WAV
    )
    for kw, tail in cases:
        e = raises(WavError, WavReader, make_wav("bad.wav", bytes(16), **kw))
        assert str(e).endswith(tail), str(e)


def test_reader_rejects_non_wav_files():
    path = tmp_path_for("junk.wav")
    with open(path, "wb") as f:
        f.write(b"ID3\x03 not a wave file at all")
    raises(WavError, WavReader, path)
    path = tmp_path_for("nodata.wav")
    body = fmt_chunk(1, 1, 8000, 16)
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)
    raises(WavError, WavReader, path)


def test_reader_skips_other_chunks_and_odd_padding():
    odd = b"LIST" + struct.pack("<I", 5) + b"abcde" + b"\x00"          # odd size, pad byte
    fact = b"fact" + struct.pack("<I", 4) + b"\x10\x00\x00\x00"
    path = make_wav("chunks.wav", bytes(pack16([11, 22, 33])), before_fmt=odd, before_data=fact)
    r = WavReader(path, loop=False)
    out = bytearray(6)
    assert r.read_into(out, 3) == 3
    assert unpack16(out) == [11, 22, 33]
    r.close()


def test_reader_accepts_wave_format_extensible_pcm():
    ext = struct.pack("<HHI", 22, 16, 4) + b"\x01\x00" + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    path = make_wav("ext.wav", bytes(pack16([1, 2])), tag=0xFFFE, fmt_extra=ext)
    r = WavReader(path)
    assert r.rate == 8000 and r.nsamples == 2
    r.close()


def test_reader_loops_at_the_end():
    path = make_wav("loop.wav", bytes(pack16([1, 2, 3, 4, 5])), rate=16000)
    with WavReader(path) as r:
        out = bytearray(24)
        assert r.read_into(out, 12) == 12
        assert unpack16(out) == [1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2]
        assert r.read_into(out, 4) == 4
        assert unpack16(out, 4) == [3, 4, 5, 1]


def test_reader_without_loop_pads_with_silence():
    path = make_wav("once.wav", bytes(pack16([7, 8, 9])))
    r = WavReader(path, loop=False)
    out = bytearray(b"\x55" * 10)
    assert r.read_into(out, 5) == 3
    assert unpack16(out) == [7, 8, 9, 0, 0]
    assert r.read_into(out, 5) == 0
    assert unpack16(out) == [0] * 5
    r.rewind()
    assert r.read_into(out, 2) == 2 and unpack16(out, 2) == [7, 8]
    r.close()
    r.close()


def test_reader_uses_the_file_size_when_the_data_size_was_never_patched():
    for bogus in (0, 0xFFFFFFFF):
        path = make_wav("killed.wav", bytes(pack16([4, 5, 6])), data_size=bogus)
        r = WavReader(path, loop=False)
        assert r.nsamples == 3
        r.close()


def test_empty_file_reads_silence_even_when_looping():
    path = make_wav("empty.wav", b"")
    r = WavReader(path)
    out = bytearray(b"\x55" * 8)
    assert r.read_into(out, 4) == 0 and out == bytearray(8)
    r.close()


def test_writer_patches_sizes_periodically_so_a_killed_process_leaves_a_valid_file():
    path = tmp_path_for("live.wav")
    w = WavWriter(path, sync_every=3)
    frame = pack16(list(range(160)))
    for _ in range(7):
        w.write(frame, 160)
    # Not closed (as if killed): the header covers the 6 frames synced so far.
    raw = read_all(path)
    assert struct.unpack("<I", raw[40:44])[0] == 6 * 320
    assert struct.unpack("<I", raw[4:8])[0] == 36 + 6 * 320
    r = WavReader(path, loop=False)
    assert r.nsamples == 6 * 160
    r.close()
    w.close()
    assert struct.unpack("<I", read_all(path)[40:44])[0] == 7 * 320
    w.close()


def test_writer_rejects_other_rates():
    raises(ValueError, WavWriter, tmp_path_for("x.wav"), 44100)


def test_steady_state_read_and_write_allocate_nothing():
    src = make_wav("src.wav", bytes(pack16(list(range(-500, 500)))))   # 1000 samples: wraps mid-frame
    dst = tmp_path_for("dst.wav")
    r = WavReader(src)
    w = WavWriter(dst, sync_every=10)
    buf = bytearray(320)
    r.read_into(buf, 160)
    r.read_into(buf, 160)
    w.write(buf, 160)
    st = (r, w, buf)

    def frames():
        r, w, buf = st
        for _ in range(40):
            r.read_into(buf, 160)
            w.write(buf, 160)
    _heap_locked(frames)
    r.close()
    w.close()
    back = WavReader(dst, loop=False)
    assert back.nsamples == 41 * 160
    out = bytearray(2 * back.nsamples)
    back.read_into(out, back.nsamples)
    back.close()
    got = unpack16(out)
    want = [(i % 1000) - 500 for i in range(160, 160 + 41 * 160)]
    assert got == want
