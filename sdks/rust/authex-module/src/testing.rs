//! Testing a module without a node: [`Harness`] runs the real [`Runtime`] in memory.
//!
//! ```
//! use authex::testing::Harness;
//! use authex::{Context, Module};
//!
//! let module = Module::new()
//!     .output("alert")
//!     .request("forecast")
//!     .input("reading", |ctx: &mut Context, data: &[u8]| {
//!         let forecast = ctx.request("forecast", data).unwrap();
//!         ctx.emit("alert", [data, b"/", &forecast[..]].concat());
//!     });
//! let mut h = Harness::new(module).unwrap();
//! h.on_request("forecast", |_data| b"rain".to_vec());
//! h.deliver("reading", b"42").unwrap();
//! assert_eq!(h.take_emitted(), vec![("alert".to_string(), b"42/rain".to_vec())]);
//! ```
//!
//! The harness plays the deployer and the agent: it attests the module (native exchange with a
//! test operator key), gives every input, output, request and handler one connection (conn id =
//! the endpoint's manifest id) with a fresh key, seals what it delivers, opens what the module
//! emits, answers requests with the stubs of [`on_request`](Harness::on_request) and makes
//! authenticated calls under the module key. Everything goes through the same code as in a
//! deployed module, including the wire encoding of every message.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey};

use crate::attest::Attester;
use crate::channel::{open_event, seal_event};
use crate::control::{open_result, seal_call, wrap_key, SetKeyFields, ROLE_RECEIVER, ROLE_SENDER};
use crate::exchange::DeployerExchange;
use crate::manifest::IoKind;
use crate::module::Module;
use crate::runtime::{HostIo, Runtime, WaitError};
use crate::suites::Suite;
use crate::wire::{call_status, HostAttest, HostCall, HostDeliver, HostSetKey, Link, Message};
use crate::{to_hex, Secret};

type Stub = Box<dyn FnMut(&[u8]) -> Vec<u8>>;

#[derive(Default)]
struct Agent {
    /// Every frame the module wrote, decoded again from its bytes.
    sent: Vec<(Message, u32)>,
    /// conn id -> (key, stub) for requests the harness answers.
    stubs: HashMap<u32, (Vec<u8>, Stub)>,
    /// Extra responses to hand out (tests of the wait path).
    queued: VecDeque<HostDeliver>,
}

/// A [`HostIo`] that records frames in memory (round-tripped through the wire codec).
#[derive(Clone, Default)]
pub struct MemoryIo(Rc<RefCell<Agent>>);

impl MemoryIo {
    pub fn new() -> Self {
        MemoryIo::default()
    }

    /// How many messages were written and not yet taken.
    pub fn len(&self) -> usize {
        self.0.borrow().sent.len()
    }

    /// True when nothing was written since the last `take`.
    pub fn is_empty(&self) -> bool {
        self.0.borrow().sent.is_empty()
    }

    /// Take every message written so far.
    pub fn take(&self) -> Vec<(Message, u32)> {
        std::mem::take(&mut self.0.borrow_mut().sent)
    }

    /// Queue a response that `wait_response` hands out before consulting the stubs.
    pub fn queue_response(&self, response: HostDeliver) {
        self.0.borrow_mut().queued.push_back(response);
    }

    fn add_stub(&self, conn_id: u32, key: Vec<u8>, stub: Stub) {
        self.0.borrow_mut().stubs.insert(conn_id, (key, stub));
    }
}

impl HostIo for MemoryIo {
    fn send(&mut self, message: Message, request_id: u32) {
        let frame = message.encode(request_id).expect("encodable");
        let mut decoder = crate::wire::FrameDecoder::new(crate::wire::DEFAULT_MAX_PAYLOAD);
        decoder.feed(&frame);
        let frame = decoder.next_frame().expect("valid frame").expect("one frame");
        let decoded = Link::HostReply.decode(&frame).expect("a module -> agent message");
        self.0.borrow_mut().sent.push((decoded, frame.request_id));
    }

