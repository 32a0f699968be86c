"""Pure-Python ITU-T G.722 (64 kbit/s, mode 1) kernels: the reference, and the path without viper."""

# Same functions and arguments as the native twins in media/_g722_viper.py,
# so g722.py binds one module or the other. The arithmetic is the ITU-T
# fixed-point reference as spandsp (and so sippy's libg722, PyPI `G722`,
# and every softphone's copy of it) implements it: bit-exact with that
# encoder's bitstream and decoder's samples (host_tests/core/test_media_g722.py).
#
# The state layout and the tables are in media/_g722_tables.py.

from intercom.media._g722_tables import (BAND, QMF, STATE_LEN, Q6, ILN, ILP, WL, RL42, ILB,  # noqa: F401
                                         QM4, QM2, QM6, QMF_COEFFS, IHN, IHP, WH, RH2, reset)


def _sat(v):
    if v > 32767:
        return 32767
    if v < -32768:
        return -32768
    return v


def _block4(st, b, d):
    # Blocks 4L/4H: reconstruction, pole and zero predictor adaptation, the
    # next prediction s (RECONS, PARREC, UPPOL2, UPPOL1, UPZERO, DELAYA,
    # FILTEP, FILTEZ, PREDIC).
    r0 = _sat(st[b] + d)
    p0 = _sat(st[b + 1] + d)
    p1 = st[b + 6]
    p2 = st[b + 7]
    a1 = st[b + 4]
    a2 = st[b + 5]
    # UPPOL2
    wd1 = _sat(a1 << 2)
    wd2 = wd1 if (p0 ^ p1) < 0 else -wd1
    if wd2 > 32767:
        wd2 = 32767
    wd3 = (wd2 >> 7) + (-128 if (p0 ^ p2) < 0 else 128) + ((a2 * 32512) >> 15)
    if wd3 > 12288:
        wd3 = 12288
    elif wd3 < -12288:
        wd3 = -12288
    ap2 = wd3
    # UPPOL1
    ap1 = _sat((-192 if (p0 ^ p1) < 0 else 192) + ((a1 * 32640) >> 15))
    wd3 = _sat(15360 - ap2)
    if ap1 > wd3:
        ap1 = wd3
    elif ap1 < -wd3:
        ap1 = -wd3
    # UPZERO + DELAYA + FILTEZ, from the oldest difference down
    wd1 = 0 if d == 0 else 128
    sz = 0
    k = b + 15
    while k > b + 9:
        di = st[k]
        bp = _sat((-wd1 if (di ^ d) < 0 else wd1) + ((st[k + 6] * 32640) >> 15))
        st[k + 6] = bp
        dn = d if k == b + 10 else st[k - 1]
        st[k] = dn
        sz += (bp * _sat(dn + dn)) >> 15
        k -= 1
    sz = _sat(sz)
    # DELAYA for r, p, a; FILTEP; PREDIC
    r1 = st[b + 2]
    st[b + 2] = r0
    st[b + 3] = r1
    st[b + 6] = p0
    st[b + 7] = p1
    st[b + 4] = ap1
    st[b + 5] = ap2
    sp = _sat(((ap1 * _sat(r0 + r0)) >> 15) + ((ap2 * _sat(r1 + r1)) >> 15))
    st[b + 1] = sz
    st[b] = _sat(sp + sz)


def _scale(st, b, nb, shift):
    # LOGSCL tail + SCALEL/SCALEH: the new log scale nb and linear det.
    st[b + 8] = nb
    wd1 = (nb >> 6) & 31
    wd2 = shift - (nb >> 11)
    wd3 = (ILB[wd1] << -wd2) if wd2 < 0 else (ILB[wd1] >> wd2)
    st[b + 9] = wd3 << 2


