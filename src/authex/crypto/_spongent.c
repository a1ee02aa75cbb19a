/*
 * authex.crypto._spongent: native SPONGENT permutations and Sancus SpongeWrap.
 *
 * An optional accelerator for authex.crypto.spongent / authex.crypto.spongewrap; results are
 * bit-identical to the pure-Python code (docs/sancus-crypto.md, sections 1, 2 and "Accelerator").
 *
 * Python API:
 *   permute(state: bytes-like, width: int) -> bytes
 *       The SPONGENT permutation of width 176 (90 rounds) or 336 (170 rounds) on a state of
 *       width/8 bytes (state bit i = bit i%8 of byte i/8).
 *   wrap(key: bytes-like, ad: bytes-like, body: bytes-like, decrypt: bool) -> (bytes, bytes)
 *       One SpongeWrap pass as Sancus computes it: a 16-byte key selects the 336-bit
 *       permutation, an 8-byte key the 176-bit one.  Returns (output, tag): with decrypt false,
 *       output is the ciphertext of body; with decrypt true, body is a ciphertext and output is
 *       the recovered plaintext (the caller compares the tag).  The GIL is released while the
 *       permutations run.
 *
 * Portable C11.  Inside a permutation the state is held in uint64_t words assembled with shifts,
 * so the result does not depend on the host's byte order.  One round: XOR the round counter into
 * byte 0 and its bit-reverse into the top byte; then, per state word, one table lookup per byte
 * does the S-box and spreads bit k of every nibble into a 16-bit field k (SPREAD), and each
 * field is OR-ed into place at bit k*b/4 + 16*word (the pLayer: bit 4i+k moves to k*b/4 + i).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#define MAX_STATE_BYTES 42 /* 336 bits */
#define MAX_WORDS 6        /* ceil(336 / 64) */

typedef struct {
    int width;              /* b, in bits */
    int nbytes;             /* b / 8 */
    int rounds;
    uint8_t counter_iv;
    int counter_bits;
    uint8_t taps;           /* mask of the LFSR bits XORed into the feedback */
    uint8_t low[256];       /* round counter, XORed into byte 0 */
    uint8_t high[256];      /* its bit-reverse, XORed into the top byte */
} perm_params;

static perm_params PI_176 = {176, 22, 90, 0x45, 7, (1u << 6) | (1u << 5), {0}, {0}};
static perm_params PI_336 = {
    336, 42, 170, 0x52, 8, (1u << 7) | (1u << 3) | (1u << 2) | (1u << 1), {0}, {0}};

/*
 * SPREAD[v]: the S-box applied to both nibbles of byte v, then bit k of the low nibble put at
 * bit 16k and bit k of the high nibble at bit 16k+1.  Or-ing SPREAD[byte j] << 2j over the eight
 * bytes of a 64-bit word yields, in 16-bit field k, bit k of each of the word's 16 nibbles in
 * order: exactly the 16 bits the pLayer moves to k*n + 16*word.
 */
static uint64_t SPREAD[256];

static const uint8_t SBOX[16] = {
    0xE, 0xD, 0xB, 0x0, 0x2, 0x1, 0x4, 0xF, 0x7, 0xA, 0x8, 0x5, 0x9, 0xC, 0x3, 0x6};

static uint8_t reverse8(uint8_t v) {
    uint8_t r = 0;
    for (int k = 0; k < 8; k++) {
        if (v & (1u << k)) {
            r |= (uint8_t)(0x80u >> k);
        }
    }
    return r;
}

static int parity8(uint8_t v) {
    v ^= (uint8_t)(v >> 4);
    v ^= (uint8_t)(v >> 2);
    v ^= (uint8_t)(v >> 1);
    return v & 1;
}

static void init_params(perm_params *p) {
    uint8_t value = p->counter_iv;
    uint8_t mask = (uint8_t)((1u << p->counter_bits) - 1u);
    for (int r = 0; r < p->rounds; r++) {
        p->low[r] = value;
        p->high[r] = reverse8(value);
        value = (uint8_t)(((value << 1) | parity8((uint8_t)(value & p->taps))) & mask);
    }
}

static void init_tables(void) {
    for (int v = 0; v < 256; v++) {
        uint8_t lo = SBOX[v & 0xF];
        uint8_t hi = SBOX[v >> 4];
        uint64_t s = 0;
        for (int k = 0; k < 4; k++) {
            s |= (uint64_t)((lo >> k) & 1u) << (16 * k);
            s |= (uint64_t)((hi >> k) & 1u) << (16 * k + 1);
        }
        SPREAD[v] = s;
    }
    init_params(&PI_176);
    init_params(&PI_336);
}

#if defined(__GNUC__) || defined(__clang__)
#define FORCE_INLINE static inline __attribute__((always_inline))
#else
#define FORCE_INLINE static inline
#endif

