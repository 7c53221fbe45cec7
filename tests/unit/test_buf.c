#include <string.h>

#include "ftpd/buf.h"
#include "unit.h"

START_TEST(append_printf_consume)
{
    struct buf b;
    buf_init(&b, 1024);
    ck_assert_int_eq(buf_append(&b, "abc", 3), 0);
    ck_assert_int_eq(buf_printf(&b, "%d-%s", 42, "x"), 0);
    ck_assert_uint_eq(b.len, 7);
    ck_assert_int_eq(memcmp(buf_head(&b), "abc42-x", 7), 0);
    buf_consume(&b, 3);
    ck_assert_int_eq(memcmp(buf_head(&b), "42-x", 4), 0);
    buf_consume(&b, 100);
    ck_assert_uint_eq(b.len, 0);
    buf_shrink(&b);
    ck_assert_ptr_null(b.data);
    buf_free(&b);
}
END_TEST

START_TEST(limit_is_enforced)
{
    struct buf b;
    buf_init(&b, 10);
    ck_assert_int_eq(buf_append(&b, "0123456789", 10), 0);
    ck_assert(!b.overflow);
    ck_assert_int_eq(buf_append(&b, "x", 1), -1);
    ck_assert(b.overflow);
    ck_assert_uint_eq(b.len, 10);
    buf_clear(&b);
    ck_assert_int_eq(buf_printf(&b, "%s", "0123456789"), 0);
    ck_assert_int_eq(buf_printf(&b, "%s", "y"), -1);
    buf_free(&b);
}
END_TEST

START_TEST(grows_and_compacts)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    char chunk[1000];
    memset(chunk, 'z', sizeof chunk);
    for (int i = 0; i < 500; i++) {
        ck_assert_int_eq(buf_append(&b, chunk, sizeof chunk), 0);
        buf_consume(&b, 900);
    }
    ck_assert_uint_eq(b.len, 500 * 100);
    ck_assert_uint_le(b.cap, 1 << 17);
    buf_free(&b);
}
END_TEST

/* Regression (fuzz_glob): buf_head() of a buffer that never held a byte
 * computed NULL + 0, undefined behaviour that UBSan reports. */
START_TEST(head_of_an_empty_buffer_fuzz_glob)
{
    struct buf b;
    buf_init(&b, 0);
    ck_assert_ptr_nonnull(buf_head(&b));
    ck_assert_int_eq(b.len, 0);
    ck_assert_int_eq(buf_append(&b, "x", 1), 0);
    ck_assert_int_eq(buf_head(&b)[0], 'x');
    buf_consume(&b, 1);
    buf_shrink(&b);
    ck_assert_ptr_nonnull(buf_head(&b));
    buf_free(&b);
    ck_assert_ptr_nonnull(buf_head(&b));
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("buf");
    tcase_add_test(tc, append_printf_consume);
    tcase_add_test(tc, limit_is_enforced);
    tcase_add_test(tc, grows_and_compacts);
    tcase_add_test(tc, head_of_an_empty_buffer_fuzz_glob);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()
