/* Tests of src/spongewrap.c: every value of spec/vectors/sancus/spongewrap.json (both security
 * levels, MAC, key derivation), a cross-check against a slow nibble-per-byte reference written
 * straight from docs/sancus-crypto.md §1-2 (many AD/body lengths), the scattered-AD variants, and
 * tampering. */
#include <stdlib.h>

#include "authex/crypto.h"
#include "check.h"
#include "suites.h"

/* ---- slow reference (docs/sancus-crypto.md §1-2, one nibble per byte) ------------------------ */

static const uint8_t REF_SBOX[16] = {0xE, 0xD, 0xB, 0x0, 0x2, 0x1, 0x4, 0xF,
                                     0x7, 0xA, 0x8, 0x5, 0x9, 0xC, 0x3, 0x6};

typedef struct {
    int width, rounds;
    unsigned iv, bits;
    unsigned taps[4];
    int ntaps;
    uint8_t st[84];
} ref_sponge;

static void ref_permute(ref_sponge *r) {
    int n = r->width / 4;
    unsigned c = r->iv, mask = (1u << r->bits) - 1u;
    for (int round = 0; round < r->rounds; round++) {
        r->st[0] ^= (uint8_t)(c & 0xF);
        r->st[1] ^= (uint8_t)((c >> 4) & 0xF);
        for (unsigned k = 0; k < r->bits; k++) {
            if ((c >> k) & 1u) {
                int bit = r->width - 1 - (int)k;
                r->st[bit / 4] ^= (uint8_t)(1u << (bit % 4));
            }
        }
        uint8_t next[84] = {0};
        for (int i = 0; i < n; i++) {
            unsigned s = REF_SBOX[r->st[i]];
            for (int k = 0; k < 4; k++) {
                if ((s >> k) & 1u) {
                    int pos = k * n + i; /* pLayer: bit 4i+k -> k*n+i */
                    next[pos / 4] |= (uint8_t)(1u << (pos % 4));
                }
            }
        }
        memcpy(r->st, next, sizeof next);
        unsigned fb = 0;
        for (int t = 0; t < r->ntaps; t++) fb ^= (c >> r->taps[t]) & 1u;
        c = ((c << 1) | fb) & mask;
    }
}

static void ref_duplex(ref_sponge *r, const uint8_t *d, size_t len, int frame) {
    uint32_t v = 0;
    unsigned bits = (unsigned)(8 * len);
    for (size_t i = 0; i < len; i++) v |= (uint32_t)d[i] << (8 * i);
    if (frame >= 0) {
        v |= ((uint32_t)frame << bits) | (1u << (bits + 1));
    } else {
        v |= 1u << bits;
    }
    for (int j = 0; j < 5; j++) r->st[j] ^= (uint8_t)((v >> (4 * j)) & 0xF);
    ref_permute(r);
}

static unsigned ref_out(const ref_sponge *r) {
    return r->st[0] | r->st[1] << 4 | r->st[2] << 8 | (unsigned)r->st[3] << 12;
}

static void ref_absorb(ref_sponge *r, const uint8_t *d, size_t len, int inner, int last) {
    if (len == 0) {
        ref_duplex(r, d, 0, last);
        return;
    }
    for (size_t pos = 0; pos < len; pos += 2) {
        size_t size = len - pos < 2 ? len - pos : 2;
        ref_duplex(r, d + pos, size, pos + size < len ? inner : last);
    }
}

static void ref_wrap(size_t key_len, const uint8_t *key, const uint8_t *ad, size_t ad_len,
                     const uint8_t *body, size_t len, uint8_t *out, uint8_t *tag) {
    ref_sponge r;
    memset(&r, 0, sizeof r);
    if (key_len == 16) {
        r.width = 336, r.rounds = 170, r.iv = 0x52, r.bits = 8;
        r.taps[0] = 7, r.taps[1] = 3, r.taps[2] = 2, r.taps[3] = 1, r.ntaps = 4;
    } else {
        r.width = 176, r.rounds = 90, r.iv = 0x45, r.bits = 7;
        r.taps[0] = 6, r.taps[1] = 5, r.ntaps = 2;
    }
    ref_absorb(&r, key, key_len, 1, 0);
    ref_absorb(&r, ad, ad_len, 0, 1);
    size_t pos = 0;
    do {
        size_t size = len - pos < 2 ? len - pos : 2;
        unsigned z = ref_out(&r);
        for (size_t i = 0; i < size; i++) out[pos + i] = (uint8_t)(body[pos + i] ^ (z >> (8 * i)));
        ref_duplex(&r, size > 0 ? body + pos : NULL, size, pos + size < len ? 1 : 0);
        pos += size;
    } while (pos < len);
    size_t got = 0;
    for (;;) {
        unsigned z = ref_out(&r);
        tag[got++] = (uint8_t)z;
        tag[got++] = (uint8_t)(z >> 8);
        if (got >= key_len) break;
        ref_duplex(&r, NULL, 0, -1);
    }
}

