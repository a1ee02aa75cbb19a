//! The module-side protocol core (sans-I/O), equivalent to Python's `authex.sdk.runtime`:
//! host messages in, host messages out through a [`HostIo`], crypto inside.
//!
//! - attestation: answer with the module's [`Attester`] and keep the control key it yields, with
//!   a fresh control counter window;
//! - set-key: only under the control key, only with a fresh control counter, only for this
//!   module's own endpoints in the matching role; re-keying replaces a connection; swap-key keys a
//!   new connection and forgets the one it replaces in the same step (updates), and with
//!   connection id 0 only forgets it (a retire); a swap-key whose `replaces` is gone and whose new
//!   connection already exists on the same end in the same role was applied before: `Ok`, and
//!   nothing changes;
//! - state transfer (persistent modules, updates): keying the reserved state-out end sends the
//!   `ctx.seal` data on it at once; an event on the reserved state-in end replaces that data;
//! - deliveries: open with the connection key, strictly increasing counters; refusals are
//!   reported as `HostRejected` and never reach user code; accepted ones are acknowledged with
//!   `HostAccepted` after the callback ran;
//! - entries: public ones may be called in plaintext, all others only authenticated under the
//!   control key with a fresh control counter; authenticated results are sealed back.
//!
//! No key material appears in any `Debug` output, log line or error message.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::attest::Attester;
use crate::channel::{ChannelEnd, OpenError, ReceiveWindow};
use crate::control::{
    open_call, seal_result, unwrap_key, unwrap_swap_key, SetKeyFields, SwapKeyFields, ROLE_RECEIVER, ROLE_SENDER,
};
use crate::manifest::{state_end, Endpoint, IoKind, Manifest, STATE_IN_ID, STATE_OUT_ID};
use crate::module::{Callback, Module};
use crate::suites::{Suite, KEY_SIZE, TAG_SIZE};
use crate::wire::{
    call_status, error_code, reject_reason, Error as ErrorMsg, HostAccepted, HostAttested, HostCallResult, HostDeliver,
    HostEmit, HostRejected, HostSetKey, HostSwapKey, Message, Ok as OkMsg, Reader, Writer, DEFAULT_MAX_PAYLOAD,
};
use crate::Secret;

/// Largest plaintext of an event, request or response: a sealed message travels in a
/// `HostEmit` (17 bytes of fields) with a 16-byte tag, and spongewrap-128 adds up to 2 bytes.
pub const MAX_EVENT_PAYLOAD: usize = DEFAULT_MAX_PAYLOAD - (4 + 1 + 8 + 4) - TAG_SIZE - 2;
/// Largest entry result: `HostCallResult` has 5 bytes of fields, the result maybe a tag.
pub const MAX_RESULT_PAYLOAD: usize = DEFAULT_MAX_PAYLOAD - (1 + 4) - TAG_SIZE - 2;
/// Seals a persistent module's state with the platform: the version it got.
pub type Sealer = Box<dyn FnMut(&[u8]) -> Result<u64, String>>;

/// Most bytes a persistent module may keep with `ctx.seal`.
pub const MAX_SEALED_DATA: usize = 256 << 10;
/// Default deadline of `ctx.request`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why waiting for a response ended without one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitError {
    Timeout,
    /// The host link closed or broke; the runner exits after the callback returns.
    Closed(String),
}

/// The runtime's view of the host link.
pub trait HostIo {
    /// Write one message. A failure is recorded by the link (the runner then exits).
    fn send(&mut self, message: Message, request_id: u32);
    /// Block until the `HostDeliver` answering (conn_id, direction 1, counter) arrives; every
    /// other frame read meanwhile is queued for later.
    fn wait_response(&mut self, conn_id: u32, counter: u64, timeout: Duration) -> Result<HostDeliver, WaitError>;
}

/// Per-connection counts (no key material).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    pub delivered: u64,
    pub rejected: u64,
    pub emitted: u64,
    /// Callbacks that failed (returned an error or panicked).
    pub failed: u64,
}

struct Connection {
    end: ChannelEnd,
    endpoint: Endpoint,
    role: u8,
    stats: ConnectionStats,
}

/// A set-key (`replaces` None) or swap-key (`replaces` Some; `conn_id` 0 = a retire).
struct KeyMessage {
    conn_id: u32,
    replaces: Option<u32>,
    io_id: u16,
    role: u8,
    suite: u8,
    counter: u64,
    wrapped: Vec<u8>,
}

/// The kinds of endpoint a connection end of `role` may be.
fn role_kinds(role: u8) -> &'static [IoKind] {
    match role {
        ROLE_SENDER => &[IoKind::Output, IoKind::Request],
        ROLE_RECEIVER => &[IoKind::Input, IoKind::Handler],
        _ => &[],
    }
}

