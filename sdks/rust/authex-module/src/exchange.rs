//! The native backend's key exchange (`spec/crypto.md` §6): X25519 with the deployer's half
//! signed by the operator's Ed25519 key.
//!
//! ```text
//! challenge = nonce (16) || deployer X25519 public (32) || Ed25519 signature (64)
//! signed    = "authex-native-attest-v1" || u16 len(name) || name || nonce || deployer public
//! evidence  = module X25519 public (32) || confirmation tag (16)
//! K_m       = HKDF-SHA256(shared, salt = nonce,
//!                         info = "authex native module key v1" || deployer pub || module pub)[:16]
//! tag       = AES-GCM-128(K_m, nonce block (3, 0), AD = "attest-confirm" || nonce, empty)
//! ```
//!
//! The module side is what a module runs; the deployer side is here for tests and tools.

use ed25519_dalek::{Signature, VerifyingKey};
use hkdf::Hkdf;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, StaticSecret};

use crate::suites::Suite;
use crate::{random_bytes, CryptoError, Secret};

pub const NONCE_SIZE: usize = 16;
pub const CHALLENGE_SIZE: usize = NONCE_SIZE + 32 + 64;
pub const EVIDENCE_SIZE: usize = 32 + 16;
const CONTEXT: &[u8] = b"authex-native-attest-v1";
const INFO: &[u8] = b"authex native module key v1";

/// The message the operator signs.
pub fn signed_part(name: &str, nonce: &[u8], deployer_public: &[u8]) -> Vec<u8> {
    let mut out = CONTEXT.to_vec();
    out.extend_from_slice(&(name.len() as u16).to_be_bytes());
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(nonce);
    out.extend_from_slice(deployer_public);
    out
}

/// K_m from the shared secret.
pub fn derive_key(shared: &[u8], nonce: &[u8], deployer_public: &[u8], module_public: &[u8]) -> Secret {
    let hk = Hkdf::<Sha256>::new(Some(nonce), shared);
    let mut info = INFO.to_vec();
    info.extend_from_slice(deployer_public);
    info.extend_from_slice(module_public);
    let mut okm = [0u8; 16];
    hk.expand(&info, &mut okm).expect("16 bytes is a valid HKDF-SHA256 length");
    Secret::new(okm.to_vec())
}

/// The key confirmation tag.
pub fn confirm_tag(key: &Secret, nonce: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut ad = b"attest-confirm".to_vec();
    ad.extend_from_slice(nonce);
    Suite::AesGcm128.seal(key.reveal(), 3, 0, &ad, b"")
}

fn exchange(private: &StaticSecret, peer: &[u8]) -> Result<[u8; 32], CryptoError> {
    let peer: [u8; 32] = peer.try_into().map_err(|_| CryptoError::new("X25519 public key must be 32 bytes"))?;
    let shared = private.diffie_hellman(&PublicKey::from(peer));
    if !shared.was_contributory() {
        return Err(CryptoError::new("X25519 shared secret is all zero (low-order public key)"));
    }
    Ok(shared.to_bytes())
}

/// The module's side with a fresh ephemeral key: (evidence, K_m).
pub fn module_respond(name: &str, operator_public: &[u8], challenge: &[u8]) -> Result<(Vec<u8>, Secret), CryptoError> {
    let mut private = [0u8; 32];
    random_bytes(&mut private)?;
    module_respond_with(name, operator_public, challenge, private)
}

/// The module's side with a given ephemeral private key (vectors, tests).
pub fn module_respond_with(
    name: &str,
    operator_public: &[u8],
    challenge: &[u8],
    ephemeral: [u8; 32],
) -> Result<(Vec<u8>, Secret), CryptoError> {
    if challenge.len() != CHALLENGE_SIZE {
        return Err(CryptoError::new(format!("challenge is {} bytes, expected {CHALLENGE_SIZE}", challenge.len())));
    }
    let nonce = &challenge[..NONCE_SIZE];
    let deployer_public = &challenge[NONCE_SIZE..NONCE_SIZE + 32];
    let signature: [u8; 64] = challenge[NONCE_SIZE + 32..].try_into().unwrap();
    let operator: [u8; 32] =
        operator_public.try_into().map_err(|_| CryptoError::new("operator public key must be 32 bytes"))?;
    let not_signed = || CryptoError::new("challenge is not signed by this module's operator");
    let verifying = VerifyingKey::from_bytes(&operator).map_err(|_| not_signed())?;
    verifying
        .verify_strict(&signed_part(name, nonce, deployer_public), &Signature::from_bytes(&signature))
        .map_err(|_| not_signed())?;
    let private = StaticSecret::from(ephemeral);
    let module_public = PublicKey::from(&private).to_bytes();
    let shared = exchange(&private, deployer_public)
        .map_err(|e| CryptoError::new(format!("deployer's X25519 public key is invalid: {e}")))?;
    let key = derive_key(&shared, nonce, deployer_public, &module_public);
    let mut evidence = module_public.to_vec();
    evidence.extend_from_slice(&confirm_tag(&key, nonce)?);
    Ok((evidence, key))
}

/// The deployer's side of one exchange (tests and tools; the real deployer is Python).
pub struct DeployerExchange {
    pub name: String,
    pub nonce: [u8; 16],
    private: StaticSecret,
    pub challenge: Vec<u8>,
}

impl DeployerExchange {
    /// Start with a fixed nonce and ephemeral key, signing with `sign` (the operator's key).
    pub fn start(name: &str, nonce: [u8; 16], ephemeral: [u8; 32], sign: impl FnOnce(&[u8]) -> [u8; 64]) -> Self {
        let private = StaticSecret::from(ephemeral);
        let public = PublicKey::from(&private).to_bytes();
        let signature = sign(&signed_part(name, &nonce, &public));
        let mut challenge = nonce.to_vec();
        challenge.extend_from_slice(&public);
        challenge.extend_from_slice(&signature);
        DeployerExchange { name: name.to_string(), nonce, private, challenge }
    }

    /// Check the evidence; K_m on success.
    pub fn finish(&self, evidence: &[u8]) -> Result<Secret, CryptoError> {
        if evidence.len() != EVIDENCE_SIZE {
            return Err(CryptoError::new(format!(
                "native evidence is {} bytes, expected {EVIDENCE_SIZE}",
                evidence.len()
            )));
        }
        let (module_public, tag) = evidence.split_at(32);
        let shared = exchange(&self.private, module_public)?;
        let deployer_public = PublicKey::from(&self.private).to_bytes();
        let key = derive_key(&shared, &self.nonce, &deployer_public, module_public);
        if !bool::from(confirm_tag(&key, &self.nonce)?.ct_eq(tag)) {
            return Err(CryptoError::new("key confirmation failed"));
        }
        Ok(key)
    }
}
