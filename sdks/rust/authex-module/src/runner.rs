//! The module process (I/O edge), equivalent to Python's `authex.sdk.runner`.
//!
//! ```text
//! MODULE --manifest NAME [OPERATOR_KEY_HEX]     print the manifest JSON and exit
//! MODULE [-] --name NAME [--platform-fd N]      run on the host link (stdin/stdout)
//! ```
//!
//! As a module process it:
//!
//! 1. keeps the real stdin/stdout for frames and points fd 0 at /dev/null and fd 1 at stderr,
//!    so a stray `println!` in module code cannot corrupt the protocol;
//! 2. with `--platform-fd N`, reads `ModuleIdentity` from the platform link (its `payload` is
//!    ignored: the binary itself is the module), takes the TEE kind, measurement and module key
//!    from it and keeps the link for SGX quotes; without it the TEE is `native` and the
//!    measurement is SHA-256 of the executable;
//! 3. sends `HostReady(name, measurement)`, then feeds every frame to [`Runtime::handle`].
//!
//! While a callback waits in `ctx.request`, frames that are not the awaited response are queued
//! and handled after the callback returns; callbacks are never re-entered.
//!
//! Exit status: 0 on HostStop or end of input, 2 on a load/usage error, 3 on malformed input
//! from the agent, 1 when the host link breaks while writing.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::attest::{control_suite, Attester, Quoter};
use crate::module::Module;
use crate::runtime::{HostIo, Runtime, WaitError};
use crate::wire::{
    FrameDecoder, HostDeliver, HostReady, HostResumed, Link, Message, ModuleIdentity, QuoteRequest, SealRequest,
    UnsealRequest, DEFAULT_MAX_PAYLOAD,
};
use crate::{to_hex, MODULE_NAME, OPERATOR_KEY_HEX};

pub const EXIT_OK: i32 = 0;
pub const EXIT_LINK: i32 = 1;
pub const EXIT_LOAD: i32 = 2;
pub const EXIT_MALFORMED: i32 = 3;
const READ_SIZE: usize = 1 << 16;
/// The operator key printed in a manifest of a binary built without one.
const NO_OPERATOR_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000000";

struct LinkState {
    input: File,
    output: File,
    decoder: FrameDecoder,
    ready: VecDeque<(Message, u32)>,
    eof: bool,
    /// Set when the link must close: (exit status, reason).
    closed: Option<(i32, String)>,
}

impl LinkState {
    fn close(&mut self, status: i32, reason: String) {
        if self.closed.is_none() {
            self.closed = Some((status, reason));
        }
        self.eof = true;
    }

    /// Decode whatever arrives within `timeout`; false if nothing did (or at EOF).
    fn read_more(&mut self, timeout: Option<Duration>) -> bool {
        if self.eof {
            return false;
        }
        if let Some(t) = timeout {
            let mut pfd =
                libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(&self.input), events: libc::POLLIN, revents: 0 };
            let ms = t.as_millis().clamp(1, i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd for the duration of the call.
            let n = unsafe { libc::poll(&mut pfd, 1, ms) };
            if n == 0 || (n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted) {
                return false;
            }
        }
        let mut buf = vec![0u8; READ_SIZE];
        let n = match self.input.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return false,
            Err(e) => {
                self.close(EXIT_LINK, format!("host link closed while reading: {e}"));
                return false;
            }
        };
        if n == 0 {
            self.eof = true;
            if self.decoder.pending() {
                self.close(EXIT_MALFORMED, "input ended inside a frame".into());
            }
            return false;
        }
        self.decoder.feed(&buf[..n]);
        loop {
            match self.decoder.next_frame() {
                Ok(Some(frame)) => match Link::Host.decode(&frame) {
                    Ok(message) => self.ready.push_back((message, frame.request_id)),
                    Err(e) => {
                        self.close(EXIT_MALFORMED, format!("malformed input from the agent: {e}"));
                        return false;
                    }
                },
                Ok(None) => return true,
                Err(e) => {
                    self.close(EXIT_MALFORMED, format!("malformed input from the agent: {e}"));
                    return false;
                }
            }
        }
    }
}

/// The host link on the module's (claimed) stdin/stdout.
#[derive(Clone)]
pub struct StdioLink(Rc<RefCell<LinkState>>);

impl StdioLink {
    /// A link over two file descriptors this process owns.
    ///
    /// # Safety
    /// `in_fd` and `out_fd` must be open descriptors owned by the caller and not used elsewhere.
    pub unsafe fn from_fds(in_fd: RawFd, out_fd: RawFd) -> Self {
        StdioLink(Rc::new(RefCell::new(LinkState {
            input: File::from_raw_fd(in_fd),
            output: File::from_raw_fd(out_fd),
            decoder: FrameDecoder::new(DEFAULT_MAX_PAYLOAD),
            ready: VecDeque::new(),
            eof: false,
            closed: None,
        })))
    }