/// Errors of `ctx.emit` / `ctx.request`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContextError {
    /// The name is not declared as an output (emit) or request (request).
    Undeclared(String),
    /// The payload exceeds [`MAX_EVENT_PAYLOAD`].
    TooLarge(usize),
    /// The request is not connected to any handler.
    NotConnected(String),
    /// No response before the deadline.
    Timeout(String),
    /// The host link closed while waiting.
    Closed(String),
    /// Sealing failed (counter exhausted: the connection must be re-keyed).
    Crypto(String),
}

impl Display for ContextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContextError::Undeclared(m)
            | ContextError::NotConnected(m)
            | ContextError::Timeout(m)
            | ContextError::Closed(m)
            | ContextError::Crypto(m) => f.write_str(m),
            ContextError::TooLarge(n) => write!(f, "{n} bytes exceed the limit of {MAX_EVENT_PAYLOAD}"),
        }
    }
}

impl std::error::Error for ContextError {}

/// Everything a callback's [`Context`] reaches, apart from the callbacks themselves.
pub(crate) struct Core {
    manifest: Manifest,
    io: Box<dyn HostIo>,
    log: Box<dyn FnMut(&str)>,
    control: Suite,
    attester: Attester,
    control_key: Option<Secret>,
    window: ReceiveWindow,
    connections: BTreeMap<u32, Connection>,
    unknown_rejected: u64,
    state: HashMap<TypeId, Box<dyn Any>>,
    /// Persistent modules: the state changed since it was last sealed.
    persistent: bool,
    dirty: bool,
    kept: Option<Vec<u8>>,
    sealer: Option<Sealer>,
    fatal: Option<String>,
}

/// What a callback may do: emit on outputs, make requests, log, keep state. Passed as `ctx`.
pub struct Context<'a> {
    core: &'a mut Core,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Context({:?})", self.core.manifest.name)
    }
}

impl Context<'_> {
    /// The name this module was deployed under.
    pub fn name(&self) -> &str {
        &self.core.manifest.name
    }

    /// Send `data` on every connection from `output`; returns how many were sent.
    ///
    /// Panics if `output` is not declared or `data` is too large (a programming error: the
    /// callback fails as if it had returned an error); see [`try_emit`](Self::try_emit).
    pub fn emit(&mut self, output: &str, data: impl AsRef<[u8]>) -> usize {
        match self.try_emit(output, data) {
            Ok(n) => n,
            Err(e) => panic!("emit on {output:?}: {e}"),
        }
    }

    /// [`emit`](Self::emit) that returns errors instead of panicking.
    pub fn try_emit(&mut self, output: &str, data: impl AsRef<[u8]>) -> Result<usize, ContextError> {
        self.core.emit(output, data.as_ref())
    }

    /// Send `data` on `request` and block until the handler's reply (10 s deadline).
    pub fn request(&mut self, request: &str, data: impl AsRef<[u8]>) -> Result<Vec<u8>, ContextError> {
        self.core.request(request, data.as_ref(), DEFAULT_REQUEST_TIMEOUT)
    }

    /// [`request`](Self::request) with an explicit deadline.
    pub fn request_timeout(
        &mut self,
        request: &str,
        data: impl AsRef<[u8]>,
        timeout: Duration,
    ) -> Result<Vec<u8>, ContextError> {
        self.core.request(request, data.as_ref(), timeout)
    }

    /// Write one line to stderr, prefixed with the module name (never to the host link).
    pub fn log(&mut self, message: impl Display) {
        let line = format!("[{}] {message}", self.core.manifest.name);
        (self.core.log)(&line);
    }

    /// Keep `data` as this module's own sealed state (a persistent module, `Module::persistent`
    /// or `#[authex::module(persistent)]`): it is sealed with the keys and counters before the
    /// module's next output leaves it, and `unseal` returns it after a restart.
    pub fn seal(&mut self, data: impl AsRef<[u8]>) -> Result<(), ContextError> {
        if !self.core.persistent {
            return Err(ContextError::Undeclared(format!(
                "module {:?} is not persistent: use Module::persistent()",
                self.core.manifest.name
            )));
        }
        let data = data.as_ref();
        if data.len() > MAX_SEALED_DATA {
            return Err(ContextError::TooLarge(data.len()));
        }
        self.core.kept = Some(data.to_vec());
        self.core.dirty = true;
        Ok(())
    }

    /// The data last given to `seal` (restored after a restart), if any.
    pub fn unseal(&self) -> Option<Vec<u8>> {
        self.core.kept.clone()
    }

    /// Module-private state of type `T`, created with `T::default()` on first use; it lives as
    /// long as the module process.
    pub fn state<T: Default + 'static>(&mut self) -> &mut T {
        self.core
            .state
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()))
            .downcast_mut::<T>()
            .expect("state is keyed by its TypeId")
    }
}

