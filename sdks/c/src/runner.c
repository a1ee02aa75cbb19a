/* The module process (I/O edge), equivalent to the Rust SDK's runner.rs.
 *
 *     MODULE --manifest NAME [OPERATOR_KEY_HEX]     print the manifest JSON and exit
 *     MODULE [-] --name NAME [--platform-fd N]      run on the host link (stdin/stdout)
 *
 * As a module process it keeps the real stdin/stdout for frames and points fd 0 at /dev/null
 * and fd 1 at stderr (a stray printf cannot corrupt the protocol); with --platform-fd it reads
 * ModuleIdentity (TEE kind, measurement, module key) from the platform link and keeps the link
 * for SGX quotes; without it the TEE is native and the measurement is SHA-256 of the
 * executable. Then it sends HostReady and serves frames until HostStop or end of input.
 *
 * Build-time inputs (part of the binary, so of its measurement): AUTHEX_OPERATOR_KEY (64 hex
 * digits, the operator's Ed25519 public key) and optionally AUTHEX_MODULE_NAME. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "authex/runtime.h"

#ifndef AUTHEX_OPERATOR_KEY
#define AUTHEX_OPERATOR_KEY ""
#endif
#ifndef AUTHEX_MODULE_NAME
#define AUTHEX_MODULE_NAME ""
#endif

static const char NO_OPERATOR_KEY[] =
    "0000000000000000000000000000000000000000000000000000000000000000";
static const char USAGE[] = "usage: MODULE --manifest NAME [OPERATOR_KEY_HEX]\n"
                            "       MODULE [-] --name NAME [--platform-fd N]\n";

/* The one runtime of this process (large: kept out of the stack). */
static ax_runtime the_runtime;

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The compiled-in operator key: 1 if present and valid. */
static int operator_key(uint8_t out[32]) {
    const char *hex = AUTHEX_OPERATOR_KEY;
    if (strlen(hex) != 64) return 0;
    for (size_t i = 0; i < 32; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return 0;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 1;
}

static const char *operator_hex(void) {
    static char lower[65];
    const char *hex = AUTHEX_OPERATOR_KEY;
    if (strlen(hex) != 64) return NO_OPERATOR_KEY;
    for (size_t i = 0; i < 64; i++) {
        lower[i] = (hex[i] >= 'A' && hex[i] <= 'F') ? (char)(hex[i] - 'A' + 'a') : hex[i];
    }
    lower[64] = '\0';
    return lower;
}

/* The name the module runs as: --name, checked against the compiled-in name if any. */
static const char *deployed_name(const char *given) {
    const char *built = AUTHEX_MODULE_NAME;
    if (given != NULL && built[0] != '\0' && strcmp(given, built) != 0) {
        fprintf(stderr, "authex: module was built for name \"%s\", not \"%s\"\n", built, given);
        return NULL;
    }
    if (given != NULL) return given;
    if (built[0] != '\0') return built;
    fprintf(stderr, "authex: --name is required\n%s", USAGE);
    return NULL;
}

static int print_manifest(const ax_endpoint *endpoints, size_t count, int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fputs(USAGE, stderr);
        return AX_EXIT_LOAD;
    }
    const char *name = deployed_name(argv[2]);
    if (name == NULL) return AX_EXIT_LOAD;
    if (argc == 4) {
        const char *want = argv[3];
        if (strlen(AUTHEX_OPERATOR_KEY) == 0) {
            fprintf(stderr,
                    "authex: this module was built without AUTHEX_OPERATOR_KEY, not for "
                    "operator key %s\n",
                    want);
            return AX_EXIT_LOAD;
        }
        if (strlen(want) != 64 || strncasecmp(want, operator_hex(), 64) != 0) {
            fprintf(stderr, "authex: this module was built for operator key %s, not %s\n",
                    operator_hex(), want);
            return AX_EXIT_LOAD;
        }
    }
    uint16_t ids[AUTHEX_MAX_ENDPOINTS];
    char err[512], json[1 << 16];
    if (ax_table_check(endpoints, count, ids, err, sizeof err) != 0) {
        fprintf(stderr, "authex: module \"%s\": %s\n", name, err);
        return AX_EXIT_LOAD;
    }
    if (ax_manifest_json(endpoints, count, ids, name, operator_hex(), json, sizeof json) < 0) {
        fprintf(stderr, "authex: module \"%s\": the manifest is too large\n", name);
        return AX_EXIT_LOAD;
    }
    printf("%s\n", json);
    return AX_EXIT_OK;
}

/* ---- file descriptors ------------------------------------------------------------------- */

