/* Just enough JSON for the gateway: read "sensor" and "moisture" from a reading object, and
 * quote a string the way Python's json.dumps does (ASCII only, \uXXXX escapes). */
#ifndef GATEWAY_JSON_H
#define GATEWAY_JSON_H

#include <stddef.h>
#include <stdint.h>

/* 0 if data is one JSON object with a string "sensor" (decoded into sensor, UTF-8) and a
 * "moisture" that is a number or a string holding one; -1 otherwise. */
int json_reading(const uint8_t *data, size_t len, char *sensor, size_t cap, double *moisture);
/* text (UTF-8) as a JSON string literal with quotes. */
void json_quote(const char *text, char *out, size_t cap);

#endif
