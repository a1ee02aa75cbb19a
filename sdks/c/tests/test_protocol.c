/* The module-side recipes against spec/vectors: event channel (ADs, counters, receive window),
 * control channel (set-key, swap-key, call, result), the native exchange (module side with a fixed
 * ephemeral key, refusals), and the attestation answers of Sancus, TrustZone and SGX. */
#include <openssl/evp.h>

#include "authex/protocol.h"
#include "authex/wire.h"
#include "check.h"
#include "suites.h"

static void event_channel(void) {
    vecfile v;
    if (vec_load(&v, "event_channel") != 0) return;
    int n = vec_count(&v, "vectors");
    CHECK(n > 0);
    for (int i = 0; i < n; i++) {
        static char name[64];
        snprintf(name, sizeof name, "event vector %s", vec_get(&v, "vectors.%d.name", i));
        TEST(name);
        static uint8_t pt[8192], want[8192], sealed[8192], opened[8192];
        uint8_t key[16], want_ad[64];
        vec_hex(&v, key, sizeof key, "vectors.%d.key", i);
        long pt_len = vec_hex(&v, pt, sizeof pt, "vectors.%d.plaintext", i);
        long ad_len = vec_hex(&v, want_ad, sizeof want_ad, "vectors.%d.ad", i);
        long want_len = vec_hex(&v, want, sizeof want, "vectors.%d.sealed", i);
        uint32_t conn = (uint32_t)vec_num(&v, 0, "vectors.%d.conn_id", i);
        uint8_t dir = (uint8_t)vec_num(&v, 0, "vectors.%d.direction", i);
        uint64_t counter = vec_num(&v, 0, "vectors.%d.counter", i);
        uint8_t ad[AX_EVENT_AD_SIZE];
        ax_event_ad(conn, dir, counter, ad);
        CHECK(ad_len == AX_EVENT_AD_SIZE);
        CHECK_MEM(ad, want_ad, sizeof ad);
        ax_channel c;
        ax_channel_init(&c, conn, AX_SUITE_AES_GCM_128, key);
        size_t got = 0, plain = 0;
        CHECK(ax_channel_seal_with(&c, dir, counter, pt, (size_t)pt_len, sealed, sizeof sealed,
                                   &got) == AX_OK);
        CHECK(got == (size_t)want_len);
        CHECK_MEM(sealed, want, got);
        CHECK(ax_channel_open(&c, dir, counter, sealed, got, opened, sizeof opened, &plain) ==
              AX_OK);
        CHECK(plain == (size_t)pt_len);
        CHECK_MEM(opened, pt, plain);
        /* the same counter again is a replay; a flipped bit is a forgery */
        CHECK(ax_channel_open(&c, dir, counter, sealed, got, opened, sizeof opened, &plain) ==
              AX_ERR_ARGUMENT);
        ax_channel d;
        ax_channel_init(&d, conn, AX_SUITE_AES_GCM_128, key);
        sealed[got - 1] ^= 1;
        CHECK(ax_channel_open(&d, dir, counter, sealed, got, opened, sizeof opened, &plain) ==
              AX_ERR_FORGED);
        sealed[got - 1] ^= 1;
        CHECK(ax_channel_open(&d, (uint8_t)(dir ^ 1), counter, sealed, got, opened, sizeof opened,
                              &plain) == AX_ERR_FORGED);
        CHECK(d.receive.rejected == 2 && d.receive.last == 0);
    }
    TEST("refuse to seal");
    int refusals = vec_count(&v, "refuse_to_seal");
    CHECK(refusals > 0);
    ax_channel c;
    uint8_t zero[16] = {0}, out[64];
    size_t got;
    ax_channel_init(&c, 1, AX_SUITE_AES_GCM_128, zero);
    for (int i = 0; i < refusals; i++) {
        uint64_t counter = vec_num(&v, 0, "refuse_to_seal.%d.counter", i);
        CHECK(ax_channel_seal_with(&c, 0, counter, (const uint8_t *)"x", 1, out, sizeof out,
                                   &got) != AX_OK);
    }
    TEST("a sender's counter stops at 2^64 - 2");
    uint64_t used = 0;
    c.sent = UINT64_MAX - 2;
    CHECK(ax_channel_seal_next(&c, 0, (const uint8_t *)"x", 1, out, sizeof out, &got, &used) ==
          AX_OK);
    CHECK(used == UINT64_MAX - 1);
    CHECK(ax_channel_seal_next(&c, 0, (const uint8_t *)"x", 1, out, sizeof out, &got, &used) !=
          AX_OK);
    TEST("receive window");
    ax_window w = {0, 0, 0};
    int steps = vec_count(&v, "receive_window.steps");
    CHECK(steps > 0);
    for (int i = 0; i < steps; i++) {
        uint64_t counter = vec_num(&v, 0, "receive_window.steps.%d.counter", i);
        int accepted = ax_window_check(&w, counter) == AX_OK;
        if (accepted) ax_window_accept(&w, counter);
        CHECK(accepted == (int)vec_num(&v, 9, "receive_window.steps.%d.accepted", i));
    }
    CHECK(w.last == vec_num(&v, 1, "receive_window.last"));
    CHECK(w.gaps == vec_num(&v, 1, "receive_window.gaps"));
    CHECK(w.rejected == vec_num(&v, 1, "receive_window.rejected"));
    vec_free(&v);
}

