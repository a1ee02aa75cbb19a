//! The echo binary as a module process: host link on stdin/stdout, platform link on fd 3,
//! exactly as an (emulated) platform starts it.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use authex::attest::{trustzone_attestation_mac, trustzone_session_key};
use authex::channel::{open_event, seal_event};
use authex::control::{open_result, seal_call, wrap_key, SetKeyFields};
use authex::suites::Suite;
use authex::wire::{
    call_status, FrameDecoder, HostAttest, HostCall, HostDeliver, HostSetKey, HostStop, Link, Message, ModuleIdentity,
};

const BIN: &str = env!("CARGO_BIN_EXE_echo");

struct Module {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    decoder: FrameDecoder,
}

impl Module {
    fn send(&mut self, m: Message, rid: u32) {
        self.stdin.write_all(&m.encode(rid).unwrap()).unwrap();
    }

    fn recv(&mut self) -> (Message, u32) {
        let mut buf = [0u8; 65536];
        loop {
            if let Some(f) = self.decoder.next_frame().unwrap() {
                return (Link::HostReply.decode(&f).unwrap(), f.request_id);
            }
            let n = self.stdout.read(&mut buf).unwrap();
            assert!(n > 0, "module closed its stdout");
            self.decoder.feed(&buf[..n]);
        }
    }
}

fn watchdog(pid: u32) {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(60));
        // SAFETY: signalling our own child process by pid.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    });
}

