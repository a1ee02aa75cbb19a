//! The runtime's dispatch in memory: attest, set-key, deliver, call, request, with the refusals
//! of spec/protocol.md §5.4 and spec/crypto.md §3, §5.

use authex::attest::Attester;
use authex::channel::{open_event, seal_event};
use authex::control::{open_result, seal_call, wrap_key, SetKeyFields};
use authex::exchange::DeployerExchange;
use authex::suites::Suite;
use authex::testing::{test_operator, Harness, MemoryIo};
use authex::wire::{
    call_status, error_code, reject_reason, HostAttest, HostCall, HostDeliver, HostSetKey, HostStop, Message,
};
use authex::{to_hex, Context, Module, Runtime, Secret};
use ed25519_dalek::Signer;

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
    use std::cell::RefCell;
    use std::rc::Rc;
    let sealed: Rc<RefCell<Vec<(Vec<u8>, usize)>>> = Rc::default();
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
