//! The runtime's dispatch in memory: attest, set-key, deliver, call, request, with the refusals
//! of spec/protocol.md §5.4 and spec/crypto.md §3, §5.

use authex::attest::Attester;
use authex::channel::{open_event, seal_event};
use authex::control::{open_result, seal_call, wrap_key, wrap_swap_key, SetKeyFields, SwapKeyFields};
use authex::exchange::DeployerExchange;
use authex::manifest::{STATE_IN_ID, STATE_OUT_ID};
use authex::suites::Suite;
use authex::testing::{test_operator, Harness, MemoryIo};
use authex::wire::{
    call_status, error_code, reject_reason, HostAttest, HostCall, HostDeliver, HostSetKey, HostStop, HostSwapKey,
    Message,
};
use authex::{to_hex, Context, Module, Runtime, Secret};
use ed25519_dalek::Signer;
use std::cell::RefCell;
use std::rc::Rc;

fn sample() -> Module {
    Module::new()
        .output("out")
        .request("ask")
        .input("in", |ctx: &mut Context, data: &[u8]| {
            if data == b"boom" {
                panic!("boom");
            }
            ctx.emit("out", data);
        })
        .handler("h", |_ctx: &mut Context, data: &[u8]| [b"re:", data].concat())
        .entry("secret", |_ctx: &mut Context, arg: &[u8]| [b"s:", arg].concat())
        .public_entry("open", |ctx: &mut Context, arg: &[u8]| -> Result<Vec<u8>, String> {
            if arg == b"fail" {
                return Err("asked to fail".into());
            }
            let reply = ctx.request("ask", arg).map_err(|e| e.to_string())?;
            Ok(reply)
        })
}

/// A bare runtime (not attested) over a MemoryIo, named "m".
fn bare() -> (Runtime, MemoryIo) {
    let op = test_operator().verifying_key().to_bytes();
    let module = sample();
    let manifest = module.manifest("m", &to_hex(&op)).unwrap();
    let io = MemoryIo::new();
    let attester = Attester::Native { name: "m".into(), operator_public: Some(op) };
    let mut rt = Runtime::new(manifest, module, Box::new(io.clone()), attester, Suite::AesGcm128).unwrap();
    rt.set_log(Box::new(|_| {}));
    (rt, io)
}

fn attest(rt: &mut Runtime, io: &MemoryIo) -> Secret {
    let op = test_operator();
    let ex = DeployerExchange::start("m", [1; 16], [2; 32], |m| op.sign(m).to_bytes());
    rt.handle(Message::HostAttest(HostAttest { challenge: ex.challenge.clone() }), 1);
    match io.take().pop().unwrap() {
        (Message::HostAttested(a), 1) => ex.finish(&a.evidence).unwrap(),
        other => panic!("{other:?}"),
    }
}

fn set_key(rt: &mut Runtime, io: &MemoryIo, km: &Secret, f: SetKeyFields, key: &[u8]) -> Message {
    let wrapped = wrap_key(Suite::AesGcm128, km.reveal(), key, f).unwrap();
    let m =
        HostSetKey { conn_id: f.conn_id, io_id: f.io_id, role: f.role, suite: f.suite, counter: f.counter, wrapped };
    rt.handle(Message::HostSetKey(m), 9);
    io.take().pop().unwrap().0
}

fn error_code_of(m: &Message) -> u16 {
    match m {
        Message::Error(e) => e.code,
        other => panic!("expected Error, got {other:?}"),
    }
}

const IN: u16 = 0x1001;
const OUT: u16 = 0x2001;
const SECRET: u16 = 0x3002;
const OPEN: u16 = 0x3001;
const ASK: u16 = 0x4001;
const H: u16 = 0x5001;

#[test]
fn ids_follow_the_manifest_scheme() {
    let m = sample().manifest("m", "00").unwrap();
    let ids: Vec<(String, u16)> = m.endpoints.iter().map(|e| (e.name.clone(), e.id)).collect();
    let want = [("in", IN), ("out", OUT), ("open", OPEN), ("secret", SECRET), ("ask", ASK), ("h", H)];
    assert_eq!(ids, want.iter().map(|(n, i)| (n.to_string(), *i)).collect::<Vec<_>>());
}

#[test]
fn set_key_requires_attestation_fresh_counter_and_matching_role() {
    let (mut rt, io) = bare();
    let key = [7u8; 16];
    let fake = Secret::new(vec![0; 16]);
    let f = SetKeyFields { conn_id: 1, io_id: IN, role: 1, suite: 1, counter: 1 };
    assert_eq!(error_code_of(&set_key(&mut rt, &io, &fake, f, &key)), error_code::REJECTED); // not attested
    let km = attest(&mut rt, &io);
    assert!(matches!(set_key(&mut rt, &io, &km, f, &key), Message::Ok(_)));
    // the same counter again is stale
    assert_eq!(error_code_of(&set_key(&mut rt, &io, &km, f, &key)), error_code::REJECTED);
    // wrong key: rejected and does not move the window
    let f3 = SetKeyFields { counter: 3, ..f };
    assert_eq!(error_code_of(&set_key(&mut rt, &io, &fake, f3, &key)), error_code::REJECTED);
    assert_eq!(rt.control_window().last, 1);
    // a verified set-key naming the wrong role or an entry: BAD_REQUEST, counter consumed
    let wrong_role = SetKeyFields { conn_id: 2, io_id: IN, role: 0, suite: 1, counter: 3 };
    assert_eq!(error_code_of(&set_key(&mut rt, &io, &km, wrong_role, &key)), error_code::BAD_REQUEST);
    assert_eq!(rt.control_window().last, 3);
    let entry = SetKeyFields { conn_id: 2, io_id: SECRET, role: 1, suite: 1, counter: 4 };
    assert_eq!(error_code_of(&set_key(&mut rt, &io, &km, entry, &key)), error_code::BAD_REQUEST);
    let bad_suite = SetKeyFields { conn_id: 2, io_id: OUT, role: 0, suite: 9, counter: 5 };
    assert_eq!(error_code_of(&set_key(&mut rt, &io, &km, bad_suite, &key)), error_code::BAD_REQUEST);
    let bad_role = SetKeyFields { conn_id: 2, io_id: OUT, role: 2, suite: 1, counter: 6 };
    assert_eq!(error_code_of(&set_key(&mut rt, &io, &km, bad_role, &key)), error_code::BAD_REQUEST);
    assert_eq!(rt.stats().keys().copied().collect::<Vec<_>>(), vec![1]);
    // re-attesting starts a new control session: counter 1 is fresh again under the new key
    let km2 = attest(&mut rt, &io);
    assert!(matches!(
        set_key(&mut rt, &io, &km2, SetKeyFields { conn_id: 3, io_id: OUT, role: 0, suite: 2, counter: 1 }, &key),
        Message::Ok(_)
    ));
    // the old key no longer works
    let old = SetKeyFields { conn_id: 4, io_id: OUT, role: 0, suite: 1, counter: 2 };
    assert_eq!(error_code_of(&set_key(&mut rt, &io, &km, old, &key)), error_code::REJECTED);
}

