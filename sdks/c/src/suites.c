/* The cipher suites (spec/crypto.md §1-2, §7, §8): one AEAD interface whose nonce is derived
 * from (direction, counter), as sdks/rust/authex-module/src/suites.rs.
 *
 *   nonce_block(direction, counter) = u8 direction || 00 00 00 || u64 counter || 00 00 00 00
 *   aes-gcm-128     AES-GCM with nonce_block[0:12]                  sealed = C || T
 *   ascon-aead128   Ascon-AEAD128 with the 16-byte nonce_block        sealed = C || T
 *   spongewrap-128  SpongeWrap (128-bit) with AD' = nonce_block || pad2(ad) and body
 *                   pad2(plaintext), where pad2(x) = x || 80 (odd) or x || 80 00 (even)
 *
 * Portable: no allocation and no buffer for the spongewrap-128 AD (absorbed in parts) or body
 * (padded in the caller's output buffer). aes-gcm-128 needs the host primitives (OpenSSL). */
#include "authex/crypto.h"

#include <string.h>

static void nonce_block(uint8_t direction, uint64_t counter, uint8_t block[16]) {
    memset(block, 0, 16);
    block[0] = direction;
    for (int i = 0; i < 8; i++) {
        block[4 + i] = (uint8_t)(counter >> (56 - 8 * i));
    }
}

const char *ax_suite_name(ax_suite suite) {
    switch (suite) {
    case AX_SUITE_AES_GCM_128:
        return "aes-gcm-128";
    case AX_SUITE_ASCON_AEAD128:
        return "ascon-aead128";
    case AX_SUITE_SPONGEWRAP_128:
        return "spongewrap-128";
    }
    return NULL;
}

ax_suite ax_suite_from_id(unsigned id) {
    switch (id) {
    case 1:
        return AX_SUITE_AES_GCM_128;
    case 2:
        return AX_SUITE_ASCON_AEAD128;
    case 3:
        return AX_SUITE_SPONGEWRAP_128;
    default:
        return (ax_suite)0;
    }
}

ax_suite ax_suite_from_name(const char *name) {
    if (name == NULL) return (ax_suite)0;
    for (unsigned id = 1; id <= 3; id++) {
        ax_suite suite = ax_suite_from_id(id);
        if (strcmp(name, ax_suite_name(suite)) == 0) return suite;
    }
    return (ax_suite)0;
}

int ax_suite_available(ax_suite suite) {
    switch (suite) {
    case AX_SUITE_AES_GCM_128:
#ifdef AUTHEX_NO_OPENSSL
        return 0;
#else
        return 1;
#endif
    case AX_SUITE_ASCON_AEAD128:
    case AX_SUITE_SPONGEWRAP_128:
        return 1;
    }
    return 0;
}

/* 0 for an unknown suite or a length whose sealed size does not fit a size_t. */
size_t ax_suite_sealed_size(ax_suite suite, size_t len) {
    size_t overhead;
    switch (suite) {
    case AX_SUITE_AES_GCM_128:
    case AX_SUITE_ASCON_AEAD128:
        overhead = AX_TAG_SIZE;
        break;
    case AX_SUITE_SPONGEWRAP_128:
        overhead = AX_TAG_SIZE + (len % 2 == 1 ? 1u : 2u);
        break;
    default:
        return 0;
    }
    return len > SIZE_MAX - overhead ? 0 : len + overhead;
}

