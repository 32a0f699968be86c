"""Native (@micropython.viper) ITU-T G.722 (64 kbit/s, mode 1) kernels; MicroPython only."""

# The kernels are source text compiled when this module is imported, as in
# media/_viper.py (which says why). The two blocks every sub-band sample
# runs (block 4, the predictor; LOGSCL/SCALEL's det) are text templates
# inlined four times: a call between viper functions boxes its arguments,
# and 640 such calls per 20 ms frame would cost more than the arithmetic.
# The expanded source (some 20 KB of text) is only a transient at import.
#
# Imported by g722.py inside try/except: on CPython, or on a MicroPython
# build without native emitters, importing this module fails and the pure
# kernels in media/_g722_py.py are used (the tables and the state layout
# are media/_g722_tables.py's, shared). Every kernel here must stay
# bit-exact with its twin there: g722.py runs a self-check before binding
# these, and host_tests/core/test_media_g722.py compares both on sweeps,
# noise and every code.
#
# Invariants:
# - State and tables are array("h") (heap-allocated, so 2-byte aligned on
#   every target) read with ptr16, which zero-extends: every load goes
#   through `(v ^ 32768) - 32768` to get the signed value back. Stores keep
#   the low 16 bits; every stored value is bounded to int16 by the
#   algorithm (see _g722_py.py), so nothing is lost.
# - Viper ints are machine words (32-bit on ESP32). The largest products
#   are det * qm6 (32064 * 24808 < 2**30) and the QMF sums (12 taps, two
#   sums, |x| <= 32768, sum |coeffs| = 6482: < 2**28), so nothing overflows.
# - `>>` is arithmetic on viper ints, as in Python and in the C reference.
# - PCM in and out is int16 LE through ptr8 (no alignment needed).

import micropython  # noqa: F401  (ImportError on CPython: the pure kernels are used)
from array import array

from intercom.media import _g722_tables as _p

# All constant tables in one array (offsets below), read through one ptr16.
_OFF = {}
_T = array("h")
for _name in ("Q6", "ILN", "ILP", "WL", "RL42", "ILB", "QM4", "QM2", "QM6", "IHN", "IHP", "WH", "RH2"):
    _OFF[_name] = len(_T)
    for _v in getattr(_p, _name):
        _T.append(_v)

# sign-extended 16-bit load
_LD = "((int({}) ^ 32768) - 32768)"

# Block 4 for the band at @B with difference `d` (see _g722_py._block4).
_BLOCK4 = """
        r0 = L(st[@B]) + d
        if r0 > 32767:
            r0 = 32767
        elif r0 < -32768:
            r0 = -32768
        p0 = L(st[@B + 1]) + d
        if p0 > 32767:
            p0 = 32767
        elif p0 < -32768:
            p0 = -32768
        p1 = L(st[@B + 6])
        p2 = L(st[@B + 7])
        a1 = L(st[@B + 4])
        a2 = L(st[@B + 5])
        wd1 = a1 << 2
        if wd1 > 32767:
            wd1 = 32767
        elif wd1 < -32768:
            wd1 = -32768
        if (p0 ^ p1) < 0:
            wd2 = wd1
        else:
            wd2 = 0 - wd1
        if wd2 > 32767:
            wd2 = 32767
        wd3 = (wd2 >> 7) + ((a2 * 32512) >> 15)
        if (p0 ^ p2) < 0:
            wd3 -= 128
        else:
            wd3 += 128
        if wd3 > 12288:
            wd3 = 12288
        elif wd3 < -12288:
            wd3 = -12288
        ap2 = wd3
        ap1 = (a1 * 32640) >> 15
        if (p0 ^ p1) < 0:
            ap1 -= 192
        else:
            ap1 += 192
        if ap1 > 32767:
            ap1 = 32767
        elif ap1 < -32768:
            ap1 = -32768
        wd3 = 15360 - ap2
        if wd3 > 32767:
            wd3 = 32767
        if ap1 > wd3:
            ap1 = wd3
        elif ap1 < 0 - wd3:
            ap1 = 0 - wd3
        wd1 = 128
        if d == 0:
            wd1 = 0
        sz = 0
        di = L(st[@B + 15])
@UPZERO
        if sz > 32767:
            sz = 32767
        elif sz < -32768:
            sz = -32768
        r1 = L(st[@B + 2])
        st[@B + 2] = r0
        st[@B + 3] = r1
        st[@B + 6] = p0
        st[@B + 7] = p1
        st[@B + 4] = ap1
        st[@B + 5] = ap2
        wd1 = r0 + r0
        if wd1 > 32767:
            wd1 = 32767
        elif wd1 < -32768:
            wd1 = -32768
        wd2 = r1 + r1
        if wd2 > 32767:
            wd2 = 32767
        elif wd2 < -32768:
            wd2 = -32768
        spr = ((ap1 * wd1) >> 15) + ((ap2 * wd2) >> 15)
        if spr > 32767:
            spr = 32767
        elif spr < -32768:
            spr = -32768
        st[@B + 1] = sz
        spr += sz
        if spr > 32767:
            spr = 32767
        elif spr < -32768:
            spr = -32768
        st[@B] = spr
"""

