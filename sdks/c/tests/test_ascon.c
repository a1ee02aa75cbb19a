/* Tests of src/ascon.c: all 1089 Ascon-AEAD128 known answers of
 * spec/vectors/ascon/LWC_AEAD_KAT_128_128.txt (parsed directly), in both directions and with a
 * flipped ciphertext byte, plus tampering, in-place use and argument checks. */
#include <stdlib.h>

#include "authex/crypto.h"
#include "check.h"
#include "suites.h"

typedef struct {
    uint8_t key[16], nonce[16], pt[64], ad[64], ct[80];
    long key_len, nonce_len, pt_len, ad_len, ct_len;
    int fields; /* bit mask of the fields seen */
} kat_entry;

/* Parse "Name = HEX" into the entry; returns 0 for a line that is not a field. */
static int kat_field(kat_entry *e, const char *line, size_t len) {
    static const struct {
        const char *name;
        size_t off_buf, off_len, cap;
    } fields[] = {
        {"Key", offsetof(kat_entry, key), offsetof(kat_entry, key_len), 16},
        {"Nonce", offsetof(kat_entry, nonce), offsetof(kat_entry, nonce_len), 16},
        {"PT", offsetof(kat_entry, pt), offsetof(kat_entry, pt_len), 64},
        {"AD", offsetof(kat_entry, ad), offsetof(kat_entry, ad_len), 64},
        {"CT", offsetof(kat_entry, ct), offsetof(kat_entry, ct_len), 80},
    };
    const char *eq = memchr(line, '=', len);
    if (eq == NULL) return 0;
    size_t name_len = (size_t)(eq - line);
    while (name_len > 0 && line[name_len - 1] == ' ') name_len--;
    const char *value = eq + 1;
    size_t value_len = len - (size_t)(value - line);
    while (value_len > 0 && *value == ' ') value++, value_len--;
    while (value_len > 0 && (value[value_len - 1] == ' ' || value[value_len - 1] == '\r')) {
        value_len--;
    }
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (strlen(fields[i].name) == name_len && memcmp(fields[i].name, line, name_len) == 0) {
            char hex[200];
            long *out_len = (long *)((char *)e + fields[i].off_len);
            if (value_len >= sizeof hex) {
                *out_len = -1;
            } else {
                memcpy(hex, value, value_len);
                hex[value_len] = '\0';
                *out_len = check_unhex(hex, (uint8_t *)e + fields[i].off_buf, fields[i].cap);
            }
            e->fields |= 1 << i;
            return 1;
        }
    }
    return 0;
}

static int failures_seal, failures_open, failures_tamper, malformed;

static void kat_run(const kat_entry *e, long count) {
    if (e->fields != 0x1F || e->key_len != 16 || e->nonce_len != 16 || e->pt_len < 0 ||
        e->ad_len < 0 || e->ct_len != e->pt_len + 16) {
        malformed++;
        fprintf(stderr, "  malformed KAT entry %ld\n", count);
        return;
    }
    size_t pl = (size_t)e->pt_len, al = (size_t)e->ad_len, cl = (size_t)e->ct_len;
    uint8_t out[80], back[80], bad[80];
    if (ax_ascon_seal(e->key, e->nonce, e->ad, al, e->pt, pl, out) != AX_OK ||
        memcmp(out, e->ct, cl) != 0) {
        failures_seal++;
        fprintf(stderr, "  Ascon KAT Count %ld: seal differs\n", count);
    }
    if (ax_ascon_open(e->key, e->nonce, e->ad, al, e->ct, cl, back) != AX_OK ||
        memcmp(back, e->pt, pl) != 0) {
        failures_open++;
        fprintf(stderr, "  Ascon KAT Count %ld: open differs\n", count);
    }
    memcpy(bad, e->ct, cl);
    bad[0] ^= 1;
    if (ax_ascon_open(e->key, e->nonce, e->ad, al, bad, cl, back) != AX_ERR_FORGED) {
        failures_tamper++;
        fprintf(stderr, "  Ascon KAT Count %ld: tampered ciphertext accepted\n", count);
    }
}

static void test_kats(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/ascon/LWC_AEAD_KAT_128_128.txt", check_vectors_dir());
    size_t size = 0;
    char *text = check_read_file(path, &size);
    TEST("ascon: every AEAD KAT entry (seal, open, tampered)");
    CHECK(text != NULL);
    if (text == NULL) return;
    kat_entry e;
    memset(&e, 0, sizeof e);
    long count = -1, entries = 0;
    const char *p = text, *end = text + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        while (len > 0 && p[len - 1] == '\r') len--;
        if (len >= 5 && memcmp(p, "Count", 5) == 0) {
            if (count >= 0) {
                kat_run(&e, count);
                entries++;
            }
            memset(&e, 0, sizeof e);
            const char *eq = memchr(p, '=', len);
            count = eq != NULL ? strtol(eq + 1, NULL, 10) : 0;
        } else if (len > 0) {
            kat_field(&e, p, len);
        }
        p = nl != NULL ? nl + 1 : end;
    }
    if (count >= 0) {
        kat_run(&e, count);
        entries++;
    }
    free(text);
    CHECK(entries == 1089);
    CHECK(count == 1089);
    CHECK(malformed == 0);
    CHECK(failures_seal == 0);
    CHECK(failures_open == 0);
    CHECK(failures_tamper == 0);
}

