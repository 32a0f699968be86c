"""Fake `neopixel` (the esp32 port's frozen module) for host tests: NeoPixel(pin, n, bpp=3, timing=1)."""


class NeoPixel:
    ORDER = (1, 0, 2, 3)

    def __init__(self, pin, n, bpp=3, timing=1):
        self.pin = pin
        self.n = n
        self.bpp = bpp
        self.pixels = [(0,) * bpp for _ in range(n)]
        self.shown = []        # every frame written: a list of colour tuples

    def __len__(self):
        return self.n

    def __setitem__(self, i, value):
        self.pixels[i] = tuple(value)

    def __getitem__(self, i):
        return self.pixels[i]

    def fill(self, value):
        for i in range(self.n):
            self.pixels[i] = tuple(value)

    def write(self):
        self.shown.append(list(self.pixels))