#[test]
fn attest_with_a_bad_challenge_is_rejected() {
    let (mut rt, io) = bare();
    rt.handle(Message::HostAttest(HostAttest { challenge: vec![0; 111] }), 4);
    let (m, rid) = io.take().pop().unwrap();
    assert_eq!(rid, 4);
    assert_eq!(error_code_of(&m), error_code::REJECTED);
    assert!(!rt.attested());
    // signed for another name
    let op = test_operator();
    let ex = DeployerExchange::start("other", [1; 16], [2; 32], |m| op.sign(m).to_bytes());
    rt.handle(Message::HostAttest(HostAttest { challenge: ex.challenge }), 5);
    assert_eq!(error_code_of(&io.take().pop().unwrap().0), error_code::REJECTED);
}

#[test]
fn deliver_accepts_fresh_events_and_rejects_the_rest() {
    let (mut rt, io) = bare();
    let km = attest(&mut rt, &io);
    let (kin, kout) = ([1u8; 16], [2u8; 16]);
    set_key(&mut rt, &io, &km, SetKeyFields { conn_id: 10, io_id: IN, role: 1, suite: 1, counter: 1 }, &kin);
    set_key(&mut rt, &io, &km, SetKeyFields { conn_id: 20, io_id: OUT, role: 0, suite: 1, counter: 2 }, &kout);
    set_key(&mut rt, &io, &km, SetKeyFields { conn_id: 21, io_id: OUT, role: 0, suite: 3, counter: 3 }, &kout);
    let deliver = |rt: &mut Runtime, conn_id: u32, direction: u8, counter: u64, data: &[u8], key: &[u8]| {
        let ciphertext = seal_event(Suite::AesGcm128, key, conn_id, direction, counter, data).unwrap();
        rt.handle(Message::HostDeliver(HostDeliver { conn_id, direction, counter, ciphertext }), 0);
    };
    deliver(&mut rt, 10, 0, 1, b"hello", &kin);
    let sent = io.take();
    assert_eq!(sent.len(), 3, "{sent:?}");
    let mut conns = Vec::new();
    for (m, rid) in &sent[..2] {
        assert_eq!(*rid, 0);
        let Message::HostEmit(e) = m else { panic!("{m:?}") };
        assert_eq!((e.direction, e.counter), (0, 1));
        let suite = if e.conn_id == 21 { Suite::SpongeWrap128 } else { Suite::AesGcm128 };
        assert_eq!(open_event(suite, &kout, e.conn_id, 0, 1, &e.ciphertext).unwrap(), b"hello");
        conns.push(e.conn_id);
    }
    assert_eq!(conns, vec![20, 21], "emits in connection order");
    assert!(matches!(&sent[2].0, Message::HostAccepted(a) if a.conn_id == 10 && a.counter == 1));

    let rejected = |io: &MemoryIo| match io.take().as_slice() {
        [(Message::HostRejected(r), 0)] => r.reason,
        other => panic!("{other:?}"),
    };
    deliver(&mut rt, 10, 0, 1, b"again", &kin);
    assert_eq!(rejected(&io), reject_reason::REPLAY);
    deliver(&mut rt, 10, 0, 5, b"forged", &kout);
    assert_eq!(rejected(&io), reject_reason::FORGED);
    deliver(&mut rt, 99, 0, 1, b"x", &kin);
    assert_eq!(rejected(&io), reject_reason::UNKNOWN_CONNECTION);
    deliver(&mut rt, 10, 1, 7, b"x", &kin);
    assert_eq!(rejected(&io), reject_reason::REPLAY); // nobody waits for a response
    deliver(&mut rt, 10, 2, 7, b"x", &kin);
    assert_eq!(rejected(&io), reject_reason::FORGED);
    deliver(&mut rt, 20, 0, 7, b"x", &kout); // a sender end receives nothing
    assert_eq!(rejected(&io), reject_reason::FORGED);
    // a gap is fine; a panicking callback is contained and still acknowledged
    deliver(&mut rt, 10, 0, 4, b"boom", &kin);
    assert!(matches!(io.take().as_slice(), [(Message::HostAccepted(a), 0)] if a.counter == 4));
    let stats = &rt.stats()[&10];
    assert_eq!((stats.delivered, stats.rejected, stats.failed), (2, 4, 1));
    assert_eq!(rt.unknown_rejected(), 1);
}

#[test]
fn handler_replies_with_the_request_counter() {
    let mut h = Harness::new(sample()).unwrap();
    assert_eq!(h.ask("h", b"x").unwrap(), b"re:x");
    assert_eq!(h.ask("h", b"y").unwrap(), b"re:y");
}

#[test]
fn calls_authenticated_public_and_refused() {
    let (mut rt, io) = bare();
    let call = |rt: &mut Runtime, entry_id: u16, authenticated: u8, counter: u64, payload: Vec<u8>| {
        rt.handle(Message::HostCall(HostCall { entry_id, authenticated, counter, payload }), 77);
        match io.take().pop().unwrap() {
            (Message::HostCallResult(r), 77) => (r.status, r.payload),
            other => panic!("{other:?}"),
        }
    };
    // before attestation an authenticated call cannot verify
    assert_eq!(call(&mut rt, SECRET, 1, 1, vec![0; 20]).0, call_status::AUTH_FAILED);
    let km = attest(&mut rt, &io);
    let sealed = seal_call(Suite::AesGcm128, km.reveal(), SECRET, 1, b"arg").unwrap();
    let (status, payload) = call(&mut rt, SECRET, 1, 1, sealed.clone());
    assert_eq!(status, call_status::OK);
    assert_eq!(open_result(Suite::AesGcm128, km.reveal(), SECRET, 1, status, &payload).unwrap(), b"s:arg");
    // replayed call
    assert_eq!(call(&mut rt, SECRET, 1, 1, sealed).0, call_status::AUTH_FAILED);
    // forged call
    assert_eq!(call(&mut rt, SECRET, 1, 2, vec![0; 20]).0, call_status::AUTH_FAILED);
    // sealed for another entry
    let other = seal_call(Suite::AesGcm128, km.reveal(), OPEN, 3, b"").unwrap();
    assert_eq!(call(&mut rt, SECRET, 1, 3, other).0, call_status::AUTH_FAILED);
    // not public, unknown ids (an input id is not an entry)
    assert_eq!(call(&mut rt, SECRET, 0, 0, b"x".to_vec()).0, call_status::NOT_PUBLIC);
    assert_eq!(call(&mut rt, 0x3fff, 0, 0, vec![]).0, call_status::UNKNOWN_ENTRY);
    assert_eq!(call(&mut rt, IN, 0, 0, vec![]).0, call_status::UNKNOWN_ENTRY);
    // a public entry that fails: ENTRY_FAILED with plain text
    let (status, payload) = call(&mut rt, OPEN, 0, 0, b"fail".to_vec());
    assert_eq!(status, call_status::ENTRY_FAILED);
    assert_eq!(payload, b"asked to fail");
    // the same failure authenticated: the text is sealed under the module key with the status
    let sealed = seal_call(Suite::AesGcm128, km.reveal(), OPEN, 4, b"fail").unwrap();
    let (status, payload) = call(&mut rt, OPEN, 1, 4, sealed);
    assert_eq!(status, call_status::ENTRY_FAILED);
    assert_eq!(open_result(Suite::AesGcm128, km.reveal(), OPEN, 4, status, &payload).unwrap(), b"asked to fail");
    assert!(open_result(Suite::AesGcm128, km.reveal(), OPEN, 4, call_status::OK, &payload).is_err());
    // a request that is not connected fails the entry
    let (status, payload) = call(&mut rt, OPEN, 0, 0, b"q".to_vec());
    assert_eq!(status, call_status::ENTRY_FAILED);
    assert!(String::from_utf8_lossy(&payload).contains("not connected"));
}

