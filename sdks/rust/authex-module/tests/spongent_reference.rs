//! The fast SPONGENT/SpongeWrap of `authex::spongent` against a slow reference written straight
//! from `docs/sancus-crypto.md` §1-2 (one bool per state bit, the pLayer as `j -> j*b/4 mod (b-1)`),
//! on pseudo-random keys, AD and bodies at both security levels; and an `#[ignore]`d benchmark:
//!
//! ```text
//! cd sdks/rust && cargo test --release --locked -p authex-module --test spongent_reference -- --ignored --nocapture
//! ```

use std::time::Instant;

use authex::spongent::{sancus_mac, spongewrap_unwrap, spongewrap_wrap};

const SBOX: [u8; 16] = [0xE, 0xD, 0xB, 0x0, 0x2, 0x1, 0x4, 0xF, 0x7, 0xA, 0x8, 0x5, 0x9, 0xC, 0x3, 0x6];

struct RefPerm {
    width: usize,
    rounds: usize,
    seed: u32,
    counter_bits: usize,
    taps: &'static [usize],
}

const REF_336: RefPerm = RefPerm { width: 336, rounds: 170, seed: 0x52, counter_bits: 8, taps: &[7, 3, 2, 1] };
const REF_176: RefPerm = RefPerm { width: 176, rounds: 90, seed: 0x45, counter_bits: 7, taps: &[6, 5] };

impl RefPerm {
    fn permute(&self, state: &mut [bool]) {
        let b = self.width;
        let mut counter = self.seed;
        for _ in 0..self.rounds {
            for k in 0..self.counter_bits {
                let bit = (counter >> k) & 1 == 1;
                state[k] ^= bit;
                state[b - 1 - k] ^= bit;
            }
            for i in 0..b / 4 {
                let mut x = 0u8;
                for k in 0..4 {
                    x |= (state[4 * i + k] as u8) << k;
                }
                let y = SBOX[x as usize];
                for k in 0..4 {
                    state[4 * i + k] = (y >> k) & 1 == 1;
                }
            }
            let mut next = vec![false; b];
            for (j, bit) in state.iter().enumerate() {
                let to = if j == b - 1 { j } else { j * (b / 4) % (b - 1) };
                next[to] = *bit;
            }
            state.copy_from_slice(&next);
            let mut feedback = 0;
            for tap in self.taps {
                feedback ^= (counter >> tap) & 1;
            }
            counter = ((counter << 1) | feedback) & ((1 << self.counter_bits) - 1);
        }
    }
}

struct RefDuplex {
    perm: &'static RefPerm,
    state: Vec<bool>,
}

impl RefDuplex {
    fn duplex(&mut self, data: &[u8], frame: Option<bool>) -> [u8; 2] {
        let bits = 8 * data.len();
        let mut value: u32 = 0;
        for (i, byte) in data.iter().enumerate() {
            value |= (*byte as u32) << (8 * i);
        }
        match frame {
            Some(f) => value |= ((f as u32) << bits) | (1 << (bits + 1)),
            None => value |= 1 << bits,
        }
        for j in 0..18 {
            self.state[j] ^= (value >> j) & 1 == 1;
        }
        self.perm.permute(&mut self.state);
        let mut out = [0u8; 2];
        for j in 0..16 {
            out[j / 8] |= (self.state[j] as u8) << (j % 8);
        }
        out
    }
}

