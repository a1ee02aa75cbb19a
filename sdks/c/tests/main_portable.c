/* The portable test runner: the suites that need no OpenSSL, built with -DAUTHEX_NO_OPENSSL and
 * without libcrypto, as a Sancus module is. Ends with "N passed, N failed". */
#include "check.h"
#include "suites.h"

int main(void) {
    suite_spongewrap();
    suite_ascon();
    suite_suites();
    suite_hostcrypto();
    suite_wire();
    printf("%lu passed, %lu failed\n", check_passed, check_failed);
    return check_failed == 0 ? 0 : 1;
}
