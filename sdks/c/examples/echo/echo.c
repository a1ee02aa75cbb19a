/* A small authex module in C: echoes events, answers requests, counts calls. The same
 * interface as the Rust example (sdks/rust/examples/echo), so either can stand in for the other.
 *
 * Build by hand (the deployer does this for `language: c`):
 *   cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -I../../include echo.c ../../src/[a-z]*.c -lcrypto -o echo
 *   ./echo --manifest echo */
#include <stdio.h>
#include <string.h>

#include <authex.h>

#ifndef ECHO_PREFIX /* descriptors may set it with cflags: ["-DECHO_PREFIX=\"...\""] */
#define ECHO_PREFIX ""
#endif

/* Module-private state, kept for the life of the process. */
static unsigned long events, calls;

/* Every event on input "ping" goes out on output "echoed" (with ECHO_PREFIX in front). */
static int ping(ax_ctx *ctx, const uint8_t *data, size_t len) {
    static uint8_t out[AX_MAX_EVENT_PAYLOAD];
    size_t prefix = strlen(ECHO_PREFIX);
    if (len > sizeof out - prefix) return ax_fail(ctx, "event too large to echo");
    memcpy(out, ECHO_PREFIX, prefix);
    memcpy(out + prefix, data, len);
    events++;
    int sent = ax_emit(ctx, "echoed", out, prefix + len);
    return sent < 0 ? ax_fail(ctx, "emit: %s", ax_strerror(sent)) : 0;
}

/* Requests on handler "upper" are answered with their data in upper case. */
static int upper(ax_ctx *ctx, const uint8_t *data, size_t len) {
    static uint8_t out[AX_MAX_EVENT_PAYLOAD];
    for (size_t i = 0; i < len; i++) {
        out[i] = data[i] >= 'a' && data[i] <= 'z' ? (uint8_t)(data[i] - 'a' + 'A') : data[i];
    }
    return ax_reply(ctx, out, len);
}

/* Public entry (timers may call it): how many events and calls so far. */
static int stats(ax_ctx *ctx, const uint8_t *arg, size_t len) {
    (void)arg;
    (void)len;
    char text[64];
    calls++;
    snprintf(text, sizeof text, "events=%lu calls=%lu", events, calls);
    return ax_reply_str(ctx, text);
}

/* Authenticated entry: emit the argument on "echoed"; fails on an empty argument. */
static int say_it(ax_ctx *ctx, const uint8_t *arg, size_t len) {
    if (len == 0) return ax_fail(ctx, "nothing to say");
    int sent = ax_emit(ctx, "echoed", arg, len);
    if (sent < 0) return ax_fail(ctx, "emit: %s", ax_strerror(sent));
    char text[64];
    snprintf(text, sizeof text, "sent to %d connection(s)", sent);
    return ax_reply_str(ctx, text);
}

AUTHEX_MODULE(
    AUTHEX_OUTPUT("echoed"),
    AUTHEX_INPUT("ping", ping),
    AUTHEX_HANDLER("upper", upper),
    AUTHEX_PUBLIC_ENTRY("stats", stats),
    AUTHEX_ENTRY("say-it", say_it)
)
