/* The endpoint table's checks, stable ids and the manifest JSON, byte-identical to the Python
 * SDK's Manifest.to_json() (sorted keys, no whitespace, non-ASCII escaped as json.dumps does).
 *
 * Ids are a function of the declared names only: id = KIND_CODE << 12 | n, where n = 1, 2, ...
 * numbers the names of one kind sorted by code point (byte order of UTF-8). */
#include <stdio.h>
#include <string.h>

#include "authex/crypto.h"
#include "authex/runtime.h"

#define MANIFEST_FORMAT 1
#define MAX_PER_KIND 0xFFF

const char *ax_kind_name(ax_kind kind) {
    static const char *const names[] = {"?", "input", "output", "entry", "request", "handler"};
    return (unsigned)kind <= 5 ? names[kind] : "?";
}

static int valid_name(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > 64) return 0;
    char c = name[0];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')) return 0;
    for (size_t i = 0; i < n; i++) {
        c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

int ax_table_check(const ax_endpoint *endpoints, size_t count, uint16_t *ids, char *err,
                   size_t err_cap) {
    if (count > AUTHEX_MAX_ENDPOINTS) {
        snprintf(err, err_cap, "%zu endpoints exceed AUTHEX_MAX_ENDPOINTS (%d)", count,
                 AUTHEX_MAX_ENDPOINTS);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        const ax_endpoint *e = &endpoints[i];
        if (e->kind < AX_KIND_INPUT || e->kind > AX_KIND_HANDLER) {
            snprintf(err, err_cap, "endpoint %zu has an unknown kind %d", i, (int)e->kind);
            return -1;
        }
        if (e->name == NULL || !valid_name(e->name)) {
            snprintf(err, err_cap,
                     "%s name \"%s\" is invalid: use letters, digits, '_' and '-', starting "
                     "with a letter or '_', at most 64 characters",
                     ax_kind_name(e->kind), e->name == NULL ? "(null)" : e->name);
            return -1;
        }
        int needs = e->kind == AX_KIND_INPUT || e->kind == AX_KIND_ENTRY ||
                    e->kind == AX_KIND_HANDLER;
        if (needs && e->callback == NULL) {
            snprintf(err, err_cap, "%s \"%s\" has no function", ax_kind_name(e->kind), e->name);
            return -1;
        }
        if (!needs && e->callback != NULL) {
            snprintf(err, err_cap, "%s \"%s\" takes no function", ax_kind_name(e->kind), e->name);
            return -1;
        }
        if (e->is_public && e->kind != AX_KIND_ENTRY) {
            snprintf(err, err_cap, "%s \"%s\": only entries can be public", ax_kind_name(e->kind),
                     e->name);
            return -1;
        }
        size_t rank = 1, same_kind = 0;
        for (size_t j = 0; j < count; j++) {
            if (endpoints[j].kind != e->kind || endpoints[j].name == NULL) continue;
            same_kind++;
            int order = strcmp(endpoints[j].name, e->name);
            if (order == 0 && j != i) {
                snprintf(err, err_cap, "%s \"%s\" is declared twice", ax_kind_name(e->kind), e->name);
                return -1;
            }
            if (order < 0) rank++;
        }
        if (same_kind > MAX_PER_KIND) {
            snprintf(err, err_cap, "more than %d %ss declared", MAX_PER_KIND, ax_kind_name(e->kind));
            return -1;
        }
        ids[i] = (uint16_t)((unsigned)e->kind << 12 | rank);
    }
    return 0;
}

void ax_manifest_suites(char *out, size_t cap) {
    /* sorted by name, as the manifest lists them */
    static const ax_suite sorted[] = {AX_SUITE_AES_GCM_128, AX_SUITE_ASCON_AEAD128,
                                      AX_SUITE_SPONGEWRAP_128};
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof sorted / sizeof sorted[0]; i++) {
        if (!ax_suite_available(sorted[i])) continue;
        int w = snprintf(out + n, cap - n, "%s\"%s\"", n > 0 ? "," : "", ax_suite_name(sorted[i]));
        if (w < 0 || (size_t)w >= cap - n) return;
        n += (size_t)w;
    }
}

