/* The module-side recipes of spec/crypto.md, without I/O: the event channel (§3), the control
 * channel under the module key (§5), the native key exchange (§6) and the attestation answer of
 * each TEE kind (§10-11). Built on authex/crypto.h; no allocation. */
#ifndef AUTHEX_PROTOCOL_H
#define AUTHEX_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "authex/crypto.h"

#define AX_PROTOCOL_VERSION 1
#define AX_EVENT_AD_SIZE 14
#define AX_CONTROL_TO_MODULE 2
#define AX_CONTROL_FROM_MODULE 3
#define AX_ROLE_SENDER 0
#define AX_ROLE_RECEIVER 1

/* ---- event channel (§3) ----------------------------------------------------------------- */

/* version || conn_id || direction || counter */
void ax_event_ad(uint32_t conn_id, uint8_t direction, uint64_t counter,
                 uint8_t ad[AX_EVENT_AD_SIZE]);

/* Strictly increasing counters with gap counting (§3.2). */
typedef struct {
    uint64_t last;
    uint64_t gaps;
    uint64_t rejected;
} ax_window;

/* 0 if counter is fresh; AX_ERR_FORGED (counted as rejected) if it is not above `last`. */
int ax_window_check(ax_window *w, uint64_t counter);
void ax_window_accept(ax_window *w, uint64_t counter);

/* One end of an event connection: its key, suite and counters. */
typedef struct {
    uint32_t conn_id;
    ax_suite suite;
    uint8_t key[AX_KEY_SIZE];
    uint64_t sent;
    ax_window receive;
} ax_channel;

void ax_channel_init(ax_channel *c, uint32_t conn_id, ax_suite suite, const uint8_t key[16]);
/* Seal the next message (counter = sent + 1) into out; *counter receives it. AX_ERR_ARGUMENT
 * when the counter is exhausted (the connection must be re-keyed) or out is too small. */
int ax_channel_seal_next(ax_channel *c, uint8_t direction, const uint8_t *pt, size_t len,
                         uint8_t *out, size_t cap, size_t *out_len, uint64_t *counter);
/* Seal under a given counter (a handler's reply carries its request's counter). */
int ax_channel_seal_with(const ax_channel *c, uint8_t direction, uint64_t counter,
                         const uint8_t *pt, size_t len, uint8_t *out, size_t cap,
                         size_t *out_len);
/* Open with replay protection: 0, AX_ERR_ARGUMENT for a replayed/stale counter (nothing
 * decrypted), AX_ERR_FORGED when it does not authenticate. */
int ax_channel_open(ax_channel *c, uint8_t direction, uint64_t counter, const uint8_t *sealed,
                    size_t len, uint8_t *out, size_t cap, size_t *out_len);

/* ---- control channel (§5) -------------------------------------------------------------- */

typedef struct {
    uint32_t conn_id;
    uint16_t io_id;
    uint8_t role;
    uint8_t suite;
    uint64_t counter;
} ax_set_key_fields;

int ax_unwrap_key(ax_suite control, const uint8_t module_key[16], const uint8_t *wrapped,
                  size_t len, const ax_set_key_fields *f, uint8_t conn_key[16]);
/* The deployer's side, for tests. */
int ax_wrap_key(ax_suite control, const uint8_t module_key[16], const uint8_t conn_key[16],
                const ax_set_key_fields *f, uint8_t *out, size_t cap, size_t *out_len);

/* swap-key (HostSwapKey): a set-key that also names the connection it replaces; its own AD
 * ("swap-key" || u32 conn_id || u32 replaces || u16 io_id || u8 role || u8 suite || u64 counter,
 * 28 bytes) keeps it apart from a set-key. With conn_id 0 (a retire) the plaintext is empty. */
typedef struct {
    uint32_t conn_id;
    uint32_t replaces;
    uint16_t io_id;
    uint8_t role;
    uint8_t suite;
    uint64_t counter;
} ax_swap_key_fields;

#define AX_SWAP_KEY_AD_SIZE 28

