//! SPONGENT and SpongeWrap exactly as Sancus computes them (`docs/sancus-crypto.md` §1-2), and
//! Sancus's MAC. Written from the specification; checked against
//! `spec/vectors/sancus/spongewrap.json` and, in `tests/spongent_reference.rs`, against a slow
//! bit-by-bit reference.
//!
//! Same construction as the C SDK (`sdks/c/src/spongewrap.c`): the `b`-bit state lives in `u64`
//! words, state bit `i` = bit `i % 64` of word `i / 64`. With `n = b/4` nibbles, one round is:
//!
//! 1. XOR the round counter into bits 0.. and its bit-reverse into the top bits;
//! 2. per word, a 4x16 bit transpose (bit `4i + k` -> `16k + i`, four delta swaps), then a 4x4
//!    transpose of 16-bit blocks across words, gathers the state into four `n`-bit planes, plane
//!    `k` holding bit `k` of every nibble in order;
//! 3. the S-box `E D B 0 2 1 4 F 7 A 8 5 9 C 3 6`, bit-sliced over the four planes;
//! 4. the pLayer (bit `4i + k` -> `k*n + i`) is then the concatenation `plane0 || plane1 ||
//!    plane2 || plane3`, which becomes the new state.
//!
//! Constant time with respect to the key and the data: no table lookups and no branches on
//! secret values (the S-box is boolean operations, the only branches are on lengths and on the
//! public round counter), and the tag is compared with `subtle`.

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::CryptoError;

/// Words of the largest state (336 bits).
const WORDS: usize = 6;

/// One SPONGENT-pi_b permutation.
pub struct Spongent {
    width: usize,
    rounds: usize,
    counter_iv: u8,
    /// Feedback taps of the counter LFSR, as a bit mask.
    counter_taps: u8,
    /// `2^counter_bits - 1`.
    counter_mask: u8,
}

/// pi_336 (SPONGENT-224/224/112): 128-bit security.
pub const SPONGENT_336: Spongent = Spongent {
    width: 336,
    rounds: 170,
    counter_iv: 0x52,
    counter_taps: (1 << 7) | (1 << 3) | (1 << 2) | (1 << 1),
    counter_mask: 0xFF,
};
/// pi_176 (SPONGENT-160/160/16): 64-bit security.
pub const SPONGENT_176: Spongent =
    Spongent { width: 176, rounds: 90, counter_iv: 0x45, counter_taps: (1 << 6) | (1 << 5), counter_mask: 0x7F };

/// Bit `k` of nibble `i` (bit `4i + k`) moves to bit `16k + i`: the index bits `k1 k0 | i3 i2 i1
/// i0` rotate by two places, as four index-bit swaps (0,2) (1,3) (2,4) (3,5), each a delta swap.
#[inline(always)]
fn transpose4x16(mut x: u64) -> u64 {
    let mut t = (x ^ (x >> 3)) & 0x0A0A_0A0A_0A0A_0A0A;
    x ^= t ^ (t << 3);
    t = (x ^ (x >> 6)) & 0x00CC_00CC_00CC_00CC;
    x ^= t ^ (t << 6);
    t = (x ^ (x >> 12)) & 0x0000_F0F0_0000_F0F0;
    x ^= t ^ (t << 12);
    t = (x ^ (x >> 24)) & 0x0000_0000_FF00_FF00;
    x ^= t ^ (t << 24);
    x
}

/// Exchange 16-bit blocks 1, 3 of `a` with blocks 0, 2 of `b`.
#[inline(always)]
fn swap16(a: &mut u64, b: &mut u64) {
    let t = ((*a >> 16) ^ *b) & 0x0000_FFFF_0000_FFFF;
    *b ^= t;
    *a ^= t << 16;
}

/// Exchange the upper 32 bits of `a` with the lower 32 bits of `b`.
#[inline(always)]
fn swap32(a: &mut u64, b: &mut u64) {
    let t = ((*a >> 32) ^ *b) & 0x0000_0000_FFFF_FFFF;
    *b ^= t;
    *a ^= t << 32;
}

/// The SPONGENT S-box on bit planes (`x_k` = bit `k` of each nibble), from its algebraic normal
/// form:
///
/// ```text
/// y0 = x0 + x1 + x1x2 + x3
/// y1 = 1 + x0 + x1x2 + x0x3 + x1x3 + x2x3 + x1x2x3
/// y2 = 1 + x1 + x2 + x0x3 + x1x2x3
/// y3 = 1 + x0x1 + x2 + x3 + x0x3 + x1x3 + x0x1x3 + x0x2x3
/// ```
#[inline(always)]
fn sbox_planes(p: [u64; 4]) -> [u64; 4] {
    let [x0, x1, x2, x3] = p;
    let a = x1 & x2;
    let b = x0 & x3;
    let c = a & x3;
    let d = x0 & x1;
    [
        x0 ^ x1 ^ a ^ x3,
        !(x0 ^ a ^ b ^ ((x1 ^ x2) & x3) ^ c),
        !(x1 ^ x2 ^ b ^ c),
        !(d ^ x2 ^ x3 ^ b ^ (x3 & (x1 ^ d ^ (x0 & x2)))),
    ]
}