fn spawn(args: &[&str], platform: Option<UnixStream>) -> Module {
    let mut cmd = Command::new(BIN);
    cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
    if let Some(p) = platform {
        let fd = p.as_raw_fd();
        // SAFETY: only async-signal-safe dup2 between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(fd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        drop(p);
        watchdog(child.id());
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        return Module { child, stdin, stdout, decoder: FrameDecoder::new(1 << 20) };
    }
    let mut child = cmd.spawn().unwrap();
    watchdog(child.id());
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    Module { child, stdin, stdout, decoder: FrameDecoder::new(1 << 20) }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn manifest_flag_prints_the_manifest() {
    let out = Command::new(BIN).args(["--manifest", "echo"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with(r#"{"endpoints":[{"id":4097,"kind":"input","name":"ping","public":false}"#), "{text}");
    assert!(text.contains(r#""language":"rust","name":"echo""#));
    let out = Command::new(BIN).args(["--manifest", "echo", &"11".repeat(32)]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a key other than the compiled-in one is refused");
}

#[test]
fn runs_as_a_trustzone_module_over_its_links() {
    let (mut platform, module_end) = UnixStream::pair().unwrap();
    let k_m = [0x5au8; 16];
    let identity = ModuleIdentity {
        tee: "trustzone".into(),
        emulated: 1,
        measurement: vec![0xab; 32],
        module_key: k_m.to_vec(),
        payload: b"ignored".to_vec(),
    };
    platform.write_all(&Message::ModuleIdentity(identity).encode(0).unwrap()).unwrap();
    let mut m = spawn(&["-", "--name", "echo", "--platform-fd", "3"], Some(module_end));

    match m.recv() {
        (Message::HostReady(r), 0) => {
            assert_eq!(r.name, "echo");
            assert_eq!(r.measurement, vec![0xab; 32]);
        }
        other => panic!("{other:?}"),
    }
    // attestation: MAC || module nonce, session key bound to both
    let challenge: Vec<u8> = (0u8..32).collect();
    m.send(Message::HostAttest(HostAttest { challenge: challenge.clone() }), 1);
    let evidence = match m.recv() {
        (Message::HostAttested(a), 1) => a.evidence,
        other => panic!("{other:?}"),
    };
    assert_eq!(evidence.len(), 32);
    assert_eq!(evidence[..16], trustzone_attestation_mac(&k_m, &challenge)[..]);
    let k_ctl = trustzone_session_key(&k_m, &challenge, &evidence[16..]);

    let (k_in, k_out) = ([1u8; 16], [2u8; 16]);
    for (rid, (conn_id, io_id, role, key)) in
        [(1u32, 0x1001u16, 1u8, k_in), (2, 0x2001, 0, k_out)].into_iter().enumerate()
    {
        let f = SetKeyFields { conn_id, io_id, role, suite: 1, counter: rid as u64 + 1 };
        let wrapped = wrap_key(Suite::AesGcm128, k_ctl.reveal(), &key, f).unwrap();
        m.send(
            Message::HostSetKey(HostSetKey { conn_id, io_id, role, suite: 1, counter: f.counter, wrapped }),
            10 + rid as u32,
        );
        assert!(matches!(m.recv(), (Message::Ok(_), r) if r == 10 + rid as u32));
    }

    let pid = m.child.id();
    if let Some(kib) = rss_kib(pid) {
        eprintln!("echo module idle RSS: {kib} KiB");
    }

    // an event in, the same event out, then the acknowledgement
    let ciphertext = seal_event(Suite::AesGcm128, &k_in, 1, 0, 1, b"hello").unwrap();
    m.send(Message::HostDeliver(HostDeliver { conn_id: 1, direction: 0, counter: 1, ciphertext }), 0);
    match m.recv() {
        (Message::HostEmit(e), 0) => {
            assert_eq!((e.conn_id, e.direction, e.counter), (2, 0, 1));
            assert_eq!(open_event(Suite::AesGcm128, &k_out, 2, 0, 1, &e.ciphertext).unwrap(), b"hello");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(m.recv(), (Message::HostAccepted(a), 0) if a.conn_id == 1 && a.counter == 1));

    // an authenticated call (entry "say-it" = 0x3001) emits before its result
    let sealed = seal_call(Suite::AesGcm128, k_ctl.reveal(), 0x3001, 3, b"hi").unwrap();
    m.send(Message::HostCall(HostCall { entry_id: 0x3001, authenticated: 1, counter: 3, payload: sealed }), 20);
    assert!(matches!(m.recv(), (Message::HostEmit(e), 0) if e.counter == 2));
    match m.recv() {
        (Message::HostCallResult(r), 20) => {
            assert_eq!(r.status, call_status::OK);
            let plain = open_result(Suite::AesGcm128, k_ctl.reveal(), 0x3001, 3, r.status, &r.payload).unwrap();
            assert_eq!(plain, b"sent to 1 connection(s)");
        }
        other => panic!("{other:?}"),
    }
    // public entry
    m.send(Message::HostCall(HostCall { entry_id: 0x3002, authenticated: 0, counter: 0, payload: vec![] }), 21);
    assert!(matches!(m.recv(), (Message::HostCallResult(r), 21) if r.payload == b"events=1 calls=1"));

    m.send(Message::HostStop(HostStop {}), 30);
    assert_eq!(m.child.wait().unwrap().code(), Some(0));
}

#[test]
fn native_without_platform_measures_itself_and_closes_on_malformed_input() {
    let mut m = spawn(&["--name", "echo"], None);
    let binary = std::fs::read(BIN).unwrap();
    use sha2::{Digest, Sha256};
    match m.recv() {
        (Message::HostReady(r), 0) => assert_eq!(r.measurement, Sha256::digest(&binary).to_vec()),
        other => panic!("{other:?}"),
    }
    // built without AUTHEX_OPERATOR_KEY (as in `cargo test`): native attestation is refused
    if authex::OPERATOR_KEY_HEX.is_empty() {
        m.send(Message::HostAttest(HostAttest { challenge: vec![0; 112] }), 1);
        assert!(matches!(m.recv(), (Message::Error(e), 1) if e.message.contains("AUTHEX_OPERATOR_KEY")));
    }
    // a frame of another link closes the host link with status 3
    m.stdin.write_all(&[0, 0, 0, 5, 0x10, 0, 0, 0, 1]).unwrap();
    assert_eq!(m.child.wait().unwrap().code(), Some(3));
}

#[test]
fn refuses_a_wrong_usage() {
    let out = Command::new(BIN).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "--name is required");
    let out = Command::new(BIN).args(["--bogus"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
