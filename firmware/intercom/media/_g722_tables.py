"""ITU-T G.722 constants (Tables 7-16), the state layout and its reset: shared by the viper and pure kernels."""

# Kept apart from media/_g722_py.py so that a device running the viper
# kernels never loads the pure ones (their bytecode is heap on a .mpy
# deployment).
#
# State: one array("h") of STATE_LEN int16 (every value below is bounded to
# int16 by the algorithm: saturations, LIMIT blocks, det <= 32064, nb <=
# 22528), laid out per band (low at 0, high at BAND):
#   +0 s  +1 sz  +2 r1  +3 r2  +4 a1  +5 a2  +6 p1  +7 p2  +8 nb  +9 det
#   +10..+15 d1..d6 (quantized differences)  +16..+21 b1..b6 (zero coeffs)
# then the 24-sample QMF delay line at QMF (oldest first).

BAND = 22
QMF = 44
STATE_LEN = 68

# ITU-T G.722 tables (Tables 7-16 of the Recommendation, as in spandsp).
Q6 = (0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714,
      786, 858, 940, 1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0, 0)
ILN = (0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19,
       18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 0)
ILP = (0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47,
       46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 0)
WL = (-60, -30, 58, 172, 334, 538, 1198, 3042)
RL42 = (0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0)
ILB = (2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714,
       2774, 2834, 2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676,
       3756, 3838, 3922, 4008)
QM4 = (0, -20456, -12896, -8968, -6288, -4240, -2584, -1200,
       20456, 12896, 8968, 6288, 4240, 2584, 1200, 0)
QM2 = (-7408, -1616, 7408, 1616)
QM6 = (-136, -136, -136, -136, -24808, -21904, -19008, -16704,
       -14984, -13512, -12280, -11192, -10232, -9360, -8576, -7856,
       -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576,
       -3168, -2776, -2400, -2032, -1688, -1360, -1040, -728,
       24808, 21904, 19008, 16704, 14984, 13512, 12280, 11192,
       10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456,
       4944, 4464, 4008, 3576, 3168, 2776, 2400, 2032,
       1688, 1360, 1040, 728, 432, 136, -432, -136)
QMF_COEFFS = (3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11)
IHN = (0, 1, 0)
IHP = (0, 3, 2)
WH = (0, -214, 798)
RH2 = (2, 1, 2, 1)


def reset(st):
    """Initial state (ITU-T G.722 §6.1 reset): all zero, det 32 (low) and 8 (high)."""
    for i in range(STATE_LEN):
        st[i] = 0
    st[9] = 32
    st[BAND + 9] = 8
