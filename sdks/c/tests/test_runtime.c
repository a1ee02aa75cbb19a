/* The runtime driven in memory, as an agent and a deployer would drive it: endpoint table
 * checks, the manifest, attestation (TrustZone, Sancus, native), set-key rules, deliveries
 * (accepted, replayed, forged, unknown connection, wrong direction), handlers, requests with a
 * responder and with a timeout, frames queued during a request, calls (public, authenticated,
 * replayed, not public, unknown), how the link ends (stop, end of input, malformed), sealed
 * state, swap-key and retire, and the state transfer of an update (state-out, state-in). */
#include <openssl/evp.h>
#include <stdlib.h>

#include "authex/runtime.h"
#include "check.h"
#include "suites.h"

/* ---- the module under test ------------------------------------------------------------------ */

static char last_reading[64] = "0";

static int on_reading(ax_ctx *ctx, const uint8_t *data, size_t len) {
    if (len == 4 && memcmp(data, "fail", 4) == 0) return ax_fail(ctx, "asked to fail");
    if (len == 3 && memcmp(data, "ask", 3) == 0) {
        uint8_t answer[64];
        long n = ax_request(ctx, "forecast", "tomorrow", 8, answer, sizeof answer);
        if (n < 0) return ax_fail(ctx, "forecast: %s", ax_strerror((int)n));
        return ax_emit(ctx, "alert", answer, (size_t)n) < 0 ? AX_FAILED : 0;
    }
    if (len == 4 && memcmp(data, "slow", 4) == 0) {
        uint8_t answer[64];
        long n = ax_request_timeout(ctx, "forecast", "x", 1, answer, sizeof answer, 20);
        return ax_emit(ctx, "alert", n == AX_E_TIMEOUT ? "timeout" : "other", 7) < 0 ? -1 : 0;
    }
    if (len >= sizeof last_reading) return ax_fail(ctx, "reading too long");
    memcpy(last_reading, data, len);
    last_reading[len] = '\0';
    (void)ax_seal(ctx, data, len); /* kept by persistent runtimes, refused by the others */
    if (atoi(last_reading) < 30) return ax_emit(ctx, "alert", data, len) < 0 ? AX_FAILED : 0;
    return 0;
}

static int calibrate(ax_ctx *ctx, const uint8_t *arg, size_t len) {
    uint8_t out[128] = "cal:";
    if (len > sizeof out - 4) return ax_fail(ctx, "too long");
    memcpy(out + 4, arg, len);
    return ax_reply(ctx, out, len + 4);
}

static int hello(ax_ctx *ctx, const uint8_t *arg, size_t len) {
    char out[128];
    int n = snprintf(out, sizeof out, "hello %.*s from %s", (int)len, (const char *)arg,
                     ax_name(ctx));
    return ax_reply(ctx, out, (size_t)n);
}

static int moisture_now(ax_ctx *ctx, const uint8_t *data, size_t len) {
    (void)data;
    (void)len;
    return ax_reply_str(ctx, last_reading);
}

static const ax_endpoint TABLE[] = {
    AUTHEX_OUTPUT("alert"),
    AUTHEX_INPUT("reading", on_reading),
    AUTHEX_ENTRY("calibrate", calibrate),
    AUTHEX_PUBLIC_ENTRY("hello", hello),
    AUTHEX_REQUEST("forecast"),
    AUTHEX_HANDLER("moisture-now", moisture_now),
};
#define COUNT (sizeof TABLE / sizeof TABLE[0])
enum { ID_READING = 0x1001, ID_ALERT = 0x2001, ID_CALIBRATE = 0x3001, ID_HELLO = 0x3002,
       ID_FORECAST = 0x4001, ID_MOISTURE = 0x5001 };

/* ---- an agent in memory ------------------------------------------------------------------ */

typedef struct {
    uint8_t in[1 << 16];
    size_t in_len, in_pos;
    uint8_t out[1 << 16];
    size_t out_len, out_pos; /* out_pos: how far the test has read */
    size_t seen;             /* how far the responder has looked */
    ax_channel *responder;   /* answers requests on this connection, if set */
    int chunk;               /* bytes per read (1 tests split frames) */
} mem_io;

static void push(mem_io *io, uint8_t type, uint32_t rid, const ax_value *values) {
    ax_writer w;
    ax_writer_init(&w, io->in + io->in_len, sizeof io->in - io->in_len);
    CHECK(ax_encode(&w, type, rid, values) == 0);
    io->in_len += w.len;
}

static void respond(mem_io *io) {
    while (io->responder != NULL && io->seen < io->out_len) {
        ax_frame f;
        ax_value v[AX_MAX_FIELDS];
        char err[128];
        long size = ax_frame_parse(io->out + io->seen, io->out_len - io->seen, 1 << 20, &f, err,
                                   sizeof err);
        if (size <= 0) break;
        io->seen += (size_t)size;
        if (f.type != AX_MSG_HOST_EMIT || ax_decode(&f, NULL, v, NULL, err, sizeof err) != 0 ||
            v[0].num != io->responder->conn_id || v[1].num != 0) {
            continue;
        }
        uint8_t sealed[128], plain[128];
        size_t got = 0, plain_len = 0;
        CHECK(ax_channel_open(io->responder, 0, v[2].num, v[3].data, v[3].len, plain,
                              sizeof plain, &plain_len) == AX_OK);
        /* first a forged answer, which must be reported and skipped, then the genuine one */
        CHECK(ax_channel_seal_with(io->responder, 1, v[2].num, (const uint8_t *)"rain", 4, sealed,
                                   sizeof sealed, &got) == AX_OK);
        sealed[0] ^= 1;
        ax_value d[4] = {{io->responder->conn_id, 0, 0}, {1, 0, 0}, {v[2].num, 0, 0},
                         {0, sealed, got}};
        push(io, AX_MSG_HOST_DELIVER, 0, d);
        uint8_t good[128];
        CHECK(ax_channel_seal_with(io->responder, 1, v[2].num, (const uint8_t *)"rain", 4, good,
                                   sizeof good, &got) == AX_OK);
        d[3].data = good;
        push(io, AX_MSG_HOST_DELIVER, 0, d);
    }
}

static long mem_read(void *self, uint8_t *buf, size_t cap, int timeout_ms) {
    mem_io *io = self;
    respond(io);
    if (io->in_pos == io->in_len) return timeout_ms >= 0 ? AX_IO_TIMEOUT : 0;
    size_t n = io->in_len - io->in_pos;
    if (io->chunk > 0 && n > (size_t)io->chunk) n = (size_t)io->chunk;
    if (n > cap) n = cap;
    memcpy(buf, io->in + io->in_pos, n);
    io->in_pos += n;
    return (long)n;
}

static int mem_write(void *self, const uint8_t *data, size_t len) {
    mem_io *io = self;
    if (len > sizeof io->out - io->out_len) return AX_IO_ERROR;
    memcpy(io->out + io->out_len, data, len);
    io->out_len += len;
    return 0;
}

/* The next frame the module wrote; its type, or 0 if none. */
static uint8_t next_out(mem_io *io, ax_frame *f, ax_value *v) {
    char err[128];
    long size = ax_frame_parse(io->out + io->out_pos, io->out_len - io->out_pos, 1 << 20, f, err,
                               sizeof err);
    if (size <= 0) return 0;
    io->out_pos += (size_t)size;
    CHECK(ax_decode(f, NULL, v, NULL, err, sizeof err) == 0);
    return f->type;
}

static ax_runtime *new_runtime(mem_io *io, const char *tee, const uint8_t *module_key) {
    ax_runtime *rt = calloc(1, sizeof *rt);
    ax_attester a;
    memset(&a, 0, sizeof a);
    snprintf(a.tee, sizeof a.tee, "%s", tee);
    if (module_key != NULL) {
        memcpy(a.module_key, module_key, 16);
        a.has_module_key = 1;
    }
    char err[256];
    ax_io link = {io, mem_read, mem_write};
    CHECK(ax_runtime_init(rt, TABLE, COUNT, "sensor", "ab", &a, link, err, sizeof err) == 0);
    rt->log_to_stderr = 0;
    return rt;
}

/* ---- a deployer in memory ------------------------------------------------------------------ */

typedef struct {
    ax_suite control;
    uint8_t key[16];
    uint64_t counter;
} deployer;

