/* SPONGENT and SpongeWrap exactly as Sancus computes them (docs/sancus-crypto.md §1-2,
 * spec/crypto.md §7), and Sancus's MAC. Portable C11: no allocation, a fixed 48-byte state, the
 * AD and body streamed in 2-byte blocks; constant time (no secret-dependent branches or table
 * indexes: the S-box is computed with boolean operations).
 *
 * Permutations: pi_336 (SPONGENT-224/224/112, 170 rounds, 128-bit security, 16-byte key and tag)
 * and pi_176 (SPONGENT-160/160/16, 90 rounds, 64-bit security, 8-byte key and tag).
 *
 * State layout: b bits in uint64_t words, state bit i = bit i%64 of word i/64 (state bit i is
 * bit i%8 of byte i/8 in the specification: the words are little-endian by construction, so the
 * result does not depend on the host's byte order). With n = b/4 nibbles, one round is:
 *   1. XOR the round counter into bits 0.. and its bit-reverse into the top bits;
 *   2. per word, a 4x16 bit transpose (bit 4i+k -> 16k+i, four delta swaps) and a 4x4 transpose
 *      of 16-bit blocks across words gather the state into four n-bit planes, plane k holding
 *      bit k of every nibble in order;
 *   3. the S-box E D B 0 2 1 4 F 7 A 8 5 9 C 3 6, bitsliced over the four planes;
 *   4. the pLayer (bit 4i+k -> k*n+i) is then just the concatenation plane0 || plane1 || plane2
 *      || plane3, which becomes the new state. */
#include "authex/crypto.h"

#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define AX_INLINE static inline __attribute__((always_inline))
#else
#define AX_INLINE static inline
#endif

#define SW_WORDS 6 /* ceil(336 / 64) */

typedef struct {
    uint64_t q[SW_WORDS];
    unsigned wide; /* 1: pi_336 (128-bit security), 0: pi_176 (64-bit) */
} sw_state;

/* Bit k of nibble i (bit 4i+k) moves to bit 16k+i: the index bits (k1 k0 | i3 i2 i1 i0) rotate
 * by two places, as four index-bit swaps (0,2) (1,3) (2,4) (3,5), each one delta swap. */
AX_INLINE uint64_t transpose4x16(uint64_t x) {
    uint64_t t;
    t = (x ^ (x >> 3)) & UINT64_C(0x0A0A0A0A0A0A0A0A);
    x ^= t ^ (t << 3);
    t = (x ^ (x >> 6)) & UINT64_C(0x00CC00CC00CC00CC);
    x ^= t ^ (t << 6);
    t = (x ^ (x >> 12)) & UINT64_C(0x0000F0F00000F0F0);
    x ^= t ^ (t << 12);
    t = (x ^ (x >> 24)) & UINT64_C(0x00000000FF00FF00);
    x ^= t ^ (t << 24);
    return x;
}

/* Exchange 16-bit blocks 1, 3 of *a with blocks 0, 2 of *b. */
AX_INLINE void swap16(uint64_t *a, uint64_t *b) {
    uint64_t t = ((*a >> 16) ^ *b) & UINT64_C(0x0000FFFF0000FFFF);
    *b ^= t;
    *a ^= t << 16;
}

/* Exchange the upper 32 bits of *a with the lower 32 bits of *b. */
AX_INLINE void swap32(uint64_t *a, uint64_t *b) {
    uint64_t t = ((*a >> 32) ^ *b) & UINT64_C(0x00000000FFFFFFFF);
    *b ^= t;
    *a ^= t << 32;
}

/* The SPONGENT S-box on bit planes (x_k = bit k of each nibble), from its algebraic normal form:
 *   y0 = x0 + x1 + x1x2 + x3
 *   y1 = 1 + x0 + x1x2 + x0x3 + x1x3 + x2x3 + x1x2x3
 *   y2 = 1 + x1 + x2 + x0x3 + x1x2x3
 *   y3 = 1 + x0x1 + x2 + x3 + x0x3 + x1x3 + x0x1x3 + x0x2x3 */