#[test]
fn requests_wait_for_their_response_and_reject_forgeries() {
    let (mut rt, io) = bare();
    let km = attest(&mut rt, &io);
    let key = [4u8; 16];
    set_key(&mut rt, &io, &km, SetKeyFields { conn_id: 30, io_id: ASK, role: 0, suite: 1, counter: 1 }, &key);
    // a forged response first, then the genuine one
    let forged = seal_event(Suite::AesGcm128, &[9; 16], 30, 1, 1, b"fake").unwrap();
    io.queue_response(HostDeliver { conn_id: 30, direction: 1, counter: 1, ciphertext: forged });
    let genuine = seal_event(Suite::AesGcm128, &key, 30, 1, 1, b"sunny").unwrap();
    io.queue_response(HostDeliver { conn_id: 30, direction: 1, counter: 1, ciphertext: genuine });
    rt.handle(
        Message::HostCall(HostCall { entry_id: OPEN, authenticated: 0, counter: 0, payload: b"weather?".to_vec() }),
        3,
    );
    let sent = io.take();
    assert!(matches!(&sent[0].0, Message::HostEmit(e) if e.conn_id == 30 && e.direction == 0 && e.counter == 1));
    let Message::HostEmit(e) = &sent[0].0 else { unreachable!() };
    assert_eq!(open_event(Suite::AesGcm128, &key, 30, 0, 1, &e.ciphertext).unwrap(), b"weather?");
    assert!(matches!(&sent[1].0, Message::HostRejected(r) if r.reason == reject_reason::FORGED));
    assert!(matches!(&sent[2].0, Message::HostAccepted(a) if a.direction == 1 && a.counter == 1));
    assert!(
        matches!(&sent[3], (Message::HostCallResult(r), 3) if r.status == call_status::OK && r.payload == b"sunny")
    );
    // a second request uses counter 2 and times out without an answer
    rt.handle(
        Message::HostCall(HostCall { entry_id: OPEN, authenticated: 0, counter: 0, payload: b"again".to_vec() }),
        4,
    );
    let sent = io.take();
    assert!(matches!(&sent[0].0, Message::HostEmit(e) if e.counter == 2));
    assert!(matches!(&sent[1], (Message::HostCallResult(r), 4) if r.status == call_status::ENTRY_FAILED));
}

#[test]
fn a_new_request_key_supersedes_the_old_connection() {
    let (mut rt, io) = bare();
    let km = attest(&mut rt, &io);
    set_key(&mut rt, &io, &km, SetKeyFields { conn_id: 30, io_id: ASK, role: 0, suite: 1, counter: 1 }, &[1; 16]);
    set_key(&mut rt, &io, &km, SetKeyFields { conn_id: 31, io_id: ASK, role: 0, suite: 1, counter: 2 }, &[2; 16]);
    assert_eq!(rt.stats().keys().copied().collect::<Vec<_>>(), vec![31]);
}

#[test]
fn stop_ends_the_loop() {
    let (mut rt, _io) = bare();
    assert!(!rt.handle(Message::HostStop(HostStop {}), 1));
}

#[test]
fn unexpected_messages_get_bad_request() {
    let (mut rt, io) = bare();
    assert!(rt.handle(Message::Ok(authex::wire::Ok { body: vec![] }), 6));
    assert_eq!(error_code_of(&io.take().pop().unwrap().0), error_code::BAD_REQUEST);
}

#[test]
fn harness_round_trip_with_requests() {
    let mut h = Harness::new(sample()).unwrap();
    h.on_request("ask", |d| [d, b"!"].concat());
    assert_eq!(h.call_public("open", b"hi").unwrap(), b"hi!");
    assert_eq!(h.call("open", b"yo").unwrap(), b"yo!");
    h.deliver("in", b"event").unwrap();
    assert_eq!(h.take_emitted(), vec![("out".to_string(), b"event".to_vec())]);
    assert!(h.deliver("nope", b"").is_err());
}

#[test]
fn module_declaration_errors() {
    let m = Module::new().output("ok").output("ok").output("1bad");
    let err = m.check().unwrap_err();
    assert!(err.contains("declared twice") && err.contains("invalid"), "{err}");
    // a manifest endpoint without a callback is refused by the runtime
    let op = [0u8; 32];
    let manifest = Module::new().input("x", |_: &mut Context, _: &[u8]| ()).manifest("m", "00").unwrap();
    let attester = Attester::Native { name: "m".into(), operator_public: Some(op) };
    assert!(Runtime::new(manifest, Module::new(), Box::new(MemoryIo::new()), attester, Suite::AesGcm128).is_err());
}

