/* Event channel, control channel, native exchange and attestation answers (spec/crypto.md
 * §3, §5, §6, §10-11), module side; see authex/protocol.h. */
#include "authex/protocol.h"

#include <stdio.h>
#include <string.h>

#include "authex/wire.h"

#define MAX_COUNTER UINT64_MAX

void ax_event_ad(uint32_t conn_id, uint8_t direction, uint64_t counter,
                 uint8_t ad[AX_EVENT_AD_SIZE]) {
    ad[0] = AX_PROTOCOL_VERSION;
    ax_store_be32(ad + 1, conn_id);
    ad[5] = direction;
    ax_store_be64(ad + 6, counter);
}

int ax_window_check(ax_window *w, uint64_t counter) {
    if (counter <= w->last) {
        w->rejected++;
        return AX_ERR_FORGED;
    }
    return AX_OK;
}

void ax_window_accept(ax_window *w, uint64_t counter) {
    w->gaps += counter - w->last - 1;
    w->last = counter;
}

void ax_channel_init(ax_channel *c, uint32_t conn_id, ax_suite suite, const uint8_t key[16]) {
    memset(c, 0, sizeof *c);
    c->conn_id = conn_id;
    c->suite = suite;
    memcpy(c->key, key, AX_KEY_SIZE);
}

int ax_channel_seal_with(const ax_channel *c, uint8_t direction, uint64_t counter,
                         const uint8_t *pt, size_t len, uint8_t *out, size_t cap,
                         size_t *out_len) {
    if (counter == 0 || counter == MAX_COUNTER) return AX_ERR_ARGUMENT;
    uint8_t ad[AX_EVENT_AD_SIZE];
    ax_event_ad(c->conn_id, direction, counter, ad);
    return ax_suite_seal(c->suite, c->key, direction, counter, ad, sizeof ad, pt, len, out, cap,
                         out_len);
}

int ax_channel_seal_next(ax_channel *c, uint8_t direction, const uint8_t *pt, size_t len,
                         uint8_t *out, size_t cap, size_t *out_len, uint64_t *counter) {
    if (c->sent >= MAX_COUNTER - 1) return AX_ERR_ARGUMENT;
    int rc = ax_channel_seal_with(c, direction, c->sent + 1, pt, len, out, cap, out_len);
    if (rc != AX_OK) return rc;
    c->sent++;
    *counter = c->sent;
    return AX_OK;
}

int ax_channel_open(ax_channel *c, uint8_t direction, uint64_t counter, const uint8_t *sealed,
                    size_t len, uint8_t *out, size_t cap, size_t *out_len) {
    if (ax_window_check(&c->receive, counter) != AX_OK) return AX_ERR_ARGUMENT;
    uint8_t ad[AX_EVENT_AD_SIZE];
    ax_event_ad(c->conn_id, direction, counter, ad);
    int rc = ax_suite_open(c->suite, c->key, direction, counter, ad, sizeof ad, sealed, len, out,
                           cap, out_len);
    if (rc != AX_OK) {
        c->receive.rejected++;
        return AX_ERR_FORGED;
    }
    ax_window_accept(&c->receive, counter);
    return AX_OK;
}

/* ---- control ----------------------------------------------------------------------------- */

static size_t set_key_ad(const ax_set_key_fields *f, uint8_t ad[32]) {
    memcpy(ad, "set-key", 7);
    ax_store_be32(ad + 7, f->conn_id);
    ax_store_be16(ad + 11, f->io_id);
    ad[13] = f->role;
    ad[14] = f->suite;
    ax_store_be64(ad + 15, f->counter);
    return 23;
}

void ax_swap_key_ad(const ax_swap_key_fields *f, uint8_t ad[AX_SWAP_KEY_AD_SIZE]) {
    memcpy(ad, "swap-key", 8);
    ax_store_be32(ad + 8, f->conn_id);
    ax_store_be32(ad + 12, f->replaces);
    ax_store_be16(ad + 16, f->io_id);
    ad[18] = f->role;
    ad[19] = f->suite;
    ax_store_be64(ad + 20, f->counter);
}

static size_t call_ad(uint16_t entry_id, uint64_t counter, uint8_t ad[32]) {
    memcpy(ad, "call", 4);
    ax_store_be16(ad + 4, entry_id);
    ax_store_be64(ad + 6, counter);
    return 14;
}

static size_t result_ad(uint16_t entry_id, uint64_t counter, uint8_t status, uint8_t ad[32]) {
    memcpy(ad, "call-result", 11);
    ax_store_be16(ad + 11, entry_id);
    ax_store_be64(ad + 13, counter);
    ad[21] = status;
    return 22;
}

