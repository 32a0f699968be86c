"""Under the MicroPython unix port: seeded mutations of RFC 4475 (or our own) messages never escape UserAgent.receive().

Usage: micropython fuzz_receive.py SUITE_DIR (.dat and .sip files) [ITERATIONS] [SEED]; prints `N passed, N failed`."""

import os
import random
import sys

from _sipfakes import make_ua, drain, RINGING_INVITE

ALPHABET = b" \t\r\n:;,<>\"@%=/\\0123456789abcdefSIPsip\x00\xff\xc3"
def mutate(data):
    data = bytearray(data)
    for _ in range(random.randint(1, 8)):
        op = random.randint(0, 9)
        pos = random.randint(0, len(data))
        if op < 4 and data:
            data[min(pos, len(data) - 1)] = ALPHABET[random.randint(0, len(ALPHABET) - 1)]
        elif op < 7:
            ch = ALPHABET[random.randint(0, len(ALPHABET) - 1)]
            data = data[:pos] + bytes([ch]) * random.randint(1, 4) + data[pos:]
        else:
            data = data[:pos] + data[pos + random.randint(1, 12):]
    return bytes(data)


def main(suite, iterations, seed):
    corpus = [RINGING_INVITE, RINGING_INVITE]
    for name in sorted(os.listdir(suite)):
        if name.endswith(".dat"):
            with open(suite + "/" + name, "rb") as f:
                corpus.append(f.read())
        elif name.endswith(".sip"):          # host_tests/conformance: LF in the file, CRLF on the wire
            with open(suite + "/" + name, "rb") as f:
                corpus.append(f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    random.seed(seed)
    failures = 0
    ua = None
    for n in range(iterations):
        if n % 50 == 0:
            ua = make_ua()
            if n % 100 == 0:
                ua.cfg["calls"]["accept_from"] = "any"
        data = mutate(corpus[random.randint(0, len(corpus) - 1)])
        try:
            ua.receive(data, ("192.0.2.30", 5060), 0)
            drain(ua)
        except Exception as err:          # receive() must never raise
            failures += 1
            print("FAILED: receive raised %r on %r" % (err, data[:200]))
            continue
        event = ua.next_event()
        while event is not None:
            if event["event"] == "error":
                failures += 1
                print("FAILED: %s on %r" % (event["message"], data[:200]))
            event = ua.next_event()
    print("%d mutations" % iterations)
    print("%d passed, %d failed" % (iterations - failures, failures))
    return failures


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000,
                       int(sys.argv[3]) if len(sys.argv) > 3 else 4475) else 0)
