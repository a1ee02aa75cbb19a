//! The control channel under the module's control key (`spec/crypto.md` §5): set-key, swap-key,
//! call and call-result, each with a type-tagged AD and the control counter in the nonce block.

use crate::channel::MAX_COUNTER;
use crate::suites::Suite;
use crate::{CryptoError, Secret};

/// Direction of everything the deployer sends a module under its control key.
pub const TO_MODULE: u8 = 2;
/// Direction of what the module answers under its control key.
pub const FROM_MODULE: u8 = 3;

/// `SetKey.role`.
pub const ROLE_SENDER: u8 = 0;
pub const ROLE_RECEIVER: u8 = 1;

fn checked(counter: u64) -> Result<u64, CryptoError> {
    if counter == 0 || counter == MAX_COUNTER {
        return Err(CryptoError::new(format!("control counter {counter} out of range: re-key the module")));
    }
    Ok(counter)
}

/// `"set-key" || u32 conn_id || u16 io_id || u8 role || u8 suite || u64 counter` (23 bytes).
pub fn set_key_ad(conn_id: u32, io_id: u16, role: u8, suite: u8, counter: u64) -> Result<Vec<u8>, CryptoError> {
    let mut ad = b"set-key".to_vec();
    ad.extend_from_slice(&conn_id.to_be_bytes());
    ad.extend_from_slice(&io_id.to_be_bytes());
    ad.push(role);
    ad.push(suite);
    ad.extend_from_slice(&checked(counter)?.to_be_bytes());
    Ok(ad)
}

/// `"swap-key" || u32 conn_id || u32 replaces || u16 io_id || u8 role || u8 suite || u64 counter`
/// (28 bytes). Its own tag keeps a set-key from being taken for a swap-key and back.
pub fn swap_key_ad(
    conn_id: u32,
    replaces: u32,
    io_id: u16,
    role: u8,
    suite: u8,
    counter: u64,
) -> Result<Vec<u8>, CryptoError> {
    let mut ad = b"swap-key".to_vec();
    ad.extend_from_slice(&conn_id.to_be_bytes());
    ad.extend_from_slice(&replaces.to_be_bytes());
    ad.extend_from_slice(&io_id.to_be_bytes());
    ad.push(role);
    ad.push(suite);
    ad.extend_from_slice(&checked(counter)?.to_be_bytes());
    Ok(ad)
}

/// `"call" || u16 entry_id || u64 counter` (14 bytes).
pub fn call_ad(entry_id: u16, counter: u64) -> Result<Vec<u8>, CryptoError> {
    let mut ad = b"call".to_vec();
    ad.extend_from_slice(&entry_id.to_be_bytes());
    ad.extend_from_slice(&checked(counter)?.to_be_bytes());
    Ok(ad)
}

/// `"call-result" || u16 entry_id || u64 counter || u8 status` (22 bytes).
pub fn result_ad(entry_id: u16, counter: u64, status: u8) -> Result<Vec<u8>, CryptoError> {
    let mut ad = b"call-result".to_vec();
    ad.extend_from_slice(&entry_id.to_be_bytes());
    ad.extend_from_slice(&checked(counter)?.to_be_bytes());
    ad.push(status);
    Ok(ad)
}

/// Fields of a set-key that are bound into its AD.
#[derive(Clone, Copy, Debug)]
pub struct SetKeyFields {
    pub conn_id: u32,
    pub io_id: u16,
    pub role: u8,
    pub suite: u8,
    pub counter: u64,
}

/// Deployer side (tests, tools): wrap a connection key.
pub fn wrap_key(control: Suite, module_key: &[u8], conn_key: &[u8], f: SetKeyFields) -> Result<Vec<u8>, CryptoError> {
    let ad = set_key_ad(f.conn_id, f.io_id, f.role, f.suite, f.counter)?;
    control.seal(module_key, TO_MODULE, f.counter, &ad, conn_key)
}

/// Module side: unwrap a connection key.
pub fn unwrap_key(control: Suite, module_key: &[u8], wrapped: &[u8], f: SetKeyFields) -> Result<Secret, CryptoError> {
    let ad = set_key_ad(f.conn_id, f.io_id, f.role, f.suite, f.counter)?;
    Ok(Secret::new(control.open(module_key, TO_MODULE, f.counter, &ad, wrapped)?))
}

/// Fields of a swap-key that are bound into its AD (`conn_id` 0: a retire of `replaces`).
#[derive(Clone, Copy, Debug)]
pub struct SwapKeyFields {
    pub conn_id: u32,
    pub replaces: u32,
    pub io_id: u16,
    pub role: u8,
    pub suite: u8,
    pub counter: u64,
}

/// Deployer side (tests, tools): wrap a connection key for a swap-key (an empty `conn_key` for
/// a retire).
pub fn wrap_swap_key(
    control: Suite,
    module_key: &[u8],
    conn_key: &[u8],
    f: SwapKeyFields,
) -> Result<Vec<u8>, CryptoError> {
    let ad = swap_key_ad(f.conn_id, f.replaces, f.io_id, f.role, f.suite, f.counter)?;
    control.seal(module_key, TO_MODULE, f.counter, &ad, conn_key)
}

/// Module side: unwrap the connection key of a swap-key (empty for a retire).
pub fn unwrap_swap_key(
    control: Suite,
    module_key: &[u8],
    wrapped: &[u8],
    f: SwapKeyFields,
) -> Result<Secret, CryptoError> {
    let ad = swap_key_ad(f.conn_id, f.replaces, f.io_id, f.role, f.suite, f.counter)?;
    Ok(Secret::new(control.open(module_key, TO_MODULE, f.counter, &ad, wrapped)?))
}

pub fn seal_call(
    control: Suite,
    module_key: &[u8],
    entry_id: u16,
    counter: u64,
    arg: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    control.seal(module_key, TO_MODULE, counter, &call_ad(entry_id, counter)?, arg)
}

pub fn open_call(
    control: Suite,
    module_key: &[u8],
    entry_id: u16,
    counter: u64,
    sealed: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    control.open(module_key, TO_MODULE, counter, &call_ad(entry_id, counter)?, sealed)
}

pub fn seal_result(
    control: Suite,
    module_key: &[u8],
    entry_id: u16,
    counter: u64,
    status: u8,
    result: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    control.seal(module_key, FROM_MODULE, counter, &result_ad(entry_id, counter, status)?, result)
}

pub fn open_result(
    control: Suite,
    module_key: &[u8],
    entry_id: u16,
    counter: u64,
    status: u8,
    sealed: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    control.open(module_key, FROM_MODULE, counter, &result_ad(entry_id, counter, status)?, sealed)
}