/* ---- helpers ---------------------------------------------------------------------------------- */

static uint32_t rng_state = 0x12345678u;

static uint8_t rnd8(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return (uint8_t)(rng_state >> 24);
}

static void fill(uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = rnd8();
}

static int all_zero(const uint8_t *p, size_t n) {
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
}

/* ---- the vectors -------------------------------------------------------------------------------- */

static void identity_of(const vecfile *v, uint8_t *out, size_t cap, size_t *len) {
    long text = vec_hex(v, out, cap, "security_128.module_text");
    CHECK(text > 0 && (size_t)text + 8 <= cap);
    if (text <= 0) {
        *len = 0;
        return;
    }
    static const char *const fields[4] = {"public_start", "public_end", "secret_start",
                                          "secret_end"};
    size_t n = (size_t)text;
    for (int i = 0; i < 4; i++) {
        unsigned long long x = vec_num(v, 0x10000, "security_128.layout.%s", fields[i]);
        CHECK(x < 0x10000);
        out[n++] = (uint8_t)x;
        out[n++] = (uint8_t)(x >> 8);
    }
    *len = n;
}

static void test_vectors(void) {
    vecfile v;
    if (vec_load(&v, "spongewrap") != 0) return;
    uint8_t node[16], want[16], got[16], vendor[16], module_key[16], buf[256];
    uint8_t zero[16] = {0};

    TEST("spongewrap 128: vendor key = MAC(node key, LE16(vendor id))");
    CHECK(vec_hex(&v, node, sizeof node, "security_128.node_key") == 16);
    unsigned long long vid = vec_num(&v, 0, "security_128.vendor_id");
    CHECK(vid == 0x1234);
    uint8_t vid_le[2] = {(uint8_t)vid, (uint8_t)(vid >> 8)};
    CHECK(ax_sancus_mac(128, node, vid_le, 2, vendor) == AX_OK);
    CHECK(vec_hex(&v, want, sizeof want, "security_128.vendor_key") == 16);
    CHECK_MEM(vendor, want, 16);

    TEST("spongewrap 128: module key = MAC(vendor key, identity)");
    size_t ident_len = 0;
    identity_of(&v, buf, sizeof buf, &ident_len);
    CHECK(ax_sancus_mac(128, vendor, buf, ident_len, module_key) == AX_OK);
    CHECK(vec_hex(&v, want, sizeof want, "security_128.module_key") == 16);
    CHECK_MEM(module_key, want, 16);
    /* the same through a scattered AD: text | layout, byte by byte at the seam */
    {
        ax_part parts[4] = {{buf, 7}, {buf + 7, 0}, {buf + 7, ident_len - 8}, {buf + ident_len - 1, 1}};
        CHECK(ax_spongewrap_wrap_parts(128, vendor, parts, 4, NULL, 0, NULL, got) == AX_OK);
        CHECK_MEM(got, want, 16);
    }

    TEST("spongewrap 128: MACs");
    CHECK(ax_sancus_mac(128, module_key, (const uint8_t *)"ad", 2, got) == AX_OK);
    CHECK(vec_hex(&v, want, sizeof want, "security_128.mac_module_key_ad_6164") == 16);
    CHECK_MEM(got, want, 16);
    CHECK(ax_sancus_mac(128, zero, NULL, 0, got) == AX_OK);
    CHECK(vec_hex(&v, want, sizeof want, "security_128.mac_zero_key_empty") == 16);
    CHECK_MEM(got, want, 16);

    TEST("spongewrap 128: wrap of an 11-byte body");
    {
        const char *w = "security_128.wrap_zero_key_ad_6164_body_hello_world_11B";
        uint8_t body[32], cipher[32], out[32], tag[16], back[32];
        long n = vec_hex(&v, body, sizeof body, "%s.body", w);
        CHECK(n == 11);
        CHECK(vec_hex(&v, cipher, sizeof cipher, "%s.cipher", w) == n);
        CHECK(vec_hex(&v, want, sizeof want, "%s.tag", w) == 16);
        size_t len = n > 0 ? (size_t)n : 0;
        CHECK(ax_spongewrap_wrap(128, zero, (const uint8_t *)"ad", 2, body, len, out, tag) == AX_OK);
        CHECK_MEM(out, cipher, len);
        CHECK_MEM(tag, want, 16);
        CHECK(ax_spongewrap_unwrap(128, zero, (const uint8_t *)"ad", 2, cipher, len, want, back) ==
              AX_OK);
        CHECK_MEM(back, body, len);
        uint8_t bad[16];
        memcpy(bad, want, 16);
        bad[0] ^= 0x80;
        memset(back, 0xAA, sizeof back);
        CHECK(ax_spongewrap_unwrap(128, zero, (const uint8_t *)"ad", 2, cipher, len, bad, back) ==
              AX_ERR_FORGED);
        CHECK(all_zero(back, len));
        CHECK(ax_spongewrap_unwrap(128, zero, (const uint8_t *)"ae", 2, cipher, len, want, back) ==
              AX_ERR_FORGED);
        CHECK(all_zero(back, len));
    }

    TEST("spongewrap 64: vendor key, MAC, wrap of a 12-byte body");
    CHECK(vec_hex(&v, node, sizeof node, "security_64.node_key") == 8);
    vid = vec_num(&v, 0, "security_64.vendor_id");
    vid_le[0] = (uint8_t)vid, vid_le[1] = (uint8_t)(vid >> 8);
    CHECK(ax_sancus_mac(64, node, vid_le, 2, got) == AX_OK);
    CHECK(vec_hex(&v, want, sizeof want, "security_64.vendor_key") == 8);
    CHECK_MEM(got, want, 8);
    CHECK(ax_sancus_mac(64, zero, (const uint8_t *)"", 0, got) == AX_OK);
    CHECK(vec_hex(&v, want, sizeof want, "security_64.mac_zero_key_empty") == 8);
    CHECK_MEM(got, want, 8);
    {
        const char *w = "security_64.wrap_zero_key_ad_6164_body_hello_world!_12B";
        uint8_t body[32], cipher[32], out[32], tag[8], back[32];
        long n = vec_hex(&v, body, sizeof body, "%s.body", w);
        CHECK(n == 12);
        CHECK(vec_hex(&v, cipher, sizeof cipher, "%s.cipher", w) == n);
        CHECK(vec_hex(&v, want, sizeof want, "%s.tag", w) == 8);
        size_t len = n > 0 ? (size_t)n : 0;
        CHECK(ax_spongewrap_wrap(64, zero, (const uint8_t *)"ad", 2, body, len, out, tag) == AX_OK);
        CHECK_MEM(out, cipher, len);
        CHECK_MEM(tag, want, 8);
        CHECK(ax_spongewrap_unwrap(64, zero, (const uint8_t *)"ad", 2, cipher, len, want, back) ==
              AX_OK);
        CHECK_MEM(back, body, len);
        cipher[5] ^= 0x01;
        CHECK(ax_spongewrap_unwrap(64, zero, (const uint8_t *)"ad", 2, cipher, len, want, back) ==
              AX_ERR_FORGED);
        CHECK(all_zero(back, len));
    }
    vec_free(&v);
}