fn panic_text(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_string()
    }
}

impl Core {
    fn send(&mut self, message: impl Into<Message>, request_id: u32) {
        if self.fatal.is_some() {
            return;
        }
        if self.persistent && self.dirty {
            if let Some(mut sealer) = self.sealer.take() {
                let sealed = sealer(&self.export());
                self.sealer = Some(sealer);
                match sealed {
                    Ok(_) => self.dirty = false,
                    Err(e) => {
                        self.fatal = Some(format!("cannot seal the module state: {e}"));
                        return;
                    }
                }
            }
        }
        self.io.send(message.into(), request_id);
    }

    fn log(&mut self, message: &str) {
        let line = format!("[{}] {message}", self.manifest.name);
        (self.log)(&line);
    }

    fn export(&self) -> Vec<u8> {
        let core = self;
        let mut w = Writer::default();
        let _ = w.bytes(b"AXST");
        w.u8(1);
        let _ = w.str(&core.manifest.name);
        w.u8(u8::from(core.control_key.is_some()));
        match &core.control_key {
            Some(k) => w.out.extend_from_slice(k.reveal()),
            None => w.out.extend_from_slice(&[0u8; KEY_SIZE]),
        }
        w.u64(core.window.last);
        w.u16(core.connections.len() as u16);
        for (conn_id, c) in &core.connections {
            w.u32(*conn_id);
            w.u16(c.endpoint.id);
            w.u8(c.role);
            w.u8(c.end.suite.id());
            w.out.extend_from_slice(c.end.key().reveal());
            w.u64(c.end.sent);
            w.u64(c.end.receive.last);
            w.u64(c.end.receive.gaps);
        }
        w.u8(u8::from(core.kept.is_some()));
        let _ = w.bytes(core.kept.as_deref().unwrap_or(&[]));
        w.out
    }

    /// The end behind `io_id`: a manifest endpoint or a reserved state-transfer end.
    fn endpoint(&self, io_id: u16) -> Option<Endpoint> {
        state_end(io_id).or_else(|| self.manifest.by_id(io_id).cloned())
    }

    /// The state-out end was keyed: send the `ctx.seal` data on it (`0x00`, or `0x01 || data`),
    /// once, and forget the connection.
    fn send_state(&mut self, conn_id: u32) {
        let blob = match &self.kept {
            None => vec![0u8],
            Some(data) => [&[1u8][..], data].concat(),
        };
        let Some(mut conn) = self.connections.remove(&conn_id) else {
            return;
        };
        self.dirty = true;
        match conn.end.seal_next(0, &blob) {
            Ok((counter, ciphertext)) => {
                self.send(HostEmit { conn_id, direction: 0, counter, ciphertext }, 0);
                self.log(&format!("sent its sealed data ({} bytes) to its new version", blob.len() - 1));
            }
            Err(e) => self.log(&format!("cannot send its sealed data: {e}")),
        }
    }

    fn reject(&mut self, conn_id: u32, direction: u8, counter: u64, reason: u8) {
        match self.connections.get_mut(&conn_id) {
            Some(conn) => conn.stats.rejected += 1,
            None => self.unknown_rejected += 1,
        }
        self.send(HostRejected { conn_id, direction, counter, reason }, 0);
    }

    fn accepted(&mut self, conn_id: u32, direction: u8, counter: u64) {
        self.send(HostAccepted { conn_id, direction, counter }, 0);
    }

    /// Open a delivery on a known connection or report it; `None` when rejected.
    fn open(&mut self, conn_id: u32, direction: u8, counter: u64, sealed: &[u8]) -> Option<Vec<u8>> {
        let conn = self.connections.get_mut(&conn_id)?;
        match conn.end.open(direction, counter, sealed) {
            Ok(plain) => {
                conn.stats.delivered += 1;
                self.dirty = true;
                Some(plain)
            }
            Err(err) => {
                let reason = match err {
                    OpenError::Replay { .. } => reject_reason::REPLAY,
                    OpenError::Forged => reject_reason::FORGED,
                };
                self.reject(conn_id, direction, counter, reason);
                None
            }
        }
    }

