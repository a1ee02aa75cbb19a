"""The fast SPONGENT permutations equal a plain transcription of the SPONGENT definition."""

from __future__ import annotations

import random

import pytest

from authex.crypto.spongent import SBOX, SPONGENT_176, SPONGENT_336, SpongentPermutation


def _reference(perm: SpongentPermutation, state: int) -> int:
    """Bit by bit: counter XOR, S-box on every nibble, bit j -> j*b/4 mod (b-1), last bit fixed."""
    b = perm.width
    counter = perm.counter_iv
    for _ in range(perm.rounds):
        state ^= counter
        for k in range(8):
            if (counter >> k) & 1:
                state ^= 1 << (b - 1 - k)
        feedback = 0
        for tap in perm.taps:
            feedback ^= (counter >> tap) & 1
        counter = ((counter << 1) | feedback) & ((1 << perm.counter_bits) - 1)
        boxed = 0
        for i in range(b // 4):
            boxed |= SBOX[(state >> (4 * i)) & 0xF] << (4 * i)
        state = 0
        for j in range(b):
            if (boxed >> j) & 1:
                state |= 1 << (b - 1 if j == b - 1 else j * b // 4 % (b - 1))
    return state


@pytest.mark.parametrize("perm", [SPONGENT_176, SPONGENT_336], ids=lambda p: str(p.width))
def test_fast_permutation_matches_reference(perm: SpongentPermutation) -> None:
    rng = random.Random(perm.width)
    states = [0, (1 << perm.width) - 1, 1 << (perm.width - 1)]
    states += [rng.getrandbits(perm.width) for _ in range(3)]
    for state in states:
        assert perm.permute(state) == _reference(perm, state)


def test_parameters_sancus_uses() -> None:
    assert (SPONGENT_176.width, SPONGENT_176.rounds, SPONGENT_176.counter_iv) == (176, 90, 0x45)
    assert (SPONGENT_336.width, SPONGENT_336.rounds, SPONGENT_336.counter_iv) == (336, 170, 0x52)
    # the counter LFSRs visit distinct values during one permutation
    assert len(set(SPONGENT_176.counters())) == 90
    assert len(set(SPONGENT_336.counters())) == 170


def test_byte_interface() -> None:
    state = bytes(range(22))
    out = SPONGENT_176.permute_bytes(state)
    assert out == SPONGENT_176.permute(int.from_bytes(state, "little")).to_bytes(22, "little")
    with pytest.raises(ValueError):
        SPONGENT_176.permute_bytes(bytes(21))
