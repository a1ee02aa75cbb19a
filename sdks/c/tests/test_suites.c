/* Tests of src/suites.c: the aes-gcm-128 vectors of spec/vectors/event_channel.json, the suite
 * examples of spec/crypto.md §7 and §8, the nonce block, round trips of every suite at several
 * lengths, and refusals (tampering, wrong key/AD/direction/counter, impossible lengths, bad
 * padding behind a valid tag, small buffers, unknown suites). */
#include <stdlib.h>

#include "authex/crypto.h"
#include "check.h"
#include "suites.h"

static const ax_suite ALL[3] = {AX_SUITE_AES_GCM_128, AX_SUITE_ASCON_AEAD128,
                                AX_SUITE_SPONGEWRAP_128};

/* u8 version || u32 conn_id || u8 direction || u64 counter (spec/crypto.md §3) */
static void event_ad(uint32_t conn_id, uint8_t direction, uint64_t counter, uint8_t ad[14]) {
    ad[0] = 1;
    for (int i = 0; i < 4; i++) ad[1 + i] = (uint8_t)(conn_id >> (24 - 8 * i));
    ad[5] = direction;
    for (int i = 0; i < 8; i++) ad[6 + i] = (uint8_t)(counter >> (56 - 8 * i));
}

static void nonce_block(uint8_t direction, uint64_t counter, uint8_t block[16]) {
    memset(block, 0, 16);
    block[0] = direction;
    for (int i = 0; i < 8; i++) block[4 + i] = (uint8_t)(counter >> (56 - 8 * i));
}

static int all_zero(const uint8_t *p, size_t n) {
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
}

static int hex_eq(const uint8_t *got, size_t len, const char *hex) {
    uint8_t want[256];
    long n = check_unhex(hex, want, sizeof want);
    return n >= 0 && (size_t)n == len && memcmp(got, want, len) == 0;
}

/* ---- event_channel.json ------------------------------------------------------------------------- */

