//! Cipher suites (`spec/crypto.md` §1-2, §7, §8): one AEAD interface whose nonce is derived from
//! (direction, counter).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes128Gcm;
use ascon_aead::AsconAead128;

use crate::spongent::{pad2, spongewrap_unwrap, spongewrap_wrap, unpad2};
use crate::CryptoError;

pub const KEY_SIZE: usize = 16;
pub const TAG_SIZE: usize = 16;

/// `u8 direction || 00 00 00 || u64 counter || 00 00 00 00` (16 bytes).
pub fn nonce_block(direction: u8, counter: u64) -> [u8; 16] {
    let mut block = [0u8; 16];
    block[0] = direction;
    block[4..12].copy_from_slice(&counter.to_be_bytes());
    block
}

/// A cipher suite, by its wire id (`SetKey.suite`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Suite {
    AesGcm128 = 1,
    AsconAead128 = 2,
    SpongeWrap128 = 3,
}

impl Suite {
    pub const ALL: [Suite; 3] = [Suite::AesGcm128, Suite::AsconAead128, Suite::SpongeWrap128];

    pub fn from_id(id: u8) -> Option<Suite> {
        match id {
            1 => Some(Suite::AesGcm128),
            2 => Some(Suite::AsconAead128),
            3 => Some(Suite::SpongeWrap128),
            _ => None,
        }
    }

    pub fn from_name(name: &str) -> Option<Suite> {
        Suite::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn id(self) -> u8 {
        self as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            Suite::AesGcm128 => "aes-gcm-128",
            Suite::AsconAead128 => "ascon-aead128",
            Suite::SpongeWrap128 => "spongewrap-128",
        }
    }

    /// `ciphertext || tag` (for spongewrap-128 the ciphertext is 1 or 2 bytes longer).
    pub fn seal(
        self,
        key: &[u8],
        direction: u8,
        counter: u64,
        ad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if key.len() != KEY_SIZE {
            return Err(CryptoError::new(format!("{} needs a {KEY_SIZE}-byte key", self.name())));
        }
        let nonce = nonce_block(direction, counter);
        let payload = Payload { msg: plaintext, aad: ad };
        match self {
            Suite::AesGcm128 => {
                let cipher = Aes128Gcm::new_from_slice(key).map_err(|_| CryptoError::new("bad key"))?;
                let n = aes_gcm::aead::Nonce::<Aes128Gcm>::try_from(&nonce[..12])
                    .map_err(|_| CryptoError::new("bad nonce"))?;
                cipher.encrypt(&n, payload).map_err(|_| CryptoError::new("aes-gcm-128 cannot seal this message"))
            }
            Suite::AsconAead128 => {
                let cipher = AsconAead128::new_from_slice(key).map_err(|_| CryptoError::new("bad key"))?;
                let n =
                    ascon_aead::AsconAead128Nonce::try_from(&nonce[..]).map_err(|_| CryptoError::new("bad nonce"))?;
                cipher.encrypt(&n, payload).map_err(|_| CryptoError::new("ascon-aead128 cannot seal this message"))
            }
            Suite::SpongeWrap128 => {
                let (mut cipher, tag) = spongewrap_wrap(key, &spongewrap_ad(direction, counter, ad), &pad2(plaintext))?;
                cipher.extend_from_slice(&tag);
                Ok(cipher)
            }
        }
    }

    /// The plaintext, or an error that says only "failed" (no partial plaintext).
    pub fn open(
        self,
        key: &[u8],
        direction: u8,
        counter: u64,
        ad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if key.len() != KEY_SIZE {
            return Err(CryptoError::new(format!("{} needs a {KEY_SIZE}-byte key", self.name())));
        }
        if sealed.len() < TAG_SIZE {
            return Err(CryptoError::new("sealed message shorter than its tag"));
        }
        let nonce = nonce_block(direction, counter);
        let payload = Payload { msg: sealed, aad: ad };
        let failed = || CryptoError::new("authentication tag does not verify");
        match self {
            Suite::AesGcm128 => {
                let cipher = Aes128Gcm::new_from_slice(key).map_err(|_| CryptoError::new("bad key"))?;
                let n = aes_gcm::aead::Nonce::<Aes128Gcm>::try_from(&nonce[..12])
                    .map_err(|_| CryptoError::new("bad nonce"))?;
                cipher.decrypt(&n, payload).map_err(|_| failed())
            }
            Suite::AsconAead128 => {
                let cipher = AsconAead128::new_from_slice(key).map_err(|_| CryptoError::new("bad key"))?;
                let n =
                    ascon_aead::AsconAead128Nonce::try_from(&nonce[..]).map_err(|_| CryptoError::new("bad nonce"))?;
                cipher.decrypt(&n, payload).map_err(|_| failed())
            }
            Suite::SpongeWrap128 => {
                let body_size = sealed.len() - TAG_SIZE;
                if body_size < 2 || body_size % 2 == 1 {
                    return Err(CryptoError::new("sealed spongewrap-128 message has an impossible length"));
                }
                let body = spongewrap_unwrap(
                    key,
                    &spongewrap_ad(direction, counter, ad),
                    &sealed[..body_size],
                    &sealed[body_size..],
                )?;
                unpad2(&body)
            }
        }
    }
}

/// The AD spongewrap-128 wraps: `nonce_block(direction, counter) || pad2(ad)`.
pub fn spongewrap_ad(direction: u8, counter: u64, ad: &[u8]) -> Vec<u8> {
    let mut out = nonce_block(direction, counter).to_vec();
    out.extend_from_slice(&pad2(ad));
    out
}

/// Every suite this SDK implements, by name, sorted (as the manifest lists them).
pub fn available_suites() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Suite::ALL.iter().map(|s| s.name()).collect();
    names.sort_unstable();
    names
}
