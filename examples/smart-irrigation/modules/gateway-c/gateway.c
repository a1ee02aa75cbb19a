/* Field gateway for an OP-TEE (TrustZone) board, in C: receives readings from the Sancus
 * sensors over SpongeWrap-protected connections and forwards them to the controller in the
 * cloud, tagged with how many it has relayed; drops readings that are not well-formed JSON.
 * Same behaviour as modules/gateway/main.py for what the sensors send: the reading must be a
 * JSON object with a string "sensor" and a numeric (or numeric-string) "moisture". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <authex.h>

#include "json.h"

static unsigned long relayed; /* the module's own state */

/* A float as Python's repr writes it: the shortest text that reads back the same. */
static void python_float(double value, char *out, size_t cap) {
    if (isnan(value)) {
        snprintf(out, cap, "NaN");
        return;
    }
    if (isinf(value)) {
        snprintf(out, cap, value > 0 ? "Infinity" : "-Infinity");
        return;
    }
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(out, cap, "%.*g", precision, value);
        if (strtod(out, NULL) == value) break;
    }
    if (strpbrk(out, ".eEn") == NULL) strncat(out, ".0", cap - strlen(out) - 1);
}

static int reading(ax_ctx *ctx, const uint8_t *data, size_t len) {
    char sensor[128], sensor_json[800], value[40], forwarded[1024];
    double moisture = 0;
    if (json_reading(data, len, sensor, sizeof sensor, &moisture) != 0) {
        ax_log(ctx, "dropping malformed reading '%.*s'", (int)(len > 40 ? 40 : len),
               (const char *)data);
        return 0;
    }
    relayed++;
    json_quote(sensor, sensor_json, sizeof sensor_json);
    python_float(moisture, value, sizeof value);
    int n = snprintf(forwarded, sizeof forwarded,
                     "{\"sensor\": %s, \"moisture\": %s, \"via\": \"%s\", \"relayed\": %lu}",
                     sensor_json, value, ax_name(ctx), relayed);
    if (n < 0 || (size_t)n >= sizeof forwarded) return ax_fail(ctx, "forwarded reading too long");
    int sent = ax_emit(ctx, "forward", forwarded, (size_t)n);
    return sent < 0 ? ax_fail(ctx, "emit: %s", ax_strerror(sent)) : 0;
}

static int relayed_count(ax_ctx *ctx, const uint8_t *arg, size_t len) {
    (void)arg;
    (void)len;
    char text[32];
    snprintf(text, sizeof text, "%lu", relayed);
    return ax_reply_str(ctx, text);
}

AUTHEX_MODULE(
    AUTHEX_OUTPUT("forward"),
    AUTHEX_INPUT("reading", reading),
    AUTHEX_ENTRY("relayed", relayed_count)
)