typedef struct {
    char *out;
    size_t cap;
    size_t len;
    int overflow;
} sink;

static void put(sink *s, const char *text, size_t n) {
    if (s->overflow || s->cap - s->len <= n) {
        s->overflow = 1;
        return;
    }
    memcpy(s->out + s->len, text, n);
    s->len += n;
    s->out[s->len] = '\0';
}

static void puts_(sink *s, const char *text) { put(s, text, strlen(text)); }

/* A JSON string as Python's json.dumps writes it (ensure_ascii). */
static void put_json_string(sink *s, const char *text) {
    char esc[16];
    const uint8_t *p = (const uint8_t *)text;
    size_t n = strlen(text), i = 0;
    put(s, "\"", 1);
    while (i < n) {
        uint8_t c = p[i];
        uint32_t cp = c;
        size_t extra = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : 3;
        if (extra > 0) {
            if (i + extra >= n) break; /* truncated UTF-8: stop */
            cp = c & (0x3Fu >> extra);
            for (size_t k = 1; k <= extra; k++) cp = cp << 6 | (p[i + k] & 0x3Fu);
        }
        i += extra + 1;
        if (cp == '"') puts_(s, "\\\"");
        else if (cp == '\\') puts_(s, "\\\\");
        else if (cp == '\n') puts_(s, "\\n");
        else if (cp == '\r') puts_(s, "\\r");
        else if (cp == '\t') puts_(s, "\\t");
        else if (cp == 0x08) puts_(s, "\\b");
        else if (cp == 0x0C) puts_(s, "\\f");
        else if (cp < 0x20 || cp > 0x7E) {
            if (cp >= 0x10000) {
                uint32_t v = cp - 0x10000;
                snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xD800u + (v >> 10),
                         0xDC00u + (v & 0x3FFu));
            } else {
                snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
            }
            puts_(s, esc);
        } else {
            char one = (char)cp;
            put(s, &one, 1);
        }
    }
    put(s, "\"", 1);
}

long ax_manifest_json(const ax_endpoint *endpoints, size_t count, const uint16_t *ids,
                      const char *name, const char *operator_key_hex, char *out, size_t cap) {
    sink s = {out, cap, 0, 0};
    char num[32], suites[128];
    puts_(&s, "{\"endpoints\":[");
    int first = 1;
    /* in id order: by kind, then by name */
    for (unsigned kind = AX_KIND_INPUT; kind <= AX_KIND_HANDLER; kind++) {
        for (unsigned rank = 1; rank <= count; rank++) {
            for (size_t i = 0; i < count; i++) {
                if ((unsigned)endpoints[i].kind != kind || (ids[i] & 0xFFFu) != rank) continue;
                if (!first) puts_(&s, ",");
                first = 0;
                snprintf(num, sizeof num, "%u", (unsigned)ids[i]);
                puts_(&s, "{\"id\":");
                puts_(&s, num);
                puts_(&s, ",\"kind\":");
                put_json_string(&s, ax_kind_name(endpoints[i].kind));
                puts_(&s, ",\"name\":");
                put_json_string(&s, endpoints[i].name);
                puts_(&s, ",\"public\":");
                puts_(&s, endpoints[i].is_public ? "true}" : "false}");
            }
        }
    }
    snprintf(num, sizeof num, "%d", MANIFEST_FORMAT);
    puts_(&s, "],\"format\":");
    puts_(&s, num);
    puts_(&s, ",\"language\":\"c\",\"name\":");
    put_json_string(&s, name);
    puts_(&s, ",\"operator_key\":");
    put_json_string(&s, operator_key_hex);
    ax_manifest_suites(suites, sizeof suites);
    puts_(&s, ",\"suites\":[");
    puts_(&s, suites);
    puts_(&s, "]}");
    return s.overflow ? -1 : (long)s.len;
}
