/* ping in C: the probe end of examples/ping-pong, with the same interface and byte formats as
 * the Python ping (examples/ping-pong/modules/ping/main.py) and the Rust one
 * (sdks/rust/examples/ping), so `python -m bench` can time event hops, requests and streams
 * between two C modules.
 *
 * Three experiments, each started by the operator with an authenticated entry and each bounded
 * in count and in time (budget_ms; a run out of time still reports MIN_SAMPLES):
 *
 * - hop (<IIIII run, count, warmup, size, budget ms): a chain of round trips, `warmup` untimed
 *   ones then up to `count` timed ones. Every ping goes out on "ping"; the pong module echoes it
 *   back into "pong" here, which records the round-trip time and sends the next one. Only one
 *   ping is in flight. When the chain is done the times go to the operator on "report".
 * - request_rtt (<IIII count, warmup, size, budget ms): blocking requests on "ask", `warmup`
 *   untimed then up to `count` timed; the entry returns the round-trip times.
 * - blast (<IdII run, seconds, size, window): sequence-numbered events on "stream" for a given
 *   time, with credit flow control: two windows at once, then one more window for every
 *   "credit" event the receiver sends back. After the deadline an end marker (seq 0xFFFFFFFF,
 *   then <QQQ sent, start ns, stop ns) goes out; the receiver reports to the operator.
 *
 * Every message starts with <III run, sequence number, window, padded with zeros to the
 * requested size. Reports are <IIII run, samples, errors, 0, then <Q per round trip (ns).
 * Times are CLOCK_MONOTONIC ns, like Python's time.perf_counter_ns on Linux.
 *
 * Nothing is allocated: messages, samples and responses live in static buffers. A report is one
 * event, so a run has at most MAX_SAMPLES round trips (131,065 with the default 1 MiB payload). */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <authex.h>

#define HEAD_SIZE 12u
#define END 0xFFFFFFFFu
#define MIN_SAMPLES 5u /* a run out of time still reports at least this many round trips */
#define REPORT_HEAD 16u
#define MAX_SAMPLES ((AX_MAX_EVENT_PAYLOAD - REPORT_HEAD) / 8u)
#define MAX_SIZE AX_MAX_EVENT_PAYLOAD