    /// The next frame to handle (queued ones first); `None` at end of input or when closed.
    pub fn next(&self) -> Option<(Message, u32)> {
        let mut s = self.0.borrow_mut();
        loop {
            if let Some(item) = s.ready.pop_front() {
                return Some(item);
            }
            if s.eof || s.closed.is_some() {
                return None;
            }
            s.read_more(None);
        }
    }

    /// Why the link closed, if it did: (exit status, reason).
    pub fn closed(&self) -> Option<(i32, String)> {
        self.0.borrow().closed.clone()
    }
}

impl HostIo for StdioLink {
    fn send(&mut self, message: Message, request_id: u32) {
        let mut s = self.0.borrow_mut();
        if s.closed.is_some() {
            return;
        }
        let frame = match message.encode(request_id) {
            Ok(f) if f.len() - 9 <= DEFAULT_MAX_PAYLOAD => f,
            Ok(_) => return eprintln!("authex: dropped an oversize {} frame", message.name()),
            Err(e) => return eprintln!("authex: cannot encode {}: {e}", message.name()),
        };
        if let Err(e) = s.output.write_all(&frame) {
            s.close(EXIT_LINK, format!("host link closed while writing: {e}"));
        }
    }

    fn wait_response(&mut self, conn_id: u32, counter: u64, timeout: Duration) -> Result<HostDeliver, WaitError> {
        let deadline = Instant::now() + timeout;
        let mut s = self.0.borrow_mut();
        let mut scanned = 0;
        loop {
            while scanned < s.ready.len() {
                if let (Message::HostDeliver(d), _) = &s.ready[scanned] {
                    if d.conn_id == conn_id && d.direction == 1 && d.counter == counter {
                        if let Some((Message::HostDeliver(d), _)) = s.ready.remove(scanned) {
                            return Ok(d);
                        }
                    }
                }
                scanned += 1;
            }
            if let Some((_, why)) = &s.closed {
                return Err(WaitError::Closed(why.clone()));
            }
            if s.eof {
                return Err(WaitError::Closed("the host link was closed while waiting for a response".into()));
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(WaitError::Timeout);
            }
            s.read_more(Some(remaining));
        }
    }
}

/// The module's side of the platform link (`--platform-fd`).
pub struct PlatformLink {
    file: File,
    decoder: FrameDecoder,
    next_id: u32,
}

impl PlatformLink {
    /// # Safety
    /// `fd` must be an open descriptor owned by the caller and not used elsewhere.
    pub unsafe fn from_fd(fd: RawFd) -> Self {
        PlatformLink {
            file: File::from_raw_fd(fd),
            decoder: FrameDecoder::new(crate::wire::CONTROL_MAX_PAYLOAD),
            next_id: 1,
        }
    }

    fn read(&mut self) -> Result<(Message, u32), String> {
        let mut buf = vec![0u8; READ_SIZE];
        loop {
            match self.decoder.next_frame() {
                Ok(Some(frame)) => {
                    return Link::PlatformModuleReply
                        .decode(&frame)
                        .map(|m| (m, frame.request_id))
                        .map_err(|e| e.to_string())
                }
                Ok(None) => {}
                Err(e) => return Err(e.to_string()),
            }
            let n = self.file.read(&mut buf).map_err(|e| format!("platform link: {e}"))?;
            if n == 0 {
                return Err("the platform closed its link".into());
            }
            self.decoder.feed(&buf[..n]);
        }
    }

    /// The first frame: who this module is.
    pub fn identity(&mut self) -> Result<ModuleIdentity, String> {
        match self.read()? {
            (Message::ModuleIdentity(identity), _) => Ok(identity),
            _ => Err("the platform did not send the module identity first".into()),
        }
    }