static void set_key(mem_io *io, deployer *d, uint32_t conn, uint16_t io_id, uint8_t role,
                    ax_suite suite, const uint8_t conn_key[16], uint32_t rid) {
    uint8_t wrapped[64];
    size_t len = 0;
    ax_set_key_fields f = {conn, io_id, role, (uint8_t)suite, ++d->counter};
    CHECK(ax_wrap_key(d->control, d->key, conn_key, &f, wrapped, sizeof wrapped, &len) == AX_OK);
    ax_value v[6] = {{conn, 0, 0},    {io_id, 0, 0},       {role, 0, 0},
                     {suite, 0, 0},   {f.counter, 0, 0},   {0, wrapped, len}};
    push(io, AX_MSG_HOST_SET_KEY, rid, v);
}

/* HostSwapKey; conn_key NULL for a retire. */
static void swap_key(mem_io *io, deployer *d, uint32_t conn, uint32_t replaces, uint16_t io_id,
                     uint8_t role, uint8_t suite, const uint8_t *conn_key, uint32_t rid) {
    uint8_t wrapped[64];
    size_t len = 0;
    ax_swap_key_fields f = {conn, replaces, io_id, role, suite, ++d->counter};
    CHECK(ax_wrap_swap_key(d->control, d->key, conn_key, &f, wrapped, sizeof wrapped, &len) ==
          AX_OK);
    ax_value v[7] = {{conn, 0, 0},  {replaces, 0, 0},  {io_id, 0, 0},    {role, 0, 0},
                     {suite, 0, 0}, {f.counter, 0, 0}, {0, wrapped, len}};
    push(io, AX_MSG_HOST_SWAP_KEY, rid, v);
}

static void deliver_bytes(mem_io *io, ax_channel *c, uint8_t direction, uint64_t counter,
                          const uint8_t *data, size_t data_len, int forge) {
    static uint8_t sealed[AUTHEX_MAX_SEALED + 256];
    size_t len = 0;
    CHECK(ax_channel_seal_with(c, direction, counter, data, data_len, sealed, sizeof sealed,
                               &len) == AX_OK);
    if (forge) sealed[len - 1] ^= 1;
    ax_value v[4] = {{c->conn_id, 0, 0}, {direction, 0, 0}, {counter, 0, 0}, {0, sealed, len}};
    push(io, AX_MSG_HOST_DELIVER, 0, v);
}

static void deliver(mem_io *io, ax_channel *c, uint8_t direction, uint64_t counter,
                    const char *text, int forge) {
    deliver_bytes(io, c, direction, counter, (const uint8_t *)text, strlen(text), forge);
}

static void call(mem_io *io, deployer *d, uint16_t entry, int authenticated, uint64_t counter,
                 const char *arg, uint32_t rid) {
    uint8_t sealed[256];
    size_t len = strlen(arg);
    const uint8_t *payload = (const uint8_t *)arg;
    if (authenticated) {
        CHECK(ax_seal_call(d->control, d->key, entry, counter, payload, len, sealed,
                           sizeof sealed, &len) == AX_OK);
        payload = sealed;
    }
    ax_value v[4] = {{entry, 0, 0}, {(uint64_t)authenticated, 0, 0}, {counter, 0, 0},
                     {0, payload, len}};
    push(io, AX_MSG_HOST_CALL, rid, v);
}

/* Attest a TrustZone or Sancus module: the deployer's control key. */
static void attest_fixed(mem_io *io, ax_runtime *rt, deployer *d, const uint8_t km[16]) {
    uint8_t challenge[32];
    for (int i = 0; i < 32; i++) challenge[i] = (uint8_t)(i * 7);
    ax_value v[1] = {{0, challenge, sizeof challenge}};
    push(io, AX_MSG_HOST_ATTEST, 41, v);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    ax_frame f;
    ax_value out[AX_MAX_FIELDS];
    CHECK(next_out(io, &f, out) == AX_MSG_HOST_ATTESTED);
    CHECK(f.request_id == 41 && out[0].len == 32);
    uint8_t evidence[32];
    char err[128];
    int sancus = d->control == AX_SUITE_SPONGEWRAP_128;
    int rc = sancus ? ax_sancus_answer(km, challenge, 32, out[0].data + 16, evidence, d->key, err,
                                       sizeof err)
                    : ax_trustzone_answer(km, challenge, 32, out[0].data + 16, evidence, d->key,
                                          err, sizeof err);
    CHECK(rc == AX_OK);
    CHECK_MEM(evidence, out[0].data, 32); /* the MAC verifies */
    d->counter = 0;
}

static void restart(mem_io *io, ax_runtime *rt) {
    io->in_len = io->in_pos = 0;
    rt->eof = 0;
}

/* ---- the tests ------------------------------------------------------------------------------ */

static void table_checks(void) {
    uint16_t ids[8];
    char err[256];
    TEST("endpoint table checks");
    CHECK(ax_table_check(TABLE, COUNT, ids, err, sizeof err) == 0);
    CHECK(ids[0] == ID_ALERT && ids[1] == ID_READING && ids[2] == ID_CALIBRATE &&
          ids[3] == ID_HELLO && ids[4] == ID_FORECAST && ids[5] == ID_MOISTURE);
    const ax_endpoint bad_name[] = {AUTHEX_OUTPUT("9lives")};
    CHECK(ax_table_check(bad_name, 1, ids, err, sizeof err) != 0 && strstr(err, "9lives"));
    const ax_endpoint twice[] = {AUTHEX_OUTPUT("a"), AUTHEX_OUTPUT("a")};
    CHECK(ax_table_check(twice, 2, ids, err, sizeof err) != 0 && strstr(err, "twice"));
    const ax_endpoint no_fn[] = {AUTHEX_INPUT("a", NULL)};
    CHECK(ax_table_check(no_fn, 1, ids, err, sizeof err) != 0 && strstr(err, "no function"));
    const ax_endpoint pub[] = {{AX_KIND_INPUT, "a", on_reading, 1}};
    CHECK(ax_table_check(pub, 1, ids, err, sizeof err) != 0 && strstr(err, "public"));
    const ax_endpoint same_name_other_kind[] = {AUTHEX_OUTPUT("a"), AUTHEX_INPUT("a", on_reading)};
    CHECK(ax_table_check(same_name_other_kind, 2, ids, err, sizeof err) == 0);

    TEST("manifest JSON is byte-identical to the Python SDK's");
    uint16_t table_ids[COUNT];
    char json[2048];
    CHECK(ax_table_check(TABLE, COUNT, table_ids, err, sizeof err) == 0);
    long n = ax_manifest_json(TABLE, COUNT, table_ids, "sens\xc3\xa9",
                              "abababababababababababababababababababababababababababababababab",
                              json, sizeof json);
    const char *want =
        "{\"endpoints\":[{\"id\":4097,\"kind\":\"input\",\"name\":\"reading\",\"public\":false},"
        "{\"id\":8193,\"kind\":\"output\",\"name\":\"alert\",\"public\":false},"
        "{\"id\":12289,\"kind\":\"entry\",\"name\":\"calibrate\",\"public\":false},"
        "{\"id\":12290,\"kind\":\"entry\",\"name\":\"hello\",\"public\":true},"
        "{\"id\":16385,\"kind\":\"request\",\"name\":\"forecast\",\"public\":false},"
        "{\"id\":20481,\"kind\":\"handler\",\"name\":\"moisture-now\",\"public\":false}],"
        "\"format\":1,\"language\":\"c\",\"name\":\"sens\\u00e9\",\"operator_key\":"
        "\"abababababababababababababababababababababababababababababababab\","
        "\"suites\":[\"aes-gcm-128\",\"ascon-aead128\",\"spongewrap-128\"]}";
    CHECK(n == (long)strlen(want) && strcmp(json, want) == 0);
    CHECK(ax_manifest_json(TABLE, COUNT, table_ids, "s", "ab", json, 40) == -1);
}