/* Outgoing messages: only the 12-byte head is ever written, so the rest stays zero (padding). */
static uint8_t message[MAX_SIZE];
/* Reports (head, then the samples) of the hop chain and of request_rtt, and a response. */
static uint8_t hop_report[REPORT_HEAD + 8u * MAX_SAMPLES];
static uint8_t rtt_report[REPORT_HEAD + 8u * MAX_SAMPLES];
static uint8_t response[MAX_SIZE];

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p) {
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static void put_u32(uint8_t *p, uint32_t v) {
    for (unsigned i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v) {
    for (unsigned i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_head(uint8_t *p, uint32_t run, uint32_t seq, uint32_t window) {
    put_u32(p, run);
    put_u32(p + 4, seq);
    put_u32(p + 8, window);
}

/* The report head in front of `n` samples already written after it; the report's length. */
static size_t finish_report(uint8_t *report, uint32_t run, uint32_t n, uint32_t errors) {
    put_u32(report, run);
    put_u32(report + 4, n);
    put_u32(report + 8, errors);
    put_u32(report + 12, 0);
    return REPORT_HEAD + 8u * (size_t)n;
}

/* ---- hop: the ping-pong chain in progress (one at a time) -------------------------------- */

static struct {
    uint32_t run, count, warmup, seq, errors, n;
    size_t size;
    uint64_t sent_at, warm_until, deadline;
    int measuring, active;
} hop_state;

/* Enough samples, or out of time (with a few samples, or far out of time). */
static int hop_done(uint64_t now) {
    if (hop_state.n >= hop_state.count) return 1;
    if (now < hop_state.deadline) return 0;
    return hop_state.n >= MIN_SAMPLES ||
           now >= hop_state.deadline + 2 * (hop_state.deadline - hop_state.warm_until);
}

static int hop_send(ax_ctx *ctx) {
    put_head(message, hop_state.run, hop_state.seq, 0);
    hop_state.sent_at = now_ns();
    int sent = ax_emit(ctx, "ping", message, hop_state.size);
    return sent < 0 ? ax_fail(ctx, "emit ping: %s", ax_strerror(sent)) : 0;
}

/* Start a ping-pong chain: arg = <IIIII run, count, warmup, size, budget_ms. */
static int hop(ax_ctx *ctx, const uint8_t *arg, size_t len) {
    if (len != 20) return ax_fail(ctx, "argument must be 20 bytes, not %zu", len);
    uint32_t run = get_u32(arg), count = get_u32(arg + 4), warmup = get_u32(arg + 8);
    uint32_t size = get_u32(arg + 12), budget_ms = get_u32(arg + 16);
    if (count < 1 || size < HEAD_SIZE || budget_ms < 1) {
        return ax_fail(ctx, "need count >= 1, size >= %u and budget_ms >= 1", HEAD_SIZE);
    }
    if (count > MAX_SAMPLES || size > MAX_SIZE) {
        return ax_fail(ctx, "need count <= %zu and size <= %zu", (size_t)MAX_SAMPLES,
                       (size_t)MAX_SIZE);
    }
    uint64_t now = now_ns(), budget = budget_ms;
    memset(&hop_state, 0, sizeof hop_state);
    hop_state.run = run;
    hop_state.count = count;
    hop_state.warmup = warmup;
    hop_state.size = size;
    hop_state.measuring = warmup == 0;
    hop_state.warm_until = now + budget * 250000u; /* a quarter of the budget at most */
    hop_state.deadline = now + budget * 1000000u;
    hop_state.active = 1;
    if (hop_send(ctx) < 0) return AX_FAILED;
    return ax_reply_str(ctx, "started");
}

static int pong(ax_ctx *ctx, const uint8_t *data, size_t len) {
    uint64_t now = now_ns();
    if (!hop_state.active || len != hop_state.size || get_u32(data) != hop_state.run ||
        get_u32(data + 4) != hop_state.seq) {
        hop_state.errors++;
        return 0;
    }
    if (hop_state.measuring) {
        put_u64(hop_report + REPORT_HEAD + 8u * hop_state.n++, now - hop_state.sent_at);
    } else if (hop_state.seq + 1 >= hop_state.warmup || now >= hop_state.warm_until) {
        hop_state.measuring = 1;
    }
    hop_state.seq++;
    if (!hop_done(now)) return hop_send(ctx);
    hop_state.active = 0;
    size_t size = finish_report(hop_report, hop_state.run, hop_state.n, hop_state.errors);
    int sent = ax_emit(ctx, "report", hop_report, size);
    return sent < 0 ? ax_fail(ctx, "emit report: %s", ax_strerror(sent)) : 0;
}

/* ---- request_rtt ------------------------------------------------------------------------- */

/* Timed requests to the connected handler: arg = <IIII count, warmup, size, budget_ms; returns
 * the report head and the round-trip times (ns). */
static int request_rtt(ax_ctx *ctx, const uint8_t *arg, size_t len) {
    if (len != 16) return ax_fail(ctx, "argument must be 16 bytes, not %zu", len);
    uint32_t count = get_u32(arg), warmup = get_u32(arg + 4), budget_ms = get_u32(arg + 12);
    size_t size = get_u32(arg + 8);
    if (size < HEAD_SIZE) size = HEAD_SIZE; /* the head, padded to the size */
    if (count > MAX_SAMPLES || size > MAX_SIZE) {
        return ax_fail(ctx, "need count <= %zu and size <= %zu", (size_t)MAX_SAMPLES,
                       (size_t)MAX_SIZE);
    }
    uint64_t begin = now_ns();
    uint64_t warm_until = begin + (uint64_t)budget_ms * 250000u;
    uint64_t deadline = begin + (uint64_t)budget_ms * 1000000u;
    uint32_t n = 0, errors = 0;
    for (uint32_t i = 0; n < count; i++) {
        put_head(message, 0, i, 0);
        uint64_t start = now_ns();
        long got = ax_request(ctx, "ask", message, size, response, sizeof response);
        uint64_t end = now_ns();
        if (got < 0) return ax_fail(ctx, "request ask: %s", ax_strerror((int)got));
        if ((size_t)got != size || memcmp(response, message, size) != 0) errors++;
        if (i >= warmup || start >= warm_until) {
            put_u64(rtt_report + REPORT_HEAD + 8u * n++, end - start);
        }
        if (end >= deadline && n >= MIN_SAMPLES) break;
    }
    return ax_reply(ctx, rtt_report, finish_report(rtt_report, 0, n, errors));
}

/* ---- blast: the credit-controlled stream in progress (one at a time) --------------------- */

static struct {
    uint32_t run, window, seq;
    size_t size;
    uint64_t start_ns, deadline;
    int active;
} blast_state;

static int send_window(ax_ctx *ctx) {
    uint32_t end = blast_state.seq + blast_state.window;
    for (uint32_t seq = blast_state.seq; seq != end; seq++) {
        put_head(message, blast_state.run, seq, blast_state.window);
        int sent = ax_emit(ctx, "stream", message, blast_state.size);
        if (sent < 0) return ax_fail(ctx, "emit stream: %s", ax_strerror(sent));
    }
    blast_state.seq = end;
    return 0;
}

static int finish_stream(ax_ctx *ctx) {
    uint8_t marker[HEAD_SIZE + 24];
    blast_state.active = 0;
    put_head(marker, blast_state.run, END, blast_state.window);
    put_u64(marker + HEAD_SIZE, blast_state.seq);
    put_u64(marker + HEAD_SIZE + 8, blast_state.start_ns);
    put_u64(marker + HEAD_SIZE + 16, now_ns());
    int sent = ax_emit(ctx, "stream", marker, sizeof marker);
    return sent < 0 ? ax_fail(ctx, "emit stream: %s", ax_strerror(sent)) : 0;
}

/* Start a stream: arg = <IdII run, seconds, size, window. */
static int blast(ax_ctx *ctx, const uint8_t *arg, size_t len) {
    if (len != 20) return ax_fail(ctx, "argument must be 20 bytes, not %zu", len);
    uint64_t bits = get_u64(arg + 4);
    double seconds;
    memcpy(&seconds, &bits, sizeof seconds); /* IEEE 754 binary64, as struct's "<d" */
    uint32_t size = get_u32(arg + 12), window = get_u32(arg + 16);
    if (size < HEAD_SIZE || window < 1 || !(seconds > 0.0 && seconds <= 120.0)) {
        return ax_fail(ctx, "need size >= %u, window >= 1 and 0 < seconds <= 120", HEAD_SIZE);
    }
    if (size > MAX_SIZE) return ax_fail(ctx, "need size <= %zu", (size_t)MAX_SIZE);
    blast_state.run = get_u32(arg);
    blast_state.size = size;
    blast_state.window = window;
    blast_state.seq = 0;
    blast_state.start_ns = now_ns();
    blast_state.deadline = blast_state.start_ns + (uint64_t)(seconds * 1e9);
    blast_state.active = 1;
    if (send_window(ctx) < 0 || send_window(ctx) < 0) return AX_FAILED;
    return ax_reply_str(ctx, "started");
}

static int credit(ax_ctx *ctx, const uint8_t *data, size_t len) {
    if (!blast_state.active || len < 4 || get_u32(data) != blast_state.run) return 0;
    return now_ns() >= blast_state.deadline ? finish_stream(ctx) : send_window(ctx);
}

AUTHEX_MODULE(
    AUTHEX_OUTPUT("ping"),
    AUTHEX_OUTPUT("stream"),
    AUTHEX_OUTPUT("report"),
    AUTHEX_REQUEST("ask"),
    AUTHEX_INPUT("pong", pong),
    AUTHEX_INPUT("credit", credit),
    AUTHEX_ENTRY("hop", hop),
    AUTHEX_ENTRY("request_rtt", request_rtt),
    AUTHEX_ENTRY("blast", blast)
)