    fn ask(&mut self, request: Message) -> Result<Message, String> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let frame = request.encode(id).map_err(|e| e.to_string())?;
        self.file.write_all(&frame).map_err(|e| format!("platform link: {e}"))?;
        match self.read()? {
            (Message::Error(e), _) => Err(e.message),
            (reply, rid) if rid == id => Ok(reply),
            _ => Err("the platform answered another request".into()),
        }
    }

    /// Seal the module's state with the platform; the version it got.
    pub fn seal(&mut self, state: &[u8]) -> Result<u64, String> {
        match self.ask(Message::SealRequest(SealRequest { data: state.to_vec() }))? {
            Message::SealReply(reply) => Ok(reply.version),
            _ => Err("the platform answered a seal request with something else".into()),
        }
    }

    /// (version, state) last sealed for this module; (0, empty) if none.
    pub fn unseal(&mut self) -> Result<(u64, Vec<u8>), String> {
        match self.ask(Message::UnsealRequest(UnsealRequest {}))? {
            Message::UnsealReply(reply) => Ok((reply.version, reply.data)),
            _ => Err("the platform answered an unseal request with something else".into()),
        }
    }

    /// Ask the platform for a quote over `report_data` (SGX).
    pub fn quote(&mut self, report_data: &[u8]) -> Result<Vec<u8>, String> {
        match self.ask(Message::QuoteRequest(QuoteRequest { report_data: report_data.to_vec() })) {
            Ok(Message::QuoteReply(reply)) => Ok(reply.quote),
            Ok(_) => Err("platform answered a quote request with something else".into()),
            Err(e) => Err(format!("platform refused to quote: {e}")),
        }
    }
}

/// Keep the real stdin/stdout for frames; fd 0 becomes /dev/null and fd 1 stderr.
fn claim_stdio() -> Result<(RawFd, RawFd), String> {
    // SAFETY: plain descriptor syscalls on fds 0, 1, 2 and the ones they return.
    unsafe {
        let in_fd = libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3);
        let out_fd = libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3);
        if in_fd < 0 || out_fd < 0 {
            return Err(format!("cannot claim stdin/stdout: {}", std::io::Error::last_os_error()));
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::close(null);
        }
        libc::dup2(2, 1);
        Ok((in_fd, out_fd))
    }
}

struct Args {
    name: Option<String>,
    platform_fd: Option<RawFd>,
}

const USAGE: &str = "usage: MODULE --manifest NAME [OPERATOR_KEY_HEX]\n       MODULE [-] --name NAME [--platform-fd N]";

fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut args = Args { name: None, platform_fd: None };
    let mut i = 0;
    while i < argv.len() {
        let a = argv[i].as_str();
        let value = |i: usize| argv.get(i + 1).cloned().ok_or_else(|| format!("{a} needs a value"));
        match a {
            "--name" => {
                args.name = Some(value(i)?);
                i += 1;
            }
            "--platform-fd" => {
                let v = value(i)?;
                args.platform_fd = Some(v.parse().map_err(|_| format!("--platform-fd {v:?} is not a number"))?);
                i += 1;
            }
            "-" => {} // the Python runner's artifact argument: a Rust module is its own artifact
            other => return Err(format!("unexpected argument {other:?}")),
        }
        i += 1;
    }
    Ok(args)
}

/// The name the module runs as: `--name`, checked against the compiled-in name if any.
fn deployed_name(given: Option<&str>) -> Result<String, String> {
    match (given, MODULE_NAME) {
        (Some(n), "") => Ok(n.to_string()),
        (Some(n), built) if n == built => Ok(n.to_string()),
        (Some(n), built) => Err(format!("module was built for name {built:?}, not {n:?}")),
        (None, "") => Err("--name is required".into()),
        (None, built) => Ok(built.to_string()),
    }
}

/// `--manifest NAME [KEY]`: print the manifest JSON (exit 0) or an error (exit 2).
fn print_manifest(module: &Module, argv: &[String]) -> i32 {
    let (name, key) = match argv {
        [name] => (name, None),
        [name, key] => (name, Some(key.to_ascii_lowercase())),
        _ => {
            eprintln!("{USAGE}");
            return EXIT_LOAD;
        }
    };
    let name = match deployed_name(Some(name)) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("authex: {e}");
            return EXIT_LOAD;
        }
    };
    if let Some(key) = key {
        if OPERATOR_KEY_HEX.is_empty() {
            eprintln!("authex: this module was built without AUTHEX_OPERATOR_KEY, not for operator key {key}");
            return EXIT_LOAD;
        }
        if key != OPERATOR_KEY_HEX {
            eprintln!("authex: this module was built for operator key {OPERATOR_KEY_HEX}, not {key}");
            return EXIT_LOAD;
        }
    }
    let operator = if OPERATOR_KEY_HEX.is_empty() { NO_OPERATOR_KEY } else { OPERATOR_KEY_HEX };
    match module.manifest(&name, operator) {
        Ok(m) => {
            println!("{}", m.to_json());
            EXIT_OK
        }
        Err(e) => {
            eprintln!("authex: module {name:?}: {e}");
            EXIT_LOAD
        }
    }
}

