//! Module-side attestation per TEE kind (`spec/crypto.md` §10-11, Python
//! `authex.sdk.attesters`): answer a challenge, yield the control key.
//!
//! - native: the operator-signed X25519 exchange; K_ctl = K_m.
//! - sgx: the native exchange plus a quote from the platform whose report_data is
//!   `SHA-256(module X25519 public || nonce) || 32 zero bytes`; K_ctl = K_m.
//! - sancus: evidence = `MAC(K_m, challenge) || module nonce (16)`,
//!   K_ctl = `MAC(K_m, "authex-session" || challenge || module nonce)`; challenge 16..64, even.
//! - trustzone: evidence = `HMAC-SHA256(K_m, "authex-tz-attest-v1" || challenge)[:16] || module
//!   nonce`, K_ctl = `HKDF-SHA256(K_m, salt none, info "authex control session v1" || challenge
//!   || module nonce)[:16]`; challenge 16..64.

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::exchange::{module_respond, NONCE_SIZE};
use crate::spongent::sancus_mac;
use crate::suites::Suite;
use crate::{random_bytes, CryptoError, Secret};

pub const MODULE_NONCE_SIZE: usize = 16;
pub const MIN_CHALLENGE: usize = 16;
pub const MAX_CHALLENGE: usize = 64;

/// Asks the platform for an SGX quote over 64 bytes of report data.
pub type Quoter = Box<dyn FnMut(&[u8]) -> Result<Vec<u8>, String>>;

/// How this module answers `HostAttest`, chosen from the platform's `ModuleIdentity.tee`.
pub enum Attester {
    Native { name: String, operator_public: Option<[u8; 32]> },
    Sgx { name: String, operator_public: Option<[u8; 32]>, quote: Quoter },
    Sancus { module_key: Secret },
    TrustZone { module_key: Secret },
}

impl std::fmt::Debug for Attester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Attester::Native { .. } => "Attester::Native",
            Attester::Sgx { .. } => "Attester::Sgx",
            Attester::Sancus { .. } => "Attester::Sancus",
            Attester::TrustZone { .. } => "Attester::TrustZone",
        })
    }
}

/// The control suite of each TEE kind.
pub fn control_suite(tee: &str) -> Option<Suite> {
    match tee {
        "native" | "sgx" | "trustzone" => Some(Suite::AesGcm128),
        "sancus" => Some(Suite::SpongeWrap128),
        _ => None,
    }
}

fn no_operator() -> CryptoError {
    CryptoError::new("this module was built without an operator key (AUTHEX_OPERATOR_KEY)")
}

impl Attester {
    /// The attester for a TEE kind, or an error naming it.
    pub fn for_tee(
        tee: &str,
        name: &str,
        operator_public: Option<[u8; 32]>,
        module_key: &[u8],
        quote: Quoter,
    ) -> Result<Attester, CryptoError> {
        let fixed_key = || -> Result<Secret, CryptoError> {
            if module_key.len() != 16 {
                return Err(CryptoError::new(format!(
                    "the {tee} platform gave a {}-byte module key, expected 16",
                    module_key.len()
                )));
            }
            Ok(Secret::new(module_key.to_vec()))
        };
        Ok(match tee {
            "native" => Attester::Native { name: name.to_string(), operator_public },
            "sgx" => Attester::Sgx { name: name.to_string(), operator_public, quote },
            "sancus" => Attester::Sancus { module_key: fixed_key()? },
            "trustzone" => Attester::TrustZone { module_key: fixed_key()? },
            other => return Err(CryptoError::new(format!("no attester for TEE {other:?}"))),
        })
    }

