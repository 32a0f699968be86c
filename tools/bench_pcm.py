"""PCM kernel timing per 20 ms frame, viper vs pure Python (not a test); run under the MicroPython unix port.

    MICROPYPATH=firmware .venv/bin/micropython tools/bench_pcm.py

Prints the best of several runs in microseconds per frame for each kernel
that media/pcm.py binds to a viper twin (each includes one lambda call).
Host numbers show the ratio only; this does not measure an ESP32.
"""

from bench_common import best_us
from intercom.media import pcm

FRAME = 160     # 8 kHz samples per 20 ms


def cases():
    words = bytearray(4 * 2 * FRAME)
    x = 7
    for i in range(len(words)):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        words[i] = (x >> 16) & 0xFF
    mic16 = bytearray(4 * FRAME)
    pcm.py_i2s32_to_16(words, mic16, 2 * FRAME, 0)
    mic8 = bytearray(2 * FRAME)
    spk16 = bytearray(4 * FRAME)
    stereo = bytearray(8 * FRAME)
    i2s = bytearray(8 * FRAME)
    gain = bytearray(mic8)
    d_fast, d_slow = pcm.Decimator(FRAME), pcm.Decimator(FRAME, pcm.py_decimate2)
    i_fast, i_slow = pcm.Interpolator(FRAME), pcm.Interpolator(FRAME, pcm.py_interpolate2)
    return (
        ("i2s32_to_16 (320 words, shift 0)", lambda: pcm.i2s32_to_16(words, mic16, 2 * FRAME),
         lambda: pcm.py_i2s32_to_16(words, mic16, 2 * FRAME, 0)),
        ("i2s32_to_16 (320 words, shift 2)", lambda: pcm.i2s32_to_16(words, mic16, 2 * FRAME, 2),
         lambda: pcm.py_i2s32_to_16(words, mic16, 2 * FRAME, 2)),
        ("decimate 16k->8k (320 -> 160)", lambda: d_fast.process(mic16, mic8, FRAME),
         lambda: d_slow.process(mic16, mic8, FRAME)),
        ("interpolate 8k->16k (160 -> 320)", lambda: i_fast.process(mic8, spk16, FRAME),
         lambda: i_slow.process(mic8, spk16, FRAME)),
        ("apply_gain (160)", lambda: pcm.apply_gain(gain, FRAME, 300),
         lambda: pcm.py_apply_gain(gain, FRAME, 300)),
        ("peak16 (160)", lambda: pcm.peak16(mic8, FRAME), lambda: pcm.py_peak16(mic8, FRAME)),
        ("mono_to_stereo16 (320)", lambda: pcm.mono_to_stereo16(spk16, stereo, 2 * FRAME),
         lambda: pcm.py_mono_to_stereo16(spk16, stereo, 2 * FRAME)),
        ("pcm16_to_i2s32 (320)", lambda: pcm.pcm16_to_i2s32(spk16, i2s, 2 * FRAME),
         lambda: pcm.py_pcm16_to_i2s32(spk16, i2s, 2 * FRAME)),
    )


def main():
    print("pcm kernels, us per 20 ms frame (IMPLEMENTATION = %s)" % pcm.IMPLEMENTATION)
    print("%-34s %10s %10s %8s" % ("kernel", pcm.IMPLEMENTATION, "pure", "speedup"))
    for name, fast, slow in cases():
        f = best_us(fast)
        s = best_us(slow)
        print("%-34s %10.1f %10.1f %7.1fx" % (name, f, s, s / f if f else 0.0))


main()
