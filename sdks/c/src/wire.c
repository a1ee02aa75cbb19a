/* The frame layer and message table of the wire protocols (spec/protocol.md); see wire.h. */
#include "authex/wire.h"

#include <stdio.h>
#include <string.h>

#define U8 AX_F_U8
#define U16 AX_F_U16
#define U32 AX_F_U32
#define U64 AX_F_U64
#define BYTES AX_F_BYTES
#define STR AX_F_STR

/* Every message of every link, as in spec/protocol.md §4 (module code uses only some), but the
 * agent's StatusResult (0x1d), whose typed records only the deployer reads.
 * -DAUTHEX_COMPACT (the deployer's Sancus builds) keeps only the module's own links. */
static const ax_message_schema SCHEMAS[] = {
    {0x02, "Ok", 1, {BYTES}, {"body"}},
    {0x03, "Error", 2, {U16, STR}, {"code", "message"}},
#ifndef AUTHEX_COMPACT
    {0x01, "Hello", 3, {U8, U8, STR}, {"link", "version", "peer"}},
    {0x10, "Load", 4, {STR, STR, BYTES, U64}, {"module", "tee", "artifact", "memory"}},
    {0x11, "Loaded", 2, {U64, BYTES}, {"instance", "measurement"}},
    {0x12, "Attest", 2, {STR, BYTES}, {"module", "challenge"}},
    {0x13, "Attested", 1, {BYTES}, {"evidence"}},
    {0x14, "SetKey", 7, {STR, U32, U16, U8, U8, U64, BYTES},
     {"module", "conn_id", "io_id", "role", "suite", "counter", "wrapped"}},
    {0x16, "AddRoute", 7, {U32, STR, STR, STR, STR, STR, STR},
     {"conn_id", "from_node", "from_module", "from_address", "to_node", "to_module", "to_address"}},
    {0x18, "Call", 5, {STR, U16, U8, U64, BYTES},
     {"module", "entry_id", "authenticated", "counter", "payload"}},
    {0x19, "CallResult", 2, {U8, BYTES}, {"status", "payload"}},
    {0x1a, "Timer", 3, {STR, U16, U32}, {"module", "entry_id", "period_ms"}},
    {0x1c, "Status", 0, {U8}, {""}},
    {0x1e, "Remove", 1, {STR}, {"module"}},
    {0x20, "Reset", 0, {U8}, {""}},
    {0x22, "Send", 3, {U32, U64, BYTES}, {"conn_id", "counter", "ciphertext"}},
    {0x24, "Request", 3, {U32, U64, BYTES}, {"conn_id", "counter", "ciphertext"}},
    {0x25, "Response", 3, {U32, U64, BYTES}, {"conn_id", "counter", "ciphertext"}},
    {0x26, "Watch", 1, {U32}, {"conn_id"}},
    {0x27, "WatchEvent", 3, {U32, U64, BYTES}, {"conn_id", "counter", "ciphertext"}},
    {0x28, "Shutdown", 0, {U8}, {""}},
    {0x2a, "SwapKey", 8, {STR, U32, U32, U16, U8, U8, U64, BYTES},
     {"module", "conn_id", "replaces", "io_id", "role", "suite", "counter", "wrapped"}},
    {0x2c, "Promote", 1, {STR}, {"staged"}},
    {0x2e, "RemoveRoute", 1, {U32}, {"conn_id"}},
    {0x30, "AddOperator", 2, {STR, U8}, {"certificate", "admin"}},
    {0x32, "RemoveOperator", 1, {STR}, {"key_id"}},
    {0x34, "Bind", 1, {STR}, {"deployment"}},
    {0x40, "Event", 4, {U32, U8, U64, BYTES}, {"conn_id", "direction", "counter", "ciphertext"}},
    {0x41, "EventAck", 3, {U32, U8, U64}, {"conn_id", "direction", "counter"}},
#endif
    {0x80, "HostReady", 2, {STR, BYTES}, {"name", "measurement"}},
    {0x81, "HostAttest", 1, {BYTES}, {"challenge"}},
    {0x82, "HostAttested", 1, {BYTES}, {"evidence"}},
    {0x83, "HostSetKey", 6, {U32, U16, U8, U8, U64, BYTES},
     {"conn_id", "io_id", "role", "suite", "counter", "wrapped"}},
    {0x84, "HostDeliver", 4, {U32, U8, U64, BYTES}, {"conn_id", "direction", "counter", "ciphertext"}},
    {0x85, "HostCall", 4, {U16, U8, U64, BYTES}, {"entry_id", "authenticated", "counter", "payload"}},
    {0x86, "HostCallResult", 2, {U8, BYTES}, {"status", "payload"}},
    {0x87, "HostEmit", 4, {U32, U8, U64, BYTES}, {"conn_id", "direction", "counter", "ciphertext"}},
    {0x88, "HostRejected", 4, {U32, U8, U64, U8}, {"conn_id", "direction", "counter", "reason"}},
    {0x89, "HostStop", 0, {U8}, {""}},
    {0x8a, "HostAccepted", 3, {U32, U8, U64}, {"conn_id", "direction", "counter"}},
    {0x8b, "HostResumed", 1, {U64}, {"version"}},
    {0x8c, "HostSwapKey", 7, {U32, U32, U16, U8, U8, U64, BYTES},
     {"conn_id", "replaces", "io_id", "role", "suite", "counter", "wrapped"}},
#ifndef AUTHEX_COMPACT
    {0xa0, "PlatformInfo", 3, {STR, U8, STR}, {"tee", "emulated", "description"}},
    {0xa1, "PlatformLoad", 3, {STR, BYTES, U64}, {"name", "artifact", "memory"}},
    {0xa2, "PlatformLoaded", 2, {BYTES, U32}, {"measurement", "pid"}},
    {0xa3, "PlatformStop", 1, {STR}, {"name"}},
#endif
    {0xa8, "ModuleIdentity", 5, {STR, U8, BYTES, BYTES, BYTES},
     {"tee", "emulated", "measurement", "module_key", "payload"}},
    {0xa9, "QuoteRequest", 1, {BYTES}, {"report_data"}},
    {0xaa, "QuoteReply", 1, {BYTES}, {"quote"}},
    {0xab, "SealRequest", 1, {BYTES}, {"data"}},
    {0xac, "SealReply", 1, {U64}, {"version"}},
    {0xad, "UnsealRequest", 0, {U8}, {""}},
    {0xae, "UnsealReply", 2, {U64, BYTES}, {"version", "data"}},
};