void ax_swap_key_ad(const ax_swap_key_fields *f, uint8_t ad[AX_SWAP_KEY_AD_SIZE]);
/* Open a swap-key: *key_len receives the plaintext's length (16 for a key, 0 for a retire; any
 * other length is left for the caller to refuse), conn_key the key when it is 16 bytes.
 * AX_ERR_FORGED if it does not authenticate, AX_ERR_ARGUMENT for counter 0 or 2^64-1. */
int ax_unwrap_swap_key(ax_suite control, const uint8_t module_key[16], const uint8_t *wrapped,
                       size_t len, const ax_swap_key_fields *f, uint8_t conn_key[16],
                       size_t *key_len);
/* The deployer's side, for tests: conn_key is 16 bytes, or NULL for a retire (empty). */
int ax_wrap_swap_key(ax_suite control, const uint8_t module_key[16], const uint8_t *conn_key,
                     const ax_swap_key_fields *f, uint8_t *out, size_t cap, size_t *out_len);
int ax_open_call(ax_suite control, const uint8_t module_key[16], uint16_t entry_id,
                 uint64_t counter, const uint8_t *sealed, size_t len, uint8_t *out, size_t cap,
                 size_t *out_len);
int ax_seal_call(ax_suite control, const uint8_t module_key[16], uint16_t entry_id,
                 uint64_t counter, const uint8_t *arg, size_t len, uint8_t *out, size_t cap,
                 size_t *out_len);
int ax_seal_result(ax_suite control, const uint8_t module_key[16], uint16_t entry_id,
                   uint64_t counter, uint8_t status, const uint8_t *result, size_t len,
                   uint8_t *out, size_t cap, size_t *out_len);
int ax_open_result(ax_suite control, const uint8_t module_key[16], uint16_t entry_id,
                   uint64_t counter, uint8_t status, const uint8_t *sealed, size_t len,
                   uint8_t *out, size_t cap, size_t *out_len);

/* ---- native exchange (§6) ---------------------------------------------------------------- */

#define AX_NATIVE_NONCE_SIZE 16
#define AX_NATIVE_CHALLENGE_SIZE (16 + 32 + 64)
#define AX_NATIVE_EVIDENCE_SIZE (32 + 16)

/* Answer the deployer's challenge with a given ephemeral X25519 private key: evidence is the
 * module's public key and a confirmation tag; key receives K_m. err gets a reason on failure. */
int ax_native_respond(const char *name, const uint8_t operator_public[32],
                      const uint8_t *challenge, size_t len, const uint8_t ephemeral[32],
                      uint8_t evidence[AX_NATIVE_EVIDENCE_SIZE], uint8_t key[16], char *err,
                      size_t err_cap);

/* ---- attestation per TEE (§10-11) --------------------------------------------------------- */

#define AX_MODULE_NONCE_SIZE 16
#define AX_MIN_CHALLENGE 16
#define AX_MAX_CHALLENGE 64

/* Sancus: evidence = MAC(K_m, challenge) || nonce; K_ctl = MAC(K_m, "authex-session" ||
 * challenge || nonce). Challenge 16..64 bytes, even. */
int ax_sancus_answer(const uint8_t module_key[16], const uint8_t *challenge, size_t len,
                     const uint8_t nonce[16], uint8_t evidence[32], uint8_t control_key[16],
                     char *err, size_t err_cap);
/* TrustZone: evidence = HMAC-SHA256(K_m, "authex-tz-attest-v1" || challenge)[:16] || nonce;
 * K_ctl = HKDF-SHA256(K_m, info "authex control session v1" || challenge || nonce)[:16]. */
int ax_trustzone_answer(const uint8_t module_key[16], const uint8_t *challenge, size_t len,
                        const uint8_t nonce[16], uint8_t evidence[32], uint8_t control_key[16],
                        char *err, size_t err_cap);
/* SGX report data: SHA-256(module X25519 public || nonce) || 32 zero bytes. */
int ax_sgx_report_data(const uint8_t module_public[32], const uint8_t nonce[16],
                       uint8_t report_data[64]);
/* The control suite of a TEE kind ("native", "sgx", "trustzone", "sancus"); 0 if unknown. */
ax_suite ax_control_suite(const char *tee);

#endif
