/* Shared main() for the Check suites: each test file defines
 * `Suite *unit_suite(void)` and ends with UNIT_MAIN(). */
#ifndef FTPD_TEST_UNIT_H
#define FTPD_TEST_UNIT_H

#include <check.h>
#include <stdlib.h>

Suite *unit_suite(void);

#define UNIT_MAIN()                                                                                \
    int main(void)                                                                                 \
    {                                                                                              \
        SRunner *sr = srunner_create(unit_suite());                                                \
        srunner_run_all(sr, CK_ENV);                                                               \
        int failed = srunner_ntests_failed(sr);                                                    \
        srunner_free(sr);                                                                          \
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                                          \
    }

#endif