static void trustzone_session(void) {
    static mem_io io;
    memset(&io, 0, sizeof io);
    uint8_t km[16], k_in[16], k_out[16], k_handler[16], k_request[16];
    for (int i = 0; i < 16; i++) {
        km[i] = (uint8_t)(i + 1);
        k_in[i] = (uint8_t)(i + 2);
        k_out[i] = (uint8_t)(i + 3);
        k_handler[i] = (uint8_t)(i + 4);
        k_request[i] = (uint8_t)(i + 5);
    }
    ax_runtime *rt = new_runtime(&io, "trustzone", km);
    deployer d = {AX_SUITE_AES_GCM_128, {0}, 0};
    ax_frame f;
    ax_value v[AX_MAX_FIELDS];

    TEST("set-key before attestation is refused");
    set_key(&io, &d, 1, ID_READING, AX_ROLE_RECEIVER, AX_SUITE_AES_GCM_128, k_in, 5);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_out(&io, &f, v) == AX_MSG_ERROR && v[0].num == AX_ERROR_REJECTED);
    CHECK(strstr((const char *)v[1].data, "not attested") != NULL);

    TEST("trustzone attestation");
    restart(&io, rt);
    attest_fixed(&io, rt, &d, km);

    TEST("set-key: keys installed, each refusal named");
    restart(&io, rt);
    set_key(&io, &d, 1, ID_READING, AX_ROLE_RECEIVER, AX_SUITE_AES_GCM_128, k_in, 6);
    set_key(&io, &d, 2, ID_ALERT, AX_ROLE_SENDER, AX_SUITE_ASCON_AEAD128, k_out, 7);
    set_key(&io, &d, 3, ID_MOISTURE, AX_ROLE_RECEIVER, AX_SUITE_SPONGEWRAP_128, k_handler, 8);
    set_key(&io, &d, 4, ID_FORECAST, AX_ROLE_SENDER, AX_SUITE_AES_GCM_128, k_request, 9);
    set_key(&io, &d, 5, ID_ALERT, AX_ROLE_RECEIVER, AX_SUITE_AES_GCM_128, k_in, 10); /* role */
    set_key(&io, &d, 6, 0x7777, AX_ROLE_RECEIVER, AX_SUITE_AES_GCM_128, k_in, 11);   /* io id */
    d.counter -= 2; /* a stale control counter */
    set_key(&io, &d, 7, ID_READING, AX_ROLE_RECEIVER, AX_SUITE_AES_GCM_128, k_in, 12);
    d.counter += 5;
    uint8_t real = d.key[0];
    d.key[0] ^= 1; /* a key wrapped under the wrong control key */
    set_key(&io, &d, 8, ID_READING, AX_ROLE_RECEIVER, AX_SUITE_AES_GCM_128, k_in, 13);
    d.key[0] = real;
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    for (uint32_t rid = 6; rid <= 9; rid++) {
        CHECK(next_out(&io, &f, v) == AX_MSG_OK && f.request_id == rid);
    }
    CHECK(next_out(&io, &f, v) == AX_MSG_ERROR && v[0].num == AX_ERROR_BAD_REQUEST);
    CHECK(strstr((const char *)v[1].data, "not an output or request") == NULL);
    CHECK(strstr((const char *)v[1].data, "input or handler") != NULL);
    CHECK(next_out(&io, &f, v) == AX_MSG_ERROR && v[0].num == AX_ERROR_BAD_REQUEST);
    CHECK(strstr((const char *)v[1].data, "0x7777") != NULL);
    CHECK(next_out(&io, &f, v) == AX_MSG_ERROR && v[0].num == AX_ERROR_REJECTED);
    CHECK(strstr((const char *)v[1].data, "stale control counter") != NULL);
    CHECK(next_out(&io, &f, v) == AX_MSG_ERROR && v[0].num == AX_ERROR_REJECTED);
    CHECK(strstr((const char *)v[1].data, "does not authenticate") != NULL);
    CHECK(ax_runtime_connection(rt, 5) == NULL && ax_runtime_connection(rt, 8) == NULL);

    ax_channel in, out, handler, request;
    ax_channel_init(&in, 1, AX_SUITE_AES_GCM_128, k_in);
    ax_channel_init(&out, 2, AX_SUITE_ASCON_AEAD128, k_out);
    ax_channel_init(&handler, 3, AX_SUITE_SPONGEWRAP_128, k_handler);
    ax_channel_init(&request, 4, AX_SUITE_AES_GCM_128, k_request);

    TEST("a delivery runs the input; its emit is sealed; then HostAccepted");
    restart(&io, rt);
    deliver(&io, &in, 0, 1, "12", 0);
    deliver(&io, &in, 0, 1, "12", 0);  /* replay */
    deliver(&io, &in, 0, 3, "40", 1);  /* forged */
    deliver(&io, &in, 0, 5, "44", 0);  /* a gap is fine */
    deliver(&io, &in, 1, 6, "44", 0);  /* nobody waits for a response */
    deliver(&io, &out, 0, 1, "44", 0); /* to a sender's connection */
    ax_channel stranger;
    ax_channel_init(&stranger, 99, AX_SUITE_AES_GCM_128, k_in);
    deliver(&io, &stranger, 0, 1, "44", 0);
    deliver(&io, &in, 0, 7, "fail", 0); /* a failing callback still acknowledges */
    io.chunk = 1;                       /* frames split into single bytes */
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    io.chunk = 0;
    uint8_t plain[128];
    size_t plain_len = 0;
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_EMIT && v[0].num == 2 && v[1].num == 0 &&
          v[2].num == 1);
    CHECK(ax_channel_open(&out, 0, v[2].num, v[3].data, v[3].len, plain, sizeof plain,
                          &plain_len) == AX_OK);
    CHECK(plain_len == 2 && memcmp(plain, "12", 2) == 0);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_ACCEPTED && v[0].num == 1 && v[2].num == 1);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_REJECTED && v[3].num == AX_REJECT_REPLAY);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_REJECTED && v[3].num == AX_REJECT_FORGED);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_ACCEPTED && v[2].num == 5);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_REJECTED && v[3].num == AX_REJECT_REPLAY);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_REJECTED && v[3].num == AX_REJECT_FORGED);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_REJECTED && v[0].num == 99 &&
          v[3].num == AX_REJECT_UNKNOWN_CONNECTION);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_ACCEPTED && v[2].num == 7);
    CHECK(strstr(rt->last_log, "asked to fail") != NULL);
    const ax_connection *c = ax_runtime_connection(rt, 1);
    CHECK(c != NULL && c->stats.delivered == 3 && c->stats.rejected == 3 && c->stats.failed == 1);
    CHECK(c != NULL && c->channel.receive.gaps == 4);
    CHECK(rt->unknown_rejected == 1);

    TEST("a handler answers under its request's counter, direction 1");
    restart(&io, rt);
    deliver(&io, &handler, 0, 4, "now?", 0);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_EMIT && v[0].num == 3 && v[1].num == 1 &&
          v[2].num == 4);
    CHECK(ax_channel_open(&handler, 1, 4, v[3].data, v[3].len, plain, sizeof plain,
                          &plain_len) == AX_OK);
    CHECK(plain_len == 2 && memcmp(plain, "44", 2) == 0);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_ACCEPTED && v[0].num == 3);

    TEST("a request waits for its response; a forged one is reported; later frames wait");
    restart(&io, rt);
    ax_channel responder;
    ax_channel_init(&responder, 4, AX_SUITE_AES_GCM_128, k_request);
    io.responder = &responder;
    io.seen = io.out_len;
    deliver(&io, &in, 0, 8, "ask", 0);
    deliver(&io, &in, 0, 9, "13", 0); /* arrives before the response: handled after */
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    io.responder = NULL;
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_EMIT && v[0].num == 4 && v[2].num == 1);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_REJECTED && v[0].num == 4 &&
          v[3].num == AX_REJECT_FORGED);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_ACCEPTED && v[0].num == 4 && v[1].num == 1);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_EMIT && v[0].num == 2);
    CHECK(ax_channel_open(&out, 0, v[2].num, v[3].data, v[3].len, plain, sizeof plain,
                          &plain_len) == AX_OK);
    CHECK(plain_len == 4 && memcmp(plain, "rain", 4) == 0);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_ACCEPTED && v[0].num == 1 && v[2].num == 8);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_EMIT && v[0].num == 2); /* "13" < 30 */
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_ACCEPTED && v[2].num == 9);

    TEST("a request without an answer times out");
    restart(&io, rt);
    deliver(&io, &in, 0, 10, "slow", 0);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_EMIT && v[0].num == 4);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_EMIT && v[0].num == 2);
    CHECK(ax_channel_open(&out, 0, v[2].num, v[3].data, v[3].len, plain, sizeof plain,
                          &plain_len) == AX_OK);
    CHECK(plain_len == 7 && memcmp(plain, "timeout", 7) == 0);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_ACCEPTED);

    TEST("calls: public, authenticated, replayed, not public, unknown");
    restart(&io, rt);
    call(&io, &d, ID_HELLO, 0, 0, "there", 20);
    call(&io, &d, ID_CALIBRATE, 1, 50, "7", 21);
    call(&io, &d, ID_CALIBRATE, 1, 50, "7", 22); /* replayed counter */
    call(&io, &d, ID_CALIBRATE, 0, 0, "7", 23);
    call(&io, &d, 0x3999, 0, 0, "", 24);
    call(&io, &d, ID_HELLO, 1, 51, "sealed", 25); /* a public entry may be authenticated */
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_CALL_RESULT && f.request_id == 20 && v[0].num == 0);
    CHECK(v[1].len == 23 && memcmp(v[1].data, "hello there from sensor", 23) == 0);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_CALL_RESULT && f.request_id == 21 && v[0].num == 0);
    CHECK(ax_open_result(d.control, d.key, ID_CALIBRATE, 50, 0, v[1].data, v[1].len, plain,
                         sizeof plain, &plain_len) == AX_OK);
    CHECK(plain_len == 5 && memcmp(plain, "cal:7", 5) == 0);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_CALL_RESULT && v[0].num == AX_STATUS_AUTH_FAILED);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_CALL_RESULT && v[0].num == AX_STATUS_NOT_PUBLIC);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_CALL_RESULT && v[0].num == AX_STATUS_UNKNOWN_ENTRY);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_CALL_RESULT && f.request_id == 25 && v[0].num == 0);
    CHECK(ax_open_result(d.control, d.key, ID_HELLO, 51, 0, v[1].data, v[1].len, plain,
                         sizeof plain, &plain_len) == AX_OK);

    TEST("re-keying a request replaces its old connection");
    restart(&io, rt);
    d.counter = 60;
    set_key(&io, &d, 14, ID_FORECAST, AX_ROLE_SENDER, AX_SUITE_AES_GCM_128, k_request, 30);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_out(&io, &f, v) == AX_MSG_OK);
    CHECK(ax_runtime_connection(rt, 4) == NULL && ax_runtime_connection(rt, 14) != NULL);

    TEST("HostStop ends the loop with status 0");
    restart(&io, rt);
    push(&io, AX_MSG_HOST_STOP, 0, NULL);
    deliver(&io, &in, 0, 11, "1", 0);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_out(&io, &f, v) == 0); /* nothing after the stop was handled */
    ax_runtime_wipe(rt);
    free(rt);
}

