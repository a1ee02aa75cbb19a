//! ping in Rust: the probe end of examples/ping-pong (same interface and byte formats as the
//! Python ping in examples/ping-pong/modules/ping/main.py), so `python -m bench` can time event
//! hops, requests and streams between two Rust modules.
//!
//! Three experiments, each started by the operator with an authenticated entry and each bounded
//! in count and in time (`budget_ms`; a run out of time still reports `MIN_SAMPLES`):
//!
//! - `hop` (`<IIIII` run, count, warmup, size, budget ms): a chain of round trips, `warmup`
//!   untimed ones then up to `count` timed ones. Every ping goes out on `ping`; the pong module
//!   echoes it back into `pong` here, which records the round-trip time and sends the next one.
//!   Only one ping is in flight. When the chain is done the times go to the operator on `report`.
//! - `request_rtt` (`<IIII` count, warmup, size, budget ms): blocking `ctx.request("ask", ..)`
//!   calls, `warmup` untimed then up to `count` timed; the entry returns the round-trip times.
//! - `blast` (`<IdII` run, seconds, size, window): sequence-numbered events on `stream` for a
//!   given time, with credit flow control: two windows at once, then one more window for every
//!   `credit` event the receiver sends back. After the deadline an end marker (seq 0xFFFFFFFF,
//!   then `<QQQ` sent, start ns, stop ns) goes out; the receiver reports to the operator.
//!
//! Every message starts with `<III` run, sequence number, window, padded with zeros to the
//! requested size. Reports are `<IIII` run, samples, errors, 0, then `<Q` per round trip (ns).
//! Times are CLOCK_MONOTONIC ns, like Python's `time.perf_counter_ns` on Linux.

#[authex::module]
mod ping {
    use authex::Context;

    authex::outputs!(ping, stream, report);
    authex::requests!(ask);

    const HEAD_SIZE: usize = 12;
    const END: u32 = 0xFFFF_FFFF;
    /// A run out of time still reports at least this many round trips.
    const MIN_SAMPLES: usize = 5;

