//! A persistent authex module in Rust (the Rust twin of the fault tests' Python and C durable
//! consumers): counts numbered events, checking that each arrives once and in order, and keeps
//! its counts in sealed state, so they survive its own crashes and its agent's.

#[authex::module(persistent)]
mod consumer {
    use authex::Context;

    /// Counts, restored from the sealed state on the first event after a (re)start.
    #[derive(Default)]
    struct Counts {
        loaded: bool,
        count: u64,
        last: u64,
        out_of_order: u64,
        duplicates: u64,
        delay_ms: u64,
    }

    fn current<'a>(ctx: &'a mut Context) -> &'a mut Counts {
        let kept = ctx.unseal();
        let counts = ctx.state::<Counts>();
        if !counts.loaded {
            if let Some(bytes) = kept.filter(|b| b.len() == 32) {
                let word = |i: usize| u64::from_be_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
                (counts.count, counts.last, counts.out_of_order, counts.duplicates) =
                    (word(0), word(1), word(2), word(3));
            }
            counts.loaded = true;
        }
        counts
    }

    #[authex::input]
    fn seq(ctx: &mut Context, data: &[u8]) -> Result<(), String> {
        let delay = ctx.state::<Counts>().delay_ms;
        if delay > 0 {
            std::thread::sleep(std::time::Duration::from_millis(delay));
        }
        let number: u64 = std::str::from_utf8(data).map_err(|e| e.to_string())?.parse().map_err(|e| format!("{e}"))?;
        let c = current(ctx);
        if number <= c.last {
            c.duplicates += 1;
        } else {
            if number != c.last + 1 {
                c.out_of_order += 1;
            }
            c.last = number;
            c.count += 1;
        }
        let sealed: Vec<u8> =
            [c.count, c.last, c.out_of_order, c.duplicates].iter().flat_map(|w| w.to_be_bytes()).collect();
        ctx.seal(sealed).map_err(|e| e.to_string())
    }

    #[authex::entry]
    fn slow_down(ctx: &mut Context, arg: &[u8]) -> &'static str {
        ctx.state::<Counts>().delay_ms = std::str::from_utf8(arg).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
        "ok"
    }

    #[authex::entry]
    fn stats(ctx: &mut Context, _arg: &[u8]) -> String {
        let c = current(ctx);
        format!(
            "{{\"count\": {}, \"duplicates\": {}, \"last\": {}, \"out_of_order\": {}}}",
            c.count, c.duplicates, c.last, c.out_of_order
        )
    }
}