static void sancus_session(void) {
    static mem_io io;
    memset(&io, 0, sizeof io);
    uint8_t km[16], k_in[16];
    memset(km, 0x5a, sizeof km);
    memset(k_in, 0x33, sizeof k_in);
    ax_runtime *rt = new_runtime(&io, "sancus", km);
    deployer d = {AX_SUITE_SPONGEWRAP_128, {0}, 0};
    TEST("sancus attestation, spongewrap-128 control and connection");
    attest_fixed(&io, rt, &d, km);
    restart(&io, rt);
    set_key(&io, &d, 1, ID_READING, AX_ROLE_RECEIVER, AX_SUITE_SPONGEWRAP_128, k_in, 2);
    ax_channel in;
    ax_channel_init(&in, 1, AX_SUITE_SPONGEWRAP_128, k_in);
    deliver(&io, &in, 0, 1, "55", 0);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    ax_frame f;
    ax_value v[AX_MAX_FIELDS];
    CHECK(next_out(&io, &f, v) == AX_MSG_OK);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_ACCEPTED && v[2].num == 1);

    TEST("sancus attestation refuses an odd challenge");
    restart(&io, rt);
    uint8_t odd[17] = {0};
    ax_value c[1] = {{0, odd, sizeof odd}};
    push(&io, AX_MSG_HOST_ATTEST, 3, c);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_out(&io, &f, v) == AX_MSG_ERROR && v[0].num == AX_ERROR_REJECTED);
    CHECK(strstr((const char *)v[1].data, "even length") != NULL);
    free(rt);
}


static void native_session(void) {
    static mem_io io;
    memset(&io, 0, sizeof io);
    ax_runtime *rt = calloc(1, sizeof *rt);
    uint8_t op_priv[32], op_pub[32];
    memset(op_priv, 7, sizeof op_priv);
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, op_priv, 32);
    size_t pub_len = 32;
    CHECK(pk != NULL && EVP_PKEY_get_raw_public_key(pk, op_pub, &pub_len) == 1);
    EVP_PKEY_free(pk);
    ax_attester a;
    memset(&a, 0, sizeof a);
    snprintf(a.tee, sizeof a.tee, "native");
    memcpy(a.operator_public, op_pub, 32);
    a.has_operator = 1;
    char err[256];
    ax_io link = {&io, mem_read, mem_write};
    TEST("native attestation: the operator-signed X25519 exchange");
    CHECK(ax_runtime_init(rt, TABLE, COUNT, "sensor", "ab", &a, link, err, sizeof err) == 0);
    rt->log_to_stderr = 0;
    /* the deployer's side: ephemeral key, signed challenge */
    uint8_t eph[32], eph_pub[32], challenge[112], base[32] = {9};
    memset(eph, 3, sizeof eph);
    CHECK(ax_x25519(eph, base, eph_pub) == AX_OK);
    memset(challenge, 0x11, 16);
    memcpy(challenge + 16, eph_pub, 32);
    uint8_t signed_part[23 + 2 + 6 + 16 + 32];
    memcpy(signed_part, "authex-native-attest-v1", 23);
    signed_part[23] = 0;
    signed_part[24] = 6;
    memcpy(signed_part + 25, "sensor", 6);
    memcpy(signed_part + 31, challenge, 48);
    check_ed25519_sign(op_priv, signed_part, sizeof signed_part, challenge + 48);
    ax_value v1[1] = {{0, challenge, sizeof challenge}};
    push(&io, AX_MSG_HOST_ATTEST, 1, v1);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    ax_frame f;
    ax_value v[AX_MAX_FIELDS];
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_ATTESTED && v[0].len == 48);
    /* the deployer derives the same K_m and checks the confirmation */
    uint8_t shared[32], km[16], info[27 + 64], ad[30], tag[16];
    size_t tag_len = 0;
    CHECK(ax_x25519(eph, v[0].data, shared) == AX_OK);
    memcpy(info, "authex native module key v1", 27);
    memcpy(info + 27, eph_pub, 32);
    memcpy(info + 59, v[0].data, 32);
    CHECK(ax_hkdf_sha256(shared, 32, challenge, 16, info, sizeof info, km, 16) == AX_OK);
    memcpy(ad, "attest-confirm", 14);
    memcpy(ad + 14, challenge, 16);
    CHECK(ax_suite_seal(AX_SUITE_AES_GCM_128, km, 3, 0, ad, sizeof ad, NULL, 0, tag, sizeof tag,
                        &tag_len) == AX_OK);
    CHECK_MEM(tag, v[0].data + 32, 16);
    CHECK(memcmp(rt->control_key, km, 16) == 0);

    TEST("native attestation refuses a challenge not signed by the operator");
    restart(&io, rt);
    challenge[70] ^= 1;
    push(&io, AX_MSG_HOST_ATTEST, 2, v1);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_out(&io, &f, v) == AX_MSG_ERROR && v[0].num == AX_ERROR_REJECTED);
    CHECK(strstr((const char *)v[1].data, "not signed by this module's operator") != NULL);
    free(rt);
}

