/* Valve actuator for a Sancus microcontroller, in C: obeys open/close commands from the
 * controller and reports its state to the operator; its state can also be read with an
 * authenticated call. Same behaviour as modules/valve/main.py. */
#include <string.h>

#include <authex.h>

static const char *state = "closed"; /* the module's own state */

static int command(ax_ctx *ctx, const uint8_t *data, size_t len) {
    const char *wanted;
    if (len == 4 && memcmp(data, "open", 4) == 0) {
        wanted = "open";
    } else if (len == 5 && memcmp(data, "close", 5) == 0) {
        wanted = "closed";
    } else {
        ax_log(ctx, "ignoring unknown command '%.*s'", (int)(len > 40 ? 40 : len),
               (const char *)data);
        return 0;
    }
    if (strcmp(wanted, state) != 0) {
        state = wanted;
        if (ax_emit(ctx, "state", state, strlen(state)) < 0) return ax_fail(ctx, "cannot emit");
    }
    return 0;
}

static int status(ax_ctx *ctx, const uint8_t *arg, size_t len) {
    (void)arg;
    (void)len;
    return ax_reply_str(ctx, state);
}

AUTHEX_MODULE(
    AUTHEX_OUTPUT("state"),
    AUTHEX_INPUT("command", command),
    AUTHEX_ENTRY("status", status)
)
