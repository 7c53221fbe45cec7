/* The PROXY protocol header parser (v1 and v2) and the proxy_trusted
 * ranges. Every case is fed whole, one byte at a time, and split in two at
 * every byte, with the input placed right before an inaccessible page (an
 * over-read crashes the test) and with bytes of the stream that follows
 * the header, which the parser must leave alone. */
#include <arpa/inet.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ftpd/cidr.h"
#include "ftpd/proxy_header.h"
#include "unit.h"

#define AFTER "220 after" /* what follows a complete header */
#define V2SIG "\r\n\r\n\0\r\nQUIT\n"

struct parse_case {
    const char *name;
    const char *in; /* header (and maybe more) */
    size_t len;
    unsigned accept;
    enum proxy_status want;
    size_t header_len; /* PROXY_DONE: where the header ends */
    bool has_addresses;
    const char *src, *dst; /* numeric IPs */
    int sport, dport;
    const char *error; /* PROXY_BAD: a substring of the reason */
};

#define S(lit) lit, sizeof(lit) - 1

static const struct parse_case cases[] = {
    /* v1 */
    {"v1 tcp4", S("PROXY TCP4 192.0.2.1 198.51.100.7 56324 21\r\n" AFTER), PROXY_ACCEPT_ANY,
     PROXY_DONE, 44, true, "192.0.2.1", "198.51.100.7", 56324, 21, NULL},
    {"v1 tcp4 widest", S("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"),
     PROXY_ACCEPT_V1, PROXY_DONE, 56, true, "255.255.255.255", "255.255.255.255", 65535, 65535,
     NULL},
    {"v1 tcp6", S("PROXY TCP6 2001:db8::1 ::1 0 2121\r\n" AFTER), PROXY_ACCEPT_ANY, PROXY_DONE, 35,
     true, "2001:db8::1", "::1", 0, 2121, NULL},
    {"v1 unknown short", S("PROXY UNKNOWN\r\n" AFTER), PROXY_ACCEPT_ANY, PROXY_DONE, 15, false,
     NULL, NULL, 0, 0, NULL},
    {"v1 unknown worst case 107",
     S("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n" AFTER),
     PROXY_ACCEPT_ANY, PROXY_DONE, 107, false, NULL, NULL, 0, 0, NULL},
    {"v1 108 bytes",
     S("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655350\r\n"),
     PROXY_ACCEPT_ANY, PROXY_BAD, 0, false, NULL, NULL, 0, 0, "107"},
    {"v1 endless",
     S("PROXY TCP4 1111111111111111111111111111111111111111111111111111111111111"
       "111111111111111111111111111111111111111111111111111111"),
     PROXY_ACCEPT_ANY, PROXY_BAD, 0, false, NULL, NULL, 0, 0, "107"},
    {"v1 bad signature", S("PROXZ TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), PROXY_ACCEPT_ANY, PROXY_BAD, 0,
     false, NULL, NULL, 0, 0, "signature"},
    {"v1 lower case", S("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), PROXY_ACCEPT_ANY, PROXY_BAD, 0,
     false, NULL, NULL, 0, 0, "no PROXY header"},
    {"v1 wrong family", S("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"), PROXY_ACCEPT_ANY, PROXY_BAD, 0,
     false, NULL, NULL, 0, 0, "family"},
    {"v1 v6 address as tcp4", S("PROXY TCP4 ::1 ::1 1 2\r\n"), PROXY_ACCEPT_ANY, PROXY_BAD, 0,
     false, NULL, NULL, 0, 0, "address"},
    {"v1 v4 address as tcp6", S("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n"), PROXY_ACCEPT_ANY, PROXY_BAD,
     0, false, NULL, NULL, 0, 0, "address"},
    {"v1 leading zero address", S("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n"), PROXY_ACCEPT_ANY,
     PROXY_BAD, 0, false, NULL, NULL, 0, 0, "address"},
    {"v1 leading zero port", S("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"), PROXY_ACCEPT_ANY, PROXY_BAD,
     0, false, NULL, NULL, 0, 0, "port"},
    {"v1 port too big", S("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n"), PROXY_ACCEPT_ANY, PROXY_BAD, 0,
     false, NULL, NULL, 0, 0, "port"},
    {"v1 port not a number", S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n"), PROXY_ACCEPT_ANY, PROXY_BAD,
     0, false, NULL, NULL, 0, 0, "port"},
    {"v1 missing field", S("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), PROXY_ACCEPT_ANY, PROXY_BAD, 0,
     false, NULL, NULL, 0, 0, "fields"},
    {"v1 extra field", S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"), PROXY_ACCEPT_ANY, PROXY_BAD, 0,
     false, NULL, NULL, 0, 0, "fields"},
    {"v1 double space", S("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"), PROXY_ACCEPT_ANY, PROXY_BAD, 0,
     false, NULL, NULL, 0, 0, NULL},
    {"v1 bare LF", S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), PROXY_ACCEPT_ANY, PROXY_BAD, 0, false,
     NULL, NULL, 0, 0, "LF without CR"},
    {"v1 bare CR", S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"), PROXY_ACCEPT_ANY, PROXY_BAD, 0, false,
     NULL, NULL, 0, 0, "CR without LF"},
    {"v1 control byte", S("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n"), PROXY_ACCEPT_ANY, PROXY_BAD, 0,
     false, NULL, NULL, 0, 0, "printable"},
    {"v1 where v2 only", S("PROXY UNKNOWN\r\n"), PROXY_ACCEPT_V2, PROXY_BAD, 0, false, NULL, NULL,
     0, 0, "only v2"},
    {"no header", S("USER anonymous\r\n"), PROXY_ACCEPT_ANY, PROXY_BAD, 0, false, NULL, NULL, 0, 0,
     "no PROXY header"},
    {"TLS hello", S("\x16\x03\x01\x02\x00"), PROXY_ACCEPT_ANY, PROXY_BAD, 0, false, NULL, NULL, 0,
     0, "no PROXY header"},
    /* v2 */
    {"v2 tcp4",
     S(V2SIG "\x21\x11\x00\x0c"
             "\xc0\x00\x02\x01"
             "\x7f\x00\x00\x01"
             "\xdc\x04"
             "\x08\x35" AFTER),
     PROXY_ACCEPT_ANY, PROXY_DONE, 28, true, "192.0.2.1", "127.0.0.1", 56324, 2101, NULL},
    {"v2 tcp6",
     S(V2SIG "\x21\x21\x00\x24"
             "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
             "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
             "\x00\x15"
             "\xff\xff" AFTER),
     PROXY_ACCEPT_V2, PROXY_DONE, 52, true, "2001:db8::1", "::1", 21, 65535, NULL},
    {"v2 tcp4 with TLVs skipped",
     S(V2SIG "\x21\x11\x00\x17"
             "\x0a\x00\x00\x05"
             "\x0a\x00\x00\x01"
             "\x00\x50"
             "\x00\x15"
             "\x01\x00\x02h2"
             "\x04\x00\x03"
             "abc" AFTER),
     PROXY_ACCEPT_ANY, PROXY_DONE, 39, true, "10.0.0.5", "10.0.0.1", 80, 21, NULL},
    {"v2 local", S(V2SIG "\x20\x00\x00\x00" AFTER), PROXY_ACCEPT_ANY, PROXY_DONE, 16, false, NULL,
     NULL, 0, 0, NULL},
    {"v2 local with addresses ignored",
     S(V2SIG "\x20\x11\x00\x0c"
             "\x01\x02\x03\x04"
             "\x05\x06\x07\x08"
             "\x00\x01\x00\x02" AFTER),
     PROXY_ACCEPT_ANY, PROXY_DONE, 28, false, NULL, NULL, 0, 0, NULL},
    {"v2 proxy unspec", S(V2SIG "\x21\x00\x00\x00" AFTER), PROXY_ACCEPT_ANY, PROXY_DONE, 16, false,
     NULL, NULL, 0, 0, NULL},
    {"v2 bad signature",
     S("\r\n\r\n\0\r\nQUIT\r"
       "\x21\x11\x00\x0c"),
     PROXY_ACCEPT_ANY, PROXY_BAD, 0, false, NULL, NULL, 0, 0, "signature"},
    {"v2 version 1", S(V2SIG "\x11\x11\x00\x0c"), PROXY_ACCEPT_ANY, PROXY_BAD, 0, false, NULL, NULL,
     0, 0, "version"},
    {"v2 unknown command", S(V2SIG "\x22\x11\x00\x0c"), PROXY_ACCEPT_ANY, PROXY_BAD, 0, false, NULL,
     NULL, 0, 0, "command"},
    {"v2 wrong family", S(V2SIG "\x21\x41\x00\x0c"), PROXY_ACCEPT_ANY, PROXY_BAD, 0, false, NULL,
     NULL, 0, 0, "family"},
    {"v2 wrong protocol", S(V2SIG "\x21\x13\x00\x0c"), PROXY_ACCEPT_ANY, PROXY_BAD, 0, false, NULL,
     NULL, 0, 0, "protocol"},
    {"v2 udp",
     S(V2SIG "\x21\x12\x00\x0c"
             "\x01\x02\x03\x04"
             "\x05\x06\x07\x08"
             "\x00\x01\x00\x02"),
     PROXY_ACCEPT_ANY, PROXY_BAD, 0, false, NULL, NULL, 0, 0, "datagram"},
    {"v2 tcp4 block too short", S(V2SIG "\x21\x11\x00\x0b"), PROXY_ACCEPT_ANY, PROXY_BAD, 0, false,
     NULL, NULL, 0, 0, "shorter"},
    {"v2 tcp6 block too short", S(V2SIG "\x21\x21\x00\x0c"), PROXY_ACCEPT_ANY, PROXY_BAD, 0, false,
     NULL, NULL, 0, 0, "shorter"},
    {"v2 where v1 only", S(V2SIG "\x20\x00\x00\x00"), PROXY_ACCEPT_V1, PROXY_BAD, 0, false, NULL,
     NULL, 0, 0, "only v1"},
};

#define NCASES (sizeof cases / sizeof cases[0])

/* len bytes placed right before a PROT_NONE page. */
static const uint8_t *guarded(const char *in, size_t len)
{
    static uint8_t *pages;
    long pg = sysconf(_SC_PAGESIZE);
    if (pages == NULL) {
        pages =
            mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        ck_assert_ptr_ne(pages, MAP_FAILED);
        ck_assert_int_eq(mprotect(pages + pg, (size_t)pg, PROT_NONE), 0);
    }
    uint8_t *at = pages + pg - len;
    memcpy(at, in, len);
    return at;
}

static void check_addr(const union sockaddr_any *a, const char *ip, int port)
{
    char got[INET6_ADDRSTRLEN];
    const void *raw = a->sa.sa_family == AF_INET ? (const void *)&a->in.sin_addr
                                                 : (const void *)&a->in6.sin6_addr;
    ck_assert_ptr_nonnull(inet_ntop(a->sa.sa_family, raw, got, sizeof got));
    ck_assert_str_eq(got, ip);
    ck_assert_int_eq(sockaddr_port(a), port);
}

/* Feed c->in in pieces ending at cut[0] < cut[1] < ... (the last is
 * c->len); stop at the first result other than PROXY_MORE. Returns that
 * result, with the total bytes used. */
static enum proxy_status feed(const struct parse_case *c, const size_t *cuts, size_t ncuts,
                              size_t *total_used, struct proxy_parser *p, struct proxy_header *h)
{
    proxy_parser_init(p, c->accept);
    size_t from = 0;
    *total_used = 0;
    for (size_t i = 0; i < ncuts; i++) {
        size_t n = cuts[i] - from, used = 99999;
        const uint8_t *piece = guarded(c->in + from, n);
        enum proxy_status st = proxy_parse(p, piece, n, &used, h);
        ck_assert_uint_le(used, n);
        *total_used += used;
        if (st != PROXY_MORE)
            return st;
        ck_assert_uint_eq(used, n);
        from = cuts[i];
    }
    return PROXY_MORE;
}

static void check_result(const struct parse_case *c, enum proxy_status st, size_t used,
                         const struct proxy_parser *p, const struct proxy_header *h)
{
    ck_assert_msg(st == c->want, "%s: status %d, want %d (%s)", c->name, st, c->want,
                  p->error != NULL ? p->error : "");
    if (st == PROXY_BAD) {
        ck_assert_ptr_nonnull(p->error);
        if (c->error != NULL)
            ck_assert_msg(strstr(p->error, c->error) != NULL, "%s: error '%s', want '%s'", c->name,
                          p->error, c->error);
        return;
    }
    ck_assert_msg(used == c->header_len, "%s: used %zu, want %zu", c->name, used, c->header_len);
    ck_assert_int_eq(h->version, c->in[0] == 'P' ? 1 : 2);
    ck_assert_int_eq(h->has_addresses, c->has_addresses);
    if (c->has_addresses) {
        check_addr(&h->src, c->src, c->sport);
        check_addr(&h->dst, c->dst, c->dport);
    }
}

START_TEST(parse_whole)
{
    const struct parse_case *c = &cases[_i];
    struct proxy_parser p;
    struct proxy_header h;
    size_t used, cut = c->len;
    enum proxy_status st = feed(c, &cut, 1, &used, &p, &h);
    check_result(c, st, used, &p, &h);
}
END_TEST

START_TEST(parse_byte_by_byte)
{
    const struct parse_case *c = &cases[_i];
    size_t cuts[512];
    ck_assert_uint_le(c->len, 512);
    for (size_t i = 0; i < c->len; i++)
        cuts[i] = i + 1;
    struct proxy_parser p;
    struct proxy_header h;
    size_t used;
    enum proxy_status st = feed(c, cuts, c->len, &used, &p, &h);
    check_result(c, st, used, &p, &h);
}
END_TEST

START_TEST(parse_split_everywhere)
{
    const struct parse_case *c = &cases[_i];
    for (size_t k = 1; k < c->len; k++) {
        size_t cuts[2] = {k, c->len};
        struct proxy_parser p;
        struct proxy_header h;
        size_t used;
        enum proxy_status st = feed(c, cuts, 2, &used, &p, &h);
        check_result(c, st, used, &p, &h);
    }
}
END_TEST

/* A header cut short is PROXY_MORE (never DONE, never BAD) at every
 * length, for every valid case. */
START_TEST(partial_is_more)
{
    const struct parse_case *c = &cases[_i];
    if (c->want != PROXY_DONE)
        return;
    for (size_t k = 1; k < c->header_len; k++) {
        struct proxy_parser p;
        struct proxy_header h;
        size_t used;
        ck_assert_msg(feed(c, &k, 1, &used, &p, &h) == PROXY_MORE, "%s at %zu", c->name, k);
        ck_assert_uint_eq(used, k);
    }
}
END_TEST

START_TEST(bad_stays_bad)
{
    struct proxy_parser p;
    struct proxy_header h;
    size_t used;
    proxy_parser_init(&p, PROXY_ACCEPT_ANY);
    ck_assert_int_eq(proxy_parse(&p, (const uint8_t *)"X", 1, &used, &h), PROXY_BAD);
    ck_assert_int_eq(proxy_parse(&p, (const uint8_t *)"PROXY ", 6, &used, &h), PROXY_BAD);
    ck_assert_uint_eq(used, 0);
}
END_TEST

/* A v2 header with 65535 bytes of TLVs: skipped in pieces, kept bounded. */
START_TEST(v2_longest_tlvs_skipped)
{
    static uint8_t in[16 + 65535 + 3];
    memcpy(in, V2SIG "\x21\x11\xff\xff", 16);
    memset(in + 16, 0x7f, 65535);
    memcpy(in + 16 + 65535, "abc", 3);
    struct proxy_parser p;
    struct proxy_header h;
    proxy_parser_init(&p, PROXY_ACCEPT_V2);
    size_t off = 0, used;
    enum proxy_status st = PROXY_MORE;
    while (st == PROXY_MORE) {
        size_t n = sizeof in - off < 1000 ? sizeof in - off : 1000;
        st = proxy_parse(&p, in + off, n, &used, &h);
        off += used;
    }
    ck_assert_int_eq(st, PROXY_DONE);
    ck_assert_uint_eq(off, 16 + 65535);
    ck_assert(h.has_addresses);
    ck_assert_int_eq(sockaddr_port(&h.src), 0x7f7f);
}
END_TEST

struct cidr_case {
    const char *range, *ip;
    bool match;
};

static const struct cidr_case cidr_cases[] = {
    {"127.0.0.0/8", "127.0.0.5", true},
    {"127.0.0.0/8", "128.0.0.1", false},
    {"10.1.2.3", "10.1.2.3", true},
    {"10.1.2.3", "10.1.2.4", false},
    {"192.168.0.0/23", "192.168.1.200", true},
    {"192.168.0.0/23", "192.168.2.1", false},
    {"0.0.0.0/0", "8.8.8.8", true},
    {"0.0.0.0/0", "::1", false},
    {"::1", "::1", true},
    {"2001:db8::/33", "2001:db8:7fff::1", true},
    {"2001:db8::/33", "2001:db8:8000::1", false},
    {"127.0.0.0/8", "::ffff:127.0.0.9", true},
};

static union sockaddr_any sa_of(const char *ip)
{
    union sockaddr_any a;
    ck_assert_int_eq(sockaddr_parse(ip, 21, &a), 0);
    return a;
}

START_TEST(cidr_membership)
{
    const struct cidr_case *c = &cidr_cases[_i];
    struct cidr r;
    ck_assert_int_eq(cidr_parse(c->range, &r), 0);
    union sockaddr_any a = sa_of(c->ip);
    ck_assert_msg(cidr_match(&r, &a) == c->match, "%s in %s", c->ip, c->range);
}
END_TEST

START_TEST(cidr_lists)
{
    struct cidr list[4];
    ck_assert_int_eq(cidr_parse_list("127.0.0.1/8, ::1 ,10.0.0.0/8", list, 4), 3);
    union sockaddr_any a = sa_of("10.9.9.9"), b = sa_of("11.0.0.1");
    ck_assert(cidr_match_any(list, 3, &a));
    ck_assert(!cidr_match_any(list, 3, &b));
    static const char *const bad[] = {
        "",      "1.2.3.4/33", "::/129", "1.2.3.4/", "1.2.3.4/-1",
        "1.2.3", "1.2.3.4,,",  "a, b",   "1/8x",     "1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(cidr_parse_list(bad[i], list, 4) < 0, "'%s' accepted", bad[i]);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("proxy_header");
    TCase *tc = tcase_create("parse");
    tcase_add_loop_test(tc, parse_whole, 0, (int)NCASES);
    tcase_add_loop_test(tc, parse_byte_by_byte, 0, (int)NCASES);
    tcase_add_loop_test(tc, parse_split_everywhere, 0, (int)NCASES);
    tcase_add_loop_test(tc, partial_is_more, 0, (int)NCASES);
    tcase_add_test(tc, bad_stays_bad);
    tcase_add_test(tc, v2_longest_tlvs_skipped);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("trusted");
    tcase_add_loop_test(tr, cidr_membership, 0, (int)(sizeof cidr_cases / sizeof cidr_cases[0]));
    tcase_add_test(tr, cidr_lists);
    suite_add_tcase(s, tr);
    return s;
}

UNIT_MAIN()
