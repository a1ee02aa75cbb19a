/* The module-side protocol core (see authex/runtime.h): the same rules as the Python and Rust
 * runtimes.
 *
 * - attestation: answer with the TEE's attester and keep the control key it yields, with a
 *   fresh control counter window;
 * - set-key: only under the control key, only with a fresh control counter, only for this
 *   module's own endpoints in the matching role; re-keying replaces a connection;
 * - swap-key: verified like a set-key (with its own AD); installs conn_id and forgets the
 *   connection it replaces in one step (same endpoint and role), or only forgets it (conn_id 0);
 *   without `replaces` but with conn_id already on that endpoint in that role it was applied
 *   before (the deployer lost the Ok): Ok, and nothing changes (the counters go on);
 * - state transfer (updates, persistent modules only): keying the reserved state-out end sends
 *   the ax_seal data on it at once and forgets it; an event on the state-in end replaces the
 *   ax_seal data and forgets that end; neither ever reaches user code;
 * - deliveries: open with the connection key, strictly increasing counters; refusals are
 *   reported as HostRejected and never reach user code; accepted ones are acknowledged with
 *   HostAccepted after the callback ran;
 * - entries: public ones may be called in plaintext, all others only authenticated under the
 *   control key with a fresh control counter; authenticated results are sealed back.
 *
 * Key material never appears in a log line or an error message. */
#include "authex/runtime.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- logging and output ----------------------------------------------------------------- */

static void vlog(ax_runtime *rt, const char *format, va_list ap) {
    char line[AX_ERROR_TEXT];
    vsnprintf(line, sizeof line, format, ap);
    snprintf(rt->last_log, sizeof rt->last_log, "[%s] %s", rt->name, line);
    if (rt->log_to_stderr) fprintf(stderr, "%s\n", rt->last_log);
}