static void link_endings(void) {
    static mem_io io;
    uint8_t km[16] = {1};
    ax_frame f;
    ax_value v[AX_MAX_FIELDS];

    TEST("end of input ends the loop with status 0");
    memset(&io, 0, sizeof io);
    ax_runtime *rt = new_runtime(&io, "trustzone", km);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    free(rt);

    TEST("input ending inside a frame is malformed (3)");
    memset(&io, 0, sizeof io);
    rt = new_runtime(&io, "trustzone", km);
    memcpy(io.in, "\x00\x00\x00\x09\x81\x00\x00", 7);
    io.in_len = 7;
    CHECK(ax_runtime_serve(rt) == AX_EXIT_MALFORMED);
    free(rt);

    TEST("a message of another link is malformed (3)");
    memset(&io, 0, sizeof io);
    rt = new_runtime(&io, "trustzone", km);
    ax_value ready[2] = {{0, (const uint8_t *)"x", 1}, {0, NULL, 0}};
    push(&io, AX_MSG_HOST_READY, 0, ready);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_MALFORMED);
    CHECK(strstr(rt->last_log, "not a message of this link") != NULL);
    free(rt);

    TEST("an oversize frame is refused from its header (3)");
    memset(&io, 0, sizeof io);
    rt = new_runtime(&io, "trustzone", km);
    memcpy(io.in, "\x7f\x00\x00\x00\x84\x00\x00\x00\x00", 9);
    io.in_len = 9;
    CHECK(ax_runtime_serve(rt) == AX_EXIT_MALFORMED);
    CHECK(strstr(rt->last_log, "exceeds the limit") != NULL);
    free(rt);

    TEST("HostReady carries the name and measurement");
    memset(&io, 0, sizeof io);
    rt = new_runtime(&io, "trustzone", km);
    ax_runtime_ready(rt, (const uint8_t *)"\x01\x02", 2);
    ax_runtime_flush(rt);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_READY && v[0].len == 6 && v[1].len == 2);
    free(rt);

    TEST("a runtime for an unknown TEE or without its module key is refused");
    rt = calloc(1, sizeof *rt);
    ax_attester a;
    memset(&a, 0, sizeof a);
    char err[256];
    ax_io link = {&io, mem_read, mem_write};
    snprintf(a.tee, sizeof a.tee, "tpm");
    CHECK(ax_runtime_init(rt, TABLE, COUNT, "s", "ab", &a, link, err, sizeof err) != 0);
    CHECK(strstr(err, "unknown TEE") != NULL);
    snprintf(a.tee, sizeof a.tee, "sancus");
    CHECK(ax_runtime_init(rt, TABLE, COUNT, "s", "ab", &a, link, err, sizeof err) != 0);
    CHECK(strstr(err, "module key") != NULL);
    free(rt);
}

typedef struct {
    uint8_t state[AX_STATE_CAP];
    size_t len;
    int calls;
    size_t out_len_when_sealed; /* how much output had left when the seal happened */
    mem_io *io;
    int fail;
} test_sealer;

static int seal_into(void *self, const uint8_t *state, size_t len, char *err, size_t cap) {
    test_sealer *t = self;
    if (t->fail) {
        snprintf(err, cap, "platform refused to seal");
        return -1;
    }
    memcpy(t->state, state, len);
    t->len = len;
    t->calls++;
    t->out_len_when_sealed = t->io->out_len;
    return 0;
}

static void persistent_session(void) {
    static mem_io io;
    static test_sealer sealed;
    memset(&io, 0, sizeof io);
    memset(&sealed, 0, sizeof sealed);
    sealed.io = &io;
    uint8_t km[16], k_in[16], k_out[16], plain[64];
    memset(km, 0x21, sizeof km);
    memset(k_in, 0x22, sizeof k_in);
    memset(k_out, 0x23, sizeof k_out);
    ax_frame f;
    ax_value v[AX_MAX_FIELDS];
    size_t plain_len = 0;

    TEST("persistent: the state is sealed before any output leaves");
    ax_runtime *rt = new_runtime(&io, "trustzone", km);
    CHECK(ax_seal(rt, "x", 1) == AX_E_STATE); /* not persistent yet */
    ax_runtime_persist(rt, seal_into, &sealed);
    deployer d = {AX_SUITE_AES_GCM_128, {0}, 0};
    attest_fixed(&io, rt, &d, km);
    CHECK(sealed.calls == 1 && sealed.out_len_when_sealed == 0);
    restart(&io, rt);
    set_key(&io, &d, 1, ID_READING, AX_ROLE_RECEIVER, AX_SUITE_AES_GCM_128, k_in, 2);
    set_key(&io, &d, 2, ID_ALERT, AX_ROLE_SENDER, AX_SUITE_AES_GCM_128, k_out, 3);
    ax_channel in, out;
    ax_channel_init(&in, 1, AX_SUITE_AES_GCM_128, k_in);
    ax_channel_init(&out, 2, AX_SUITE_AES_GCM_128, k_out);
    deliver(&io, &in, 0, 1, "12", 0);
    size_t before = io.out_len;
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(sealed.calls == 2 && sealed.out_len_when_sealed == before); /* one seal per batch */
    uint8_t kept[16];
    CHECK(ax_unseal(rt, kept, sizeof kept) == 2 && memcmp(kept, "12", 2) == 0);
    CHECK(ax_unseal(rt, kept, 1) == AX_E_TOO_LARGE);
    uint8_t big[AUTHEX_MAX_SEALED + 1] = {0};
    CHECK(ax_seal(rt, big, sizeof big) == AX_E_TOO_LARGE);

    TEST("persistent: a restarted runtime resumes keys, counters, windows and kept data");
    static mem_io io2;
    memset(&io2, 0, sizeof io2);
    ax_runtime *again = new_runtime(&io2, "trustzone", km);
    ax_runtime_persist(again, seal_into, &sealed);
    char err[256];
    CHECK(ax_runtime_restore(again, sealed.state, sealed.len, err, sizeof err) == 0);
    CHECK(ax_unseal(again, kept, sizeof kept) == 2 && memcmp(kept, "12", 2) == 0);
    deliver(&io2, &in, 0, 1, "12", 0); /* the old one again: a replay */
    deliver(&io2, &in, 0, 2, "13", 0);
    CHECK(ax_runtime_serve(again) == AX_EXIT_OK);
    CHECK(next_out(&io2, &f, v) == AX_MSG_HOST_REJECTED && v[3].num == AX_REJECT_REPLAY);
    CHECK(next_out(&io2, &f, v) == AX_MSG_HOST_EMIT && v[0].num == 2 && v[2].num == 2);
    CHECK(ax_channel_open(&out, 0, 2, v[3].data, v[3].len, plain, sizeof plain, &plain_len) ==
          AX_OK); /* the send counter continued: no nonce reused */
    CHECK(next_out(&io2, &f, v) == AX_MSG_HOST_ACCEPTED && v[2].num == 2);
    call(&io2, &d, ID_CALIBRATE, 1, d.counter + 1, "5", 9); /* the control key came back */
    restart(&io2, again);
    call(&io2, &d, ID_CALIBRATE, 1, d.counter + 1, "5", 9);
    CHECK(ax_runtime_serve(again) == AX_EXIT_OK);
    CHECK(next_out(&io2, &f, v) == AX_MSG_HOST_CALL_RESULT && v[0].num == AX_STATUS_OK);

    TEST("persistent: a state that does not fit is refused and changes nothing");
    ax_runtime *other = calloc(1, sizeof *other);
    ax_attester a;
    memset(&a, 0, sizeof a);
    snprintf(a.tee, sizeof a.tee, "trustzone");
    memcpy(a.module_key, km, 16);
    a.has_module_key = 1;
    ax_io link = {&io2, mem_read, mem_write};
    CHECK(ax_runtime_init(other, TABLE, COUNT, "valve", "ab", &a, link, err, sizeof err) == 0);
    CHECK(ax_runtime_restore(other, sealed.state, sealed.len, err, sizeof err) != 0);
    CHECK(strstr(err, "not one of module") != NULL);
    CHECK(ax_runtime_restore(again, sealed.state, sealed.len - 1, err, sizeof err) != 0);
    CHECK(strstr(err, "truncated") != NULL);
    CHECK(ax_runtime_restore(again, (const uint8_t *)"junk", 4, err, sizeof err) != 0);
    CHECK(again->connections[0].in_use || again->connections[1].in_use); /* unchanged */

    TEST("persistent: nothing leaves when the seal fails");
    sealed.fail = 1;
    restart(&io2, again);
    size_t out_before = io2.out_len;
    deliver(&io2, &in, 0, 3, "14", 0);
    CHECK(ax_runtime_serve(again) == AX_EXIT_LINK);
    CHECK(io2.out_len == out_before);
    free(other);
    free(again);
    free(rt);
}