static void test_event_channel(void) {
    vecfile v;
    if (vec_load(&v, "event_channel") != 0) return;
    TEST("suites: event_channel.json header");
    const char *suite_name = vec_get(&v, "suite");
    CHECK(suite_name != NULL && strcmp(suite_name, "aes-gcm-128") == 0);
    CHECK(vec_num(&v, 0, "suite_id") == 1);
    CHECK(ax_suite_from_id((unsigned)vec_num(&v, 0, "suite_id")) == AX_SUITE_AES_GCM_128);
    CHECK(vec_num(&v, 0, "version") == 1);
    int count = vec_count(&v, "vectors");
    CHECK(count >= 6);
    if (!ax_suite_available(AX_SUITE_AES_GCM_128)) {
        vec_free(&v);
        return;
    }
    static uint8_t pt[4096], sealed[4096 + 32], want[4096 + 32], out[4096 + 32], bad[4096 + 32];
    for (int i = 0; i < count; i++) {
        TEST("suites: event_channel.json vector");
        uint8_t key[16], ad[14], want_ad[64], block[16], nonce[16];
        CHECK(vec_hex(&v, key, sizeof key, "vectors.%d.key", i) == 16);
        uint32_t conn = (uint32_t)vec_num(&v, 0, "vectors.%d.conn_id", i);
        uint8_t dir = (uint8_t)vec_num(&v, 0, "vectors.%d.direction", i);
        uint64_t counter = vec_num(&v, 0, "vectors.%d.counter", i);
        long pl = vec_hex(&v, pt, sizeof pt, "vectors.%d.plaintext", i);
        long sl = vec_hex(&v, want, sizeof want, "vectors.%d.sealed", i);
        CHECK(pl >= 0 && sl == pl + 16);
        if (pl < 0 || sl != pl + 16) continue;
        event_ad(conn, dir, counter, ad);
        CHECK(vec_hex(&v, want_ad, sizeof want_ad, "vectors.%d.ad", i) == 14);
        CHECK_MEM(ad, want_ad, 14);
        nonce_block(dir, counter, block);
        CHECK(vec_hex(&v, nonce, sizeof nonce, "vectors.%d.nonce_block", i) == 16);
        CHECK_MEM(block, nonce, 16);
        CHECK(vec_hex(&v, nonce, sizeof nonce, "vectors.%d.nonce", i) == 12);
        CHECK_MEM(block, nonce, 12);

        size_t len = 0;
        CHECK(ax_suite_seal(AX_SUITE_AES_GCM_128, key, dir, counter, ad, 14, pt, (size_t)pl, sealed,
                            sizeof sealed, &len) == AX_OK);
        CHECK(len == (size_t)sl);
        CHECK_MEM(sealed, want, (size_t)sl);
        /* the primitive with the vector's nonce gives the same */
        CHECK(ax_aes_gcm_seal(key, nonce, ad, 14, pt, (size_t)pl, out) == AX_OK);
        CHECK_MEM(out, want, (size_t)sl);
        CHECK(ax_suite_open(AX_SUITE_AES_GCM_128, key, dir, counter, ad, 14, want, (size_t)sl, out,
                            sizeof out, &len) == AX_OK);
        CHECK(len == (size_t)pl);
        CHECK_MEM(out, pt, (size_t)pl);

        TEST("suites: event_channel.json vector, refusals");
        memcpy(bad, want, (size_t)sl);
        bad[0] ^= 0x01;
        memset(out, 0x33, (size_t)sl);
        CHECK(ax_suite_open(AX_SUITE_AES_GCM_128, key, dir, counter, ad, 14, bad, (size_t)sl, out,
                            sizeof out, &len) == AX_ERR_FORGED);
        CHECK(len == 0);
        CHECK(all_zero(out, (size_t)pl));
        memcpy(bad, want, (size_t)sl);
        bad[sl - 1] ^= 0x80;
        CHECK(ax_suite_open(AX_SUITE_AES_GCM_128, key, dir, counter, ad, 14, bad, (size_t)sl, out,
                            sizeof out, &len) == AX_ERR_FORGED);
        CHECK(ax_suite_open(AX_SUITE_AES_GCM_128, key, dir ^ 1, counter, ad, 14, want, (size_t)sl,
                            out, sizeof out, &len) == AX_ERR_FORGED);
        CHECK(ax_suite_open(AX_SUITE_AES_GCM_128, key, dir, counter + 1, ad, 14, want, (size_t)sl,
                            out, sizeof out, &len) == AX_ERR_FORGED);
        ad[13] ^= 0x01;
        CHECK(ax_suite_open(AX_SUITE_AES_GCM_128, key, dir, counter, ad, 14, want, (size_t)sl, out,
                            sizeof out, &len) == AX_ERR_FORGED);
        ad[13] ^= 0x01;
        key[0] ^= 0x01;
        CHECK(ax_suite_open(AX_SUITE_AES_GCM_128, key, dir, counter, ad, 14, want, (size_t)sl, out,
                            sizeof out, &len) == AX_ERR_FORGED);
    }
    vec_free(&v);
}

/* ---- spec/crypto.md §7 and §8 -------------------------------------------------------------------- */

