/* The runtime driven in memory, as an agent and a deployer would drive it: endpoint table
 * checks, the manifest, attestation (TrustZone, Sancus, native), set-key rules, deliveries
 * (accepted, replayed, forged, unknown connection, wrong direction), handlers, requests with a
 * responder and with a timeout, frames queued during a request, calls (public, authenticated,
 * replayed, not public, unknown), and how the link ends (stop, end of input, malformed). */
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

static void deliver(mem_io *io, ax_channel *c, uint8_t direction, uint64_t counter,
                    const char *text, int forge) {
    uint8_t sealed[256];
    size_t len = 0;
    CHECK(ax_channel_seal_with(c, direction, counter, (const uint8_t *)text, strlen(text), sealed,
                               sizeof sealed, &len) == AX_OK);
    if (forge) sealed[len - 1] ^= 1;
    ax_value v[4] = {{c->conn_id, 0, 0}, {direction, 0, 0}, {counter, 0, 0}, {0, sealed, len}};
    push(io, AX_MSG_HOST_DELIVER, 0, v);
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

void suite_runtime(void) {
    table_checks();
    trustzone_session();
    sancus_session();
    native_session();
    link_endings();
    persistent_session();
}
