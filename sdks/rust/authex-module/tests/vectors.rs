//! Every vector of `spec/vectors/` (relative to the repository: `../../../spec/vectors` from this
//! crate), checked byte for byte.

use std::path::PathBuf;

use authex::attest::{
    hkdf16, sancus_answer, sancus_session_key, sgx_report_data, trustzone_answer, trustzone_attestation_mac,
    trustzone_session_key,
};
use authex::channel::{event_ad, open_event, seal_event, ReceiveWindow};
use authex::control::{
    call_ad, open_call, open_result, result_ad, seal_call, seal_result, set_key_ad, swap_key_ad, unwrap_key,
    unwrap_swap_key, wrap_key, wrap_swap_key, SetKeyFields, SwapKeyFields,
};
use authex::exchange::{derive_key, module_respond_with, signed_part, DeployerExchange};
use authex::spongent::{sancus_mac, spongewrap_unwrap, spongewrap_wrap};
use authex::suites::{nonce_block, Suite};
use authex::wire::{schema, FrameDecoder, Kind, Link, Message, Value, Writer};
use authex::{from_hex, to_hex};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::Value as Json;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../spec/vectors")
}

fn load(name: &str) -> Json {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn hex(v: &Json) -> Vec<u8> {
    from_hex(v.as_str().expect("hex string")).expect("valid hex")
}

fn num(v: &Json) -> u64 {
    v.as_u64().expect("unsigned integer")
}

// --- frames ------------------------------------------------------------------------------------

fn encode_from_json(fields: &[Json], schema: &[(&str, Kind)]) -> Vec<u8> {
    assert_eq!(fields.len(), schema.len());
    let mut w = Writer::default();
    for (f, (name, kind)) in fields.iter().zip(schema) {
        assert_eq!(f["name"].as_str().unwrap(), *name);
        assert_eq!(f["kind"].as_str().unwrap(), kind.name(), "field {name}");
        let v = &f["value"];
        match kind {
            Kind::U8 => w.u8(num(v) as u8),
            Kind::U16 => w.u16(num(v) as u16),
            Kind::U32 => w.u32(num(v) as u32),
            Kind::U64 => w.u64(num(v)),
            Kind::Bytes => w.bytes(&hex(v)).unwrap(),
            Kind::Str => w.str(v.as_str().unwrap()).unwrap(),
        }
    }
    w.out
}

fn json_value(f: &Json) -> Value {
    let v = &f["value"];
    match f["kind"].as_str().unwrap() {
        "bytes" => Value::Bytes(hex(v)),
        "str" => Value::Str(v.as_str().unwrap().to_string()),
        _ => Value::Int(num(v)),
    }
}

#[test]
fn frames_every_message() {
    let doc = load("frames.json");
    let messages = doc["messages"].as_array().unwrap();
    assert!(messages.len() >= 33);
    for m in messages {
        let name = m["name"].as_str().unwrap();
        let code = num(&m["type"]) as u8;
        let (schema_name, fields) = schema(code).unwrap_or_else(|| panic!("no schema for {name}"));
        assert_eq!(schema_name, name);
        let payload = hex(&m["payload"]);
        let frame = hex(&m["frame"]);
        let rid = num(&m["request_id"]) as u32;
        // our encoder from the JSON fields
        assert_eq!(encode_from_json(m["fields"].as_array().unwrap(), fields), payload, "{name} payload");
        // decode the frame on every link that accepts it
        for link in m["links"].as_array().unwrap() {
            let link = Link::from_name(link.as_str().unwrap()).unwrap();
            let mut d = FrameDecoder::new(link.max_payload());
            d.feed(&frame);
            let f = d.next_frame().unwrap().unwrap();
            assert_eq!(f.request_id, rid);
            let decoded = link.decode(&f).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(decoded.name(), name);
            let want: Vec<Value> = m["fields"].as_array().unwrap().iter().map(json_value).collect();
            assert_eq!(decoded.values(), want, "{name} fields");
            assert_eq!(decoded.encode(rid).unwrap(), frame, "{name} frame");
            assert!(d.next_frame().unwrap().is_none());
        }
    }
}

#[test]
fn frames_split_and_concatenated() {
    let doc = load("frames.json");
    let mut all = Vec::new();
    let mut count = 0;
    for m in doc["messages"].as_array().unwrap() {
        all.extend(hex(&m["frame"]));
        count += 1;
    }
    let mut d = FrameDecoder::new(authex::wire::CONTROL_MAX_PAYLOAD);
    let mut got = 0;
    for byte in &all {
        d.feed(std::slice::from_ref(byte));
        while let Some(f) = d.next_frame().unwrap() {
            Message::decode(f.msg_type, &f.payload).unwrap();
            got += 1;
        }
    }
    assert_eq!(got, count);
    let mut d = FrameDecoder::new(authex::wire::CONTROL_MAX_PAYLOAD);
    d.feed(&all);
    let mut got = 0;
    while d.next_frame().unwrap().is_some() {
        got += 1;
    }
    assert_eq!(got, count);
}

#[test]
fn frames_negative() {
    let doc = load("frames.json");
    let negative = doc["negative"].as_array().unwrap();
    assert!(!negative.is_empty());
    for n in negative {
        let name = n["name"].as_str().unwrap();
        let link = Link::from_name(n["link"].as_str().unwrap()).unwrap();
        let max = num(&n["max_payload"]) as usize;
        assert_eq!(max, link.max_payload(), "{name}");
        let mut d = FrameDecoder::new(max);
        d.feed(&hex(&n["input"]));
        let outcome = match d.next_frame() {
            Err(_) => "frame_error",
            Ok(None) => "incomplete",
            Ok(Some(f)) => match link.decode(&f) {
                Ok(_) => "ok",
                Err(_) => "message_error",
            },
        };
        assert_eq!(outcome, n["outcome"].as_str().unwrap(), "{name}");
    }
    // limits
    for (link, limit) in doc["limits"].as_object().unwrap() {
        assert_eq!(Link::from_name(link).unwrap().max_payload() as u64, num(limit), "{link}");
    }
}

/// The platform messages are not in frames.json: build them field by field from
/// spec/protocol.md §7 and check both directions.
#[test]
fn frames_platform_messages() {
    fn frame(code: u8, rid: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = ((payload.len() + 5) as u32).to_be_bytes().to_vec();
        out.push(code);
        out.extend_from_slice(&rid.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }
    let mut w = Writer::default();
    w.str("sgx").unwrap();
    w.u8(1);
    w.bytes(&[0xaa; 32]).unwrap();
    w.bytes(&[]).unwrap();
    w.bytes(b"payload").unwrap();
    let identity = frame(0xa8, 0, &w.out);
    let cases: Vec<(Link, Vec<u8>, &str)> = vec![
        (Link::PlatformModuleReply, identity, "ModuleIdentity"),
        (
            Link::PlatformModuleRequest,
            frame(0xa9, 1, &[&64u32.to_be_bytes()[..], &[0x11; 64]].concat()),
            "QuoteRequest",
        ),
        (Link::PlatformModuleReply, frame(0xaa, 1, &[&3u32.to_be_bytes()[..], b"qqq"].concat()), "QuoteReply"),
        (
            Link::PlatformModuleReply,
            frame(0x03, 1, &[&5u16.to_be_bytes()[..], &2u16.to_be_bytes(), b"no"].concat()),
            "Error",
        ),
        (Link::PlatformReply, frame(0xa0, 0, &[&[0, 6][..], b"native", &[0], &[0, 2], b"ok"].concat()), "PlatformInfo"),
        (
            Link::Platform,
            frame(0xa1, 7, &[&[0, 1][..], b"m", &[0, 0, 0, 1], b"z", &(64u64 << 20).to_be_bytes()].concat()),
            "PlatformLoad",
        ),
        (
            Link::PlatformReply,
            frame(0xa2, 7, &[&[0, 0, 0, 1][..], &[9], &1234u32.to_be_bytes()].concat()),
            "PlatformLoaded",
        ),
        (Link::Platform, frame(0xa3, 8, &[&[0, 1][..], b"m"].concat()), "PlatformStop"),
        (
            Link::HostReply,
            frame(0x8a, 0, &[&7u32.to_be_bytes()[..], &[0], &9u64.to_be_bytes()].concat()),
            "HostAccepted",
        ),
    ];
    for (link, bytes, name) in cases {
        let mut d = FrameDecoder::new(link.max_payload());
        d.feed(&bytes);
        let f = d.next_frame().unwrap().unwrap();
        let m = link.decode(&f).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(m.name(), name);
        assert_eq!(m.encode(f.request_id).unwrap(), bytes, "{name}");
    }
    // a module refuses host messages on its platform link and vice versa
    let stop = frame(0x89, 1, &[]);
    let mut d = FrameDecoder::new(Link::PlatformModuleReply.max_payload());
    d.feed(&stop);
    assert!(Link::PlatformModuleReply.decode(&d.next_frame().unwrap().unwrap()).is_err());
    let mut d = FrameDecoder::new(Link::Host.max_payload());
    d.feed(&frame(0xa8, 0, &[]));
    assert!(Link::Host.decode(&d.next_frame().unwrap().unwrap()).is_err());
}

// --- event channel -----------------------------------------------------------------------------

#[test]
fn event_channel_vectors() {
    let doc = load("event_channel.json");
    assert_eq!(doc["suite"], "aes-gcm-128");
    assert_eq!(num(&doc["suite_id"]), 1);
    assert_eq!(num(&doc["version"]), authex::PROTOCOL_VERSION as u64);
    let vectors = doc["vectors"].as_array().unwrap();
    assert!(!vectors.is_empty());
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let key = hex(&v["key"]);
        let conn_id = num(&v["conn_id"]) as u32;
        let direction = num(&v["direction"]) as u8;
        let counter = num(&v["counter"]);
        let plaintext = hex(&v["plaintext"]);
        assert_eq!(event_ad(conn_id, direction, counter).to_vec(), hex(&v["ad"]), "{name} ad");
        let block = nonce_block(direction, counter);
        assert_eq!(block.to_vec(), hex(&v["nonce_block"]), "{name} nonce block");
        assert_eq!(block[..12].to_vec(), hex(&v["nonce"]), "{name} nonce");
        let sealed = seal_event(Suite::AesGcm128, &key, conn_id, direction, counter, &plaintext).unwrap();
        assert_eq!(sealed, hex(&v["sealed"]), "{name} sealed");
        assert_eq!(open_event(Suite::AesGcm128, &key, conn_id, direction, counter, &sealed).unwrap(), plaintext);
        let mut bad = sealed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(open_event(Suite::AesGcm128, &key, conn_id, direction, counter, &bad).is_err());
        assert!(open_event(Suite::AesGcm128, &key, conn_id, direction ^ 1, counter, &sealed).is_err());
    }
    for r in doc["refuse_to_seal"].as_array().unwrap() {
        assert!(seal_event(Suite::AesGcm128, &[0; 16], 1, 0, num(&r["counter"]), b"x").is_err());
    }
    // a sender's counter stops at 2^64 - 2
    let mut end = authex::channel::ChannelEnd::new(1, Suite::AesGcm128, authex::Secret::new(vec![0; 16]));
    end.sent = u64::MAX - 2;
    assert_eq!(end.seal_next(0, b"x").unwrap().0, u64::MAX - 1);
    assert!(end.seal_next(0, b"x").is_err());
    let w = &doc["receive_window"];
    let mut window = ReceiveWindow::default();
    for step in w["steps"].as_array().unwrap() {
        let c = num(&step["counter"]);
        let accepted = window.check(c).is_ok();
        if accepted {
            window.accept(c);
        }
        assert_eq!(accepted, step["accepted"].as_bool().unwrap(), "counter {c}");
    }
    assert_eq!(window.last, num(&w["last"]));
    assert_eq!(window.gaps, num(&w["gaps"]));
    assert_eq!(window.rejected, num(&w["rejected"]));
}

// --- control channel ---------------------------------------------------------------------------

#[test]
fn control_vectors() {
    let doc = load("control.json");
    assert_eq!(doc["aead"], "aes-gcm-128");
    assert_eq!(num(&doc["directions"]["to_module"]), 2);
    assert_eq!(num(&doc["directions"]["from_module"]), 3);
    let s = Suite::AesGcm128;
    let set_keys = doc["set_key"].as_array().unwrap();
    assert!(!set_keys.is_empty());
    for v in set_keys {
        let km = hex(&v["module_key"]);
        let f = SetKeyFields {
            conn_id: num(&v["conn_id"]) as u32,
            io_id: num(&v["io_id"]) as u16,
            role: num(&v["role"]) as u8,
            suite: num(&v["suite"]) as u8,
            counter: num(&v["counter"]),
        };
        assert_eq!(set_key_ad(f.conn_id, f.io_id, f.role, f.suite, f.counter).unwrap(), hex(&v["ad"]));
        assert_eq!(nonce_block(2, f.counter)[..12].to_vec(), hex(&v["nonce"]));
        let wrapped = wrap_key(s, &km, &hex(&v["conn_key"]), f).unwrap();
        assert_eq!(wrapped, hex(&v["wrapped"]));
        assert_eq!(unwrap_key(s, &km, &wrapped, f).unwrap().reveal(), &hex(&v["conn_key"])[..]);
        let other = SetKeyFields { io_id: f.io_id ^ 1, ..f };
        assert!(unwrap_key(s, &km, &wrapped, other).is_err());
    }
    let swap_keys = doc["swap_key"].as_array().unwrap();
    assert!(swap_keys.iter().any(|v| num(&v["conn_id"]) == 0), "a retire among the swap-key vectors");
    for v in swap_keys {
        let km = hex(&v["module_key"]);
        let conn_key = hex(&v["conn_key"]);
        let f = SwapKeyFields {
            conn_id: num(&v["conn_id"]) as u32,
            replaces: num(&v["replaces"]) as u32,
            io_id: num(&v["io_id"]) as u16,
            role: num(&v["role"]) as u8,
            suite: num(&v["suite"]) as u8,
            counter: num(&v["counter"]),
        };
        let ad = swap_key_ad(f.conn_id, f.replaces, f.io_id, f.role, f.suite, f.counter).unwrap();
        assert_eq!(ad, hex(&v["ad"]));
        assert_eq!(ad.len(), 28);
        assert_eq!(nonce_block(2, f.counter)[..12].to_vec(), hex(&v["nonce"]));
        assert_eq!(conn_key.len(), if f.conn_id == 0 { 0 } else { 16 });
        let wrapped = wrap_swap_key(s, &km, &conn_key, f).unwrap();
        assert_eq!(wrapped, hex(&v["wrapped"]));
        assert_eq!(unwrap_swap_key(s, &km, &wrapped, f).unwrap().reveal(), &conn_key[..]);
        // bound to every field, and never a set-key
        assert!(unwrap_swap_key(s, &km, &wrapped, SwapKeyFields { replaces: f.replaces ^ 1, ..f }).is_err());
        assert!(unwrap_swap_key(s, &km, &wrapped, SwapKeyFields { io_id: f.io_id ^ 1, ..f }).is_err());
        let as_set =
            SetKeyFields { conn_id: f.conn_id, io_id: f.io_id, role: f.role, suite: f.suite, counter: f.counter };
        assert!(unwrap_key(s, &km, &wrapped, as_set).is_err());
        // and a set-key of the same fields is never a swap-key
        if f.conn_id != 0 {
            let set_wrapped = wrap_key(s, &km, &conn_key, as_set).unwrap();
            assert!(unwrap_swap_key(s, &km, &set_wrapped, f).is_err());
        }
    }
    assert!(swap_key_ad(1, 2, 3, 0, 1, 0).is_err());
    assert!(swap_key_ad(1, 2, 3, 0, 1, u64::MAX).is_err());
    for v in doc["call"].as_array().unwrap() {
        let km = hex(&v["module_key"]);
        let (entry, counter) = (num(&v["entry_id"]) as u16, num(&v["counter"]));
        assert_eq!(call_ad(entry, counter).unwrap(), hex(&v["ad"]));
        assert_eq!(nonce_block(2, counter)[..12].to_vec(), hex(&v["nonce"]));
        let sealed = seal_call(s, &km, entry, counter, &hex(&v["argument"])).unwrap();
        assert_eq!(sealed, hex(&v["sealed"]));
        assert_eq!(open_call(s, &km, entry, counter, &sealed).unwrap(), hex(&v["argument"]));
        assert!(open_call(s, &km, entry, counter + 1, &sealed).is_err());
    }
    for v in doc["result"].as_array().unwrap() {
        let km = hex(&v["module_key"]);
        let (entry, counter, status) = (num(&v["entry_id"]) as u16, num(&v["counter"]), num(&v["status"]) as u8);
        assert_eq!(result_ad(entry, counter, status).unwrap(), hex(&v["ad"]));
        assert_eq!(nonce_block(3, counter)[..12].to_vec(), hex(&v["nonce"]));
        let sealed = seal_result(s, &km, entry, counter, status, &hex(&v["result"])).unwrap();
        assert_eq!(sealed, hex(&v["sealed"]));
        assert_eq!(open_result(s, &km, entry, counter, status, &sealed).unwrap(), hex(&v["result"]));
        assert!(open_result(s, &km, entry, counter, status ^ 4, &sealed).is_err());
    }
    assert!(call_ad(1, 0).is_err());
    assert!(call_ad(1, u64::MAX).is_err());
}

// --- native exchange ---------------------------------------------------------------------------

#[test]
fn native_exchange_vectors() {
    let doc = load("native_exchange.json");
    let exchanges = doc["exchanges"].as_array().unwrap();
    assert_eq!(exchanges.len(), 2);
    for v in exchanges {
        let name = v["name"].as_str().unwrap();
        let operator = SigningKey::from_bytes(&hex(&v["operator_private"]).try_into().unwrap());
        assert_eq!(operator.verifying_key().to_bytes().to_vec(), hex(&v["operator_public"]));
        let nonce = hex(&v["nonce"]);
        let deployer_public = hex(&v["deployer_ephemeral_public"]);
        assert_eq!(signed_part(name, &nonce, &deployer_public), hex(&v["signed_message"]), "{name}");
        // deployer side with its fixed ephemeral key
        let ex = DeployerExchange::start(
            name,
            nonce.clone().try_into().unwrap(),
            hex(&v["deployer_ephemeral_private"]).try_into().unwrap(),
            |m| operator.sign(m).to_bytes(),
        );
        assert_eq!(ex.challenge, hex(&v["challenge"]), "{name} challenge");
        assert_eq!(ex.challenge[48..].to_vec(), hex(&v["signature"]));
        // module side with its fixed ephemeral key
        let (evidence, key) = module_respond_with(
            name,
            &hex(&v["operator_public"]),
            &hex(&v["challenge"]),
            hex(&v["module_ephemeral_private"]).try_into().unwrap(),
        )
        .unwrap();
        assert_eq!(evidence, hex(&v["evidence"]), "{name} evidence");
        assert_eq!(evidence[..32].to_vec(), hex(&v["module_ephemeral_public"]));
        assert_eq!(evidence[32..].to_vec(), hex(&v["confirm_tag"]));
        assert_eq!(key.reveal(), &hex(&v["module_key"])[..]);
        assert_eq!(hex(&v["hkdf_salt"]), nonce);
        assert_eq!(
            derive_key(&hex(&v["shared_secret"]), &nonce, &deployer_public, &evidence[..32]).reveal(),
            &hex(&v["module_key"])[..]
        );
        assert_eq!(
            hex(&v["hkdf_info"]),
            [&b"authex native module key v1"[..], &deployer_public, &evidence[..32]].concat()
        );
        assert_eq!(hex(&v["confirm_ad"]), [&b"attest-confirm"[..], &nonce].concat());
        assert_eq!(hex(&v["confirm_nonce"]), nonce_block(3, 0)[..12].to_vec());
        assert_eq!(ex.finish(&evidence).unwrap().reveal(), &hex(&v["module_key"])[..]);
        // refusals: another name, a tampered signature, a wrong size
        let fixed: [u8; 32] = hex(&v["module_ephemeral_private"]).try_into().unwrap();
        assert!(module_respond_with("other", &hex(&v["operator_public"]), &hex(&v["challenge"]), fixed).is_err());
        let mut tampered = hex(&v["challenge"]);
        tampered[60] ^= 1;
        assert!(module_respond_with(name, &hex(&v["operator_public"]), &tampered, fixed).is_err());
        assert!(module_respond_with(name, &hex(&v["operator_public"]), &tampered[..111], fixed).is_err());
        let mut bad_evidence = evidence.clone();
        bad_evidence[40] ^= 1;
        assert!(ex.finish(&bad_evidence).is_err());
    }
}

#[test]
fn native_exchange_rejects_low_order_points() {
    let operator = SigningKey::from_bytes(&[1; 32]);
    let public = operator.verifying_key().to_bytes();
    let nonce = [5u8; 16];
    let zero_point = [0u8; 32];
    let sig = operator.sign(&signed_part("m", &nonce, &zero_point)).to_bytes();
    let challenge = [&nonce[..], &zero_point, &sig].concat();
    let err = module_respond_with("m", &public, &challenge, [9; 32]).unwrap_err();
    assert!(err.to_string().contains("invalid"), "{err}");
}

// --- SGX report data -----------------------------------------------------------------------------

#[test]
fn sgx_report_data_layout() {
    let rd = sgx_report_data(&[1; 32], &[2; 16]);
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update([1u8; 32]);
    h.update([2u8; 16]);
    assert_eq!(rd[..32].to_vec(), h.finalize().to_vec());
    assert_eq!(rd[32..], [0u8; 32]);
}

// --- Sancus SpongeWrap ---------------------------------------------------------------------------

fn identity(text: &[u8], layout: &Json) -> Vec<u8> {
    let mut out = text.to_vec();
    for k in ["public_start", "public_end", "secret_start", "secret_end"] {
        out.extend_from_slice(&(num(&layout[k]) as u16).to_le_bytes());
    }
    out
}

#[test]
fn sancus_spongewrap_vectors() {
    let doc = load("sancus/spongewrap.json");
    let s = &doc["security_128"];
    let node = hex(&s["node_key"]);
    let vendor = sancus_mac(&node, &(num(&s["vendor_id"]) as u16).to_le_bytes()).unwrap();
    assert_eq!(vendor, hex(&s["vendor_key"]));
    let module_key = sancus_mac(&vendor, &identity(&hex(&s["module_text"]), &s["layout"])).unwrap();
    assert_eq!(module_key, hex(&s["module_key"]));
    assert_eq!(sancus_mac(&module_key, b"ad").unwrap(), hex(&s["mac_module_key_ad_6164"]));
    assert_eq!(sancus_mac(&[0; 16], b"").unwrap(), hex(&s["mac_zero_key_empty"]));
    let w = &s["wrap_zero_key_ad_6164_body_hello_world_11B"];
    let (cipher, tag) = spongewrap_wrap(&[0; 16], b"ad", &hex(&w["body"])).unwrap();
    assert_eq!(cipher, hex(&w["cipher"]));
    assert_eq!(tag, hex(&w["tag"]));
    assert_eq!(spongewrap_unwrap(&[0; 16], b"ad", &cipher, &tag).unwrap(), hex(&w["body"]));
    let mut bad = tag.clone();
    bad[0] ^= 0x80;
    assert!(spongewrap_unwrap(&[0; 16], b"ad", &cipher, &bad).is_err());
    assert!(spongewrap_unwrap(&[0; 16], b"ae", &cipher, &tag).is_err());

    let s = &doc["security_64"];
    let vendor = sancus_mac(&hex(&s["node_key"]), &(num(&s["vendor_id"]) as u16).to_le_bytes()).unwrap();
    assert_eq!(vendor, hex(&s["vendor_key"]));
    assert_eq!(sancus_mac(&[0; 8], b"").unwrap(), hex(&s["mac_zero_key_empty"]));
    let w = &s["wrap_zero_key_ad_6164_body_hello_world!_12B"];
    let (cipher, tag) = spongewrap_wrap(&[0; 8], b"ad", &hex(&w["body"])).unwrap();
    assert_eq!(cipher, hex(&w["cipher"]));
    assert_eq!(tag, hex(&w["tag"]));
    assert_eq!(spongewrap_unwrap(&[0; 8], b"ad", &cipher, &tag).unwrap(), hex(&w["body"]));
}

/// The suite examples of spec/crypto.md §7 and §8 (key 000102..0f, conn 7, direction 0,
/// counter 1).
#[test]
fn suite_examples_from_the_spec() {
    let key: Vec<u8> = (0u8..16).collect();
    let ad = event_ad(7, 0, 1);
    assert_eq!(to_hex(&ad), "0100000007000000000000000001");
    let sw = Suite::SpongeWrap128;
    assert_eq!(
        to_hex(&authex::suites::spongewrap_ad(0, 1, &ad)),
        "0000000000000000000000010000000001000000070000000000000000018000"
    );
    assert_eq!(to_hex(&sw.seal(&key, 0, 1, &ad, b"hi").unwrap()), "bdcaa04cc8c641d4fd56d1e30b4adaec06291b05");
    assert_eq!(to_hex(&sw.seal(&key, 0, 1, &ad, b"abc").unwrap()), "b4c10e131f2f41b0a4356abb45dfc39f13747d47");
    for plain in [&b""[..], b"a", b"hi", b"abc", &[0x80; 33]] {
        let sealed = sw.seal(&key, 0, 1, &ad, plain).unwrap();
        assert_eq!(sealed.len(), plain.len() + if plain.len() % 2 == 1 { 1 } else { 2 } + 16);
        assert_eq!(sw.open(&key, 0, 1, &ad, &sealed).unwrap(), plain);
        assert!(sw.open(&key, 1, 1, &ad, &sealed).is_err());
        assert!(sw.open(&key, 0, 2, &ad, &sealed).is_err());
        let mut bad = sealed.clone();
        bad[0] ^= 1;
        assert!(sw.open(&key, 0, 1, &ad, &bad).is_err());
    }
    assert!(sw.open(&key, 0, 1, &ad, &[0; 17]).is_err()); // odd body
    assert!(sw.open(&key, 0, 1, &ad, &[0; 16]).is_err()); // empty body
    let ascon = Suite::AsconAead128;
    assert_eq!(to_hex(&ascon.seal(&key, 0, 1, &ad, b"hi").unwrap()), "2d4bdb015cbd13e80d44f899f274ae0f7fbf");
    assert_eq!(to_hex(&ascon.seal(&key, 0, 1, &ad, b"abc").unwrap()), "2440879e9f9cd6b608b98c207f6ef499d385fd");
    assert_eq!(ascon.open(&key, 0, 1, &ad, &hex(&Json::from("2d4bdb015cbd13e80d44f899f274ae0f7fbf"))).unwrap(), b"hi");
}

/// spec/crypto.md §10 examples (derivation without a module nonce) and the TrustZone known
/// answers of docs/trustzone.md §3.
#[test]
fn session_keys_and_trustzone_known_answers() {
    let km: Vec<u8> = (0u8..16).collect();
    let challenge: Vec<u8> = (0x40u8..0x50).collect();
    assert_eq!(to_hex(sancus_session_key(&km, &challenge, b"").unwrap().reveal()), "10455ff470ec15add5076e21f63149cf");
    assert_eq!(to_hex(trustzone_session_key(&km, &challenge, b"").reveal()), "f943453cabb4ce3525689fe1070be27e");
    let huk: Vec<u8> = (0u8..16).collect();
    let vendor = hkdf16(&huk, &[&b"authex trustzone vendor key v1"[..], &0x1234u32.to_le_bytes()].concat());
    assert_eq!(to_hex(&vendor), "f8fef6fa22b81f8ee31a56de7e01e51d");
    let ta_hash: Vec<u8> = (0x20u8..0x40).collect();
    let module = hkdf16(&vendor, &[&b"authex trustzone module key v1"[..], &ta_hash].concat());
    assert_eq!(to_hex(&module), "7ca7ba76f84a01bebb3faa8cebf1495e");
    let tz_challenge: Vec<u8> = (0x40u8..0x60).collect();
    assert_eq!(to_hex(&trustzone_attestation_mac(&module, &tz_challenge)), "d28048a07441656c42582da9bfcaea1d");
    // evidence = MAC || module nonce; the session key binds the nonce
    let nonce = [9u8; 16];
    let (evidence, key) = trustzone_answer(&module, &tz_challenge, &nonce).unwrap();
    assert_eq!(to_hex(&evidence[..16]), "d28048a07441656c42582da9bfcaea1d");
    assert_eq!(evidence[16..], nonce);
    assert_ne!(key, trustzone_session_key(&module, &tz_challenge, b""));
    let (evidence, key) = sancus_answer(&km, &challenge, &nonce).unwrap();
    assert_eq!(evidence[..16].to_vec(), sancus_mac(&km, &challenge).unwrap());
    assert_eq!(key, sancus_session_key(&km, &challenge, &nonce).unwrap());
}

// --- Ascon-AEAD128 KATs ------------------------------------------------------------------------

#[test]
fn ascon_aead128_kats() {
    let text = std::fs::read_to_string(vectors_dir().join("ascon/LWC_AEAD_KAT_128_128.txt")).unwrap();
    let mut count = 0;
    for block in text.split("\n\n").filter(|b| b.contains("Count")) {
        let mut fields = std::collections::HashMap::new();
        for line in block.lines() {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == "Count" {
                    continue;
                }
                fields.insert(k.trim().to_string(), from_hex(v.trim()).unwrap());
            }
        }
        let (key, nonce, pt, ad, ct) = (&fields["Key"], &fields["Nonce"], &fields["PT"], &fields["AD"], &fields["CT"]);
        use ascon_aead::aead::{Aead, KeyInit, Payload};
        let cipher = ascon_aead::AsconAead128::new_from_slice(key).unwrap();
        let n = ascon_aead::AsconAead128Nonce::try_from(&nonce[..]).unwrap();
        let got = cipher.encrypt(&n, Payload { msg: pt, aad: ad }).unwrap();
        assert_eq!(&got, ct, "Count {count}");
        let back = cipher.decrypt(&n, Payload { msg: ct, aad: ad }).unwrap();
        assert_eq!(&back, pt, "Count {count}");
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert!(cipher.decrypt(&n, Payload { msg: &bad, aad: ad }).is_err());
        count += 1;
    }
    assert_eq!(count, 1089, "every AEAD KAT entry");
}

#[test]
fn ascon_suite_uses_the_nonce_block() {
    // the suite's nonce is the full 16-byte nonce block
    let key = [3u8; 16];
    let ad = event_ad(1, 1, 5);
    let sealed = Suite::AsconAead128.seal(&key, 1, 5, &ad, b"data").unwrap();
    use ascon_aead::aead::{Aead, KeyInit, Payload};
    let cipher = ascon_aead::AsconAead128::new_from_slice(&key).unwrap();
    let n = ascon_aead::AsconAead128Nonce::try_from(&nonce_block(1, 5)[..]).unwrap();
    assert_eq!(cipher.encrypt(&n, Payload { msg: b"data", aad: &ad }).unwrap(), sealed);
}
