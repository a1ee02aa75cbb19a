/* Reads the flattened vectors written by tests/flatten_vectors.py (see check.h). */
#include <stdarg.h>
#include <stdlib.h>

#include "check.h"

int vec_load(vecfile *v, const char *name) {
    char path[512];
    const char *dir = getenv("AUTHEX_FLAT_VECTORS");
    snprintf(path, sizeof path, "%s/%s.txt", dir != NULL ? dir : "build/vectors", name);
    v->text = check_read_file(path, &v->size);
    if (v->text == NULL) {
        check_failed++;
        fprintf(stderr, "FAIL: cannot read vectors %s (run through the Makefile)\n", path);
        return -1;
    }
    return 0;
}

void vec_free(vecfile *v) {
    free(v->text);
    v->text = NULL;
}

static const char *lookup(const vecfile *v, const char *path) {
    static char value[1 << 16];
    size_t n = strlen(path);
    const char *p = v->text;
    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, '\n');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len > n && strncmp(p, path, n) == 0 && p[n] == '\t') {
            size_t vlen = len - n - 1;
            if (vlen >= sizeof value) return NULL;
            memcpy(value, p + n + 1, vlen);
            value[vlen] = '\0';
            return value;
        }
        p = end != NULL ? end + 1 : NULL;
    }
    return NULL;
}

static const char *vlookup(const vecfile *v, const char *fmt, va_list ap) {
    char path[256];
    vsnprintf(path, sizeof path, fmt, ap);
    return lookup(v, path);
}

const char *vec_get(const vecfile *v, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    const char *out = vlookup(v, fmt, ap);
    va_end(ap);
    return out;
}

long vec_hex(const vecfile *v, uint8_t *out, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    const char *text = vlookup(v, fmt, ap);
    va_end(ap);
    return text == NULL ? -1 : check_unhex(text, out, cap);
}

unsigned long long vec_num(const vecfile *v, unsigned long long fallback, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    const char *text = vlookup(v, fmt, ap);
    va_end(ap);
    return text == NULL || *text == '\0' ? fallback : strtoull(text, NULL, 10);
}

int vec_count(const vecfile *v, const char *fmt, ...) {
    char path[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    strncat(path, ".#", sizeof path - strlen(path) - 1);
    const char *text = lookup(v, path);
    return text == NULL ? 0 : atoi(text);
}