const uint8_t ax_host_link_types[] = {0x81, 0x83, 0x84, 0x85, 0x89, 0x8c, 0};
const uint8_t ax_platform_reply_types[] = {0xa8, 0xaa, 0xac, 0xae, 0x03, 0};

const ax_message_schema *ax_schema(uint8_t type) {
    for (size_t i = 0; i < sizeof SCHEMAS / sizeof SCHEMAS[0]; i++) {
        if (SCHEMAS[i].type == type) return &SCHEMAS[i];
    }
    return NULL;
}

const char *ax_field_kind_name(ax_field_kind kind) {
    static const char *const names[] = {"u8", "u16", "u32", "u64", "bytes", "str"};
    return names[kind];
}

uint16_t ax_be16(const uint8_t *p) { return (uint16_t)((unsigned)p[0] << 8 | p[1]); }

uint32_t ax_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint64_t ax_be64(const uint8_t *p) { return (uint64_t)ax_be32(p) << 32 | ax_be32(p + 4); }

void ax_store_be16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

void ax_store_be32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
}

void ax_store_be64(uint8_t *p, uint64_t v) {
    ax_store_be32(p, (uint32_t)(v >> 32));
    ax_store_be32(p + 4, (uint32_t)v);
}

long ax_frame_parse(const uint8_t *buf, size_t n, size_t max_payload, ax_frame *out, char *err,
                    size_t err_cap) {
    if (n < AX_HEADER_SIZE) return 0;
    uint32_t length = ax_be32(buf);
    if (length < AX_HEADER_SIZE - 4) {
        snprintf(err, err_cap, "malformed frame: length %lu is below 5", (unsigned long)length);
        return -1;
    }
    size_t payload = (size_t)length - (AX_HEADER_SIZE - 4);
    if (payload > max_payload) {
        snprintf(err, err_cap, "malformed frame: payload of %zu bytes exceeds the limit of %zu",
                 payload, max_payload);
        return -1;
    }
    if (n < 4 + (size_t)length) return 0;
    out->type = buf[4];
    out->request_id = ax_be32(buf + 5);
    out->payload = buf + AX_HEADER_SIZE;
    out->len = payload;
    return (long)(4 + (size_t)length);
}

int ax_utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t extra;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            extra = 1;
            cp = c & 0x1Fu;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2;
            cp = c & 0x0Fu;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3;
            cp = c & 0x07u;
        } else {
            return 0;
        }
        if (n - i <= extra) return 0;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3Fu);
        }
        static const uint32_t min_for[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_for[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += extra + 1;
    }
    return 1;
}

