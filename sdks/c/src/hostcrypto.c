/* The host primitives of the crypto layer (include/authex/crypto.h) on OpenSSL 3 libcrypto, EVP
 * APIs only: AES-GCM-128, SHA-256, HMAC-SHA256 (EVP_MAC "HMAC"), HKDF-SHA256 (RFC 5869 on that
 * HMAC), X25519 and Ed25519 verification (raw EVP_PKEY keys). Every OpenSSL object is freed on
 * every path, failures leave nothing on the OpenSSL error queue, and secrets held here (the HKDF
 * PRK and blocks) are wiped.
 *
 * Built with -DAUTHEX_NO_OPENSSL (Sancus and other bare-metal modules) no OpenSSL header is
 * included and every function returns AX_ERR_UNAVAILABLE. */
#include "authex/crypto.h"

#ifdef AUTHEX_NO_OPENSSL

int ax_aes_gcm_seal(const uint8_t key[16], const uint8_t nonce[12], const uint8_t *ad,
                    size_t ad_len, const uint8_t *pt, size_t pt_len, uint8_t *out) {
    (void)key, (void)nonce, (void)ad, (void)ad_len, (void)pt, (void)pt_len, (void)out;
    return AX_ERR_UNAVAILABLE;
}

int ax_aes_gcm_open(const uint8_t key[16], const uint8_t nonce[12], const uint8_t *ad,
                    size_t ad_len, const uint8_t *ct, size_t ct_len, uint8_t *out) {
    (void)key, (void)nonce, (void)ad, (void)ad_len, (void)ct, (void)ct_len, (void)out;
    return AX_ERR_UNAVAILABLE;
}

int ax_sha256(const ax_part *parts, size_t n, uint8_t out[32]) {
    (void)parts, (void)n, (void)out;
    return AX_ERR_UNAVAILABLE;
}

int ax_hmac_sha256(const uint8_t *key, size_t key_len, const ax_part *parts, size_t n,
                   uint8_t out[32]) {
    (void)key, (void)key_len, (void)parts, (void)n, (void)out;
    return AX_ERR_UNAVAILABLE;
}

int ax_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
                   const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len) {
    (void)ikm, (void)ikm_len, (void)salt, (void)salt_len, (void)info, (void)info_len, (void)out,
        (void)out_len;
    return AX_ERR_UNAVAILABLE;
}

int ax_x25519_keypair(uint8_t private_key[32], uint8_t public_key[32]) {
    (void)private_key, (void)public_key;
    return AX_ERR_UNAVAILABLE;
}

int ax_x25519(const uint8_t private_key[32], const uint8_t peer_public[32], uint8_t shared[32]) {
    (void)private_key, (void)peer_public, (void)shared;
    return AX_ERR_UNAVAILABLE;
}

int ax_ed25519_verify(const uint8_t public_key[32], const uint8_t *msg, size_t len,
                      const uint8_t sig[64]) {
    (void)public_key, (void)msg, (void)len, (void)sig;
    return AX_ERR_UNAVAILABLE;
}

#else /* OpenSSL */

#include <limits.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

/* The EVP cipher calls take int lengths: feed at most this much per call. */
#define AX_EVP_CHUNK ((size_t)1 << 30)

static const uint8_t empty_input[1] = {0};

static int parts_valid(const ax_part *parts, size_t n) {
    if (parts == NULL) return n == 0;
    for (size_t i = 0; i < n; i++) {
        if (parts[i].data == NULL && parts[i].len > 0) return 0;
    }
    return 1;
}

/* ---- AES-GCM-128 ------------------------------------------------------------------------------ */

/* EVP_EncryptUpdate / EVP_DecryptUpdate over any size_t length (out NULL: AAD). */
static int gcm_update(EVP_CIPHER_CTX *ctx, int encrypt, uint8_t *out, const uint8_t *in,
                      size_t len) {
    while (len > 0) {
        size_t chunk = len < AX_EVP_CHUNK ? len : AX_EVP_CHUNK;
        int outl = 0;
        int ok = encrypt ? EVP_EncryptUpdate(ctx, out, &outl, in, (int)chunk)
                         : EVP_DecryptUpdate(ctx, out, &outl, in, (int)chunk);
        if (ok != 1 || (out != NULL && (size_t)outl != chunk)) return 0;
        in += chunk;
        if (out != NULL) out += chunk;
        len -= chunk;
    }
    return 1;
}