    fn wait_response(&mut self, conn_id: u32, counter: u64, _timeout: Duration) -> Result<HostDeliver, WaitError> {
        let mut agent = self.0.borrow_mut();
        if let Some(r) = agent.queued.pop_front() {
            return Ok(r);
        }
        let request = agent.sent.iter().rev().find_map(|(m, _)| match m {
            Message::HostEmit(e) if e.conn_id == conn_id && e.direction == 0 && e.counter == counter => {
                Some(e.ciphertext.clone())
            }
            _ => None,
        });
        let (Some(sealed), Some((key, stub))) = (request, agent.stubs.get_mut(&conn_id)) else {
            return Err(WaitError::Timeout);
        };
        let data = open_event(Suite::AesGcm128, key, conn_id, 0, counter, &sealed)
            .map_err(|e| WaitError::Closed(e.to_string()))?;
        let reply = stub(&data);
        let ciphertext = seal_event(Suite::AesGcm128, key, conn_id, 1, counter, &reply)
            .map_err(|e| WaitError::Closed(e.to_string()))?;
        Ok(HostDeliver { conn_id, direction: 1, counter, ciphertext })
    }
}

struct End {
    kind: IoKind,
    name: String,
    key: Vec<u8>,
    sent: u64,
}

/// One in-memory instance of a module, driven by a test.
pub struct Harness {
    runtime: Runtime,
    io: MemoryIo,
    control_key: Secret,
    control_counter: u64,
    ends: HashMap<u32, End>,
    emitted: Vec<(String, Vec<u8>)>,
    next_request: u32,
}

/// Why a harness operation did not give the expected answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HarnessError {
    /// The module answered with `Error` or `HostRejected`, or a call status other than OK.
    Refused(String),
    /// The name is not an endpoint of that kind.
    Unknown(String),
}

