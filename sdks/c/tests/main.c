/* The C SDK test runner: runs every suite, prints "N passed, N failed", exits 1 on failure. */
#include <stdlib.h>

#include "check.h"
#include "suites.h"

int main(void) {
    suite_spongewrap();
    suite_ascon();
    suite_suites();
    suite_hostcrypto();
    suite_wire();
    suite_protocol();
    suite_runtime();
    suite_fuzz();
    printf("%lu passed, %lu failed\n", check_passed, check_failed);
    return check_failed == 0 ? 0 : 1;
}