static void test_spec_examples(void) {
    uint8_t key[16], ad[14], sealed[64], out[64];
    size_t len = 0;
    for (int i = 0; i < 16; i++) key[i] = (uint8_t)i;
    event_ad(7, 0, 1, ad);

    TEST("suites: spec/crypto.md §7 event AD and AD'");
    CHECK(hex_eq(ad, 14, "0100000007000000000000000001"));
    {
        /* SpongeWrap with the spec's AD' written out equals the suite */
        uint8_t ad2[32], body[4] = {'h', 'i', 0x80, 0x00}, c[4], t[16];
        CHECK(check_unhex("0000000000000000000000010000000001000000070000000000000000018000", ad2,
                          sizeof ad2) == 32);
        CHECK(ax_spongewrap_wrap(128, key, ad2, 32, body, 4, c, t) == AX_OK);
        CHECK(hex_eq(c, 4, "bdcaa04c"));
        CHECK(hex_eq(t, 16, "c8c641d4fd56d1e30b4adaec06291b05"));
    }

    TEST("suites: spec/crypto.md §7 spongewrap-128 examples");
    CHECK(ax_suite_seal(AX_SUITE_SPONGEWRAP_128, key, 0, 1, ad, 14, (const uint8_t *)"hi", 2, sealed,
                        sizeof sealed, &len) == AX_OK);
    CHECK(len == 20);
    CHECK(hex_eq(sealed, len, "bdcaa04cc8c641d4fd56d1e30b4adaec06291b05"));
    CHECK(ax_suite_seal(AX_SUITE_SPONGEWRAP_128, key, 0, 1, ad, 14, (const uint8_t *)"abc", 3,
                        sealed, sizeof sealed, &len) == AX_OK);
    CHECK(len == 20);
    CHECK(hex_eq(sealed, len, "b4c10e131f2f41b0a4356abb45dfc39f13747d47"));
    CHECK(ax_suite_open(AX_SUITE_SPONGEWRAP_128, key, 0, 1, ad, 14, sealed, 20, out, sizeof out,
                        &len) == AX_OK);
    CHECK(len == 3 && memcmp(out, "abc", 3) == 0);

    TEST("suites: spongewrap-128 plaintexts of the Rust suite test");
    {
        uint8_t big[33];
        memset(big, 0x80, sizeof big);
        const struct {
            const uint8_t *p;
            size_t n;
        } plains[] = {{(const uint8_t *)"", 0}, {(const uint8_t *)"a", 1},
                      {(const uint8_t *)"hi", 2}, {(const uint8_t *)"abc", 3}, {big, 33}};
        for (size_t i = 0; i < sizeof plains / sizeof plains[0]; i++) {
            size_t n = plains[i].n;
            CHECK(ax_suite_seal(AX_SUITE_SPONGEWRAP_128, key, 0, 1, ad, 14, plains[i].p, n, sealed,
                                sizeof sealed, &len) == AX_OK);
            CHECK(len == n + (n % 2 == 1 ? 1 : 2) + 16);
            size_t sl = len;
            CHECK(ax_suite_open(AX_SUITE_SPONGEWRAP_128, key, 0, 1, ad, 14, sealed, sl, out,
                                sizeof out, &len) == AX_OK);
            CHECK(len == n && memcmp(out, plains[i].p, n) == 0);
            CHECK(ax_suite_open(AX_SUITE_SPONGEWRAP_128, key, 1, 1, ad, 14, sealed, sl, out,
                                sizeof out, &len) == AX_ERR_FORGED);
            CHECK(ax_suite_open(AX_SUITE_SPONGEWRAP_128, key, 0, 2, ad, 14, sealed, sl, out,
                                sizeof out, &len) == AX_ERR_FORGED);
            sealed[0] ^= 1;
            CHECK(ax_suite_open(AX_SUITE_SPONGEWRAP_128, key, 0, 1, ad, 14, sealed, sl, out,
                                sizeof out, &len) == AX_ERR_FORGED);
        }
    }

    TEST("suites: spongewrap-128 impossible lengths");
    {
        uint8_t zeros[40] = {0};
        static const size_t lengths[] = {0, 1, 15, 16, 17, 19, 33};
        for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
            len = 99;
            CHECK(ax_suite_open(AX_SUITE_SPONGEWRAP_128, key, 0, 1, ad, 14, zeros, lengths[i], out,
                                sizeof out, &len) == AX_ERR_FORGED);
            CHECK(len == 0);
        }
    }

    TEST("suites: spongewrap-128 refuses a bad padding behind a valid tag");
    {
        /* wrap bodies that pad2 never produces under the suite's AD' and open them */
        uint8_t block[16], pad[2] = {0x80, 0x00}, c[40];
        nonce_block(0, 1, block);
        const ax_part parts[3] = {{block, 16}, {ad, 14}, {pad, 2}};
        static const char *const bodies[] = {"6869", "68690000", "80000000", "8001", "0080",
                                             "68698000"};
        static const size_t plain_len[] = {0, 0, 0, 0, 1, 2}; /* 0: must be refused */
        for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
            uint8_t body[8];
            long n = check_unhex(bodies[i], body, sizeof body);
            CHECK(ax_spongewrap_wrap_parts(128, key, parts, 3, body, (size_t)n, c, c + n) == AX_OK);
            int rc = ax_suite_open(AX_SUITE_SPONGEWRAP_128, key, 0, 1, ad, 14, c, (size_t)n + 16,
                                   out, sizeof out, &len);
            CHECK(rc == (plain_len[i] > 0 ? AX_OK : AX_ERR_FORGED));
            if (rc == AX_OK) CHECK(len == plain_len[i] && memcmp(out, body, len) == 0);
            if (rc != AX_OK) CHECK(len == 0 && all_zero(out, (size_t)n));
        }
    }

    TEST("suites: spec/crypto.md §8 ascon-aead128 examples");
    CHECK(ax_suite_seal(AX_SUITE_ASCON_AEAD128, key, 0, 1, ad, 14, (const uint8_t *)"hi", 2, sealed,
                        sizeof sealed, &len) == AX_OK);
    CHECK(hex_eq(sealed, len, "2d4bdb015cbd13e80d44f899f274ae0f7fbf"));
    CHECK(ax_suite_seal(AX_SUITE_ASCON_AEAD128, key, 0, 1, ad, 14, (const uint8_t *)"abc", 3,
                        sealed, sizeof sealed, &len) == AX_OK);
    CHECK(hex_eq(sealed, len, "2440879e9f9cd6b608b98c207f6ef499d385fd"));
    CHECK(check_unhex("2d4bdb015cbd13e80d44f899f274ae0f7fbf", sealed, sizeof sealed) == 18);
    CHECK(ax_suite_open(AX_SUITE_ASCON_AEAD128, key, 0, 1, ad, 14, sealed, 18, out, sizeof out,
                        &len) == AX_OK);
    CHECK(len == 2 && memcmp(out, "hi", 2) == 0);

    TEST("suites: ascon-aead128 uses the 16-byte nonce block");
    {
        uint8_t k3[16], block[16], direct[32], ad2[14];
        memset(k3, 3, sizeof k3);
        event_ad(1, 1, 5, ad2);
        nonce_block(1, 5, block);
        CHECK(ax_suite_seal(AX_SUITE_ASCON_AEAD128, k3, 1, 5, ad2, 14, (const uint8_t *)"data", 4,
                            sealed, sizeof sealed, &len) == AX_OK);
        CHECK(ax_ascon_seal(k3, block, ad2, 14, (const uint8_t *)"data", 4, direct) == AX_OK);
        CHECK(len == 20);
        CHECK_MEM(sealed, direct, 20);
        /* the counter is big-endian in bytes 4..11 */
        nonce_block(0xFE, UINT64_C(0x0102030405060708), block);
        CHECK(hex_eq(block, 16, "fe000000010203040506070800000000"));
        CHECK(ax_suite_seal(AX_SUITE_ASCON_AEAD128, k3, 0xFE, UINT64_C(0x0102030405060708), NULL, 0,
                            NULL, 0, sealed, sizeof sealed, &len) == AX_OK);
        CHECK(ax_ascon_seal(k3, block, NULL, 0, NULL, 0, direct) == AX_OK);
        CHECK(len == 16);
        CHECK_MEM(sealed, direct, 16);
    }
}

