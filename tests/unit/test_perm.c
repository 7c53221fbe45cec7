/* Permission letters (core/perm.c) and what a login grants. */
#include "ftpd/config.h"
#include "ftpd/perm.h"
#include "session_impl.h"
#include "unit.h"

START_TEST(parse_and_format)
{
    unsigned p;
    char bad = 0, out[PERM_LETTERS_MAX];
    ck_assert_int_eq(perm_parse("rwmdfc", &p, &bad), 0);
    ck_assert_uint_eq(p, PERM_ALL);
    ck_assert_int_eq(perm_parse("cfr", &p, &bad), 0);
    ck_assert_uint_eq(p, PERM_READ | PERM_RENAME | PERM_CHMOD);
    perm_format(p, out);
    ck_assert_str_eq(out, "rfc");
    ck_assert_int_eq(perm_parse("", &p, &bad), 0);
    ck_assert_uint_eq(p, 0);
    ck_assert_int_eq(perm_parse("rr", &p, &bad), 0);
    ck_assert_uint_eq(p, PERM_READ);
    ck_assert_int_eq(perm_parse("rwx", &p, &bad), -1);
    ck_assert_int_eq(bad, 'x');
    ck_assert_int_eq(perm_parse("R", &p, &bad), -1);
    ck_assert_int_eq(bad, 'R');
    perm_format(PERM_ALL, out);
    ck_assert_str_eq(out, "rwmdfc");
}
END_TEST

START_TEST(write_enable_off_strips_writes)
{
    struct ftpd_config cfg;
    config_defaults(&cfg);
    cfg.write_enable = false;
    ck_assert_uint_eq(session_login_perms(&cfg, PERM_ALL), PERM_READ);
    cfg.write_enable = true;
    ck_assert_uint_eq(session_login_perms(&cfg, PERM_ALL), PERM_ALL);
    ck_assert_uint_eq(session_login_perms(&cfg, PERM_UPLOAD), PERM_UPLOAD);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("perm");
    TCase *tc = tcase_create("perm");
    tcase_add_test(tc, parse_and_format);
    tcase_add_test(tc, write_enable_off_strips_writes);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()
