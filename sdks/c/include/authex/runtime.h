/* The module-side protocol core of the C SDK (the equivalent of the Rust SDK's runtime.rs):
 * reads host frames through an ax_io, attests, installs keys, opens deliveries, runs callbacks,
 * seals what they emit and answers calls. No allocation: all buffers are inside ax_runtime,
 * sized by the AUTHEX_MAX_* macros of authex.h. The runner (src/runner.c) is the I/O edge that
 * provides the ax_io over file descriptors; tests provide one over memory. */
#ifndef AUTHEX_RUNTIME_H
#define AUTHEX_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "authex.h"
#include "authex/protocol.h"
#include "authex/wire.h"

#ifndef AUTHEX_MAX_ENDPOINTS
#define AUTHEX_MAX_ENDPOINTS 128
#endif

#define AX_IO_ERROR (-1)
#define AX_IO_TIMEOUT (-2)

/* Exit statuses of a module process. */
enum { AX_EXIT_OK = 0, AX_EXIT_LINK = 1, AX_EXIT_LOAD = 2, AX_EXIT_MALFORMED = 3 };

typedef struct {
    void *self;
    /* Read into buf: > 0 bytes, 0 at end of input, AX_IO_TIMEOUT, or AX_IO_ERROR.
     * timeout_ms < 0 blocks. */
    long (*read)(void *self, uint8_t *buf, size_t cap, int timeout_ms);
    /* Write all of data: 0, or AX_IO_ERROR. */
    int (*write)(void *self, const uint8_t *data, size_t len);
} ax_io;

/* Seals a persistent module's state with the platform: 0, or -1 with err set. */
typedef int (*ax_sealer)(void *self, const uint8_t *state, size_t len, char *err,
                         size_t err_cap);

/* Asks the platform for an SGX quote over 64 bytes of report data. */
typedef int (*ax_quoter)(void *self, const uint8_t report_data[64], uint8_t *out, size_t cap,
                         size_t *out_len, char *err, size_t err_cap);

typedef struct {
    char tee[16];
    uint8_t module_key[AX_KEY_SIZE];
    int has_module_key;
    uint8_t operator_public[32];
    int has_operator;
    ax_quoter quote;
    void *quote_self;
} ax_attester;

typedef struct {
    uint64_t delivered;
    uint64_t rejected;
    uint64_t emitted;
    uint64_t failed; /* callbacks that returned a failure */
} ax_conn_stats;

/* The reserved ends of an update's state transfer (spec/protocol.md section 7.6), never in a
 * manifest: state-out (sender) sends the module's ax_seal data to its new version once keyed,
 * state-in (receiver) takes it. Only persistent modules accept them. */
#define AX_STATE_OUT_ID 0xF001u
#define AX_STATE_IN_ID 0xF002u
/* ax_connection.endpoint of a state-transfer end (its role tells which). */
#define AX_STATE_ENDPOINT ((size_t)-1)

typedef struct {
    int in_use;
    ax_channel channel;
    size_t endpoint; /* index into the endpoint table, or AX_STATE_ENDPOINT */
    uint8_t role;
    ax_conn_stats stats;
} ax_connection;

#define AX_INPUT_CAP ((size_t)AUTHEX_INPUT_FRAMES * (AUTHEX_MAX_PAYLOAD + AX_HEADER_SIZE))
/* The exported state: header, control key and window, every connection, the kept data. */
#define AX_STATE_CAP (64u + 256u + (size_t)AUTHEX_MAX_CONNECTIONS * 48u + AUTHEX_MAX_SEALED)
#define AX_OUTPUT_CAP ((size_t)AUTHEX_MAX_PAYLOAD + AX_HEADER_SIZE)
#define AX_ERROR_TEXT 512

struct ax_ctx {
    const ax_endpoint *endpoints;
    size_t count;
    uint16_t ids[AUTHEX_MAX_ENDPOINTS];
    char name[256];
    char operator_key_hex[65];
    ax_attester attester;
    ax_suite control;
    ax_io io;

