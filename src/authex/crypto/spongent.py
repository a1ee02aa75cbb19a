"""SPONGENT permutations (Bogdanov et al., CHES 2011) for the two widths Sancus uses, pure Python.

Sancus sizes its SpongeWrap duplex as capacity >= 2 x security plus an 18-bit rate, so the
128-bit level runs the 336-bit SPONGENT permutation (the one of SPONGENT-224/224/112, 170 rounds)
and the 64-bit level the 176-bit one (SPONGENT-160/160/16, 90 rounds).

The public state is an ``int`` whose bit ``i`` is bit ``i % 8`` of state byte ``i // 8`` (the byte
order of the reference code).  One round XORs the round counter into the low bits and its
bit-reversed value into the top bits, applies the 4-bit S-box to every nibble, then moves bit
``4*i + k`` to ``k*(b/4) + i`` (the pLayer: bit ``j`` goes to ``j*b/4 mod (b-1)``, the last bit
stays put).

Inside, the state is held one nibble per byte, which makes every step a C-level operation:
``bytes.translate`` is the S-box layer; with ``n = b/4`` nibbles and ``m = n/4``, new nibble
``q*m + r`` collects bit ``q`` of old nibbles ``4r..4r+3``, so two delta swaps transpose the 4x4
bit block of every 32-bit lane (lane ``r`` = old nibbles ``4r..4r+3``) and four stride-4 slices
put the lanes' bytes in their new order.  The next round's counter is XORed in on the way.
"""

from __future__ import annotations

SBOX = (0xE, 0xD, 0xB, 0x0, 0x2, 0x1, 0x4, 0xF, 0x7, 0xA, 0x8, 0x5, 0x9, 0xC, 0x3, 0x6)

_SBOX_TABLE = bytes(SBOX[v & 0xF] for v in range(256))
_LOW_NIBBLE = bytes(v & 0xF for v in range(256))
_HIGH_NIBBLE = bytes(v >> 4 for v in range(256))


class SpongentPermutation:
    """One SPONGENT-pi_b permutation: width b bits, its round count and counter LFSR."""

    def __init__(
        self, *, width: int, rounds: int, counter_iv: int, counter_bits: int, taps: tuple[int, ...]
    ) -> None:
        if width % 16:
            raise ValueError("this SPONGENT implementation needs a width divisible by 16")
        self.width = width
        self.rounds = rounds
        self.counter_iv = counter_iv
        self.counter_bits = counter_bits
        self.taps = taps
        self._nibbles = width // 4
        lanes = self._nibbles // 4
        # Delta-swap masks transposing the 4x4 bit block (byte k, bit q) of every 32-bit lane.
        self._swap1 = int.from_bytes(bytes.fromhex("0a000a00") * lanes, "little")
        self._swap2 = int.from_bytes(bytes.fromhex("0c0c0000") * lanes, "little")
        counters = self.counters()
        self._first = self._nibble_int(counters[0], lanes, lane_order=False)
        # Round i's loop step XORs round i+1's counter, in lane order; the last step XORs nothing.
        steps = [self._nibble_int(c, lanes, lane_order=True) for c in counters[1:]]
        self._steps = (*steps, 0)

    def __repr__(self) -> str:
        return f"SpongentPermutation(width={self.width}, rounds={self.rounds})"

    def counters(self) -> list[int]:
        """The round counters: state ^= c ^ reverse(c) before round i's S-box layer."""
        mask = (1 << self.counter_bits) - 1
        value = self.counter_iv
        out = []
        for _ in range(self.rounds):
            out.append(value)
            feedback = 0
            for tap in self.taps:
                feedback ^= (value >> tap) & 1
            value = ((value << 1) | feedback) & mask
        return out

    def _nibble_int(self, counter: int, lanes: int, *, lane_order: bool) -> int:
        """``counter ^ reversed counter`` as a nibble-per-byte int, optionally in lane order."""
        bits = counter
        for k in range(self.counter_bits):
            if (counter >> k) & 1:
                bits ^= 1 << (self.width - 1 - k)
        out = 0
        for p in range(self._nibbles):
            nibble = (bits >> (4 * p)) & 0xF
            if nibble:
                position = 4 * (p % lanes) + p // lanes if lane_order else p
                out |= nibble << (8 * position)
        return out

    @property
    def size_bytes(self) -> int:
        return self.width // 8

    def permute(self, state: int) -> int:
        """Apply all rounds to a state given as a ``width``-bit little-endian integer."""
        nibbles = self._nibbles
        packed = state.to_bytes(self.width // 8, "little")
        spread = bytearray(nibbles)
        spread[0::2] = packed.translate(_LOW_NIBBLE)
        spread[1::2] = packed.translate(_HIGH_NIBBLE)
        cur = (int.from_bytes(spread, "little") ^ self._first).to_bytes(nibbles, "little")

        sbox, swap1, swap2 = _SBOX_TABLE, self._swap1, self._swap2
        from_bytes, to_bytes, join = int.from_bytes, int.to_bytes, b"".join
        for step in self._steps:
            x = from_bytes(cur.translate(sbox), "little")
            t = (x ^ (x >> 7)) & swap1
            x ^= t * 129  # t ^ (t << 7): the two never overlap
            t = (x ^ (x >> 14)) & swap2
            lanes = to_bytes(x ^ t * 16385 ^ step, nibbles, "little")
            cur = join((lanes[0::4], lanes[1::4], lanes[2::4], lanes[3::4]))

        return from_bytes(cur[0::2], "little") | (from_bytes(cur[1::2], "little") << 4)

    def permute_bytes(self, state: bytes) -> bytes:
        """The same on the reference byte layout (``value[0]`` first)."""
        if len(state) != self.size_bytes:
            raise ValueError(f"SPONGENT-{self.width} state must be {self.size_bytes} bytes")
        return self.permute(int.from_bytes(state, "little")).to_bytes(self.size_bytes, "little")


# pi_176: 7-bit counter LFSR, shift left with feedback bit6 ^ bit5, seeded with 0x45.
SPONGENT_176 = SpongentPermutation(
    width=176, rounds=90, counter_iv=0x45, counter_bits=7, taps=(6, 5)
)
# pi_336: 8-bit counter LFSR, shift left with feedback bit7 ^ bit3 ^ bit2 ^ bit1, seeded 0x52.
SPONGENT_336 = SpongentPermutation(
    width=336, rounds=170, counter_iv=0x52, counter_bits=8, taps=(7, 3, 2, 1)
)