AX_INLINE void sbox_planes(uint64_t *p0, uint64_t *p1, uint64_t *p2, uint64_t *p3) {
    const uint64_t x0 = *p0, x1 = *p1, x2 = *p2, x3 = *p3;
    const uint64_t a = x1 & x2;
    const uint64_t b = x0 & x3;
    const uint64_t c = a & x3;
    const uint64_t d = x0 & x1;
    *p0 = x0 ^ x1 ^ a ^ x3;
    *p1 = ~(x0 ^ a ^ b ^ ((x1 ^ x2) & x3) ^ c);
    *p2 = ~(x1 ^ x2 ^ b ^ c);
    *p3 = ~(d ^ x2 ^ x3 ^ b ^ (x3 & (x1 ^ d ^ (x0 & x2))));
}

/* The round counter: an LFSR shifted left with feedback parity(counter & taps); its value is
 * XORed into the low bits and its bit-reverse into the top byte of the state. */
AX_INLINE unsigned lfsr_next(unsigned c, unsigned taps, unsigned mask) {
    unsigned f = c & taps;
    f ^= f >> 4;
    f ^= f >> 2;
    f ^= f >> 1;
    return ((c << 1) | (f & 1u)) & mask;
}

AX_INLINE uint64_t reverse8(unsigned c) {
    unsigned r = c & 0xFFu;
    r = ((r & 0xF0u) >> 4) | ((r & 0x0Fu) << 4);
    r = ((r & 0xCCu) >> 2) | ((r & 0x33u) << 2);
    r = ((r & 0xAAu) >> 1) | ((r & 0x55u) << 1);
    return (uint64_t)r;
}

/* pi_336: 84 nibbles in six words (the last holds 16 bits); each plane is 84 bits, lo (64) and
 * hi (20). */
static void permute_336(uint64_t *q) {
    const uint64_t m20 = (UINT64_C(1) << 20) - 1u;
    unsigned c = 0x52u;
    for (int r = 0; r < 170; r++) {
        q[0] ^= (uint64_t)c;
        q[5] ^= reverse8(c) << 8; /* state bits 328..335 */
        c = lfsr_next(c, 0x8Eu /* bits 7, 3, 2, 1 */, 0xFFu);

        uint64_t t0 = transpose4x16(q[0]), t1 = transpose4x16(q[1]);
        uint64_t t2 = transpose4x16(q[2]), t3 = transpose4x16(q[3]);
        uint64_t t4 = transpose4x16(q[4]), t5 = transpose4x16(q[5]);
        /* 4x4 transpose of 16-bit blocks: t_k = plane k, nibbles 0..63 */
        swap16(&t0, &t1);
        swap16(&t2, &t3);
        swap32(&t0, &t2);
        swap32(&t1, &t3);
        /* nibbles 64..83: t4 = [plane0, plane2] and t5 = [plane1, plane3], 32 bits each */
        swap16(&t4, &t5);
        uint64_t h0 = t4 & UINT64_C(0xFFFFFFFF), h2 = t4 >> 32;
        uint64_t h1 = t5 & UINT64_C(0xFFFFFFFF), h3 = t5 >> 32;

        sbox_planes(&t0, &t1, &t2, &t3);
        sbox_planes(&h0, &h1, &h2, &h3);
        h0 &= m20;
        h1 &= m20;
        h2 &= m20;
        h3 &= m20;

        /* new state = plane0 || plane1 || plane2 || plane3, 84 bits each */
        q[0] = t0;
        q[1] = h0 | t1 << 20;
        q[2] = t1 >> 44 | h1 << 20 | t2 << 40;
        q[3] = t2 >> 24 | h2 << 40 | t3 << 60;
        q[4] = t3 >> 4 | h3 << 60;
        q[5] = h3 >> 4;
    }
}