    /// (evidence, control key) for `challenge`.
    pub fn attest(&mut self, challenge: &[u8]) -> Result<(Vec<u8>, Secret), CryptoError> {
        match self {
            Attester::Native { name, operator_public } => {
                let operator = operator_public.ok_or_else(no_operator)?;
                module_respond(name, &operator, challenge)
            }
            Attester::Sgx { name, operator_public, quote } => {
                let operator = operator_public.ok_or_else(no_operator)?;
                let (mut evidence, key) = module_respond(name, &operator, challenge)?;
                let report_data = sgx_report_data(&evidence[..32], &challenge[..NONCE_SIZE]);
                let quoted =
                    quote(&report_data).map_err(|e| CryptoError::new(format!("platform refused to quote: {e}")))?;
                evidence.extend_from_slice(&quoted);
                Ok((evidence, key))
            }
            Attester::Sancus { module_key } => {
                check_challenge(challenge, true)?;
                let mut nonce = [0u8; MODULE_NONCE_SIZE];
                random_bytes(&mut nonce)?;
                sancus_answer(module_key.reveal(), challenge, &nonce)
            }
            Attester::TrustZone { module_key } => {
                check_challenge(challenge, false)?;
                let mut nonce = [0u8; MODULE_NONCE_SIZE];
                random_bytes(&mut nonce)?;
                trustzone_answer(module_key.reveal(), challenge, &nonce)
            }
        }
    }
}

/// `SHA-256(module public || nonce) || 00 x 32`.
pub fn sgx_report_data(module_public: &[u8], nonce: &[u8]) -> [u8; 64] {
    let mut h = Sha256::new();
    h.update(module_public);
    h.update(nonce);
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&h.finalize());
    out
}

pub fn check_challenge(challenge: &[u8], even: bool) -> Result<(), CryptoError> {
    let n = challenge.len();
    if !(MIN_CHALLENGE..=MAX_CHALLENGE).contains(&n) || (even && n % 2 == 1) {
        let parity = if even { " and of even length" } else { "" };
        return Err(CryptoError::new(format!(
            "challenge must be {MIN_CHALLENGE}..{MAX_CHALLENGE} bytes{parity}, not {n}"
        )));
    }
    Ok(())
}

/// Sancus evidence and session key for a given module nonce.
pub fn sancus_answer(module_key: &[u8], challenge: &[u8], nonce: &[u8]) -> Result<(Vec<u8>, Secret), CryptoError> {
    let mut evidence = sancus_mac(module_key, challenge)?;
    evidence.extend_from_slice(nonce);
    Ok((evidence, sancus_session_key(module_key, challenge, nonce)?))
}

/// TrustZone evidence and session key for a given module nonce.
pub fn trustzone_answer(module_key: &[u8], challenge: &[u8], nonce: &[u8]) -> Result<(Vec<u8>, Secret), CryptoError> {
    let mut evidence = trustzone_attestation_mac(module_key, challenge);
    evidence.extend_from_slice(nonce);
    Ok((evidence, trustzone_session_key(module_key, challenge, nonce)))
}

/// `MAC(K_m, "authex-session" || challenge || module nonce)`.
pub fn sancus_session_key(module_key: &[u8], challenge: &[u8], nonce: &[u8]) -> Result<Secret, CryptoError> {
    let mut msg = b"authex-session".to_vec();
    msg.extend_from_slice(challenge);
    msg.extend_from_slice(nonce);
    Ok(Secret::new(sancus_mac(module_key, &msg)?))
}

/// RFC 5869 HKDF-SHA256 with no salt, 16-byte output.
pub fn hkdf16(ikm: &[u8], info: &[u8]) -> [u8; 16] {
    let hk = Hkdf::<Sha256>::new(None, ikm);
    let mut okm = [0u8; 16];
    hk.expand(info, &mut okm).expect("16 bytes is a valid HKDF-SHA256 length");
    okm
}

/// `HKDF-SHA256(K_m, info = "authex control session v1" || challenge || module nonce)[:16]`.
pub fn trustzone_session_key(module_key: &[u8], challenge: &[u8], nonce: &[u8]) -> Secret {
    let mut info = b"authex control session v1".to_vec();
    info.extend_from_slice(challenge);
    info.extend_from_slice(nonce);
    Secret::new(hkdf16(module_key, &info).to_vec())
}

/// `HMAC-SHA256(K_m, "authex-tz-attest-v1" || challenge)[:16]`.
pub fn trustzone_attestation_mac(module_key: &[u8], challenge: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(module_key).expect("HMAC takes any key length");
    mac.update(b"authex-tz-attest-v1");
    mac.update(challenge);
    mac.finalize().into_bytes()[..16].to_vec()
}
