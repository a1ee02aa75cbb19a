/* Portable helpers of the crypto layer (include/authex/crypto.h): constant-time comparison,
 * wiping that the compiler keeps, and the operating system's CSPRNG (getrandom(2) where the
 * C library has it, else /dev/urandom; AX_ERR_UNAVAILABLE on a platform with neither). */
#include "authex/crypto.h"

#include <errno.h>
#include <string.h>

#if defined(__linux__) && defined(__has_include)
#if __has_include(<sys/random.h>)
#include <sys/random.h>
#define AX_HAVE_GETRANDOM 1
#endif
#endif

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <unistd.h>
#define AX_HAVE_URANDOM 1
#endif

int ax_ct_equal(const uint8_t *a, const uint8_t *b, size_t n) {
    const volatile uint8_t *x = a;
    const volatile uint8_t *y = b;
    volatile uint8_t diff = 0;
    for (size_t i = 0; i < n; i++) {
        diff = (uint8_t)(diff | (x[i] ^ y[i]));
    }
    /* 1 when diff == 0, without a data-dependent branch */
    return (int)(1u & (((unsigned)diff - 1u) >> 8));
}

void ax_wipe(void *p, size_t n) {
    volatile uint8_t *bytes = (volatile uint8_t *)p;
    for (size_t i = 0; i < n; i++) {
        bytes[i] = 0;
    }
#if defined(__GNUC__) || defined(__clang__)
    /* a compiler barrier: the stores above are visible to "someone" */
    __asm__ __volatile__("" : : "r"(p) : "memory");
#endif
}

#if defined(AX_HAVE_URANDOM)
static int urandom_fill(uint8_t *out, size_t n) {
    int fd;
    do {
        fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return AX_ERR_UNAVAILABLE;
    size_t got = 0;
    while (got < n) {
        size_t want = n - got > 65536u ? 65536u : n - got;
        ssize_t r = read(fd, out + got, want);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            close(fd);
            return AX_ERR_INTERNAL;
        }
        got += (size_t)r;
    }
    close(fd);
    return AX_OK;
}
#endif

int ax_random(uint8_t *out, size_t n) {
    if (n == 0) return AX_OK;
    if (out == NULL) return AX_ERR_ARGUMENT;
#if defined(AX_HAVE_GETRANDOM)
    size_t got = 0;
    while (got < n) {
        size_t want = n - got > 65536u ? 65536u : n - got;
        ssize_t r = getrandom(out + got, want, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == ENOSYS && got == 0) break; /* old kernel: fall back */
            return AX_ERR_INTERNAL;
        }
        got += (size_t)r;
    }
    if (got == n) return AX_OK;
#endif
#if defined(AX_HAVE_URANDOM)
    return urandom_fill(out, n);
#else
    return AX_ERR_UNAVAILABLE;
#endif
}