static void control(void) {
    vecfile v;
    if (vec_load(&v, "control") != 0) return;
    static uint8_t want[8192], out[8192], back[8192];
    uint8_t km[16], conn_key[16];
    size_t got, plain;
    int n = vec_count(&v, "set_key");
    CHECK(n > 0);
    for (int i = 0; i < n; i++) {
        TEST("control set_key");
        vec_hex(&v, km, 16, "set_key.%d.module_key", i);
        vec_hex(&v, conn_key, 16, "set_key.%d.conn_key", i);
        long want_len = vec_hex(&v, want, sizeof want, "set_key.%d.wrapped", i);
        ax_set_key_fields f = {(uint32_t)vec_num(&v, 0, "set_key.%d.conn_id", i),
                               (uint16_t)vec_num(&v, 0, "set_key.%d.io_id", i),
                               (uint8_t)vec_num(&v, 0, "set_key.%d.role", i),
                               (uint8_t)vec_num(&v, 0, "set_key.%d.suite", i),
                               vec_num(&v, 0, "set_key.%d.counter", i)};
        CHECK(ax_wrap_key(AX_SUITE_AES_GCM_128, km, conn_key, &f, out, sizeof out, &got) == AX_OK);
        CHECK(got == (size_t)want_len);
        CHECK_MEM(out, want, got);
        uint8_t unwrapped[16];
        CHECK(ax_unwrap_key(AX_SUITE_AES_GCM_128, km, out, got, &f, unwrapped) == AX_OK);
        CHECK_MEM(unwrapped, conn_key, 16);
        ax_set_key_fields other = f;
        other.io_id ^= 1;
        CHECK(ax_unwrap_key(AX_SUITE_AES_GCM_128, km, out, got, &other, unwrapped) ==
              AX_ERR_FORGED);
        other = f;
        other.counter = 0;
        CHECK(ax_unwrap_key(AX_SUITE_AES_GCM_128, km, out, got, &other, unwrapped) != AX_OK);
    }
    n = vec_count(&v, "swap_key");
    CHECK(n >= 2);
    int retires = 0;
    for (int i = 0; i < n; i++) {
        TEST("control swap_key");
        uint8_t want_ad[64], ad[AX_SWAP_KEY_AD_SIZE], unwrapped[16];
        vec_hex(&v, km, 16, "swap_key.%d.module_key", i);
        long key_len = vec_hex(&v, conn_key, 16, "swap_key.%d.conn_key", i);
        long ad_len = vec_hex(&v, want_ad, sizeof want_ad, "swap_key.%d.ad", i);
        long want_len = vec_hex(&v, want, sizeof want, "swap_key.%d.wrapped", i);
        ax_swap_key_fields f = {(uint32_t)vec_num(&v, 0, "swap_key.%d.conn_id", i),
                                (uint32_t)vec_num(&v, 0, "swap_key.%d.replaces", i),
                                (uint16_t)vec_num(&v, 0, "swap_key.%d.io_id", i),
                                (uint8_t)vec_num(&v, 0, "swap_key.%d.role", i),
                                (uint8_t)vec_num(&v, 0, "swap_key.%d.suite", i),
                                vec_num(&v, 0, "swap_key.%d.counter", i)};
        CHECK(key_len == (f.conn_id == 0 ? 0 : 16));
        if (f.conn_id == 0) retires++;
        ax_swap_key_ad(&f, ad);
        CHECK(ad_len == AX_SWAP_KEY_AD_SIZE);
        CHECK_MEM(ad, want_ad, sizeof ad);
        CHECK(ax_wrap_swap_key(AX_SUITE_AES_GCM_128, km, key_len == 16 ? conn_key : NULL, &f, out,
                               sizeof out, &got) == AX_OK);
        CHECK(got == (size_t)want_len);
        CHECK_MEM(out, want, got);
        size_t plain_key = 99;
        CHECK(ax_unwrap_swap_key(AX_SUITE_AES_GCM_128, km, want, (size_t)want_len, &f, unwrapped,
                                 &plain_key) == AX_OK);
        CHECK(plain_key == (size_t)key_len);
        if (key_len == 16) CHECK_MEM(unwrapped, conn_key, 16);
        ax_swap_key_fields other = f;
        other.replaces ^= 1;
        CHECK(ax_unwrap_swap_key(AX_SUITE_AES_GCM_128, km, want, (size_t)want_len, &other,
                                 unwrapped, &plain_key) == AX_ERR_FORGED);
        other = f;
        other.counter = 0;
        CHECK(ax_unwrap_swap_key(AX_SUITE_AES_GCM_128, km, want, (size_t)want_len, &other,
                                 unwrapped, &plain_key) != AX_OK);
        /* a swap-wrapped value never opens as a set-key, nor a set-key as a swap-key */
        ax_set_key_fields as_set = {f.conn_id, f.io_id, f.role, f.suite, f.counter};
        CHECK(ax_unwrap_key(AX_SUITE_AES_GCM_128, km, want, (size_t)want_len, &as_set,
                            unwrapped) != AX_OK);
        if (key_len == 16) {
            CHECK(ax_wrap_key(AX_SUITE_AES_GCM_128, km, conn_key, &as_set, out, sizeof out,
                              &got) == AX_OK);
            CHECK(ax_unwrap_swap_key(AX_SUITE_AES_GCM_128, km, out, got, &f, unwrapped,
                                     &plain_key) == AX_ERR_FORGED);
        }
    }
    CHECK(retires > 0);
    n = vec_count(&v, "call");
    CHECK(n > 0);
    for (int i = 0; i < n; i++) {
        TEST("control call");
        static uint8_t arg[4096];
        vec_hex(&v, km, 16, "call.%d.module_key", i);
        long arg_len = vec_hex(&v, arg, sizeof arg, "call.%d.argument", i);
        long want_len = vec_hex(&v, want, sizeof want, "call.%d.sealed", i);
        uint16_t entry = (uint16_t)vec_num(&v, 0, "call.%d.entry_id", i);
        uint64_t counter = vec_num(&v, 0, "call.%d.counter", i);
        CHECK(ax_seal_call(AX_SUITE_AES_GCM_128, km, entry, counter, arg, (size_t)arg_len, out,
                           sizeof out, &got) == AX_OK);
        CHECK(got == (size_t)want_len);
        CHECK_MEM(out, want, got);
        CHECK(ax_open_call(AX_SUITE_AES_GCM_128, km, entry, counter, out, got, back, sizeof back,
                           &plain) == AX_OK);
        CHECK(plain == (size_t)arg_len);
        CHECK_MEM(back, arg, plain);
        CHECK(ax_open_call(AX_SUITE_AES_GCM_128, km, entry, counter + 1, out, got, back,
                           sizeof back, &plain) != AX_OK);
    }
    n = vec_count(&v, "result");
    CHECK(n > 0);
    for (int i = 0; i < n; i++) {
        TEST("control result");
        static uint8_t result[4096];
        vec_hex(&v, km, 16, "result.%d.module_key", i);
        long res_len = vec_hex(&v, result, sizeof result, "result.%d.result", i);
        long want_len = vec_hex(&v, want, sizeof want, "result.%d.sealed", i);
        uint16_t entry = (uint16_t)vec_num(&v, 0, "result.%d.entry_id", i);
        uint64_t counter = vec_num(&v, 0, "result.%d.counter", i);
        uint8_t status = (uint8_t)vec_num(&v, 0, "result.%d.status", i);
        CHECK(ax_seal_result(AX_SUITE_AES_GCM_128, km, entry, counter, status, result,
                             (size_t)res_len, out, sizeof out, &got) == AX_OK);
        CHECK(got == (size_t)want_len);
        CHECK_MEM(out, want, got);
        CHECK(ax_open_result(AX_SUITE_AES_GCM_128, km, entry, counter, status, out, got, back,
                             sizeof back, &plain) == AX_OK);
        CHECK(ax_open_result(AX_SUITE_AES_GCM_128, km, entry, counter, (uint8_t)(status ^ 4), out,
                             got, back, sizeof back, &plain) == AX_ERR_FORGED);
    }
    TEST("control counters 0 and 2^64-1 are refused");
    CHECK(ax_seal_call(AX_SUITE_AES_GCM_128, km, 1, 0, NULL, 0, out, sizeof out, &got) != AX_OK);
    CHECK(ax_seal_call(AX_SUITE_AES_GCM_128, km, 1, UINT64_MAX, NULL, 0, out, sizeof out, &got) !=
          AX_OK);
    vec_free(&v);
}

