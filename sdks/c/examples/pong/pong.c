/* pong in C: the echo end of examples/ping-pong, with the same interface and byte formats as
 * the Python pong (examples/ping-pong/modules/pong/main.py) and the Rust one
 * (sdks/rust/examples/pong), for latency, throughput and memory probes of C modules.
 *
 * - "ping" events go straight back on "pong"; "ask" requests are answered with their data;
 * - "stream" events (<III run, seq, window) are counted with gaps and reordering; every
 *   `window` events one "credit" (<III run, received, window) goes back; the end marker (seq
 *   0xFFFFFFFF, then <QQQ sent, start, stop) makes it report <IQQQQQQQQ on "report": run,
 *   received, gaps, out of order, sent, the sender's start and stop, and the first and last
 *   arrival here. Times are CLOCK_MONOTONIC ns, like Python's time.perf_counter_ns on Linux.
 *
 * Nothing is allocated and nothing is copied on the way back: events are emitted from the
 * runtime's buffer, the small messages are built on the stack. */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <authex.h>

#define HEAD_SIZE 12u
#define END 0xFFFFFFFFu

static struct {
    int started;
    uint32_t run, expected;
    uint64_t received, gaps, out_of_order, first, last;
} stream_state;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(uint8_t *p, uint32_t v) {
    for (unsigned i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v) {
    for (unsigned i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static int emitted(ax_ctx *ctx, const char *output, int sent) {
    return sent < 0 ? ax_fail(ctx, "emit %s: %s", output, ax_strerror(sent)) : 0;
}

static int ping(ax_ctx *ctx, const uint8_t *data, size_t len) {
    return emitted(ctx, "pong", ax_emit(ctx, "pong", data, len));
}

static int ask(ax_ctx *ctx, const uint8_t *data, size_t len) {
    return ax_reply(ctx, data, len);
}

static int stream(ax_ctx *ctx, const uint8_t *data, size_t len) {
    uint64_t now = now_ns();
    if (len < HEAD_SIZE) return ax_fail(ctx, "stream event shorter than its header");
    uint32_t run = get_u32(data), seq = get_u32(data + 4), window = get_u32(data + 8);
    if (!stream_state.started || run != stream_state.run) {
        stream_state.started = 1;
        stream_state.run = run;
        stream_state.expected = 0;
        stream_state.received = stream_state.gaps = stream_state.out_of_order = 0;
        stream_state.first = stream_state.last = now;
    }
    if (seq == END) {
        if (len < HEAD_SIZE + 24) return ax_fail(ctx, "end marker shorter than 36 bytes");
        uint8_t report[4 + 8 * 8];
        put_u32(report, run);
        put_u64(report + 4, stream_state.received);
        put_u64(report + 12, stream_state.gaps);
        put_u64(report + 20, stream_state.out_of_order);
        memcpy(report + 28, data + HEAD_SIZE, 24); /* the marker's sent, start, stop */
        put_u64(report + 52, stream_state.first);
        put_u64(report + 60, stream_state.last);
        return emitted(ctx, "report", ax_emit(ctx, "report", report, sizeof report));
    }
    if (seq == stream_state.expected) {
        stream_state.expected = seq + 1;
    } else if (seq > stream_state.expected) {
        stream_state.gaps += seq - stream_state.expected;
        stream_state.expected = seq + 1;
    } else {
        stream_state.out_of_order++;
    }
    stream_state.received++;
    stream_state.last = now;
    if (window != 0 && stream_state.received % window == 0) {
        uint8_t grant[HEAD_SIZE];
        put_u32(grant, run);
        put_u32(grant + 4, (uint32_t)stream_state.received);
        put_u32(grant + 8, window);
        return emitted(ctx, "credit", ax_emit(ctx, "credit", grant, sizeof grant));
    }
    return 0;
}

AUTHEX_MODULE(
    AUTHEX_OUTPUT("pong"),
    AUTHEX_OUTPUT("credit"),
    AUTHEX_OUTPUT("report"),
    AUTHEX_INPUT("ping", ping),
    AUTHEX_HANDLER("ask", ask),
    AUTHEX_INPUT("stream", stream)
)
