//! The frame layer and every message of the authex wire protocols (`spec/protocol.md`).
//!
//! A frame is `u32 length | u8 type | u32 request_id | payload`, big-endian, where `length`
//! counts everything after itself (5 + payload). Payload fields are encoded in declaration
//! order: integers big-endian, `bytes` as `u32` length + data, `str` as `u16` length + UTF-8.
//!
//! The module side needs only the host and platform links, but every message of every link is
//! defined here (the table is short) so the whole of `spec/vectors/frames.json` can be checked;
//! except the agent's `StatusResult` (0x1d), whose typed records only the deployer reads
//! (`spec/vectors/status.json`).

use std::fmt;

/// Bytes of the frame header: length (4), type (1), request id (4).
pub const HEADER_SIZE: usize = 9;
/// Payload limit of data and host links (1 MiB).
pub const DEFAULT_MAX_PAYLOAD: usize = 1 << 20;
/// Payload limit of control links and of platform frames towards a module (64 MiB).
pub const CONTROL_MAX_PAYLOAD: usize = 64 << 20;

/// A wire field kind (`spec/protocol.md` §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    U8,
    U16,
    U32,
    U64,
    Bytes,
    Str,
}

impl Kind {
    /// The spelling used in the spec and in `frames.json`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::U8 => "u8",
            Kind::U16 => "u16",
            Kind::U32 => "u32",
            Kind::U64 => "u64",
            Kind::Bytes => "bytes",
            Kind::Str => "str",
        }
    }
}

/// One decoded field value, for generic inspection (tests, diagnostics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Int(u64),
    Bytes(Vec<u8>),
    Str(String),
}

/// Why a frame or payload was refused. Never carries payload bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    /// The frame layer refused the input: the link must be closed.
    Frame(String),
    /// One whole frame, but not a valid message of the link: the link must be closed.
    Message(String),
    /// A sender tried to produce something the protocol cannot carry.
    Encode(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Frame(m) => write!(f, "malformed frame: {m}"),
            WireError::Message(m) => write!(f, "malformed message: {m}"),
            WireError::Encode(m) => write!(f, "cannot encode: {m}"),
        }
    }
}

impl std::error::Error for WireError {}

/// One frame as it came off the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub msg_type: u8,
    pub request_id: u32,
    pub payload: Vec<u8>,
}

/// Incremental frame decoder: accepts frames split across reads and many frames per read, and
/// rejects an oversize frame from its 9 header bytes alone.
#[derive(Debug)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
    max_payload: usize,
    failed: bool,
}

impl FrameDecoder {
    pub fn new(max_payload: usize) -> Self {
        FrameDecoder { buffer: Vec::new(), max_payload, failed: false }
    }

    /// Append bytes read from the link.
    pub fn feed(&mut self, data: &[u8]) {
        self.buffer.extend_from_slice(data);
    }

    /// True while part of a frame is buffered.
    pub fn pending(&self) -> bool {
        !self.buffer.is_empty()
    }

    /// The next complete frame, `None` if more bytes are needed, or the frame-layer error
    /// (after which the decoder stays failed).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, WireError> {
        if self.failed {
            return Err(WireError::Frame("the link already failed".into()));
        }
        if self.buffer.len() < HEADER_SIZE {
            return Ok(None);
        }
        let length = u32::from_be_bytes(self.buffer[0..4].try_into().unwrap()) as usize;
        if length < HEADER_SIZE - 4 {
            self.failed = true;
            return Err(WireError::Frame(format!("length {length} is below 5")));
        }
        let payload_size = length - (HEADER_SIZE - 4);
        if payload_size > self.max_payload {
            self.failed = true;
            return Err(WireError::Frame(format!(
                "payload of {payload_size} bytes exceeds the limit of {}",
                self.max_payload
            )));
        }
        if self.buffer.len() < 4 + length {
            return Ok(None);
        }
        let msg_type = self.buffer[4];
        let request_id = u32::from_be_bytes(self.buffer[5..9].try_into().unwrap());
        let payload = self.buffer[HEADER_SIZE..4 + length].to_vec();
        self.buffer.drain(..4 + length);
        Ok(Some(Frame { msg_type, request_id, payload }))
    }
}