int ax_decode(const ax_frame *frame, const uint8_t *accepted, ax_value *values,
              const ax_message_schema **schema_out, char *err, size_t err_cap) {
    const ax_message_schema *schema = ax_schema(frame->type);
    if (schema == NULL) {
        snprintf(err, err_cap, "malformed message: unknown message type 0x%02x", frame->type);
        return -1;
    }
    if (accepted != NULL) {
        const uint8_t *t = accepted;
        while (*t != 0 && *t != frame->type) t++;
        if (*t == 0) {
            snprintf(err, err_cap, "malformed message: type 0x%02x is not a message of this link",
                     frame->type);
            return -1;
        }
    }
    const uint8_t *p = frame->payload;
    size_t left = frame->len;
    for (unsigned i = 0; i < schema->count; i++) {
        const char *what = schema->fields[i];
        static const size_t fixed[] = {1, 2, 4, 8};
        ax_value *v = &values[i];
        v->num = 0;
        v->data = NULL;
        v->len = 0;
        size_t need;
        switch (schema->kinds[i]) {
        case AX_F_U8:
        case AX_F_U16:
        case AX_F_U32:
        case AX_F_U64:
            need = fixed[schema->kinds[i]];
            if (left < need) goto short_field;
            for (size_t k = 0; k < need; k++) v->num = v->num << 8 | p[k];
            p += need;
            left -= need;
            break;
        case AX_F_BYTES:
            if (left < 4) goto short_field;
            need = ax_be32(p);
            p += 4;
            left -= 4;
            if (left < need) goto short_field;
            v->data = p;
            v->len = need;
            p += need;
            left -= need;
            break;
        case AX_F_STR:
            if (left < 2) goto short_field;
            need = ax_be16(p);
            p += 2;
            left -= 2;
            if (left < need) goto short_field;
            if (!ax_utf8_valid(p, need)) {
                snprintf(err, err_cap, "malformed message: field %s is not valid UTF-8", what);
                return -1;
            }
            v->data = p;
            v->len = need;
            p += need;
            left -= need;
            break;
        }
        continue;
    short_field:
        snprintf(err, err_cap, "malformed message: field %s runs past the end of the payload",
                 what);
        return -1;
    }
    if (left != 0) {
        snprintf(err, err_cap, "malformed message: %zu bytes remain after the last field", left);
        return -1;
    }
    if (schema_out != NULL) *schema_out = schema;
    return 0;
}

void ax_writer_init(ax_writer *w, uint8_t *buf, size_t cap) {
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->overflow = 0;
    w->frame_start = 0;
}

uint8_t *ax_put_space(ax_writer *w, size_t n) {
    if (w->overflow || w->cap - w->len < n) {
        w->overflow = 1;
        return NULL;
    }
    uint8_t *at = w->buf + w->len;
    w->len += n;
    return at;
}

void ax_put_u8(ax_writer *w, uint8_t v) {
    uint8_t *p = ax_put_space(w, 1);
    if (p != NULL) *p = v;
}

void ax_put_u16(ax_writer *w, uint16_t v) {
    uint8_t *p = ax_put_space(w, 2);
    if (p != NULL) ax_store_be16(p, v);
}

void ax_put_u32(ax_writer *w, uint32_t v) {
    uint8_t *p = ax_put_space(w, 4);
    if (p != NULL) ax_store_be32(p, v);
}

void ax_put_u64(ax_writer *w, uint64_t v) {
    uint8_t *p = ax_put_space(w, 8);
    if (p != NULL) ax_store_be64(p, v);
}

void ax_put_bytes(ax_writer *w, const void *data, size_t len) {
    if (len > 0xFFFFFFFFu) {
        w->overflow = 1;
        return;
    }
    ax_put_u32(w, (uint32_t)len);
    uint8_t *p = ax_put_space(w, len);
    if (p != NULL && len > 0) memcpy(p, data, len);
}

void ax_put_str(ax_writer *w, const char *text, size_t len) {
    if (len > 0xFFFF) {
        len = 0xFFFF;
        while (len > 0 && ((uint8_t)text[len] & 0xC0) == 0x80) len--;
    }
    ax_put_u16(w, (uint16_t)len);
    uint8_t *p = ax_put_space(w, len);
    if (p != NULL && len > 0) memcpy(p, text, len);
}

void ax_frame_begin(ax_writer *w, uint8_t type, uint32_t request_id) {
    w->frame_start = w->len;
    ax_put_u32(w, 0);
    ax_put_u8(w, type);
    ax_put_u32(w, request_id);
}

void ax_frame_end(ax_writer *w) {
    if (w->overflow) return;
    ax_store_be32(w->buf + w->frame_start, (uint32_t)(w->len - w->frame_start - 4));
}

int ax_encode(ax_writer *w, uint8_t type, uint32_t request_id, const ax_value *values) {
    const ax_message_schema *schema = ax_schema(type);
    if (schema == NULL) return -1;
    ax_frame_begin(w, type, request_id);
    for (unsigned i = 0; i < schema->count; i++) {
        const ax_value *v = &values[i];
        switch (schema->kinds[i]) {
        case AX_F_U8: ax_put_u8(w, (uint8_t)v->num); break;
        case AX_F_U16: ax_put_u16(w, (uint16_t)v->num); break;
        case AX_F_U32: ax_put_u32(w, (uint32_t)v->num); break;
        case AX_F_U64: ax_put_u64(w, v->num); break;
        case AX_F_BYTES: ax_put_bytes(w, v->data, v->len); break;
        case AX_F_STR: ax_put_str(w, (const char *)v->data, v->len); break;
        }
    }
    ax_frame_end(w);
    return w->overflow ? -1 : 0;
}