/* Sign with an Ed25519 private key (tests only: the module never signs). */
void check_ed25519_sign(const uint8_t priv[32], const uint8_t *msg, size_t len, uint8_t sig[64]) {
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t sig_len = 64;
    CHECK(key != NULL && ctx != NULL);
    CHECK(EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1);
    CHECK(EVP_DigestSign(ctx, sig, &sig_len, msg, len) == 1);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
}

static void native_exchange(void) {
    vecfile v;
    if (vec_load(&v, "native_exchange") != 0) return;
    int n = vec_count(&v, "exchanges");
    CHECK(n == 2);
    for (int i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s", vec_get(&v, "exchanges.%d.name", i));
        TEST(name);
        uint8_t operator_public[32], challenge[112], ephemeral[32], want_evidence[48],
            want_key[16], evidence[48], key[16];
        char err[256];
        vec_hex(&v, operator_public, 32, "exchanges.%d.operator_public", i);
        CHECK(vec_hex(&v, challenge, sizeof challenge, "exchanges.%d.challenge", i) == 112);
        vec_hex(&v, ephemeral, 32, "exchanges.%d.module_ephemeral_private", i);
        vec_hex(&v, want_evidence, 48, "exchanges.%d.evidence", i);
        vec_hex(&v, want_key, 16, "exchanges.%d.module_key", i);
        CHECK(ax_native_respond(name, operator_public, challenge, 112, ephemeral, evidence, key,
                                err, sizeof err) == AX_OK);
        CHECK_MEM(evidence, want_evidence, 48);
        CHECK_MEM(key, want_key, 16);
        /* refusals: another name, a tampered signature, a wrong size */
        CHECK(ax_native_respond("other", operator_public, challenge, 112, ephemeral, evidence,
                                key, err, sizeof err) == AX_ERR_FORGED);
        CHECK(strstr(err, "not signed by this module's operator") != NULL);
        challenge[60] ^= 1;
        CHECK(ax_native_respond(name, operator_public, challenge, 112, ephemeral, evidence, key,
                                err, sizeof err) == AX_ERR_FORGED);
        CHECK(ax_native_respond(name, operator_public, challenge, 111, ephemeral, evidence, key,
                                err, sizeof err) == AX_ERR_ARGUMENT);
    }
    TEST("native exchange rejects a low-order deployer point");
    uint8_t priv[32], pub[32], challenge[112], evidence[48], key[16], ephemeral[32];
    memset(priv, 1, sizeof priv);
    memset(ephemeral, 9, sizeof ephemeral);
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, 32);
    size_t pub_len = 32;
    CHECK(pk != NULL && EVP_PKEY_get_raw_public_key(pk, pub, &pub_len) == 1);
    EVP_PKEY_free(pk);
    uint8_t signed_part[23 + 2 + 1 + 16 + 32];
    memcpy(signed_part, "authex-native-attest-v1", 23);
    signed_part[23] = 0;
    signed_part[24] = 1;
    signed_part[25] = 'm';
    memset(signed_part + 26, 5, 16);
    memset(signed_part + 42, 0, 32);
    memset(challenge, 5, 16);
    memset(challenge + 16, 0, 32);
    check_ed25519_sign(priv, signed_part, sizeof signed_part, challenge + 48);
    char err[256];
    CHECK(ax_native_respond("m", pub, challenge, 112, ephemeral, evidence, key, err, sizeof err) ==
          AX_ERR_FORGED);
    CHECK(strstr(err, "invalid") != NULL);
    vec_free(&v);
}

