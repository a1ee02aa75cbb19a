//! Compiles the deployer's inputs into the module: `AUTHEX_OPERATOR_KEY` (64 hex digits, the
//! operator's Ed25519 public key) and optionally `AUTHEX_MODULE_NAME` (the deployed name).
//! Both are part of the binary, so of its measurement. Either may be absent for local builds
//! and tests; such a module refuses native and SGX attestation (no operator key) or takes its
//! name from `--name` only.

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}

fn main() {
    println!("cargo:rerun-if-env-changed=AUTHEX_OPERATOR_KEY");
    println!("cargo:rerun-if-env-changed=AUTHEX_MODULE_NAME");
    println!("cargo:rerun-if-changed=build.rs");
    let key = std::env::var("AUTHEX_OPERATOR_KEY").unwrap_or_default();
    let key = key.trim().to_ascii_lowercase();
    if !key.is_empty() && (key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit())) {
        fail("AUTHEX_OPERATOR_KEY must be 64 hex digits (the operator's Ed25519 public key)");
    }
    let name = std::env::var("AUTHEX_MODULE_NAME").unwrap_or_default();
    if name.len() > 255 || name.contains(['\n', '\r', '\0']) {
        fail("AUTHEX_MODULE_NAME must be at most 255 bytes on one line");
    }
    println!("cargo:rustc-env=AUTHEX_COMPILED_OPERATOR_KEY={key}");
    println!("cargo:rustc-env=AUTHEX_COMPILED_MODULE_NAME={name}");
}