/// Bit `k` of `c` to bit `7 - k`.
#[inline(always)]
fn reverse8(c: u8) -> u64 {
    c.reverse_bits() as u64
}

/// pi_336: 84 nibbles in six words (the last holds 16 bits); each plane is 84 bits, `lo` (64)
/// and `hi` (20).
fn permute_336(q: &mut [u64; WORDS], rounds: usize, iv: u8, taps: u8, mask: u8) {
    const M20: u64 = (1 << 20) - 1;
    let mut c = iv;
    for _ in 0..rounds {
        q[0] ^= c as u64;
        q[5] ^= reverse8(c) << 8; // state bits 328..335: counter bit k -> bit 335 - k
        c = ((c << 1) | ((c & taps).count_ones() & 1) as u8) & mask;

        let mut t0 = transpose4x16(q[0]);
        let mut t1 = transpose4x16(q[1]);
        let mut t2 = transpose4x16(q[2]);
        let mut t3 = transpose4x16(q[3]);
        let mut t4 = transpose4x16(q[4]);
        let mut t5 = transpose4x16(q[5]);
        // 4x4 transpose of 16-bit blocks: t_k = plane k, nibbles 0..63
        swap16(&mut t0, &mut t1);
        swap16(&mut t2, &mut t3);
        swap32(&mut t0, &mut t2);
        swap32(&mut t1, &mut t3);
        // nibbles 64..83: t4 = [plane0, plane2] and t5 = [plane1, plane3], 32 bits each
        swap16(&mut t4, &mut t5);

        let [t0, t1, t2, t3] = sbox_planes([t0, t1, t2, t3]);
        let [h0, h1, h2, h3] = sbox_planes([t4, t5, t4 >> 32, t5 >> 32]);
        let (h0, h1, h2, h3) = (h0 & M20, h1 & M20, h2 & M20, h3 & M20);

        // new state = plane0 || plane1 || plane2 || plane3, 84 bits each
        q[0] = t0;
        q[1] = h0 | t1 << 20;
        q[2] = t1 >> 44 | h1 << 20 | t2 << 40;
        q[3] = t2 >> 24 | h2 << 40 | t3 << 60;
        q[4] = t3 >> 4 | h3 << 60;
        q[5] = h3 >> 4;
    }
}

/// pi_176: 44 nibbles in three words (the last holds 48 bits); each plane fits one word.
fn permute_176(q: &mut [u64; WORDS], rounds: usize, iv: u8, taps: u8, mask: u8) {
    const M44: u64 = (1 << 44) - 1;
    let mut c = iv;
    for _ in 0..rounds {
        q[0] ^= c as u64;
        q[2] ^= reverse8(c) << 40; // state bits 168..175: counter bit k -> bit 175 - k
        c = ((c << 1) | ((c & taps).count_ones() & 1) as u8) & mask;

        let mut t0 = transpose4x16(q[0]);
        let mut t1 = transpose4x16(q[1]);
        let mut t2 = transpose4x16(q[2]);
        let mut t3 = 0;
        swap16(&mut t0, &mut t1);
        swap16(&mut t2, &mut t3);
        swap32(&mut t0, &mut t2);
        swap32(&mut t1, &mut t3);

        let [t0, t1, t2, t3] = sbox_planes([t0, t1, t2, t3]);
        let (t0, t1, t2, t3) = (t0 & M44, t1 & M44, t2 & M44, t3 & M44);

        q[0] = t0 | t1 << 44;
        q[1] = t1 >> 20 | t2 << 24;
        q[2] = t2 >> 40 | t3 << 4;
    }
}

impl Spongent {
    /// Apply the permutation to a state of `width / 64` words (rounded up; the rest stay zero).
    fn permute(&self, q: &mut [u64; WORDS]) {
        let (rounds, iv, taps, mask) = (self.rounds, self.counter_iv, self.counter_taps, self.counter_mask);
        match self.width {
            336 => permute_336(q, rounds, iv, taps, mask),
            176 => permute_176(q, rounds, iv, taps, mask),
            _ => unreachable!("only pi_336 and pi_176 are defined"),
        }
    }
}

/// The duplex state of one SpongeWrap pass; zeroed on drop.
struct Duplex {
    perm: &'static Spongent,
    state: [u64; WORDS],
}

impl Drop for Duplex {
    fn drop(&mut self) {
        self.state.zeroize();
    }
}