    fn emit(&mut self, output: &str, data: &[u8]) -> Result<usize, ContextError> {
        if self.manifest.find(IoKind::Output, output).is_none() {
            return Err(ContextError::Undeclared(format!(
                "module {:?} has no output named {output:?}",
                self.manifest.name
            )));
        }
        if data.len() > MAX_EVENT_PAYLOAD {
            return Err(ContextError::TooLarge(data.len()));
        }
        let ids: Vec<u32> = self
            .connections
            .iter()
            .filter(|(_, c)| c.role == ROLE_SENDER && c.endpoint.kind == IoKind::Output && c.endpoint.name == output)
            .map(|(id, _)| *id)
            .collect();
        let mut sent = 0;
        for conn_id in ids {
            let conn = self.connections.get_mut(&conn_id).expect("listed above");
            let (counter, sealed) = conn.end.seal_next(0, data).map_err(|e| ContextError::Crypto(e.to_string()))?;
            conn.stats.emitted += 1;
            self.dirty = true;
            self.send(HostEmit { conn_id, direction: 0, counter, ciphertext: sealed }, 0);
            sent += 1;
        }
        Ok(sent)
    }

    fn request(&mut self, request: &str, data: &[u8], timeout: Duration) -> Result<Vec<u8>, ContextError> {
        if self.manifest.find(IoKind::Request, request).is_none() {
            return Err(ContextError::Undeclared(format!(
                "module {:?} has no request named {request:?}",
                self.manifest.name
            )));
        }
        if data.len() > MAX_EVENT_PAYLOAD {
            return Err(ContextError::TooLarge(data.len()));
        }
        let conn_id = self
            .connections
            .iter()
            .find(|(_, c)| c.role == ROLE_SENDER && c.endpoint.kind == IoKind::Request && c.endpoint.name == request)
            .map(|(id, _)| *id)
            .ok_or_else(|| {
                ContextError::NotConnected(format!("request {request:?} is not connected to any handler"))
            })?;
        let conn = self.connections.get_mut(&conn_id).expect("found above");
        let (counter, sealed) = conn.end.seal_next(0, data).map_err(|e| ContextError::Crypto(e.to_string()))?;
        conn.stats.emitted += 1;
        self.dirty = true;
        self.send(HostEmit { conn_id, direction: 0, counter, ciphertext: sealed }, 0);
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let timed_out = || ContextError::Timeout(format!("request {request:?}: no response within {timeout:?}"));
            if remaining.is_zero() {
                return Err(timed_out());
            }
            let response = match self.io.wait_response(conn_id, counter, remaining) {
                Ok(r) => r,
                Err(WaitError::Timeout) => return Err(timed_out()),
                Err(WaitError::Closed(why)) => return Err(ContextError::Closed(why)),
            };
            if response.conn_id == conn_id && response.direction == 1 && response.counter == counter {
                if let Some(reply) = self.open(conn_id, 1, counter, &response.ciphertext) {
                    self.accepted(conn_id, 1, counter);
                    return Ok(reply);
                }
            } else {
                self.reject(response.conn_id, response.direction, response.counter, reject_reason::REPLAY);
            }
            // A forged or mismatched answer is reported; keep waiting for the genuine one.
        }
    }
}

/// One module's trusted state and its callbacks.
pub struct Runtime {
    core: Core,
    callbacks: HashMap<(IoKind, String), Callback>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&u32> = self.core.connections.keys().collect();
        write!(f, "Runtime({:?}, attested={}, connections={ids:?})", self.core.manifest.name, self.attested())
    }
}

fn stderr_log(line: &str) {
    eprintln!("{line}");
}

impl Runtime {
    /// A runtime for `module` described by `manifest` (as built by `module.manifest(..)`).
    pub fn new(
        manifest: Manifest,
        module: Module,
        io: Box<dyn HostIo>,
        attester: Attester,
        control: Suite,
    ) -> Result<Runtime, String> {
        module.check()?;
        let mut callbacks = HashMap::new();
        for registered in module.declared {
            if let Some(cb) = registered.callback {
                callbacks.insert((registered.kind, registered.name), cb);
            }
        }
        for e in &manifest.endpoints {
            if matches!(e.kind, IoKind::Input | IoKind::Entry | IoKind::Handler)
                && !callbacks.contains_key(&(e.kind, e.name.clone()))
            {
                return Err(format!("the module has no function for {} {:?}", e.kind.name(), e.name));
            }
        }
        Ok(Runtime {
            core: Core {
                manifest,
                io,
                log: Box::new(stderr_log),
                control,
                attester,
                control_key: None,
                window: ReceiveWindow::default(),
                connections: BTreeMap::new(),
                unknown_rejected: 0,
                state: HashMap::new(),
                persistent: module.persistent,
                dirty: false,
                kept: None,
                sealer: None,
                fatal: None,
            },
            callbacks,
        })
    }

    /// Replace the log sink (default: one line per message on stderr).
    pub fn set_log(&mut self, log: Box<dyn FnMut(&str)>) {
        self.core.log = log;
    }