typedef struct {
    int in_fd;
    int out_fd;
} fd_link;

static long fd_read(void *self, uint8_t *buf, size_t cap, int timeout_ms) {
    fd_link *link = self;
    if (timeout_ms >= 0) {
        struct pollfd pfd = {link->in_fd, POLLIN, 0};
        int n = poll(&pfd, 1, timeout_ms == 0 ? 1 : timeout_ms);
        if (n == 0 || (n < 0 && errno == EINTR)) return AX_IO_TIMEOUT;
        if (n < 0) return AX_IO_ERROR;
    }
    for (;;) {
        ssize_t n = read(link->in_fd, buf, cap);
        if (n >= 0) return (long)n;
        if (errno == EINTR) {
            if (timeout_ms >= 0) return AX_IO_TIMEOUT;
            continue;
        }
        return AX_IO_ERROR;
    }
}

static int write_all(int fd, const uint8_t *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return AX_IO_ERROR;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fd_write(void *self, const uint8_t *data, size_t len) {
    return write_all(((fd_link *)self)->out_fd, data, len);
}

/* Keep the real stdin/stdout for frames; fd 0 becomes /dev/null and fd 1 stderr. */
static int claim_stdio(fd_link *link) {
    link->in_fd = fcntl(0, F_DUPFD_CLOEXEC, 3);
    link->out_fd = fcntl(1, F_DUPFD_CLOEXEC, 3);
    if (link->in_fd < 0 || link->out_fd < 0) return -1;
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) {
        dup2(null, 0);
        close(null);
    }
    dup2(2, 1);
    return 0;
}

/* ---- the platform link ------------------------------------------------------------------- */

typedef struct {
    int fd;
    uint32_t next_id;
    uint8_t *buf; /* one frame, from malloc (start-up and quotes only) */
    size_t cap;
} platform_link;

/* Read one whole frame of the platform's reply link into link->buf. */
static int platform_read(platform_link *link, ax_frame *frame, ax_value *values, char *err,
                         size_t err_cap) {
    size_t have = 0;
    for (;;) {
        long size = have >= AX_HEADER_SIZE
                        ? ax_frame_parse(link->buf, have, AX_CONTROL_MAX_PAYLOAD, frame, err,
                                         err_cap)
                        : 0;
        if (size < 0) return -1;
        if (size > 0) {
            if ((size_t)size != have) {
                snprintf(err, err_cap, "the platform sent more than one frame");
                return -1;
            }
            return ax_decode(frame, ax_platform_reply_types, values, NULL, err, err_cap);
        }
        size_t want = have < AX_HEADER_SIZE ? AX_HEADER_SIZE : 4 + (size_t)ax_be32(link->buf);
        if (want > link->cap) {
            uint8_t *bigger = realloc(link->buf, want);
            if (bigger == NULL) {
                snprintf(err, err_cap, "out of memory for a %zu-byte platform frame", want);
                return -1;
            }
            link->buf = bigger;
            link->cap = want;
        }
        ssize_t n = read(link->fd, link->buf + have, want - have);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            snprintf(err, err_cap, "the platform closed its link");
            return -1;
        }
        have += (size_t)n;
    }
}

/* The next request id on the platform link (never 0). */
static uint32_t platform_next_id(platform_link *link) {
    uint32_t id = link->next_id++;
    if (link->next_id == 0) link->next_id = 1;
    return id;
}

/* Send a request (a frame with request id `id`) on the platform link and read its reply into
 * link->buf: 0 if it is a `want` answering `id`, -1 with err (`what` names the request). */
static int platform_ask(platform_link *link, const ax_writer *request, uint32_t id,
                        uint8_t want, const char *what, ax_frame *frame, ax_value *v, char *err,
                        size_t err_cap) {
    if (write_all(link->fd, request->buf, request->len) != 0) {
        snprintf(err, err_cap, "platform link: write failed");
        return -1;
    }
    if (platform_read(link, frame, v, err, err_cap) != 0) return -1;
    if (frame->type == AX_MSG_ERROR) {
        snprintf(err, err_cap, "%.*s", (int)v[1].len, (const char *)v[1].data);
        return -1;
    }
    if (frame->type != want || frame->request_id != id) {
        snprintf(err, err_cap, "platform answered a %s request with something else", what);
        return -1;
    }
    return 0;
}

