/* The cryptography of the C SDK (spec/crypto.md).
 *
 * Two layers:
 *  - portable C11, no allocation, suitable for 16-bit targets: SPONGENT/SpongeWrap (Sancus) and
 *    Ascon-AEAD128 (NIST SP 800-232), the suite interface, constant-time compare, wiping;
 *  - host primitives through OpenSSL 3 libcrypto: AES-GCM-128, SHA-256, HMAC-SHA256,
 *    HKDF-SHA256, X25519, Ed25519 verification. A build with -DAUTHEX_NO_OPENSSL (how Sancus
 *    modules are built) has none of them: the functions still exist and return AX_ERR_UNAVAILABLE.
 *
 * Every function returns AX_OK (0) or a negative AX_ERR_* code; no function prints anything or
 * keeps key material after it returns (stack copies are wiped). */
#ifndef AUTHEX_CRYPTO_H
#define AUTHEX_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define AX_KEY_SIZE 16
#define AX_TAG_SIZE 16
/* spongewrap-128 pads the body to an even length: sealed = pad2(plain) || tag. */
#define AX_SEAL_OVERHEAD (AX_TAG_SIZE + 2)

enum {
    AX_OK = 0,
    AX_ERR_FORGED = -1,      /* a tag or signature does not verify */
    AX_ERR_ARGUMENT = -2,    /* bad length, size or parameter */
    AX_ERR_UNAVAILABLE = -3, /* not in this build (AUTHEX_NO_OPENSSL) or unknown suite */
    AX_ERR_INTERNAL = -4     /* the crypto library failed */
};

typedef enum {
    AX_SUITE_AES_GCM_128 = 1,
    AX_SUITE_ASCON_AEAD128 = 2,
    AX_SUITE_SPONGEWRAP_128 = 3
} ax_suite;

/* ---- portable ---------------------------------------------------------------------------- */

/* 1 if equal, 0 if not, in time independent of the contents. */
int ax_ct_equal(const uint8_t *a, const uint8_t *b, size_t n);
/* Overwrite memory in a way the compiler does not remove. */
void ax_wipe(void *p, size_t n);
/* Fill from the operating system's CSPRNG (getrandom(2), else /dev/urandom). */
int ax_random(uint8_t *out, size_t n);

/* SpongeWrap as Sancus computes it (docs/sancus-crypto.md), security 128 (SPONGENT pi_336,
 * key 16 bytes) or 64 (pi_176, key 8 bytes); tag = key size. cipher has body_len bytes. */
int ax_spongewrap_wrap(unsigned security, const uint8_t *key, const uint8_t *ad, size_t ad_len,
                       const uint8_t *body, size_t body_len, uint8_t *cipher, uint8_t *tag);
/* body_out is written only when the tag verifies; AX_ERR_FORGED otherwise (body_out zeroed). */
int ax_spongewrap_unwrap(unsigned security, const uint8_t *key, const uint8_t *ad, size_t ad_len,
                         const uint8_t *cipher, size_t len, const uint8_t *tag, uint8_t *body_out);
/* Sancus MAC(K, m) = SpongeWrap(key=K, ad=m, body=empty), the tag only. */
int ax_sancus_mac(unsigned security, const uint8_t *key, const uint8_t *msg, size_t len,
                  uint8_t *tag);

/* Ascon-AEAD128: out = ciphertext || tag (pt_len + 16 bytes). */
int ax_ascon_seal(const uint8_t key[16], const uint8_t nonce[16], const uint8_t *ad, size_t ad_len,
                  const uint8_t *pt, size_t pt_len, uint8_t *out);
/* out (ct_len - 16 bytes) is written only when the tag verifies. */
int ax_ascon_open(const uint8_t key[16], const uint8_t nonce[16], const uint8_t *ad, size_t ad_len,
                  const uint8_t *ct, size_t ct_len, uint8_t *out);