/* out |= g << pos, for a value g of at most 16 bits. */
FORCE_INLINE void put16(uint64_t *out, int pos, uint64_t g) {
    int word = pos >> 6;
    int shift = pos & 63;
    out[word] |= g << shift;
    if (shift > 48) {
        out[word + 1] |= g >> (64 - shift);
    }
}

/* S-box and bit gathering for the `count` (1..8) low bytes of a state word (see SPREAD). */
FORCE_INLINE uint64_t gather(uint64_t x, const int count) {
#define SPREAD_BYTE(j) (SPREAD[(x >> (8 * (j))) & 0xFFu] << (2 * (j)))
    uint64_t acc = SPREAD_BYTE(0);
    if (count > 1) acc |= SPREAD_BYTE(1);
    if (count > 2) acc |= SPREAD_BYTE(2);
    if (count > 3) acc |= SPREAD_BYTE(3);
    if (count > 4) acc |= SPREAD_BYTE(4);
    if (count > 5) acc |= SPREAD_BYTE(5);
    if (count > 6) acc |= SPREAD_BYTE(6);
    if (count > 7) acc |= SPREAD_BYTE(7);
#undef SPREAD_BYTE
    return acc;
}

/* S-box and pLayer of state word t: its 16 nibbles' bit k go to bits k*n + 16t.. of out. */
FORCE_INLINE void word_step(uint64_t *out, const uint64_t *w, const int t, const int nbytes,
                            const int n) {
    const int count = nbytes - 8 * t < 8 ? nbytes - 8 * t : 8;
    const uint64_t acc = gather(w[t], count);
    put16(out, 16 * t, acc & 0xFFFFu);
    put16(out, n + 16 * t, (acc >> 16) & 0xFFFFu);
    put16(out, 2 * n + 16 * t, (acc >> 32) & 0xFFFFu);
    put16(out, 3 * n + 16 * t, acc >> 48);
}

/*
 * All rounds on a state held in uint64_t words (word t = state bytes 8t..8t+7, little-endian by
 * construction).  Called only with compile-time constant sizes (at most MAX_WORDS words), so
 * the word steps unroll and the pLayer's bit positions fold into constants.
 */
FORCE_INLINE void permute_words(uint64_t *w, const int nbytes, const int n, const int rounds,
                                const uint8_t *low, const uint8_t *high) {
    const int nwords = (nbytes + 7) / 8;
    const int top_word = (nbytes - 1) / 8;
    const int top_shift = 8 * ((nbytes - 1) % 8);

    for (int r = 0; r < rounds; r++) {
        uint64_t out[MAX_WORDS] = {0};
        w[0] ^= low[r];
        w[top_word] ^= (uint64_t)high[r] << top_shift;
        word_step(out, w, 0, nbytes, n);
        if (nwords > 1) word_step(out, w, 1, nbytes, n);
        if (nwords > 2) word_step(out, w, 2, nbytes, n);
        if (nwords > 3) word_step(out, w, 3, nbytes, n);
        if (nwords > 4) word_step(out, w, 4, nbytes, n);
        if (nwords > 5) word_step(out, w, 5, nbytes, n);
        w[0] = out[0];
        if (nwords > 1) w[1] = out[1];
        if (nwords > 2) w[2] = out[2];
        if (nwords > 3) w[3] = out[3];
        if (nwords > 4) w[4] = out[4];
        if (nwords > 5) w[5] = out[5];
    }
}

static void permute_176(uint64_t *w) { permute_words(w, 22, 44, 90, PI_176.low, PI_176.high); }

static void permute_336(uint64_t *w) { permute_words(w, 42, 84, 170, PI_336.low, PI_336.high); }

static void permute(const perm_params *p, uint8_t *state) {
    uint64_t w[MAX_WORDS] = {0};
    for (int j = 0; j < p->nbytes; j++) {
        w[j >> 3] |= (uint64_t)state[j] << (8 * (j & 7));
    }
    if (p->width == 336) {
        permute_336(w);
    } else {
        permute_176(w);
    }
    for (int j = 0; j < p->nbytes; j++) {
        state[j] = (uint8_t)(w[j >> 3] >> (8 * (j & 7)));
    }
}

/* XOR the 18-bit block (data bits, frame bit, padding bit) into state bits 0..17, permute. */
static void duplex(const perm_params *p, uint8_t *state, const uint8_t *data, size_t len,
                   int frame) {
    uint32_t block = 0;
    unsigned bits = (unsigned)(8 * len);
    for (size_t i = 0; i < len; i++) {
        block |= (uint32_t)data[i] << (8 * i);
    }
    if (frame >= 0) {
        block |= (uint32_t)frame << bits;
        block |= 1u << (bits + 1);
    } else {
        block |= 1u; /* squeeze: an empty block without frame bit */
    }
    state[0] ^= (uint8_t)block;
    state[1] ^= (uint8_t)(block >> 8);
    state[2] ^= (uint8_t)(block >> 16);
    permute(p, state);
}

