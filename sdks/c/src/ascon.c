/* Ascon-AEAD128 of NIST SP 800-232 (spec/crypto.md §8, docs/sancus-crypto.md §6): 16-byte key,
 * 16-byte nonce, 16-byte tag, rate 128 bits. Portable C11 on uint64_t words; bytes are loaded and
 * stored little-endian with explicit shifts, so the result does not depend on the host's byte
 * order. No allocation, no secret-dependent branches or table lookups. */
#include "authex/crypto.h"

#define ASCON_IV UINT64_C(0x00001000808C0001) /* Ascon-AEAD128: k=128, r=128, a=12, b=8 */
#define ASCON_DSEP UINT64_C(0x8000000000000000)

typedef struct {
    uint64_t x[5];
} ascon_state;

static uint64_t load64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void store64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Bytes 0..n-1 (n < 8) of a partial word, little-endian. */
static uint64_t load_partial(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void store_partial(uint8_t *p, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Mask of the low n bytes (n <= 8). */
static uint64_t byte_mask(size_t n) {
    return n >= 8 ? ~UINT64_C(0) : (UINT64_C(1) << (8 * n)) - 1u;
}

/* The padding byte 0x01 at rate byte i (0..15). */
static void pad_at(ascon_state *s, size_t i) {
    s->x[i / 8] ^= UINT64_C(1) << (8 * (i % 8));
}

static uint64_t ror(uint64_t x, unsigned n) {
    return (x >> n) | (x << (64u - n));
}

/* The last `rounds` rounds of p12 (12 for initialisation and finalisation, 8 in between). */
static void ascon_permute(ascon_state *s, int rounds) {
    uint64_t x0 = s->x[0], x1 = s->x[1], x2 = s->x[2], x3 = s->x[3], x4 = s->x[4];
    for (int r = 12 - rounds; r < 12; r++) {
        /* round constant: 0xf0, 0xe1, ..., 0x4b */
        x2 ^= (uint64_t)(((0xFu - (unsigned)r) << 4) | (unsigned)r);
        /* substitution layer */
        x0 ^= x4;
        x4 ^= x3;
        x2 ^= x1;
        uint64_t t0 = ~x0 & x1, t1 = ~x1 & x2, t2 = ~x2 & x3, t3 = ~x3 & x4, t4 = ~x4 & x0;
        x0 ^= t1;
        x1 ^= t2;
        x2 ^= t3;
        x3 ^= t4;
        x4 ^= t0;
        x1 ^= x0;
        x0 ^= x4;
        x3 ^= x2;
        x2 = ~x2;
        /* linear layer */
        x0 ^= ror(x0, 19) ^ ror(x0, 28);
        x1 ^= ror(x1, 61) ^ ror(x1, 39);
        x2 ^= ror(x2, 1) ^ ror(x2, 6);
        x3 ^= ror(x3, 10) ^ ror(x3, 17);
        x4 ^= ror(x4, 7) ^ ror(x4, 41);
    }
    s->x[0] = x0, s->x[1] = x1, s->x[2] = x2, s->x[3] = x3, s->x[4] = x4;
}

/* Initialisation and associated data. */
static void ascon_start(ascon_state *s, const uint8_t key[16], const uint8_t nonce[16],
                        const uint8_t *ad, size_t ad_len) {
    const uint64_t k0 = load64(key), k1 = load64(key + 8);
    s->x[0] = ASCON_IV;
    s->x[1] = k0;
    s->x[2] = k1;
    s->x[3] = load64(nonce);
    s->x[4] = load64(nonce + 8);
    ascon_permute(s, 12);
    s->x[3] ^= k0;
    s->x[4] ^= k1;
    if (ad_len > 0) {
        while (ad_len >= 16) {
            s->x[0] ^= load64(ad);
            s->x[1] ^= load64(ad + 8);
            ascon_permute(s, 8);
            ad += 16;
            ad_len -= 16;
        }
        /* last block, 0..15 bytes, padded with 0x01 */
        if (ad_len >= 8) {
            s->x[0] ^= load64(ad);
            s->x[1] ^= load_partial(ad + 8, ad_len - 8);
        } else {
            s->x[0] ^= load_partial(ad, ad_len);
        }
        pad_at(s, ad_len);
        ascon_permute(s, 8);
    }
    s->x[4] ^= ASCON_DSEP;
}

/* Finalisation: the tag into out[0..15]. */
static void ascon_finish(ascon_state *s, const uint8_t key[16], uint8_t tag[16]) {
    const uint64_t k0 = load64(key), k1 = load64(key + 8);
    s->x[2] ^= k0;
    s->x[3] ^= k1;
    ascon_permute(s, 12);
    store64(tag, s->x[3] ^ k0);
    store64(tag + 8, s->x[4] ^ k1);
}

int ax_ascon_seal(const uint8_t key[16], const uint8_t nonce[16], const uint8_t *ad, size_t ad_len,
                  const uint8_t *pt, size_t pt_len, uint8_t *out) {
    if (key == NULL || nonce == NULL || out == NULL || (ad == NULL && ad_len > 0) ||
        (pt == NULL && pt_len > 0) || pt_len > SIZE_MAX - 16) {
        return AX_ERR_ARGUMENT;
    }
    ascon_state s;
    ascon_start(&s, key, nonce, ad, ad_len);
    /* full blocks: C = S ^ P, and the state takes C (the words are read before out is written,
     * so pt may be out) */
    while (pt_len >= 16) {
        s.x[0] ^= load64(pt);
        s.x[1] ^= load64(pt + 8);
        store64(out, s.x[0]);
        store64(out + 8, s.x[1]);
        ascon_permute(&s, 8);
        pt += 16;
        out += 16;
        pt_len -= 16;
    }
    if (pt_len >= 8) {
        s.x[0] ^= load64(pt);
        s.x[1] ^= load_partial(pt + 8, pt_len - 8);
        store64(out, s.x[0]);
        store_partial(out + 8, s.x[1], pt_len - 8);
    } else {
        s.x[0] ^= load_partial(pt, pt_len);
        store_partial(out, s.x[0], pt_len);
    }
    pad_at(&s, pt_len);
    ascon_finish(&s, key, out + pt_len);
    ax_wipe(&s, sizeof s);
    return AX_OK;
}

/* Replace the low n bytes of the word with c, returning the plaintext bytes (S ^ C). */
static uint64_t decrypt_partial(uint64_t *x, uint64_t c, size_t n) {
    uint64_t m = byte_mask(n);
    uint64_t p = (*x ^ c) & m;
    *x = (*x & ~m) | (c & m);
    return p;
}

int ax_ascon_open(const uint8_t key[16], const uint8_t nonce[16], const uint8_t *ad, size_t ad_len,
                  const uint8_t *ct, size_t ct_len, uint8_t *out) {
    if (key == NULL || nonce == NULL || (ad == NULL && ad_len > 0) || ct == NULL) {
        return AX_ERR_ARGUMENT;
    }
    if (ct_len < 16) return AX_ERR_FORGED;
    size_t len = ct_len - 16;
    if (out == NULL && len > 0) return AX_ERR_ARGUMENT;
    const uint8_t *tag = ct + len;
    uint8_t *const out_start = out;
    const size_t out_len = len;
    uint8_t expected[16];
    ascon_state s;
    ascon_start(&s, key, nonce, ad, ad_len);
    while (len >= 16) {
        uint64_t c0 = load64(ct), c1 = load64(ct + 8);
        store64(out, s.x[0] ^ c0);
        store64(out + 8, s.x[1] ^ c1);
        s.x[0] = c0;
        s.x[1] = c1;
        ascon_permute(&s, 8);
        ct += 16;
        out += 16;
        len -= 16;
    }
    if (len >= 8) {
        uint64_t c0 = load64(ct);
        store64(out, s.x[0] ^ c0);
        s.x[0] = c0;
        store_partial(out + 8, decrypt_partial(&s.x[1], load_partial(ct + 8, len - 8), len - 8),
                      len - 8);
    } else {
        store_partial(out, decrypt_partial(&s.x[0], load_partial(ct, len), len), len);
    }
    pad_at(&s, len);
    ascon_finish(&s, key, expected);
    int good = ax_ct_equal(expected, tag, 16);
    ax_wipe(expected, sizeof expected);
    ax_wipe(&s, sizeof s);
    if (!good) {
        ax_wipe(out_start, out_len); /* never release an unauthenticated plaintext */
        return AX_ERR_FORGED;
    }
    return AX_OK;
}