/// Reads fields off a payload; every error is a malformed payload.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], WireError> {
        if self.data.len() - self.pos < n {
            return Err(WireError::Message(format!("field {what} runs past the end of the payload")));
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, WireError> {
        Ok(self.take(1, what)?[0])
    }
    pub fn u16(&mut self, what: &str) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.take(2, what)?.try_into().unwrap()))
    }
    pub fn u32(&mut self, what: &str) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    pub fn u64(&mut self, what: &str) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.take(8, what)?.try_into().unwrap()))
    }
    pub fn bytes(&mut self, what: &str) -> Result<Vec<u8>, WireError> {
        let n = self.u32(what)? as usize;
        Ok(self.take(n, what)?.to_vec())
    }
    pub fn str(&mut self, what: &str) -> Result<String, WireError> {
        let n = self.u16(what)? as usize;
        let raw = self.take(n, what)?;
        String::from_utf8(raw.to_vec()).map_err(|_| WireError::Message(format!("field {what} is not valid UTF-8")))
    }
    pub fn finish(&self) -> Result<(), WireError> {
        if self.pos != self.data.len() {
            return Err(WireError::Message(format!(
                "{} bytes remain after the last field",
                self.data.len() - self.pos
            )));
        }
        Ok(())
    }
}

/// Appends fields to a payload.
#[derive(Default)]
pub struct Writer {
    pub out: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    pub fn bytes(&mut self, v: &[u8]) -> Result<(), WireError> {
        let n = u32::try_from(v.len()).map_err(|_| WireError::Encode("bytes field longer than 2^32 - 1".into()))?;
        self.u32(n);
        self.out.extend_from_slice(v);
        Ok(())
    }
    pub fn str(&mut self, v: &str) -> Result<(), WireError> {
        let n = u16::try_from(v.len()).map_err(|_| WireError::Encode("str field longer than 65535 bytes".into()))?;
        self.u16(n);
        self.out.extend_from_slice(v.as_bytes());
        Ok(())
    }
}