static EVP_CIPHER_CTX *gcm_start(int encrypt, const uint8_t key[16], const uint8_t nonce[12]) {
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) return NULL;
    int ok = encrypt ? EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, NULL, NULL)
                     : EVP_DecryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, NULL, NULL);
    if (ok == 1) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL);
    if (ok == 1) {
        ok = encrypt ? EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce)
                     : EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce);
    }
    if (ok != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int ax_aes_gcm_seal(const uint8_t key[16], const uint8_t nonce[12], const uint8_t *ad,
                    size_t ad_len, const uint8_t *pt, size_t pt_len, uint8_t *out) {
    if (key == NULL || nonce == NULL || out == NULL || (ad == NULL && ad_len > 0) ||
        (pt == NULL && pt_len > 0) || pt_len > SIZE_MAX - AX_TAG_SIZE) {
        return AX_ERR_ARGUMENT;
    }
    int rc = AX_ERR_INTERNAL, outl = 0;
    EVP_CIPHER_CTX *ctx = gcm_start(1, key, nonce);
    if (ctx == NULL) goto done;
    if (!gcm_update(ctx, 1, NULL, ad, ad_len) || !gcm_update(ctx, 1, out, pt, pt_len)) goto done;
    if (EVP_EncryptFinal_ex(ctx, out + pt_len, &outl) != 1 || outl != 0) goto done;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, AX_TAG_SIZE, out + pt_len) != 1) goto done;
    rc = AX_OK;
done:
    EVP_CIPHER_CTX_free(ctx);
    if (rc != AX_OK) {
        ax_wipe(out, pt_len + AX_TAG_SIZE);
        ERR_clear_error();
    }
    return rc;
}

int ax_aes_gcm_open(const uint8_t key[16], const uint8_t nonce[12], const uint8_t *ad,
                    size_t ad_len, const uint8_t *ct, size_t ct_len, uint8_t *out) {
    if (key == NULL || nonce == NULL || ct == NULL || (ad == NULL && ad_len > 0)) {
        return AX_ERR_ARGUMENT;
    }
    if (ct_len < AX_TAG_SIZE) return AX_ERR_FORGED;
    size_t len = ct_len - AX_TAG_SIZE;
    if (out == NULL && len > 0) return AX_ERR_ARGUMENT;
    uint8_t tag[AX_TAG_SIZE], last[16];
    memcpy(tag, ct + len, AX_TAG_SIZE); /* before out is written: ct may be out */
    int rc = AX_ERR_INTERNAL, outl = 0;
    EVP_CIPHER_CTX *ctx = gcm_start(0, key, nonce);
    if (ctx == NULL) goto done;
    if (!gcm_update(ctx, 0, NULL, ad, ad_len) || !gcm_update(ctx, 0, out, ct, len)) goto done;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, AX_TAG_SIZE, tag) != 1) goto done;
    rc = EVP_DecryptFinal_ex(ctx, last, &outl) == 1 && outl == 0 ? AX_OK : AX_ERR_FORGED;
done:
    EVP_CIPHER_CTX_free(ctx);
    if (rc != AX_OK) {
        if (out != NULL) ax_wipe(out, len); /* never release an unauthenticated plaintext */
        ERR_clear_error();
    }
    return rc;
}

/* ---- SHA-256, HMAC-SHA256, HKDF-SHA256 -------------------------------------------------------- */

int ax_sha256(const ax_part *parts, size_t n, uint8_t out[32]) {
    if (out == NULL || !parts_valid(parts, n)) return AX_ERR_ARGUMENT;
    int rc = AX_ERR_INTERNAL;
    unsigned int outl = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) goto done;
    for (size_t i = 0; i < n; i++) {
        if (parts[i].len > 0 && EVP_DigestUpdate(ctx, parts[i].data, parts[i].len) != 1) goto done;
    }
    if (EVP_DigestFinal_ex(ctx, out, &outl) != 1 || outl != 32) goto done;
    rc = AX_OK;
done:
    EVP_MD_CTX_free(ctx);
    if (rc != AX_OK) ERR_clear_error();
    return rc;
}

int ax_hmac_sha256(const uint8_t *key, size_t key_len, const ax_part *parts, size_t n,
                   uint8_t out[32]) {
    if (out == NULL || (key == NULL && key_len > 0) || !parts_valid(parts, n)) {
        return AX_ERR_ARGUMENT;
    }
    static char digest[] = "SHA256";
    int rc = AX_ERR_INTERNAL;
    size_t outl = 0;
    OSSL_PARAM params[2];
    EVP_MAC_CTX *ctx = NULL;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) goto done;
    ctx = EVP_MAC_CTX_new(mac);
    if (ctx == NULL) goto done;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    /* a NULL key would mean "keep the previous key": an empty key is a zero-length non-NULL one */
    if (EVP_MAC_init(ctx, key_len > 0 ? key : empty_input, key_len, params) != 1) goto done;
    for (size_t i = 0; i < n; i++) {
        if (parts[i].len > 0 && EVP_MAC_update(ctx, parts[i].data, parts[i].len) != 1) goto done;
    }
    if (EVP_MAC_final(ctx, out, &outl, 32) != 1 || outl != 32) goto done;
    rc = AX_OK;
done:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    if (rc != AX_OK) ERR_clear_error();
    return rc;
}

int ax_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
                   const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len) {
    if ((ikm == NULL && ikm_len > 0) || (salt == NULL && salt_len > 0) ||
        (info == NULL && info_len > 0) || (out == NULL && out_len > 0) || out_len > 255u * 32u) {
        return AX_ERR_ARGUMENT;
    }
    static const uint8_t zero_salt[32] = {0};
    uint8_t prk[32], block[32];
    /* extract: PRK = HMAC(salt, IKM); no salt = 32 zero bytes */
    const ax_part ikm_part = {ikm, ikm_len};
    int rc = salt_len > 0 ? ax_hmac_sha256(salt, salt_len, &ikm_part, 1, prk)
                          : ax_hmac_sha256(zero_salt, sizeof zero_salt, &ikm_part, 1, prk);
    /* expand: T(i) = HMAC(PRK, T(i-1) || info || i) */
    size_t done = 0;
    for (unsigned i = 1; rc == AX_OK && done < out_len; i++) {
        uint8_t counter = (uint8_t)i;
        ax_part parts[3] = {{block, i > 1 ? sizeof block : 0}, {info, info_len}, {&counter, 1}};
        rc = ax_hmac_sha256(prk, sizeof prk, parts, 3, block);
        if (rc != AX_OK) break;
        size_t take = out_len - done < sizeof block ? out_len - done : sizeof block;
        memcpy(out + done, block, take);
        done += take;
    }
    ax_wipe(prk, sizeof prk);
    ax_wipe(block, sizeof block);
    if (rc != AX_OK && out != NULL) ax_wipe(out, out_len);
    return rc;
}

/* ---- X25519 ----------------------------------------------------------------------------------- */

int ax_x25519_keypair(uint8_t private_key[32], uint8_t public_key[32]) {
    if (private_key == NULL || public_key == NULL) return AX_ERR_ARGUMENT;
    int rc = AX_ERR_INTERNAL;
    size_t priv_len = 32, pub_len = 32;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_generate(ctx, &pkey) != 1) {
        goto done;
    }
    if (EVP_PKEY_get_raw_private_key(pkey, private_key, &priv_len) != 1 || priv_len != 32 ||
        EVP_PKEY_get_raw_public_key(pkey, public_key, &pub_len) != 1 || pub_len != 32) {
        goto done;
    }
    rc = AX_OK;
done:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    if (rc != AX_OK) {
        ax_wipe(private_key, 32);
        ax_wipe(public_key, 32);
        ERR_clear_error();
    }
    return rc;
}

int ax_x25519(const uint8_t private_key[32], const uint8_t peer_public[32], uint8_t shared[32]) {
    if (private_key == NULL || peer_public == NULL || shared == NULL) return AX_ERR_ARGUMENT;
    int rc = AX_ERR_INTERNAL;
    size_t len = 32;
    uint8_t acc = 0;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *own = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, private_key, 32);
    EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer_public, 32);
    if (own == NULL || peer == NULL) goto done;
    ctx = EVP_PKEY_CTX_new(own, NULL);
    if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1) goto done;
    /* A peer key that fails validation or yields the all-zero secret (OpenSSL refuses to
     * derive it) is a low-order point: FORGED. */
    rc = AX_ERR_FORGED;
    if (EVP_PKEY_derive_set_peer(ctx, peer) != 1) goto done;
    if (EVP_PKEY_derive(ctx, shared, &len) != 1 || len != 32) goto done;
    for (size_t i = 0; i < 32; i++) acc |= shared[i];
    if (acc == 0) goto done; /* checked here too, whatever the OpenSSL version does */
    rc = AX_OK;
done:
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(own);
    EVP_PKEY_free(peer);
    if (rc != AX_OK) {
        ax_wipe(shared, 32);
        ERR_clear_error();
    }
    return rc;
}

/* ---- Ed25519 ---------------------------------------------------------------------------------- */

int ax_ed25519_verify(const uint8_t public_key[32], const uint8_t *msg, size_t len,
                      const uint8_t sig[64]) {
    if (public_key == NULL || sig == NULL || (msg == NULL && len > 0)) return AX_ERR_ARGUMENT;
    int rc = AX_ERR_INTERNAL;
    EVP_MD_CTX *ctx = NULL;
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, public_key, 32);
    if (pkey == NULL) {
        rc = AX_ERR_FORGED; /* not a usable public key: nothing verifies under it */
        goto done;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) != 1) goto done;
    /* 1: valid; 0: invalid signature; < 0: malformed input (a point that does not decode) */
    rc = EVP_DigestVerify(ctx, sig, 64, len > 0 ? msg : empty_input, len) == 1 ? AX_OK
                                                                             : AX_ERR_FORGED;
done:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    if (rc != AX_OK) ERR_clear_error();
    return rc;
}

#endif
