/* A minimal test framework for the C SDK: CHECK* macros count passes and failures; the runner
 * (tests/main.c) ends with the line "N passed, N failed". No allocation, no global state apart
 * from the two counters and the name of the running test. */
#ifndef AUTHEX_TESTS_CHECK_H
#define AUTHEX_TESTS_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern unsigned long check_passed;
extern unsigned long check_failed;
extern const char *check_current;

/* Start a named test case (shown with every failure inside it). */
#define TEST(name) (check_current = (name))

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (cond) {                                                                        \
            check_passed++;                                                                \
        } else {                                                                           \
            check_failed++;                                                                \
            fprintf(stderr, "FAIL %s:%d [%s]: %s\n", __FILE__, __LINE__, check_current,     \
                    #cond);                                                                \
        }                                                                                  \
    } while (0)

#define CHECK_MEM(a, b, n)                                                                 \
    do {                                                                                   \
        if (memcmp((a), (b), (n)) == 0) {                                                  \
            check_passed++;                                                                \
        } else {                                                                           \
            check_failed++;                                                                \
            fprintf(stderr, "FAIL %s:%d [%s]: %s != %s (%zu bytes)\n", __FILE__, __LINE__,  \
                    check_current, #a, #b, (size_t)(n));                                   \
        }                                                                                  \
    } while (0)

/* Hex helpers for vectors: returns the number of bytes written, or -1 on bad hex/overflow. */
long check_unhex(const char *hex, uint8_t *out, size_t cap);

/* Read a whole file into a buffer from malloc (tests only); NULL on failure. */
char *check_read_file(const char *path, size_t *size);

/* The directory of spec/vectors (from the AUTHEX_VECTORS environment variable). */
const char *check_vectors_dir(void);

#endif

/* Flattened JSON vectors (tests/flatten_vectors.py writes build/vectors/NAME.txt). */
typedef struct {
    char *text;
    size_t size;
} vecfile;

/* Load build/vectors/NAME.txt (NAME without .txt); 0 on success, and a CHECK failure if not. */
int vec_load(vecfile *v, const char *name);
void vec_free(vecfile *v);
/* The value at a path built with printf formatting ("vectors.%d.key"), or NULL. The returned
 * pointer is into a static buffer, valid until the next vec_get. */
const char *vec_get(const vecfile *v, const char *fmt, ...);
/* The value at a path as hex bytes: the length, or -1 if absent or not hex. */
long vec_hex(const vecfile *v, uint8_t *out, size_t cap, const char *fmt, ...);
/* The value at a path as an unsigned integer; `fallback` if absent. */
unsigned long long vec_num(const vecfile *v, unsigned long long fallback, const char *fmt, ...);
/* Number of elements of the array at a path (0 if absent). */
int vec_count(const vecfile *v, const char *fmt, ...);

/* Sign with an Ed25519 private key through OpenSSL (tests only: a module never signs). */
void check_ed25519_sign(const uint8_t priv[32], const uint8_t *msg, size_t len, uint8_t sig[64]);