    pub fn manifest(&self) -> &Manifest {
        &self.core.manifest
    }

    pub fn attested(&self) -> bool {
        self.core.control_key.is_some()
    }

    /// Counts per connection id.
    pub fn stats(&self) -> BTreeMap<u32, ConnectionStats> {
        self.core.connections.iter().map(|(id, c)| (*id, c.stats.clone())).collect()
    }

    /// The control counter window (last accepted, rejected count).
    pub fn control_window(&self) -> &ReceiveWindow {
        &self.core.window
    }

    /// Rejections of deliveries on connections this module has no key for.
    pub fn unknown_rejected(&self) -> u64 {
        self.core.unknown_rejected
    }

    /// Process one message from the agent; `false` when the module should stop.
    pub fn handle(&mut self, message: Message, request_id: u32) -> bool {
        if self.core.fatal.is_some() {
            return false;
        }
        let go_on = self.dispatch(message, request_id);
        go_on && self.core.fatal.is_none()
    }

    fn dispatch(&mut self, message: Message, request_id: u32) -> bool {
        match message {
            Message::HostStop(_) => return false,
            Message::HostAttest(m) => self.attest(&m.challenge, request_id),
            Message::HostSetKey(m) => self.set_key(m, request_id),
            Message::HostSwapKey(m) => self.swap_key(m, request_id),
            Message::HostDeliver(m) => self.deliver(m),
            Message::HostCall(m) => self.call(m, request_id),
            other => {
                let text = format!("unexpected {}", other.name());
                self.core.send(ErrorMsg { code: error_code::BAD_REQUEST, message: text }, request_id);
            }
        }
        true
    }

    fn attest(&mut self, challenge: &[u8], request_id: u32) {
        match self.core.attester.attest(challenge) {
            Ok((evidence, key)) => {
                self.core.control_key = Some(key);
                self.core.window = ReceiveWindow::default();
                self.core.dirty = true;
                self.core.send(HostAttested { evidence }, request_id);
            }
            Err(e) => {
                let message = format!("attestation failed: {e}");
                self.core.send(ErrorMsg { code: error_code::REJECTED, message }, request_id);
            }
        }
    }

    fn set_key(&mut self, m: HostSetKey, request_id: u32) {
        let HostSetKey { conn_id, io_id, role, suite, counter, wrapped } = m;
        self.key_connection(KeyMessage { conn_id, replaces: None, io_id, role, suite, counter, wrapped }, request_id);
    }

    fn swap_key(&mut self, m: HostSwapKey, request_id: u32) {
        let HostSwapKey { conn_id, replaces, io_id, role, suite, counter, wrapped } = m;
        let message = KeyMessage { conn_id, replaces: Some(replaces), io_id, role, suite, counter, wrapped };
        self.key_connection(message, request_id);
    }

    /// Set-key and swap-key: authenticate, check, then change the connection table in one step.
    fn key_connection(&mut self, m: KeyMessage, request_id: u32) {
        let core = &mut self.core;
        let what = format!("{}-key for connection {}", if m.replaces.is_some() { "swap" } else { "set" }, m.conn_id);
        let refuse = |core: &mut Core, code: u16, text: String| {
            core.send(ErrorMsg { code, message: format!("{what}: {text}") }, request_id);
        };
        let Some(control_key) = core.control_key.as_ref() else {
            return refuse(core, error_code::REJECTED, "not attested".into());
        };
        if let Err(OpenError::Replay { counter, last }) = core.window.check(m.counter) {
            return refuse(
                core,
                error_code::REJECTED,
                format!("stale control counter: {counter} is not greater than {last}"),
            );
        }
        let unwrapped = match m.replaces {
            None => {
                let f = SetKeyFields {
                    conn_id: m.conn_id,
                    io_id: m.io_id,
                    role: m.role,
                    suite: m.suite,
                    counter: m.counter,
                };
                unwrap_key(core.control, control_key.reveal(), &m.wrapped, f)
            }
            Some(replaces) => {
                let f = SwapKeyFields {
                    conn_id: m.conn_id,
                    replaces,
                    io_id: m.io_id,
                    role: m.role,
                    suite: m.suite,
                    counter: m.counter,
                };
                unwrap_swap_key(core.control, control_key.reveal(), &m.wrapped, f)
            }
        };
        let key = match unwrapped {
            Ok(k) => k,
            Err(_) => {
                core.window.rejected += 1;
                return refuse(core, error_code::REJECTED, "the wrapped key does not authenticate".into());
            }
        };
        core.window.accept(m.counter);
        core.dirty = true;
        let replaces = m.replaces.unwrap_or(0);
        if m.replaces.is_some() && m.conn_id == 0 {
            // a retire: only forget `replaces`
            if !key.is_empty() || m.io_id != 0 || m.role != 0 || m.suite != 0 {
                return refuse(core, error_code::BAD_REQUEST, "a retire carries no key, io, role or suite".into());
            }
            core.connections.remove(&replaces);
            return core.send(OkMsg { body: Vec::new() }, request_id);
        }
        if m.role != ROLE_SENDER && m.role != ROLE_RECEIVER {
            return refuse(core, error_code::BAD_REQUEST, format!("unknown role {}", m.role));
        }
        let endpoint = match core.endpoint(m.io_id) {
            Some(e) if role_kinds(m.role).contains(&e.kind) => e,
            _ => {
                let wanted = if m.role == ROLE_SENDER { "output or request" } else { "input or handler" };
                let text = format!("io id 0x{:04x} is not a {wanted} of module {:?}", m.io_id, core.manifest.name);
                return refuse(core, error_code::BAD_REQUEST, text);
            }
        };
        if state_end(endpoint.id).is_some() && !core.persistent {
            let text = format!("module {:?} keeps no sealed state to transfer", core.manifest.name);
            return refuse(core, error_code::BAD_REQUEST, text);
        }
        let Some(suite) = Suite::from_id(m.suite) else {
            return refuse(core, error_code::BAD_REQUEST, format!("unsupported cipher suite {}", m.suite));
        };
        if key.len() != KEY_SIZE {
            return refuse(core, error_code::BAD_REQUEST, format!("connection key must be {KEY_SIZE} bytes"));
        }
        let old = if replaces != 0 { core.connections.get(&replaces) } else { None };
        if m.replaces.is_some() && old.is_none() {
            if let Some(again) = core.connections.get(&m.conn_id) {
                if again.endpoint == endpoint && again.role == m.role {
                    // applied before (the deployer lost our answer and sent it again): change
                    // nothing, the connection keeps its key and its counters go on
                    return core.send(OkMsg { body: Vec::new() }, request_id);
                }
            }
        }
        if replaces != 0 {
            if let Some(old) = old {
                if old.endpoint != endpoint || old.role != m.role {
                    let text =
                        format!("connection {replaces} is not a {} {:?} here", endpoint.kind.name(), endpoint.name);
                    return refuse(core, error_code::BAD_REQUEST, text);
                }
            }
            // one step: the old id goes, the new one comes (an absent `replaces` is no error)
            core.connections.remove(&replaces);
        }
        if endpoint.kind == IoKind::Request {
            // a request has one handler: a new key supersedes the old connection
            core.connections.retain(|_, c| c.endpoint != endpoint);
        }
        let end = ChannelEnd::new(m.conn_id, suite, key);
        let state_out = endpoint.id == STATE_OUT_ID;
        core.connections
            .insert(m.conn_id, Connection { end, endpoint, role: m.role, stats: ConnectionStats::default() });
        if state_out {
            core.send_state(m.conn_id);
        }
        core.send(OkMsg { body: Vec::new() }, request_id);
    }

    /// An event on the state-in end (already opened): the old version's `ctx.seal` data becomes
    /// this module's, and the connection is forgotten.
    fn take_state(&mut self, conn_id: u32, direction: u8, counter: u64, blob: &[u8]) {
        let core = &mut self.core;
        core.connections.remove(&conn_id);
        let kept = match blob.split_first() {
            Some((0, [])) => None,
            Some((1, data)) if data.len() <= MAX_SEALED_DATA => Some(data.to_vec()),
            _ => {
                core.log("refused a malformed state transfer");
                return core.reject(conn_id, direction, counter, reject_reason::FORGED);
            }
        };
        let size = kept.as_ref().map_or(0, Vec::len);
        core.kept = kept;
        core.dirty = true;
        core.log(&format!("took over the sealed data of its old version ({size} bytes)"));
        core.accepted(conn_id, direction, counter);
    }

    /// Run a callback with a context; `Err(text)` if it returned an error or panicked.
    fn run_callback(&mut self, kind: IoKind, name: &str, data: &[u8]) -> Result<Vec<u8>, String> {
        let Some(cb) = self.callbacks.get_mut(&(kind, name.to_string())) else {
            return Err(format!("no function for {} {name:?}", kind.name()));
        };
        let mut ctx = Context { core: &mut self.core };
        match catch_unwind(AssertUnwindSafe(|| cb(&mut ctx, data))) {
            Ok(result) => result,
            Err(payload) => Err(panic_text(payload)),
        }
    }

