"""``python -m bench.kdf BUDGET SIZE...``: time Sancus module-key derivation, print JSON.

Run in a child process so that ``AUTHEX_PURE_PYTHON=1`` (read once, when
``authex.crypto.spongent_accel`` is first imported) selects the pure-Python SPONGENT; the parent
runs it once with and once without.  For each text size it derives K_m = MAC(K_vendor, identity)
(identity = text || layout, as a Sancus node does when it loads a module) repeatedly until
BUDGET seconds have passed (at least once), and prints the times in milliseconds.
"""

from __future__ import annotations

import json
import os
import sys
import time

from authex.crypto import spongent_accel
from authex.crypto.sancus_keys import module_identity, module_key, vendor_key


def derivation_ms(size: int, budget_s: float) -> list[float]:
    k_vendor = vendor_key(bytes(range(16)), 0x1234)
    identity = module_identity(os.urandom(size), 0x6000, 0x6000 + size, 0x200, 0x280)
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    while not samples or time.perf_counter() < deadline:
        start = time.perf_counter_ns()
        module_key(k_vendor, identity)
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return samples


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        sys.stderr.write("usage: python -m bench.kdf BUDGET_S SIZE...\n")
        return 2
    budget = float(argv[0])
    result = {
        "accelerated": spongent_accel.ACCELERATED,
        "ms": {size: derivation_ms(int(size), budget) for size in argv[1:]},
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
