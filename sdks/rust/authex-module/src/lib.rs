//! # authex module runtime for Rust
//!
//! Write an authex module as plain Rust functions; this crate (imported as `authex`) is the
//! trusted runtime that speaks the host protocol to the node agent, attests, installs connection
//! keys, seals and opens events, and runs your callbacks. It is byte-compatible with the Python
//! SDK (`spec/protocol.md`, `spec/crypto.md`, checked against `spec/vectors/`).
//!
//! ```ignore
//! #[authex::module]
//! mod echo {
//!     use authex::Context;
//!
//!     authex::outputs!(echoed);
//!
//!     #[authex::input]
//!     fn ping(ctx: &mut Context, data: &[u8]) {
//!         ctx.emit("echoed", data);
//!     }
//!
//!     #[authex::entry(public)]
//!     fn hello(_ctx: &mut Context, arg: &[u8]) -> Vec<u8> {
//!         [b"hello ", arg].concat()
//!     }
//! }
//! ```
//!
//! See `docs/sdk-rust.md` for the guide and the build contract.

pub mod attest;
pub mod channel;
pub mod control;
pub mod exchange;
pub mod manifest;
pub mod module;
pub mod runner;
pub mod runtime;
pub mod spongent;
pub mod suites;
pub mod testing;
pub mod wire;

pub use authex_macros::{entry, handler, input, module};
pub use manifest::{IoKind, Manifest};
pub use module::{IntoReply, Module};
pub use runner::run;
pub use runtime::{Context, ContextError, Runtime};

/// Version byte of the wire protocol and of every event AD.
pub const PROTOCOL_VERSION: u8 = 1;

/// The operator's Ed25519 public key compiled into this module (hex; empty when the build had
/// no `AUTHEX_OPERATOR_KEY`).
pub const OPERATOR_KEY_HEX: &str = env!("AUTHEX_COMPILED_OPERATOR_KEY");
/// The deployed name compiled into this module (empty when the build had no
/// `AUTHEX_MODULE_NAME`: the name then comes from `--name`).
pub const MODULE_NAME: &str = env!("AUTHEX_COMPILED_MODULE_NAME");

/// The compiled-in operator key as bytes.
pub fn operator_key() -> Option<[u8; 32]> {
    let bytes = from_hex(OPERATOR_KEY_HEX)?;
    bytes.try_into().ok()
}

/// Declare outputs inside a `#[authex::module]` mod: `authex::outputs!(alert, valve_command);`
/// (names as identifiers or string literals).
#[macro_export]
macro_rules! outputs {
    ($($t:tt)*) => {
        compile_error!("authex::outputs! must be used inside a #[authex::module] mod");
    };
}

/// Declare requests inside a `#[authex::module]` mod: `authex::requests!(forecast);`.
#[macro_export]
macro_rules! requests {
    ($($t:tt)*) => {
        compile_error!("authex::requests! must be used inside a #[authex::module] mod");
    };
}

/// A failed cryptographic operation. Its text never contains key material or plaintext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CryptoError(String);

impl CryptoError {
    pub fn new(message: impl Into<String>) -> Self {
        CryptoError(message.into())
    }
}

impl std::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CryptoError {}

/// Key material: `Debug` shows only the length, equality is constant time, zeroed on drop.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(value: Vec<u8>) -> Self {
        Secret(value)
    }

    /// The raw bytes: use only where the key is used.
    pub fn reveal(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.len() == other.0.len() && bool::from(self.0.ct_eq(&other.0))
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.0.zeroize();
    }
}

/// Fill `out` from the operating system's CSPRNG.
pub fn random_bytes(out: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(out).map_err(|e| CryptoError::new(format!("no randomness from the OS: {e}")))
}

/// Lowercase hex.
pub fn to_hex(data: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(2 * data.len());
    for b in data {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Bytes from hex (either case); `None` if malformed.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 == 1 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| text.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok())).collect()
}