    fn now_ns() -> u64 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes one timespec into the valid pointer we pass.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
    }

    fn u32_at(data: &[u8], at: usize) -> Option<u32> {
        Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
    }

    fn f64_at(data: &[u8], at: usize) -> Option<f64> {
        Some(f64::from_le_bytes(data.get(at..at + 8)?.try_into().ok()?))
    }

    /// `<III` run, seq, window, zero-padded to `size` bytes.
    fn padded(run: u32, seq: u32, window: u32, size: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(size.max(HEAD_SIZE));
        for v in [run, seq, window] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.resize(size.max(HEAD_SIZE), 0);
        out
    }

    /// A report: `<IIII` run, samples, errors, 0, then every sample as `<Q`.
    fn samples_report(run: u32, samples: &[u64], errors: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 8 * samples.len());
        for v in [run, samples.len() as u32, errors, 0] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for s in samples {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }

    /// Exactly `N` little-endian u32s, as Python's `struct.unpack` demands.
    fn u32s<const N: usize>(arg: &[u8]) -> Result<[u32; N], String> {
        if arg.len() != 4 * N {
            return Err(format!("argument must be {} bytes, not {}", 4 * N, arg.len()));
        }
        let mut out = [0u32; N];
        for (i, v) in out.iter_mut().enumerate() {
            *v = u32_at(arg, 4 * i).expect("length checked");
        }
        Ok(out)
    }

    /// The ping-pong chain in progress (one at a time).
    #[derive(Default)]
    struct Hop {
        run: u32,
        count: usize,
        warmup: u32,
        size: usize,
        seq: u32,
        sent_at: u64,
        errors: u32,
        measuring: bool,
        warm_until: u64,
        deadline: u64,
        active: bool,
        samples: Vec<u64>,
    }

    impl Hop {
        /// Enough samples, or out of time (with a few samples, or far out of time).
        fn done(&self, now: u64) -> bool {
            let n = self.samples.len();
            if n >= self.count {
                return true;
            }
            if now < self.deadline {
                return false;
            }
            n >= MIN_SAMPLES || now >= self.deadline + 2 * (self.deadline - self.warm_until)
        }

        fn send(&mut self, ctx: &mut Context) {
            let payload = padded(self.run, self.seq, 0, self.size);
            self.sent_at = now_ns();
            ctx.emit("ping", payload);
        }
    }

    /// The credit-controlled stream in progress (one at a time).
    #[derive(Default)]
    struct Blast {
        run: u32,
        size: usize,
        window: u32,
        seq: u32,
        start_ns: u64,
        deadline: u64,
        active: bool,
    }

    impl Blast {
        fn send_window(&mut self, ctx: &mut Context) {
            let mut payload = padded(self.run, 0, self.window, self.size);
            for seq in self.seq..self.seq + self.window {
                payload[4..8].copy_from_slice(&seq.to_le_bytes());
                ctx.emit("stream", &payload);
            }
            self.seq += self.window;
        }

        fn finish(&mut self, ctx: &mut Context) {
            self.active = false;
            let stop = now_ns();
            let mut marker = padded(self.run, END, self.window, HEAD_SIZE);
            for v in [u64::from(self.seq), self.start_ns, stop] {
                marker.extend_from_slice(&v.to_le_bytes());
            }
            ctx.emit("stream", marker);
        }
    }

    /// Start a ping-pong chain: arg = `<IIIII` run, count, warmup, size, budget_ms.
    #[authex::entry]
    fn hop(ctx: &mut Context, arg: &[u8]) -> Result<&'static [u8], String> {
        let [run, count, warmup, size, budget_ms] = u32s::<5>(arg)?;
        if count < 1 || (size as usize) < HEAD_SIZE || budget_ms < 1 {
            return Err(format!("need count >= 1, size >= {HEAD_SIZE} and budget_ms >= 1"));
        }
        let now = now_ns();
        let budget = u64::from(budget_ms);
        let mut samples = std::mem::take(&mut ctx.state::<Hop>().samples);
        samples.clear();
        samples.reserve(count.min(1 << 20) as usize);
        let mut state = Hop {
            run,
            count: count as usize,
            warmup,
            size: size as usize,
            measuring: warmup == 0,
            warm_until: now + budget * 250_000, // a quarter of the budget at most
            deadline: now + budget * 1_000_000,
            active: true,
            samples,
            ..Hop::default()
        };
        state.send(ctx);
        *ctx.state::<Hop>() = state;
        Ok(b"started")
    }

    #[authex::input]
    fn pong(ctx: &mut Context, data: &[u8]) {
        let now = now_ns();
        let mut hop = std::mem::take(ctx.state::<Hop>());
        let (run, seq) = (u32_at(data, 0), u32_at(data, 4));
        if !hop.active || run != Some(hop.run) || seq != Some(hop.seq) || data.len() != hop.size {
            hop.errors += 1;
        } else {
            if hop.measuring {
                hop.samples.push(now - hop.sent_at);
            } else if hop.seq + 1 >= hop.warmup || now >= hop.warm_until {
                hop.measuring = true;
            }
            hop.seq += 1;
            if !hop.done(now) {
                hop.send(ctx);
            } else {
                hop.active = false;
                ctx.emit("report", samples_report(hop.run, &hop.samples, hop.errors));
            }
        }
        *ctx.state::<Hop>() = hop;
    }

    /// Timed requests to the connected handler: arg = `<IIII` count, warmup, size, budget_ms;
    /// returns the report head and the round-trip times (ns).
    #[authex::entry]
    fn request_rtt(ctx: &mut Context, arg: &[u8]) -> Result<Vec<u8>, String> {
        let [count, warmup, size, budget_ms] = u32s::<4>(arg)?;
        let begin = now_ns();
        let warm_until = begin + u64::from(budget_ms) * 250_000;
        let deadline = begin + u64::from(budget_ms) * 1_000_000;
        let mut samples: Vec<u64> = Vec::with_capacity(count.min(1 << 20) as usize);
        let mut errors = 0u32;
        let mut i = 0u32;
        while samples.len() < count as usize {
            let payload = padded(0, i, 0, size as usize);
            let start = now_ns();
            let reply = ctx.request("ask", &payload).map_err(|e| e.to_string())?;
            let end = now_ns();
            if reply != payload {
                errors += 1;
            }
            if i >= warmup || start >= warm_until {
                samples.push(end - start);
            }
            i += 1;
            if end >= deadline && samples.len() >= MIN_SAMPLES {
                break;
            }
        }
        Ok(samples_report(0, &samples, errors))
    }

    /// Start a stream: arg = `<IdII` run, seconds, size, window.
    #[authex::entry]
    fn blast(ctx: &mut Context, arg: &[u8]) -> Result<&'static [u8], String> {
        let (Some(run), Some(seconds), Some(size), Some(window), 20) =
            (u32_at(arg, 0), f64_at(arg, 4), u32_at(arg, 12), u32_at(arg, 16), arg.len())
        else {
            return Err(format!("argument must be 20 bytes, not {}", arg.len()));
        };
        if (size as usize) < HEAD_SIZE || window < 1 || !(seconds > 0.0 && seconds <= 120.0) {
            return Err(format!("need size >= {HEAD_SIZE}, window >= 1 and 0 < seconds <= 120"));
        }
        let start_ns = now_ns();
        let mut state = Blast {
            run,
            size: size as usize,
            window,
            seq: 0,
            start_ns,
            deadline: start_ns + (seconds * 1e9) as u64,
            active: true,
        };
        state.send_window(ctx);
        state.send_window(ctx);
        *ctx.state::<Blast>() = state;
        Ok(b"started")
    }

    #[authex::input]
    fn credit(ctx: &mut Context, data: &[u8]) {
        let mut state = std::mem::take(ctx.state::<Blast>());
        if state.active && u32_at(data, 0) == Some(state.run) {
            if now_ns() >= state.deadline {
                state.finish(ctx);
            } else {
                state.send_window(ctx);
            }
        }
        *ctx.state::<Blast>() = state;
    }
}