/// A frame's bytes from its type, request id and payload.
pub fn encode_frame(msg_type: u8, request_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_SIZE + payload.len());
    out.extend_from_slice(&((payload.len() + 5) as u32).to_be_bytes());
    out.push(msg_type);
    out.extend_from_slice(&request_id.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

macro_rules! field_type {
    (u8) => { u8 };
    (u16) => { u16 };
    (u32) => { u32 };
    (u64) => { u64 };
    (bytes) => { Vec<u8> };
    (str) => { String };
}

macro_rules! field_kind {
    (u8) => {
        Kind::U8
    };
    (u16) => {
        Kind::U16
    };
    (u32) => {
        Kind::U32
    };
    (u64) => {
        Kind::U64
    };
    (bytes) => {
        Kind::Bytes
    };
    (str) => {
        Kind::Str
    };
}

macro_rules! field_value {
    (u8, $v:expr) => {
        Value::Int(u64::from($v))
    };
    (u16, $v:expr) => {
        Value::Int(u64::from($v))
    };
    (u32, $v:expr) => {
        Value::Int(u64::from($v))
    };
    (u64, $v:expr) => {
        Value::Int($v)
    };
    (bytes, $v:expr) => {
        Value::Bytes($v.clone())
    };
    (str, $v:expr) => {
        Value::Str($v.clone())
    };
}

macro_rules! write_field {
    ($w:ident, u8, $v:expr) => {
        $w.u8($v)
    };
    ($w:ident, u16, $v:expr) => {
        $w.u16($v)
    };
    ($w:ident, u32, $v:expr) => {
        $w.u32($v)
    };
    ($w:ident, u64, $v:expr) => {
        $w.u64($v)
    };
    ($w:ident, bytes, $v:expr) => {
        $w.bytes(&$v)?
    };
    ($w:ident, str, $v:expr) => {
        $w.str(&$v)?
    };
}

macro_rules! messages {
    ($( $(#[$doc:meta])* $name:ident = $code:literal { $($field:ident : $kind:ident),* $(,)? } )*) => {
        $(
            $(#[$doc])*
            #[derive(Clone, PartialEq, Eq)]
            pub struct $name { $(pub $field: field_type!($kind),)* }

            impl $name {
                pub const TYPE: u8 = $code;
                pub const FIELDS: &'static [(&'static str, Kind)] = &[$((stringify!($field), field_kind!($kind)),)*];

                #[allow(unused_mut, unused_variables)]
                fn decode_payload(payload: &[u8]) -> Result<Self, WireError> {
                    let mut r = Reader::new(payload);
                    let msg = $name { $($field: r.$kind(stringify!($field))?,)* };
                    r.finish()?;
                    Ok(msg)
                }

                #[allow(unused_mut)]
                fn encode_payload(&self) -> Result<Vec<u8>, WireError> {
                    let mut w = Writer::default();
                    $(write_field!(w, $kind, self.$field);)*
                    Ok(w.out)
                }

                fn values(&self) -> Vec<Value> {
                    vec![$(field_value!($kind, self.$field),)*]
                }
            }

            // Field values may be keys or ciphertexts: show sizes only.
            impl fmt::Debug for $name {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    let mut d = f.debug_struct(stringify!($name));
                    $(
                        let v = field_value!($kind, self.$field);
                        match &v {
                            Value::Int(i) => { d.field(stringify!($field), i); }
                            Value::Bytes(b) => { d.field(stringify!($field), &format_args!("<{} bytes>", b.len())); }
                            Value::Str(s) => { d.field(stringify!($field), s); }
                        }
                    )*
                    d.finish()
                }
            }

            impl From<$name> for Message {
                fn from(m: $name) -> Message { Message::$name(m) }
            }
        )*

        /// Every message of every link.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Message { $($name($name),)* }

        impl Message {
            pub fn type_code(&self) -> u8 {
                match self { $(Message::$name(_) => $code,)* }
            }
            pub fn name(&self) -> &'static str {
                match self { $(Message::$name(_) => stringify!($name),)* }
            }
            /// The payload bytes.
            pub fn encode_payload(&self) -> Result<Vec<u8>, WireError> {
                match self { $(Message::$name(m) => m.encode_payload(),)* }
            }
            /// The field values in wire order.
            pub fn values(&self) -> Vec<Value> {
                match self { $(Message::$name(m) => m.values(),)* }
            }
            /// Decode a payload of message type `code` (any link).
            pub fn decode(code: u8, payload: &[u8]) -> Result<Message, WireError> {
                match code {
                    $($code => Ok(Message::$name($name::decode_payload(payload)?)),)*
                    other => Err(WireError::Message(format!("unknown message type 0x{other:02x}"))),
                }
            }
        }

        /// The field schema of a message type, by code.
        pub fn schema(code: u8) -> Option<(&'static str, &'static [(&'static str, Kind)])> {
            match code {
                $($code => Some((stringify!($name), $name::FIELDS)),)*
                _ => None,
            }
        }
    };
}

messages! {
    // --- common
    Hello = 0x01 { link: u8, version: u8, peer: str }
    Ok = 0x02 { body: bytes }
    Error = 0x03 { code: u16, message: str }
    // --- control
    Load = 0x10 { module: str, tee: str, artifact: bytes, memory: u64 }
    Loaded = 0x11 { instance: u64, measurement: bytes }
    Attest = 0x12 { module: str, challenge: bytes }
    Attested = 0x13 { evidence: bytes }
    SetKey = 0x14 { module: str, conn_id: u32, io_id: u16, role: u8, suite: u8, counter: u64, wrapped: bytes }
    AddRoute = 0x16 { conn_id: u32, from_node: str, from_module: str, from_address: str, to_node: str, to_module: str, to_address: str }
    Call = 0x18 { module: str, entry_id: u16, authenticated: u8, counter: u64, payload: bytes }
    CallResult = 0x19 { status: u8, payload: bytes }
    Timer = 0x1a { module: str, entry_id: u16, period_ms: u32 }
    Status = 0x1c {}
    Remove = 0x1e { module: str }
    Reset = 0x20 {}
    Send = 0x22 { conn_id: u32, counter: u64, ciphertext: bytes }
    Request = 0x24 { conn_id: u32, counter: u64, ciphertext: bytes }
    Response = 0x25 { conn_id: u32, counter: u64, ciphertext: bytes }
    Watch = 0x26 { conn_id: u32 }
    WatchEvent = 0x27 { conn_id: u32, counter: u64, ciphertext: bytes }
    Shutdown = 0x28 {}
    /// Keys `conn_id` and forgets `replaces` in one step (updates, `spec/protocol.md` §7.6).
    SwapKey = 0x2a { module: str, conn_id: u32, replaces: u32, io_id: u16, role: u8, suite: u8, counter: u64, wrapped: bytes }
    Promote = 0x2c { staged: str }
    RemoveRoute = 0x2e { conn_id: u32 }
    /// Enrol an operator (the node's administrator only, `spec/protocol.md` §5.2).
    AddOperator = 0x30 { certificate: str, admin: u8 }
    RemoveOperator = 0x32 { key_id: str }
    /// Act for one deployment on this control link (`spec/protocol.md` §5.2.2).
    Bind = 0x34 { deployment: str }
    // --- data
    Event = 0x40 { conn_id: u32, direction: u8, counter: u64, ciphertext: bytes }
    EventAck = 0x41 { conn_id: u32, direction: u8, counter: u64 }
    // --- host
    HostReady = 0x80 { name: str, measurement: bytes }
    HostAttest = 0x81 { challenge: bytes }
    HostAttested = 0x82 { evidence: bytes }
    HostSetKey = 0x83 { conn_id: u32, io_id: u16, role: u8, suite: u8, counter: u64, wrapped: bytes }
    HostDeliver = 0x84 { conn_id: u32, direction: u8, counter: u64, ciphertext: bytes }
    HostCall = 0x85 { entry_id: u16, authenticated: u8, counter: u64, payload: bytes }
    HostCallResult = 0x86 { status: u8, payload: bytes }
    HostEmit = 0x87 { conn_id: u32, direction: u8, counter: u64, ciphertext: bytes }
    HostRejected = 0x88 { conn_id: u32, direction: u8, counter: u64, reason: u8 }
    HostStop = 0x89 {}
    /// Module -> agent: a delivery was authenticated and handed to the module's code (as the
    /// Python runtime sends it, so the agent can acknowledge it upstream).
    HostAccepted = 0x8a { conn_id: u32, direction: u8, counter: u64 }
    HostResumed = 0x8b { version: u64 }
    /// Agent -> module: a set-key that also forgets the connection it `replaces`; with
    /// `conn_id` 0 (a retire) it only forgets `replaces`.
    HostSwapKey = 0x8c { conn_id: u32, replaces: u32, io_id: u16, role: u8, suite: u8, counter: u64, wrapped: bytes }
    // --- platform links
    PlatformInfo = 0xa0 { tee: str, emulated: u8, description: str }
    PlatformLoad = 0xa1 { name: str, artifact: bytes, memory: u64 }
    PlatformLoaded = 0xa2 { measurement: bytes, pid: u32 }
    PlatformStop = 0xa3 { name: str }
    ModuleIdentity = 0xa8 { tee: str, emulated: u8, measurement: bytes, module_key: bytes, payload: bytes }
    QuoteRequest = 0xa9 { report_data: bytes }
    QuoteReply = 0xaa { quote: bytes }
    SealRequest = 0xab { data: bytes }
    SealReply = 0xac { version: u64 }
    UnsealRequest = 0xad {}
    UnsealReply = 0xae { version: u64, data: bytes }
}

impl Message {
    /// The whole frame for this message with `request_id`.
    pub fn encode(&self, request_id: u32) -> Result<Vec<u8>, WireError> {
        Ok(encode_frame(self.type_code(), request_id, &self.encode_payload()?))
    }
}

/// A receiving side of a link: which message types it accepts and its payload limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// The agent receiving from the deployer.
    Control,
    /// The deployer receiving from the agent.
    ControlReply,
    /// An agent receiving from another agent.
    Data,
    /// The module process receiving from the agent.
    Host,
    /// The agent receiving from the module process.
    HostReply,
    /// The platform receiving from the agent.
    Platform,
    /// The agent receiving from the platform.
    PlatformReply,
    /// The platform receiving from a module process.
    PlatformModuleRequest,
    /// A module process receiving from its platform.
    PlatformModuleReply,
}

impl Link {
    /// The name used in `frames.json`.
    pub fn from_name(name: &str) -> Option<Link> {
        Some(match name {
            "control" => Link::Control,
            "control reply" => Link::ControlReply,
            "data" => Link::Data,
            "host" => Link::Host,
            "host reply" => Link::HostReply,
            "platform" => Link::Platform,
            "platform reply" => Link::PlatformReply,
            "platform module request" => Link::PlatformModuleRequest,
            "platform module reply" => Link::PlatformModuleReply,
            _ => return None,
        })
    }

    pub fn accepted_types(self) -> &'static [u8] {
        match self {
            Link::Control => {
                &[0x01, 0x10, 0x12, 0x14, 0x16, 0x18, 0x1a, 0x1c, 0x1e, 0x20, 0x22, 0x24, 0x26, 0x28, 0x2a, 0x2c, 0x2e, 0x30, 0x32, 0x34]
            }
            Link::ControlReply => &[0x02, 0x03, 0x11, 0x13, 0x19, 0x25, 0x27],
            Link::Data => &[0x01, 0x02, 0x03, 0x40, 0x41],
            Link::Host => &[0x81, 0x83, 0x84, 0x85, 0x89, 0x8c],
            Link::HostReply => &[0x02, 0x03, 0x80, 0x82, 0x86, 0x87, 0x88, 0x8a, 0x8b],
            Link::Platform => &[0xa1, 0xa3],
            Link::PlatformReply => &[0xa0, 0xa2, 0x02, 0x03],
            Link::PlatformModuleRequest => &[0xa9, 0xab, 0xad],
            Link::PlatformModuleReply => &[0xa8, 0xaa, 0xac, 0xae, 0x03],
        }
    }

    /// Largest payload this receiver accepts.
    pub fn max_payload(self) -> usize {
        match self {
            Link::Control | Link::ControlReply | Link::Platform | Link::PlatformModuleReply => CONTROL_MAX_PAYLOAD,
            _ => DEFAULT_MAX_PAYLOAD,
        }
    }

    /// Decode a frame as a message of this link (other links' types are malformed input).
    pub fn decode(self, frame: &Frame) -> Result<Message, WireError> {
        if !self.accepted_types().contains(&frame.msg_type) {
            return Err(WireError::Message(format!("type 0x{:02x} is not a message of this link", frame.msg_type)));
        }
        Message::decode(frame.msg_type, &frame.payload)
    }
}

/// `Error.code` values (`spec/protocol.md` §8.1).
pub mod error_code {
    pub const BAD_REQUEST: u16 = 1;
    pub const UNKNOWN_MODULE: u16 = 2;
    pub const UNKNOWN_CONNECTION: u16 = 3;
    pub const MODULE_FAILED: u16 = 4;
    pub const BACKEND: u16 = 5;
    pub const TIMEOUT: u16 = 6;
    pub const REJECTED: u16 = 7;
    pub const INTERNAL: u16 = 8;
}

/// `HostCallResult.status` values (§8.2).
pub mod call_status {
    pub const OK: u8 = 0;
    pub const UNKNOWN_ENTRY: u8 = 1;
    pub const AUTH_FAILED: u8 = 2;
    pub const NOT_PUBLIC: u8 = 3;
    pub const ENTRY_FAILED: u8 = 4;
}

/// `HostRejected.reason` values (§8.3).
pub mod reject_reason {
    pub const UNKNOWN_CONNECTION: u8 = 1;
    pub const REPLAY: u8 = 2;
    pub const FORGED: u8 = 3;
    pub const NO_HANDLER: u8 = 4;
}