/* pi_176: 44 nibbles in three words (the last holds 48 bits); each plane fits one word. */
static void permute_176(uint64_t *q) {
    const uint64_t m44 = (UINT64_C(1) << 44) - 1u;
    unsigned c = 0x45u;
    for (int r = 0; r < 90; r++) {
        q[0] ^= (uint64_t)c;
        q[2] ^= reverse8(c) << 40; /* state bits 168..175: counter bit k -> bit 175-k */
        c = lfsr_next(c, 0x60u /* bits 6, 5 */, 0x7Fu);

        uint64_t t0 = transpose4x16(q[0]), t1 = transpose4x16(q[1]);
        uint64_t t2 = transpose4x16(q[2]), t3 = 0;
        swap16(&t0, &t1);
        swap16(&t2, &t3);
        swap32(&t0, &t2);
        swap32(&t1, &t3);

        sbox_planes(&t0, &t1, &t2, &t3);
        t0 &= m44;
        t1 &= m44;
        t2 &= m44;
        t3 &= m44;

        q[0] = t0 | t1 << 44;
        q[1] = t1 >> 20 | t2 << 24;
        q[2] = t2 >> 40 | t3 << 4;
    }
}

/* One duplexing call: XOR data (0..2 bytes, little-endian) | frame << L | 1 << (L+1) into state
 * bits 0..17 (frame < 0: no frame bit, the value is data | 1 << L), then permute. */
static void sw_duplex(sw_state *s, const uint8_t *data, size_t len, int frame) {
    uint32_t v = 0;
    unsigned bits = (unsigned)(8u * len);
    for (size_t i = 0; i < len; i++) {
        v |= (uint32_t)data[i] << (8u * i);
    }
    if (frame >= 0) {
        v |= ((uint32_t)frame << bits) | (UINT32_C(1) << (bits + 1u));
    } else {
        v |= UINT32_C(1) << bits;
    }
    s->q[0] ^= v;
    if (s->wide) {
        permute_336(s->q);
    } else {
        permute_176(s->q);
    }
}

/* State bits 0..15: the duplex output (2 bytes, little-endian). */
static unsigned sw_output(const sw_state *s) {
    return (unsigned)(s->q[0] & 0xFFFFu);
}

/* Absorb the concatenation of the parts (total bytes in all) in 2-byte blocks: frame `inner` on
 * every block but the last, `last` on the last; an empty input is one empty block. */
static void sw_absorb(sw_state *s, const ax_part *parts, size_t n, size_t total, int inner,
                      int last) {
    if (total == 0) {
        sw_duplex(s, NULL, 0, last);
        return;
    }
    uint8_t block[2] = {0, 0};
    size_t fill = 0, done = 0;
    for (size_t p = 0; p < n; p++) {
        for (size_t i = 0; i < parts[p].len; i++) {
            block[fill++] = parts[p].data[i];
            done++;
            if (fill == 2 || done == total) {
                sw_duplex(s, block, fill, done == total ? last : inner);
                fill = 0;
            }
        }
    }
    ax_wipe(block, sizeof block);
}

/* Sum of the part lengths; 0 and *ok = 0 when the parts are malformed or the sum overflows. */
static size_t parts_total(const ax_part *parts, size_t n, int *ok) {
    size_t total = 0;
    *ok = 1;
    if (parts == NULL && n > 0) {
        *ok = 0;
        return 0;
    }
    for (size_t p = 0; p < n; p++) {
        if (parts[p].data == NULL && parts[p].len > 0) *ok = 0;
        if (parts[p].len > SIZE_MAX - total) *ok = 0;
        if (!*ok) return 0;
        total += parts[p].len;
    }
    return total;
}

/* One SpongeWrap pass: out = in XOR key stream (in and out may be the same buffer); with
 * decrypt the output is the plaintext that is absorbed, else the input. tag gets key_len bytes. */
