/* Line framing: CRLF, bare LF, split reads, over-long lines, Telnet IAC. */
#include <string.h>

#include "ftpd/limits.h"
#include "ftpd/linebuf.h"
#include "unit.h"

static void feed(struct linebuf *lb, const char *data, size_t n)
{
    while (n > 0) {
        size_t avail;
        char *p = linebuf_space(lb, &avail);
        ck_assert_ptr_nonnull(p);
        size_t k = n < avail ? n : avail;
        memcpy(p, data, k);
        linebuf_commit(lb, k);
        data += k;
        n -= k;
    }
}

static enum line_status take(struct linebuf *lb, char *line, size_t *len)
{
    return linebuf_take(lb, line, len);
}

START_TEST(crlf_and_bare_lf)
{
    struct linebuf lb;
    char line[FTPD_LINE_MAX + 1];
    size_t len;
    linebuf_init(&lb);
    feed(&lb, "USER ftp\r\nPASS x\nNOOP\r\n", 23);
    ck_assert_int_eq(take(&lb, line, &len), LINE_OK);
    ck_assert_str_eq(line, "USER ftp");
    ck_assert_uint_eq(len, 8);
    ck_assert_int_eq(take(&lb, line, &len), LINE_OK);
    ck_assert_str_eq(line, "PASS x");
    ck_assert_int_eq(take(&lb, line, &len), LINE_OK);
    ck_assert_str_eq(line, "NOOP");
    ck_assert_int_eq(take(&lb, line, &len), LINE_NONE);
    ck_assert(!linebuf_pending(&lb));
    ck_assert_ptr_null(lb.data); /* idle connections hold no buffer */
    linebuf_free(&lb);
}
END_TEST

START_TEST(split_across_reads)
{
    static const char *const pieces[] = {"RE", "TR fi", "le.txt\r", "\nQU", "IT\r\n"};
    struct linebuf lb;
    char line[FTPD_LINE_MAX + 1];
    size_t len;
    linebuf_init(&lb);
    int got = 0;
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        feed(&lb, pieces[i], strlen(pieces[i]));
        while (take(&lb, line, &len) == LINE_OK) {
            ck_assert_str_eq(line, got == 0 ? "RETR file.txt" : "QUIT");
            got++;
        }
    }
    ck_assert_int_eq(got, 2);
    linebuf_free(&lb);
}
END_TEST

START_TEST(overlong_line_reported_once_then_recovers)
{
    struct linebuf lb;
    char line[FTPD_LINE_MAX + 1];
    size_t len;
    static char big[100 * 1024];
    memset(big, 'A', sizeof big);
    linebuf_init(&lb);
    int too_long = 0;
    for (size_t off = 0; off < sizeof big; off += 1000) {
        feed(&lb, big + off, sizeof big - off < 1000 ? sizeof big - off : 1000);
        enum line_status st;
        while ((st = take(&lb, line, &len)) != LINE_NONE) {
            ck_assert_int_eq(st, LINE_TOO_LONG);
            too_long++;
        }
    }
    ck_assert_int_eq(too_long, 1);
    ck_assert(linebuf_pending(&lb)); /* still discarding to the newline */
    feed(&lb, "AAAA\r\nNOOP\r\n", 12);
    ck_assert_int_eq(take(&lb, line, &len), LINE_OK);
    ck_assert_str_eq(line, "NOOP");
    linebuf_free(&lb);
}
END_TEST

START_TEST(line_of_exactly_the_limit_is_accepted)
{
    struct linebuf lb;
    char line[FTPD_LINE_MAX + 1];
    size_t len;
    static char data[FTPD_LINE_MAX + 2];
    memset(data, 'x', FTPD_LINE_MAX);
    memcpy(data + FTPD_LINE_MAX, "\r\n", 2);
    linebuf_init(&lb);
    feed(&lb, data, sizeof data);
    ck_assert_int_eq(take(&lb, line, &len), LINE_OK);
    ck_assert_uint_eq(len, FTPD_LINE_MAX);
    /* one more byte is too long */
    static char data2[FTPD_LINE_MAX + 3];
    memset(data2, 'y', FTPD_LINE_MAX + 1);
    memcpy(data2 + FTPD_LINE_MAX + 1, "\r\n", 2);
    feed(&lb, data2, sizeof data2);
    ck_assert_int_eq(take(&lb, line, &len), LINE_TOO_LONG);
    feed(&lb, "NOOP\n", 5);
    ck_assert_int_eq(take(&lb, line, &len), LINE_OK);
    ck_assert_str_eq(line, "NOOP");
    linebuf_free(&lb);
}
END_TEST

START_TEST(telnet_iac_is_dropped)
{
    struct linebuf lb;
    char line[FTPD_LINE_MAX + 1];
    size_t len;
    /* IAC IP IAC DM ABOR, as clients send before ABOR; IAC WILL x; IAC IAC */
    static const char data[] = "\xff\xf4\xff\xf2"
                               "ABOR\r\n"
                               "NO\xff\xfb\x01OP\r\n"
                               "X\xff\xff"
                               "Y\r\n";
    linebuf_init(&lb);
    /* feed one byte at a time to cross every state boundary */
    for (size_t i = 0; i < sizeof data - 1; i++)
        feed(&lb, data + i, 1);
    ck_assert_int_eq(take(&lb, line, &len), LINE_OK);
    ck_assert_str_eq(line, "ABOR");
    ck_assert_int_eq(take(&lb, line, &len), LINE_OK);
    ck_assert_str_eq(line, "NOOP");
    ck_assert_int_eq(take(&lb, line, &len), LINE_OK);
    ck_assert_str_eq(line, "X\xffY");
    linebuf_free(&lb);
}
END_TEST

START_TEST(nul_bytes_are_kept_for_the_core_to_refuse)
{
    struct linebuf lb;
    char line[FTPD_LINE_MAX + 1];
    size_t len;
    linebuf_init(&lb);
    feed(&lb, "RETR a\0b\r\n", 10);
    ck_assert_int_eq(take(&lb, line, &len), LINE_OK);
    ck_assert_uint_eq(len, 8);
    ck_assert_int_eq(memcmp(line, "RETR a\0b", 8), 0);
    linebuf_free(&lb);
}
END_TEST

START_TEST(space_is_bounded)
{
    struct linebuf lb;
    size_t avail;
    linebuf_init(&lb);
    /* many short complete lines: the buffer fills and refuses more */
    size_t total = 0;
    char *p;
    while ((p = linebuf_space(&lb, &avail)) != NULL) {
        for (size_t i = 0; i < avail; i++)
            p[i] = (i % 5 == 4) ? '\n' : 'a';
        linebuf_commit(&lb, avail);
        total += avail;
        ck_assert_uint_le(total, 4 * FTPD_LINE_MAX);
    }
    ck_assert_uint_le(lb.len, 2 * FTPD_LINE_MAX);
    linebuf_free(&lb);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("linebuf");
    TCase *tc = tcase_create("framing");
    tcase_add_test(tc, crlf_and_bare_lf);
    tcase_add_test(tc, split_across_reads);
    tcase_add_test(tc, overlong_line_reported_once_then_recovers);
    tcase_add_test(tc, line_of_exactly_the_limit_is_accepted);
    tcase_add_test(tc, telnet_iac_is_dropped);
    tcase_add_test(tc, nul_bytes_are_kept_for_the_core_to_refuse);
    tcase_add_test(tc, space_is_bounded);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()
