/* authex module SDK for C (C11).
 *
 * A module is a table of endpoints and plain C functions; this SDK is the trusted runtime that
 * speaks the host protocol to the node agent, attests (native, SGX, Sancus, TrustZone),
 * installs connection keys, seals and opens events, and runs the callbacks. It is
 * byte-compatible with the Python and Rust SDKs (spec/protocol.md, spec/crypto.md).
 *
 *     #include <authex.h>
 *
 *     static int on_reading(ax_ctx *ctx, const uint8_t *data, size_t len) {
 *         return ax_emit(ctx, "alert", data, len) < 0 ? AX_FAILED : 0;
 *     }
 *     static int hello(ax_ctx *ctx, const uint8_t *arg, size_t len) {
 *         return ax_reply(ctx, arg, len);
 *     }
 *     AUTHEX_MODULE(
 *         AUTHEX_OUTPUT("alert"),
 *         AUTHEX_INPUT("reading", on_reading),
 *         AUTHEX_PUBLIC_ENTRY("hello", hello)
 *     )
 *
 * Memory: no allocation on the event path. Buffers and the connection table are static, sized
 * at build time by the AUTHEX_MAX_* macros below (define them with -D to change them). The only
 * allocation is the platform's identity message, read once at start-up.
 *
 * See docs/sdk-c.md for the guide, the build contract and porting notes. */
#ifndef AUTHEX_H
#define AUTHEX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest payload of a host-link frame this build accepts (the protocol's limit is 1 MiB). */
#ifndef AUTHEX_MAX_PAYLOAD
#define AUTHEX_MAX_PAYLOAD (1u << 20)
#endif
/* Connections (keys) the module can hold at once. */
#ifndef AUTHEX_MAX_CONNECTIONS
#define AUTHEX_MAX_CONNECTIONS 32
#endif
/* Frames read while a callback waits for a response are kept, unparsed, in the input buffer;
 * its size is AUTHEX_INPUT_FRAMES whole frames of the largest size. */
#ifndef AUTHEX_INPUT_FRAMES
#define AUTHEX_INPUT_FRAMES 2
#endif
/* Most bytes a persistent module may keep with ax_seal. */
#ifndef AUTHEX_MAX_SEALED
#define AUTHEX_MAX_SEALED 4096u
#endif
/* Default deadline of ax_request, in milliseconds. */
#ifndef AUTHEX_REQUEST_TIMEOUT_MS
#define AUTHEX_REQUEST_TIMEOUT_MS 10000u
#endif

/* Largest event, request or response plaintext: a sealed message travels in a HostEmit (17
 * bytes of fields) with a 16-byte tag, and spongewrap-128 adds up to 2 bytes. */
#define AX_MAX_EVENT_PAYLOAD (AUTHEX_MAX_PAYLOAD - 17u - 16u - 2u)
/* Largest entry result (HostCallResult has 5 bytes of fields, the result maybe a tag). */
#define AX_MAX_RESULT_PAYLOAD (AUTHEX_MAX_PAYLOAD - 5u - 16u - 2u)

/* What a callback returns: 0 for success, AX_FAILED (or any negative value) for failure. */
#define AX_FAILED (-1)

/* Errors of ax_emit / ax_request / ax_reply (negative). */
enum {
    AX_E_UNDECLARED = -10,    /* not declared as an output / request by this module */
    AX_E_TOO_LARGE = -11,     /* payload exceeds AX_MAX_EVENT_PAYLOAD or the caller's buffer */
    AX_E_NOT_CONNECTED = -12, /* the request is not connected to any handler */
    AX_E_TIMEOUT = -13,       /* no response before the deadline */
    AX_E_CLOSED = -14,        /* the host link closed, or the input buffer is full */
    AX_E_CRYPTO = -15,        /* sealing failed (counter exhausted: the connection is re-keyed) */
    AX_E_STATE = -16          /* called outside a callback, or reply() from an input */
};

typedef struct ax_ctx ax_ctx;

/* Every callback: the data of the event, request or call. The bytes are valid until it returns. */
typedef int (*ax_callback)(ax_ctx *ctx, const uint8_t *data, size_t len);

typedef enum {
    AX_KIND_INPUT = 1,
    AX_KIND_OUTPUT = 2,
    AX_KIND_ENTRY = 3,
    AX_KIND_REQUEST = 4,
    AX_KIND_HANDLER = 5
} ax_kind;

typedef struct {
    ax_kind kind;
    const char *name;      /* letters, digits, '_', '-'; starts with a letter or '_'; <= 64 */
    ax_callback callback;  /* inputs, entries and handlers; NULL for outputs and requests */
    int is_public;         /* entries only: may be called unauthenticated */
} ax_endpoint;