static int all_zero(const uint8_t *p, size_t n) {
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
}

static void test_tampering(void) {
    uint8_t key[16], nonce[16], ad[21], pt[45], ct[61], out[61], bad[61];
    for (size_t i = 0; i < sizeof key; i++) key[i] = (uint8_t)(i * 7 + 1);
    for (size_t i = 0; i < sizeof nonce; i++) nonce[i] = (uint8_t)(0xA0 + i);
    for (size_t i = 0; i < sizeof ad; i++) ad[i] = (uint8_t)(i * 3);
    for (size_t i = 0; i < sizeof pt; i++) pt[i] = (uint8_t)(i ^ 0x5C);
    CHECK(ax_ascon_seal(key, nonce, ad, sizeof ad, pt, sizeof pt, ct) == AX_OK);

    TEST("ascon: every flipped bit of ciphertext and tag is refused, nothing released");
    int accepted = 0, leaked = 0;
    for (size_t bit = 0; bit < 8 * sizeof ct; bit++) {
        memcpy(bad, ct, sizeof ct);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        memset(out, 0x77, sizeof out);
        if (ax_ascon_open(key, nonce, ad, sizeof ad, bad, sizeof bad, out) != AX_ERR_FORGED) {
            accepted++;
        }
        if (!all_zero(out, sizeof pt)) leaked++;
    }
    CHECK(accepted == 0);
    CHECK(leaked == 0);

    TEST("ascon: wrong key, nonce, AD, length");
    uint8_t other[16];
    memcpy(other, key, 16);
    other[15] ^= 0x80;
    CHECK(ax_ascon_open(other, nonce, ad, sizeof ad, ct, sizeof ct, out) == AX_ERR_FORGED);
    CHECK(ax_ascon_open(key, other, ad, sizeof ad, ct, sizeof ct, out) == AX_ERR_FORGED);
    CHECK(ax_ascon_open(key, nonce, ad, sizeof ad - 1, ct, sizeof ct, out) == AX_ERR_FORGED);
    CHECK(ax_ascon_open(key, nonce, NULL, 0, ct, sizeof ct, out) == AX_ERR_FORGED);
    CHECK(ax_ascon_open(key, nonce, ad, sizeof ad, ct + 1, sizeof ct - 1, out) == AX_ERR_FORGED);
    CHECK(ax_ascon_open(key, nonce, ad, sizeof ad, ct, 15, out) == AX_ERR_FORGED);
    CHECK(ax_ascon_open(key, nonce, ad, sizeof ad, ct, 0, out) == AX_ERR_FORGED);
    CHECK(ax_ascon_open(key, nonce, ad, sizeof ad, ct, sizeof ct, out) == AX_OK);
    CHECK_MEM(out, pt, sizeof pt);

    TEST("ascon: in place, every length 0..49");
    int bad_round_trips = 0;
    for (size_t n = 0; n < 50; n++) {
        uint8_t buf[66], ref[66], msg[50];
        for (size_t i = 0; i < n; i++) msg[i] = (uint8_t)(n + i);
        memcpy(buf, msg, n);
        if (ax_ascon_seal(key, nonce, ad, n % 22, msg, n, ref) != AX_OK) bad_round_trips++;
        if (ax_ascon_seal(key, nonce, ad, n % 22, buf, n, buf) != AX_OK) bad_round_trips++;
        if (memcmp(buf, ref, n + 16) != 0) bad_round_trips++;
        if (ax_ascon_open(key, nonce, ad, n % 22, buf, n + 16, buf) != AX_OK) bad_round_trips++;
        if (memcmp(buf, msg, n) != 0) bad_round_trips++;
    }
    CHECK(bad_round_trips == 0);

    TEST("ascon: bad arguments");
    CHECK(ax_ascon_seal(NULL, nonce, ad, 1, pt, 1, out) == AX_ERR_ARGUMENT);
    CHECK(ax_ascon_seal(key, NULL, ad, 1, pt, 1, out) == AX_ERR_ARGUMENT);
    CHECK(ax_ascon_seal(key, nonce, NULL, 1, pt, 1, out) == AX_ERR_ARGUMENT);
    CHECK(ax_ascon_seal(key, nonce, ad, 1, NULL, 1, out) == AX_ERR_ARGUMENT);
    CHECK(ax_ascon_seal(key, nonce, ad, 1, pt, 1, NULL) == AX_ERR_ARGUMENT);
    CHECK(ax_ascon_seal(key, nonce, NULL, 0, NULL, 0, out) == AX_OK);
    CHECK(ax_ascon_open(key, nonce, NULL, 0, out, 16, NULL) == AX_OK);
    CHECK(ax_ascon_open(key, nonce, ad, 1, NULL, 16, out) == AX_ERR_ARGUMENT);
    CHECK(ax_ascon_open(key, nonce, ad, 1, ct, sizeof ct, NULL) == AX_ERR_ARGUMENT);
}

void suite_ascon(void) {
    test_kats();
    test_tampering();
}