static int platform_quote(void *self, const uint8_t report_data[64], uint8_t *out, size_t cap,
                          size_t *out_len, char *err, size_t err_cap) {
    platform_link *link = self;
    uint8_t request[AX_HEADER_SIZE + 4 + 64];
    ax_writer w;
    ax_writer_init(&w, request, sizeof request);
    uint32_t id = platform_next_id(link);
    ax_frame_begin(&w, AX_MSG_QUOTE_REQUEST, id);
    ax_put_bytes(&w, report_data, 64);
    ax_frame_end(&w);
    ax_frame frame;
    ax_value v[AX_MAX_FIELDS];
    if (platform_ask(link, &w, id, AX_MSG_QUOTE_REPLY, "quote", &frame, v, err, err_cap) != 0) {
        return -1;
    }
    if (v[0].len > cap) {
        snprintf(err, err_cap, "quote of %zu bytes is too large", v[0].len);
        return -1;
    }
    memcpy(out, v[0].data, v[0].len);
    *out_len = v[0].len;
    return 0;
}

static int platform_seal(void *self, const uint8_t *state, size_t len, char *err,
                         size_t err_cap) {
    platform_link *link = self;
    static uint8_t request[AX_HEADER_SIZE + 4 + AX_STATE_CAP];
    ax_writer w;
    ax_writer_init(&w, request, sizeof request);
    uint32_t id = platform_next_id(link);
    ax_frame_begin(&w, AX_MSG_SEAL_REQUEST, id);
    ax_put_bytes(&w, state, len);
    ax_frame_end(&w);
    ax_frame frame;
    ax_value v[AX_MAX_FIELDS];
    int rc = platform_ask(link, &w, id, AX_MSG_SEAL_REPLY, "seal", &frame, v, err, err_cap);
    ax_wipe(request, w.len);
    return rc;
}

/* Restore the last sealed state: the version resumed, or 0 (fresh start, reason logged). */
static uint64_t resume(ax_runtime *rt, platform_link *link) {
    uint8_t request[AX_HEADER_SIZE];
    ax_writer w;
    ax_writer_init(&w, request, sizeof request);
    uint32_t id = platform_next_id(link);
    ax_frame_begin(&w, AX_MSG_UNSEAL_REQUEST, id);
    ax_frame_end(&w);
    ax_frame frame;
    ax_value v[AX_MAX_FIELDS];
    char err[512];
    uint64_t version = 0;
    if (platform_ask(link, &w, id, AX_MSG_UNSEAL_REPLY, "unseal", &frame, v, err, sizeof err) !=
        0) {
        fprintf(stderr, "[%s] starting fresh: %s\n", rt->name, err);
    } else if (v[1].len > 0) {
        if (ax_runtime_restore(rt, v[1].data, v[1].len, err, sizeof err) != 0) {
            fprintf(stderr, "[%s] starting fresh: sealed state cannot be restored: %s\n",
                    rt->name, err);
        } else {
            version = v[0].num;
            fprintf(stderr, "[%s] resumed from sealed state version %llu\n", rt->name,
                    (unsigned long long)version);
        }
    }
    if (link->buf != NULL) ax_wipe(link->buf, link->cap);
    return version;
}

static int measure_self(uint8_t out[32], char *err, size_t err_cap) {
    FILE *f = fopen("/proc/self/exe", "rb");
    if (f == NULL) {
        snprintf(err, err_cap, "cannot read the executable: %s", strerror(errno));
        return -1;
    }
    uint8_t *all = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 65536) {
            uint8_t *bigger = realloc(all, cap + (1 << 20));
            if (bigger == NULL) break;
            all = bigger;
            cap += 1 << 20;
        }
        size_t n = fread(all + len, 1, cap - len, f);
        if (n == 0) break;
        len += n;
    }
    fclose(f);
    ax_part part = {all, len};
    int rc = all == NULL ? -1 : ax_sha256(&part, 1, out);
    free(all);
    if (rc != AX_OK) snprintf(err, err_cap, "cannot measure the executable (SHA-256)");
    return rc == AX_OK ? 0 : -1;
}

int ax_run(const ax_endpoint *endpoints, size_t count, int argc, char **argv) {
    return ax_run_with(endpoints, count, 0, argc, argv);
}