impl Duplex {
    fn new(key_len: usize) -> Result<Self, CryptoError> {
        let perm = match key_len {
            16 => &SPONGENT_336,
            8 => &SPONGENT_176,
            other => return Err(CryptoError::new(format!("SpongeWrap key must be 16 or 8 bytes, not {other}"))),
        };
        Ok(Duplex { perm, state: [0; WORDS] })
    }

    /// XOR `data | frame << L | 1 << (L+1)` (no frame: `data | 1 << L`) into state bits 0..17,
    /// permute. `chunk` is at most 2 bytes.
    #[inline]
    fn absorb(&mut self, chunk: &[u8], frame: Option<bool>) {
        let bits = 8 * chunk.len() as u32;
        let mut value = match chunk {
            [] => 0,
            [a] => *a as u64,
            [a, b, ..] => *a as u64 | (*b as u64) << 8,
        };
        match frame {
            Some(f) => value |= ((f as u64) << bits) | (1 << (bits + 1)),
            None => value |= 1 << bits,
        }
        self.state[0] ^= value;
        self.perm.permute(&mut self.state);
    }

    /// State bits 0..15, little-endian.
    #[inline]
    fn output(&self) -> [u8; 2] {
        (self.state[0] as u16).to_le_bytes()
    }

    /// Absorb `data` in 2-byte blocks, `inner` frame bit on all but the last (possibly empty)
    /// block, `last` on the last.
    fn absorb_framed(&mut self, data: &[u8], inner: bool, last: bool) {
        if data.is_empty() {
            self.absorb(&[], Some(last));
            return;
        }
        let count = data.len().div_ceil(2);
        for (index, chunk) in data.chunks(2).enumerate() {
            self.absorb(chunk, Some(if index + 1 < count { inner } else { last }));
        }
    }
}

/// One SpongeWrap pass: (output, tag); output = body XOR key stream, tag as long as the key.
fn wrap_pass(key: &[u8], ad: &[u8], body: &[u8], decrypt: bool) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    let mut d = Duplex::new(key.len())?;
    d.absorb_framed(key, true, false);
    d.absorb_framed(ad, false, true);
    let mut out = vec![0u8; body.len()];
    if body.is_empty() {
        d.absorb(&[], Some(false));
    } else {
        let count = body.len().div_ceil(2);
        for (index, (chunk, dst)) in body.chunks(2).zip(out.chunks_mut(2)).enumerate() {
            let z = d.output();
            let mut mixed = [0u8; 2];
            for ((m, (a, b)), o) in mixed.iter_mut().zip(chunk.iter().zip(z)).zip(dst.iter_mut()) {
                *m = a ^ b;
                *o = *m;
            }
            let plain: &[u8] = if decrypt { &mixed[..chunk.len()] } else { chunk };
            d.absorb(plain, Some(index + 1 < count));
            mixed.zeroize();
        }
    }
    let mut tag = Vec::with_capacity(key.len());
    tag.extend_from_slice(&d.output());
    while tag.len() < key.len() {
        d.absorb(&[], None);
        tag.extend_from_slice(&d.output());
    }
    tag.truncate(key.len());
    Ok((out, tag))
}

/// SpongeWrap encryption: (cipher, tag).
pub fn spongewrap_wrap(key: &[u8], ad: &[u8], body: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    wrap_pass(key, ad, body, false)
}

/// SpongeWrap decryption; the tag is compared in constant time and nothing is released on a
/// mismatch (the recovered body is wiped).
pub fn spongewrap_unwrap(key: &[u8], ad: &[u8], cipher: &[u8], tag: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let (mut body, mut expected) = wrap_pass(key, ad, cipher, true)?;
    let good = expected.len() == tag.len() && bool::from(expected.ct_eq(tag));
    expected.zeroize();
    if !good {
        body.zeroize();
        return Err(CryptoError::new("SpongeWrap tag does not verify"));
    }
    Ok(body)
}

/// Sancus's MAC: the SpongeWrap tag with AD = message and an empty body.
pub fn sancus_mac(key: &[u8], message: &[u8]) -> Result<Vec<u8>, CryptoError> {
    Ok(wrap_pass(key, message, &[], false)?.1)
}

/// `x || 80` (odd length) or `x || 80 00` (even length): always even, always reversible.
pub fn pad2(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 2);
    out.extend_from_slice(data);
    out.push(0x80);
    if data.len().is_multiple_of(2) {
        out.push(0);
    }
    out
}

/// Inverse of [`pad2`].
pub fn unpad2(data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let n = data.len();
    if n.is_multiple_of(2) && n >= 1 && data[n - 1] == 0x80 {
        return Ok(data[..n - 1].to_vec());
    }
    if n.is_multiple_of(2) && n >= 2 && data[n - 2] == 0x80 && data[n - 1] == 0 {
        return Ok(data[..n - 2].to_vec());
    }
    Err(CryptoError::new("SpongeWrap body padding is malformed"))
}
