/* Bounded, deterministic fuzzing of the parts that read untrusted bytes, run under ASan and
 * UBSan on every `make test`: the frame parser and message decoder with mutated vector frames
 * (flipped bytes, truncations, random tails, length fields set to extremes), and the whole
 * runtime fed streams of mutated and random frames. Nothing may crash, read out of bounds or
 * accept a frame larger than its input; the runtime may only stop with 0 or 3. */
#include <stdlib.h>

#include "authex/runtime.h"
#include "check.h"
#include "suites.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t next_random(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Du;
}

static size_t below(size_t n) { return n == 0 ? 0 : (size_t)(next_random() % n); }

/* One mutation of frame[0..len) into out; the new length. */
static size_t mutate(const uint8_t *frame, size_t len, uint8_t *out, size_t cap) {
    size_t n = len < cap ? len : cap;
    memcpy(out, frame, n);
    switch (below(5)) {
    case 0: /* flip a few bytes */
        for (size_t k = 0, flips = 1 + below(4); k < flips && n > 0; k++) {
            out[below(n)] ^= (uint8_t)(1u << below(8));
        }
        break;
    case 1: /* truncate */
        n = below(n + 1);
        break;
    case 2: /* random tail */
        while (n < cap && below(4) != 0) out[n++] = (uint8_t)next_random();
        break;
    case 3: /* a length field (frame or inner) set to an extreme */
        if (n >= 4) {
            size_t at = below(n - 3);
            uint32_t values[] = {0, 1, 4, 5, 0xFFFFFFFFu, 0x7FFFFFFFu, (uint32_t)n};
            ax_store_be32(out + at, values[below(sizeof values / sizeof values[0])]);
        }
        break;
    default: /* a random type byte */
        if (n > 4) out[4] = (uint8_t)next_random();
    }
    return n;
}

static void parser_and_decoder(const vecfile *v) {
    TEST("fuzz: frame parser and decoder on mutated vector frames");
    static uint8_t frame[1 << 16], mutated[(1 << 16) + 64];
    int messages = vec_count(v, "messages");
    unsigned long runs = 0, whole = 0;
    for (int round = 0; round < 400; round++) {
        for (int i = 0; i < messages; i++) {
            long len = vec_hex(v, frame, sizeof frame, "messages.%d.frame", i);
            if (len <= 0) continue;
            size_t n = mutate(frame, (size_t)len, mutated, sizeof mutated);
            ax_frame f;
            ax_value values[AX_MAX_FIELDS];
            char err[256];
            long size = ax_frame_parse(mutated, n, AX_DEFAULT_MAX_PAYLOAD, &f, err, sizeof err);
            runs++;
            if (size > 0) {
                whole++;
                if ((size_t)size > n || f.len + AX_HEADER_SIZE != (size_t)size) check_failed++;
                (void)ax_decode(&f, NULL, values, NULL, err, sizeof err);
                (void)ax_decode(&f, ax_host_link_types, values, NULL, err, sizeof err);
            }
        }
    }
    CHECK(runs > 10000 && whole > 1000);
}

typedef struct {
    uint8_t data[1 << 16];
    size_t len, pos;
} fuzz_io;

static long fuzz_read(void *self, uint8_t *buf, size_t cap, int timeout_ms) {
    fuzz_io *io = self;
    (void)timeout_ms;
    if (io->pos == io->len) return 0;
    size_t n = 1 + below(io->len - io->pos);
    if (n > cap) n = cap;
    memcpy(buf, io->data + io->pos, n);
    io->pos += n;
    return (long)n;
}

static int fuzz_write(void *self, const uint8_t *data, size_t len) {
    (void)self;
    (void)data;
    (void)len;
    return 0;
}

static int fuzz_input(ax_ctx *ctx, const uint8_t *data, size_t len) {
    return ax_emit(ctx, "out", data, len) < 0 ? AX_FAILED : 0;
}

static int fuzz_entry(ax_ctx *ctx, const uint8_t *arg, size_t len) {
    return ax_reply(ctx, arg, len);
}

static const ax_endpoint FUZZ_TABLE[] = {
    AUTHEX_OUTPUT("out"),
    AUTHEX_INPUT("in", fuzz_input),
    AUTHEX_PUBLIC_ENTRY("echo", fuzz_entry),
    AUTHEX_HANDLER("h", fuzz_entry),
};

static void runtime_streams(const vecfile *v) {
    TEST("fuzz: the runtime on streams of mutated and random frames");
    static fuzz_io io;
    static uint8_t frame[1 << 16];
    ax_runtime *rt = calloc(1, sizeof *rt);
    uint8_t km[16] = {7};
    int messages = vec_count(v, "messages");
    int statuses[4] = {0, 0, 0, 0};
    for (int stream = 0; stream < 300; stream++) {
        ax_attester a;
        memset(&a, 0, sizeof a);
        snprintf(a.tee, sizeof a.tee, "%s", stream % 2 ? "trustzone" : "sancus");
        memcpy(a.module_key, km, 16);
        a.has_module_key = 1;
        char err[256];
        ax_io link = {&io, fuzz_read, fuzz_write};
        if (ax_runtime_init(rt, FUZZ_TABLE, 4, "fuzzed", "ab", &a, link, err, sizeof err) != 0) {
            check_failed++;
            break;
        }
        rt->log_to_stderr = 0;
        io.len = io.pos = 0;
        while (io.len < sizeof io.data - 4096 && below(12) != 0) {
            long len = vec_hex(v, frame, sizeof frame, "messages.%d.frame", (int)below((size_t)messages));
            if (len <= 0) continue;
            if (below(3) == 0) {
                io.len += mutate(frame, (size_t)len, io.data + io.len, 4096);
            } else if ((size_t)len <= 4096) {
                memcpy(io.data + io.len, frame, (size_t)len);
                io.len += (size_t)len;
            }
        }
        int status = ax_runtime_serve(rt);
        CHECK(status == AX_EXIT_OK || status == AX_EXIT_MALFORMED);
        if (status >= 0 && status < 4) statuses[status]++;
    }
    CHECK(statuses[AX_EXIT_OK] > 0 && statuses[AX_EXIT_MALFORMED] > 0);
    free(rt);
}

void suite_fuzz(void) {
    vecfile v;
    if (vec_load(&v, "frames") != 0) return;
    parser_and_decoder(&v);
    runtime_streams(&v);
    vec_free(&v);
}