int ax_run_with(const ax_endpoint *endpoints, size_t count, unsigned options, int argc,
                char **argv) {
    if (argc >= 2 && strcmp(argv[1], "--manifest") == 0) {
        return print_manifest(endpoints, count, argc, argv);
    }
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(USAGE, stdout);
        return AX_EXIT_OK;
    }
    const char *given = NULL;
    int platform_fd = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-") == 0) continue; /* the Python runner's artifact argument */
        if ((strcmp(argv[i], "--name") == 0 || strcmp(argv[i], "--platform-fd") == 0) &&
            i + 1 >= argc) {
            fprintf(stderr, "authex runner: %s needs a value\n%s", argv[i], USAGE);
            return AX_EXIT_LOAD;
        }
        if (strcmp(argv[i], "--name") == 0) {
            given = argv[++i];
        } else if (strcmp(argv[i], "--platform-fd") == 0) {
            char *end = NULL;
            long fd = strtol(argv[++i], &end, 10);
            if (end == argv[i] || *end != '\0' || fd < 0 || fd > 65535) {
                fprintf(stderr, "authex runner: --platform-fd \"%s\" is not a number\n", argv[i]);
                return AX_EXIT_LOAD;
            }
            platform_fd = (int)fd;
        } else {
            fprintf(stderr, "authex runner: unexpected argument \"%s\"\n%s", argv[i], USAGE);
            return AX_EXIT_LOAD;
        }
    }
    const char *name = deployed_name(given);
    if (name == NULL) return AX_EXIT_LOAD;
    fd_link link;
    if (claim_stdio(&link) != 0) {
        fprintf(stderr, "authex runner: cannot claim stdin/stdout: %s\n", strerror(errno));
        return AX_EXIT_LOAD;
    }
    char err[512] = "";
    ax_attester attester;
    memset(&attester, 0, sizeof attester);
    attester.has_operator = operator_key(attester.operator_public);
    uint8_t measurement[64];
    size_t measurement_len = 32;
    static platform_link platform = {-1, 1, NULL, 0};
    int failed = 0;
    if (platform_fd >= 0) {
        platform.fd = platform_fd;
        ax_frame frame;
        ax_value v[AX_MAX_FIELDS];
        if (platform_read(&platform, &frame, v, err, sizeof err) != 0) {
            failed = 1;
        } else if (frame.type != AX_MSG_MODULE_IDENTITY) {
            snprintf(err, sizeof err, "the platform did not send the module identity first");
            failed = 1;
        } else if (v[0].len >= sizeof attester.tee || v[2].len > sizeof measurement ||
                   (v[3].len != 0 && v[3].len != AX_KEY_SIZE)) {
            snprintf(err, sizeof err, "the platform sent an identity this runtime cannot use");
            failed = 1;
        } else {
            memcpy(attester.tee, v[0].data, v[0].len);
            memcpy(measurement, v[2].data, v[2].len);
            measurement_len = v[2].len;
            if (v[3].len == AX_KEY_SIZE) {
                memcpy(attester.module_key, v[3].data, AX_KEY_SIZE);
                attester.has_module_key = 1;
            }
            attester.quote = platform_quote;
            attester.quote_self = &platform;
        }
        /* the identity (with the module key and the artifact) is not needed any more */
        if (platform.buf != NULL) ax_wipe(platform.buf, platform.cap);
        free(platform.buf);
        platform.buf = NULL;
        platform.cap = 0;
        if (!failed && (options & AX_PERSISTENT)) {
            platform.buf = malloc(AX_HEADER_SIZE + 16 + AX_STATE_CAP); /* for unseal replies */
            platform.cap = platform.buf != NULL ? AX_HEADER_SIZE + 16 + AX_STATE_CAP : 0;
        }
    } else {
        snprintf(attester.tee, sizeof attester.tee, "native");
        failed = measure_self(measurement, err, sizeof err) != 0;
    }
    ax_io io = {&link, fd_read, fd_write};
    if (!failed && ax_runtime_init(&the_runtime, endpoints, count, name, operator_hex(), &attester,
                                   io, err, sizeof err) != 0) {
        failed = 1;
    }
    ax_wipe(&attester, sizeof attester);
    if (failed) {
        fprintf(stderr, "authex runner [%s]: %s\n", name, err);
        return AX_EXIT_LOAD;
    }
    int announce = 0;
    uint64_t version = 0;
    if (options & AX_PERSISTENT) {
        if (platform_fd < 0) {
            fprintf(stderr, "[%s] persistent, but there is no platform link: state is not sealed\n",
                    name);
        } else {
            ax_runtime_persist(&the_runtime, platform_seal, &platform);
            version = resume(&the_runtime, &platform);
            announce = 1;
        }
    }
    ax_runtime_ready(&the_runtime, measurement, measurement_len);
    if (announce) ax_runtime_resumed(&the_runtime, version);
    fprintf(stderr, "authex runner [%s]: ready (%s)\n", name, the_runtime.attester.tee);
    int status = ax_runtime_serve(&the_runtime);
    ax_runtime_wipe(&the_runtime);
    return status;
}