int ax_suite_seal(ax_suite suite, const uint8_t key[16], uint8_t direction, uint64_t counter,
                  const uint8_t *ad, size_t ad_len, const uint8_t *pt, size_t pt_len, uint8_t *out,
                  size_t out_cap, size_t *out_len) {
    if (out_len != NULL) *out_len = 0;
    size_t need = ax_suite_sealed_size(suite, pt_len);
    if (!ax_suite_available(suite)) return AX_ERR_UNAVAILABLE; /* out is left alone */
    if (key == NULL || out == NULL || out_len == NULL || (ad == NULL && ad_len > 0) ||
        (pt == NULL && pt_len > 0) || need == 0 || out_cap < need) {
        return AX_ERR_ARGUMENT;
    }
    uint8_t nonce[16];
    nonce_block(direction, counter, nonce);
    int rc;
    switch (suite) {
    case AX_SUITE_AES_GCM_128:
        rc = ax_aes_gcm_seal(key, nonce, ad, ad_len, pt, pt_len, out);
        break;
    case AX_SUITE_ASCON_AEAD128:
        rc = ax_ascon_seal(key, nonce, ad, ad_len, pt, pt_len, out);
        break;
    case AX_SUITE_SPONGEWRAP_128: {
        /* body' = pad2(plaintext), built in out and wrapped in place */
        static const uint8_t pad[2] = {0x80, 0x00};
        const size_t body_len = need - AX_TAG_SIZE;
        if (pt_len > 0) memmove(out, pt, pt_len);
        memcpy(out + pt_len, pad, body_len - pt_len);
        const ax_part ad_parts[3] = {
            {nonce, sizeof nonce}, {ad, ad_len}, {pad, ad_len % 2 == 1 ? 1u : 2u}};
        rc = ax_spongewrap_wrap_parts(128, key, ad_parts, 3, out, body_len, out, out + body_len);
        break;
    }
    default:
        rc = AX_ERR_UNAVAILABLE;
        break;
    }
    if (rc == AX_OK) {
        *out_len = need;
    } else {
        ax_wipe(out, need);
    }
    return rc;
}

int ax_suite_open(ax_suite suite, const uint8_t key[16], uint8_t direction, uint64_t counter,
                  const uint8_t *ad, size_t ad_len, const uint8_t *sealed, size_t sealed_len,
                  uint8_t *out, size_t out_cap, size_t *out_len) {
    if (out_len != NULL) *out_len = 0;
    if (!ax_suite_available(suite)) return AX_ERR_UNAVAILABLE; /* out is left alone */
    if (key == NULL || out_len == NULL || (ad == NULL && ad_len > 0) ||
        (sealed == NULL && sealed_len > 0)) {
        return AX_ERR_ARGUMENT;
    }
    if (sealed_len < AX_TAG_SIZE) return AX_ERR_FORGED;
    const size_t body_len = sealed_len - AX_TAG_SIZE;
    if (suite == AX_SUITE_SPONGEWRAP_128 && (body_len < 2 || body_len % 2 == 1)) {
        return AX_ERR_FORGED; /* no pad2 output has this length */
    }
    /* out receives the (padded) body: it needs sealed_len - 16 bytes */
    if ((out == NULL && body_len > 0) || out_cap < body_len) return AX_ERR_ARGUMENT;
    uint8_t nonce[16];
    nonce_block(direction, counter, nonce);
    int rc;
    size_t len = body_len;
    switch (suite) {
    case AX_SUITE_AES_GCM_128:
        rc = ax_aes_gcm_open(key, nonce, ad, ad_len, sealed, sealed_len, out);
        break;
    case AX_SUITE_ASCON_AEAD128:
        rc = ax_ascon_open(key, nonce, ad, ad_len, sealed, sealed_len, out);
        break;
    case AX_SUITE_SPONGEWRAP_128: {
        static const uint8_t pad[2] = {0x80, 0x00};
        const ax_part ad_parts[3] = {
            {nonce, sizeof nonce}, {ad, ad_len}, {pad, ad_len % 2 == 1 ? 1u : 2u}};
        rc = ax_spongewrap_unwrap_parts(128, key, ad_parts, 3, sealed, body_len,
                                        sealed + body_len, out);
        if (rc != AX_OK) break;
        /* unpad2 (after authentication, so the branches reveal nothing secret) */
        if (out[body_len - 1] == 0x80) {
            len = body_len - 1;
        } else if (out[body_len - 2] == 0x80 && out[body_len - 1] == 0x00) {
            len = body_len - 2;
        } else {
            rc = AX_ERR_FORGED;
        }
        break;
    }
    default:
        rc = AX_ERR_UNAVAILABLE;
        break;
    }
    if (rc == AX_OK) {
        *out_len = len;
    } else if (out != NULL) {
        ax_wipe(out, body_len);
    }
    return rc;
}