/* ---- round trips and refusals, every suite ------------------------------------------------------ */

static void test_round_trips(void) {
    static const size_t lengths[] = {0, 1, 2, 15, 16, 17, 1000};
    static uint8_t pt[1000], sealed[1100], out[1100], again[1100];
    uint8_t key[16], other[16], ad[21];
    for (size_t i = 0; i < sizeof pt; i++) pt[i] = (uint8_t)(i * 31 + 7);
    for (size_t i = 0; i < sizeof key; i++) key[i] = (uint8_t)(0x40 + i);
    memcpy(other, key, sizeof other);
    other[7] ^= 0x20;
    for (size_t i = 0; i < sizeof ad; i++) ad[i] = (uint8_t)(0x90 ^ i);

    for (size_t s = 0; s < 3; s++) {
        ax_suite suite = ALL[s];
        if (!ax_suite_available(suite)) continue;
        for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
            size_t n = lengths[li], len = 0, sl;
            TEST(suite == AX_SUITE_AES_GCM_128      ? "suites: aes-gcm-128 round trip"
                 : suite == AX_SUITE_ASCON_AEAD128 ? "suites: ascon-aead128 round trip"
                                                   : "suites: spongewrap-128 round trip");
            CHECK(ax_suite_seal(suite, key, 0, 42, ad, sizeof ad, pt, n, sealed, sizeof sealed,
                                &len) == AX_OK);
            sl = len;
            CHECK(sl == ax_suite_sealed_size(suite, n));
            CHECK(ax_suite_open(suite, key, 0, 42, ad, sizeof ad, sealed, sl, out, sizeof out,
                                &len) == AX_OK);
            CHECK(len == n);
            CHECK_MEM(out, pt, n);
            /* the AD may be empty */
            CHECK(ax_suite_seal(suite, key, 1, 42, NULL, 0, pt, n, again, sizeof again, &len) ==
                  AX_OK);
            CHECK(ax_suite_open(suite, key, 1, 42, NULL, 0, again, len, out, sizeof out, &len) ==
                  AX_OK);
            CHECK(len == n);
            CHECK_MEM(out, pt, n);
            /* in place */
            memcpy(again, pt, n);
            CHECK(ax_suite_seal(suite, key, 0, 42, ad, sizeof ad, again, n, again, sizeof again,
                                &len) == AX_OK);
            CHECK(len == sl);
            CHECK_MEM(again, sealed, sl);
            CHECK(ax_suite_open(suite, key, 0, 42, ad, sizeof ad, again, sl, again, sizeof again,
                                &len) == AX_OK);
            CHECK(len == n);
            CHECK_MEM(again, pt, n);

            TEST(suite == AX_SUITE_AES_GCM_128      ? "suites: aes-gcm-128 refusals"
                 : suite == AX_SUITE_ASCON_AEAD128 ? "suites: ascon-aead128 refusals"
                                                   : "suites: spongewrap-128 refusals");
            int accepted = 0, leaked = 0;
            /* a flipped bit anywhere: first, middle and last byte of the body, every tag byte */
            for (size_t pos = 0; pos < sl; pos++) {
                if (pos >= 1 && pos + 1 < sl - 16 && pos != (sl - 16) / 2) continue;
                memcpy(again, sealed, sl);
                again[pos] ^= (uint8_t)(1u << (pos % 8));
                memset(out, 0x55, sl);
                len = 77;
                if (ax_suite_open(suite, key, 0, 42, ad, sizeof ad, again, sl, out, sizeof out,
                                  &len) != AX_ERR_FORGED) {
                    accepted++;
                }
                if (len != 0 || !all_zero(out, sl - 16)) leaked++;
            }
            CHECK(accepted == 0);
            CHECK(leaked == 0);
            CHECK(ax_suite_open(suite, other, 0, 42, ad, sizeof ad, sealed, sl, out, sizeof out,
                                &len) == AX_ERR_FORGED);
            CHECK(ax_suite_open(suite, key, 1, 42, ad, sizeof ad, sealed, sl, out, sizeof out,
                                &len) == AX_ERR_FORGED);
            CHECK(ax_suite_open(suite, key, 0, 43, ad, sizeof ad, sealed, sl, out, sizeof out,
                                &len) == AX_ERR_FORGED);
            CHECK(ax_suite_open(suite, key, 0, 42 + (UINT64_C(1) << 32), ad, sizeof ad, sealed, sl,
                                out, sizeof out, &len) == AX_ERR_FORGED);
            CHECK(ax_suite_open(suite, key, 0, 42, ad, sizeof ad - 1, sealed, sl, out, sizeof out,
                                &len) == AX_ERR_FORGED);
            CHECK(ax_suite_open(suite, key, 0, 42, NULL, 0, sealed, sl, out, sizeof out, &len) ==
                  AX_ERR_FORGED);
            CHECK(ax_suite_open(suite, key, 0, 42, ad, sizeof ad, sealed, sl - 1, out, sizeof out,
                                &len) == AX_ERR_FORGED);
            CHECK(ax_suite_open(suite, key, 0, 42, ad, sizeof ad, sealed + 1, sl - 1, out,
                                sizeof out, &len) == AX_ERR_FORGED);
            CHECK(ax_suite_open(suite, key, 0, 42, ad, sizeof ad, sealed, 15, out, sizeof out,
                                &len) == AX_ERR_FORGED);
            /* buffers too small */
            CHECK(ax_suite_seal(suite, key, 0, 42, ad, sizeof ad, pt, n, again, sl - 1, &len) ==
                  AX_ERR_ARGUMENT);
            if (sl > 16) {
                CHECK(ax_suite_open(suite, key, 0, 42, ad, sizeof ad, sealed, sl, out, sl - 17,
                                    &len) == AX_ERR_ARGUMENT);
            }
        }
    }
}

