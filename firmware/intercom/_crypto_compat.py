"""AES-128 ECB in the shape of MicroPython's `cryptolib.aes(key, 1)`, for CPython (FIPS 197); host only."""

# The SRTP core (media/srtp.py) needs one AES call: encrypt(in_buf, out_buf)
# in ECB mode (MODE_ECB = 1), as MicroPython's cryptolib has it on every
# port. CPython has no cryptolib: this shim gives it the same shape, so the
# simulator and the tests run SRTP under CPython too. Never on a device.

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MODE_ECB = 1


class aes:  # noqa: N801  (cryptolib's spelling)
    """cryptolib.aes(key, MODE_ECB): encrypt(in_buf, out_buf) block by block."""

    def __init__(self, key, mode):
        if mode != MODE_ECB:
            raise ValueError("only MODE_ECB is emulated")
        self._enc = Cipher(algorithms.AES(bytes(key)), modes.ECB()).encryptor()

    def encrypt(self, in_buf, out_buf=None):
        data = self._enc.update(bytes(in_buf))
        if out_buf is None:
            return data
        out_buf[:len(data)] = data
        return None