static int sw_pass(unsigned security, const uint8_t *key, const ax_part *ad, size_t n_ad,
                   const uint8_t *in, size_t len, int decrypt, uint8_t *out, uint8_t *tag) {
    size_t key_len;
    sw_state s;
    if (security == 128) {
        key_len = 16;
        s.wide = 1;
    } else if (security == 64) {
        key_len = 8;
        s.wide = 0;
    } else {
        return AX_ERR_ARGUMENT;
    }
    int ok;
    size_t ad_len = parts_total(ad, n_ad, &ok);
    if (!ok || key == NULL || tag == NULL || (len > 0 && (in == NULL || out == NULL))) {
        return AX_ERR_ARGUMENT;
    }
    memset(s.q, 0, sizeof s.q);

    const ax_part key_part = {key, key_len};
    sw_absorb(&s, &key_part, 1, key_len, 1, 0);
    sw_absorb(&s, ad, n_ad, ad_len, 0, 1);

    size_t pos = 0;
    do {
        size_t size = len - pos < 2 ? len - pos : 2;
        uint8_t src[2] = {0, 0}, mixed[2] = {0, 0};
        unsigned z = sw_output(&s);
        for (size_t i = 0; i < size; i++) {
            src[i] = in[pos + i];
        }
        for (size_t i = 0; i < size; i++) {
            mixed[i] = (uint8_t)(src[i] ^ (z >> (8u * i)));
            out[pos + i] = mixed[i];
        }
        pos += size;
        sw_duplex(&s, decrypt ? mixed : src, size, pos < len ? 1 : 0);
        ax_wipe(src, sizeof src);
        ax_wipe(mixed, sizeof mixed);
    } while (pos < len);

    size_t got = 0;
    for (;;) {
        unsigned z = sw_output(&s);
        tag[got++] = (uint8_t)z;
        tag[got++] = (uint8_t)(z >> 8);
        if (got >= key_len) break;
        sw_duplex(&s, NULL, 0, -1);
    }
    ax_wipe(&s, sizeof s);
    return AX_OK;
}

int ax_spongewrap_wrap_parts(unsigned security, const uint8_t *key, const ax_part *ad, size_t n_ad,
                             const uint8_t *body, size_t body_len, uint8_t *cipher, uint8_t *tag) {
    return sw_pass(security, key, ad, n_ad, body, body_len, 0, cipher, tag);
}

int ax_spongewrap_unwrap_parts(unsigned security, const uint8_t *key, const ax_part *ad,
                               size_t n_ad, const uint8_t *cipher, size_t len, const uint8_t *tag,
                               uint8_t *body_out) {
    uint8_t expected[16];
    if (tag == NULL) return AX_ERR_ARGUMENT;
    int rc = sw_pass(security, key, ad, n_ad, cipher, len, 1, body_out, expected);
    if (rc != AX_OK) return rc;
    size_t tag_len = security == 128 ? 16u : 8u;
    int good = ax_ct_equal(expected, tag, tag_len);
    ax_wipe(expected, sizeof expected);
    if (!good) {
        ax_wipe(body_out, len); /* never release an unauthenticated plaintext */
        return AX_ERR_FORGED;
    }
    return AX_OK;
}

int ax_spongewrap_wrap(unsigned security, const uint8_t *key, const uint8_t *ad, size_t ad_len,
                       const uint8_t *body, size_t body_len, uint8_t *cipher, uint8_t *tag) {
    const ax_part part = {ad, ad_len};
    return ax_spongewrap_wrap_parts(security, key, &part, 1, body, body_len, cipher, tag);
}

int ax_spongewrap_unwrap(unsigned security, const uint8_t *key, const uint8_t *ad, size_t ad_len,
                         const uint8_t *cipher, size_t len, const uint8_t *tag, uint8_t *body_out) {
    const ax_part part = {ad, ad_len};
    return ax_spongewrap_unwrap_parts(security, key, &part, 1, cipher, len, tag, body_out);
}

int ax_sancus_mac(unsigned security, const uint8_t *key, const uint8_t *msg, size_t len,
                  uint8_t *tag) {
    const ax_part part = {msg, len};
    return ax_spongewrap_wrap_parts(security, key, &part, 1, NULL, 0, NULL, tag);
}