#[test]
fn manifest_json_matches_the_python_sdk() {
    // Manifest.to_json() of the same interface, computed with the Python SDK.
    let m = sample().manifest("capteur-é", &"ab".repeat(32)).unwrap();
    let want = concat!(
        r#"{"endpoints":[{"id":4097,"kind":"input","name":"in","public":false},"#,
        r#"{"id":8193,"kind":"output","name":"out","public":false},"#,
        r#"{"id":12289,"kind":"entry","name":"open","public":true},"#,
        r#"{"id":12290,"kind":"entry","name":"secret","public":false},"#,
        r#"{"id":16385,"kind":"request","name":"ask","public":false},"#,
        r#"{"id":20481,"kind":"handler","name":"h","public":false}],"#,
        r#""format":1,"language":"rust","name":"capteur-\u00e9","#,
        r#""operator_key":"abababababababababababababababababababababababababababababababab","#,
        r#""suites":["aes-gcm-128","ascon-aead128","spongewrap-128"]}"#
    );
    assert_eq!(m.to_json(), want);
    assert_eq!(authex::manifest::json_string("a\"\\\n\u{1}\u{7f}😀"), r#""a\"\\\n\u0001\u007f\ud83d\ude00""#);
}

// --- persistent modules ---------------------------------------------------------------------

/// What a test sealer saw: each state, with how many messages had left when it was sealed.
type Seals = Rc<RefCell<Vec<(Vec<u8>, usize)>>>;

fn persistent_runtime() -> (Runtime, MemoryIo) {
    let op = test_operator().verifying_key().to_bytes();
    let module = sample().persistent();
    let manifest = module.manifest("m", &to_hex(&op)).unwrap();
    let io = MemoryIo::new();
    let attester = Attester::Native { name: "m".into(), operator_public: Some(op) };
    let mut rt = Runtime::new(manifest, module, Box::new(io.clone()), attester, Suite::AesGcm128).unwrap();
    rt.set_log(Box::new(|_| {}));
    (rt, io)
}

#[test]
fn persistent_state_is_sealed_before_output_and_resumes() {
    let sealed: Seals = Rc::default();
    let (mut rt, io) = persistent_runtime();
    let (seals, seen) = (Rc::clone(&sealed), io.clone());
    rt.set_sealer(Box::new(move |state: &[u8]| {
        // how many messages had left when this seal happened
        seals.borrow_mut().push((state.to_vec(), seen.len()));
        Ok(1)
    }));
    let km = attest(&mut rt, &io);
    assert_eq!(sealed.borrow().len(), 1, "attestation sealed");
    assert_eq!(sealed.borrow()[0].1, 0, "sealed before HostAttested left");
    let key_in = [7u8; 16];
    let key_out = [8u8; 16];
    let f = |conn_id, io_id, role, counter| SetKeyFields { conn_id, io_id, role, suite: 1, counter };
    assert!(matches!(set_key(&mut rt, &io, &km, f(1, IN, 1, 1), &key_in), Message::Ok(_)));
    assert!(matches!(set_key(&mut rt, &io, &km, f(2, OUT, 0, 2), &key_out), Message::Ok(_)));
    let sealed_before = sealed.borrow().len();
    let c = seal_event(Suite::AesGcm128, &key_in, 1, 0, 1, b"hello").unwrap();
    rt.handle(Message::HostDeliver(HostDeliver { conn_id: 1, direction: 0, counter: 1, ciphertext: c }), 0);
    assert_eq!(sealed.borrow().len(), sealed_before + 1, "one seal for the event and its emit");
    assert_eq!(sealed.borrow().last().unwrap().1, 0, "sealed before the emit left");
    let sent = io.take();
    assert!(matches!(sent[0].0, Message::HostEmit(_)) && matches!(sent[1].0, Message::HostAccepted(_)));
    let state = sealed.borrow().last().unwrap().0.clone();

    // a restarted runtime resumes: replay refused, next event opened, send counter continued
    let (mut again, io2) = persistent_runtime();
    again.restore_state(&state).unwrap();
    let old = seal_event(Suite::AesGcm128, &key_in, 1, 0, 1, b"hello").unwrap();
    again.handle(Message::HostDeliver(HostDeliver { conn_id: 1, direction: 0, counter: 1, ciphertext: old }), 0);
    assert!(matches!(io2.take()[0].0, Message::HostRejected(ref r) if r.reason == reject_reason::REPLAY));
    let next = seal_event(Suite::AesGcm128, &key_in, 1, 0, 2, b"again").unwrap();
    again.handle(Message::HostDeliver(HostDeliver { conn_id: 1, direction: 0, counter: 2, ciphertext: next }), 0);
    match &io2.take()[0].0 {
        Message::HostEmit(e) => {
            assert_eq!(e.counter, 2, "no counter reused");
            assert_eq!(open_event(Suite::AesGcm128, &key_out, 2, 0, 2, &e.ciphertext).unwrap(), b"again");
        }
        other => panic!("{other:?}"),
    }

    // a state for another module, or a damaged one, is refused and changes nothing
    let (mut other, _) = persistent_runtime();
    let mut damaged = state.clone();
    damaged.truncate(state.len() - 1);
    assert!(other.restore_state(&damaged).unwrap_err().contains("truncated"));
    assert!(other.restore_state(b"junk").is_err());
}

#[test]
fn a_failed_seal_stops_the_module_before_anything_leaves() {
    let (mut rt, io) = persistent_runtime();
    rt.set_sealer(Box::new(|_: &[u8]| Err("platform refused".to_string())));
    let op = test_operator();
    let ex = DeployerExchange::start("m", [1; 16], [2; 32], |m| op.sign(m).to_bytes());
    let go_on = rt.handle(Message::HostAttest(HostAttest { challenge: ex.challenge.clone() }), 1);
    assert!(!go_on);
    assert!(io.take().is_empty());
    assert!(rt.fatal().unwrap().contains("platform refused"));
}

#[test]
fn seal_needs_a_persistent_module() {
    let module = Module::new().public_entry("keep", |ctx: &mut Context, arg: &[u8]| -> Result<Vec<u8>, String> {
        ctx.seal(arg).map_err(|e| e.to_string())?;
        Ok(ctx.unseal().unwrap_or_default())
    });
    let op = test_operator().verifying_key().to_bytes();
    let manifest = module.manifest("m", &to_hex(&op)).unwrap();
    let io = MemoryIo::new();
    let attester = Attester::Native { name: "m".into(), operator_public: Some(op) };
    let mut rt = Runtime::new(manifest, module, Box::new(io.clone()), attester, Suite::AesGcm128).unwrap();
    rt.set_log(Box::new(|_| {}));
    rt.handle(
        Message::HostCall(HostCall { entry_id: 0x3001, authenticated: 0, counter: 0, payload: b"x".to_vec() }),
        3,
    );
    match &io.take()[0].0 {
        Message::HostCallResult(r) => {
            assert_eq!(r.status, call_status::ENTRY_FAILED);
            assert!(String::from_utf8_lossy(&r.payload).contains("not persistent"));
        }
        other => panic!("{other:?}"),
    }
}

// --- updates: swap-key, retire, state transfer (spec/protocol.md §5.4, §7.6) ----------------

/// Send a swap-key wrapped under `km`; every message the module wrote in answer.
fn swap_key(rt: &mut Runtime, io: &MemoryIo, km: &Secret, f: SwapKeyFields, key: &[u8]) -> Vec<Message> {
    let wrapped = wrap_swap_key(Suite::AesGcm128, km.reveal(), key, f).unwrap();
    let m = HostSwapKey {
        conn_id: f.conn_id,
        replaces: f.replaces,
        io_id: f.io_id,
        role: f.role,
        suite: f.suite,
        counter: f.counter,
        wrapped,
    };
    rt.handle(Message::HostSwapKey(m), 11);
    io.take().into_iter().map(|(m, _)| m).collect()
}

/// The only message of an answer.
fn only(mut sent: Vec<Message>) -> Message {
    assert_eq!(sent.len(), 1, "{sent:?}");
    sent.pop().unwrap()
}

fn error_text(m: &Message) -> String {
    match m {
        Message::Error(e) => e.message.clone(),
        other => panic!("expected Error, got {other:?}"),
    }
}

fn deliver_on(rt: &mut Runtime, io: &MemoryIo, conn_id: u32, counter: u64, data: &[u8], key: &[u8]) -> Vec<Message> {
    let ciphertext = seal_event(Suite::AesGcm128, key, conn_id, 0, counter, data).unwrap();
    rt.handle(Message::HostDeliver(HostDeliver { conn_id, direction: 0, counter, ciphertext }), 0);
    io.take().into_iter().map(|(m, _)| m).collect()
}

fn conn_ids(rt: &Runtime) -> Vec<u32> {
    rt.stats().keys().copied().collect()
}

fn swap(conn_id: u32, replaces: u32, io_id: u16, role: u8, counter: u64) -> SwapKeyFields {
    SwapKeyFields { conn_id, replaces, io_id, role, suite: 1, counter }
}

#[test]
fn swap_key_replaces_a_connection_in_one_step() {
    let (mut rt, io) = bare();
    let km = attest(&mut rt, &io);
    let (kin, kout, kin2, kout2) = ([1u8; 16], [2u8; 16], [3u8; 16], [4u8; 16]);
    set_key(&mut rt, &io, &km, SetKeyFields { conn_id: 10, io_id: IN, role: 1, suite: 1, counter: 1 }, &kin);
    set_key(&mut rt, &io, &km, SetKeyFields { conn_id: 20, io_id: OUT, role: 0, suite: 1, counter: 2 }, &kout);
    // before the swap the output goes on 20
    let sent = deliver_on(&mut rt, &io, 10, 1, b"one", &kin);
    assert!(matches!(&sent[0], Message::HostEmit(e) if e.conn_id == 20 && e.counter == 1), "{sent:?}");
    // the output moves to 21 with fresh counters; 20 is forgotten
    assert!(matches!(only(swap_key(&mut rt, &io, &km, swap(21, 20, OUT, 0, 3), &kout2)), Message::Ok(_)));
    assert_eq!(conn_ids(&rt), vec![10, 21]);
    let sent = deliver_on(&mut rt, &io, 10, 2, b"two", &kin);
    assert_eq!(sent.len(), 2, "one emit and the HostAccepted: {sent:?}");
    let Message::HostEmit(e) = &sent[0] else { panic!("{sent:?}") };
    assert_eq!((e.conn_id, e.direction, e.counter), (21, 0, 1));
    assert_eq!(open_event(Suite::AesGcm128, &kout2, 21, 0, 1, &e.ciphertext).unwrap(), b"two");
    // the input moves to 12: an event sealed for the old id is refused as unknown
    assert!(matches!(only(swap_key(&mut rt, &io, &km, swap(12, 10, IN, 1, 4), &kin2)), Message::Ok(_)));
    let sent = deliver_on(&mut rt, &io, 10, 3, b"late", &kin);
    assert!(
        matches!(only(sent), Message::HostRejected(r) if r.conn_id == 10 && r.reason == reject_reason::UNKNOWN_CONNECTION)
    );
    let sent = deliver_on(&mut rt, &io, 12, 1, b"new", &kin2);
    assert!(matches!(&sent[0], Message::HostEmit(e) if e.conn_id == 21 && e.counter == 2), "{sent:?}");
    assert!(matches!(&sent[1], Message::HostAccepted(a) if a.conn_id == 12 && a.counter == 1));
    assert_eq!(rt.control_window().last, 4);
}

#[test]
fn swap_key_with_an_absent_replaces_installs_the_new_connection() {
    let (mut rt, io) = bare();
    let km = attest(&mut rt, &io);
    // already forgotten (a deployer sending the swap again) or 0: not an error
    assert!(matches!(only(swap_key(&mut rt, &io, &km, swap(30, 99, OUT, 0, 1), &[5; 16])), Message::Ok(_)));
    assert!(matches!(only(swap_key(&mut rt, &io, &km, swap(31, 0, H, 1, 2), &[6; 16])), Message::Ok(_)));
    assert_eq!(conn_ids(&rt), vec![30, 31]);
    // the same swap sent again is a new control message: the replaced 30 is gone, 32 comes
    assert!(matches!(only(swap_key(&mut rt, &io, &km, swap(32, 30, OUT, 0, 3), &[7; 16])), Message::Ok(_)));
    assert!(matches!(only(swap_key(&mut rt, &io, &km, swap(32, 30, OUT, 0, 4), &[7; 16])), Message::Ok(_)));
    assert_eq!(conn_ids(&rt), vec![31, 32]);
}

#[test]
fn a_swap_key_sent_again_after_it_was_applied_changes_nothing() {
    let (mut rt, io) = bare();
    let km = attest(&mut rt, &io);
    let (kin, kout, kout2) = ([1u8; 16], [2u8; 16], [3u8; 16]);
    set_key(&mut rt, &io, &km, SetKeyFields { conn_id: 10, io_id: IN, role: 1, suite: 1, counter: 1 }, &kin);
    set_key(&mut rt, &io, &km, SetKeyFields { conn_id: 1, io_id: OUT, role: 0, suite: 1, counter: 2 }, &kout);
    // swap c1 -> c2, then emit once: counter 1 on c2
    assert!(matches!(only(swap_key(&mut rt, &io, &km, swap(2, 1, OUT, 0, 3), &kout2)), Message::Ok(_)));
    assert_eq!(conn_ids(&rt), vec![2, 10]);
    let sent = deliver_on(&mut rt, &io, 10, 1, b"one", &kin);
    assert!(matches!(&sent[0], Message::HostEmit(e) if e.conn_id == 2 && e.counter == 1), "{sent:?}");
    // the deployer lost the answer and sends the same swap again with a fresh control counter:
    // Ok, and nothing changes (even a different wrapped key is not installed)
    assert!(matches!(only(swap_key(&mut rt, &io, &km, swap(2, 1, OUT, 0, 4), &[9; 16])), Message::Ok(_)));
    assert_eq!(rt.control_window().last, 4, "the repeated swap consumed its control counter");
    assert_eq!(conn_ids(&rt), vec![2, 10], "the old connection 1 is still gone");
    // c2 keeps its key and its send counter goes on: 2, not 1
    let sent = deliver_on(&mut rt, &io, 10, 2, b"two", &kin);
    assert_eq!(sent.len(), 2, "one emit and the HostAccepted: {sent:?}");
    let Message::HostEmit(e) = &sent[0] else { panic!("{sent:?}") };
    assert_eq!((e.conn_id, e.direction, e.counter), (2, 0, 2));
    assert_eq!(open_event(Suite::AesGcm128, &kout2, 2, 0, 2, &e.ciphertext).unwrap(), b"two");
    // a set-key on an existing id still re-keys with fresh counters
    let f = SetKeyFields { conn_id: 2, io_id: OUT, role: 0, suite: 1, counter: 5 };
    assert!(matches!(set_key(&mut rt, &io, &km, f, &kout), Message::Ok(_)));
    let sent = deliver_on(&mut rt, &io, 10, 3, b"three", &kin);
    let Message::HostEmit(e) = &sent[0] else { panic!("{sent:?}") };
    assert_eq!((e.conn_id, e.counter), (2, 1));
    assert_eq!(open_event(Suite::AesGcm128, &kout, 2, 0, 1, &e.ciphertext).unwrap(), b"three");
}

#[test]
fn swap_key_naming_another_endpoint_or_role_changes_nothing() {
    let (mut rt, io) = bare();
    let km = attest(&mut rt, &io);
    set_key(&mut rt, &io, &km, SetKeyFields { conn_id: 10, io_id: IN, role: 1, suite: 1, counter: 1 }, &[1; 16]);
    set_key(&mut rt, &io, &km, SetKeyFields { conn_id: 20, io_id: OUT, role: 0, suite: 1, counter: 2 }, &[2; 16]);
    // an output replacing an input
    let answer = only(swap_key(&mut rt, &io, &km, swap(40, 10, OUT, 0, 3), &[3; 16]));
    assert_eq!(error_code_of(&answer), error_code::BAD_REQUEST);
    let text = error_text(&answer);
    assert!(text.starts_with("swap-key for connection 40: ") && text.contains("connection 10"), "{text}");
    // a handler (same role, another endpoint) replacing the input
    let answer = only(swap_key(&mut rt, &io, &km, swap(41, 10, H, 1, 4), &[3; 16]));
    assert_eq!(error_code_of(&answer), error_code::BAD_REQUEST);
    // and the usual set-key checks, named after the swap
    let answer = only(swap_key(&mut rt, &io, &km, swap(42, 20, IN, 0, 5), &[3; 16]));
    assert!(error_text(&answer).starts_with("swap-key for connection 42: io id 0x1001"), "{answer:?}");
    let answer = only(swap_key(&mut rt, &io, &km, SwapKeyFields { suite: 9, ..swap(43, 20, OUT, 0, 6) }, &[3; 16]));
    assert_eq!(error_code_of(&answer), error_code::BAD_REQUEST);
    let answer = only(swap_key(&mut rt, &io, &km, swap(44, 20, OUT, 0, 7), &[3; 8]));
    assert_eq!(error_code_of(&answer), error_code::BAD_REQUEST);
    assert_eq!(conn_ids(&rt), vec![10, 20], "nothing changed");
    assert_eq!(rt.control_window().last, 7, "verified swap-keys consume their counter");
    // the connections still work
    let sent = deliver_on(&mut rt, &io, 10, 1, b"x", &[1; 16]);
    assert!(matches!(&sent[0], Message::HostEmit(e) if e.conn_id == 20));
}

#[test]
fn retire_forgets_a_connection() {
    let (mut rt, io) = bare();
    let km = attest(&mut rt, &io);
    set_key(&mut rt, &io, &km, SetKeyFields { conn_id: 10, io_id: IN, role: 1, suite: 1, counter: 1 }, &[1; 16]);
    set_key(&mut rt, &io, &km, SetKeyFields { conn_id: 20, io_id: OUT, role: 0, suite: 1, counter: 2 }, &[2; 16]);
    let retire = |replaces, counter| SwapKeyFields { conn_id: 0, replaces, io_id: 0, role: 0, suite: 0, counter };
    // a retire carries no key, io, role or suite
    let answer = only(swap_key(&mut rt, &io, &km, retire(20, 3), &[2; 16]));
    assert_eq!(error_code_of(&answer), error_code::BAD_REQUEST);
    assert!(error_text(&answer).starts_with("swap-key for connection 0: "), "{answer:?}");
    let answer = only(swap_key(&mut rt, &io, &km, SwapKeyFields { io_id: OUT, ..retire(20, 4) }, &[]));
    assert_eq!(error_code_of(&answer), error_code::BAD_REQUEST);
    assert_eq!(conn_ids(&rt), vec![10, 20]);
    assert!(matches!(only(swap_key(&mut rt, &io, &km, retire(20, 5), &[])), Message::Ok(_)));
    assert_eq!(conn_ids(&rt), vec![10]);
    // retiring it again (or anything absent) is fine
    assert!(matches!(only(swap_key(&mut rt, &io, &km, retire(20, 6), &[])), Message::Ok(_)));
    // the input still works and emits nothing any more
    let sent = deliver_on(&mut rt, &io, 10, 1, b"x", &[1; 16]);
    assert!(matches!(only(sent), Message::HostAccepted(_)));
}

#[test]
fn swap_key_is_authenticated_with_its_own_ad_and_a_fresh_counter() {
    let (mut rt, io) = bare();
    // not attested
    let fake = Secret::new(vec![0; 16]);
    let answer = only(swap_key(&mut rt, &io, &fake, swap(20, 0, OUT, 0, 1), &[2; 16]));
    assert_eq!(error_code_of(&answer), error_code::REJECTED);
    let km = attest(&mut rt, &io);
    // a set-key's wrapped value replayed as a swap-key (and the other way round) does not verify
    let f = SetKeyFields { conn_id: 20, io_id: OUT, role: 0, suite: 1, counter: 1 };
    let wrapped = wrap_key(Suite::AesGcm128, km.reveal(), &[2; 16], f).unwrap();
    let m = HostSwapKey { conn_id: 20, replaces: 0, io_id: OUT, role: 0, suite: 1, counter: 1, wrapped };
    rt.handle(Message::HostSwapKey(m), 3);
    let answer = io.take().pop().unwrap().0;
    assert_eq!(error_code_of(&answer), error_code::REJECTED);
    assert!(error_text(&answer).contains("does not authenticate"), "{answer:?}");
    let wrapped = wrap_swap_key(Suite::AesGcm128, km.reveal(), &[2; 16], swap(20, 0, OUT, 0, 1)).unwrap();
    let m = HostSetKey { conn_id: 20, io_id: OUT, role: 0, suite: 1, counter: 1, wrapped };
    rt.handle(Message::HostSetKey(m), 4);
    assert_eq!(error_code_of(&io.take().pop().unwrap().0), error_code::REJECTED);
    // another replaces than the one wrapped
    let wrapped = wrap_swap_key(Suite::AesGcm128, km.reveal(), &[2; 16], swap(20, 7, OUT, 0, 1)).unwrap();
    let m = HostSwapKey { conn_id: 20, replaces: 8, io_id: OUT, role: 0, suite: 1, counter: 1, wrapped };
    rt.handle(Message::HostSwapKey(m), 5);
    assert_eq!(error_code_of(&io.take().pop().unwrap().0), error_code::REJECTED);
    assert_eq!((rt.control_window().last, rt.control_window().rejected), (0, 3));
    assert!(conn_ids(&rt).is_empty());
    // the genuine one; then its counter (or an older one) is stale
    assert!(matches!(only(swap_key(&mut rt, &io, &km, swap(20, 0, OUT, 0, 2), &[2; 16])), Message::Ok(_)));
    let answer = only(swap_key(&mut rt, &io, &km, swap(21, 20, OUT, 0, 2), &[3; 16]));
    assert_eq!(error_code_of(&answer), error_code::REJECTED);
    assert!(error_text(&answer).contains("stale control counter"), "{answer:?}");
    let answer = only(swap_key(&mut rt, &io, &km, swap(21, 20, OUT, 0, 1), &[3; 16]));
    assert_eq!(error_code_of(&answer), error_code::REJECTED);
    assert_eq!(conn_ids(&rt), vec![20]);
    // set-key and swap-key share the control counter
    let f = SetKeyFields { conn_id: 22, io_id: OUT, role: 0, suite: 1, counter: 2 };
    assert_eq!(error_code_of(&set_key(&mut rt, &io, &km, f, &[4; 16])), error_code::REJECTED);
}

/// A module that keeps what its input gets and returns it from a public entry.
fn durable(persistent: bool) -> (Runtime, MemoryIo) {
    let module = Module::new()
        .output("out")
        .input("in", |ctx: &mut Context, data: &[u8]| {
            let _ = ctx.seal(data);
            ctx.emit("out", data);
        })
        .public_entry("get", |ctx: &mut Context, _arg: &[u8]| ctx.unseal().unwrap_or_else(|| b"<none>".to_vec()));
    let module = if persistent { module.persistent() } else { module };
    let op = test_operator().verifying_key().to_bytes();
    let manifest = module.manifest("m", &to_hex(&op)).unwrap();
    let io = MemoryIo::new();
    let attester = Attester::Native { name: "m".into(), operator_public: Some(op) };
    let mut rt = Runtime::new(manifest, module, Box::new(io.clone()), attester, Suite::AesGcm128).unwrap();
    rt.set_log(Box::new(|_| {}));
    (rt, io)
}

const GET: u16 = 0x3001;

fn get(rt: &mut Runtime, io: &MemoryIo) -> Vec<u8> {
    rt.handle(Message::HostCall(HostCall { entry_id: GET, authenticated: 0, counter: 0, payload: vec![] }), 8);
    match only(io.take().into_iter().map(|(m, _)| m).collect()) {
        Message::HostCallResult(r) if r.status == call_status::OK => r.payload,
        other => panic!("{other:?}"),
    }
}

#[test]
fn keying_state_out_sends_the_sealed_data_once_and_forgets_it() {
    let (mut rt, io) = durable(true);
    let seals: Seals = Rc::default();
    let (record, seen) = (Rc::clone(&seals), io.clone());
    rt.set_sealer(Box::new(move |state: &[u8]| {
        record.borrow_mut().push((state.to_vec(), seen.len()));
        Ok(1)
    }));
    let km = attest(&mut rt, &io);
    let k = [9u8; 16];
    // no data yet: 0x00, then the connection is gone; the emit precedes the Ok
    let sent = only_two(set_key_all(
        &mut rt,
        &io,
        &km,
        SetKeyFields { conn_id: 50, io_id: STATE_OUT_ID, role: 0, suite: 1, counter: 1 },
        &k,
    ));
    let Message::HostEmit(e) = &sent[0] else { panic!("{sent:?}") };
    assert_eq!((e.conn_id, e.direction, e.counter), (50, 0, 1));
    assert_eq!(open_event(Suite::AesGcm128, &k, 50, 0, 1, &e.ciphertext).unwrap(), [0u8]);
    assert!(matches!(sent[1], Message::Ok(_)));
    assert!(conn_ids(&rt).is_empty());
    // with data: 0x01 || data, by a swap-key as well
    set_key(&mut rt, &io, &km, SetKeyFields { conn_id: 10, io_id: 0x1001, role: 1, suite: 1, counter: 2 }, &[1; 16]);
    deliver_on(&mut rt, &io, 10, 1, b"kept", &[1; 16]);
    let sent = only_two(swap_key(&mut rt, &io, &km, swap(51, 0, STATE_OUT_ID, 0, 3), &k));
    let Message::HostEmit(e) = &sent[0] else { panic!("{sent:?}") };
    assert_eq!((e.conn_id, e.counter), (51, 1));
    assert_eq!(open_event(Suite::AesGcm128, &k, 51, 0, 1, &e.ciphertext).unwrap(), b"\x01kept");
    assert!(matches!(sent[1], Message::Ok(_)));
    assert_eq!(conn_ids(&rt), vec![10]);
    // sealed before the emit left, without the state-out connection
    let (state, before) = seals.borrow().last().unwrap().clone();
    assert_eq!(before, 0);
    let (mut again, io2) = durable(true);
    again.restore_state(&state).unwrap();
    assert_eq!(conn_ids(&again), vec![10]);
    assert_eq!(get(&mut again, &io2), b"kept");
    // state-out is a sender end only, state-in a receiver end only
    let f = SetKeyFields { conn_id: 52, io_id: STATE_OUT_ID, role: 1, suite: 1, counter: 4 };
    assert_eq!(error_code_of(&set_key(&mut rt, &io, &km, f, &k)), error_code::BAD_REQUEST);
    let f = SetKeyFields { conn_id: 52, io_id: STATE_IN_ID, role: 0, suite: 1, counter: 5 };
    assert_eq!(error_code_of(&set_key(&mut rt, &io, &km, f, &k)), error_code::BAD_REQUEST);
}

/// Every message written in answer to a set-key.
fn set_key_all(rt: &mut Runtime, io: &MemoryIo, km: &Secret, f: SetKeyFields, key: &[u8]) -> Vec<Message> {
    let wrapped = wrap_key(Suite::AesGcm128, km.reveal(), key, f).unwrap();
    let m =
        HostSetKey { conn_id: f.conn_id, io_id: f.io_id, role: f.role, suite: f.suite, counter: f.counter, wrapped };
    rt.handle(Message::HostSetKey(m), 9);
    io.take().into_iter().map(|(m, _)| m).collect()
}

fn only_two(sent: Vec<Message>) -> Vec<Message> {
    assert_eq!(sent.len(), 2, "{sent:?}");
    sent
}

#[test]
fn an_event_on_state_in_replaces_the_sealed_data() {
    let (mut rt, io) = durable(true);
    let km = attest(&mut rt, &io);
    let k = [8u8; 16];
    let f = SetKeyFields { conn_id: 60, io_id: STATE_IN_ID, role: 1, suite: 1, counter: 1 };
    assert!(matches!(set_key(&mut rt, &io, &km, f, &k), Message::Ok(_)));
    assert_eq!(get(&mut rt, &io), b"<none>");
    // the reserved end survives a restart (sealed state restores it)
    let state = rt.export_state();
    let (mut rt, io) = durable(true);
    rt.restore_state(&state).unwrap();
    assert_eq!(conn_ids(&rt), vec![60]);
    // a forgery is refused as on any connection, and the end stays keyed
    let sent = deliver_on(&mut rt, &io, 60, 1, b"\x01evil", &[7; 16]);
    assert!(matches!(only(sent), Message::HostRejected(r) if r.reason == reject_reason::FORGED));
    assert_eq!(conn_ids(&rt), vec![60]);
    // the genuine one: accepted, taken as ctx.seal data, never given to a callback, forgotten
    let sent = deliver_on(&mut rt, &io, 60, 1, b"\x01old data", &k);
    assert!(matches!(only(sent), Message::HostAccepted(a) if a.conn_id == 60 && a.counter == 1));
    assert!(conn_ids(&rt).is_empty());
    assert!(rt.needs_sealing());
    assert_eq!(get(&mut rt, &io), b"old data");
    // a replay finds no connection
    let sent = deliver_on(&mut rt, &io, 60, 1, b"\x01old data", &k);
    assert!(matches!(only(sent), Message::HostRejected(r) if r.reason == reject_reason::UNKNOWN_CONNECTION));
    // 0x00: the old version had no data
    let km = attest(&mut rt, &io);
    let f = SetKeyFields { conn_id: 61, io_id: STATE_IN_ID, role: 1, suite: 1, counter: 1 };
    assert!(matches!(set_key(&mut rt, &io, &km, f, &k), Message::Ok(_)));
    assert!(matches!(only(deliver_on(&mut rt, &io, 61, 1, b"\x00", &k)), Message::HostAccepted(_)));
    assert_eq!(get(&mut rt, &io), b"<none>");
}

#[test]
fn state_moves_from_the_old_version_to_the_new_one() {
    let (mut old, old_io) = durable(true);
    let (mut new, new_io) = durable(true);
    let old_km = attest(&mut old, &old_io);
    let new_km = attest(&mut new, &new_io);
    set_key(
        &mut old,
        &old_io,
        &old_km,
        SetKeyFields { conn_id: 1, io_id: 0x1001, role: 1, suite: 1, counter: 1 },
        &[1; 16],
    );
    deliver_on(&mut old, &old_io, 1, 1, b"counter=41", &[1; 16]);
    // keyed receiver first, then the sender, which sends at once
    let (conn, k) = (70, [6u8; 16]);
    let f = |io_id, role| SetKeyFields { conn_id: conn, io_id, role, suite: 3, counter: 2 };
    assert!(matches!(set_key(&mut new, &new_io, &new_km, f(STATE_IN_ID, 1), &k), Message::Ok(_)));
    let sent = set_key_all(&mut old, &old_io, &old_km, f(STATE_OUT_ID, 0), &k);
    let Some(Message::HostEmit(e)) = sent.first() else { panic!("{sent:?}") };
    // the agent routes it as a delivery
    let d = HostDeliver {
        conn_id: e.conn_id,
        direction: e.direction,
        counter: e.counter,
        ciphertext: e.ciphertext.clone(),
    };
    new.handle(Message::HostDeliver(d), 0);
    assert!(matches!(only(new_io.take().into_iter().map(|(m, _)| m).collect()), Message::HostAccepted(_)));
    assert_eq!(get(&mut new, &new_io), b"counter=41");
    assert_eq!(get(&mut old, &old_io), b"counter=41", "the old version keeps its data");
}

#[test]
fn a_module_without_sealed_state_refuses_the_state_ends() {
    let (mut rt, io) = durable(false);
    let km = attest(&mut rt, &io);
    let f = SetKeyFields { conn_id: 50, io_id: STATE_OUT_ID, role: 0, suite: 1, counter: 1 };
    let answer = set_key(&mut rt, &io, &km, f, &[1; 16]);
    assert_eq!(error_code_of(&answer), error_code::BAD_REQUEST);
    let text = error_text(&answer);
    assert!(text.starts_with("set-key for connection 50: ") && text.contains("keeps no sealed state to transfer"));
    let answer = only(swap_key(&mut rt, &io, &km, swap(51, 0, STATE_IN_ID, 1, 2), &[1; 16]));
    assert_eq!(error_code_of(&answer), error_code::BAD_REQUEST);
    assert!(error_text(&answer).contains("keeps no sealed state to transfer"), "{answer:?}");
    assert!(io.is_empty() && conn_ids(&rt).is_empty(), "nothing emitted, nothing keyed");
    // the sample module, too
    let (mut rt, io) = bare();
    let km = attest(&mut rt, &io);
    let f = SetKeyFields { conn_id: 52, io_id: STATE_IN_ID, role: 1, suite: 1, counter: 1 };
    assert_eq!(error_code_of(&set_key(&mut rt, &io, &km, f, &[1; 16])), error_code::BAD_REQUEST);
    // an unknown reserved-looking id is no end at all
    let f = SetKeyFields { conn_id: 53, io_id: 0xF003, role: 1, suite: 1, counter: 2 };
    assert!(error_text(&set_key(&mut rt, &io, &km, f, &[1; 16])).contains("io id 0xf003 is not"));
}

#[test]
fn a_malformed_state_transfer_is_rejected_as_forged() {
    let big = [&[1u8][..], &vec![0u8; authex::runtime::MAX_SEALED_DATA + 1]].concat();
    for (i, payload) in [&b""[..], b"\x02data", b"\x00\x00", &big].into_iter().enumerate() {
        let (mut rt, io) = durable(true);
        let km = attest(&mut rt, &io);
        set_key(
            &mut rt,
            &io,
            &km,
            SetKeyFields { conn_id: 10, io_id: 0x1001, role: 1, suite: 1, counter: 1 },
            &[1; 16],
        );
        deliver_on(&mut rt, &io, 10, 1, b"mine", &[1; 16]);
        let conn_id = 60 + i as u32;
        let f = SetKeyFields { conn_id, io_id: STATE_IN_ID, role: 1, suite: 1, counter: 2 };
        assert!(matches!(set_key(&mut rt, &io, &km, f, &[8; 16]), Message::Ok(_)));
        let sent = deliver_on(&mut rt, &io, conn_id, 1, payload, &[8; 16]);
        assert!(
            matches!(only(sent), Message::HostRejected(r) if r.conn_id == conn_id && r.reason == reject_reason::FORGED),
            "payload {i}"
        );
        assert_eq!(conn_ids(&rt), vec![10], "the state-in end is forgotten");
        assert_eq!(get(&mut rt, &io), b"mine", "the data is unchanged");
    }
}