    uint8_t control_key[AX_KEY_SIZE];
    int attested;
    ax_window window;
    ax_connection connections[AUTHEX_MAX_CONNECTIONS];
    uint64_t unknown_rejected;
    uint64_t emitted_total; /* HostEmit frames written so far (all connections) */

    /* the callback running now: its kind, or 0 */
    int in_callback;
    size_t reply_len;
    char fail_text[AX_ERROR_TEXT];

    /* persistence (ax_run_with AX_PERSISTENT) */
    int persistent;
    int dirty; /* the state changed since it was last sealed */
    ax_sealer sealer;
    void *sealer_self;
    size_t kept_len;
    int has_kept;
    uint8_t kept[AUTHEX_MAX_SEALED];
    uint8_t state[AX_STATE_CAP];

    /* link state */
    int closed;        /* set with the exit status when the link must close */
    int eof;
    char closed_why[AX_ERROR_TEXT];
    size_t head, tail; /* unread input is in[head..tail) */
    ax_writer out;
    int log_to_stderr; /* 0 in tests that collect the log themselves */
    char last_log[2 * AX_ERROR_TEXT + 8];

    uint8_t in[AX_INPUT_CAP];
    uint8_t out_buf[AX_OUTPUT_CAP];
    uint8_t plain[AUTHEX_MAX_PAYLOAD];
    uint8_t reply[AUTHEX_MAX_PAYLOAD];
    uint8_t response[AUTHEX_MAX_PAYLOAD];
};

typedef struct ax_ctx ax_runtime;

/* "input", "output", "entry", "request" or "handler". */
const char *ax_kind_name(ax_kind kind);
/* Check the endpoint table (names, duplicates, callbacks) and assign ids; 0, or -1 with err. */
int ax_table_check(const ax_endpoint *endpoints, size_t count, uint16_t *ids, char *err,
                   size_t err_cap);
/* The suites of this build, sorted, as the manifest lists them ("a","b"). */
void ax_manifest_suites(char *out, size_t cap);
/* The manifest JSON (canonical: sorted keys, no whitespace); its length, or -1 if cap is short. */
long ax_manifest_json(const ax_endpoint *endpoints, size_t count, const uint16_t *ids,
                      const char *name, const char *operator_key_hex, char *out, size_t cap);

/* Prepare a runtime (it is large: allocate it statically or on the heap, not on the stack). */
int ax_runtime_init(ax_runtime *rt, const ax_endpoint *endpoints, size_t count, const char *name,
                    const char *operator_key_hex, const ax_attester *attester, ax_io io, char *err,
                    size_t err_cap);
/* Send HostReady(name, measurement). */
void ax_runtime_ready(ax_runtime *rt, const uint8_t *measurement, size_t len);
/* Send HostResumed(version): a persistent module announces what it resumed from (0: fresh). */
void ax_runtime_resumed(ax_runtime *rt, uint64_t version);
/* Handle frames until HostStop, end of input or a link failure; returns the exit status. */
int ax_runtime_serve(ax_runtime *rt);
/* Write buffered output frames. */
void ax_runtime_flush(ax_runtime *rt);
/* The connection with that id, or NULL. */
const ax_connection *ax_runtime_connection(const ax_runtime *rt, uint32_t conn_id);
/* Wipe every key. */
void ax_runtime_wipe(ax_runtime *rt);
/* Make the runtime persistent: `sealer` is called with the exported state before any output
 * leaves whenever the state changed. */
void ax_runtime_persist(ax_runtime *rt, ax_sealer sealer, void *self);
/* The state to seal (keys, counters, kept data) in rt->state: its length. Secret. */
size_t ax_runtime_export(ax_runtime *rt);
/* Take back an exported state: 0, or -1 with err set (the runtime is then unchanged). */
int ax_runtime_restore(ax_runtime *rt, const uint8_t *state, size_t len, char *err,
                       size_t err_cap);

#endif