#define AUTHEX_OUTPUT(name) {AX_KIND_OUTPUT, (name), 0, 0}
#define AUTHEX_REQUEST(name) {AX_KIND_REQUEST, (name), 0, 0}
#define AUTHEX_INPUT(name, fn) {AX_KIND_INPUT, (name), (fn), 0}
#define AUTHEX_ENTRY(name, fn) {AX_KIND_ENTRY, (name), (fn), 0}
#define AUTHEX_PUBLIC_ENTRY(name, fn) {AX_KIND_ENTRY, (name), (fn), 1}
#define AUTHEX_HANDLER(name, fn) {AX_KIND_HANDLER, (name), (fn), 0}

/* The endpoint table of this module, and its main(): the runner. */
#define AUTHEX_MODULE(...)                                                                     \
    static const ax_endpoint authex_endpoints_[] = {__VA_ARGS__};                              \
    int main(int argc, char **argv) {                                                          \
        return ax_run(authex_endpoints_, sizeof authex_endpoints_ / sizeof authex_endpoints_[0], \
                      argc, argv);                                                             \
    }

/* The same for a persistent module: its platform seals its keys, counters and the data it
 * keeps with ax_seal before anything it produces leaves it, and a restarted module resumes
 * from them (spec/protocol.md section 7.5). */
#define AUTHEX_PERSISTENT_MODULE(...)                                                          \
    static const ax_endpoint authex_endpoints_[] = {__VA_ARGS__};                              \
    int main(int argc, char **argv) {                                                          \
        return ax_run_with(authex_endpoints_,                                                  \
                           sizeof authex_endpoints_ / sizeof authex_endpoints_[0], AX_PERSISTENT, \
                           argc, argv);                                                        \
    }

/* The endpoint table only; call ax_run(...) from your own main. */
#define AUTHEX_MODULE_NO_MAIN(table, ...) static const ax_endpoint table[] = {__VA_ARGS__};

/* Options of ax_run_with. */
#define AX_PERSISTENT 1u

/* Run as a module process (MODULE --manifest NAME [KEY] | MODULE --name NAME [--platform-fd N]);
 * returns the exit status: 0 stopped, 1 host link broke, 2 load/usage error, 3 malformed input. */
int ax_run(const ax_endpoint *endpoints, size_t count, int argc, char **argv);
int ax_run_with(const ax_endpoint *endpoints, size_t count, unsigned options, int argc,
                char **argv);

/* ---- inside a callback ------------------------------------------------------------------- */

/* Send `data` on every connection from `output`: the number of connections, or an AX_E_*. */
int ax_emit(ax_ctx *ctx, const char *output, const void *data, size_t len);
/* Send `data` on `request` and wait (AUTHEX_REQUEST_TIMEOUT_MS) for the handler's reply, copied
 * into out (capacity cap): its length, or an AX_E_*. Frames arriving meanwhile are kept and
 * handled after the callback returns; callbacks are never re-entered. */
long ax_request(ax_ctx *ctx, const char *request, const void *data, size_t len, uint8_t *out,
                size_t cap);
long ax_request_timeout(ax_ctx *ctx, const char *request, const void *data, size_t len,
                        uint8_t *out, size_t cap, unsigned timeout_ms);
/* The result of an entry or the reply of a handler (copied; the last call wins). 0 or AX_E_*. */
int ax_reply(ax_ctx *ctx, const void *data, size_t len);
int ax_reply_str(ax_ctx *ctx, const char *text);
/* Fail the callback with a message (for an entry, the caller receives it): returns AX_FAILED. */
int ax_fail(ax_ctx *ctx, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* One line on stderr, prefixed with the module name (never the host link). */
void ax_log(ax_ctx *ctx, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Persistent modules: keep `data` (at most AUTHEX_MAX_SEALED bytes) as the module's own sealed
 * state; it is sealed with the keys and counters before the module's next output leaves it.
 * 0, AX_E_TOO_LARGE, or AX_E_STATE in a module that is not persistent. */
int ax_seal(ax_ctx *ctx, const void *data, size_t len);
/* The data last given to ax_seal (restored after a restart), copied into out: its length, 0 if
 * there is none, AX_E_TOO_LARGE if cap is short, AX_E_STATE if the module is not persistent. */
long ax_unseal(ax_ctx *ctx, uint8_t *out, size_t cap);
/* The name this module was deployed under. */
const char *ax_name(const ax_ctx *ctx);
/* A short text for an AX_E_* code. */
const char *ax_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif
