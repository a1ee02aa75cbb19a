//! A small authex module in Rust: echoes events, answers requests, counts calls.
//!
//! Build: `cargo build --release -p echo` (with `AUTHEX_OPERATOR_KEY=<hex>` for a deployable
//! binary); inspect: `target/release/echo --manifest echo`.

#[authex::module]
mod echo {
    use authex::Context;

    authex::outputs!(echoed);

    /// Module-private state (kept across events for the life of the process).
    #[derive(Default)]
    struct Counts {
        events: u64,
        calls: u64,
    }

    /// Every event on input `ping` goes out unchanged on output `echoed`.
    #[authex::input]
    fn ping(ctx: &mut Context, data: &[u8]) {
        ctx.state::<Counts>().events += 1;
        ctx.emit("echoed", data);
    }

    /// Requests on handler `upper` are answered with their data in upper case.
    #[authex::handler]
    fn upper(_ctx: &mut Context, data: &[u8]) -> Vec<u8> {
        data.to_ascii_uppercase()
    }

    /// Public entry (timers may call it): how many events and calls so far.
    #[authex::entry(public)]
    fn stats(ctx: &mut Context, _arg: &[u8]) -> String {
        let counts = ctx.state::<Counts>();
        counts.calls += 1;
        format!("events={} calls={}", counts.events, counts.calls)
    }

    /// Authenticated entry: emit the argument on `echoed`; fails on an empty argument.
    #[authex::entry("say-it")]
    fn say(ctx: &mut Context, arg: &[u8]) -> Result<Vec<u8>, String> {
        if arg.is_empty() {
            return Err("nothing to say".into());
        }
        let sent = ctx.emit("echoed", arg);
        Ok(format!("sent to {sent} connection(s)").into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use authex::testing::Harness;

    #[test]
    fn echoes_and_counts() {
        let mut h = Harness::named(crate::echo::module(), "echo").unwrap();
        h.deliver("ping", b"hello").unwrap();
        assert_eq!(h.take_emitted(), vec![("echoed".to_string(), b"hello".to_vec())]);
        assert_eq!(h.ask("upper", b"abc").unwrap(), b"ABC");
        assert_eq!(h.call_public("stats", b"").unwrap(), b"events=1 calls=1");
        assert_eq!(h.call("say-it", b"hi").unwrap(), b"sent to 1 connection(s)");
        assert!(h.call("say-it", b"").unwrap_err().to_string().contains("nothing to say"));
        assert!(h.call_public("say-it", b"x").is_err(), "say-it is not public");
    }
}
