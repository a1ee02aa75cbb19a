/* The frame layer and the messages of the authex wire protocols (spec/protocol.md), module side.
 *
 * A frame is `u32 length | u8 type | u32 request_id | payload`, big-endian; length counts
 * everything after itself (5 + payload). Payload fields in declaration order: integers
 * big-endian, `bytes` as u32 length + data, `str` as u16 length + UTF-8.
 *
 * Decoding never copies: decoded byte and string fields point into the frame. Encoding writes
 * into a caller's buffer (ax_writer) and reports overflow instead of growing. */
#ifndef AUTHEX_WIRE_H
#define AUTHEX_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define AX_HEADER_SIZE 9u
#define AX_DEFAULT_MAX_PAYLOAD (1u << 20)
#define AX_CONTROL_MAX_PAYLOAD (64u << 20)

/* Message types the module side uses (the full table is ax_schema). */
enum {
    AX_MSG_OK = 0x02,
    AX_MSG_ERROR = 0x03,
    AX_MSG_SWAP_KEY = 0x2a,
    AX_MSG_PROMOTE = 0x2c,
    AX_MSG_REMOVE_ROUTE = 0x2e,
    AX_MSG_HOST_READY = 0x80,
    AX_MSG_HOST_ATTEST = 0x81,
    AX_MSG_HOST_ATTESTED = 0x82,
    AX_MSG_HOST_SET_KEY = 0x83,
    AX_MSG_HOST_DELIVER = 0x84,
    AX_MSG_HOST_CALL = 0x85,
    AX_MSG_HOST_CALL_RESULT = 0x86,
    AX_MSG_HOST_EMIT = 0x87,
    AX_MSG_HOST_REJECTED = 0x88,
    AX_MSG_HOST_STOP = 0x89,
    AX_MSG_HOST_ACCEPTED = 0x8a,
    AX_MSG_HOST_RESUMED = 0x8b,
    AX_MSG_HOST_SWAP_KEY = 0x8c,
    AX_MSG_MODULE_IDENTITY = 0xa8,
    AX_MSG_QUOTE_REQUEST = 0xa9,
    AX_MSG_QUOTE_REPLY = 0xaa,
    AX_MSG_SEAL_REQUEST = 0xab,
    AX_MSG_SEAL_REPLY = 0xac,
    AX_MSG_UNSEAL_REQUEST = 0xad,
    AX_MSG_UNSEAL_REPLY = 0xae
};

/* Error codes (Error.code) and call statuses (HostCallResult.status), spec/protocol.md. */
enum { AX_ERROR_BAD_REQUEST = 1, AX_ERROR_REJECTED = 7 };
enum {
    AX_STATUS_OK = 0,
    AX_STATUS_UNKNOWN_ENTRY = 1,
    AX_STATUS_AUTH_FAILED = 2,
    AX_STATUS_NOT_PUBLIC = 3,
    AX_STATUS_ENTRY_FAILED = 4
};
/* HostRejected.reason */
enum { AX_REJECT_UNKNOWN_CONNECTION = 1, AX_REJECT_REPLAY = 2, AX_REJECT_FORGED = 3 };

typedef enum { AX_F_U8, AX_F_U16, AX_F_U32, AX_F_U64, AX_F_BYTES, AX_F_STR } ax_field_kind;

#define AX_MAX_FIELDS 8

/* One message of the protocol's table. */
typedef struct {
    uint8_t type;
    const char *name;
    unsigned count;
    ax_field_kind kinds[AX_MAX_FIELDS];
    const char *fields[AX_MAX_FIELDS];
} ax_message_schema;

/* The schema of a message type, or NULL. */
const ax_message_schema *ax_schema(uint8_t type);
const char *ax_field_kind_name(ax_field_kind kind);

/* One decoded field value. */
typedef struct {
    uint64_t num;          /* integers */
    const uint8_t *data;   /* bytes and str */
    size_t len;
} ax_value;

typedef struct {
    uint8_t type;
    uint32_t request_id;
    const uint8_t *payload;
    size_t len;
} ax_frame;

/* Parse the frame at the start of buf[0..n): its total size (> 0), 0 if more bytes are needed,
 * or -1 if the frame layer rejects it (err receives why: the link must be closed). An oversize
 * frame is rejected from its header alone. */
long ax_frame_parse(const uint8_t *buf, size_t n, size_t max_payload, ax_frame *out, char *err,
                    size_t err_cap);

/* Decode a frame's payload against the schema of its type, checking that the link accepts the
 * type (`accepted` is a 0-terminated list of types, NULL for any). values receives
 * schema->count fields. 0, or -1 with err set (the link must be closed). */
int ax_decode(const ax_frame *frame, const uint8_t *accepted, ax_value *values,
              const ax_message_schema **schema, char *err, size_t err_cap);

/* Types the module accepts on the host link and on its platform link (0-terminated). */
extern const uint8_t ax_host_link_types[];
extern const uint8_t ax_platform_reply_types[];

/* Appends to a fixed buffer; once it overflows, every later write is ignored. */
typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int overflow;
    size_t frame_start;
} ax_writer;

void ax_writer_init(ax_writer *w, uint8_t *buf, size_t cap);
void ax_put_u8(ax_writer *w, uint8_t v);
void ax_put_u16(ax_writer *w, uint16_t v);
void ax_put_u32(ax_writer *w, uint32_t v);
void ax_put_u64(ax_writer *w, uint64_t v);
void ax_put_bytes(ax_writer *w, const void *data, size_t len);
/* str fields are at most 65535 bytes: longer text is cut at a UTF-8 character boundary. */
void ax_put_str(ax_writer *w, const char *text, size_t len);
/* Reserve n bytes and return where they start (NULL on overflow), for sealing in place. */
uint8_t *ax_put_space(ax_writer *w, size_t n);
/* Start a frame (header with a placeholder length) and finish it (length filled in). */
void ax_frame_begin(ax_writer *w, uint8_t type, uint32_t request_id);
void ax_frame_end(ax_writer *w);
/* Encode a whole message from values against its schema; 0, or -1 if it does not fit. */
int ax_encode(ax_writer *w, uint8_t type, uint32_t request_id, const ax_value *values);

uint16_t ax_be16(const uint8_t *p);
uint32_t ax_be32(const uint8_t *p);
uint64_t ax_be64(const uint8_t *p);
void ax_store_be16(uint8_t *p, uint16_t v);
void ax_store_be32(uint8_t *p, uint32_t v);
void ax_store_be64(uint8_t *p, uint64_t v);
/* 1 if text[0..len) is valid UTF-8 (no surrogates, no overlong forms). */
int ax_utf8_valid(const uint8_t *text, size_t len);

#endif