    fn deliver(&mut self, m: HostDeliver) {
        let (conn_id, direction, counter) = (m.conn_id, m.direction, m.counter);
        let Some(conn) = self.core.connections.get(&conn_id) else {
            return self.core.reject(conn_id, direction, counter, reject_reason::UNKNOWN_CONNECTION);
        };
        if direction == 1 {
            // nobody is waiting for it (late or bogus)
            return self.core.reject(conn_id, direction, counter, reject_reason::REPLAY);
        }
        if direction != 0 || conn.role != ROLE_RECEIVER {
            return self.core.reject(conn_id, direction, counter, reject_reason::FORGED);
        }
        let endpoint = conn.endpoint.clone();
        let Some(data) = self.core.open(conn_id, direction, counter, &m.ciphertext) else {
            return;
        };
        if endpoint.id == STATE_IN_ID {
            // never user code: the old version's sealed data
            return self.take_state(conn_id, direction, counter, &data);
        }
        let what = format!("{} {:?}", endpoint.kind.name(), endpoint.name);
        let outcome = self.run_callback(endpoint.kind, &endpoint.name, &data).and_then(|reply| {
            if reply.len() > MAX_EVENT_PAYLOAD {
                Err(format!("reply of {} bytes exceeds {MAX_EVENT_PAYLOAD}", reply.len()))
            } else {
                Ok(reply)
            }
        });
        match outcome {
            Err(text) => {
                if let Some(conn) = self.core.connections.get_mut(&conn_id) {
                    conn.stats.failed += 1;
                }
                self.core.log(&format!("{what} failed; the event is dropped: {text}"));
            }
            Ok(reply) if endpoint.kind == IoKind::Handler => {
                let sealed = self.core.connections.get(&conn_id).map(|c| c.end.seal_with(1, counter, &reply));
                match sealed {
                    Some(Ok(ciphertext)) => {
                        if let Some(conn) = self.core.connections.get_mut(&conn_id) {
                            conn.stats.emitted += 1;
                        }
                        self.core.send(HostEmit { conn_id, direction: 1, counter, ciphertext }, 0);
                    }
                    Some(Err(e)) => self.core.log(&format!("{what}: cannot seal the reply: {e}")),
                    None => self.core.log(&format!("{what}: connection {conn_id} was removed; reply dropped")),
                }
            }
            Ok(_) => {}
        }
        self.core.accepted(conn_id, direction, counter);
    }

    fn call(&mut self, m: crate::wire::HostCall, request_id: u32) {
        let answer = |core: &mut Core, status: u8, payload: Vec<u8>| {
            core.send(HostCallResult { status, payload }, request_id);
        };
        let endpoint = match self.core.manifest.by_id(m.entry_id) {
            Some(e) if e.kind == IoKind::Entry && self.callbacks.contains_key(&(IoKind::Entry, e.name.clone())) => {
                e.clone()
            }
            _ => {
                let text = format!("unknown entry id 0x{:04x} in module {:?}", m.entry_id, self.core.manifest.name);
                return answer(&mut self.core, call_status::UNKNOWN_ENTRY, text.into_bytes());
            }
        };
        let mut arg = m.payload;
        let mut key: Option<Secret> = None;
        if m.authenticated != 0 {
            let opened = (|| {
                let k = self.core.control_key.as_ref().ok_or_else(|| "not attested".to_string())?;
                self.core.window.check(m.counter).map_err(|_| {
                    format!("control counter {} is not greater than {}", m.counter, self.core.window.last)
                })?;
                let plain =
                    open_call(self.core.control, k.reveal(), m.entry_id, m.counter, &arg).map_err(|e| e.to_string())?;
                Ok::<_, String>((plain, k.clone()))
            })();
            match opened {
                Ok((plain, k)) => {
                    self.core.window.accept(m.counter);
                    self.core.dirty = true;
                    arg = plain;
                    key = Some(k);
                }
                Err(text) => {
                    let text = format!("entry {:?}: {text}", endpoint.name);
                    return answer(&mut self.core, call_status::AUTH_FAILED, text.into_bytes());
                }
            }
        } else if !endpoint.public {
            let text = format!("entry {:?} is not public", endpoint.name);
            return answer(&mut self.core, call_status::NOT_PUBLIC, text.into_bytes());
        }
        let (status, mut result) = match self.run_callback(IoKind::Entry, &endpoint.name, &arg) {
            Ok(r) if r.len() > MAX_RESULT_PAYLOAD => (
                call_status::ENTRY_FAILED,
                format!("result of {} bytes exceeds {MAX_RESULT_PAYLOAD}", r.len()).into_bytes(),
            ),
            Ok(r) => (call_status::OK, r),
            Err(text) => {
                self.core.log(&format!("entry {:?} failed: {text}", endpoint.name));
                let mut bytes = text.into_bytes();
                bytes.truncate(MAX_RESULT_PAYLOAD);
                (call_status::ENTRY_FAILED, bytes)
            }
        };
        if let Some(k) = key {
            match seal_result(self.core.control, k.reveal(), m.entry_id, m.counter, status, &result) {
                Ok(sealed) => result = sealed,
                Err(e) => {
                    let text = format!("entry {:?}: cannot seal the result: {e}", endpoint.name);
                    return answer(&mut self.core, call_status::AUTH_FAILED, text.into_bytes());
                }
            }
        }
        answer(&mut self.core, status, result)
    }