impl std::fmt::Display for HarnessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HarnessError::Refused(m) | HarnessError::Unknown(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for HarnessError {}

/// The test operator's key (a fixed, public seed: never use it outside tests).
pub fn test_operator() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

impl Harness {
    /// Deploy `module` as "m" and connect every endpoint.
    pub fn new(module: Module) -> Result<Harness, HarnessError> {
        Harness::named(module, "m")
    }

    /// Deploy `module` as `name` and connect every endpoint.
    pub fn named(module: Module, name: &str) -> Result<Harness, HarnessError> {
        let operator = test_operator();
        let public = operator.verifying_key().to_bytes();
        let manifest = module.manifest(name, &to_hex(&public)).map_err(HarnessError::Refused)?;
        let io = MemoryIo::new();
        let attester = Attester::Native { name: name.to_string(), operator_public: Some(public) };
        let runtime = Runtime::new(manifest, module, Box::new(io.clone()), attester, Suite::AesGcm128)
            .map_err(HarnessError::Refused)?;
        let mut h = Harness {
            runtime,
            io,
            control_key: Secret::new(Vec::new()),
            control_counter: 0,
            ends: HashMap::new(),
            emitted: Vec::new(),
            next_request: 1,
        };
        h.attest()?;
        let endpoints = h.runtime.manifest().endpoints.clone();
        for e in endpoints {
            if e.kind == IoKind::Entry {
                continue;
            }
            let mut key = vec![0u8; 16];
            crate::random_bytes(&mut key).map_err(|e| HarnessError::Refused(e.to_string()))?;
            let role = if matches!(e.kind, IoKind::Output | IoKind::Request) { ROLE_SENDER } else { ROLE_RECEIVER };
            h.set_key(e.id as u32, e.id, role, &key)?;
            h.ends.insert(e.id as u32, End { kind: e.kind, name: e.name.clone(), key, sent: 0 });
        }
        Ok(h)
    }

    fn request_id(&mut self) -> u32 {
        let id = self.next_request;
        self.next_request += 1;
        id
    }

    /// The runtime under test.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Attest again (a new control session, as after `authex update`).
    pub fn attest(&mut self) -> Result<(), HarnessError> {
        let mut nonce = [0u8; 16];
        let mut ephemeral = [0u8; 32];
        crate::random_bytes(&mut nonce)
            .and_then(|_| crate::random_bytes(&mut ephemeral))
            .map_err(|e| HarnessError::Refused(e.to_string()))?;
        let name = self.runtime.manifest().name.clone();
        let operator = test_operator();
        let exchange = DeployerExchange::start(&name, nonce, ephemeral, |m| operator.sign(m).to_bytes());
        let rid = self.request_id();
        self.runtime.handle(Message::HostAttest(HostAttest { challenge: exchange.challenge.clone() }), rid);
        let evidence = match self.io.take().pop() {
            Some((Message::HostAttested(a), r)) if r == rid => a.evidence,
            other => return Err(HarnessError::Refused(format!("attestation answered {other:?}"))),
        };
        self.control_key = exchange.finish(&evidence).map_err(|e| HarnessError::Refused(e.to_string()))?;
        self.control_counter = 0;
        Ok(())
    }

    fn set_key(&mut self, conn_id: u32, io_id: u16, role: u8, key: &[u8]) -> Result<(), HarnessError> {
        self.control_counter += 1;
        let fields = SetKeyFields { conn_id, io_id, role, suite: Suite::AesGcm128.id(), counter: self.control_counter };
        let wrapped = wrap_key(Suite::AesGcm128, self.control_key.reveal(), key, fields)
            .map_err(|e| HarnessError::Refused(e.to_string()))?;
        let rid = self.request_id();
        let m = HostSetKey { conn_id, io_id, role, suite: fields.suite, counter: fields.counter, wrapped };
        self.runtime.handle(Message::HostSetKey(m), rid);
        match self.io.take().pop() {
            Some((Message::Ok(_), _)) => Ok(()),
            other => Err(HarnessError::Refused(format!("set-key answered {other:?}"))),
        }
    }

    fn end_of(&self, kind: IoKind, name: &str) -> Result<u32, HarnessError> {
        self.ends
            .iter()
            .find(|(_, e)| e.kind == kind && e.name == name)
            .map(|(id, _)| *id)
            .ok_or_else(|| HarnessError::Unknown(format!("module has no {} named {name:?}", kind.name())))
    }

    /// Answer `ctx.request(name, ..)` with `stub(data)`.
    pub fn on_request(&mut self, request: &str, stub: impl FnMut(&[u8]) -> Vec<u8> + 'static) {
        let conn_id = self.end_of(IoKind::Request, request).expect("a declared request");
        let key = self.ends[&conn_id].key.clone();
        self.io.add_stub(conn_id, key, Box::new(stub));
    }

    /// Collect what the module wrote: emitted events (opened) go to `emitted`, responses are
    /// returned, rejections become errors.
    fn collect(&mut self) -> Result<Vec<(u32, u64, Vec<u8>)>, HarnessError> {
        let mut responses = Vec::new();
        let mut refused = None;
        for (message, _) in self.io.take() {
            match message {
                Message::HostEmit(e) => {
                    let end = &self.ends[&e.conn_id];
                    let plain =
                        open_event(Suite::AesGcm128, &end.key, e.conn_id, e.direction, e.counter, &e.ciphertext)
                            .map_err(|err| HarnessError::Refused(err.to_string()))?;
                    if e.direction == 0 && end.kind == IoKind::Output {
                        self.emitted.push((end.name.clone(), plain));
                    } else if e.direction == 1 {
                        responses.push((e.conn_id, e.counter, plain));
                    }
                }
                Message::HostRejected(r) => refused = Some(format!("rejected with reason {}", r.reason)),
                Message::Error(e) => refused = Some(e.message),
                _ => {}
            }
        }
        match refused {
            Some(why) => Err(HarnessError::Refused(why)),
            None => Ok(responses),
        }
    }

    /// Deliver an event on input `input`.
    pub fn deliver(&mut self, input: &str, data: &[u8]) -> Result<(), HarnessError> {
        let conn_id = self.end_of(IoKind::Input, input)?;
        self.send_to(conn_id, data)?;
        self.collect().map(|_| ())
    }

    fn send_to(&mut self, conn_id: u32, data: &[u8]) -> Result<u64, HarnessError> {
        let end = self.ends.get_mut(&conn_id).expect("known end");
        end.sent += 1;
        let counter = end.sent;
        let ciphertext = seal_event(Suite::AesGcm128, &end.key, conn_id, 0, counter, data)
            .map_err(|e| HarnessError::Refused(e.to_string()))?;
        self.runtime.handle(Message::HostDeliver(HostDeliver { conn_id, direction: 0, counter, ciphertext }), 0);
        Ok(counter)
    }

    /// Send a request to handler `handler` and return its reply.
    pub fn ask(&mut self, handler: &str, data: &[u8]) -> Result<Vec<u8>, HarnessError> {
        let conn_id = self.end_of(IoKind::Handler, handler)?;
        let counter = self.send_to(conn_id, data)?;
        self.collect()?
            .into_iter()
            .find(|(c, n, _)| *c == conn_id && *n == counter)
            .map(|(_, _, reply)| reply)
            .ok_or_else(|| HarnessError::Refused(format!("handler {handler:?} gave no reply")))
    }

    /// Call entry `entry` authenticated, as `authex call` does.
    pub fn call(&mut self, entry: &str, arg: &[u8]) -> Result<Vec<u8>, HarnessError> {
        let entry_id = self.entry_id(entry)?;
        self.control_counter += 1;
        let counter = self.control_counter;
        let payload = seal_call(Suite::AesGcm128, self.control_key.reveal(), entry_id, counter, arg)
            .map_err(|e| HarnessError::Refused(e.to_string()))?;
        let (status, result) = self.do_call(entry_id, 1, counter, payload)?;
        if status == call_status::OK || status == call_status::ENTRY_FAILED {
            let plain = open_result(Suite::AesGcm128, self.control_key.reveal(), entry_id, counter, status, &result)
                .map_err(|e| HarnessError::Refused(format!("result does not verify: {e}")))?;
            if status == call_status::OK {
                return Ok(plain);
            }
            return Err(HarnessError::Refused(format!("status {status}: {}", String::from_utf8_lossy(&plain))));
        }
        Err(HarnessError::Refused(format!("status {status}: {}", String::from_utf8_lossy(&result))))
    }

    /// Call entry `entry` unauthenticated (public entries only), as a timer does.
    pub fn call_public(&mut self, entry: &str, arg: &[u8]) -> Result<Vec<u8>, HarnessError> {
        let entry_id = self.entry_id(entry)?;
        let (status, result) = self.do_call(entry_id, 0, 0, arg.to_vec())?;
        if status == call_status::OK {
            Ok(result)
        } else {
            Err(HarnessError::Refused(format!("status {status}: {}", String::from_utf8_lossy(&result))))
        }
    }

    fn entry_id(&self, entry: &str) -> Result<u16, HarnessError> {
        self.runtime
            .manifest()
            .find(IoKind::Entry, entry)
            .map(|e| e.id)
            .ok_or_else(|| HarnessError::Unknown(format!("module has no entry named {entry:?}")))
    }

    fn do_call(
        &mut self,
        entry_id: u16,
        authenticated: u8,
        counter: u64,
        payload: Vec<u8>,
    ) -> Result<(u8, Vec<u8>), HarnessError> {
        let rid = self.request_id();
        self.runtime.handle(Message::HostCall(HostCall { entry_id, authenticated, counter, payload }), rid);
        let messages = self.io.take();
        let mut result = None;
        let mut rest = Vec::new();
        for (m, r) in messages {
            match m {
                Message::HostCallResult(c) if r == rid => result = Some((c.status, c.payload)),
                other => rest.push((other, r)),
            }
        }
        // put emits back for collect()
        for (m, r) in rest {
            self.io.0.borrow_mut().sent.push((m, r));
        }
        self.collect()?;
        result.ok_or_else(|| HarnessError::Refused("no HostCallResult".into()))
    }

    /// Events emitted on outputs so far (output name, plaintext), oldest first.
    pub fn emitted(&self) -> &[(String, Vec<u8>)] {
        &self.emitted
    }

    /// Take the emitted events.
    pub fn take_emitted(&mut self) -> Vec<(String, Vec<u8>)> {
        std::mem::take(&mut self.emitted)
    }
}