/* ---- against the reference ---------------------------------------------------------------------- */

static void test_reference(void) {
    static const size_t ad_lens[] = {0, 1, 2, 3, 15, 16, 17, 34};
    static const size_t body_lens[] = {0, 1, 2, 3, 4, 15, 16, 17, 33};
    static const unsigned levels[] = {128, 64};
    TEST("spongewrap: equals the slow reference for many lengths");
    int mismatches = 0, runs = 0;
    for (size_t s = 0; s < 2; s++) {
        size_t key_len = levels[s] == 128 ? 16 : 8;
        for (size_t a = 0; a < sizeof ad_lens / sizeof ad_lens[0]; a++) {
            for (size_t b = 0; b < sizeof body_lens / sizeof body_lens[0]; b++) {
                uint8_t key[16], ad[40], body[40], c1[40], c2[40], t1[16], t2[16], back[40];
                fill(key, sizeof key);
                fill(ad, sizeof ad);
                fill(body, sizeof body);
                size_t al = ad_lens[a], bl = body_lens[b];
                ref_wrap(key_len, key, ad, al, body, bl, c1, t1);
                int rc = ax_spongewrap_wrap(levels[s], key, ad, al, body, bl, c2, t2);
                if (rc != AX_OK || memcmp(c1, c2, bl) != 0 || memcmp(t1, t2, key_len) != 0) {
                    mismatches++;
                    fprintf(stderr, "  mismatch: security %u ad %zu body %zu\n", levels[s], al, bl);
                }
                if (ax_spongewrap_unwrap(levels[s], key, ad, al, c2, bl, t2, back) != AX_OK ||
                    memcmp(back, body, bl) != 0) {
                    mismatches++;
                }
                runs++;
            }
        }
    }
    CHECK(runs == 144);
    CHECK(mismatches == 0);
}

