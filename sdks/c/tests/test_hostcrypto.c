/* Tests of src/hostcrypto.c (OpenSSL-backed primitives) and src/portable.c: SHA-256 (FIPS
 * 180-2 examples), HMAC-SHA256 (RFC 4231 cases 1, 2, 6), HKDF-SHA256 (RFC 5869 cases 1, 3),
 * AES-GCM-128 (McGrew-Viega cases 1, 2), X25519 (RFC 7748 §6.1, low-order points), Ed25519
 * (RFC 8032 tests 1, 2, malleated and foreign signatures), the complete native key exchanges of
 * spec/vectors/native_exchange.json, and the CSPRNG, comparison and wiping helpers. Built with
 * -DAUTHEX_NO_OPENSSL it checks that every host primitive reports AX_ERR_UNAVAILABLE. */
#include <stdlib.h>

#include "authex/crypto.h"
#include "check.h"
#include "suites.h"

static int all_zero(const uint8_t *p, size_t n) {
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
}

/* ---- portable helpers --------------------------------------------------------------------------- */

static void test_portable(void) {
    TEST("portable: ax_ct_equal");
    uint8_t a[40], b[40];
    for (size_t i = 0; i < sizeof a; i++) a[i] = b[i] = (uint8_t)i;
    CHECK(ax_ct_equal(a, b, sizeof a) == 1);
    CHECK(ax_ct_equal(a, b, 0) == 1);
    int wrong = 0;
    for (size_t bit = 0; bit < 8 * sizeof a; bit++) {
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (ax_ct_equal(a, b, sizeof a) != 0) wrong++;
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    CHECK(wrong == 0);

    TEST("portable: ax_wipe");
    memset(a, 0xFF, sizeof a);
    ax_wipe(a + 1, sizeof a - 2);
    CHECK(a[0] == 0xFF && a[sizeof a - 1] == 0xFF && all_zero(a + 1, sizeof a - 2));
    ax_wipe(NULL, 0);

    TEST("portable: ax_random");
    static uint8_t big[100000];
    uint8_t r1[32], r2[32];
    CHECK(ax_random(r1, sizeof r1) == AX_OK);
    CHECK(ax_random(r2, sizeof r2) == AX_OK);
    CHECK(memcmp(r1, r2, sizeof r1) != 0);
    CHECK(!all_zero(r1, sizeof r1));
    CHECK(ax_random(big, sizeof big) == AX_OK);
    CHECK(!all_zero(big + sizeof big - 64, 64)); /* past the first 64 KiB request */
    CHECK(ax_random(NULL, 0) == AX_OK);
    CHECK(ax_random(NULL, 1) == AX_ERR_ARGUMENT);
}

#ifdef AUTHEX_NO_OPENSSL

static void test_unavailable(void) {
    TEST("hostcrypto: every host primitive is unavailable without OpenSSL");
    uint8_t k[32] = {0}, out[64];
    ax_part part = {k, 1};
    CHECK(ax_aes_gcm_seal(k, k, NULL, 0, k, 1, out) == AX_ERR_UNAVAILABLE);
    CHECK(ax_aes_gcm_open(k, k, NULL, 0, out, 17, out) == AX_ERR_UNAVAILABLE);
    CHECK(ax_sha256(&part, 1, out) == AX_ERR_UNAVAILABLE);
    CHECK(ax_hmac_sha256(k, 16, &part, 1, out) == AX_ERR_UNAVAILABLE);
    CHECK(ax_hkdf_sha256(k, 16, NULL, 0, NULL, 0, out, 16) == AX_ERR_UNAVAILABLE);
    CHECK(ax_x25519_keypair(k, out) == AX_ERR_UNAVAILABLE);
    CHECK(ax_x25519(k, k, out) == AX_ERR_UNAVAILABLE);
    CHECK(ax_ed25519_verify(k, k, 1, out) == AX_ERR_UNAVAILABLE);
    CHECK(!ax_suite_available(AX_SUITE_AES_GCM_128));
    size_t len = 0;
    memset(out, 0x5A, sizeof out);
    CHECK(ax_suite_seal(AX_SUITE_AES_GCM_128, k, 0, 1, NULL, 0, k, 4, out, sizeof out, &len) ==
          AX_ERR_UNAVAILABLE);
    CHECK(out[0] == 0x5A && out[sizeof out - 1] == 0x5A); /* untouched */
    CHECK(ax_suite_open(AX_SUITE_AES_GCM_128, k, 0, 1, NULL, 0, out, 20, out, sizeof out, &len) ==
          AX_ERR_UNAVAILABLE);
    CHECK(out[0] == 0x5A);
}

void suite_hostcrypto(void) {
    test_portable();
    test_unavailable();
}

#else

static int hex_eq(const uint8_t *got, size_t len, const char *hex) {
    uint8_t want[256];
    long n = check_unhex(hex, want, sizeof want);
    return n >= 0 && (size_t)n == len && memcmp(got, want, len) == 0;
}

static size_t unhex(const char *hex, uint8_t *out, size_t cap) {
    long n = check_unhex(hex, out, cap);
    CHECK(n >= 0);
    return n < 0 ? 0 : (size_t)n;
}

/* ---- SHA-256, HMAC, HKDF ---------------------------------------------------------------------- */

static void test_hashes(void) {
    uint8_t out[64], okm[8200];
    TEST("hostcrypto: SHA-256");
    {
        ax_part abc = {(const uint8_t *)"abc", 3};
        CHECK(ax_sha256(&abc, 1, out) == AX_OK);
        CHECK(hex_eq(out, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        CHECK(ax_sha256(NULL, 0, out) == AX_OK);
        CHECK(hex_eq(out, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
        const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        ax_part split[4] = {{(const uint8_t *)m, 5}, {NULL, 0}, {(const uint8_t *)m + 5, 50},
                            {(const uint8_t *)m + 55, 1}};
        CHECK(ax_sha256(split, 4, out) == AX_OK);
        CHECK(hex_eq(out, 32, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
        ax_part broken = {NULL, 2};
        CHECK(ax_sha256(&broken, 1, out) == AX_ERR_ARGUMENT);
        CHECK(ax_sha256(NULL, 1, out) == AX_ERR_ARGUMENT);
        CHECK(ax_sha256(&split[0], 1, NULL) == AX_ERR_ARGUMENT);
    }

    TEST("hostcrypto: HMAC-SHA256, RFC 4231 cases 1, 2, 6 and the empty key");
    {
        uint8_t key[131];
        memset(key, 0x0b, 20);
        ax_part data = {(const uint8_t *)"Hi There", 8};
        CHECK(ax_hmac_sha256(key, 20, &data, 1, out) == AX_OK);
        CHECK(hex_eq(out, 32, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"));
        const char *q = "what do ya want for nothing?";
        ax_part parts[3] = {{(const uint8_t *)q, 4}, {(const uint8_t *)q + 4, 0},
                            {(const uint8_t *)q + 4, strlen(q) - 4}};
        CHECK(ax_hmac_sha256((const uint8_t *)"Jefe", 4, parts, 3, out) == AX_OK);
        CHECK(hex_eq(out, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
        memset(key, 0xaa, sizeof key);
        const char *t6 = "Test Using Larger Than Block-Size Key - Hash Key First";
        ax_part d6 = {(const uint8_t *)t6, strlen(t6)};
        CHECK(ax_hmac_sha256(key, sizeof key, &d6, 1, out) == AX_OK);
        CHECK(hex_eq(out, 32, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"));
        CHECK(ax_hmac_sha256(NULL, 0, NULL, 0, out) == AX_OK);
        CHECK(hex_eq(out, 32, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"));
        CHECK(ax_hmac_sha256(NULL, 4, &d6, 1, out) == AX_ERR_ARGUMENT);
        CHECK(ax_hmac_sha256(key, 4, NULL, 1, out) == AX_ERR_ARGUMENT);
    }

    TEST("hostcrypto: HKDF-SHA256, RFC 5869 cases 1 and 3");
    {
        uint8_t ikm[22], salt[13], info[10];
        memset(ikm, 0x0b, sizeof ikm);
        for (size_t i = 0; i < sizeof salt; i++) salt[i] = (uint8_t)i;
        for (size_t i = 0; i < sizeof info; i++) info[i] = (uint8_t)(0xf0 + i);
        CHECK(ax_hkdf_sha256(ikm, sizeof ikm, salt, sizeof salt, info, sizeof info, okm, 42) ==
              AX_OK);
        CHECK(hex_eq(okm, 42,
                     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b8"
                     "87185865"));
        CHECK(ax_hkdf_sha256(ikm, sizeof ikm, NULL, 0, NULL, 0, okm, 42) == AX_OK);
        CHECK(hex_eq(okm, 42,
                     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4"
                     "b61a96c8"));
        /* an empty salt is no salt; a shorter output is a prefix */
        CHECK(ax_hkdf_sha256(ikm, sizeof ikm, salt, 0, NULL, 0, out, 16) == AX_OK);
        CHECK(memcmp(out, okm, 16) == 0);
        CHECK(ax_hkdf_sha256(ikm, sizeof ikm, NULL, 0, NULL, 0, okm, 255 * 32) == AX_OK);
        CHECK(memcmp(out, okm, 16) == 0);
        CHECK(ax_hkdf_sha256(ikm, sizeof ikm, NULL, 0, NULL, 0, okm, 255 * 32 + 1) ==
              AX_ERR_ARGUMENT);
        CHECK(ax_hkdf_sha256(NULL, 0, NULL, 0, NULL, 0, out, 32) == AX_OK);
        CHECK(ax_hkdf_sha256(NULL, 3, NULL, 0, NULL, 0, out, 32) == AX_ERR_ARGUMENT);
        CHECK(ax_hkdf_sha256(ikm, 3, NULL, 3, NULL, 0, out, 32) == AX_ERR_ARGUMENT);
        CHECK(ax_hkdf_sha256(ikm, 3, NULL, 0, NULL, 3, out, 32) == AX_ERR_ARGUMENT);
        CHECK(ax_hkdf_sha256(ikm, 3, NULL, 0, NULL, 0, NULL, 32) == AX_ERR_ARGUMENT);
    }
}

/* ---- AES-GCM-128 -------------------------------------------------------------------------------- */

static void test_aes_gcm(void) {
    uint8_t key[16] = {0}, nonce[12] = {0}, pt[64] = {0}, ct[80], out[80], bad[80];
    TEST("hostcrypto: AES-GCM-128, McGrew-Viega test cases 1 and 2");
    CHECK(ax_aes_gcm_seal(key, nonce, NULL, 0, NULL, 0, ct) == AX_OK);
    CHECK(hex_eq(ct, 16, "58e2fccefa7e3061367f1d57a4e7455a"));
    CHECK(ax_aes_gcm_open(key, nonce, NULL, 0, ct, 16, NULL) == AX_OK);
    CHECK(ax_aes_gcm_seal(key, nonce, NULL, 0, pt, 16, ct) == AX_OK);
    CHECK(hex_eq(ct, 32, "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf"));
    CHECK(ax_aes_gcm_open(key, nonce, NULL, 0, ct, 32, out) == AX_OK);
    CHECK(all_zero(out, 16));

    TEST("hostcrypto: AES-GCM-128 refusals");
    for (size_t i = 0; i < sizeof key; i++) key[i] = (uint8_t)(i + 1);
    for (size_t i = 0; i < sizeof pt; i++) pt[i] = (uint8_t)(i * 5);
    const uint8_t ad[5] = {1, 2, 3, 4, 5};
    CHECK(ax_aes_gcm_seal(key, nonce, ad, 5, pt, 41, ct) == AX_OK);
    int accepted = 0, leaked = 0;
    for (size_t bit = 0; bit < 8 * 57; bit += 3) {
        memcpy(bad, ct, 57);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        memset(out, 0x11, sizeof out);
        if (ax_aes_gcm_open(key, nonce, ad, 5, bad, 57, out) != AX_ERR_FORGED) accepted++;
        if (!all_zero(out, 41)) leaked++;
    }
    CHECK(accepted == 0);
    CHECK(leaked == 0);
    CHECK(ax_aes_gcm_open(key, nonce, ad, 4, ct, 57, out) == AX_ERR_FORGED);
    nonce[11] = 1;
    CHECK(ax_aes_gcm_open(key, nonce, ad, 5, ct, 57, out) == AX_ERR_FORGED);
    nonce[11] = 0;
    key[3] ^= 4;
    CHECK(ax_aes_gcm_open(key, nonce, ad, 5, ct, 57, out) == AX_ERR_FORGED);
    key[3] ^= 4;
    CHECK(ax_aes_gcm_open(key, nonce, ad, 5, ct, 15, out) == AX_ERR_FORGED);
    CHECK(ax_aes_gcm_open(key, nonce, ad, 5, ct, 56, out) == AX_ERR_FORGED);
    CHECK(ax_aes_gcm_open(key, nonce, ad, 5, ct, 57, out) == AX_OK);
    CHECK_MEM(out, pt, 41);

    TEST("hostcrypto: AES-GCM-128 in place and arguments");
    memcpy(out, pt, 41);
    CHECK(ax_aes_gcm_seal(key, nonce, ad, 5, out, 41, out) == AX_OK);
    CHECK_MEM(out, ct, 57);
    CHECK(ax_aes_gcm_open(key, nonce, ad, 5, out, 57, out) == AX_OK);
    CHECK_MEM(out, pt, 41);
    CHECK(ax_aes_gcm_seal(NULL, nonce, ad, 5, pt, 41, ct) == AX_ERR_ARGUMENT);
    CHECK(ax_aes_gcm_seal(key, NULL, ad, 5, pt, 41, ct) == AX_ERR_ARGUMENT);
    CHECK(ax_aes_gcm_seal(key, nonce, NULL, 5, pt, 41, ct) == AX_ERR_ARGUMENT);
    CHECK(ax_aes_gcm_seal(key, nonce, ad, 5, NULL, 41, ct) == AX_ERR_ARGUMENT);
    CHECK(ax_aes_gcm_seal(key, nonce, ad, 5, pt, 41, NULL) == AX_ERR_ARGUMENT);
    CHECK(ax_aes_gcm_open(key, nonce, ad, 5, NULL, 57, out) == AX_ERR_ARGUMENT);
    CHECK(ax_aes_gcm_open(key, nonce, ad, 5, ct, 57, NULL) == AX_ERR_ARGUMENT);
}

/* ---- X25519 and Ed25519 ------------------------------------------------------------------------- */

static void test_x25519(void) {
    uint8_t a_priv[32], b_pub[32], shared[32], base[32] = {9}, pub[32];
    TEST("hostcrypto: X25519, RFC 7748 §6.1");
    unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", a_priv, 32);
    unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", b_pub, 32);
    CHECK(ax_x25519(a_priv, b_pub, shared) == AX_OK);
    CHECK(hex_eq(shared, 32, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"));
    CHECK(ax_x25519(a_priv, base, pub) == AX_OK);
    CHECK(hex_eq(pub, 32, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"));

    TEST("hostcrypto: X25519 refuses low-order peer points");
    static const char *const low_order[] = {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000080",
    };
    for (size_t i = 0; i < sizeof low_order / sizeof low_order[0]; i++) {
        uint8_t peer[32];
        unhex(low_order[i], peer, 32);
        memset(shared, 0x42, sizeof shared);
        CHECK(ax_x25519(a_priv, peer, shared) == AX_ERR_FORGED);
        CHECK(all_zero(shared, 32));
    }

    TEST("hostcrypto: X25519 key pairs agree and are fresh");
    uint8_t p1[32], q1[32], p2[32], q2[32], s1[32], s2[32];
    CHECK(ax_x25519_keypair(p1, q1) == AX_OK);
    CHECK(ax_x25519_keypair(p2, q2) == AX_OK);
    CHECK(memcmp(p1, p2, 32) != 0);
    CHECK(ax_x25519(p1, base, pub) == AX_OK);
    CHECK_MEM(pub, q1, 32);
    CHECK(ax_x25519(p1, q2, s1) == AX_OK);
    CHECK(ax_x25519(p2, q1, s2) == AX_OK);
    CHECK_MEM(s1, s2, 32);
    CHECK(ax_x25519(NULL, q1, s1) == AX_ERR_ARGUMENT);
    CHECK(ax_x25519(p1, NULL, s1) == AX_ERR_ARGUMENT);
    CHECK(ax_x25519(p1, q1, NULL) == AX_ERR_ARGUMENT);
    CHECK(ax_x25519_keypair(NULL, q1) == AX_ERR_ARGUMENT);
}

static void test_ed25519(void) {
    uint8_t pk[32], sig[64], msg[1] = {0x72};
    TEST("hostcrypto: Ed25519, RFC 8032 tests 1 and 2");
    unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", pk, 32);
    unhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e"
          "39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
          sig, 64);
    CHECK(ax_ed25519_verify(pk, NULL, 0, sig) == AX_OK);
    CHECK(ax_ed25519_verify(pk, msg, 1, sig) == AX_ERR_FORGED);
    uint8_t malleated[64];
    unhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901554c8c7872aa064e049dbb"
          "3013fbf29380d25bf5f0595bbe24655141438e7a101b",
          malleated, 64);
    CHECK(ax_ed25519_verify(pk, NULL, 0, malleated) == AX_ERR_FORGED); /* S + L */
    uint8_t pk2[32], sig2[64];
    unhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", pk2, 32);
    unhex("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f"
          "3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
          sig2, 64);
    CHECK(ax_ed25519_verify(pk2, msg, 1, sig2) == AX_OK);

    TEST("hostcrypto: Ed25519 refuses bad signatures");
    int accepted = 0;
    for (size_t bit = 0; bit < 512; bit += 7) {
        uint8_t bad[64];
        memcpy(bad, sig2, 64);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (ax_ed25519_verify(pk2, msg, 1, bad) != AX_ERR_FORGED) accepted++;
    }
    CHECK(accepted == 0);
    CHECK(ax_ed25519_verify(pk, msg, 1, sig2) == AX_ERR_FORGED); /* another key */
    uint8_t other = 0x73;
    CHECK(ax_ed25519_verify(pk2, &other, 1, sig2) == AX_ERR_FORGED);
    CHECK(ax_ed25519_verify(pk2, NULL, 0, sig2) == AX_ERR_FORGED);
    uint8_t zero_sig[64] = {0}, junk_key[32] = {2};
    CHECK(ax_ed25519_verify(pk2, msg, 1, zero_sig) == AX_ERR_FORGED);
    CHECK(ax_ed25519_verify(junk_key, msg, 1, sig2) == AX_ERR_FORGED);
    memset(junk_key, 0xFF, sizeof junk_key);
    CHECK(ax_ed25519_verify(junk_key, msg, 1, sig2) == AX_ERR_FORGED);
    CHECK(ax_ed25519_verify(NULL, msg, 1, sig2) == AX_ERR_ARGUMENT);
    CHECK(ax_ed25519_verify(pk2, NULL, 1, sig2) == AX_ERR_ARGUMENT);
    CHECK(ax_ed25519_verify(pk2, msg, 1, NULL) == AX_ERR_ARGUMENT);
}

/* ---- spec/vectors/native_exchange.json ---------------------------------------------------------- */

static void test_native_exchange(void) {
    vecfile v;
    if (vec_load(&v, "native_exchange") != 0) return;
    int count = vec_count(&v, "exchanges");
    TEST("hostcrypto: native_exchange.json");
    CHECK(count == 2);
    for (int i = 0; i < count; i++) {
        TEST("hostcrypto: native_exchange.json, X25519 + HKDF + AES-GCM + Ed25519");
        uint8_t op_pub[32], sig[64], msg[256], d_priv[32], d_pub[32], m_priv[32], m_pub[32];
        uint8_t shared[32], want[64], nonce[16], info[128], key[16], cnonce[12], cad[64], base[32] = {9};
        uint8_t got[64];
        CHECK(vec_hex(&v, op_pub, 32, "exchanges.%d.operator_public", i) == 32);
        CHECK(vec_hex(&v, sig, 64, "exchanges.%d.signature", i) == 64);
        long ml = vec_hex(&v, msg, sizeof msg, "exchanges.%d.signed_message", i);
        CHECK(ml > 0);
        size_t mlen = ml > 0 ? (size_t)ml : 0;
        CHECK(ax_ed25519_verify(op_pub, msg, mlen, sig) == AX_OK);
        msg[mlen - 1] ^= 1; /* the last byte of the deployer's public key */
        CHECK(ax_ed25519_verify(op_pub, msg, mlen, sig) == AX_ERR_FORGED);
        msg[mlen - 1] ^= 1;
        sig[10] ^= 1;
        CHECK(ax_ed25519_verify(op_pub, msg, mlen, sig) == AX_ERR_FORGED);

        CHECK(vec_hex(&v, d_priv, 32, "exchanges.%d.deployer_ephemeral_private", i) == 32);
        CHECK(vec_hex(&v, d_pub, 32, "exchanges.%d.deployer_ephemeral_public", i) == 32);
        CHECK(vec_hex(&v, m_priv, 32, "exchanges.%d.module_ephemeral_private", i) == 32);
        CHECK(vec_hex(&v, m_pub, 32, "exchanges.%d.module_ephemeral_public", i) == 32);
        CHECK(ax_x25519(d_priv, base, got) == AX_OK);
        CHECK_MEM(got, d_pub, 32);
        CHECK(ax_x25519(m_priv, base, got) == AX_OK);
        CHECK_MEM(got, m_pub, 32);
        CHECK(vec_hex(&v, want, 32, "exchanges.%d.shared_secret", i) == 32);
        CHECK(ax_x25519(d_priv, m_pub, shared) == AX_OK);
        CHECK_MEM(shared, want, 32);
        CHECK(ax_x25519(m_priv, d_pub, got) == AX_OK);
        CHECK_MEM(got, want, 32);

        CHECK(vec_hex(&v, nonce, 16, "exchanges.%d.hkdf_salt", i) == 16);
        long il = vec_hex(&v, info, sizeof info, "exchanges.%d.hkdf_info", i);
        CHECK(il == 27 + 64);
        CHECK(memcmp(info, "authex native module key v1", 27) == 0);
        CHECK(vec_hex(&v, want, 16, "exchanges.%d.module_key", i) == 16);
        CHECK(ax_hkdf_sha256(shared, 32, nonce, 16, info, il > 0 ? (size_t)il : 0, key, 16) ==
              AX_OK);
        CHECK_MEM(key, want, 16);

        CHECK(vec_hex(&v, cnonce, 12, "exchanges.%d.confirm_nonce", i) == 12);
        long al = vec_hex(&v, cad, sizeof cad, "exchanges.%d.confirm_ad", i);
        CHECK(al == 14 + 16);
        size_t alen = al > 0 ? (size_t)al : 0;
        CHECK(vec_hex(&v, want, 16, "exchanges.%d.confirm_tag", i) == 16);
        CHECK(ax_aes_gcm_seal(key, cnonce, cad, alen, NULL, 0, got) == AX_OK);
        CHECK_MEM(got, want, 16);
        CHECK(ax_aes_gcm_open(key, cnonce, cad, alen, want, 16, NULL) == AX_OK);
        want[15] ^= 0x40;
        CHECK(ax_aes_gcm_open(key, cnonce, cad, alen, want, 16, NULL) == AX_ERR_FORGED);
    }
    vec_free(&v);
}

void suite_hostcrypto(void) {
    test_portable();
    test_hashes();
    test_aes_gcm();
    test_x25519();
    test_ed25519();
    test_native_exchange();
}

#endif