/* The number of connections the runtime holds. */
static size_t connections_in_use(const ax_runtime *rt) {
    size_t n = 0;
    for (size_t i = 0; i < AUTHEX_MAX_CONNECTIONS; i++) n += rt->connections[i].in_use ? 1u : 0u;
    return n;
}

/* An Error frame next, with that code and a message containing `text`. */
static int next_error(mem_io *io, uint32_t rid, uint64_t code, const char *text) {
    ax_frame f;
    ax_value v[AX_MAX_FIELDS];
    if (next_out(io, &f, v) != AX_MSG_ERROR || f.request_id != rid || v[0].num != code) return 0;
    char message[AX_ERROR_TEXT + 1];
    size_t n = v[1].len < AX_ERROR_TEXT ? v[1].len : AX_ERROR_TEXT;
    memcpy(message, v[1].data, n);
    message[n] = '\0';
    if (strstr(message, text) == NULL) {
        fprintf(stderr, "  error was: %s\n", message);
        return 0;
    }
    return 1;
}

static int next_ok(mem_io *io, uint32_t rid) {
    ax_frame f;
    ax_value v[AX_MAX_FIELDS];
    return next_out(io, &f, v) == AX_MSG_OK && f.request_id == rid;
}

static void swap_session(void) {
    static mem_io io;
    memset(&io, 0, sizeof io);
    uint8_t km[16], k_in[16], k_out[16], k_new[16], k_other[16], plain[64];
    memset(km, 0x41, sizeof km);
    memset(k_in, 0x42, sizeof k_in);
    memset(k_out, 0x43, sizeof k_out);
    memset(k_new, 0x44, sizeof k_new);
    memset(k_other, 0x45, sizeof k_other);
    size_t plain_len = 0;
    ax_frame f;
    ax_value v[AX_MAX_FIELDS];
    ax_runtime *rt = new_runtime(&io, "trustzone", km);
    deployer d = {AX_SUITE_AES_GCM_128, {0}, 0};
    attest_fixed(&io, rt, &d, km);
    restart(&io, rt);
    set_key(&io, &d, 1, ID_READING, AX_ROLE_RECEIVER, AX_SUITE_AES_GCM_128, k_in, 2);
    set_key(&io, &d, 2, ID_ALERT, AX_ROLE_SENDER, AX_SUITE_AES_GCM_128, k_out, 3);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_ok(&io, 2) && next_ok(&io, 3));
    ax_channel in, old_out, new_out;
    ax_channel_init(&in, 1, AX_SUITE_AES_GCM_128, k_in);
    ax_channel_init(&old_out, 2, AX_SUITE_AES_GCM_128, k_out);
    ax_channel_init(&new_out, 12, AX_SUITE_AES_GCM_128, k_new);

    TEST("swap-key moves an output to its new connection in one step");
    restart(&io, rt);
    swap_key(&io, &d, 12, 2, ID_ALERT, AX_ROLE_SENDER, AX_SUITE_AES_GCM_128, k_new, 4);
    deliver(&io, &in, 0, 1, "12", 0);     /* emits on the output */
    deliver(&io, &old_out, 0, 1, "7", 0); /* the old id is gone */
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_ok(&io, 4));
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_EMIT && v[0].num == 12 && v[1].num == 0 &&
          v[2].num == 1); /* fresh counters */
    CHECK(ax_channel_open(&new_out, 0, v[2].num, v[3].data, v[3].len, plain, sizeof plain,
                          &plain_len) == AX_OK);
    CHECK(plain_len == 2 && memcmp(plain, "12", 2) == 0);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_ACCEPTED && v[0].num == 1);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_REJECTED && v[0].num == 2 &&
          v[3].num == AX_REJECT_UNKNOWN_CONNECTION);
    CHECK(next_out(&io, &f, v) == 0);
    CHECK(ax_runtime_connection(rt, 2) == NULL && ax_runtime_connection(rt, 12) != NULL);
    CHECK(connections_in_use(rt) == 2);

    TEST("swap-key sent again (fresh control counter) was applied before: Ok, nothing changes");
    restart(&io, rt);
    swap_key(&io, &d, 12, 2, ID_ALERT, AX_ROLE_SENDER, AX_SUITE_AES_GCM_128, k_new, 30);
    deliver(&io, &in, 0, 2, "21", 0); /* emits on the output again */
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_ok(&io, 30));
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_EMIT && v[0].num == 12 && v[1].num == 0 &&
          v[2].num == 2); /* its send counter went on: no nonce is reused */
    CHECK(ax_channel_open(&new_out, 0, v[2].num, v[3].data, v[3].len, plain, sizeof plain,
                          &plain_len) == AX_OK);
    CHECK(plain_len == 2 && memcmp(plain, "21", 2) == 0);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_ACCEPTED && v[0].num == 1 && v[2].num == 2);
    CHECK(next_out(&io, &f, v) == 0);
    CHECK(ax_runtime_connection(rt, 2) == NULL && ax_runtime_connection(rt, 12) != NULL);
    CHECK(connections_in_use(rt) == 2);

    TEST("swap-key whose replaces is absent installs the new connection");
    restart(&io, rt);
    swap_key(&io, &d, 13, 2, ID_ALERT, AX_ROLE_SENDER, AX_SUITE_ASCON_AEAD128, k_other, 5);
    swap_key(&io, &d, 14, 0, ID_MOISTURE, AX_ROLE_RECEIVER, AX_SUITE_AES_GCM_128, k_other, 6);
    deliver(&io, &in, 0, 3, "5", 0);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_ok(&io, 5) && next_ok(&io, 6));
    uint64_t emitted_on = 0;
    for (int k = 0; k < 2; k++) {
        CHECK(next_out(&io, &f, v) == AX_MSG_HOST_EMIT);
        emitted_on += v[0].num;
    }
    CHECK(emitted_on == 12 + 13); /* both connections of the output, each once */
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_ACCEPTED && v[2].num == 3);
    CHECK(ax_runtime_connection(rt, 13) != NULL && ax_runtime_connection(rt, 14) != NULL);

    TEST("swap-key naming a connection of another endpoint or role is refused, changes nothing");
    restart(&io, rt);
    swap_key(&io, &d, 15, 1, ID_ALERT, AX_ROLE_SENDER, AX_SUITE_AES_GCM_128, k_other, 7);
    swap_key(&io, &d, 16, 12, ID_FORECAST, AX_ROLE_SENDER, AX_SUITE_AES_GCM_128, k_other, 8);
    swap_key(&io, &d, 17, 1, ID_MOISTURE, AX_ROLE_RECEIVER, AX_SUITE_AES_GCM_128, k_other, 9);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_error(&io, 7, AX_ERROR_BAD_REQUEST, "swap-key for connection 15: connection 1 is"));
    CHECK(next_error(&io, 8, AX_ERROR_BAD_REQUEST, "swap-key for connection 16: connection 12"));
    CHECK(next_error(&io, 9, AX_ERROR_BAD_REQUEST, "swap-key for connection 17: connection 1 is"));
    CHECK(ax_runtime_connection(rt, 1) != NULL && ax_runtime_connection(rt, 12) != NULL);
    CHECK(ax_runtime_connection(rt, 15) == NULL && ax_runtime_connection(rt, 16) == NULL &&
          ax_runtime_connection(rt, 17) == NULL);
    CHECK(connections_in_use(rt) == 4);

    TEST("a set-key's wrapped key sent as a swap-key does not authenticate, nor the reverse");
    restart(&io, rt);
    uint8_t wrapped[64];
    size_t wrapped_len = 0;
    ax_set_key_fields sk = {18, ID_ALERT, AX_ROLE_SENDER, AX_SUITE_AES_GCM_128, ++d.counter};
    CHECK(ax_wrap_key(d.control, d.key, k_other, &sk, wrapped, sizeof wrapped, &wrapped_len) ==
          AX_OK);
    ax_value as_swap[7] = {{18, 0, 0}, {12, 0, 0}, {ID_ALERT, 0, 0}, {AX_ROLE_SENDER, 0, 0},
                           {AX_SUITE_AES_GCM_128, 0, 0}, {sk.counter, 0, 0},
                           {0, wrapped, wrapped_len}};
    push(&io, AX_MSG_HOST_SWAP_KEY, 10, as_swap);
    uint8_t swapped[64];
    size_t swapped_len = 0;
    ax_swap_key_fields sw = {19, 0, ID_ALERT, AX_ROLE_SENDER, AX_SUITE_AES_GCM_128, sk.counter};
    CHECK(ax_wrap_swap_key(d.control, d.key, k_other, &sw, swapped, sizeof swapped,
                           &swapped_len) == AX_OK);
    ax_value as_set[6] = {{19, 0, 0}, {ID_ALERT, 0, 0}, {AX_ROLE_SENDER, 0, 0},
                          {AX_SUITE_AES_GCM_128, 0, 0}, {sk.counter, 0, 0},
                          {0, swapped, swapped_len}};
    push(&io, AX_MSG_HOST_SET_KEY, 11, as_set);
    d.counter--; /* refused: the counter was not consumed, the genuine swap may use it */
    swap_key(&io, &d, 18, 12, ID_ALERT, AX_ROLE_SENDER, AX_SUITE_AES_GCM_128, k_other, 12);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_error(&io, 10, AX_ERROR_REJECTED, "swap-key for connection 18: the wrapped key"));
    CHECK(next_error(&io, 11, AX_ERROR_REJECTED, "set-key for connection 19: the wrapped key"));
    CHECK(next_ok(&io, 12));
    CHECK(ax_runtime_connection(rt, 12) == NULL && ax_runtime_connection(rt, 18) != NULL);
    CHECK(ax_runtime_connection(rt, 19) == NULL);

    TEST("swap-key with a stale control counter is refused");
    restart(&io, rt);
    d.counter -= 3;
    swap_key(&io, &d, 20, 18, ID_ALERT, AX_ROLE_SENDER, AX_SUITE_AES_GCM_128, k_other, 13);
    d.counter += 5;
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_error(&io, 13, AX_ERROR_REJECTED, "swap-key for connection 20: stale control"));
    CHECK(ax_runtime_connection(rt, 18) != NULL && ax_runtime_connection(rt, 20) == NULL);

    TEST("retire: forgets replaces; carries no key, io, role or suite");
    restart(&io, rt);
    swap_key(&io, &d, 0, 13, 0, 0, 0, k_other, 14);         /* a key in a retire */
    swap_key(&io, &d, 0, 13, ID_ALERT, 0, 0, NULL, 15);     /* an io id in a retire */
    swap_key(&io, &d, 0, 13, 0, 0, 0, NULL, 16);            /* a genuine retire */
    swap_key(&io, &d, 0, 13, 0, 0, 0, NULL, 17);            /* again: nothing to forget */
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_error(&io, 14, AX_ERROR_BAD_REQUEST, "swap-key for connection 0: a retire"));
    CHECK(next_error(&io, 15, AX_ERROR_BAD_REQUEST, "a retire carries no key"));
    CHECK(next_ok(&io, 16) && next_ok(&io, 17));
    CHECK(ax_runtime_connection(rt, 13) == NULL && connections_in_use(rt) == 3);

    TEST("swap-key on a full table reuses the replaced slot; a retire frees one");
    restart(&io, rt);
    uint32_t rid = 100;
    for (uint32_t id = 100; connections_in_use(rt) + (id - 100) < AUTHEX_MAX_CONNECTIONS; id++) {
        set_key(&io, &d, id, ID_READING, AX_ROLE_RECEIVER, AX_SUITE_AES_GCM_128, k_in, rid++);
    }
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    for (uint32_t r = 100; r < rid; r++) CHECK(next_ok(&io, r));
    CHECK(connections_in_use(rt) == AUTHEX_MAX_CONNECTIONS);
    restart(&io, rt);
    set_key(&io, &d, 300, ID_READING, AX_ROLE_RECEIVER, AX_SUITE_AES_GCM_128, k_in, 300);
    swap_key(&io, &d, 301, 100, ID_READING, AX_ROLE_RECEIVER, AX_SUITE_AES_GCM_128, k_new, 301);
    swap_key(&io, &d, 0, 101, 0, 0, 0, NULL, 302);
    set_key(&io, &d, 303, ID_READING, AX_ROLE_RECEIVER, AX_SUITE_AES_GCM_128, k_in, 303);
    ax_channel swapped_in;
    ax_channel_init(&swapped_in, 301, AX_SUITE_AES_GCM_128, k_new);
    deliver(&io, &swapped_in, 0, 1, "77", 0);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_error(&io, 300, AX_ERROR_REJECTED, "the connection table is full"));
    CHECK(next_ok(&io, 301) && next_ok(&io, 302) && next_ok(&io, 303));
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_ACCEPTED && v[0].num == 301);
    CHECK(ax_runtime_connection(rt, 100) == NULL && ax_runtime_connection(rt, 101) == NULL);
    CHECK(ax_runtime_connection(rt, 301) != NULL && ax_runtime_connection(rt, 303) != NULL);
    CHECK(connections_in_use(rt) == AUTHEX_MAX_CONNECTIONS);
    ax_runtime_wipe(rt);
    free(rt);
}