/* ---- scattered AD, in place, arguments, tampering ---------------------------------------------- */

static void test_parts_and_in_place(void) {
    uint8_t key[16], ad[100], body[64], c1[64], c2[64], t1[16], t2[16];
    fill(key, sizeof key);
    fill(ad, sizeof ad);
    fill(body, sizeof body);

    TEST("spongewrap: a scattered AD equals the contiguous one, whatever the split");
    CHECK(ax_spongewrap_wrap(128, key, ad, sizeof ad, body, 37, c1, t1) == AX_OK);
    int bad = 0;
    for (size_t cut1 = 0; cut1 <= 9; cut1++) {
        for (size_t cut2 = cut1; cut2 <= 12; cut2 += 3) {
            ax_part parts[3] = {{ad, cut1}, {ad + cut1, cut2 - cut1}, {ad + cut2, sizeof ad - cut2}};
            memset(c2, 0, sizeof c2);
            if (ax_spongewrap_wrap_parts(128, key, parts, 3, body, 37, c2, t2) != AX_OK ||
                memcmp(c1, c2, 37) != 0 || memcmp(t1, t2, 16) != 0) {
                bad++;
            }
            uint8_t back[64];
            if (ax_spongewrap_unwrap_parts(128, key, parts, 3, c1, 37, t1, back) != AX_OK ||
                memcmp(back, body, 37) != 0) {
                bad++;
            }
        }
    }
    CHECK(bad == 0);
    {
        ax_part none[1] = {{NULL, 0}};
        CHECK(ax_spongewrap_wrap_parts(128, key, none, 1, body, 5, c1, t1) == AX_OK);
        CHECK(ax_spongewrap_wrap_parts(128, key, NULL, 0, body, 5, c2, t2) == AX_OK);
        CHECK_MEM(c1, c2, 5);
        CHECK_MEM(t1, t2, 16);
        CHECK(ax_spongewrap_wrap(128, key, NULL, 0, body, 5, c2, t2) == AX_OK);
        CHECK_MEM(t1, t2, 16);
    }

    TEST("spongewrap: in place");
    uint8_t buf[64];
    memcpy(buf, body, 33);
    CHECK(ax_spongewrap_wrap(128, key, ad, 20, body, 33, c1, t1) == AX_OK);
    CHECK(ax_spongewrap_wrap(128, key, ad, 20, buf, 33, buf, t2) == AX_OK);
    CHECK_MEM(buf, c1, 33);
    CHECK_MEM(t1, t2, 16);
    CHECK(ax_spongewrap_unwrap(128, key, ad, 20, buf, 33, t2, buf) == AX_OK);
    CHECK_MEM(buf, body, 33);

    TEST("spongewrap: MAC = tag of an empty body; a 4 KiB MAC");
    {
        static uint8_t text[4096];
        for (size_t i = 0; i < sizeof text; i++) text[i] = (uint8_t)i;
        uint8_t tag[16], cipher[1];
        CHECK(ax_sancus_mac(128, key, text, sizeof text, t1) == AX_OK);
        CHECK(ax_spongewrap_wrap(128, key, text, sizeof text, NULL, 0, cipher, tag) == AX_OK);
        CHECK_MEM(t1, tag, 16);
        ref_wrap(16, key, text, sizeof text, NULL, 0, cipher, tag);
        CHECK_MEM(t1, tag, 16);
        text[4095] ^= 1;
        CHECK(ax_sancus_mac(128, key, text, sizeof text, t2) == AX_OK);
        CHECK(memcmp(t1, t2, 16) != 0);
    }

    TEST("spongewrap: bad arguments");
    CHECK(ax_spongewrap_wrap(96, key, ad, 2, body, 2, c1, t1) == AX_ERR_ARGUMENT);
    CHECK(ax_spongewrap_wrap(0, key, ad, 2, body, 2, c1, t1) == AX_ERR_ARGUMENT);
    CHECK(ax_spongewrap_wrap(128, NULL, ad, 2, body, 2, c1, t1) == AX_ERR_ARGUMENT);
    CHECK(ax_spongewrap_wrap(128, key, NULL, 2, body, 2, c1, t1) == AX_ERR_ARGUMENT);
    CHECK(ax_spongewrap_wrap(128, key, ad, 2, NULL, 2, c1, t1) == AX_ERR_ARGUMENT);
    CHECK(ax_spongewrap_wrap(128, key, ad, 2, body, 2, NULL, t1) == AX_ERR_ARGUMENT);
    CHECK(ax_spongewrap_wrap(128, key, ad, 2, body, 2, c1, NULL) == AX_ERR_ARGUMENT);
    CHECK(ax_spongewrap_unwrap(128, key, ad, 2, c1, 2, NULL, c2) == AX_ERR_ARGUMENT);
    CHECK(ax_sancus_mac(128, key, NULL, 1, t1) == AX_ERR_ARGUMENT);
    CHECK(ax_sancus_mac(32, key, ad, 1, t1) == AX_ERR_ARGUMENT);
    {
        ax_part broken[2] = {{ad, 3}, {NULL, 4}};
        CHECK(ax_spongewrap_wrap_parts(128, key, broken, 2, body, 2, c1, t1) == AX_ERR_ARGUMENT);
        CHECK(ax_spongewrap_wrap_parts(128, key, NULL, 2, body, 2, c1, t1) == AX_ERR_ARGUMENT);
        ax_part huge[2] = {{ad, SIZE_MAX}, {ad, 2}};
        CHECK(ax_spongewrap_wrap_parts(128, key, huge, 2, body, 2, c1, t1) == AX_ERR_ARGUMENT);
    }
}