# UPZERO + DELAYA + FILTEZ of block 4, unrolled from d6/b6 down to d1/b1:
# each step's new d[k] (the old d[k-1]) is the next step's old d.
_UPZERO_STEP = """
        bp = (L(st[@B + %d]) * 32640) >> 15
        if (di ^ d) < 0:
            bp -= wd1
        else:
            bp += wd1
        if bp > 32767:
            bp = 32767
        elif bp < -32768:
            bp = -32768
        st[@B + %d] = bp
        dn = %s
        st[@B + %d] = dn
        wd2 = dn + dn
        if wd2 > 32767:
            wd2 = 32767
        elif wd2 < -32768:
            wd2 = -32768
        sz += (bp * wd2) >> 15
        di = dn
"""
_UPZERO = "".join(_UPZERO_STEP % (k + 6, k + 6, "d" if k == 10 else "L(st[@B + %d])" % (k - 1), k)
                  for k in range(15, 9, -1))

# LOGSCL/LOGSCH tail and SCALEL/SCALEH: nb (already limited) -> det.
_SCALE = """
        st[@B + 8] = nb
        wd2 = @S - (nb >> 11)
        wd3 = T[$ILB + ((nb >> 6) & 31)]
        if wd2 < 0:
            wd3 = wd3 << (0 - wd2)
        else:
            wd3 = wd3 >> wd2
        st[@B + 9] = wd3 << 2
"""

# Both sub-bands' adaptation, one after the other (they share nothing, so
# the order against the other band's quantizer does not matter): the new
# scale (nbl/nbh -> det) and block 4 with the difference (dl/dh).
_BANDS = """
        b = 0
        d = dl
        nb = nbl
        sh = 8
        while True:
@SCALE
@BLOCK
            if b:
                break
            b = $BAND
            d = dh
            nb = nbh
            sh = 10
"""

# The QMF (24 taps) unrolled with its coefficients as literals (see _qmf):
# the delay line moves by two samples, and the two half sums.
_SHIFT = "\n".join("        st[%d] = st[%d]" % (_p.QMF + k, _p.QMF + k + 2) for k in range(22))


def _qmf(odd):
    # sum of x[2i + odd] * coeff[i] (odd 0) or * coeff[11 - i] (odd 1), as one expression
    c = _p.QMF_COEFFS
    return " + ".join("L(st[%d]) * %d" % (_p.QMF + 2 * i + odd, c[11 - i] if odd else c[i]) for i in range(12))

_ENCODE = """
@micropython.viper
def encode(state, src, dst, n: int):
    st = ptr16(state)
    T = ptr16(_T)
    sp = ptr8(src)
    dp = ptr8(dst)
    i = 0
    j = 0
    while i < n:
@SHIFT
        st[$QMF + 22] = sp[j] | (sp[j + 1] << 8)
        st[$QMF + 23] = sp[j + 2] | (sp[j + 3] << 8)
        j += 4
        sumodd = @QMF0
        sumeven = @QMF1
        xlow = (sumeven + sumodd) >> 14
        xhigh = (sumeven - sumodd) >> 14
        el = xlow - L(st[0])
        if el > 32767:
            el = 32767
        elif el < -32768:
            el = -32768
        wd = el
        if el < 0:
            wd = 0 - (el + 1)
        det = st[9]
        lo = 1
        hi = 30
        while lo < hi:
            mid = (lo + hi) >> 1
            if wd < (T[$Q6 + mid] * det) >> 12:
                hi = mid
            else:
                lo = mid + 1
        if el < 0:
            ilow = T[$ILN + lo]
        else:
            ilow = T[$ILP + lo]
        ril = ilow >> 2
        d = (det * L(T[$QM4 + ril])) >> 15
        nbl = ((st[8] * 127) >> 7) + L(T[$WL + T[$RL42 + ril]])
        if nbl < 0:
            nbl = 0
        elif nbl > 18432:
            nbl = 18432
        dl = d
        eh = xhigh - L(st[$BAND])
        if eh > 32767:
            eh = 32767
        elif eh < -32768:
            eh = -32768
        wd = eh
        if eh < 0:
            wd = 0 - (eh + 1)
        det = st[$BAND + 9]
        mih = 1
        if wd >= (564 * det) >> 12:
            mih = 2
        if eh < 0:
            ihigh = T[$IHN + mih]
        else:
            ihigh = T[$IHP + mih]
        dh = (det * L(T[$QM2 + ihigh])) >> 15
        nbh = ((st[$BAND + 8] * 127) >> 7) + L(T[$WH + T[$RH2 + ihigh]])
        if nbh < 0:
            nbh = 0
        elif nbh > 22528:
            nbh = 22528
@BANDS
        dp[i] = (ihigh << 6) | ilow
        i += 1
"""