static int counter_ok(uint64_t counter) { return counter != 0 && counter != MAX_COUNTER; }

int ax_wrap_key(ax_suite control, const uint8_t module_key[16], const uint8_t conn_key[16],
                const ax_set_key_fields *f, uint8_t *out, size_t cap, size_t *out_len) {
    if (!counter_ok(f->counter)) return AX_ERR_ARGUMENT;
    uint8_t ad[32];
    size_t n = set_key_ad(f, ad);
    return ax_suite_seal(control, module_key, AX_CONTROL_TO_MODULE, f->counter, ad, n, conn_key,
                         AX_KEY_SIZE, out, cap, out_len);
}

/* Open a wrapped key under one of the key ADs: *got receives the plaintext's length, conn_key
 * the plaintext when it is 16 bytes. */
static int open_key(ax_suite control, const uint8_t module_key[16], const uint8_t *ad,
                    size_t ad_len, uint64_t counter, const uint8_t *wrapped, size_t len,
                    uint8_t conn_key[16], size_t *got) {
    *got = 0;
    if (!counter_ok(counter)) return AX_ERR_ARGUMENT;
    uint8_t plain[64];
    if (len > sizeof plain) return AX_ERR_FORGED;
    int rc = ax_suite_open(control, module_key, AX_CONTROL_TO_MODULE, counter, ad, ad_len,
                           wrapped, len, plain, sizeof plain, got);
    if (rc == AX_OK && *got == AX_KEY_SIZE) memcpy(conn_key, plain, AX_KEY_SIZE);
    ax_wipe(plain, sizeof plain);
    return rc;
}

int ax_unwrap_key(ax_suite control, const uint8_t module_key[16], const uint8_t *wrapped,
                  size_t len, const ax_set_key_fields *f, uint8_t conn_key[16]) {
    uint8_t ad[32];
    size_t n = set_key_ad(f, ad), got;
    int rc = open_key(control, module_key, ad, n, f->counter, wrapped, len, conn_key, &got);
    return rc == AX_OK && got != AX_KEY_SIZE ? AX_ERR_ARGUMENT : rc;
}

int ax_wrap_swap_key(ax_suite control, const uint8_t module_key[16], const uint8_t *conn_key,
                     const ax_swap_key_fields *f, uint8_t *out, size_t cap, size_t *out_len) {
    if (!counter_ok(f->counter)) return AX_ERR_ARGUMENT;
    uint8_t ad[AX_SWAP_KEY_AD_SIZE];
    ax_swap_key_ad(f, ad);
    return ax_suite_seal(control, module_key, AX_CONTROL_TO_MODULE, f->counter, ad, sizeof ad,
                         conn_key, conn_key != NULL ? AX_KEY_SIZE : 0, out, cap, out_len);
}

int ax_unwrap_swap_key(ax_suite control, const uint8_t module_key[16], const uint8_t *wrapped,
                       size_t len, const ax_swap_key_fields *f, uint8_t conn_key[16],
                       size_t *key_len) {
    uint8_t ad[AX_SWAP_KEY_AD_SIZE];
    ax_swap_key_ad(f, ad);
    return open_key(control, module_key, ad, sizeof ad, f->counter, wrapped, len, conn_key,
                    key_len);
}

int ax_seal_call(ax_suite control, const uint8_t module_key[16], uint16_t entry_id,
                 uint64_t counter, const uint8_t *arg, size_t len, uint8_t *out, size_t cap,
                 size_t *out_len) {
    if (!counter_ok(counter)) return AX_ERR_ARGUMENT;
    uint8_t ad[32];
    size_t n = call_ad(entry_id, counter, ad);
    return ax_suite_seal(control, module_key, AX_CONTROL_TO_MODULE, counter, ad, n, arg, len, out,
                         cap, out_len);
}

int ax_open_call(ax_suite control, const uint8_t module_key[16], uint16_t entry_id,
                 uint64_t counter, const uint8_t *sealed, size_t len, uint8_t *out, size_t cap,
                 size_t *out_len) {
    if (!counter_ok(counter)) return AX_ERR_ARGUMENT;
    uint8_t ad[32];
    size_t n = call_ad(entry_id, counter, ad);
    return ax_suite_open(control, module_key, AX_CONTROL_TO_MODULE, counter, ad, n, sealed, len,
                         out, cap, out_len);
}

