//! SPONGENT and SpongeWrap exactly as Sancus computes them (`docs/sancus-crypto.md` §1-2), and
//! Sancus's MAC. Written from the specification; checked against
//! `spec/vectors/sancus/spongewrap.json`.
//!
//! The permutation state is kept one nibble per byte. With `n = b/4` nibbles, the pLayer moves
//! bit `4i + k` (bit `k` of nibble `i`) to `k*n + i`, so after the S-box the new state is four
//! `n`-bit planes, plane `k` holding bit `k` of every nibble in order; since `n` is a multiple of
//! 4, new nibble `p` is 4 consecutive bits of plane `4p / n`.

use subtle::ConstantTimeEq;

use crate::CryptoError;

const SBOX: [u8; 16] = [0xE, 0xD, 0xB, 0x0, 0x2, 0x1, 0x4, 0xF, 0x7, 0xA, 0x8, 0x5, 0x9, 0xC, 0x3, 0x6];
const MAX_NIBBLES: usize = 84;

/// One SPONGENT-pi_b permutation.
pub struct Spongent {
    width: usize,
    rounds: usize,
    counter_iv: u8,
    counter_bits: u32,
    taps: &'static [u32],
}

/// pi_336 (SPONGENT-224/224/112): 128-bit security.
pub const SPONGENT_336: Spongent =
    Spongent { width: 336, rounds: 170, counter_iv: 0x52, counter_bits: 8, taps: &[7, 3, 2, 1] };
/// pi_176 (SPONGENT-160/160/16): 64-bit security.
pub const SPONGENT_176: Spongent =
    Spongent { width: 176, rounds: 90, counter_iv: 0x45, counter_bits: 7, taps: &[6, 5] };

impl Spongent {
    fn nibbles(&self) -> usize {
        self.width / 4
    }

    /// Apply the permutation to a nibble-per-byte state.
    fn permute(&self, state: &mut [u8; MAX_NIBBLES]) {
        let n = self.nibbles();
        let mask = (1u16 << self.counter_bits) - 1;
        let mut counter = self.counter_iv as u16;
        for _ in 0..self.rounds {
            // counter into bits 0.., its bit-reverse into the top bits (bit k -> b-1-k)
            state[0] ^= (counter & 0xF) as u8;
            state[1] ^= ((counter >> 4) & 0xF) as u8;
            for k in 0..self.counter_bits {
                if (counter >> k) & 1 == 1 {
                    let bit = self.width - 1 - k as usize;
                    state[bit / 4] ^= 1 << (bit % 4);
                }
            }
            let mut planes = [0u128; 4];
            for (i, nibble) in state.iter().take(n).enumerate() {
                let s = SBOX[*nibble as usize];
                planes[0] |= ((s & 1) as u128) << i;
                planes[1] |= (((s >> 1) & 1) as u128) << i;
                planes[2] |= (((s >> 2) & 1) as u128) << i;
                planes[3] |= (((s >> 3) & 1) as u128) << i;
            }
            for (p, nibble) in state.iter_mut().take(n).enumerate() {
                let bit = 4 * p;
                *nibble = ((planes[bit / n] >> (bit % n)) & 0xF) as u8;
            }
            let mut feedback = 0u16;
            for tap in self.taps {
                feedback ^= (counter >> tap) & 1;
            }
            counter = ((counter << 1) | feedback) & mask;
        }
    }
}

/// The duplex state of one SpongeWrap pass.
struct Duplex {
    perm: &'static Spongent,
    state: [u8; MAX_NIBBLES],
}

impl Duplex {
    fn new(key_len: usize) -> Result<Self, CryptoError> {
        let perm = match key_len {
            16 => &SPONGENT_336,
            8 => &SPONGENT_176,
            other => return Err(CryptoError::new(format!("SpongeWrap key must be 16 or 8 bytes, not {other}"))),
        };
        Ok(Duplex { perm, state: [0; MAX_NIBBLES] })
    }

    /// XOR `data | frame << L | 1 << (L+1)` into state bits 0..17, permute.
    fn absorb(&mut self, chunk: &[u8], frame: Option<bool>) {
        let bits = 8 * chunk.len() as u32;
        let mut value: u32 = 0;
        for (i, b) in chunk.iter().enumerate() {
            value |= (*b as u32) << (8 * i);
        }
        match frame {
            Some(f) => value |= ((f as u32) << bits) | (1 << (bits + 1)),
            None => value |= 1 << bits,
        }
        for j in 0..5 {
            self.state[j] ^= ((value >> (4 * j)) & 0xF) as u8;
        }
        self.perm.permute(&mut self.state);
    }

    /// State bits 0..15.
    fn output(&self) -> u16 {
        (self.state[0] as u16)
            | (self.state[1] as u16) << 4
            | (self.state[2] as u16) << 8
            | (self.state[3] as u16) << 12
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
    let mut out = Vec::with_capacity(body.len());
    let chunks: Vec<&[u8]> = if body.is_empty() { vec![&[][..]] } else { body.chunks(2).collect() };
    let last = chunks.len() - 1;
    for (index, chunk) in chunks.iter().enumerate() {
        let z = d.output().to_le_bytes();
        let mixed: Vec<u8> = chunk.iter().zip(z.iter()).map(|(a, b)| a ^ b).collect();
        out.extend_from_slice(&mixed);
        let plain: &[u8] = if decrypt { &mixed } else { chunk };
        d.absorb(plain, Some(index < last));
    }
    let mut tag = d.output().to_le_bytes().to_vec();
    while tag.len() < key.len() {
        d.absorb(&[], None);
        tag.extend_from_slice(&d.output().to_le_bytes());
    }
    tag.truncate(key.len());
    Ok((out, tag))
}

/// SpongeWrap encryption: (cipher, tag).
pub fn spongewrap_wrap(key: &[u8], ad: &[u8], body: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    wrap_pass(key, ad, body, false)
}

/// SpongeWrap decryption; the tag is compared in constant time and nothing is released on a
/// mismatch.
pub fn spongewrap_unwrap(key: &[u8], ad: &[u8], cipher: &[u8], tag: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let (body, expected) = wrap_pass(key, ad, cipher, true)?;
    if expected.len() != tag.len() || !bool::from(expected.ct_eq(tag)) {
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