/// A persistent module: seal through the platform from now on, and restore the last sealed
/// state; the version resumed, 0 for a fresh start (the reason is logged).
fn resume(runtime: &mut Runtime, platform: Option<&Rc<RefCell<PlatformLink>>>, name: &str) -> u64 {
    let Some(platform) = platform else {
        eprintln!("[{name}] persistent, but there is no platform link: state is not sealed");
        return 0;
    };
    let sealing = Rc::clone(platform);
    runtime.set_sealer(Box::new(move |state: &[u8]| sealing.borrow_mut().seal(state)));
    let unsealed = platform.borrow_mut().unseal();
    match unsealed {
        Ok((_, state)) if state.is_empty() => 0,
        Ok((version, state)) => match runtime.restore_state(&state) {
            Ok(()) => {
                eprintln!("[{name}] resumed from sealed state version {version}");
                version
            }
            Err(e) => {
                eprintln!("[{name}] starting fresh: sealed state cannot be restored: {e}");
                0
            }
        },
        Err(e) => {
            eprintln!("[{name}] starting fresh: {e}");
            0
        }
    }
}

fn measure_self() -> Result<Vec<u8>, String> {
    let path = std::env::current_exe().map_err(|e| format!("cannot find the executable: {e}"))?;
    let mut file = File::open(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().to_vec())
}

/// Run `module` as this process's module (the body of the generated `main`); returns the exit
/// status.
pub fn run(module: Module) -> i32 {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("--manifest") {
        return print_manifest(&module, &argv[1..]);
    }
    if matches!(argv.first().map(String::as_str), Some("--help" | "-h")) {
        println!("{USAGE}");
        return EXIT_OK;
    }
    let (in_fd, out_fd) = match claim_stdio() {
        Ok(fds) => fds,
        Err(e) => {
            eprintln!("authex runner: {e}");
            return EXIT_LOAD;
        }
    };
    // SAFETY: both descriptors were just duplicated for this link alone.
    let link = unsafe { StdioLink::from_fds(in_fd, out_fd) };
    let label = "authex runner";
    let prepared = (|| -> Result<(Runtime, String, Vec<u8>, Option<u64>), String> {
        let args = parse_args(&argv).map_err(|e| format!("{e}\n{USAGE}"))?;
        let name = deployed_name(args.name.as_deref())?;
        let (tee, module_key, measurement, platform) = match args.platform_fd {
            Some(fd) => {
                // SAFETY: the platform hands this descriptor to the module process alone.
                let mut platform = unsafe { PlatformLink::from_fd(fd) };
                let identity = platform.identity()?;
                (identity.tee, identity.module_key, identity.measurement, Some(platform))
            }
            None => ("native".to_string(), Vec::new(), measure_self()?, None),
        };
        let operator = if OPERATOR_KEY_HEX.is_empty() { NO_OPERATOR_KEY } else { OPERATOR_KEY_HEX };
        let manifest = module.manifest(&name, operator)?;
        let platform = platform.map(|p| Rc::new(RefCell::new(p)));
        let quoting = platform.clone();
        let quote: Quoter = Box::new(move |report_data: &[u8]| match quoting.as_ref() {
            Some(p) => p.borrow_mut().quote(report_data),
            None => Err("no platform link".to_string()),
        });
        let attester =
            Attester::for_tee(&tee, &name, crate::operator_key(), &module_key, quote).map_err(|e| e.to_string())?;
        let control = control_suite(&tee).ok_or_else(|| format!("unknown TEE {tee:?}"))?;
        let mut runtime = Runtime::new(manifest, module, Box::new(link.clone()), attester, control)?;
        let resumed = if runtime.persistent() { Some(resume(&mut runtime, platform.as_ref(), &name)) } else { None };
        Ok((runtime, name, measurement, resumed))
    })();
    let (mut runtime, name, measurement, resumed) = match prepared {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{label}: {e}");
            return EXIT_LOAD;
        }
    };
    let label = format!("authex runner [{name}]");
    let mut io = link.clone();
    io.send(Message::HostReady(HostReady { name, measurement: measurement.clone() }), 0);
    if let Some(version) = resumed {
        io.send(Message::HostResumed(HostResumed { version }), 0);
    }
    eprintln!("{label}: ready, measurement {}", to_hex(&measurement));
    loop {
        if let Some((status, reason)) = link.closed() {
            eprintln!("{label}: {reason}");
            return status;
        }
        let Some((message, request_id)) = link.next() else {
            if let Some((status, reason)) = link.closed() {
                eprintln!("{label}: {reason}");
                return status;
            }
            return EXIT_OK;
        };
        if !runtime.handle(message, request_id) {
            if let Some(why) = runtime.fatal() {
                eprintln!("{label}: {why}");
                return EXIT_LINK;
            }
            return EXIT_OK;
        }
    }
}