static void test_tampering(void) {
    static const unsigned levels[] = {128, 64};
    for (size_t s = 0; s < 2; s++) {
        unsigned sec = levels[s];
        size_t tl = sec == 128 ? 16 : 8;
        uint8_t key[16], other[16], ad[24], body[40], cipher[40], tag[16], out[40], t2[16];
        fill(key, sizeof key);
        memcpy(other, key, sizeof other);
        other[tl - 1] ^= 0x01;
        fill(ad, sizeof ad);
        fill(body, sizeof body);
        CHECK(ax_spongewrap_wrap(sec, key, ad, sizeof ad, body, sizeof body, cipher, tag) == AX_OK);

        TEST(sec == 128 ? "spongewrap 128: every flipped ciphertext bit is refused"
                        : "spongewrap 64: every flipped ciphertext bit is refused");
        int accepted = 0, leaked = 0;
        for (size_t bit = 0; bit < 8 * sizeof body; bit++) {
            cipher[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            memset(out, 0x5A, sizeof out);
            if (ax_spongewrap_unwrap(sec, key, ad, sizeof ad, cipher, sizeof body, tag, out) !=
                AX_ERR_FORGED) {
                accepted++;
            }
            if (!all_zero(out, sizeof out)) leaked++;
            cipher[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        CHECK(accepted == 0);
        CHECK(leaked == 0);

        TEST(sec == 128 ? "spongewrap 128: flipped tag bits, wrong key, AD, length"
                        : "spongewrap 64: flipped tag bits, wrong key, AD, length");
        accepted = 0;
        for (size_t bit = 0; bit < 8 * tl; bit++) {
            memcpy(t2, tag, tl);
            t2[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            if (ax_spongewrap_unwrap(sec, key, ad, sizeof ad, cipher, sizeof body, t2, out) !=
                AX_ERR_FORGED) {
                accepted++;
            }
        }
        CHECK(accepted == 0);
        memset(out, 0x5A, sizeof out);
        CHECK(ax_spongewrap_unwrap(sec, other, ad, sizeof ad, cipher, sizeof body, tag, out) ==
              AX_ERR_FORGED);
        CHECK(all_zero(out, sizeof body));
        ad[3] ^= 0x10;
        CHECK(ax_spongewrap_unwrap(sec, key, ad, sizeof ad, cipher, sizeof body, tag, out) ==
              AX_ERR_FORGED);
        ad[3] ^= 0x10;
        CHECK(ax_spongewrap_unwrap(sec, key, ad, sizeof ad - 1, cipher, sizeof body, tag, out) ==
              AX_ERR_FORGED);
        CHECK(ax_spongewrap_unwrap(sec, key, ad, sizeof ad, cipher, sizeof body - 1, tag, out) ==
              AX_ERR_FORGED);
        CHECK(ax_spongewrap_unwrap(sec, key, ad, sizeof ad, cipher, sizeof body, tag, out) == AX_OK);
        CHECK_MEM(out, body, sizeof body);
    }
}

void suite_spongewrap(void) {
    test_vectors();
    test_reference();
    test_parts_and_in_place();
    test_tampering();
}
