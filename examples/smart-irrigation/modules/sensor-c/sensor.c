/* Soil-moisture sensor for a Sancus microcontroller, in C: each sample (a public entry, run by
 * the node's timer) emits a reading as JSON. Same behaviour as modules/sensor/main.py: the soil
 * dries 1.5 % per sample from a start level derived from the module's name (sensor1 starts at
 * 52 %, others at 61 %), never below 5 %. */
#include <stdio.h>
#include <string.h>

#include <authex.h>

static unsigned samples; /* the module's own state */

static double moisture(const char *name, unsigned sample) {
    size_t n = strlen(name);
    double start = n > 0 && name[n - 1] == '1' ? 52.0 : 61.0;
    double level = start - 1.5 * sample;
    return level < 5.0 ? 5.0 : level;
}

static int sample(ax_ctx *ctx, const uint8_t *arg, size_t len) {
    (void)arg;
    (void)len;
    char reading[160], value[16];
    samples++;
    snprintf(value, sizeof value, "%.1f", moisture(ax_name(ctx), samples));
    int n = snprintf(reading, sizeof reading, "{\"sensor\": \"%s\", \"moisture\": %s, \"seq\": %u}",
                     ax_name(ctx), value, samples);
    if (n < 0 || (size_t)n >= sizeof reading) return ax_fail(ctx, "reading does not fit");
    int sent = ax_emit(ctx, "reading", reading, (size_t)n);
    if (sent < 0) return ax_fail(ctx, "emit: %s", ax_strerror(sent));
    return ax_reply_str(ctx, value);
}

AUTHEX_MODULE(
    AUTHEX_OUTPUT("reading"),
    AUTHEX_PUBLIC_ENTRY("sample", sample)
)