_DECODE = """
@micropython.viper
def decode(state, src, dst, n: int):
    st = ptr16(state)
    T = ptr16(_T)
    sp = ptr8(src)
    dp = ptr8(dst)
    i = 0
    j = 0
    while i < n:
        code = sp[i]
        ilow = code & 0x3F
        ihigh = code >> 6
        det = st[9]
        rlow = L(st[0]) + ((det * L(T[$QM6 + ilow])) >> 15)
        if rlow > 16383:
            rlow = 16383
        elif rlow < -16384:
            rlow = -16384
        ril = ilow >> 2
        d = (det * L(T[$QM4 + ril])) >> 15
        nbl = ((st[8] * 127) >> 7) + L(T[$WL + T[$RL42 + ril]])
        if nbl < 0:
            nbl = 0
        elif nbl > 18432:
            nbl = 18432
        dl = d
        det = st[$BAND + 9]
        dh = (det * L(T[$QM2 + ihigh])) >> 15
        rhigh = L(st[$BAND]) + dh
        if rhigh > 16383:
            rhigh = 16383
        elif rhigh < -16384:
            rhigh = -16384
        nbh = ((st[$BAND + 8] * 127) >> 7) + L(T[$WH + T[$RH2 + ihigh]])
        if nbh < 0:
            nbh = 0
        elif nbh > 22528:
            nbh = 22528
@BANDS
@SHIFT
        st[$QMF + 22] = rlow + rhigh
        st[$QMF + 23] = rlow - rhigh
        xout2 = @QMF0
        xout1 = @QMF1
        v = xout1 >> 11
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        dp[j] = v
        dp[j + 1] = v >> 8
        v = xout2 >> 11
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        dp[j + 2] = v
        dp[j + 3] = v >> 8
        j += 4
        i += 1
"""


def _indent(text):
    return "\n".join("    " + line if line else line for line in text.strip("\n").split("\n"))


def _expand(text):
    # Inline the templates, then the constants (viper reads literals, not globals).
    text = text.replace("@SHIFT", _SHIFT).replace("@QMF0", _qmf(0)).replace("@QMF1", _qmf(1))
    bands = _BANDS.strip("\n").replace("@SCALE", _indent(_SCALE.replace("@S", "sh").replace("@B", "b")))
    bands = bands.replace("@BLOCK", _indent(_BLOCK4.replace("@UPZERO", _UPZERO.strip("\n")).replace("@B", "b")))
    text = text.replace("@BANDS", bands)
    consts = dict(_OFF)
    consts["BAND"] = _p.BAND
    consts["QMF"] = _p.QMF
    out = []
    for line in text.split("\n"):
        line = line.replace("L(", "LD(")
        while "LD(" in line:
            # LD(expr) with balanced parentheses -> the sign-extended load
            a = line.index("LD(")
            depth = 0
            b = a + 2
            while True:
                c = line[b]
                if c == "(":
                    depth += 1
                elif c == ")":
                    depth -= 1
                    if depth == 0:
                        break
                b += 1
            line = line[:a] + _LD.format(line[a + 3:b]) + line[b + 1:]
        out.append(line)
    text = "\n".join(out)
    # longest names first, so $QM6 never matches inside another name
    for name in sorted(consts, key=len, reverse=True):
        text = text.replace("$" + name, str(consts[name]))
    return text


exec(_expand(_ENCODE) + _expand(_DECODE))
# The templates and their expander are done: their text must not stay in the heap.
for _name in ("_v", "_OFF", "_LD", "_BLOCK4", "_SCALE", "_BANDS", "_SHIFT", "_ENCODE", "_DECODE",
              "_expand", "_indent", "_qmf", "_UPZERO", "_UPZERO_STEP"):
    del globals()[_name]
del _name