/// Reference SpongeWrap encryption: (cipher, tag).
fn ref_wrap(key: &[u8], ad: &[u8], body: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let perm = if key.len() == 16 { &REF_336 } else { &REF_176 };
    let mut d = RefDuplex { perm, state: vec![false; perm.width] };
    let blocks = |data: &[u8]| -> Vec<Vec<u8>> {
        if data.is_empty() {
            vec![Vec::new()]
        } else {
            data.chunks(2).map(|c| c.to_vec()).collect()
        }
    };
    let key_blocks = blocks(key);
    for (i, block) in key_blocks.iter().enumerate() {
        d.duplex(block, Some(i + 1 < key_blocks.len()));
    }
    let ad_blocks = blocks(ad);
    let mut z = [0u8; 2];
    for (i, block) in ad_blocks.iter().enumerate() {
        z = d.duplex(block, Some(i + 1 == ad_blocks.len()));
    }
    let body_blocks = blocks(body);
    let mut out = Vec::new();
    for (i, block) in body_blocks.iter().enumerate() {
        let mixed: Vec<u8> = block.iter().zip(z).map(|(a, b)| a ^ b).collect();
        out.extend_from_slice(&mixed);
        z = d.duplex(block, Some(i + 1 < body_blocks.len()));
    }
    let mut tag = z.to_vec();
    while tag.len() < key.len() {
        tag.extend_from_slice(&d.duplex(&[], None));
    }
    tag.truncate(key.len());
    (out, tag)
}

/// xorshift64*: deterministic pseudo-random bytes, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn matches_the_slow_reference() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut lengths: Vec<(usize, usize)> = Vec::new();
    for ad in [0, 1, 2, 3, 16] {
        for body in [0, 1, 2, 3, 18] {
            lengths.push((ad, body));
        }
    }
    for _ in 0..6 {
        lengths.push(((rng.next() % 48) as usize, (rng.next() % 48) as usize));
    }
    for key_len in [16, 8] {
        for &(ad_len, body_len) in &lengths {
            let key = rng.bytes(key_len);
            let ad = rng.bytes(ad_len);
            let body = rng.bytes(body_len);
            let (ref_cipher, ref_tag) = ref_wrap(&key, &ad, &body);
            let (cipher, tag) = spongewrap_wrap(&key, &ad, &body).unwrap();
            assert_eq!(cipher, ref_cipher, "cipher: key {key_len} B, ad {ad_len} B, body {body_len} B");
            assert_eq!(tag, ref_tag, "tag: key {key_len} B, ad {ad_len} B, body {body_len} B");
            // unwrap absorbs the recovered plaintext: the same tag verifies, the body comes back
            assert_eq!(spongewrap_unwrap(&key, &ad, &cipher, &tag).unwrap(), body);
            if body.is_empty() {
                assert_eq!(sancus_mac(&key, &ad).unwrap(), ref_tag);
            }

            let mut bad = tag.clone();
            let at = (rng.next() as usize) % bad.len();
            bad[at] ^= 1 << (rng.next() % 8);
            assert!(spongewrap_unwrap(&key, &ad, &cipher, &bad).is_err());
            assert!(spongewrap_unwrap(&key, &ad, &cipher, &tag[..key_len - 1]).is_err());
            if !cipher.is_empty() {
                let mut flipped = cipher.clone();
                let at = (rng.next() as usize) % flipped.len();
                flipped[at] ^= 1 << (rng.next() % 8);
                assert!(spongewrap_unwrap(&key, &ad, &flipped, &tag).is_err());
            }
        }
    }
    assert!(spongewrap_wrap(&[0; 12], b"", b"").is_err());
    assert!(sancus_mac(&[0; 0], b"").is_err());
}

fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    times[runs / 2]
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn benchmark() {
    let key16 = [7u8; 16];
    let key8 = [7u8; 8];
    let ad = [1u8; 32];
    let runs = 9;
    for (name, key) in [("128-bit", &key16[..]), ("64-bit", &key8[..])] {
        for size in [16usize, 256, 4096] {
            let body = vec![0x5Au8; size];
            let ms = median_ms(runs, || {
                std::hint::black_box(spongewrap_wrap(key, &ad, std::hint::black_box(&body)).unwrap());
            });
            println!("{name} spongewrap_wrap  32 B AD, {size:>4} B body: {ms:9.3} ms");
        }
        let message = vec![0xA5u8; 4096];
        let ms = median_ms(runs, || {
            std::hint::black_box(sancus_mac(key, std::hint::black_box(&message)).unwrap());
        });
        println!("{name} sancus_mac 4096 B message:           {ms:9.3} ms");
    }
}
