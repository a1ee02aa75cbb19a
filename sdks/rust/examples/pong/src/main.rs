//! pong in Rust: the echo end of examples/ping-pong (same interface and byte formats as the
//! Python pong in examples/ping-pong/modules/pong/main.py), for latency and throughput probes
//! of Rust modules.
//!
//! - `ping` events go straight back on `pong`; `ask` requests are answered with their data;
//! - `stream` events (`<III` run, seq, window) are counted with gaps and reordering; every
//!   `window` events one `credit` goes back; the end marker (seq 0xFFFFFFFF, then `<QQQ` sent,
//!   start, stop) makes it report `<IQQQQQQQQ` on `report`.  Times are CLOCK_MONOTONIC ns,
//!   like Python's `time.perf_counter_ns` on Linux.

#[authex::module]
mod pong {
    use authex::Context;

    authex::outputs!(pong, credit, report);

    const END: u32 = 0xFFFF_FFFF;

    #[derive(Default)]
    struct Stream {
        run: Option<u32>,
        expected: u32,
        received: u64,
        gaps: u64,
        out_of_order: u64,
        first: u64,
        last: u64,
    }

    fn now_ns() -> u64 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes one timespec into the valid pointer we pass.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
    }

    fn u32_at(data: &[u8], at: usize) -> Option<u32> {
        Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
    }

    fn u64_at(data: &[u8], at: usize) -> Option<u64> {
        Some(u64::from_le_bytes(data.get(at..at + 8)?.try_into().ok()?))
    }

    #[authex::input]
    fn ping(ctx: &mut Context, data: &[u8]) {
        ctx.emit("pong", data);
    }

    #[authex::handler]
    fn ask(_ctx: &mut Context, data: &[u8]) -> Vec<u8> {
        data.to_vec()
    }

    #[authex::input]
    fn stream(ctx: &mut Context, data: &[u8]) {
        let now = now_ns();
        let (Some(run), Some(seq), Some(window)) = (u32_at(data, 0), u32_at(data, 4), u32_at(data, 8)) else {
            ctx.log("stream event shorter than its header");
            return;
        };
        let state = ctx.state::<Stream>();
        if state.run != Some(run) {
            *state = Stream { run: Some(run), first: now, last: now, ..Stream::default() };
        }
        if seq == END {
            let (Some(sent), Some(start), Some(stop)) = (u64_at(data, 12), u64_at(data, 20), u64_at(data, 28)) else {
                return;
            };
            let mut report = run.to_le_bytes().to_vec();
            for value in [state.received, state.gaps, state.out_of_order, sent, start, stop, state.first, state.last] {
                report.extend_from_slice(&value.to_le_bytes());
            }
            ctx.emit("report", report);
            return;
        }
        if seq == state.expected {
            state.expected = seq + 1;
        } else if seq > state.expected {
            state.gaps += u64::from(seq - state.expected);
            state.expected = seq + 1;
        } else {
            state.out_of_order += 1;
        }
        state.received += 1;
        state.last = now;
        let received = state.received;
        if window != 0 && received.is_multiple_of(u64::from(window)) {
            let mut credit = run.to_le_bytes().to_vec();
            credit.extend_from_slice(&(received as u32).to_le_bytes());
            credit.extend_from_slice(&window.to_le_bytes());
            ctx.emit("credit", credit);
        }
    }
}

#[cfg(test)]
mod tests {
    use authex::testing::Harness;

    fn head(run: u32, seq: u32, window: u32) -> Vec<u8> {
        [run, seq, window].iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn echoes_and_counts_a_stream() {
        let mut h = Harness::named(crate::pong::module(), "pong").unwrap();
        h.deliver("ping", b"x").unwrap();
        assert_eq!(h.take_emitted(), vec![("pong".to_string(), b"x".to_vec())]);
        assert_eq!(h.ask("ask", b"abc").unwrap(), b"abc");
        h.deliver("stream", &head(1, 0, 2)).unwrap();
        h.deliver("stream", &head(1, 2, 2)).unwrap(); // one gap; credit after 2 received
        let emitted = h.take_emitted();
        assert_eq!(emitted, vec![("credit".to_string(), head(1, 2, 2))]);
        let mut end = head(1, 0xFFFF_FFFF, 2);
        end.extend([3u64, 10, 20].iter().flat_map(|v| v.to_le_bytes()));
        h.deliver("stream", &end).unwrap();
        let report = &h.take_emitted()[0].1;
        assert_eq!(report.len(), 68);
        assert_eq!(&report[4..12], &2u64.to_le_bytes()); // received
        assert_eq!(&report[12..20], &1u64.to_le_bytes()); // gaps
    }
}