static void rt_log(ax_runtime *rt, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void rt_log(ax_runtime *rt, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    vlog(rt, format, ap);
    va_end(ap);
}

static void close_link(ax_runtime *rt, int status, const char *why) {
    if (rt->closed == 0) {
        rt->closed = status;
        /* bounded, so an -O2 build does not warn that a longer `why` is cut */
        snprintf(rt->closed_why, sizeof rt->closed_why, "%.*s",
                 (int)(sizeof rt->closed_why - 1), why);
    }
    rt->eof = 1;
}

void ax_runtime_flush(ax_runtime *rt) {
    if (rt->out.len == 0) return;
    if (rt->persistent && rt->dirty && rt->closed == 0) { /* seal before anything leaves */
        char err[AX_ERROR_TEXT] = "";
        size_t len = ax_runtime_export(rt);
        int rc = rt->sealer != NULL ? rt->sealer(rt->sealer_self, rt->state, len, err, sizeof err)
                                    : -1;
        ax_wipe(rt->state, len);
        if (rc != 0) {
            char why[AX_ERROR_TEXT + 40];
            snprintf(why, sizeof why, "cannot seal the module state: %s", err);
            close_link(rt, AX_EXIT_LINK, why);
        }
        rt->dirty = 0;
    }
    if (rt->closed == 0 && rt->io.write(rt->io.self, rt->out.buf, rt->out.len) != 0) {
        close_link(rt, AX_EXIT_LINK, "host link closed while writing");
    }
    rt->out.len = 0;
    rt->out.overflow = 0;
}

/* Make room for a frame of `size` bytes in the output buffer. */
static int reserve(ax_runtime *rt, size_t size) {
    if (rt->out.cap - rt->out.len < size) ax_runtime_flush(rt);
    if (rt->out.cap - rt->out.len < size) {
        rt_log(rt, "dropped an oversize frame of %zu bytes", size);
        return -1;
    }
    return 0;
}

static void send_error(ax_runtime *rt, uint32_t rid, uint16_t code, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void send_text(ax_runtime *rt, uint32_t rid, uint16_t code, const char *text) {
    size_t len = strlen(text);
    if (reserve(rt, AX_HEADER_SIZE + 4 + len) != 0) return;
    ax_frame_begin(&rt->out, AX_MSG_ERROR, rid);
    ax_put_u16(&rt->out, code);
    ax_put_str(&rt->out, text, len);
    ax_frame_end(&rt->out);
}

static void send_error(ax_runtime *rt, uint32_t rid, uint16_t code, const char *format, ...) {
    char text[AX_ERROR_TEXT];
    va_list ap;
    va_start(ap, format);
    vsnprintf(text, sizeof text, format, ap);
    va_end(ap);
    send_text(rt, rid, code, text);
}

static void send_ok(ax_runtime *rt, uint32_t rid) {
    if (reserve(rt, AX_HEADER_SIZE + 4) != 0) return;
    ax_frame_begin(&rt->out, AX_MSG_OK, rid);
    ax_put_bytes(&rt->out, NULL, 0);
    ax_frame_end(&rt->out);
}

static void send_tuple(ax_runtime *rt, uint8_t type, uint32_t conn_id, uint8_t direction,
                       uint64_t counter, int reason) {
    if (reserve(rt, AX_HEADER_SIZE + 14) != 0) return;
    ax_frame_begin(&rt->out, type, 0);
    ax_put_u32(&rt->out, conn_id);
    ax_put_u8(&rt->out, direction);
    ax_put_u64(&rt->out, counter);
    if (reason >= 0) ax_put_u8(&rt->out, (uint8_t)reason);
    ax_frame_end(&rt->out);
}

static ax_connection *find_connection(ax_runtime *rt, uint32_t conn_id) {
    for (size_t i = 0; i < AUTHEX_MAX_CONNECTIONS; i++) {
        ax_connection *c = &rt->connections[i];
        if (c->in_use && c->channel.conn_id == conn_id) return c;
    }
    return NULL;
}

const ax_connection *ax_runtime_connection(const ax_runtime *rt, uint32_t conn_id) {
    return find_connection((ax_runtime *)rt, conn_id);
}

static void reject(ax_runtime *rt, uint32_t conn_id, uint8_t direction, uint64_t counter,
                   uint8_t reason) {
    ax_connection *c = find_connection(rt, conn_id);
    if (c != NULL) {
        c->stats.rejected++;
    } else {
        rt->unknown_rejected++;
    }
    send_tuple(rt, AX_MSG_HOST_REJECTED, conn_id, direction, counter, reason);
}

/* Seal `data` on a connection into a HostEmit frame, in place in the output buffer. */
static int emit_sealed(ax_runtime *rt, ax_connection *c, uint8_t direction, uint64_t counter,
                       int next, const uint8_t *data, size_t len) {
    size_t sealed = ax_suite_sealed_size(c->channel.suite, len);
    if (reserve(rt, AX_HEADER_SIZE + 17 + sealed) != 0) return AX_E_TOO_LARGE;
    size_t start = rt->out.len;
    ax_frame_begin(&rt->out, AX_MSG_HOST_EMIT, 0);
    ax_put_u32(&rt->out, c->channel.conn_id);
    ax_put_u8(&rt->out, direction);
    size_t counter_at = rt->out.len;
    ax_put_u64(&rt->out, counter);
    ax_put_u32(&rt->out, (uint32_t)sealed);
    uint8_t *space = ax_put_space(&rt->out, sealed);
    size_t got = 0;
    int rc = AX_ERR_ARGUMENT;
    if (space != NULL) {
        if (next) {
            uint64_t used = 0;
            rc = ax_channel_seal_next(&c->channel, direction, data, len, space, sealed, &got, &used);
            if (rc == AX_OK) ax_store_be64(rt->out.buf + counter_at, used);
        } else {
            rc = ax_channel_seal_with(&c->channel, direction, counter, data, len, space, sealed,
                                      &got);
        }
    }
    if (rc != AX_OK || got != sealed) {
        rt->out.len = start;
        rt->out.overflow = 0;
        return AX_E_CRYPTO;
    }
    ax_frame_end(&rt->out);
    c->stats.emitted++;
    rt->emitted_total++;
    if (next) rt->dirty = 1;
    return 0;
}

/* ---- reading ------------------------------------------------------------------------------ */

/* Read more input within timeout_ms (< 0: block); 1 if bytes arrived. */
static int fill(ax_runtime *rt, int timeout_ms) {
    if (rt->eof || rt->closed) return 0;
    if (rt->head > 0) {
        memmove(rt->in, rt->in + rt->head, rt->tail - rt->head);
        rt->tail -= rt->head;
        rt->head = 0;
    }
    if (rt->tail == sizeof rt->in) return 0;
    ax_runtime_flush(rt);
    long n = rt->io.read(rt->io.self, rt->in + rt->tail, sizeof rt->in - rt->tail, timeout_ms);
    if (n == AX_IO_TIMEOUT) return 0;
    if (n < 0) {
        close_link(rt, AX_EXIT_LINK, "host link closed while reading");
        return 0;
    }
    if (n == 0) {
        rt->eof = 1;
        if (rt->tail > rt->head) close_link(rt, AX_EXIT_MALFORMED, "input ended inside a frame");
        return 0;
    }
    rt->tail += (size_t)n;
    return 1;
}

/* Parse the frame at `at` of the input: its size, 0 if incomplete, -1 (link closed) if bad. */
static long frame_at(ax_runtime *rt, size_t at, ax_frame *frame, ax_value *values) {
    char err[AX_ERROR_TEXT], why[AX_ERROR_TEXT + 40];
    long size = ax_frame_parse(rt->in + at, rt->tail - at, AUTHEX_MAX_PAYLOAD, frame, err,
                               sizeof err);
    if (size > 0 && ax_decode(frame, ax_host_link_types, values, NULL, err, sizeof err) != 0) {
        size = -1;
    }
    if (size < 0) {
        snprintf(why, sizeof why, "malformed input from the agent: %s", err);
        close_link(rt, AX_EXIT_MALFORMED, why);
    }
    return size;
}

/* ---- the context API -------------------------------------------------------------------- */

static long find_endpoint(const ax_runtime *rt, ax_kind kind, const char *name) {
    for (size_t i = 0; i < rt->count; i++) {
        if (rt->endpoints[i].kind == kind && strcmp(rt->endpoints[i].name, name) == 0) {
            return (long)i;
        }
    }
    return -1;
}

static long endpoint_by_id(const ax_runtime *rt, uint16_t id) {
    for (size_t i = 0; i < rt->count; i++) {
        if (rt->ids[i] == id) return (long)i;
    }
    return -1;
}

const char *ax_name(const ax_ctx *ctx) { return ctx->name; }

int ax_seal(ax_ctx *ctx, const void *data, size_t len) {
    if (!ctx->persistent) return AX_E_STATE;
    if (len > sizeof ctx->kept) return AX_E_TOO_LARGE;
    if (len > 0) memmove(ctx->kept, data, len);
    ctx->kept_len = len;
    ctx->has_kept = 1;
    ctx->dirty = 1;
    return 0;
}

long ax_unseal(ax_ctx *ctx, uint8_t *out, size_t cap) {
    if (!ctx->persistent) return AX_E_STATE;
    if (!ctx->has_kept) return 0;
    if (ctx->kept_len > cap) return AX_E_TOO_LARGE;
    memcpy(out, ctx->kept, ctx->kept_len);
    return (long)ctx->kept_len;
}

const char *ax_strerror(int code) {
    switch (code) {
    case AX_E_UNDECLARED: return "not declared by this module";
    case AX_E_TOO_LARGE: return "payload too large";
    case AX_E_NOT_CONNECTED: return "not connected to any handler";
    case AX_E_TIMEOUT: return "no response before the deadline";
    case AX_E_CLOSED: return "the host link closed";
    case AX_E_CRYPTO: return "cannot seal (counter exhausted: the connection must be re-keyed)";
    case AX_E_STATE: return "not allowed here";
    default: return code < 0 ? "failed" : "ok";
    }
}

void ax_log(ax_ctx *ctx, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    vlog(ctx, format, ap);
    va_end(ap);
}

int ax_fail(ax_ctx *ctx, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    vsnprintf(ctx->fail_text, sizeof ctx->fail_text, format, ap);
    va_end(ap);
    return AX_FAILED;
}

int ax_reply(ax_ctx *ctx, const void *data, size_t len) {
    if (ctx->in_callback != AX_KIND_ENTRY && ctx->in_callback != AX_KIND_HANDLER) {
        return AX_E_STATE;
    }
    size_t limit = ctx->in_callback == AX_KIND_ENTRY ? AX_MAX_RESULT_PAYLOAD : AX_MAX_EVENT_PAYLOAD;
    if (len > limit) return AX_E_TOO_LARGE;
    if (len > 0) memmove(ctx->reply, data, len);
    ctx->reply_len = len;
    return 0;
}

int ax_reply_str(ax_ctx *ctx, const char *text) { return ax_reply(ctx, text, strlen(text)); }

int ax_emit(ax_ctx *ctx, const char *output, const void *data, size_t len) {
    if (find_endpoint(ctx, AX_KIND_OUTPUT, output) < 0) {
        rt_log(ctx, "emit: module has no output named \"%s\"", output);
        return AX_E_UNDECLARED;
    }
    if (len > AX_MAX_EVENT_PAYLOAD) return AX_E_TOO_LARGE;
    int sent = 0;
    for (size_t i = 0; i < AUTHEX_MAX_CONNECTIONS; i++) {
        ax_connection *c = &ctx->connections[i];
        if (!c->in_use || c->role != AX_ROLE_SENDER || c->endpoint == AX_STATE_ENDPOINT) continue;
        const ax_endpoint *e = &ctx->endpoints[c->endpoint];
        if (e->kind != AX_KIND_OUTPUT || strcmp(e->name, output) != 0) continue;
        int rc = emit_sealed(ctx, c, 0, 0, 1, (const uint8_t *)data, len);
        if (rc < 0) return rc;
        sent++;
    }
    return sent;
}

long ax_request(ax_ctx *ctx, const char *request, const void *data, size_t len, uint8_t *out,
                size_t cap) {
    return ax_request_timeout(ctx, request, data, len, out, cap, AUTHEX_REQUEST_TIMEOUT_MS);
}

/* Find, remove and open the awaited response in the input buffer: its length, AX_E_TIMEOUT if
 * it is not there yet, or another AX_E_*. */
static long take_response(ax_runtime *rt, ax_connection *c, uint64_t counter, uint8_t *out,
                          size_t cap) {
    size_t at = rt->head;
    while (at < rt->tail) {
        ax_frame frame;
        ax_value v[AX_MAX_FIELDS];
        long size = frame_at(rt, at, &frame, v);
        if (size < 0) return AX_E_CLOSED;
        if (size == 0) break;
        if (frame.type == AX_MSG_HOST_DELIVER && v[0].num == c->channel.conn_id &&
            v[1].num == 1 && v[2].num == counter) {
            size_t got = 0;
            int rc = ax_channel_open(&c->channel, 1, counter, v[3].data, v[3].len, rt->response,
                                     sizeof rt->response, &got);
            memmove(rt->in + at, rt->in + at + (size_t)size, rt->tail - at - (size_t)size);
            rt->tail -= (size_t)size;
            if (rc != AX_OK) {
                reject(rt, c->channel.conn_id, 1, counter,
                       rc == AX_ERR_FORGED ? AX_REJECT_FORGED : AX_REJECT_REPLAY);
                continue; /* keep waiting for the genuine answer */
            }
            c->stats.delivered++;
            rt->dirty = 1;
            send_tuple(rt, AX_MSG_HOST_ACCEPTED, c->channel.conn_id, 1, counter, -1);
            if (got > cap) return AX_E_TOO_LARGE;
            memcpy(out, rt->response, got);
            return (long)got;
        }
        at += (size_t)size;
    }
    return AX_E_TIMEOUT;
}

static long remaining_ms(const struct timespec *deadline) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(deadline->tv_sec - now.tv_sec) * 1000 +
           (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

long ax_request_timeout(ax_ctx *ctx, const char *request, const void *data, size_t len,
                        uint8_t *out, size_t cap, unsigned timeout_ms) {
    if (find_endpoint(ctx, AX_KIND_REQUEST, request) < 0) {
        rt_log(ctx, "request: module has no request named \"%s\"", request);
        return AX_E_UNDECLARED;
    }
    if (len > AX_MAX_EVENT_PAYLOAD) return AX_E_TOO_LARGE;
    ax_connection *c = NULL;
    for (size_t i = 0; i < AUTHEX_MAX_CONNECTIONS && c == NULL; i++) {
        ax_connection *k = &ctx->connections[i];
        if (!k->in_use || k->role != AX_ROLE_SENDER || k->endpoint == AX_STATE_ENDPOINT) continue;
        const ax_endpoint *e = &ctx->endpoints[k->endpoint];
        if (e->kind == AX_KIND_REQUEST && strcmp(e->name, request) == 0) c = k;
    }
    if (c == NULL) return AX_E_NOT_CONNECTED;
    int rc = emit_sealed(ctx, c, 0, 0, 1, (const uint8_t *)data, len);
    if (rc < 0) return rc;
    uint64_t counter = c->channel.sent;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += (time_t)(timeout_ms / 1000);
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    for (;;) {
        long got = take_response(ctx, c, counter, out, cap);
        if (got != AX_E_TIMEOUT) return got;
        if (ctx->closed || ctx->eof) return AX_E_CLOSED;
        long left = remaining_ms(&deadline);
        if (left <= 0) return AX_E_TIMEOUT;
        if (ctx->tail - ctx->head == sizeof ctx->in) {
            rt_log(ctx, "request \"%s\": the input buffer is full (AUTHEX_INPUT_FRAMES)", request);
            return AX_E_CLOSED;
        }
        fill(ctx, left > 0x7fffffff ? 0x7fffffff : (int)left);
    }
}

/* ---- handling host messages ------------------------------------------------------------- */

static int run_callback(ax_runtime *rt, size_t endpoint, const uint8_t *data, size_t len) {
    const ax_endpoint *e = &rt->endpoints[endpoint];
    rt->in_callback = e->kind;
    rt->reply_len = 0;
    rt->fail_text[0] = '\0';
    int rc = e->callback(rt, data, len);
    rt->in_callback = 0;
    if (rc < 0 && rt->fail_text[0] == '\0') {
        snprintf(rt->fail_text, sizeof rt->fail_text, "%s \"%s\" returned %d", ax_kind_name(e->kind),
                 e->name, rc);
    }
    return rc < 0 ? -1 : 0;
}

static void attest(ax_runtime *rt, const ax_value *v, uint32_t rid) {
    uint8_t evidence[AX_NATIVE_EVIDENCE_SIZE + 32], key[AX_KEY_SIZE], nonce[16], ephemeral[32];
    char err[AX_ERROR_TEXT] = "";
    const ax_attester *a = &rt->attester;
    int rc;
    size_t evidence_len = 32;
    int sgx = strcmp(a->tee, "sgx") == 0;
    if (strcmp(a->tee, "native") == 0 || sgx) {
        if (!a->has_operator) {
            snprintf(err, sizeof err,
                     "this module was built without an operator key (AUTHEX_OPERATOR_KEY)");
            rc = AX_ERR_ARGUMENT;
        } else if ((rc = ax_random(ephemeral, sizeof ephemeral)) != AX_OK) {
            snprintf(err, sizeof err, "no randomness");
        } else {
            rc = ax_native_respond(rt->name, a->operator_public, v[0].data, v[0].len, ephemeral,
                                   evidence, key, err, sizeof err);
            evidence_len = AX_NATIVE_EVIDENCE_SIZE;
        }
        ax_wipe(ephemeral, sizeof ephemeral);
    } else if ((rc = ax_random(nonce, sizeof nonce)) != AX_OK) {
        snprintf(err, sizeof err, "no randomness");
    } else if (strcmp(a->tee, "sancus") == 0) {
        rc = ax_sancus_answer(a->module_key, v[0].data, v[0].len, nonce, evidence, key, err,
                              sizeof err);
    } else {
        rc = ax_trustzone_answer(a->module_key, v[0].data, v[0].len, nonce, evidence, key, err,
                                 sizeof err);
    }
    if (rc != AX_OK) {
        send_error(rt, rid, AX_ERROR_REJECTED, "attestation failed: %s", err);
        return;
    }
    /* SGX: the evidence continues with a quote over SHA-256(module public || nonce). */
    size_t quote_len = 0;
    uint8_t *quote_at = NULL;
    if (sgx) {
        uint8_t report_data[64];
        ax_sgx_report_data(evidence, v[0].data, report_data);
        quote_at = rt->response; /* free while no callback runs */
        if (a->quote == NULL) {
            snprintf(err, sizeof err, "no platform link");
            rc = AX_ERR_UNAVAILABLE;
        } else {
            rc = a->quote(a->quote_self, report_data, quote_at, sizeof rt->response, &quote_len,
                          err, sizeof err);
        }
        if (rc != 0) {
            ax_wipe(key, sizeof key);
            send_error(rt, rid, AX_ERROR_REJECTED,
                       "attestation failed: platform refused to quote: %s", err);
            return;
        }
    }
    memcpy(rt->control_key, key, sizeof key);
    ax_wipe(key, sizeof key);
    rt->attested = 1;
    rt->dirty = 1;
    memset(&rt->window, 0, sizeof rt->window);
    if (reserve(rt, AX_HEADER_SIZE + 4 + evidence_len + quote_len) != 0) return;
    ax_frame_begin(&rt->out, AX_MSG_HOST_ATTESTED, rid);
    ax_put_u32(&rt->out, (uint32_t)(evidence_len + quote_len));
    uint8_t *at = ax_put_space(&rt->out, evidence_len + quote_len);
    if (at != NULL) {
        memcpy(at, evidence, evidence_len);
        if (quote_len > 0) memcpy(at + evidence_len, quote_at, quote_len);
    }
    ax_frame_end(&rt->out);
}

/* The end an io id names: its kind and, in *endpoint, its index in the endpoint table, or
 * AX_STATE_ENDPOINT for a reserved end of a state transfer (state-out is a sender end like an
 * output, state-in a receiver end like an input). Kind 0 if the module has no such end (then
 * *endpoint means nothing: check the kind with role_fits first). */
static ax_kind end_of(const ax_runtime *rt, uint16_t io_id, size_t *endpoint) {
    if (io_id == AX_STATE_OUT_ID || io_id == AX_STATE_IN_ID) {
        *endpoint = AX_STATE_ENDPOINT;
        return io_id == AX_STATE_OUT_ID ? AX_KIND_OUTPUT : AX_KIND_INPUT;
    }
    long i = endpoint_by_id(rt, io_id);
    *endpoint = i >= 0 ? (size_t)i : AX_STATE_ENDPOINT;
    return i >= 0 ? rt->endpoints[i].kind : (ax_kind)0;
}

/* 1 if an end of that kind is used in that role (sender: output or request; receiver: input or
 * handler). */
static int role_fits(ax_kind kind, uint8_t role) {
    if (role == AX_ROLE_SENDER) return kind == AX_KIND_OUTPUT || kind == AX_KIND_REQUEST;
    return role == AX_ROLE_RECEIVER && (kind == AX_KIND_INPUT || kind == AX_KIND_HANDLER);
}

/* Error(code) with "WHAT for connection N: " before the formatted text. */
static void refuse(ax_runtime *rt, uint32_t rid, uint16_t code, const char *what,
                   uint32_t conn_id, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;

static void refuse(ax_runtime *rt, uint32_t rid, uint16_t code, const char *what,
                   uint32_t conn_id, const char *format, ...) {
    char text[AX_ERROR_TEXT];
    int n = snprintf(text, sizeof text, "%s for connection %lu: ", what, (unsigned long)conn_id);
    va_list ap;
    va_start(ap, format);
    vsnprintf(text + n, sizeof text - (size_t)n, format, ap);
    va_end(ap);
    send_text(rt, rid, code, text);
}

/* The state-out end was keyed: send the ax_seal data on it, once, as one event (0x00: none,
 * 0x01 || data), and forget the connection. 0, or an AX_E_*. */
static int send_state(ax_runtime *rt, ax_connection *c) {
    size_t len = rt->has_kept ? rt->kept_len + 1 : 1;
    int rc = AX_E_TOO_LARGE;
    if (len <= AX_MAX_EVENT_PAYLOAD) {
        rt->plain[0] = rt->has_kept ? 1 : 0;
        if (len > 1) memcpy(rt->plain + 1, rt->kept, len - 1);
        rc = emit_sealed(rt, c, 0, 0, 1, rt->plain, len);
        ax_wipe(rt->plain, len);
    }
    ax_wipe(c, sizeof *c);
    rt->dirty = 1;
    if (rc == 0) rt_log(rt, "sent its sealed data (%zu bytes) to its new version", len - 1);
    return rc;
}

/* HostSetKey and HostSwapKey (which has `replaces` after conn_id): authenticate, check, then
 * change the connection table in one step. */
static void set_key(ax_runtime *rt, const ax_value *v, uint32_t rid, int swap) {
    const ax_value *x = v + (swap ? 1 : 0); /* x[1] io_id .. x[5] wrapped */
    ax_swap_key_fields f = {(uint32_t)v[0].num, swap ? (uint32_t)v[1].num : 0u,
                            (uint16_t)x[1].num, (uint8_t)x[2].num, (uint8_t)x[3].num, x[4].num};
    const char *what = swap ? "swap-key" : "set-key";
    if (!rt->attested) {
        refuse(rt, rid, AX_ERROR_REJECTED, what, f.conn_id, "not attested");
        return;
    }
    if (ax_window_check(&rt->window, f.counter) != AX_OK) {
        refuse(rt, rid, AX_ERROR_REJECTED, what, f.conn_id,
               "stale control counter: %llu is not greater than %llu",
               (unsigned long long)f.counter, (unsigned long long)rt->window.last);
        return;
    }
    uint8_t key[AX_KEY_SIZE];
    size_t key_len = AX_KEY_SIZE;
    int rc;
    if (swap) {
        rc = ax_unwrap_swap_key(rt->control, rt->control_key, x[5].data, x[5].len, &f, key,
                                &key_len);
    } else {
        ax_set_key_fields s = {f.conn_id, f.io_id, f.role, f.suite, f.counter};
        rc = ax_unwrap_key(rt->control, rt->control_key, x[5].data, x[5].len, &s, key);
    }
    if (rc != AX_OK) {
        rt->window.rejected++;
        refuse(rt, rid, AX_ERROR_REJECTED, what, f.conn_id,
               "the wrapped key does not authenticate");
        return;
    }
    ax_window_accept(&rt->window, f.counter);
    size_t endpoint;
    ax_kind kind = end_of(rt, f.io_id, &endpoint);
    ax_suite suite = ax_suite_from_id(f.suite);
    ax_connection *old = f.replaces != 0 ? find_connection(rt, f.replaces) : NULL;
    /* a swap whose `replaces` is gone but whose conn_id is here may have been applied before */
    ax_connection *again = swap && old == NULL && f.conn_id != 0
                               ? find_connection(rt, f.conn_id)
                               : NULL;
    if (swap && f.conn_id == 0) { /* a retire: forget `replaces`, if it is still here */
        if (key_len != 0 || f.io_id != 0 || f.role != 0 || f.suite != 0) {
            refuse(rt, rid, AX_ERROR_BAD_REQUEST, what, f.conn_id,
                   "a retire carries no key, io, role or suite");
        } else {
            if (old != NULL) {
                ax_wipe(old, sizeof *old);
                rt->dirty = 1;
            }
            send_ok(rt, rid);
        }
    } else if (f.role != AX_ROLE_SENDER && f.role != AX_ROLE_RECEIVER) {
        refuse(rt, rid, AX_ERROR_BAD_REQUEST, what, f.conn_id, "unknown role %u", f.role);
    } else if (!role_fits(kind, f.role)) {
        refuse(rt, rid, AX_ERROR_BAD_REQUEST, what, f.conn_id,
               "io id 0x%04x is not a%s of module \"%s\"", f.io_id,
               f.role == AX_ROLE_SENDER ? "n output or request" : "n input or handler", rt->name);
    } else if (endpoint == AX_STATE_ENDPOINT && !rt->persistent) {
        refuse(rt, rid, AX_ERROR_BAD_REQUEST, what, f.conn_id,
               "module \"%s\" keeps no sealed state to transfer", rt->name);
    } else if (suite == 0 || !ax_suite_available(suite)) {
        refuse(rt, rid, AX_ERROR_BAD_REQUEST, what, f.conn_id, "unsupported cipher suite %u",
               f.suite);
    } else if (key_len != AX_KEY_SIZE) {
        refuse(rt, rid, AX_ERROR_BAD_REQUEST, what, f.conn_id,
               "connection key must be %d bytes", AX_KEY_SIZE);
    } else if (old != NULL && (old->endpoint != endpoint || old->role != f.role)) {
        const char *name = endpoint != AX_STATE_ENDPOINT ? rt->endpoints[endpoint].name
                           : f.role == AX_ROLE_SENDER   ? "~state-out"
                                                        : "~state-in";
        refuse(rt, rid, AX_ERROR_BAD_REQUEST, what, f.conn_id,
               "connection %lu is not the %s \"%s\" here", (unsigned long)f.replaces,
               ax_kind_name(kind), name);
    } else if (again != NULL && again->endpoint == endpoint && again->role == f.role) {
        /* applied before (the deployer lost our Ok and sent it again): change nothing, so the
         * connection keeps its key and its counters and no nonce is reused */
        send_ok(rt, rid);
    } else {
        ax_connection *slot = find_connection(rt, f.conn_id);
        /* forget `replaces`: its slot is free for conn_id, even in a full table */
        if (old != NULL && old != slot) ax_wipe(old, sizeof *old);
        for (size_t i = 0; i < AUTHEX_MAX_CONNECTIONS; i++) {
            ax_connection *c = &rt->connections[i];
            /* a request has one handler: a new key supersedes the old connection */
            if (c->in_use && kind == AX_KIND_REQUEST && c->endpoint == endpoint && c != slot) {
                ax_wipe(c, sizeof *c);
            }
            if (slot == NULL && !c->in_use) slot = c;
        }
        if (slot == NULL) {
            refuse(rt, rid, AX_ERROR_REJECTED, what, f.conn_id,
                   "the connection table is full (AUTHEX_MAX_CONNECTIONS = %d)",
                   AUTHEX_MAX_CONNECTIONS);
        } else {
            ax_wipe(slot, sizeof *slot);
            slot->in_use = 1;
            ax_channel_init(&slot->channel, f.conn_id, suite, key);
            slot->endpoint = endpoint;
            slot->role = f.role;
            rt->dirty = 1;
            /* keying state-out sends the sealed data at once, before the Ok */
            if (endpoint == AX_STATE_ENDPOINT && f.role == AX_ROLE_SENDER &&
                (rc = send_state(rt, slot)) != 0) {
                refuse(rt, rid, AX_ERROR_REJECTED, what, f.conn_id,
                       "cannot send the sealed data: %s", ax_strerror(rc));
            } else {
                send_ok(rt, rid);
            }
        }
    }
    ax_wipe(key, sizeof key);
}

/* An event on the state-in end (already opened into rt->plain): the old version's ax_seal data
 * becomes this module's own (sealed with the rest of the state before the next output), and the
 * connection is forgotten. A malformed transfer is refused as forged. */
static void take_state(ax_runtime *rt, ax_connection *c, uint64_t counter, size_t len) {
    uint32_t conn_id = c->channel.conn_id;
    ax_wipe(c, sizeof *c);
    rt->dirty = 1;
    int none = len == 1 && rt->plain[0] == 0;
    if (!none && (len == 0 || rt->plain[0] != 1 || len - 1 > sizeof rt->kept)) {
        ax_wipe(rt->plain, len);
        rt_log(rt, "refused a malformed state transfer");
        reject(rt, conn_id, 0, counter, AX_REJECT_FORGED);
        return;
    }
    ax_wipe(rt->kept, rt->kept_len);
    rt->has_kept = !none;
    rt->kept_len = none ? 0 : len - 1;
    if (rt->kept_len > 0) memcpy(rt->kept, rt->plain + 1, rt->kept_len);
    ax_wipe(rt->plain, len);
    rt_log(rt, "took over the sealed data of its old version (%zu bytes)", rt->kept_len);
    send_tuple(rt, AX_MSG_HOST_ACCEPTED, conn_id, 0, counter, -1);
}

static void deliver(ax_runtime *rt, const ax_value *v) {
    uint32_t conn_id = (uint32_t)v[0].num;
    uint8_t direction = (uint8_t)v[1].num;
    uint64_t counter = v[2].num;
    ax_connection *c = find_connection(rt, conn_id);
    if (c == NULL) {
        reject(rt, conn_id, direction, counter, AX_REJECT_UNKNOWN_CONNECTION);
        return;
    }
    if (direction == 1) { /* nobody is waiting for it (late or bogus) */
        reject(rt, conn_id, direction, counter, AX_REJECT_REPLAY);
        return;
    }
    if (direction != 0 || c->role != AX_ROLE_RECEIVER) {
        reject(rt, conn_id, direction, counter, AX_REJECT_FORGED);
        return;
    }
    size_t len = 0;
    int rc = ax_channel_open(&c->channel, 0, counter, v[3].data, v[3].len, rt->plain,
                             sizeof rt->plain, &len);
    if (rc != AX_OK) {
        reject(rt, conn_id, direction, counter,
               rc == AX_ERR_FORGED ? AX_REJECT_FORGED : AX_REJECT_REPLAY);
        return;
    }
    c->stats.delivered++;
    rt->dirty = 1;
    if (c->endpoint == AX_STATE_ENDPOINT) { /* never reaches user code */
        take_state(rt, c, counter, len);
        return;
    }
    uint64_t emitted_before = rt->emitted_total;
    size_t endpoint = c->endpoint;
    const ax_endpoint *e = &rt->endpoints[endpoint];
    if (run_callback(rt, endpoint, rt->plain, len) != 0) {
        c = find_connection(rt, conn_id);
        if (c != NULL) c->stats.failed++;
        rt_log(rt, "%s \"%s\" failed; the event is dropped: %s", ax_kind_name(e->kind), e->name,
               rt->fail_text);
    } else if (e->kind == AX_KIND_HANDLER) {
        c = find_connection(rt, conn_id);
        if (c == NULL) {
            rt_log(rt, "handler \"%s\": connection %lu was removed; reply dropped", e->name,
                   (unsigned long)conn_id);
        } else if (emit_sealed(rt, c, 1, counter, 0, rt->reply, rt->reply_len) != 0) {
            rt_log(rt, "handler \"%s\": cannot seal the reply", e->name);
        }
    }
    ax_wipe(rt->plain, len);
    send_tuple(rt, AX_MSG_HOST_ACCEPTED, conn_id, direction, counter, -1);
    /* What a callback emits goes out now rather than after the rest of the input: a reply or a
     * flow-control message must not wait behind a long batch. Acknowledgements alone still wait
     * and leave together. */
    if (emitted_before != rt->emitted_total) ax_runtime_flush(rt);
}

static void call_result(ax_runtime *rt, uint32_t rid, uint8_t status, const uint8_t *payload,
                        size_t len) {
    if (reserve(rt, AX_HEADER_SIZE + 5 + len) != 0) return;
    ax_frame_begin(&rt->out, AX_MSG_HOST_CALL_RESULT, rid);
    ax_put_u8(&rt->out, status);
    ax_put_bytes(&rt->out, payload, len);
    ax_frame_end(&rt->out);
}

static void call_text(ax_runtime *rt, uint32_t rid, uint8_t status, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void call_text(ax_runtime *rt, uint32_t rid, uint8_t status, const char *format, ...) {
    char text[AX_ERROR_TEXT];
    va_list ap;
    va_start(ap, format);
    vsnprintf(text, sizeof text, format, ap);
    va_end(ap);
    call_result(rt, rid, status, (const uint8_t *)text, strlen(text));
}

static void call(ax_runtime *rt, const ax_value *v, uint32_t rid) {
    uint16_t entry_id = (uint16_t)v[0].num;
    int authenticated = v[1].num != 0;
    uint64_t counter = v[2].num;
    long endpoint = endpoint_by_id(rt, entry_id);
    if (endpoint < 0 || rt->endpoints[endpoint].kind != AX_KIND_ENTRY) {
        call_text(rt, rid, AX_STATUS_UNKNOWN_ENTRY, "unknown entry id 0x%04x in module \"%s\"",
                  entry_id, rt->name);
        return;
    }
    const ax_endpoint *e = &rt->endpoints[endpoint];
    size_t len = 0;
    if (authenticated) {
        const char *why = NULL;
        if (!rt->attested) {
            why = "not attested";
        } else if (ax_window_check(&rt->window, counter) != AX_OK) {
            call_text(rt, rid, AX_STATUS_AUTH_FAILED,
                      "entry \"%s\": control counter %llu is not greater than %llu", e->name,
                      (unsigned long long)counter, (unsigned long long)rt->window.last);
            return;
        } else if (ax_open_call(rt->control, rt->control_key, entry_id, counter, v[3].data,
                                v[3].len, rt->plain, sizeof rt->plain, &len) != AX_OK) {
            why = "authentication tag does not verify";
        }
        if (why != NULL) {
            call_text(rt, rid, AX_STATUS_AUTH_FAILED, "entry \"%s\": %s", e->name, why);
            return;
        }
        ax_window_accept(&rt->window, counter);
        rt->dirty = 1;
    } else if (!e->is_public) {
        call_text(rt, rid, AX_STATUS_NOT_PUBLIC, "entry \"%s\" is not public", e->name);
        return;
    } else {
        len = v[3].len;
        memcpy(rt->plain, v[3].data, len); /* the input buffer may move during the callback */
    }
    uint8_t status = AX_STATUS_OK;
    const uint8_t *result = rt->reply;
    size_t result_len;
    if (run_callback(rt, (size_t)endpoint, rt->plain, len) != 0) {
        rt_log(rt, "entry \"%s\" failed: %s", e->name, rt->fail_text);
        status = AX_STATUS_ENTRY_FAILED;
        result = (const uint8_t *)rt->fail_text;
        result_len = strlen(rt->fail_text);
    } else {
        result_len = rt->reply_len;
    }
    ax_wipe(rt->plain, len);
    if (!authenticated) {
        call_result(rt, rid, status, result, result_len);
        return;
    }
    size_t sealed = ax_suite_sealed_size(rt->control, result_len), got = 0;
    if (reserve(rt, AX_HEADER_SIZE + 5 + sealed) != 0) return;
    size_t start = rt->out.len;
    ax_frame_begin(&rt->out, AX_MSG_HOST_CALL_RESULT, rid);
    ax_put_u8(&rt->out, status);
    ax_put_u32(&rt->out, (uint32_t)sealed);
    uint8_t *space = ax_put_space(&rt->out, sealed);
    if (space == NULL || ax_seal_result(rt->control, rt->control_key, entry_id, counter, status,
                                        result, result_len, space, sealed, &got) != AX_OK) {
        rt->out.len = start;
        rt->out.overflow = 0;
        call_text(rt, rid, AX_STATUS_AUTH_FAILED, "entry \"%s\": cannot seal the result", e->name);
        return;
    }
    ax_frame_end(&rt->out);
}

/* ---- set-up and the loop ---------------------------------------------------------------- */

int ax_runtime_init(ax_runtime *rt, const ax_endpoint *endpoints, size_t count, const char *name,
                    const char *operator_key_hex, const ax_attester *attester, ax_io io, char *err,
                    size_t err_cap) {
    memset(rt, 0, offsetof(ax_runtime, in));
    if (ax_table_check(endpoints, count, rt->ids, err, err_cap) != 0) return -1;
    if (strlen(name) == 0 || strlen(name) >= sizeof rt->name) {
        snprintf(err, err_cap, "the module name must be 1..255 bytes");
        return -1;
    }
    rt->control = ax_control_suite(attester->tee);
    if (rt->control == 0) {
        snprintf(err, err_cap, "unknown TEE \"%s\"", attester->tee);
        return -1;
    }
    if (!ax_suite_available(rt->control)) {
        snprintf(err, err_cap, "this build has no %s, the control suite of %s (AUTHEX_NO_OPENSSL)",
                 ax_suite_name(rt->control), attester->tee);
        return -1;
    }
    if ((strcmp(attester->tee, "sancus") == 0 || strcmp(attester->tee, "trustzone") == 0) &&
        !attester->has_module_key) {
        snprintf(err, err_cap, "the %s platform gave no 16-byte module key", attester->tee);
        return -1;
    }
    rt->endpoints = endpoints;
    rt->count = count;
    snprintf(rt->name, sizeof rt->name, "%s", name);
    snprintf(rt->operator_key_hex, sizeof rt->operator_key_hex, "%s", operator_key_hex);
    rt->attester = *attester;
    rt->io = io;
    rt->log_to_stderr = 1;
    ax_writer_init(&rt->out, rt->out_buf, sizeof rt->out_buf);
    return 0;
}

void ax_runtime_ready(ax_runtime *rt, const uint8_t *measurement, size_t len) {
    size_t name_len = strlen(rt->name);
    if (reserve(rt, AX_HEADER_SIZE + 6 + name_len + len) != 0) return;
    ax_frame_begin(&rt->out, AX_MSG_HOST_READY, 0);
    ax_put_str(&rt->out, rt->name, name_len);
    ax_put_bytes(&rt->out, measurement, len);
    ax_frame_end(&rt->out);
}

void ax_runtime_resumed(ax_runtime *rt, uint64_t version) {
    if (reserve(rt, AX_HEADER_SIZE + 8) != 0) return;
    ax_frame_begin(&rt->out, AX_MSG_HOST_RESUMED, 0);
    ax_put_u64(&rt->out, version);
    ax_frame_end(&rt->out);
}

int ax_runtime_serve(ax_runtime *rt) {
    for (;;) {
        if (rt->closed) break;
        ax_frame frame;
        ax_value v[AX_MAX_FIELDS];
        long size = frame_at(rt, rt->head, &frame, v);
        if (size < 0) break;
        if (size == 0) {
            if (rt->eof) break;
            fill(rt, -1);
            continue;
        }
        rt->head += (size_t)size;
        switch (frame.type) {
        case AX_MSG_HOST_STOP:
            ax_runtime_flush(rt);
            return AX_EXIT_OK;
        case AX_MSG_HOST_ATTEST: attest(rt, v, frame.request_id); break;
        case AX_MSG_HOST_SET_KEY: set_key(rt, v, frame.request_id, 0); break;
        case AX_MSG_HOST_SWAP_KEY: set_key(rt, v, frame.request_id, 1); break;
        case AX_MSG_HOST_DELIVER: deliver(rt, v); break;
        case AX_MSG_HOST_CALL: call(rt, v, frame.request_id); break;
        default:
            send_error(rt, frame.request_id, AX_ERROR_BAD_REQUEST, "unexpected message 0x%02x",
                       frame.type);
        }
    }
    ax_runtime_flush(rt);
    if (rt->closed) {
        rt_log(rt, "%s", rt->closed_why);
        return rt->closed;
    }
    return AX_EXIT_OK;
}

void ax_runtime_wipe(ax_runtime *rt) {
    ax_wipe(rt->control_key, sizeof rt->control_key);
    ax_wipe(rt->connections, sizeof rt->connections);
    ax_wipe(&rt->attester, sizeof rt->attester);
}

/* ---- sealed state (persistent modules) ------------------------------------------------------
 *
 * "AXST" u8 1 | str name | u8 attested | key 16 | u64 control last | u16 connections |
 * per connection: u32 conn_id, u16 io id, u8 role, u8 suite, key 16, u64 sent, u64 received,
 * u64 gaps | u8 has data | bytes data.  Read back only by the same module (the platform binds
 * the sealing key to its measurement), so it is this SDK's own format. */

void ax_runtime_persist(ax_runtime *rt, ax_sealer sealer, void *self) {
    rt->persistent = 1;
    rt->sealer = sealer;
    rt->sealer_self = self;
}

size_t ax_runtime_export(ax_runtime *rt) {
    ax_writer w;
    ax_writer_init(&w, rt->state, sizeof rt->state);
    ax_put_bytes(&w, "AXST", 4);
    ax_put_u8(&w, 1);
    ax_put_str(&w, rt->name, strlen(rt->name));
    ax_put_u8(&w, (uint8_t)rt->attested);
    uint8_t *key = ax_put_space(&w, AX_KEY_SIZE);
    if (key != NULL) memcpy(key, rt->control_key, AX_KEY_SIZE);
    ax_put_u64(&w, rt->window.last);
    size_t count = 0;
    for (size_t i = 0; i < AUTHEX_MAX_CONNECTIONS; i++) count += rt->connections[i].in_use ? 1u : 0u;
    ax_put_u16(&w, (uint16_t)count);
    for (size_t i = 0; i < AUTHEX_MAX_CONNECTIONS; i++) {
        const ax_connection *c = &rt->connections[i];
        if (!c->in_use) continue;
        ax_put_u32(&w, c->channel.conn_id);
        uint16_t io_id = c->role == AX_ROLE_SENDER ? AX_STATE_OUT_ID : AX_STATE_IN_ID;
        ax_put_u16(&w, c->endpoint == AX_STATE_ENDPOINT ? io_id : rt->ids[c->endpoint]);
        ax_put_u8(&w, c->role);
        ax_put_u8(&w, (uint8_t)c->channel.suite);
        key = ax_put_space(&w, AX_KEY_SIZE);
        if (key != NULL) memcpy(key, c->channel.key, AX_KEY_SIZE);
        ax_put_u64(&w, c->channel.sent);
        ax_put_u64(&w, c->channel.receive.last);
        ax_put_u64(&w, c->channel.receive.gaps);
    }
    ax_put_u8(&w, (uint8_t)rt->has_kept);
    ax_put_bytes(&w, rt->kept, rt->kept_len);
    return w.overflow ? 0 : w.len;
}

/* Bounds-checked reads for ax_runtime_restore. */
typedef struct {
    const uint8_t *p;
    size_t left;
    int bad;
} state_reader;

static const uint8_t *take(state_reader *r, size_t n) {
    if (r->bad || r->left < n) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *at = r->p;
    r->p += n;
    r->left -= n;
    return at;
}

static uint64_t take_int(state_reader *r, size_t n) {
    const uint8_t *at = take(r, n);
    uint64_t v = 0;
    for (size_t i = 0; at != NULL && i < n; i++) v = v << 8 | at[i];
    return v;
}

/* The connections of a state: checked only, or (install) put in the table in place of the
 * ones there. 0, or -1 with err set. */
static int read_connections(ax_runtime *rt, state_reader *r, size_t count, int install,
                            char *err, size_t err_cap) {
    if (install) ax_wipe(rt->connections, sizeof rt->connections);
    for (size_t i = 0; i < count; i++) {
        uint32_t conn_id = (uint32_t)take_int(r, 4);
        size_t endpoint;
        ax_kind kind = end_of(rt, (uint16_t)take_int(r, 2), &endpoint);
        uint8_t role = (uint8_t)take_int(r, 1);
        ax_suite suite = ax_suite_from_id((unsigned)take_int(r, 1));
        const uint8_t *key = take(r, AX_KEY_SIZE);
        uint64_t sent = take_int(r, 8), last = take_int(r, 8), gaps = take_int(r, 8);
        if (r->bad) {
            snprintf(err, err_cap, "the state is truncated or malformed");
            return -1;
        }
        if (suite == 0 || !role_fits(kind, role)) {
            snprintf(err, err_cap, "connection %zu of the state does not fit this module", i);
            return -1;
        }
        if (install) {
            ax_connection *c = &rt->connections[i];
            c->in_use = 1;
            ax_channel_init(&c->channel, conn_id, suite, key);
            c->endpoint = endpoint;
            c->role = role;
            c->channel.sent = sent;
            c->channel.receive.last = last;
            c->channel.receive.gaps = gaps;
        }
    }
    return 0;
}

int ax_runtime_restore(ax_runtime *rt, const uint8_t *state, size_t len, char *err,
                       size_t err_cap) {
    state_reader r = {state, len, 0};
    const uint8_t *magic = take(&r, 4 + 4);
    if (magic == NULL || memcmp(magic + 4, "AXST", 4) != 0 || take_int(&r, 1) != 1) {
        snprintf(err, err_cap, "not a sealed state of this SDK");
        return -1;
    }
    size_t name_len = (size_t)take_int(&r, 2);
    const uint8_t *name = take(&r, name_len);
    if (name == NULL || name_len != strlen(rt->name) || memcmp(name, rt->name, name_len) != 0) {
        snprintf(err, err_cap, "the state is not one of module \"%s\"", rt->name);
        return -1;
    }
    int attested = (int)take_int(&r, 1);
    const uint8_t *control_key = take(&r, AX_KEY_SIZE);
    uint64_t control_last = take_int(&r, 8);
    size_t count = (size_t)take_int(&r, 2);
    if (r.bad || count > AUTHEX_MAX_CONNECTIONS) {
        snprintf(err, err_cap, "the state holds more connections than this build's %d",
                 AUTHEX_MAX_CONNECTIONS);
        return -1;
    }
    /* two passes over the connections, so nothing changes unless all of the state fits */
    state_reader connections = r;
    if (read_connections(rt, &r, count, 0, err, err_cap) != 0) return -1;
    int has_kept = (int)take_int(&r, 1);
    size_t kept_len = (size_t)take_int(&r, 4);
    const uint8_t *kept = take(&r, kept_len);
    if (r.bad || r.left != 0 || kept_len > sizeof rt->kept) {
        snprintf(err, err_cap, "the state is truncated or malformed");
        return -1;
    }
    (void)read_connections(rt, &connections, count, 1, err, err_cap);
    rt->attested = attested;
    memcpy(rt->control_key, control_key, AX_KEY_SIZE);
    memset(&rt->window, 0, sizeof rt->window);
    rt->window.last = control_last;
    rt->has_kept = has_kept;
    rt->kept_len = kept_len;
    if (kept_len > 0) memcpy(rt->kept, kept, kept_len);
    rt->dirty = 0;
    return 0;
}