def encode(st, src, dst, n):
    """Encode 2*n int16 LE samples at 16 kHz from src into n G.722 bytes in dst."""
    q6 = Q6
    j = 0
    for i in range(n):
        # transmit QMF: the delay line moves by two samples
        for k in range(QMF, QMF + 22):
            st[k] = st[k + 2]
        u = src[j] | (src[j + 1] << 8)
        st[QMF + 22] = u - ((u & 0x8000) << 1)
        u = src[j + 2] | (src[j + 3] << 8)
        st[QMF + 23] = u - ((u & 0x8000) << 1)
        j += 4
        sumodd = 0
        sumeven = 0
        for k in range(12):
            sumodd += st[QMF + 2 * k] * QMF_COEFFS[k]
            sumeven += st[QMF + 2 * k + 1] * QMF_COEFFS[11 - k]
        xlow = (sumeven + sumodd) >> 14
        xhigh = (sumeven - sumodd) >> 14
        # low band: SUBTRA, QUANTL (the first of q6[1..29] * det above |el|)
        el = _sat(xlow - st[0])
        wd = el if el >= 0 else -(el + 1)
        det = st[9]
        lo = 1
        hi = 30
        while lo < hi:                # q6 rises: a binary search finds the same first index
            mid = (lo + hi) >> 1
            if wd < (q6[mid] * det) >> 12:
                hi = mid
            else:
                lo = mid + 1
        ilow = ILN[lo] if el < 0 else ILP[lo]
        ril = ilow >> 2
        dlow = (det * QM4[ril]) >> 15                     # INVQAL
        nb = ((st[8] * 127) >> 7) + WL[RL42[ril]]          # LOGSCL
        nb = 0 if nb < 0 else (18432 if nb > 18432 else nb)
        _scale(st, 0, nb, 8)
        _block4(st, 0, dlow)
        # high band: SUBTRA, QUANTH, INVQAH, LOGSCH, SCALEH
        eh = _sat(xhigh - st[BAND])
        wd = eh if eh >= 0 else -(eh + 1)
        det = st[BAND + 9]
        mih = 2 if wd >= (564 * det) >> 12 else 1
        ihigh = IHN[mih] if eh < 0 else IHP[mih]
        dhigh = (det * QM2[ihigh]) >> 15
        nb = ((st[BAND + 8] * 127) >> 7) + WH[RH2[ihigh]]
        nb = 0 if nb < 0 else (22528 if nb > 22528 else nb)
        _scale(st, BAND, nb, 10)
        _block4(st, BAND, dhigh)
        dst[i] = (ihigh << 6) | ilow


def decode(st, src, dst, n):
    """Decode n G.722 bytes from src into 2*n int16 LE samples at 16 kHz in dst."""
    j = 0
    for i in range(n):
        code = src[i]
        ilow = code & 0x3F
        ihigh = code >> 6
        # low band: INVQBL, RECONS, LIMIT (the 6-bit decode of mode 1)
        det = st[9]
        rlow = st[0] + ((det * QM6[ilow]) >> 15)
        rlow = -16384 if rlow < -16384 else (16383 if rlow > 16383 else rlow)
        ril = ilow >> 2
        dlow = (det * QM4[ril]) >> 15
        nb = ((st[8] * 127) >> 7) + WL[RL42[ril]]
        nb = 0 if nb < 0 else (18432 if nb > 18432 else nb)
        _scale(st, 0, nb, 8)
        _block4(st, 0, dlow)
        # high band
        det = st[BAND + 9]
        dhigh = (det * QM2[ihigh]) >> 15
        rhigh = st[BAND] + dhigh
        rhigh = -16384 if rhigh < -16384 else (16383 if rhigh > 16383 else rhigh)
        nb = ((st[BAND + 8] * 127) >> 7) + WH[RH2[ihigh]]
        nb = 0 if nb < 0 else (22528 if nb > 22528 else nb)
        _scale(st, BAND, nb, 10)
        _block4(st, BAND, dhigh)
        # receive QMF
        for k in range(QMF, QMF + 22):
            st[k] = st[k + 2]
        st[QMF + 22] = rlow + rhigh
        st[QMF + 23] = rlow - rhigh
        xout1 = 0
        xout2 = 0
        for k in range(12):
            xout2 += st[QMF + 2 * k] * QMF_COEFFS[k]
            xout1 += st[QMF + 2 * k + 1] * QMF_COEFFS[11 - k]
        v = _sat(xout1 >> 11)
        dst[j] = v & 0xFF
        dst[j + 1] = (v >> 8) & 0xFF
        v = _sat(xout2 >> 11)
        dst[j + 2] = v & 0xFF
        dst[j + 3] = (v >> 8) & 0xFF
        j += 4
