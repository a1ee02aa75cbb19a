"""SPONGENT permutations (Bogdanov et al., CHES 2011) for the two widths Sancus uses, pure Python.

Sancus sizes its SpongeWrap duplex as capacity >= 2 x security plus an 18-bit rate, so the
128-bit level runs the 336-bit SPONGENT permutation (the one of SPONGENT-224/224/112, 170 rounds)
and the 64-bit level the 176-bit permutation (SPONGENT-160/160/16, 90 rounds).

The state is an ``int`` whose bit ``i`` is bit ``i % 8`` of state byte ``i // 8`` (the byte order
of the reference code).  One round XORs the round counter into the low bits and its bit-reversed
value into the top bits, applies the 4-bit S-box to every nibble, then moves bit ``4*i + k`` to
``k*(b/4) + i`` (the pLayer: bit ``j`` goes to ``j*b/4 mod (b-1)``, the last bit stays put).
S-box and pLayer are merged into one table per state byte: entry ``v`` of table ``j`` is where
the S-boxed byte ``v`` at position ``j`` lands, so a round is one ``to_bytes`` and a sum of
``b/8`` table entries (the masks of different bytes are disjoint, so the sum is their OR).
"""

from __future__ import annotations

from operator import getitem

SBOX = (0xE, 0xD, 0xB, 0x0, 0x2, 0x1, 0x4, 0xF, 0x7, 0xA, 0x8, 0x5, 0x9, 0xC, 0x3, 0x6)


def _reverse_into_top(value: int, bits: int, width: int) -> int:
    """Bit k of the counter goes to state bit width-1-k."""
    out = 0
    for k in range(bits):
        if (value >> k) & 1:
            out |= 1 << (width - 1 - k)
    return out


class SpongentPermutation:
    """One SPONGENT-pi_b permutation: width b bits, its round count and counter LFSR."""

    def __init__(
        self, *, width: int, rounds: int, counter_iv: int, counter_bits: int, taps: tuple[int, ...]
    ) -> None:
        if width % 8:
            raise ValueError("SPONGENT width must be a whole number of bytes here")
        self.width = width
        self.rounds = rounds
        self.counter_iv = counter_iv
        self.counter_bits = counter_bits
        self.taps = taps
        quarter = width // 4
        # Where the bits of one S-boxed nibble go when the nibble sits at index 0.
        spread = []
        for s in range(16):
            mask = 0
            for k in range(4):
                if (s >> k) & 1:
                    mask |= 1 << (k * quarter)
            spread.append(mask)
        self._tables: list[list[int]] = []
        for j in range(width // 8):
            low = [spread[SBOX[v]] << (2 * j) for v in range(16)]
            high = [spread[SBOX[v]] << (2 * j + 1) for v in range(16)]
            self._tables.append([low[v & 0xF] | high[v >> 4] for v in range(256)])
        self._constants = self._round_constants()

    def __repr__(self) -> str:
        return f"SpongentPermutation(width={self.width}, rounds={self.rounds})"

    def _round_constants(self) -> tuple[int, ...]:
        counter_mask = (1 << self.counter_bits) - 1
        value = self.counter_iv
        constants = []
        for _ in range(self.rounds):
            constants.append(value ^ _reverse_into_top(value, self.counter_bits, self.width))
            feedback = 0
            for tap in self.taps:
                feedback ^= (value >> tap) & 1
            value = ((value << 1) | feedback) & counter_mask
        return tuple(constants)

    @property
    def size_bytes(self) -> int:
        return self.width // 8

    def permute(self, state: int) -> int:
        """Apply all rounds to a state given as a ``width``-bit little-endian integer."""
        tables = self._tables
        size = self.width // 8
        to_bytes = int.to_bytes
        for constant in self._constants:
            state = sum(map(getitem, tables, to_bytes(state ^ constant, size, "little")))
        return state

    def permute_bytes(self, state: bytes) -> bytes:
        """The same on the reference byte layout (``value[0]`` first)."""
        if len(state) != self.size_bytes:
            raise ValueError(f"SPONGENT-{self.width} state must be {self.size_bytes} bytes")
        return self.permute(int.from_bytes(state, "little")).to_bytes(self.size_bytes, "little")


# pi_176: 7-bit counter LFSR x^7 + x^6 + 1 seeded with 0x45.
SPONGENT_176 = SpongentPermutation(
    width=176, rounds=90, counter_iv=0x45, counter_bits=7, taps=(6, 5)
)
# pi_336: 8-bit counter LFSR x^8 + x^4 + x^3 + x^2 + 1 seeded with 0x52.
SPONGENT_336 = SpongentPermutation(
    width=336, rounds=170, counter_iv=0x52, counter_bits=8, taps=(7, 3, 2, 1)
)