/* A persistent TrustZone runtime, attested, sealing into `sealed`. */
static ax_runtime *persistent_runtime(mem_io *io, test_sealer *sealed, deployer *d,
                                      const uint8_t km[16]) {
    memset(io, 0, sizeof *io);
    memset(sealed, 0, sizeof *sealed);
    sealed->io = io;
    ax_runtime *rt = new_runtime(io, "trustzone", km);
    ax_runtime_persist(rt, seal_into, sealed);
    d->control = AX_SUITE_AES_GCM_128;
    attest_fixed(io, rt, d, km);
    restart(io, rt);
    return rt;
}

static void state_transfer(void) {
    static mem_io io;
    static test_sealer sealed;
    uint8_t km[16], k_in[16], k_state[16], plain[AUTHEX_MAX_SEALED + 64];
    memset(km, 0x51, sizeof km);
    memset(k_in, 0x52, sizeof k_in);
    memset(k_state, 0x53, sizeof k_state);
    size_t plain_len = 0;
    ax_frame f;
    ax_value v[AX_MAX_FIELDS];
    uint8_t kept[64];
    deployer d = {AX_SUITE_AES_GCM_128, {0}, 0};

    TEST("state-out: a persistent module sends 0x01 || its sealed data at once, then forgets it");
    ax_runtime *rt = persistent_runtime(&io, &sealed, &d, km);
    set_key(&io, &d, 1, ID_READING, AX_ROLE_RECEIVER, AX_SUITE_AES_GCM_128, k_in, 2);
    ax_channel in;
    ax_channel_init(&in, 1, AX_SUITE_AES_GCM_128, k_in);
    deliver(&io, &in, 0, 1, "42", 0); /* on_reading keeps "42" with ax_seal */
    set_key(&io, &d, 50, AX_STATE_OUT_ID, AX_ROLE_SENDER, AX_SUITE_ASCON_AEAD128, k_state, 3);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_ok(&io, 2));
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_ACCEPTED && v[0].num == 1);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_EMIT && v[0].num == 50 && v[1].num == 0 &&
          v[2].num == 1);
    ax_channel state_out;
    ax_channel_init(&state_out, 50, AX_SUITE_ASCON_AEAD128, k_state);
    CHECK(ax_channel_open(&state_out, 0, 1, v[3].data, v[3].len, plain, sizeof plain,
                          &plain_len) == AX_OK);
    CHECK(plain_len == 3 && memcmp(plain, "\x01" "42", 3) == 0);
    CHECK(next_ok(&io, 3)); /* the event went before the Ok */
    CHECK(next_out(&io, &f, v) == 0);
    CHECK(ax_runtime_connection(rt, 50) == NULL && connections_in_use(rt) == 1);
    CHECK(ax_unseal(rt, kept, sizeof kept) == 2); /* the old version keeps its data */
    free(rt);

    TEST("state-out without sealed data sends 0x00");
    rt = persistent_runtime(&io, &sealed, &d, km);
    set_key(&io, &d, 51, AX_STATE_OUT_ID, AX_ROLE_SENDER, AX_SUITE_AES_GCM_128, k_state, 4);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_EMIT && v[0].num == 51 && v[2].num == 1);
    ax_channel_init(&state_out, 51, AX_SUITE_AES_GCM_128, k_state);
    CHECK(ax_channel_open(&state_out, 0, 1, v[3].data, v[3].len, plain, sizeof plain,
                          &plain_len) == AX_OK);
    CHECK(plain_len == 1 && plain[0] == 0);
    CHECK(next_ok(&io, 4));
    CHECK(ax_runtime_connection(rt, 51) == NULL && connections_in_use(rt) == 0);

    TEST("state-out is a sender end, state-in a receiver end");
    restart(&io, rt);
    set_key(&io, &d, 52, AX_STATE_OUT_ID, AX_ROLE_RECEIVER, AX_SUITE_AES_GCM_128, k_state, 5);
    set_key(&io, &d, 53, AX_STATE_IN_ID, AX_ROLE_SENDER, AX_SUITE_AES_GCM_128, k_state, 6);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_error(&io, 5, AX_ERROR_BAD_REQUEST, "io id 0xf001 is not an input or handler"));
    CHECK(next_error(&io, 6, AX_ERROR_BAD_REQUEST, "io id 0xf002 is not an output or request"));
    CHECK(connections_in_use(rt) == 0);
    free(rt);

    TEST("state-in: the new version takes the data as its own and seals it before answering");
    char reading_before[sizeof last_reading];
    memcpy(reading_before, last_reading, sizeof last_reading);
    rt = persistent_runtime(&io, &sealed, &d, km);
    set_key(&io, &d, 60, AX_STATE_IN_ID, AX_ROLE_RECEIVER, AX_SUITE_AES_GCM_128, k_state, 7);
    ax_channel state_in;
    ax_channel_init(&state_in, 60, AX_SUITE_AES_GCM_128, k_state);
    deliver(&io, &state_in, 0, 1, "\x01" "hello", 0);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_ok(&io, 7));
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_ACCEPTED && v[0].num == 60 && v[2].num == 1);
    CHECK(ax_runtime_connection(rt, 60) == NULL);
    CHECK(ax_unseal(rt, kept, sizeof kept) == 5 && memcmp(kept, "hello", 5) == 0);
    CHECK(memcmp(last_reading, reading_before, sizeof last_reading) == 0); /* no callback ran */
    static mem_io io2;
    memset(&io2, 0, sizeof io2);
    ax_runtime *again = new_runtime(&io2, "trustzone", km);
    ax_runtime_persist(again, seal_into, &sealed);
    char err[256];
    CHECK(ax_runtime_restore(again, sealed.state, sealed.len, err, sizeof err) == 0);
    CHECK(ax_unseal(again, kept, sizeof kept) == 5 && memcmp(kept, "hello", 5) == 0);
    CHECK(ax_runtime_connection(again, 60) == NULL);

    TEST("state-in: forged and replayed events are refused; 0x00 means no data");
    restart(&io, rt);
    set_key(&io, &d, 61, AX_STATE_IN_ID, AX_ROLE_RECEIVER, AX_SUITE_AES_GCM_128, k_state, 8);
    ax_channel_init(&state_in, 61, AX_SUITE_AES_GCM_128, k_state);
    deliver(&io, &state_in, 0, 2, "\x01" "forged", 1);
    deliver(&io, &state_in, 1, 2, "\x01" "back", 0); /* a response: nobody waits for it */
    static const uint8_t none[1] = {0};
    deliver_bytes(&io, &state_in, 0, 2, none, 1, 0);
    deliver_bytes(&io, &state_in, 0, 3, none, 1, 0); /* the end is gone */
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_ok(&io, 8));
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_REJECTED && v[0].num == 61 &&
          v[3].num == AX_REJECT_FORGED);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_REJECTED && v[3].num == AX_REJECT_REPLAY);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_ACCEPTED && v[0].num == 61 && v[2].num == 2);
    CHECK(next_out(&io, &f, v) == AX_MSG_HOST_REJECTED && v[0].num == 61 && v[2].num == 3 &&
          v[3].num == AX_REJECT_UNKNOWN_CONNECTION);
    CHECK(ax_unseal(rt, kept, sizeof kept) == 0);

    TEST("state-in: a malformed transfer is refused as forged and changes no data");
    restart(&io, rt);
    CHECK(ax_seal(rt, "mine", 4) == 0);
    static uint8_t too_long[AUTHEX_MAX_SEALED + 2];
    memset(too_long, 'x', sizeof too_long);
    too_long[0] = 1;
    static const uint8_t bad_tag[3] = {2, 'a', 'b'}, none_and_more[2] = {0, 0};
    const struct {
        const uint8_t *data;
        size_t len;
    } malformed[] = {{bad_tag, 3}, {none_and_more, 2}, {NULL, 0}, {too_long, sizeof too_long}};
    for (uint32_t k = 0; k < 4; k++) {
        set_key(&io, &d, 70 + k, AX_STATE_IN_ID, AX_ROLE_RECEIVER, AX_SUITE_AES_GCM_128, k_state,
                20 + k);
        ax_channel_init(&state_in, 70 + k, AX_SUITE_AES_GCM_128, k_state);
        deliver_bytes(&io, &state_in, 0, 1, malformed[k].data, malformed[k].len, 0);
    }
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    for (uint32_t k = 0; k < 4; k++) {
        CHECK(next_ok(&io, 20 + k));
        CHECK(next_out(&io, &f, v) == AX_MSG_HOST_REJECTED && v[0].num == 70 + k &&
              v[3].num == AX_REJECT_FORGED);
        CHECK(ax_runtime_connection(rt, 70 + k) == NULL);
    }
    CHECK(ax_unseal(rt, kept, sizeof kept) == 4 && memcmp(kept, "mine", 4) == 0);
    CHECK(strstr(rt->last_log, "malformed state transfer") != NULL);

    TEST("a sealed state with a state-in end restores; the end still takes the data");
    restart(&io, rt);
    set_key(&io, &d, 80, AX_STATE_IN_ID, AX_ROLE_RECEIVER, AX_SUITE_AES_GCM_128, k_state, 30);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_ok(&io, 30));
    free(again);
    memset(&io2, 0, sizeof io2);
    again = new_runtime(&io2, "trustzone", km);
    ax_runtime_persist(again, seal_into, &sealed);
    CHECK(ax_runtime_restore(again, sealed.state, sealed.len, err, sizeof err) == 0);
    const ax_connection *c = ax_runtime_connection(again, 80);
    CHECK(c != NULL && c->endpoint == AX_STATE_ENDPOINT && c->role == AX_ROLE_RECEIVER);
    ax_channel_init(&state_in, 80, AX_SUITE_AES_GCM_128, k_state);
    deliver(&io2, &state_in, 0, 1, "\x01" "zz", 0);
    CHECK(ax_runtime_serve(again) == AX_EXIT_OK);
    CHECK(next_out(&io2, &f, v) == AX_MSG_HOST_ACCEPTED && v[0].num == 80);
    CHECK(ax_unseal(again, kept, sizeof kept) == 2 && memcmp(kept, "zz", 2) == 0);
    free(again);
    free(rt);

    TEST("a module that is not persistent refuses both reserved ends");
    memset(&io, 0, sizeof io);
    rt = new_runtime(&io, "trustzone", km);
    attest_fixed(&io, rt, &d, km);
    restart(&io, rt);
    set_key(&io, &d, 90, AX_STATE_OUT_ID, AX_ROLE_SENDER, AX_SUITE_AES_GCM_128, k_state, 40);
    set_key(&io, &d, 91, AX_STATE_IN_ID, AX_ROLE_RECEIVER, AX_SUITE_AES_GCM_128, k_state, 41);
    swap_key(&io, &d, 92, 0, AX_STATE_IN_ID, AX_ROLE_RECEIVER, AX_SUITE_AES_GCM_128, k_state, 42);
    CHECK(ax_runtime_serve(rt) == AX_EXIT_OK);
    CHECK(next_error(&io, 40, AX_ERROR_BAD_REQUEST,
                     "set-key for connection 90: module \"sensor\" keeps no sealed state"));
    CHECK(next_error(&io, 41, AX_ERROR_BAD_REQUEST, "keeps no sealed state to transfer"));
    CHECK(next_error(&io, 42, AX_ERROR_BAD_REQUEST,
                     "swap-key for connection 92: module \"sensor\" keeps no sealed state"));
    CHECK(next_out(&io, &f, v) == 0); /* nothing was sent */
    CHECK(connections_in_use(rt) == 0);
    free(rt);
}

void suite_runtime(void) {
    table_checks();
    trustzone_session();
    sancus_session();
    native_session();
    link_endings();
    persistent_session();
    swap_session();
    state_transfer();
}