static void test_names_and_arguments(void) {
    TEST("suites: names, ids, availability, sizes");
    CHECK(strcmp(ax_suite_name(AX_SUITE_AES_GCM_128), "aes-gcm-128") == 0);
    CHECK(strcmp(ax_suite_name(AX_SUITE_ASCON_AEAD128), "ascon-aead128") == 0);
    CHECK(strcmp(ax_suite_name(AX_SUITE_SPONGEWRAP_128), "spongewrap-128") == 0);
    CHECK(ax_suite_name((ax_suite)0) == NULL);
    CHECK(ax_suite_name((ax_suite)4) == NULL);
    for (unsigned id = 1; id <= 3; id++) {
        CHECK(ax_suite_from_id(id) == (ax_suite)id);
        CHECK(ax_suite_from_name(ax_suite_name((ax_suite)id)) == (ax_suite)id);
    }
    CHECK(ax_suite_from_id(0) == 0);
    CHECK(ax_suite_from_id(4) == 0);
    CHECK(ax_suite_from_id(259) == 0);
    CHECK(ax_suite_from_name("AES-GCM-128") == 0);
    CHECK(ax_suite_from_name("aes-gcm-128 ") == 0);
    CHECK(ax_suite_from_name("") == 0);
    CHECK(ax_suite_from_name(NULL) == 0);
    CHECK(ax_suite_available(AX_SUITE_ASCON_AEAD128));
    CHECK(ax_suite_available(AX_SUITE_SPONGEWRAP_128));
#ifdef AUTHEX_NO_OPENSSL
    CHECK(!ax_suite_available(AX_SUITE_AES_GCM_128));
#else
    CHECK(ax_suite_available(AX_SUITE_AES_GCM_128));
#endif
    CHECK(!ax_suite_available((ax_suite)0));
    CHECK(!ax_suite_available((ax_suite)9));
    CHECK(ax_suite_sealed_size(AX_SUITE_AES_GCM_128, 5) == 21);
    CHECK(ax_suite_sealed_size(AX_SUITE_ASCON_AEAD128, 0) == 16);
    CHECK(ax_suite_sealed_size(AX_SUITE_SPONGEWRAP_128, 0) == 18);
    CHECK(ax_suite_sealed_size(AX_SUITE_SPONGEWRAP_128, 1) == 18);
    CHECK(ax_suite_sealed_size(AX_SUITE_SPONGEWRAP_128, 2) == 20);
    CHECK(ax_suite_sealed_size(AX_SUITE_SPONGEWRAP_128, 16) == 16 + AX_SEAL_OVERHEAD);
    CHECK(ax_suite_sealed_size((ax_suite)0, 5) == 0);
    CHECK(ax_suite_sealed_size(AX_SUITE_ASCON_AEAD128, SIZE_MAX - 3) == 0);
    CHECK(ax_suite_sealed_size(AX_SUITE_SPONGEWRAP_128, SIZE_MAX - 16) == 0);

    TEST("suites: bad arguments and unknown suites");
    uint8_t key[16] = {0}, buf[64];
    size_t len = 5;
    CHECK(ax_suite_seal((ax_suite)0, key, 0, 1, NULL, 0, NULL, 0, buf, sizeof buf, &len) ==
          AX_ERR_UNAVAILABLE);
    CHECK(len == 0);
    CHECK(ax_suite_open((ax_suite)7, key, 0, 1, NULL, 0, buf, 20, buf, sizeof buf, &len) ==
          AX_ERR_UNAVAILABLE);
    for (size_t s = 0; s < 3; s++) {
        if (!ax_suite_available(ALL[s])) continue;
        CHECK(ax_suite_seal(ALL[s], NULL, 0, 1, NULL, 0, NULL, 0, buf, sizeof buf, &len) ==
              AX_ERR_ARGUMENT);
        CHECK(ax_suite_seal(ALL[s], key, 0, 1, NULL, 3, NULL, 0, buf, sizeof buf, &len) ==
              AX_ERR_ARGUMENT);
        CHECK(ax_suite_seal(ALL[s], key, 0, 1, NULL, 0, NULL, 3, buf, sizeof buf, &len) ==
              AX_ERR_ARGUMENT);
        CHECK(ax_suite_seal(ALL[s], key, 0, 1, NULL, 0, NULL, 0, NULL, sizeof buf, &len) ==
              AX_ERR_ARGUMENT);
        CHECK(ax_suite_seal(ALL[s], key, 0, 1, NULL, 0, NULL, 0, buf, sizeof buf, NULL) ==
              AX_ERR_ARGUMENT);
        CHECK(ax_suite_open(ALL[s], key, 0, 1, NULL, 0, NULL, 20, buf, sizeof buf, &len) ==
              AX_ERR_ARGUMENT);
        CHECK(ax_suite_open(ALL[s], key, 0, 1, NULL, 0, buf, 20, NULL, sizeof buf, &len) ==
              AX_ERR_ARGUMENT);
        CHECK(ax_suite_open(ALL[s], key, 0, 1, NULL, 0, buf, 20, buf, sizeof buf, NULL) ==
              AX_ERR_ARGUMENT);
    }
}

void suite_suites(void) {
    test_event_channel();
    test_spec_examples();
    test_round_trips();
    test_names_and_arguments();
}
