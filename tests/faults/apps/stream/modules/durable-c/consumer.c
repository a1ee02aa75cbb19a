/* Fault-test consumer in C that keeps sealed state (the C twin of modules/durable): checks that
 * numbered events arrive exactly once and in order across its own crashes; its counts are
 * sealed by the platform before the module acknowledges anything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <authex.h>

typedef struct {
    unsigned long long count, last, out_of_order, duplicates;
} counts;

static counts stats;
static int loaded;
static long delay_ms;

static counts *current(ax_ctx *ctx) {
    if (!loaded) {
        uint8_t kept[sizeof stats];
        if (ax_unseal(ctx, kept, sizeof kept) == (long)sizeof stats) memcpy(&stats, kept, sizeof stats);
        loaded = 1;
    }
    return &stats;
}

static int slow_down(ax_ctx *ctx, const uint8_t *arg, size_t len) {
    char text[16] = "";
    memcpy(text, arg, len < sizeof text - 1 ? len : sizeof text - 1);
    delay_ms = strtol(text, NULL, 10);
    return ax_reply_str(ctx, "ok");
}

static int seq(ax_ctx *ctx, const uint8_t *data, size_t len) {
    if (delay_ms > 0) {
        struct timespec pause = {0, delay_ms * 1000000L};
        nanosleep(&pause, NULL);
    }
    char text[24] = "";
    if (len == 0 || len >= sizeof text) return ax_fail(ctx, "not a sequence number");
    memcpy(text, data, len);
    unsigned long long number = strtoull(text, NULL, 10);
    counts *c = current(ctx);
    if (number <= c->last) {
        c->duplicates++;
    } else {
        if (number != c->last + 1) c->out_of_order++;
        c->last = number;
        c->count++;
    }
    return ax_seal(ctx, c, sizeof *c) == 0 ? 0 : ax_fail(ctx, "cannot keep the counts");
}

static int report(ax_ctx *ctx, const uint8_t *arg, size_t len) {
    (void)arg;
    (void)len;
    const counts *c = current(ctx);
    char text[160];
    snprintf(text, sizeof text,
             "{\"count\": %llu, \"duplicates\": %llu, \"last\": %llu, \"out_of_order\": %llu}",
             c->count, c->duplicates, c->last, c->out_of_order);
    return ax_reply_str(ctx, text);
}

AUTHEX_PERSISTENT_MODULE(
    AUTHEX_INPUT("seq", seq),
    AUTHEX_ENTRY("slow_down", slow_down),
    AUTHEX_ENTRY("stats", report)
)