static int hexeq(const uint8_t *bytes, size_t n, const char *hex) {
    uint8_t want[64];
    return check_unhex(hex, want, sizeof want) == (long)n && memcmp(bytes, want, n) == 0;
}

static void attestation(void) {
    uint8_t km[16], challenge[64], nonce[16], evidence[32], key[16], mac[16], other[16];
    char err[256];
    for (int i = 0; i < 16; i++) km[i] = (uint8_t)i;
    for (int i = 0; i < 32; i++) challenge[i] = (uint8_t)(0x40 + i);
    memset(nonce, 9, sizeof nonce);

    TEST("sancus session key known answer");
    uint8_t msg[14 + 16];
    memcpy(msg, "authex-session", 14);
    memcpy(msg + 14, challenge, 16);
    CHECK(ax_sancus_mac(128, km, msg, sizeof msg, mac) == AX_OK);
    CHECK(hexeq(mac, 16, "10455ff470ec15add5076e21f63149cf"));
    TEST("sancus answer");
    CHECK(ax_sancus_answer(km, challenge, 16, nonce, evidence, key, err, sizeof err) == AX_OK);
    CHECK(ax_sancus_mac(128, km, challenge, 16, mac) == AX_OK);
    CHECK_MEM(evidence, mac, 16);
    CHECK_MEM(evidence + 16, nonce, 16);
    CHECK(memcmp(key, km, 16) != 0);
    CHECK(ax_sancus_answer(km, challenge, 17, nonce, evidence, key, err, sizeof err) ==
          AX_ERR_ARGUMENT); /* odd */
    CHECK(strstr(err, "even length") != NULL);
    CHECK(ax_sancus_answer(km, challenge, 14, nonce, evidence, key, err, sizeof err) ==
          AX_ERR_ARGUMENT);

    TEST("trustzone known answers");
    uint8_t info[25 + 16];
    memcpy(info, "authex control session v1", 25);
    memcpy(info + 25, challenge, 16);
    CHECK(ax_hkdf_sha256(km, 16, NULL, 0, info, sizeof info, key, 16) == AX_OK);
    CHECK(hexeq(key, 16, "f943453cabb4ce3525689fe1070be27e"));
    uint8_t vendor_info[30 + 4] = "authex trustzone vendor key v1";
    vendor_info[30] = 0x34;
    vendor_info[31] = 0x12;
    vendor_info[32] = 0;
    vendor_info[33] = 0;
    uint8_t vendor[16], module[16], module_info[30 + 32];
    CHECK(ax_hkdf_sha256(km, 16, NULL, 0, vendor_info, sizeof vendor_info, vendor, 16) == AX_OK);
    CHECK(hexeq(vendor, 16, "f8fef6fa22b81f8ee31a56de7e01e51d"));
    memcpy(module_info, "authex trustzone module key v1", 30);
    for (int i = 0; i < 32; i++) module_info[30 + i] = (uint8_t)(0x20 + i);
    CHECK(ax_hkdf_sha256(vendor, 16, NULL, 0, module_info, sizeof module_info, module, 16) ==
          AX_OK);
    CHECK(hexeq(module, 16, "7ca7ba76f84a01bebb3faa8cebf1495e"));
    CHECK(ax_trustzone_answer(module, challenge, 32, nonce, evidence, key, err, sizeof err) ==
          AX_OK);
    CHECK(hexeq(evidence, 16, "d28048a07441656c42582da9bfcaea1d"));
    CHECK_MEM(evidence + 16, nonce, 16);
    memset(nonce, 8, sizeof nonce);
    CHECK(ax_trustzone_answer(module, challenge, 32, nonce, evidence, other, err, sizeof err) ==
          AX_OK);
    CHECK(memcmp(key, other, 16) != 0); /* the session key binds the module nonce */
    CHECK(ax_trustzone_answer(module, challenge, 65, nonce, evidence, key, err, sizeof err) ==
          AX_ERR_ARGUMENT);

    TEST("sgx report data layout");
    uint8_t pub[32], rd[64], digest[32], zero[32] = {0};
    memset(pub, 1, sizeof pub);
    memset(nonce, 2, sizeof nonce);
    CHECK(ax_sgx_report_data(pub, nonce, rd) == AX_OK);
    ax_part parts[2] = {{pub, 32}, {nonce, 16}};
    CHECK(ax_sha256(parts, 2, digest) == AX_OK);
    CHECK_MEM(rd, digest, 32);
    CHECK_MEM(rd + 32, zero, 32);

    TEST("control suites per TEE");
    CHECK(ax_control_suite("sancus") == AX_SUITE_SPONGEWRAP_128);
    CHECK(ax_control_suite("trustzone") == AX_SUITE_AES_GCM_128);
    CHECK(ax_control_suite("sgx") == AX_SUITE_AES_GCM_128);
    CHECK(ax_control_suite("native") == AX_SUITE_AES_GCM_128);
    CHECK(ax_control_suite("tpm") == 0);
}

void suite_protocol(void) {
    event_channel();
    control();
    native_exchange();
    attestation();
}
