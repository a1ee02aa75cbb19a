/* A small strict JSON reader for flat reading objects, and Python-compatible string quoting. */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} cursor;

static void skip_space(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) {
        c->p++;
    }
}

static int hex4(const uint8_t *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t h = p[i];
        v <<= 4;
        if (h >= '0' && h <= '9') v |= (unsigned)(h - '0');
        else if (h >= 'a' && h <= 'f') v |= (unsigned)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F') v |= (unsigned)(h - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(unsigned cp, char *out) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string at the cursor, decoded into out (NUL-terminated; out may be NULL to skip it). */
static int string(cursor *c, char *out, size_t cap) {
    size_t n = 0;
    if (c->p >= c->end || *c->p != '"') return -1;
    c->p++;
    while (c->p < c->end && *c->p != '"') {
        char buf[8];
        size_t k = 1;
        uint8_t ch = *c->p++;
        if (ch < 0x20) return -1;
        buf[0] = (char)ch;
        if (ch == '\\') {
            if (c->p >= c->end) return -1;
            uint8_t e = *c->p++;
            const char *simple = strchr("\"\\/bfnrt", e);
            if (e != 0 && simple != NULL) {
                buf[0] = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            } else if (e == 'u') {
                unsigned cp, low;
                if (c->end - c->p < 4 || hex4(c->p, &cp) != 0) return -1;
                c->p += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF && c->end - c->p >= 6 && c->p[0] == '\\' &&
                    c->p[1] == 'u' && hex4(c->p + 2, &low) == 0 && low >= 0xDC00 &&
                    low <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    c->p += 6;
                }
                k = put_utf8(cp, buf);
            } else {
                return -1;
            }
        }
        if (out != NULL) {
            if (n + k >= cap) return -1;
            memcpy(out + n, buf, k);
        }
        n += k;
    }
    if (c->p >= c->end) return -1;
    c->p++;
    if (out != NULL) out[n] = '\0';
    return 0;
}

/* A JSON number at the cursor (strict grammar). */
static int number(cursor *c, double *out) {
    const uint8_t *start = c->p;
    if (c->p < c->end && *c->p == '-') c->p++;
    if (c->p >= c->end) return -1;
    if (*c->p == '0') {
        c->p++;
    } else if (*c->p >= '1' && *c->p <= '9') {
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
    } else {
        return -1;
    }
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9') return -1;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-')) c->p++;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9') return -1;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
    }
    char text[64];
    size_t n = (size_t)(c->p - start);
    if (n >= sizeof text) return -1;
    memcpy(text, start, n);
    text[n] = '\0';
    *out = strtod(text, NULL);
    return 0;
}

static int skip_value(cursor *c, int depth);

static int skip_container(cursor *c, int depth, uint8_t close) {
    c->p++;
    skip_space(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 0;
    }
    for (;;) {
        skip_space(c);
        if (close == '}') {
            if (string(c, NULL, 0) != 0) return -1;
            skip_space(c);
            if (c->p >= c->end || *c->p++ != ':') return -1;
        }
        if (skip_value(c, depth + 1) != 0) return -1;
        skip_space(c);
        if (c->p >= c->end) return -1;
        if (*c->p == close) {
            c->p++;
            return 0;
        }
        if (*c->p++ != ',') return -1;
    }
}

static int literal(cursor *c, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return -1;
    c->p += n;
    return 0;
}

static int skip_value(cursor *c, int depth) {
    double ignored;
    skip_space(c);
    if (depth > 32 || c->p >= c->end) return -1;
    switch (*c->p) {
    case '"': return string(c, NULL, 0);
    case '{': return skip_container(c, depth, '}');
    case '[': return skip_container(c, depth, ']');
    case 't': return literal(c, "true");
    case 'f': return literal(c, "false");
    case 'n': return literal(c, "null");
    default: return number(c, &ignored);
    }
}

int json_reading(const uint8_t *data, size_t len, char *sensor, size_t cap, double *moisture) {
    cursor c = {data, data + len};
    int have_sensor = 0, have_moisture = 0;
    skip_space(&c);
    if (c.p >= c.end || *c.p++ != '{') return -1;
    skip_space(&c);
    if (c.p < c.end && *c.p == '}') return -1;
    for (;;) {
        char key[64];
        skip_space(&c);
        if (string(&c, key, sizeof key) != 0) return -1;
        skip_space(&c);
        if (c.p >= c.end || *c.p++ != ':') return -1;
        skip_space(&c);
        if (strcmp(key, "sensor") == 0) {
            if (string(&c, sensor, cap) != 0) return -1;
            have_sensor = 1;
        } else if (strcmp(key, "moisture") == 0) {
            if (c.p < c.end && *c.p == '"') {
                char text[64], *end = NULL;
                if (string(&c, text, sizeof text) != 0) return -1;
                *moisture = strtod(text, &end);
                if (end == text) return -1;
                while (*end == ' ') end++;
                if (*end != '\0') return -1;
            } else if (number(&c, moisture) != 0) {
                return -1;
            }
            have_moisture = 1;
        } else if (skip_value(&c, 1) != 0) {
            return -1;
        }
        skip_space(&c);
        if (c.p >= c.end) return -1;
        if (*c.p == '}') {
            c.p++;
            break;
        }
        if (*c.p++ != ',') return -1;
    }
    skip_space(&c);
    return c.p == c.end && have_sensor && have_moisture ? 0 : -1;
}

void json_quote(const char *text, char *out, size_t cap) {
    size_t n = 0;
    const uint8_t *p = (const uint8_t *)text;
    char esc[16];
    out[n++] = '"';
    while (*p != '\0') {
        unsigned cp = *p;
        size_t extra = cp < 0x80 ? 0 : (cp & 0xE0) == 0xC0 ? 1 : (cp & 0xF0) == 0xE0 ? 2 : 3;
        if (extra > 0) {
            cp &= 0x3Fu >> extra;
            for (size_t k = 1; k <= extra; k++) {
                if (p[k] == '\0') return;
                cp = cp << 6 | (p[k] & 0x3Fu);
            }
        }
        p += extra + 1;
        if (cp == '"') snprintf(esc, sizeof esc, "\\\"");
        else if (cp == '\\') snprintf(esc, sizeof esc, "\\\\");
        else if (cp == '\n') snprintf(esc, sizeof esc, "\\n");
        else if (cp == '\r') snprintf(esc, sizeof esc, "\\r");
        else if (cp == '\t') snprintf(esc, sizeof esc, "\\t");
        else if (cp == '\b') snprintf(esc, sizeof esc, "\\b");
        else if (cp == '\f') snprintf(esc, sizeof esc, "\\f");
        else if (cp < 0x20 || cp > 0x7E) {
            if (cp >= 0x10000) {
                unsigned v = cp - 0x10000;
                snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
            } else {
                snprintf(esc, sizeof esc, "\\u%04x", cp);
            }
        } else {
            esc[0] = (char)cp;
            esc[1] = '\0';
        }
        size_t k = strlen(esc);
        if (n + k + 2 > cap) break;
        memcpy(out + n, esc, k);
        n += k;
    }
    out[n++] = '"';
    out[n] = '\0';
}