/* The suites (spec/crypto.md §1-2, 7, 8): nonce derived from (direction, counter). */
const char *ax_suite_name(ax_suite suite);
/* The suite with that wire id or name; 0 if none. */
ax_suite ax_suite_from_id(unsigned id);
ax_suite ax_suite_from_name(const char *name);
/* 1 if this build can run the suite (aes-gcm-128 needs OpenSSL). */
int ax_suite_available(ax_suite suite);
/* Sealed size of a plaintext of `len` bytes under the suite. */
size_t ax_suite_sealed_size(ax_suite suite, size_t len);
/* Seal into out (capacity out_cap >= ax_suite_sealed_size); *out_len receives the size. */
int ax_suite_seal(ax_suite suite, const uint8_t key[16], uint8_t direction, uint64_t counter,
                  const uint8_t *ad, size_t ad_len, const uint8_t *pt, size_t pt_len, uint8_t *out,
                  size_t out_cap, size_t *out_len);
/* Open into out (capacity out_cap >= sealed_len); AX_ERR_FORGED on any failure to
 * authenticate, including impossible lengths; nothing of out is meaningful then. */
int ax_suite_open(ax_suite suite, const uint8_t key[16], uint8_t direction, uint64_t counter,
                  const uint8_t *ad, size_t ad_len, const uint8_t *sealed, size_t sealed_len,
                  uint8_t *out, size_t out_cap, size_t *out_len);

/* ---- host primitives (OpenSSL libcrypto) --------------------------------------------------- */

typedef struct {
    const uint8_t *data;
    size_t len;
} ax_part;

int ax_aes_gcm_seal(const uint8_t key[16], const uint8_t nonce[12], const uint8_t *ad,
                    size_t ad_len, const uint8_t *pt, size_t pt_len, uint8_t *out);
int ax_aes_gcm_open(const uint8_t key[16], const uint8_t nonce[12], const uint8_t *ad,
                    size_t ad_len, const uint8_t *ct, size_t ct_len, uint8_t *out);
/* SHA-256 over the concatenation of n parts. */
int ax_sha256(const ax_part *parts, size_t n, uint8_t out[32]);
/* HMAC-SHA256 over the concatenation of n parts. */
int ax_hmac_sha256(const uint8_t *key, size_t key_len, const ax_part *parts, size_t n,
                   uint8_t out[32]);
/* RFC 5869 HKDF-SHA256 (salt may be NULL: no salt). */
int ax_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
                   const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len);
/* A fresh X25519 key pair. */
int ax_x25519_keypair(uint8_t private_key[32], uint8_t public_key[32]);
/* X25519; AX_ERR_FORGED when the shared secret is all zero (low-order peer point). */
int ax_x25519(const uint8_t private_key[32], const uint8_t peer_public[32], uint8_t shared[32]);
/* 0 when sig is a valid Ed25519 signature of msg under public_key, AX_ERR_FORGED if not. */
int ax_ed25519_verify(const uint8_t public_key[32], const uint8_t *msg, size_t len,
                      const uint8_t sig[64]);

/* ---- SpongeWrap over a scattered AD (portable) --------------------------------------------- */

/* ax_spongewrap_wrap / ax_spongewrap_unwrap with the AD given as the concatenation of n_ad parts
 * (any part may be empty), so no caller has to assemble it in a buffer: the spongewrap-128
 * suite absorbs nonce_block || ad || padding this way, and MAC(K, a || b || ...) is
 * ax_spongewrap_wrap_parts(security, K, parts, n, NULL, 0, NULL, tag). */
int ax_spongewrap_wrap_parts(unsigned security, const uint8_t *key, const ax_part *ad, size_t n_ad,
                             const uint8_t *body, size_t body_len, uint8_t *cipher, uint8_t *tag);
int ax_spongewrap_unwrap_parts(unsigned security, const uint8_t *key, const ax_part *ad,
                               size_t n_ad, const uint8_t *cipher, size_t len, const uint8_t *tag,
                               uint8_t *body_out);

#endif
