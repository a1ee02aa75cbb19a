//! The developer-facing registry: a [`Module`] declares outputs and requests and registers the
//! callbacks of inputs, entries and handlers. The `#[authex::module]` macro builds one; it can
//! also be built by hand:
//!
//! ```
//! use authex::{Context, Module};
//!
//! fn reading(ctx: &mut Context, data: &[u8]) {
//!     ctx.emit("alert", data);
//! }
//!
//! let module = Module::new()
//!     .output("alert")
//!     .input("reading", reading)
//!     .public_entry("ping", |_ctx: &mut Context, _arg: &[u8]| b"pong".to_vec());
//! assert!(module.check().is_ok());
//! ```

use std::fmt::Display;

use crate::manifest::{assign_ids, valid_name, IoKind, Manifest};
use crate::runtime::Context;
use crate::suites::available_suites;

/// A registered callback: `(ctx, data) -> reply bytes or a failure text`.
pub type Callback = Box<dyn FnMut(&mut Context<'_>, &[u8]) -> Result<Vec<u8>, String>>;

/// What a callback may return: bytes (`Vec<u8>`, `&'static [u8]`, `String`, `&'static str`),
/// nothing (`()`, an empty reply), or a `Result` of those whose error is any `Display` (an entry
/// then fails with status ENTRY_FAILED and the error's text; an input or handler logs it).
pub trait IntoReply {
    fn into_reply(self) -> Result<Vec<u8>, String>;
}

impl IntoReply for () {
    fn into_reply(self) -> Result<Vec<u8>, String> {
        Ok(Vec::new())
    }
}
impl IntoReply for Vec<u8> {
    fn into_reply(self) -> Result<Vec<u8>, String> {
        Ok(self)
    }
}
impl IntoReply for &'static [u8] {
    fn into_reply(self) -> Result<Vec<u8>, String> {
        Ok(self.to_vec())
    }
}
impl<const N: usize> IntoReply for [u8; N] {
    fn into_reply(self) -> Result<Vec<u8>, String> {
        Ok(self.to_vec())
    }
}
impl<const N: usize> IntoReply for &'static [u8; N] {
    fn into_reply(self) -> Result<Vec<u8>, String> {
        Ok(self.to_vec())
    }
}
impl IntoReply for String {
    fn into_reply(self) -> Result<Vec<u8>, String> {
        Ok(self.into_bytes())
    }
}
impl IntoReply for &'static str {
    fn into_reply(self) -> Result<Vec<u8>, String> {
        Ok(self.as_bytes().to_vec())
    }
}
impl<T: IntoReply, E: Display> IntoReply for Result<T, E> {
    fn into_reply(self) -> Result<Vec<u8>, String> {
        match self {
            Ok(v) => v.into_reply(),
            Err(e) => Err(e.to_string()),
        }
    }
}

pub(crate) struct Registered {
    pub kind: IoKind,
    pub name: String,
    pub public: bool,
    pub callback: Option<Callback>,
}

/// The interface of one module and its callbacks.
#[derive(Default)]
pub struct Module {
    pub(crate) declared: Vec<Registered>,
    errors: Vec<String>,
    pub(crate) persistent: bool,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.declared.iter().map(|r| format!("{} {}", r.kind.name(), r.name)).collect();
        write!(f, "Module({})", names.join(", "))
    }
}

fn wrap<F, R>(mut f: F) -> Callback
where
    F: FnMut(&mut Context<'_>, &[u8]) -> R + 'static,
    R: IntoReply,
{
    Box::new(move |ctx: &mut Context<'_>, data: &[u8]| f(ctx, data).into_reply())
}

impl Module {
    pub fn new() -> Self {
        Module::default()
    }

    fn add(mut self, kind: IoKind, name: &str, public: bool, callback: Option<Callback>) -> Self {
        if !valid_name(name) {
            self.errors.push(format!(
                "{} name {name:?} is invalid: use letters, digits, '_' or '-', starting with a letter or '_', at most 64 characters",
                kind.name()
            ));
        } else if self.declared.iter().any(|r| r.kind == kind && r.name == name) {
            self.errors.push(format!("{} {name:?} is declared twice", kind.name()));
        } else {
            self.declared.push(Registered { kind, name: name.to_string(), public, callback });
        }
        self
    }

    /// Declare an output: `ctx.emit(name, data)` sends on every connection from it.
    pub fn output(self, name: &str) -> Self {
        self.add(IoKind::Output, name, false, None)
    }

    /// Declare a request: `ctx.request(name, data)` returns the connected handler's reply.
    pub fn request(self, name: &str) -> Self {
        self.add(IoKind::Request, name, false, None)
    }

    /// Run `f(ctx, data)` for every event arriving on input `name` (its reply is ignored).
    pub fn input<F, R>(self, name: &str, f: F) -> Self
    where
        F: FnMut(&mut Context<'_>, &[u8]) -> R + 'static,
        R: IntoReply,
    {
        self.add(IoKind::Input, name, false, Some(wrap(f)))
    }

    /// An entry the operator calls, authenticated under the module key.
    pub fn entry<F, R>(self, name: &str, f: F) -> Self
    where
        F: FnMut(&mut Context<'_>, &[u8]) -> R + 'static,
        R: IntoReply,
    {
        self.add(IoKind::Entry, name, false, Some(wrap(f)))
    }

    /// An entry that may also be called unauthenticated (e.g. by a timer).
    pub fn public_entry<F, R>(self, name: &str, f: F) -> Self
    where
        F: FnMut(&mut Context<'_>, &[u8]) -> R + 'static,
        R: IntoReply,
    {
        self.add(IoKind::Entry, name, true, Some(wrap(f)))
    }

    /// Answer requests connected to handler `name` with `f(ctx, data)`'s reply.
    pub fn handler<F, R>(self, name: &str, f: F) -> Self
    where
        F: FnMut(&mut Context<'_>, &[u8]) -> R + 'static,
        R: IntoReply,
    {
        self.add(IoKind::Handler, name, false, Some(wrap(f)))
    }

    /// Keep sealed state: the platform seals the module's keys, counters and the data given to
    /// `ctx.seal` before anything it produces leaves it, and a restarted module resumes from them
    /// (`spec/protocol.md` §7.5).
    pub fn persistent(mut self) -> Self {
        self.persistent = true;
        self
    }

    /// Whether the module keeps sealed state.
    pub fn is_persistent(&self) -> bool {
        self.persistent
    }

    /// Declaration errors (invalid or duplicate names), if any.
    pub fn check(&self) -> Result<(), String> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors.join("; "))
        }
    }

    /// Is `name` declared as `kind`?
    pub fn is_declared(&self, kind: IoKind, name: &str) -> bool {
        self.declared.iter().any(|r| r.kind == kind && r.name == name)
    }

    /// The manifest of this module deployed as `name` with the given operator key (hex).
    pub fn manifest(&self, name: &str, operator_key_hex: &str) -> Result<Manifest, String> {
        self.check()?;
        let declared: Vec<(IoKind, String, bool)> =
            self.declared.iter().map(|r| (r.kind, r.name.clone(), r.public)).collect();
        Ok(Manifest {
            name: name.to_string(),
            language: "rust".to_string(),
            suites: available_suites().into_iter().map(String::from).collect(),
            endpoints: assign_ids(&declared)?,
            operator_key: operator_key_hex.to_string(),
            format: crate::manifest::MANIFEST_FORMAT,
        })
    }
}