int ax_seal_result(ax_suite control, const uint8_t module_key[16], uint16_t entry_id,
                   uint64_t counter, uint8_t status, const uint8_t *result, size_t len,
                   uint8_t *out, size_t cap, size_t *out_len) {
    if (!counter_ok(counter)) return AX_ERR_ARGUMENT;
    uint8_t ad[32];
    size_t n = result_ad(entry_id, counter, status, ad);
    return ax_suite_seal(control, module_key, AX_CONTROL_FROM_MODULE, counter, ad, n, result, len,
                         out, cap, out_len);
}

int ax_open_result(ax_suite control, const uint8_t module_key[16], uint16_t entry_id,
                   uint64_t counter, uint8_t status, const uint8_t *sealed, size_t len,
                   uint8_t *out, size_t cap, size_t *out_len) {
    if (!counter_ok(counter)) return AX_ERR_ARGUMENT;
    uint8_t ad[32];
    size_t n = result_ad(entry_id, counter, status, ad);
    return ax_suite_open(control, module_key, AX_CONTROL_FROM_MODULE, counter, ad, n, sealed, len,
                         out, cap, out_len);
}

/* ---- native exchange ------------------------------------------------------------------- */

static const char NATIVE_CONTEXT[] = "authex-native-attest-v1";
static const char NATIVE_INFO[] = "authex native module key v1";
static const uint8_t X25519_BASE[32] = {9};

int ax_native_respond(const char *name, const uint8_t operator_public[32],
                      const uint8_t *challenge, size_t len, const uint8_t ephemeral[32],
                      uint8_t evidence[AX_NATIVE_EVIDENCE_SIZE], uint8_t key[16], char *err,
                      size_t err_cap) {
    if (len != AX_NATIVE_CHALLENGE_SIZE) {
        snprintf(err, err_cap, "challenge is %zu bytes, expected %d", len,
                 AX_NATIVE_CHALLENGE_SIZE);
        return AX_ERR_ARGUMENT;
    }
    size_t name_len = strlen(name);
    if (name_len > 255) {
        snprintf(err, err_cap, "module name longer than 255 bytes");
        return AX_ERR_ARGUMENT;
    }
    const uint8_t *nonce = challenge;
    const uint8_t *deployer_public = challenge + AX_NATIVE_NONCE_SIZE;
    const uint8_t *signature = challenge + AX_NATIVE_NONCE_SIZE + 32;
    uint8_t signed_part[sizeof NATIVE_CONTEXT - 1 + 2 + 255 + 16 + 32];
    size_t n = 0;
    memcpy(signed_part, NATIVE_CONTEXT, sizeof NATIVE_CONTEXT - 1);
    n += sizeof NATIVE_CONTEXT - 1;
    ax_store_be16(signed_part + n, (uint16_t)name_len);
    n += 2;
    memcpy(signed_part + n, name, name_len);
    n += name_len;
    memcpy(signed_part + n, nonce, 16);
    n += 16;
    memcpy(signed_part + n, deployer_public, 32);
    n += 32;
    int rc = ax_ed25519_verify(operator_public, signed_part, n, signature);
    if (rc != AX_OK) {
        snprintf(err, err_cap, rc == AX_ERR_UNAVAILABLE
                                   ? "Ed25519 is not in this build (AUTHEX_NO_OPENSSL)"
                                   : "challenge is not signed by this module's operator");
        return rc == AX_ERR_UNAVAILABLE ? rc : AX_ERR_FORGED;
    }
    uint8_t module_public[32], shared[32];
    if (ax_x25519(ephemeral, X25519_BASE, module_public) != AX_OK) {
        snprintf(err, err_cap, "cannot derive the module's X25519 public key");
        return AX_ERR_INTERNAL;
    }
    rc = ax_x25519(ephemeral, deployer_public, shared);
    if (rc != AX_OK) {
        snprintf(err, err_cap, "deployer's X25519 public key is invalid: %s",
                 rc == AX_ERR_FORGED ? "X25519 shared secret is all zero (low-order public key)"
                                     : "X25519 failed");
        ax_wipe(shared, sizeof shared);
        return AX_ERR_FORGED;
    }
    uint8_t info[sizeof NATIVE_INFO - 1 + 64];
    memcpy(info, NATIVE_INFO, sizeof NATIVE_INFO - 1);
    memcpy(info + sizeof NATIVE_INFO - 1, deployer_public, 32);
    memcpy(info + sizeof NATIVE_INFO - 1 + 32, module_public, 32);
    rc = ax_hkdf_sha256(shared, 32, nonce, 16, info, sizeof info, key, 16);
    ax_wipe(shared, sizeof shared);
    if (rc != AX_OK) {
        snprintf(err, err_cap, "HKDF failed");
        return rc;
    }
    /* confirmation: aes-gcm-128 seal of "" under K_m, direction 3, counter 0,
     * AD "attest-confirm" || nonce */
    uint8_t ad[14 + 16], tag[16];
    memcpy(ad, "attest-confirm", 14);
    memcpy(ad + 14, nonce, 16);
    size_t tag_len = 0;
    rc = ax_suite_seal(AX_SUITE_AES_GCM_128, key, 3, 0, ad, sizeof ad, NULL, 0, tag, sizeof tag,
                       &tag_len);
    if (rc != AX_OK || tag_len != 16) {
        ax_wipe(key, 16);
        snprintf(err, err_cap, "cannot compute the key confirmation");
        return AX_ERR_INTERNAL;
    }
    memcpy(evidence, module_public, 32);
    memcpy(evidence + 32, tag, 16);
    return AX_OK;
}

