/* The frame layer and message table against spec/vectors/frames.json: every message encodes to
 * its vector bytes and decodes back to its fields; split and concatenated input; every negative
 * vector gives its outcome (incomplete, frame error, message error). */
#include <stdlib.h>

#include "authex/wire.h"
#include "check.h"
#include "suites.h"

static const uint8_t CONTROL[] = {0x01, 0x10, 0x12, 0x14, 0x16, 0x18, 0x1a, 0x1c, 0x1e,
                                  0x20, 0x22, 0x24, 0x26, 0x28, 0x2a, 0x2c, 0x2e, 0x30,
                                  0x32, 0x34, 0};
static const uint8_t CONTROL_REPLY[] = {0x02, 0x03, 0x11, 0x13, 0x19, 0x25, 0x27, 0};
static const uint8_t DATA[] = {0x01, 0x02, 0x03, 0x40, 0x41, 0};
static const uint8_t HOST_REPLY[] = {0x02, 0x03, 0x80, 0x82, 0x86, 0x87, 0x88, 0x8a, 0x8b, 0};

static const uint8_t *link_types(const char *link) {
    if (strcmp(link, "control") == 0) return CONTROL;
    if (strcmp(link, "control reply") == 0) return CONTROL_REPLY;
    if (strcmp(link, "data") == 0) return DATA;
    if (strcmp(link, "host") == 0) return ax_host_link_types;
    if (strcmp(link, "host reply") == 0) return HOST_REPLY;
    return NULL;
}

static const char *KINDS[] = {"u8", "u16", "u32", "u64", "bytes", "str"};

static void every_message(const vecfile *v) {
    static uint8_t frame[1 << 16], out[1 << 16], data[AX_MAX_FIELDS][4096];
    int n = vec_count(v, "messages");
    CHECK(n >= 39);
    for (int i = 0; i < n; i++) {
        static char name[64];
        snprintf(name, sizeof name, "%s", vec_get(v, "messages.%d.name", i));
        TEST(name);
        uint8_t type = (uint8_t)vec_num(v, 0, "messages.%d.type", i);
        uint32_t rid = (uint32_t)vec_num(v, 0, "messages.%d.request_id", i);
        const ax_message_schema *schema = ax_schema(type);
        CHECK(schema != NULL && strcmp(schema->name, name) == 0);
        if (schema == NULL) continue;
        int fields = vec_count(v, "messages.%d.fields", i);
        CHECK(fields == (int)schema->count);
        ax_value values[AX_MAX_FIELDS];
        memset(values, 0, sizeof values);
        for (int f = 0; f < fields && f < AX_MAX_FIELDS; f++) {
            const char *kind = vec_get(v, "messages.%d.fields.%d.kind", i, f);
            CHECK(kind != NULL && strcmp(kind, KINDS[schema->kinds[f]]) == 0);
            CHECK(strcmp(vec_get(v, "messages.%d.fields.%d.name", i, f), schema->fields[f]) == 0);
            if (schema->kinds[f] == AX_F_BYTES) {
                long len = vec_hex(v, data[f], sizeof data[f], "messages.%d.fields.%d.value", i, f);
                CHECK(len >= 0);
                values[f].data = data[f];
                values[f].len = len < 0 ? 0 : (size_t)len;
            } else if (schema->kinds[f] == AX_F_STR) {
                const char *text = vec_get(v, "messages.%d.fields.%d.value", i, f);
                size_t len = strlen(text);
                memcpy(data[f], text, len);
                values[f].data = data[f];
                values[f].len = len;
            } else {
                values[f].num = vec_num(v, 0, "messages.%d.fields.%d.value", i, f);
            }
        }
        long frame_len = vec_hex(v, frame, sizeof frame, "messages.%d.frame", i);
        CHECK(frame_len > 0);
        ax_writer w;
        ax_writer_init(&w, out, sizeof out);
        CHECK(ax_encode(&w, type, rid, values) == 0);
        CHECK(w.len == (size_t)frame_len);
        CHECK_MEM(out, frame, (size_t)frame_len);
        ax_frame parsed;
        char err[256];
        CHECK(ax_frame_parse(frame, (size_t)frame_len, AX_CONTROL_MAX_PAYLOAD, &parsed, err,
                             sizeof err) == frame_len);
        ax_value decoded[AX_MAX_FIELDS];
        CHECK(ax_decode(&parsed, NULL, decoded, NULL, err, sizeof err) == 0);
        CHECK(parsed.request_id == rid && parsed.type == type);
        for (unsigned f = 0; f < schema->count; f++) {
            CHECK(decoded[f].num == values[f].num && decoded[f].len == values[f].len);
            if (values[f].len > 0) CHECK_MEM(decoded[f].data, values[f].data, values[f].len);
        }
        /* every link that carries it accepts it */
        int links = vec_count(v, "messages.%d.links", i);
        for (int l = 0; l < links; l++) {
            const uint8_t *types = link_types(vec_get(v, "messages.%d.links.%d", i, l));
            if (types != NULL) CHECK(ax_decode(&parsed, types, decoded, NULL, err, sizeof err) == 0);
        }
    }
}