#[cfg(test)]
mod tests {
    use authex::testing::Harness;

    fn u32s(values: &[u32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn head(run: u32, seq: u32, window: u32, size: usize) -> Vec<u8> {
        let mut out = u32s(&[run, seq, window]);
        out.resize(size, 0);
        out
    }

    fn report(bytes: &[u8]) -> (u32, Vec<u64>, u32) {
        let word = |i: usize| u32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap());
        let samples = bytes[16..].chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect();
        (word(0), samples, word(2))
    }

    #[test]
    fn a_hop_chain_warms_up_times_and_reports() {
        let mut h = Harness::named(crate::ping::module(), "ping").unwrap();
        // run 7, 3 timed round trips after 1 warm-up, 32-byte payloads, 10 s budget
        assert_eq!(h.call("hop", &u32s(&[7, 3, 1, 32, 10_000])).unwrap(), b"started");
        for seq in 0..4 {
            let emitted = h.take_emitted();
            assert_eq!(emitted, vec![("ping".to_string(), head(7, seq, 0, 32))]);
            h.deliver("pong", &emitted[0].1).unwrap();
        }
        let emitted = h.take_emitted();
        assert_eq!(emitted.len(), 1);
        assert_eq!(emitted[0].0, "report");
        let (run, samples, errors) = report(&emitted[0].1);
        assert_eq!((run, samples.len(), errors), (7, 3, 0));
        h.deliver("pong", &head(7, 9, 0, 32)).unwrap(); // after the chain: an error, no reply
        assert!(h.take_emitted().is_empty());
        assert!(h.call("hop", &u32s(&[7, 0, 1, 32, 10])).is_err(), "count 0 is refused");
        assert!(h.call("hop", &u32s(&[7, 1, 1, 8, 10])).is_err(), "size below the header");
    }

    #[test]
    fn requests_are_timed_and_checked() {
        let mut h = Harness::named(crate::ping::module(), "ping").unwrap();
        h.on_request("ask", |data| data.to_vec());
        let (run, samples, errors) = report(&h.call("request_rtt", &u32s(&[4, 2, 64, 10_000])).unwrap());
        assert_eq!((run, samples.len(), errors), (0, 4, 0));
        h.on_request("ask", |_| b"wrong".to_vec());
        let (_, samples, errors) = report(&h.call("request_rtt", &u32s(&[2, 0, 16, 10_000])).unwrap());
        assert_eq!((samples.len(), errors), (2, 2));
    }

    #[test]
    fn a_stream_sends_windows_on_credit_and_ends_with_a_marker() {
        let mut h = Harness::named(crate::ping::module(), "ping").unwrap();
        let mut arg = 5u32.to_le_bytes().to_vec();
        arg.extend_from_slice(&0.05f64.to_le_bytes());
        arg.extend(u32s(&[16, 4]));
        assert_eq!(h.call("blast", &arg).unwrap(), b"started");
        let emitted = h.take_emitted();
        assert_eq!(emitted.len(), 8, "two windows of 4");
        for (seq, (output, data)) in emitted.iter().enumerate() {
            assert_eq!((output.as_str(), data.clone()), ("stream", head(5, seq as u32, 4, 16)));
        }
        h.deliver("credit", &u32s(&[5, 4, 4])).unwrap();
        assert_eq!(h.take_emitted().len(), 4, "one more window per credit");
        h.deliver("credit", &u32s(&[6, 4, 4])).unwrap(); // another run's credit
        assert!(h.take_emitted().is_empty());
        std::thread::sleep(std::time::Duration::from_millis(60));
        h.deliver("credit", &u32s(&[5, 8, 4])).unwrap();
        let emitted = h.take_emitted();
        assert_eq!(emitted.len(), 1);
        let marker = &emitted[0].1;
        assert_eq!(&marker[..12], &u32s(&[5, 0xFFFF_FFFF, 4])[..]);
        assert_eq!(&marker[12..20], &12u64.to_le_bytes(), "sent");
        assert_eq!(marker.len(), 36);
    }
}