/* ---- attestation ------------------------------------------------------------------------ */

static int check_challenge(size_t len, int even, char *err, size_t err_cap) {
    if (len < AX_MIN_CHALLENGE || len > AX_MAX_CHALLENGE || (even && len % 2 == 1)) {
        snprintf(err, err_cap, "challenge must be %d..%d bytes%s, not %zu", AX_MIN_CHALLENGE,
                 AX_MAX_CHALLENGE, even ? " and of even length" : "", len);
        return AX_ERR_ARGUMENT;
    }
    return AX_OK;
}

int ax_sancus_answer(const uint8_t module_key[16], const uint8_t *challenge, size_t len,
                     const uint8_t nonce[16], uint8_t evidence[32], uint8_t control_key[16],
                     char *err, size_t err_cap) {
    if (check_challenge(len, 1, err, err_cap) != AX_OK) return AX_ERR_ARGUMENT;
    uint8_t msg[14 + AX_MAX_CHALLENGE + 16];
    memcpy(msg, "authex-session", 14);
    memcpy(msg + 14, challenge, len);
    memcpy(msg + 14 + len, nonce, 16);
    if (ax_sancus_mac(128, module_key, challenge, len, evidence) != AX_OK ||
        ax_sancus_mac(128, module_key, msg, 14 + len + 16, control_key) != AX_OK) {
        snprintf(err, err_cap, "SpongeWrap MAC failed");
        return AX_ERR_INTERNAL;
    }
    memcpy(evidence + 16, nonce, 16);
    return AX_OK;
}

int ax_trustzone_answer(const uint8_t module_key[16], const uint8_t *challenge, size_t len,
                        const uint8_t nonce[16], uint8_t evidence[32], uint8_t control_key[16],
                        char *err, size_t err_cap) {
    if (check_challenge(len, 0, err, err_cap) != AX_OK) return AX_ERR_ARGUMENT;
    static const char LABEL[] = "authex-tz-attest-v1";
    static const char INFO[] = "authex control session v1";
    ax_part parts[2] = {{(const uint8_t *)LABEL, sizeof LABEL - 1}, {challenge, len}};
    uint8_t mac[32], info[sizeof INFO - 1 + AX_MAX_CHALLENGE + 16];
    int rc = ax_hmac_sha256(module_key, 16, parts, 2, mac);
    memcpy(info, INFO, sizeof INFO - 1);
    memcpy(info + sizeof INFO - 1, challenge, len);
    memcpy(info + sizeof INFO - 1 + len, nonce, 16);
    if (rc == AX_OK) {
        rc = ax_hkdf_sha256(module_key, 16, NULL, 0, info, sizeof INFO - 1 + len + 16,
                            control_key, 16);
    }
    if (rc != AX_OK) {
        snprintf(err, err_cap, rc == AX_ERR_UNAVAILABLE
                                   ? "HMAC-SHA256 is not in this build (AUTHEX_NO_OPENSSL)"
                                   : "HMAC/HKDF failed");
        return rc;
    }
    memcpy(evidence, mac, 16);
    memcpy(evidence + 16, nonce, 16);
    ax_wipe(mac, sizeof mac);
    return AX_OK;
}

int ax_sgx_report_data(const uint8_t module_public[32], const uint8_t nonce[16],
                       uint8_t report_data[64]) {
    ax_part parts[2] = {{module_public, 32}, {nonce, 16}};
    memset(report_data, 0, 64);
    return ax_sha256(parts, 2, report_data);
}

ax_suite ax_control_suite(const char *tee) {
    if (strcmp(tee, "native") == 0 || strcmp(tee, "sgx") == 0 || strcmp(tee, "trustzone") == 0) {
        return AX_SUITE_AES_GCM_128;
    }
    if (strcmp(tee, "sancus") == 0) return AX_SUITE_SPONGEWRAP_128;
    return (ax_suite)0;
}
