/* Every test suite of the C SDK; tests/main.c runs them in this order. */
#ifndef AUTHEX_TESTS_SUITES_H
#define AUTHEX_TESTS_SUITES_H

void suite_spongewrap(void);   /* tests/test_spongewrap.c: spec/vectors/sancus */
void suite_ascon(void);        /* tests/test_ascon.c: spec/vectors/ascon KATs */
void suite_suites(void);       /* tests/test_suites.c: the three cipher suites, event_channel.json */
void suite_hostcrypto(void);   /* tests/test_hostcrypto.c: OpenSSL-backed primitives */
void suite_wire(void);         /* tests/test_wire.c: frames.json */
void suite_protocol(void);     /* tests/test_protocol.c: control.json, native_exchange.json, attest */
void suite_runtime(void);      /* tests/test_runtime.c: the runtime driven in memory */
void suite_fuzz(void);         /* tests/test_fuzz.c: bounded fuzzing of parser and runtime */

#endif