/* Absorb data in 2-byte blocks, frame `inner` on all but the last (possibly empty) block. */
static void absorb(const perm_params *p, uint8_t *state, const uint8_t *data, size_t len,
                   int inner, int last) {
    size_t pos = 0;
    while (len - pos > 2) {
        duplex(p, state, data + pos, 2, inner);
        pos += 2;
    }
    duplex(p, state, data + pos, len - pos, last);
}

/* Clear key-dependent state without the compiler dropping the stores. */
static void wipe(void *buf, size_t len) {
    volatile uint8_t *bytes = (volatile uint8_t *)buf;
    while (len--) {
        *bytes++ = 0;
    }
}

static void spongewrap(const perm_params *p, const uint8_t *key, size_t key_len,
                       const uint8_t *ad, size_t ad_len, const uint8_t *body, size_t body_len,
                       int decrypt, uint8_t *out, uint8_t *tag) {
    uint8_t state[MAX_STATE_BYTES];
    memset(state, 0, sizeof state);

    absorb(p, state, key, key_len, 1, 0);
    absorb(p, state, ad, ad_len, 0, 1);

    size_t pos = 0;
    do {
        size_t size = body_len - pos < 2 ? body_len - pos : 2;
        uint8_t plain[2];
        for (size_t i = 0; i < size; i++) {
            uint8_t mixed = (uint8_t)(body[pos + i] ^ state[i]);
            out[pos + i] = mixed;
            plain[i] = decrypt ? mixed : body[pos + i];
        }
        pos += size;
        duplex(p, state, plain, size, pos < body_len ? 1 : 0);
    } while (pos < body_len);

    size_t got = 0;
    for (;;) {
        for (size_t i = 0; i < 2 && got < key_len; i++) {
            tag[got++] = state[i];
        }
        if (got >= key_len) {
            break;
        }
        duplex(p, state, NULL, 0, -1);
    }
    wipe(state, sizeof state);
}

static PyObject *py_permute(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer state;
    int width;
    if (!PyArg_ParseTuple(args, "y*i:permute", &state, &width)) {
        return NULL;
    }
    const perm_params *p = width == 336 ? &PI_336 : width == 176 ? &PI_176 : NULL;
    if (p == NULL) {
        PyBuffer_Release(&state);
        PyErr_Format(PyExc_ValueError, "SPONGENT width must be 176 or 336, not %d", width);
        return NULL;
    }
    if (state.len != p->nbytes) {
        PyBuffer_Release(&state);
        PyErr_Format(PyExc_ValueError, "SPONGENT-%d state must be %d bytes", p->width, p->nbytes);
        return NULL;
    }
    uint8_t buf[MAX_STATE_BYTES];
    memcpy(buf, state.buf, (size_t)p->nbytes);
    PyBuffer_Release(&state);
    permute(p, buf);
    return PyBytes_FromStringAndSize((const char *)buf, p->nbytes);
}

static PyObject *py_wrap(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer key, ad, body;
    int decrypt;
    PyObject *out = NULL, *tag = NULL, *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*y*p:wrap", &key, &ad, &body, &decrypt)) {
        return NULL;
    }
    const perm_params *p = key.len == 16 ? &PI_336 : key.len == 8 ? &PI_176 : NULL;
    if (p == NULL) {
        PyErr_Format(PyExc_ValueError, "SpongeWrap key must be 16 or 8 bytes, not %zd", key.len);
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, body.len);
    tag = PyBytes_FromStringAndSize(NULL, key.len);
    if (out == NULL || tag == NULL) {
        goto done;
    }
    uint8_t *out_buf = (uint8_t *)PyBytes_AS_STRING(out);
    uint8_t *tag_buf = (uint8_t *)PyBytes_AS_STRING(tag);
    Py_BEGIN_ALLOW_THREADS
    spongewrap(p, (const uint8_t *)key.buf, (size_t)key.len, (const uint8_t *)ad.buf,
               (size_t)ad.len, (const uint8_t *)body.buf, (size_t)body.len, decrypt, out_buf,
               tag_buf);
    Py_END_ALLOW_THREADS
    result = PyTuple_Pack(2, out, tag);
done:
    Py_XDECREF(out);
    Py_XDECREF(tag);
    PyBuffer_Release(&key);
    PyBuffer_Release(&ad);
    PyBuffer_Release(&body);
    return result;
}

static PyMethodDef methods[] = {
    {"permute", py_permute, METH_VARARGS,
     "permute(state, width) -> bytes: the SPONGENT-176 (90 rounds) or SPONGENT-336 "
     "(170 rounds) permutation of a width/8-byte state."},
    {"wrap", py_wrap, METH_VARARGS,
     "wrap(key, ad, body, decrypt) -> (bytes, bytes): one Sancus SpongeWrap pass; returns the "
     "transformed body and the tag (as long as the 16- or 8-byte key)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "authex.crypto._spongent",
    "Native SPONGENT permutations and Sancus SpongeWrap (optional accelerator).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__spongent(void) {
    init_tables();
    return PyModule_Create(&module);
}
