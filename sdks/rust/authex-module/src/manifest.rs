//! The module manifest, byte-identical to the Python SDK's `Manifest.to_json()` (canonical JSON:
//! sorted keys, no whitespace, non-ASCII escaped as Python's `json.dumps` does).
//!
//! Ids are a function of the declared names only: `id = KIND_CODE << 12 | n`, where `n = 1, 2,
//! ...` numbers the names of one kind sorted by code point.

use std::fmt::Write;

pub const MANIFEST_FORMAT: u32 = 1;
pub const MAX_PER_KIND: usize = 0xFFF;

/// The reserved io id of an update's state-out end (sender side of the old version; never in a
/// manifest, never reached by user code; `spec/protocol.md` §7.6).
pub const STATE_OUT_ID: u16 = 0xF001;
/// The reserved io id of an update's state-in end (receiver side of the new version).
pub const STATE_IN_ID: u16 = 0xF002;

/// The endpoint behind a reserved state-transfer io id: state-out is an output, state-in an
/// input (their names are not valid interface names, so no user endpoint can match them).
pub fn state_end(id: u16) -> Option<Endpoint> {
    let (kind, name) = match id {
        STATE_OUT_ID => (IoKind::Output, "~state-out"),
        STATE_IN_ID => (IoKind::Input, "~state-in"),
        _ => return None,
    };
    Some(Endpoint { kind, name: name.to_string(), id, public: false })
}

/// What an endpoint of a module's interface is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IoKind {
    Input,
    Output,
    Entry,
    Request,
    Handler,
}

impl IoKind {
    /// In the order the manifest lists them.
    pub const ALL: [IoKind; 5] = [IoKind::Input, IoKind::Output, IoKind::Entry, IoKind::Request, IoKind::Handler];

    pub fn code(self) -> u16 {
        match self {
            IoKind::Input => 1,
            IoKind::Output => 2,
            IoKind::Entry => 3,
            IoKind::Request => 4,
            IoKind::Handler => 5,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            IoKind::Input => "input",
            IoKind::Output => "output",
            IoKind::Entry => "entry",
            IoKind::Request => "request",
            IoKind::Handler => "handler",
        }
    }
}

/// One endpoint with its stable id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub kind: IoKind,
    pub name: String,
    pub id: u16,
    /// Only meaningful for entries.
    pub public: bool,
}

/// A module's manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub name: String,
    pub language: String,
    pub suites: Vec<String>,
    pub endpoints: Vec<Endpoint>,
    /// Hex of the operator's Ed25519 public key compiled into the module.
    pub operator_key: String,
    pub format: u32,
}

/// True for `[A-Za-z_][A-Za-z0-9_-]{0,63}` (the interface name rule of every SDK).
pub fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_')
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
}

/// Give every declared endpoint its id; `declared` = (kind, name, public).
pub fn assign_ids(declared: &[(IoKind, String, bool)]) -> Result<Vec<Endpoint>, String> {
    let mut out = Vec::new();
    for kind in IoKind::ALL {
        let mut names: Vec<&(IoKind, String, bool)> = declared.iter().filter(|d| d.0 == kind).collect();
        names.sort_by(|a, b| a.1.cmp(&b.1)); // UTF-8 byte order = code point order
        if names.len() > MAX_PER_KIND {
            return Err(format!("more than {MAX_PER_KIND} {}s declared", kind.name()));
        }
        for (index, d) in names.into_iter().enumerate() {
            out.push(Endpoint { kind, name: d.1.clone(), id: kind.code() << 12 | (index as u16 + 1), public: d.2 });
        }
    }
    Ok(out)
}

/// A JSON string literal exactly as Python's `json.dumps` (ensure_ascii) writes it.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{:04x}", unit);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Manifest {
    pub fn find(&self, kind: IoKind, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.kind == kind && e.name == name)
    }

    pub fn by_id(&self, id: u16) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.id == id)
    }

    /// Canonical encoding: sorted keys, no whitespace, so equal manifests give equal bytes.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{\"endpoints\":[");
        for (i, e) in self.endpoints.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"id\":{},\"kind\":{},\"name\":{},\"public\":{}}}",
                e.id,
                json_string(e.kind.name()),
                json_string(&e.name),
                e.public
            );
        }
        let _ = write!(
            out,
            "],\"format\":{},\"language\":{},\"name\":{},\"operator_key\":{},\"suites\":[",
            self.format,
            json_string(&self.language),
            json_string(&self.name),
            json_string(&self.operator_key)
        );
        for (i, s) in self.suites.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&json_string(s));
        }
        out.push_str("]}");
        out
    }
}