static void split_and_concatenated(const vecfile *v) {
    TEST("split and concatenated frames");
    static uint8_t all[1 << 17];
    size_t total = 0;
    int n = vec_count(v, "messages");
    for (int i = 0; i < n; i++) {
        long len = vec_hex(v, all + total, sizeof all - total, "messages.%d.frame", i);
        CHECK(len > 0);
        if (len > 0) total += (size_t)len;
    }
    /* byte by byte: a frame completes exactly when its last byte arrives */
    size_t start = 0;
    int frames = 0;
    for (size_t end = 1; end <= total; end++) {
        ax_frame f;
        char err[128];
        long size = ax_frame_parse(all + start, end - start, AX_CONTROL_MAX_PAYLOAD, &f, err,
                                   sizeof err);
        CHECK(size >= 0);
        if (size > 0) {
            CHECK((size_t)size == end - start);
            start = end;
            frames++;
        }
    }
    CHECK(frames == n && start == total);
}

static void negative(const vecfile *v) {
    static uint8_t input[1 << 12];
    int n = vec_count(v, "negative");
    CHECK(n >= 15);
    for (int i = 0; i < n; i++) {
        static char name[64];
        snprintf(name, sizeof name, "%s", vec_get(v, "negative.%d.name", i));
        TEST(name);
        long len = vec_hex(v, input, sizeof input, "negative.%d.input", i);
        size_t max = (size_t)vec_num(v, 0, "negative.%d.max_payload", i);
        char outcome[32], link[32];
        snprintf(outcome, sizeof outcome, "%s", vec_get(v, "negative.%d.outcome", i));
        snprintf(link, sizeof link, "%s", vec_get(v, "negative.%d.link", i));
        ax_frame f;
        ax_value values[AX_MAX_FIELDS];
        char err[256] = "";
        long size = ax_frame_parse(input, (size_t)len, max, &f, err, sizeof err);
        const char *got;
        if (size < 0) {
            got = "frame_error";
        } else if (size == 0) {
            got = "incomplete";
        } else {
            got = ax_decode(&f, link_types(link), values, NULL, err, sizeof err) == 0
                      ? "ok"
                      : "message_error";
        }
        CHECK(strcmp(got, outcome) == 0);
        if (strcmp(got, outcome) != 0) fprintf(stderr, "  got %s (%s)\n", got, err);
        if (strcmp(outcome, "frame_error") == 0 || strcmp(outcome, "message_error") == 0) {
            CHECK(strncmp(err, "malformed ", 10) == 0);
        }
    }
}

static void writer_overflow(void) {
    TEST("writer overflow is reported, never written past");
    uint8_t buf[16];
    memset(buf, 0xAA, sizeof buf);
    ax_writer w;
    ax_writer_init(&w, buf, 12);
    ax_frame_begin(&w, AX_MSG_OK, 7);
    ax_put_bytes(&w, "hello", 5);
    ax_frame_end(&w);
    CHECK(w.overflow);
    CHECK(buf[12] == 0xAA && buf[15] == 0xAA);
    TEST("utf-8 validation");
    CHECK(ax_utf8_valid((const uint8_t *)"r\xc3\xa9pertoire", 11));
    CHECK(!ax_utf8_valid((const uint8_t *)"\xc0\xaf", 2));         /* overlong */
    CHECK(!ax_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));     /* surrogate */
    CHECK(!ax_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    CHECK(!ax_utf8_valid((const uint8_t *)"\xe2\x82", 2));         /* truncated */
}

void suite_wire(void) {
    vecfile v;
    if (vec_load(&v, "frames") != 0) return;
    every_message(&v);
    split_and_concatenated(&v);
    negative(&v);
    writer_overflow();
    vec_free(&v);
}