    /// True when the state changed since it was last sealed (persistent modules).
    pub fn needs_sealing(&self) -> bool {
        self.core.persistent && self.core.dirty
    }

    /// Whether this module keeps sealed state.
    pub fn persistent(&self) -> bool {
        self.core.persistent
    }

    /// The state to seal: control key and window, every connection's key, suite, role and
    /// counters, and the `ctx.seal` data, in the compiled SDKs' format (docs/sdk-c.md §1.1:
    /// "AXST" 1 | name | attested | key | control last | connections | data). Marks the state
    /// sealed: call it only to hand the result to the platform. Secret.
    pub fn export_state(&mut self) -> Vec<u8> {
        let state = self.core.export();
        self.core.dirty = false;
        state
    }

    /// Seal through `sealer` (the platform) whenever the state changed, before any message
    /// leaves the module; a failed seal stops the module without sending anything more.
    pub fn set_sealer(&mut self, sealer: Sealer) {
        self.core.sealer = Some(sealer);
    }

    /// Why the module must stop (a seal failed), if it must.
    pub fn fatal(&self) -> Option<&str> {
        self.core.fatal.as_deref()
    }

    /// Take back an exported state; on error the runtime is unchanged.
    pub fn restore_state(&mut self, state: &[u8]) -> Result<(), String> {
        let core = &mut self.core;
        let mut r = Reader::new(state);
        let bad = |e: crate::wire::WireError| format!("the state is truncated or malformed ({e})");
        if r.bytes("magic").map_err(bad)? != b"AXST" || r.u8("format").map_err(bad)? != 1 {
            return Err("not a sealed state of a compiled authex SDK".into());
        }
        if r.str("name").map_err(bad)? != core.manifest.name {
            return Err(format!("the state is not one of module {:?}", core.manifest.name));
        }
        let attested = r.u8("attested").map_err(bad)? != 0;
        let mut key = [0u8; KEY_SIZE];
        for b in key.iter_mut() {
            *b = r.u8("control key").map_err(bad)?;
        }
        let control_last = r.u64("control last").map_err(bad)?;
        let count = r.u16("connections").map_err(bad)?;
        let mut connections = BTreeMap::new();
        for i in 0..count {
            let conn_id = r.u32("conn id").map_err(bad)?;
            let io_id = r.u16("io id").map_err(bad)?;
            let role = r.u8("role").map_err(bad)?;
            let suite = Suite::from_id(r.u8("suite").map_err(bad)?);
            let mut conn_key = vec![0u8; KEY_SIZE];
            for b in conn_key.iter_mut() {
                *b = r.u8("key").map_err(bad)?;
            }
            let sent = r.u64("sent").map_err(bad)?;
            let last = r.u64("received").map_err(bad)?;
            let gaps = r.u64("gaps").map_err(bad)?;
            if role != ROLE_SENDER && role != ROLE_RECEIVER {
                return Err(format!("connection {i} of the state has an unknown role"));
            }
            let (Some(endpoint), Some(suite)) = (core.endpoint(io_id), suite) else {
                return Err(format!("connection {i} of the state does not fit this module"));
            };
            if !role_kinds(role).contains(&endpoint.kind) {
                return Err(format!("connection {i} of the state does not fit this module"));
            }
            let mut end = ChannelEnd::new(conn_id, suite, Secret::new(conn_key));
            end.sent = sent;
            end.receive = ReceiveWindow { last, gaps, rejected: 0 };
            connections.insert(conn_id, Connection { end, endpoint, role, stats: ConnectionStats::default() });
        }
        let has_kept = r.u8("has data").map_err(bad)? != 0;
        let kept = r.bytes("data").map_err(bad)?;
        r.finish().map_err(bad)?;
        core.control_key = if attested { Some(Secret::new(key.to_vec())) } else { None };
        core.window = ReceiveWindow { last: control_last, gaps: 0, rejected: 0 };
        core.connections = connections;
        core.kept = if has_kept { Some(kept) } else { None };
        core.dirty = false;
        Ok(())
    }
}
