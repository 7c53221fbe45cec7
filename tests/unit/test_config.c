/* Config: every key with good and bad values, the INI file loader and its
 * error messages, the cross-key checks, and conf/ftpd.conf itself. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ftpd/arch.h"
#include "ftpd/config.h"
#include "ftpd/config_file.h"
#include "unit.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static int *int_at(struct ftpd_config *cfg, size_t offset)
{
    return (int *)(void *)((char *)cfg + offset);
}

static void assert_config_eq(const struct ftpd_config *a, const struct ftpd_config *b)
{
    ck_assert_int_eq(a->nlisten, b->nlisten);
    for (int i = 0; i < a->nlisten; i++)
        ck_assert_str_eq(a->listen[i], b->listen[i]);
    ck_assert_int_eq(a->port, b->port);
    ck_assert_str_eq(a->arch, b->arch);
    ck_assert_int_eq(a->workers, b->workers);
    ck_assert_int_eq(a->threads, b->threads);
    ck_assert_int_eq(a->threadpool_dispatch, b->threadpool_dispatch);
    ck_assert_int_eq(a->hybrid_reuseport, b->hybrid_reuseport);
    ck_assert_str_eq(a->root, b->root);
    ck_assert_int_eq(a->anonymous, b->anonymous);
    ck_assert_int_eq(a->write_enable, b->write_enable);
    ck_assert_int_eq(a->max_clients, b->max_clients);
    ck_assert_int_eq(a->max_per_ip, b->max_per_ip);
    ck_assert_int_eq(a->idle_timeout, b->idle_timeout);
    ck_assert_int_eq(a->data_timeout, b->data_timeout);
    ck_assert_int_eq(a->shutdown_grace, b->shutdown_grace);
    ck_assert_int_eq(a->pasv_min_port, b->pasv_min_port);
    ck_assert_int_eq(a->pasv_max_port, b->pasv_max_port);
    ck_assert_str_eq(a->pasv_address, b->pasv_address);
    ck_assert_str_eq(a->control_socket, b->control_socket);
    ck_assert_str_eq(a->metrics_listen, b->metrics_listen);
    ck_assert_str_eq(a->banner, b->banner);
    ck_assert_int_eq(a->log_level, b->log_level);
    ck_assert_int_eq(a->listing_cache_ttl, b->listing_cache_ttl);
    ck_assert_uint_eq(a->max_rate_download, b->max_rate_download);
    ck_assert_uint_eq(a->max_rate_upload, b->max_rate_upload);
    ck_assert_uint_eq(a->max_rate_total, b->max_rate_total);
    ck_assert_int_eq(a->min_spare_workers, b->min_spare_workers);
    ck_assert_int_eq(a->max_spare_workers, b->max_spare_workers);
    ck_assert_int_eq(a->max_workers, b->max_workers);
    /* PROXY protocol */
    ck_assert_int_eq(a->proxy_protocol, b->proxy_protocol);
    ck_assert_int_eq(a->nproxy_trusted, b->nproxy_trusted);
    ck_assert_mem_eq(a->proxy_trusted, b->proxy_trusted,
                     (size_t)a->nproxy_trusted * sizeof a->proxy_trusted[0]);
    ck_assert_int_eq(a->proxy_timeout, b->proxy_timeout);
    ck_assert_int_eq(a->proxy_protocol_data, b->proxy_protocol_data);
}

/* Writes content to a fresh file under /tmp; the caller unlinks path. */
static void write_temp(const char *content, char *path, size_t pathlen)
{
    snprintf(path, pathlen, "/tmp/ftpd-test-config-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size_t len = strlen(content);
    ck_assert_int_eq(write(fd, content, len), (ssize_t)len);
    close(fd);
}

/* Loads content as a file; returns config_load_file's result, and err
 * with the temp file's name replaced by "FILE". */
static int load_text_origin(struct ftpd_config *cfg, const char *content,
                            struct config_origin *origin, char *err, size_t errlen)
{
    char path[64], raw[1024];
    write_temp(content, path, sizeof path);
    int rc = config_load_file(cfg, path, origin, raw, sizeof raw);
    unlink(path);
    err[0] = '\0';
    if (rc != 0) {
        size_t plen = strlen(path);
        ck_assert_msg(strncmp(raw, path, plen) == 0, "error does not start with the path: %s", raw);
        snprintf(err, errlen, "FILE%s", raw + plen);
    }
    return rc;
}

static int load_text(struct ftpd_config *cfg, const char *content, char *err, size_t errlen)
{
    return load_text_origin(cfg, content, NULL, err, errlen);
}

/* ---- defaults ---------------------------------------------------------- */

START_TEST(test_defaults)
{
    struct ftpd_config cfg;
    config_defaults(&cfg);
    ck_assert_int_eq(cfg.nlisten, 1);
    ck_assert_str_eq(cfg.listen[0], "127.0.0.1");
    ck_assert_int_eq(cfg.port, FTPD_DEFAULT_PORT);
    ck_assert_str_eq(cfg.arch, "reactor");
    ck_assert_ptr_nonnull(arch_find(cfg.arch)->run);
    ck_assert_int_eq(cfg.workers, 0);
    ck_assert_int_eq(cfg.threads, FTPD_DEFAULT_THREADS);
    ck_assert_str_eq(cfg.root, ".");
    ck_assert(cfg.anonymous);
    ck_assert(!cfg.write_enable);
    ck_assert_int_eq(cfg.max_clients, FTPD_DEFAULT_MAX_CLIENTS);
    ck_assert_int_eq(cfg.max_per_ip, FTPD_DEFAULT_MAX_PER_IP);
    ck_assert_int_eq(cfg.idle_timeout, FTPD_DEFAULT_IDLE_TIMEOUT);
    ck_assert_int_eq(cfg.data_timeout, FTPD_DEFAULT_DATA_TIMEOUT);
    ck_assert_int_eq(cfg.shutdown_grace, FTPD_DEFAULT_SHUTDOWN_GRACE);
    ck_assert_int_eq(cfg.pasv_min_port, 0);
    ck_assert_int_eq(cfg.pasv_max_port, 0);
    ck_assert_str_eq(cfg.pasv_address, "");
    ck_assert_str_eq(cfg.banner, "ftpd ready.");
    ck_assert_int_eq(cfg.log_level, LOG_LVL_INFO);
    ck_assert_int_eq(cfg.listing_cache_ttl, FTPD_DEFAULT_LISTING_CACHE_TTL);

    char err[256];
    ck_assert_int_eq(config_validate(&cfg, err, sizeof err), 0);
}
END_TEST

/* ---- integer keys -------------------------------------------------------- */

static const struct int_key {
    const char *key;
    size_t offset;
    int min, max;
    bool port; /* "is not a port number" rather than "out of range" */
} int_keys[] = {
    {"port", offsetof(struct ftpd_config, port), 0, 65535, true},
    {"workers", offsetof(struct ftpd_config, workers), 0, 1024, false},
    {"threads", offsetof(struct ftpd_config, threads), 1, 4096, false},
    {"max_clients", offsetof(struct ftpd_config, max_clients), 1, 1000000, false},
    {"max_per_ip", offsetof(struct ftpd_config, max_per_ip), 0, 1000000, false},
    {"idle_timeout", offsetof(struct ftpd_config, idle_timeout), 1, 86400, false},
    {"data_timeout", offsetof(struct ftpd_config, data_timeout), 1, 86400, false},
    {"shutdown_grace", offsetof(struct ftpd_config, shutdown_grace), 0, 3600, false},
    {"listing_cache_ttl", offsetof(struct ftpd_config, listing_cache_ttl), 0, 3600, false},
    {"pasv_min_port", offsetof(struct ftpd_config, pasv_min_port), 0, 65535, true},
    {"pasv_max_port", offsetof(struct ftpd_config, pasv_max_port), 0, 65535, true},
    {"min_spare_workers", offsetof(struct ftpd_config, min_spare_workers), 0, 4096, false},
    {"max_spare_workers", offsetof(struct ftpd_config, max_spare_workers), 1, 4096, false},
    {"max_workers", offsetof(struct ftpd_config, max_workers), 1, 4096, false},
};

/* Values no integer key accepts, whatever its range. */
static const char *const not_integers[] = {
    "", "abc", "12x", "1 2", " 5", "5 ", "+5", "0x10", "1.5", "1e3", "-", "--1",
};

START_TEST(test_int_key)
{
    const struct int_key *k = &int_keys[_i];
    struct ftpd_config cfg;
    char err[256], text[32];
    config_defaults(&cfg);

    const int good[] = {k->min, k->max, k->min + (k->max - k->min) / 2};
    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        snprintf(text, sizeof text, "%d", good[i]);
        ck_assert_msg(config_set(&cfg, k->key, text, err, sizeof err) == 0, "%s=%s: %s", k->key,
                      text, err);
        ck_assert_int_eq(*int_at(&cfg, k->offset), good[i]);
    }

    const int before = *int_at(&cfg, k->offset);
    const char *const out_of_range[] = {
        "99999999999999999999", "-99999999999999999999", "2147483648",
        "-2147483649",          "9223372036854775808",
    };
    char below[32], above[32];
    snprintf(below, sizeof below, "%d", k->min - 1);
    snprintf(above, sizeof above, "%d", k->max + 1);
    const char *bad_range[ARRAY_LEN(out_of_range) + 2];
    memcpy(bad_range, out_of_range, sizeof out_of_range);
    bad_range[ARRAY_LEN(out_of_range)] = below;
    bad_range[ARRAY_LEN(out_of_range) + 1] = above;

    for (size_t i = 0; i < ARRAY_LEN(bad_range); i++) {
        ck_assert_int_eq(config_set(&cfg, k->key, bad_range[i], err, sizeof err), -1);
        char want[128];
        snprintf(want, sizeof want, "key '%s': '%s' is %s", k->key, bad_range[i],
                 k->port ? "not a port number" : "out of range");
        ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got \"%s\", want \"%s...\"", err,
                      want);
        ck_assert_int_eq(*int_at(&cfg, k->offset), before);
    }
    for (size_t i = 0; i < ARRAY_LEN(not_integers); i++) {
        ck_assert_int_eq(config_set(&cfg, k->key, not_integers[i], err, sizeof err), -1);
        char want[128];
        snprintf(want, sizeof want, "key '%s': '%s' is not a%s", k->key, not_integers[i],
                 k->port ? " port number" : "n integer");
        ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got \"%s\", want \"%s...\"", err,
                      want);
        ck_assert_int_eq(*int_at(&cfg, k->offset), before);
    }
}
END_TEST

START_TEST(test_port_message)
{
    struct ftpd_config cfg;
    char err[256];
    config_defaults(&cfg);
    ck_assert_int_eq(config_set(&cfg, "port", "99999", err, sizeof err), -1);
    ck_assert_str_eq(err, "key 'port': '99999' is not a port number (1-65535)");
    ck_assert_int_eq(config_set(&cfg, "port", "0", err, sizeof err), 0); /* tests use it */
    ck_assert_int_eq(cfg.port, 0);
}
END_TEST

/* ---- booleans -------------------------------------------------------------- */

static const struct bool_case {
    const char *value;
    int want; /* 1 true, 0 false, -1 error */
} bool_cases[] = {
    {"yes", 1}, {"YES", 1},      {"Yes", 1},    {"true", 1},  {"TRUE", 1},  {"on", 1},
    {"On", 1},  {"1", 1},        {"no", 0},     {"NO", 0},    {"false", 0}, {"False", 0},
    {"off", 0}, {"OFF", 0},      {"0", 0},      {"", -1},     {"y", -1},    {"n", -1},
    {"2", -1},  {"yess", -1},    {"maybe", -1}, {" yes", -1}, {"yes ", -1}, {"-1", -1},
    {"01", -1}, {"enabled", -1},
};

/* Keys whose value is one of a few words. */
START_TEST(test_choice_keys)
{
    static const struct {
        const char *key, *value;
        int want; /* -1: refused */
    } cases[] = {
        {"threadpool_dispatch", "event", DISPATCH_EVENT},
        {"threadpool_dispatch", "queue", DISPATCH_QUEUE},
        {"threadpool_dispatch", "accept", DISPATCH_ACCEPT},
        {"threadpool_dispatch", "Queue", -1},
        {"threadpool_dispatch", "", -1},
        {"threadpool_dispatch", "event ", -1},
        {"hybrid_balance", "shared", 0},
        {"hybrid_balance", "reuseport", 1},
        {"hybrid_balance", "queue", -1},
        {"hybrid_balance", "reuseport ", -1},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct ftpd_config cfg;
        char err[256];
        config_defaults(&cfg);
        ck_assert(cfg.threadpool_dispatch == DISPATCH_EVENT && !cfg.hybrid_reuseport);
        bool hybrid = strcmp(cases[i].key, "hybrid_balance") == 0;
        if (!hybrid)
            cfg.threadpool_dispatch = DISPATCH_ACCEPT + 1; /* none of them: set or untouched */
        int rc = config_set(&cfg, cases[i].key, cases[i].value, err, sizeof err);
        int got = hybrid ? cfg.hybrid_reuseport : (int)cfg.threadpool_dispatch;
        if (cases[i].want < 0) {
            ck_assert_int_eq(rc, -1);
            ck_assert_msg(strstr(err, "' is not ") != NULL, "%s", err);
            ck_assert_int_eq(got, hybrid ? 0 : DISPATCH_ACCEPT + 1);
        } else {
            ck_assert_msg(rc == 0, "%s", err);
            ck_assert_int_eq(got, cases[i].want);
        }
    }
    char err[256];
    struct ftpd_config cfg;
    config_defaults(&cfg);
    config_set(&cfg, "threadpool_dispatch", "bogus", err, sizeof err);
    ck_assert_str_eq(err, "key 'threadpool_dispatch': 'bogus' is not event, queue or accept");
    config_set(&cfg, "hybrid_balance", "bogus", err, sizeof err);
    ck_assert_str_eq(err, "key 'hybrid_balance': 'bogus' is not shared or reuseport");
}
END_TEST

START_TEST(test_bool_keys)
{
    const struct bool_case *c = &bool_cases[_i];
    const char *const keys[] = {"anonymous", "write_enable"};
    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        for (int start = 0; start <= 1; start++) {
            struct ftpd_config cfg;
            char err[256];
            config_defaults(&cfg);
            cfg.anonymous = cfg.write_enable = start;
            bool *field = i == 0 ? &cfg.anonymous : &cfg.write_enable;
            int rc = config_set(&cfg, keys[i], c->value, err, sizeof err);
            if (c->want < 0) {
                ck_assert_int_eq(rc, -1);
                ck_assert_int_eq(*field, start);
                char want[128];
                snprintf(want, sizeof want, "key '%s': '%s' is not a boolean", keys[i], c->value);
                ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got \"%s\"", err);
            } else {
                ck_assert_msg(rc == 0, "%s=%s: %s", keys[i], c->value, err);
                ck_assert_int_eq(*field, c->want);
            }
        }
    }
}
END_TEST

/* ---- listen ------------------------------------------------------------------ */

static const struct listen_case {
    const char *value;
    int n; /* addresses expected; 0 = error */
    const char *first, *last;
    const char *err; /* start of the message on error */
} listen_cases[] = {
    {"127.0.0.1", 1, "127.0.0.1", "127.0.0.1", NULL},
    {"0.0.0.0", 1, "0.0.0.0", "0.0.0.0", NULL},
    {"::", 1, "::", "::", NULL},
    {"::1", 1, "::1", "::1", NULL},
    {"0.0.0.0, ::", 2, "0.0.0.0", "::", NULL},
    {"0.0.0.0,::", 2, "0.0.0.0", "::", NULL},
    {" 10.0.0.1 ,  fe80::1 ", 2, "10.0.0.1", "fe80::1", NULL},
    {"2001:db8::1,192.168.1.1,::ffff:10.0.0.1", 3, "2001:db8::1", "::ffff:10.0.0.1", NULL},
    {"127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8", 8,
     "127.0.0.1", "127.0.0.8", NULL},
    {"127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8,"
     "127.0.0.9",
     0, NULL, NULL, "key 'listen': too many addresses (at most 8)"},
    {"", 0, NULL, NULL, "key 'listen': empty address"},
    {" ", 0, NULL, NULL, "key 'listen': empty address"},
    {"127.0.0.1,", 0, NULL, NULL, "key 'listen': empty address"},
    {",127.0.0.1", 0, NULL, NULL, "key 'listen': empty address"},
    {"127.0.0.1,,::1", 0, NULL, NULL, "key 'listen': empty address"},
    {"localhost", 0, NULL, NULL, "key 'listen': 'localhost' is not a numeric IPv4 or IPv6"},
    {"256.0.0.1", 0, NULL, NULL, "key 'listen': '256.0.0.1' is not a numeric"},
    {"127.1", 0, NULL, NULL, "key 'listen': '127.1' is not a numeric"},
    {"::1,bogus", 0, NULL, NULL, "key 'listen': 'bogus' is not a numeric"},
    {"[::1]", 0, NULL, NULL, "key 'listen': '[::1]' is not a numeric"},
    {"127.0.0.1:21", 0, NULL, NULL, "key 'listen': '127.0.0.1:21' is not a numeric"},
    {"fe80::1%lo", 0, NULL, NULL, "key 'listen': 'fe80::1%lo' is not a numeric"},
    {"1.2.3.4 5.6.7.8", 0, NULL, NULL, "key 'listen': '1.2.3.4 5.6.7.8' is not a numeric"},
    {"::1, 0:0:0:0:0:0:0:1", 0, NULL, NULL,
     "key 'listen': address '0:0:0:0:0:0:0:1' is listed twice"},
    {"0000:0000:0000:0000:0000:0000:0000:0000:0000:0000", 0, NULL, NULL,
     "key 'listen': '0000:0000:0000:0000:0000:0000:0000:0000:0000:0000' is not"},
    {"00000000000000000000000000000000000000000000000000000000000000000000", 0, NULL, NULL,
     "key 'listen': '0000000000"},
};

START_TEST(test_listen)
{
    const struct listen_case *c = &listen_cases[_i];
    struct ftpd_config cfg;
    char err[256];
    config_defaults(&cfg);
    config_set(&cfg, "listen", "::1,10.1.1.1", err, sizeof err);
    int rc = config_set(&cfg, "listen", c->value, err, sizeof err);
    if (c->n == 0) {
        ck_assert_int_eq(rc, -1);
        ck_assert_msg(strncmp(err, c->err, strlen(c->err)) == 0, "'%s': got \"%s\"", c->value, err);
        /* A failed set leaves the previous list whole. */
        ck_assert_int_eq(cfg.nlisten, 2);
        ck_assert_str_eq(cfg.listen[0], "::1");
        ck_assert_str_eq(cfg.listen[1], "10.1.1.1");
    } else {
        ck_assert_msg(rc == 0, "'%s': %s", c->value, err);
        ck_assert_int_eq(cfg.nlisten, c->n);
        ck_assert_str_eq(cfg.listen[0], c->first);
        ck_assert_str_eq(cfg.listen[c->n - 1], c->last);
    }
}
END_TEST

/* ---- string keys ------------------------------------------------------------- */

static char long_text[FTPD_PATH_MAX + 2];

static const struct str_case {
    const char *key, *value;
    const char *want; /* the stored value; NULL = error */
    const char *err;  /* start of the message on error */
} str_cases[] = {
    {"root", ".", ".", NULL},
    {"root", "/srv/ftp", "/srv/ftp", NULL},
    {"root", "dir with spaces", "dir with spaces", NULL},
    {"root", "", NULL, "key 'root': must not be empty"},
    {"pasv_address", "", "", NULL},
    {"pasv_address", "203.0.113.7", "203.0.113.7", NULL},
    {"pasv_address", "::1", NULL, "key 'pasv_address': '::1' is not a numeric IPv4 address"},
    {"pasv_address", "example.com", NULL, "key 'pasv_address': 'example.com' is not a numeric"},
    {"pasv_address", "1.2.3", NULL, "key 'pasv_address': '1.2.3' is not a numeric"},
    {"pasv_address", "1.2.3.4,5.6.7.8", NULL, "key 'pasv_address': '1.2.3.4,5.6.7.8' is not"},
    {"banner", "Welcome", "Welcome", NULL},
    {"banner", "Hello, world! \xc3\xa9t\xc3\xa9", "Hello, world! \xc3\xa9t\xc3\xa9", NULL},
    {"banner", "", NULL, "key 'banner': must not be empty"},
    {"banner", "two\r\n220 lines", NULL, "key 'banner': control character at offset 3"},
    {"banner", "line\n", NULL, "key 'banner': control character at offset 4"},
    {"banner", "tab\there", NULL, "key 'banner': control character at offset 3"},
    {"banner", "del\x7f", NULL, "key 'banner': control character at offset 3"},
    {"log_level", "error", "", NULL},
    {"log_level", "warn", "", NULL},
    {"log_level", "info", "", NULL},
    {"log_level", "debug", "", NULL},
    {"log_level", "DEBUG", "", NULL},
    {"log_level", "verbose", NULL,
     "key 'log_level': 'verbose' is not a log level (error|warn|info|debug)"},
    {"log_level", "", NULL, "key 'log_level': '' is not a log level"},
    {"log_level", "3", NULL, "key 'log_level': '3' is not a log level"},
    /* --status and /metrics */
    {"control_socket", "", "", NULL},
    {"control_socket", "/run/ftpd.sock", "/run/ftpd.sock", NULL},
    {"metrics_listen", "", "", NULL},
    {"metrics_listen", "127.0.0.1:9100", "127.0.0.1:9100", NULL},
    {"metrics_listen", "[::1]:0", "[::1]:0", NULL},
    {"metrics_listen", "127.0.0.1", NULL, "key 'metrics_listen': '127.0.0.1' is not a numeric"},
    {"metrics_listen", "::1:9100", NULL, "key 'metrics_listen': '::1:9100' is not a numeric"},
    {"metrics_listen", "localhost:9100", NULL, "key 'metrics_listen': 'localhost:9100' is not"},
    {"metrics_listen", "127.0.0.1:65536", NULL, "key 'metrics_listen': '127.0.0.1:65536' is not"},
    {"metrics_listen", "127.0.0.1:9x", NULL, "key 'metrics_listen': '127.0.0.1:9x' is not"},
};

static const char *stored(const struct ftpd_config *cfg, const char *key)
{
    if (strcmp(key, "root") == 0)
        return cfg->root;
    if (strcmp(key, "pasv_address") == 0)
        return cfg->pasv_address;
    if (strcmp(key, "banner") == 0)
        return cfg->banner;
    if (strcmp(key, "control_socket") == 0)
        return cfg->control_socket;
    if (strcmp(key, "metrics_listen") == 0)
        return cfg->metrics_listen;
    return "";
}

START_TEST(test_string_keys)
{
    const struct str_case *c = &str_cases[_i];
    struct ftpd_config cfg, before;
    char err[256];
    config_defaults(&cfg);
    before = cfg;
    int rc = config_set(&cfg, c->key, c->value, err, sizeof err);
    if (c->want == NULL) {
        ck_assert_int_eq(rc, -1);
        ck_assert_msg(strncmp(err, c->err, strlen(c->err)) == 0, "%s='%s': got \"%s\"", c->key,
                      c->value, err);
        assert_config_eq(&cfg, &before);
    } else {
        ck_assert_msg(rc == 0, "%s='%s': %s", c->key, c->value, err);
        ck_assert_str_eq(stored(&cfg, c->key), c->want);
    }
}
END_TEST

START_TEST(test_log_level_values)
{
    struct ftpd_config cfg;
    char err[256];
    config_defaults(&cfg);
    const struct {
        const char *name;
        enum log_level level;
    } levels[] = {{"error", LOG_LVL_ERROR},
                  {"warn", LOG_LVL_WARN},
                  {"debug", LOG_LVL_DEBUG},
                  {"info", LOG_LVL_INFO}};
    for (size_t i = 0; i < ARRAY_LEN(levels); i++) {
        ck_assert_int_eq(config_set(&cfg, "log_level", levels[i].name, err, sizeof err), 0);
        ck_assert_int_eq(cfg.log_level, levels[i].level);
    }
}
END_TEST

START_TEST(test_length_limits)
{
    struct ftpd_config cfg;
    char err[256];
    config_defaults(&cfg);

    memset(long_text, 'a', sizeof long_text - 1);
    long_text[FTPD_PATH_MAX - 1] = '\0';
    ck_assert_int_eq(config_set(&cfg, "root", long_text, err, sizeof err), 0);
    ck_assert_uint_eq(strlen(cfg.root), FTPD_PATH_MAX - 1);
    long_text[FTPD_PATH_MAX - 1] = 'a';
    long_text[FTPD_PATH_MAX] = '\0';
    ck_assert_int_eq(config_set(&cfg, "root", long_text, err, sizeof err), -1);
    ck_assert_str_eq(err, "key 'root': path too long (at most 4095 bytes)");

    char banner[FTPD_BANNER_MAX + 1];
    memset(banner, 'b', sizeof banner);
    banner[FTPD_BANNER_MAX - 1] = '\0';
    ck_assert_int_eq(config_set(&cfg, "banner", banner, err, sizeof err), 0);
    ck_assert_str_eq(cfg.banner, banner);
    banner[FTPD_BANNER_MAX - 1] = 'b';
    banner[FTPD_BANNER_MAX] = '\0';
    ck_assert_int_eq(config_set(&cfg, "banner", banner, err, sizeof err), -1);
    ck_assert_str_eq(err, "key 'banner': too long (at most 255 bytes)");

    ck_assert_int_eq(config_set(&cfg, "pasv_address",
                                "255.255.255.255000000000000000000000000000000000000000000"
                                "000000000000000000000000000",
                                err, sizeof err),
                     -1);
}
END_TEST

/* ---- arch, unknown keys ---------------------------------------------------- */

START_TEST(test_arch)
{
    size_t count;
    const struct arch *table = arch_table(&count);
    ck_assert_uint_gt(count, 0);
    struct ftpd_config cfg;
    char err[512];
    config_defaults(&cfg);
    for (size_t i = 0; i < count; i++) {
        ck_assert_msg(config_set(&cfg, "arch", table[i].name, err, sizeof err) == 0, "%s: %s",
                      table[i].name, err);
        ck_assert_str_eq(cfg.arch, table[i].name);
    }

    /* The parser takes any name that fits; the registry (main() asks it)
     * knows no other spelling of a back-end. */
    const char *const unknown[] = {"nosuch", "SERIAL", " serial", "serial "};
    for (size_t b = 0; b < ARRAY_LEN(unknown); b++) {
        ck_assert_int_eq(config_set(&cfg, "arch", unknown[b], err, sizeof err), 0);
        ck_assert_str_eq(cfg.arch, unknown[b]);
        ck_assert_ptr_null(arch_find(cfg.arch));
    }

    const struct {
        const char *value, *err;
    } bad[] = {
        {"", "key 'arch': must not be empty"},
        {"a-name-too-long-for-it",
         "key 'arch': unknown arch 'a-name-too-long-for-it' (names are at most 15 bytes)"},
    };
    for (size_t b = 0; b < ARRAY_LEN(bad); b++) {
        config_set(&cfg, "arch", table[0].name, err, sizeof err);
        ck_assert_int_eq(config_set(&cfg, "arch", bad[b].value, err, sizeof err), -1);
        ck_assert_str_eq(cfg.arch, table[0].name);
        ck_assert_str_eq(err, bad[b].err);
    }
}
END_TEST

/* The bandwidth caps: rates with their suffixes (the parser's own cases
 * are in test_rate.c), and the message for a bad one. */
START_TEST(test_rate_keys)
{
    static const char *const keys[] = {"max_rate_download", "max_rate_upload", "max_rate_total"};
    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        struct ftpd_config cfg;
        char err[256] = "";
        config_defaults(&cfg);
        ck_assert_msg(config_set(&cfg, keys[i], "2M", err, sizeof err) == 0, "%s", err);
        ck_assert_int_eq(config_set(&cfg, keys[i], "1.5M", err, sizeof err), -1);
        char want[128];
        snprintf(want, sizeof want, "key '%s': '1.5M' is not a rate (bytes/s", keys[i]);
        ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got \"%s\"", err);
        ck_assert_int_eq(config_set(&cfg, keys[i], "-5", err, sizeof err), -1);
        uint64_t *field = i == 0   ? &cfg.max_rate_download
                          : i == 1 ? &cfg.max_rate_upload
                                   : &cfg.max_rate_total;
        ck_assert_uint_eq(*field, 2000000); /* a failed set changes nothing */
        ck_assert_int_eq(config_set(&cfg, keys[i], "0", err, sizeof err), 0);
        ck_assert_uint_eq(*field, 0);
    }
}
END_TEST

START_TEST(test_unknown_key)
{
    struct ftpd_config cfg, before;
    char err[256];
    config_defaults(&cfg);
    before = cfg;
    const char *const keys[] = {"nosuch", "", "Port", "PORT", "port ", "log-level", "listen_"};
    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        ck_assert_int_eq(config_set(&cfg, keys[i], "1", err, sizeof err), -1);
        char want[64];
        snprintf(want, sizeof want, "unknown key '%s'", keys[i]);
        ck_assert_str_eq(err, want);
    }
    assert_config_eq(&cfg, &before);
}
END_TEST

START_TEST(test_small_error_buffer)
{
    struct ftpd_config cfg;
    char err[8];
    config_defaults(&cfg);
    ck_assert_int_eq(config_set(&cfg, "port", "99999", err, sizeof err), -1);
    ck_assert_str_eq(err, "key 'po");
    ck_assert_int_eq(config_set(&cfg, "port", "x", NULL, 0), -1);
}
END_TEST

/* ---- cross-key checks ------------------------------------------------------ */

static const struct validate_case {
    int pasv_min, pasv_max, nlisten;
    const char *err; /* NULL = valid */
} validate_cases[] = {
    {0, 0, 1, NULL},
    {50000, 50100, 1, NULL},
    {50000, 50000, 1, NULL},
    {1, 65535, 8, NULL},
    {50100, 50000, 1, "pasv_min_port (50100) is greater than pasv_max_port (50000)"},
    {50000, 0, 1, "pasv_min_port (50000) and pasv_max_port (0) must both be 0"},
    {0, 50000, 1, "pasv_min_port (0) and pasv_max_port (50000) must both be 0"},
    {0, 0, 0, "key 'listen': no address to listen on"},
};

START_TEST(test_validate)
{
    const struct validate_case *c = &validate_cases[_i];
    struct ftpd_config cfg;
    char err[256];
    config_defaults(&cfg);
    cfg.pasv_min_port = c->pasv_min;
    cfg.pasv_max_port = c->pasv_max;
    cfg.nlisten = c->nlisten;
    int rc = config_validate(&cfg, err, sizeof err);
    if (c->err == NULL) {
        ck_assert_msg(rc == 0, "%s", err);
    } else {
        ck_assert_int_eq(rc, -1);
        ck_assert_msg(strncmp(err, c->err, strlen(c->err)) == 0, "got \"%s\"", err);
    }
}
END_TEST

/* The prefork pool's spare range must be a range. */
START_TEST(test_validate_spare_workers)
{
    struct ftpd_config cfg;
    char err[256];
    config_defaults(&cfg);
    ck_assert_int_eq(cfg.min_spare_workers, 5);
    ck_assert_int_eq(cfg.max_spare_workers, 10);
    ck_assert_int_eq(cfg.max_workers, 256);
    cfg.min_spare_workers = cfg.max_spare_workers = 7;
    ck_assert_msg(config_validate(&cfg, err, sizeof err) == 0, "%s", err);
    cfg.min_spare_workers = 8;
    ck_assert_int_eq(config_validate(&cfg, err, sizeof err), -1);
    ck_assert_str_eq(err, "min_spare_workers (8) is greater than max_spare_workers (7)");
}
END_TEST

/* PROXY protocol keys: values, and what they need together. */
START_TEST(test_proxy_keys)
{
    struct ftpd_config cfg;
    char err[256];
    config_defaults(&cfg);
    ck_assert_int_eq(cfg.proxy_protocol, PROXY_OFF);
    ck_assert_int_eq(cfg.proxy_timeout, 3);
    ck_assert_int_eq(config_set(&cfg, "proxy_protocol", "v3", err, sizeof err), -1);
    ck_assert_str_eq(err, "key 'proxy_protocol': 'v3' is not off, v1, v2 or any");
    ck_assert_int_eq(config_set(&cfg, "proxy_protocol_data", "yes", err, sizeof err), 0);
    ck_assert_int_eq(config_validate(&cfg, err, sizeof err), -1);
    ck_assert_str_eq(err, "proxy_protocol_data = yes needs proxy_protocol");
    ck_assert_int_eq(config_set(&cfg, "proxy_protocol", "v2", err, sizeof err), 0);
    ck_assert_int_eq(cfg.proxy_protocol, PROXY_V2);
    ck_assert_int_eq(config_validate(&cfg, err, sizeof err), -1);
    ck_assert_str_eq(err, "proxy_protocol needs proxy_trusted (the balancers' addresses)");
    ck_assert_int_eq(config_set(&cfg, "proxy_trusted", "10.0.0.0/8, ::1", err, sizeof err), 0);
    ck_assert_int_eq(cfg.nproxy_trusted, 2);
    ck_assert_int_eq(cfg.proxy_trusted[0].bits, 8);
    ck_assert_int_eq(config_validate(&cfg, err, sizeof err), 0);
    /* A bad list leaves the old one. */
    ck_assert_int_eq(config_set(&cfg, "proxy_trusted", "10.0.0.0/33", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "key 'proxy_trusted': '10.0.0.0/33' is not a list") == err, "%s",
                  err);
    ck_assert_int_eq(cfg.nproxy_trusted, 2);
    ck_assert_int_eq(config_set(&cfg, "proxy_protocol", "any", err, sizeof err), 0);
    ck_assert_int_eq(cfg.proxy_protocol, PROXY_ANY);
    ck_assert_int_eq(config_set(&cfg, "proxy_timeout", "0", err, sizeof err), -1);
}
END_TEST

/* ---- the file -------------------------------------------------------------- */

START_TEST(test_file_every_key)
{
    struct ftpd_config cfg;
    char err[512];
    config_defaults(&cfg);
    const char *text = "# comment\n"
                       "; another comment\n"
                       "\n"
                       "listen = 0.0.0.0, ::\n"
                       "port=2222\n"
                       "arch = serial\n"
                       "workers = 4\n"
                       "threads = 8\n"
                       "root = /srv/ftp ; inline comment\n"
                       "anonymous = no\n"
                       "write_enable = YES\n"
                       "max_clients = 10\n"
                       "max_per_ip = 0\n"
                       "idle_timeout = 30\n"
                       "data_timeout = 20\n"
                       "shutdown_grace = 0\n"
                       "pasv_min_port = 50000\n"
                       "pasv_max_port = 50010\n"
                       "pasv_address = 203.0.113.7\n"
                       "banner =   Hello there.  \n"
                       "max_rate_download = 1M\n"
                       "max_rate_upload = 512Ki\n"
                       "max_rate_total = 250000\n"
                       "log_level: debug\r\n";
    ck_assert_msg(load_text(&cfg, text, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(cfg.nlisten, 2);
    ck_assert_str_eq(cfg.listen[0], "0.0.0.0");
    ck_assert_str_eq(cfg.listen[1], "::");
    ck_assert_int_eq(cfg.port, 2222);
    ck_assert_str_eq(cfg.arch, "serial");
    ck_assert_int_eq(cfg.workers, 4);
    ck_assert_int_eq(cfg.threads, 8);
    ck_assert_str_eq(cfg.root, "/srv/ftp");
    ck_assert(!cfg.anonymous);
    ck_assert(cfg.write_enable);
    ck_assert_int_eq(cfg.max_clients, 10);
    ck_assert_int_eq(cfg.max_per_ip, 0);
    ck_assert_int_eq(cfg.idle_timeout, 30);
    ck_assert_int_eq(cfg.data_timeout, 20);
    ck_assert_int_eq(cfg.shutdown_grace, 0);
    ck_assert_int_eq(cfg.pasv_min_port, 50000);
    ck_assert_int_eq(cfg.pasv_max_port, 50010);
    ck_assert_str_eq(cfg.pasv_address, "203.0.113.7");
    ck_assert_str_eq(cfg.banner, "Hello there.");
    ck_assert_int_eq(cfg.log_level, LOG_LVL_DEBUG);
    ck_assert_uint_eq(cfg.max_rate_download, 1000000);
    ck_assert_uint_eq(cfg.max_rate_upload, 512 * 1024);
    ck_assert_uint_eq(cfg.max_rate_total, 250000);
    /* the write commands exist: write_enable and anonymous_write are valid */
    ck_assert_int_eq(config_validate(&cfg, err, sizeof err), 0);
    cfg.anonymous_write = true;
    ck_assert_int_eq(config_validate(&cfg, err, sizeof err), 0);
}
END_TEST

START_TEST(test_file_empty_and_later_wins)
{
    struct ftpd_config cfg, defaults;
    char err[512];
    config_defaults(&cfg);
    config_defaults(&defaults);
    ck_assert_int_eq(load_text(&cfg, "", err, sizeof err), 0);
    assert_config_eq(&cfg, &defaults);
    ck_assert_int_eq(load_text(&cfg, "# only a comment\n\n", err, sizeof err), 0);
    assert_config_eq(&cfg, &defaults);
    ck_assert_int_eq(load_text(&cfg, "port = 1\nport = 2", err, sizeof err), 0);
    ck_assert_int_eq(cfg.port, 2);
    /* The file sets over what is there, not over the defaults. */
    cfg.threads = 7;
    ck_assert_int_eq(load_text(&cfg, "port = 3\n", err, sizeof err), 0);
    ck_assert_int_eq(cfg.threads, 7);
}
END_TEST

/* The line of the 'arch' key, for main() to report an unknown name. */
START_TEST(test_file_arch_origin)
{
    struct ftpd_config cfg;
    struct config_origin origin;
    char err[512];
    config_defaults(&cfg);
    ck_assert_int_eq(load_text_origin(&cfg, "port = 21\n", &origin, err, sizeof err), 0);
    ck_assert_int_eq(origin.arch_line, 0);
    ck_assert_int_eq(load_text_origin(&cfg, "\n# c\narch = nosuch\n", &origin, err, sizeof err), 0);
    ck_assert_str_eq(cfg.arch, "nosuch");
    ck_assert_int_eq(origin.arch_line, 3);
    ck_assert_int_eq(load_text_origin(&cfg, "arch = serial\nport = 1\narch = hybrid\n", &origin,
                                      err, sizeof err),
                     0);
    ck_assert_str_eq(cfg.arch, "hybrid");
    ck_assert_int_eq(origin.arch_line, 3);
}
END_TEST

/* Files that fail: the whole message, with the path shown as FILE. */
static const struct file_case {
    const char *text;
    const char *err;
} file_cases[] = {
    {"port = 21\nworkers = 2\nport = 99999\n",
     "FILE:3: key 'port': '99999' is not a port number (1-65535)"},
    {"threads = 12x\n", "FILE:1: key 'threads': '12x' is not an integer"},
    {"\n\n# c\nthreads = -1\n", "FILE:4: key 'threads': '-1' is out of range (1-4096)"},
    {"max_clients = 99999999999999999999\n",
     "FILE:1: key 'max_clients': '99999999999999999999' is out of range (1-1000000)"},
    {"anonymous = maybe\n",
     "FILE:1: key 'anonymous': 'maybe' is not a boolean (yes/no, true/false, on/off, 1/0)"},
    {"port = 21\nfrobnicate = 1\n", "FILE:2: unknown key 'frobnicate'"},
    {"port = 21\nthis line has no equals sign\n", "FILE:2: syntax error"},
    {"port = 21\n[server]\nport = 22\n",
     "FILE:2: '[server]': sections are not supported, every key goes outside any section"},
    {"port = 21\n  [server]\n", "FILE:2: '[server]': sections are not supported"},
    {"[server]\n", "FILE:1: '[server]': sections are not supported"},
    {"[broken\n", "FILE:1: '[broken': sections are not supported"},
    /* the first error stops the parse, whichever kind it is */
    {"port = x\nnot a pair\n", "FILE:1: key 'port': 'x' is not a port number"},
    {"not a pair\nport = x\n", "FILE:1: syntax error"},
    {"a\nb\nc\n", "FILE:1: syntax error"},
    {"port = 21\nport = x\n[s]\n", "FILE:2: key 'port': 'x' is not a port number"},
    /* an indented line stands alone, it does not continue the previous value */
    {"banner = one\n  two\n", "FILE:2: syntax error"},
    {"listen = ::1\n  port = x\n", "FILE:2: key 'port': 'x' is not a port number"},
    /* line endings and the last line */
    {"port = 21\r\nport = 1 2\r\n", "FILE:2: key 'port': '1 2' is not a port number"},
    {"port = 21\nport = 0x15", "FILE:2: key 'port': '0x15' is not a port number"},
    {"listen = 1.2.3.4, nope\n",
     "FILE:1: key 'listen': 'nope' is not a numeric IPv4 or IPv6 address"},
    {"pasv_address = ::1\n", "FILE:1: key 'pasv_address': '::1' is not a numeric IPv4 address"},
    {"log_level = loud\n", "FILE:1: key 'log_level': 'loud' is not a log level"},
    {"arch =\n", "FILE:1: key 'arch': must not be empty"},
    {"root =\n", "FILE:1: key 'root': must not be empty"},
};

START_TEST(test_file_errors)
{
    const struct file_case *c = &file_cases[_i];
    struct ftpd_config cfg, before;
    char err[512];
    config_defaults(&cfg);
    cfg.threads = 3; /* not a default: a failed load must keep it */
    before = cfg;
    ck_assert_int_eq(load_text(&cfg, c->text, err, sizeof err), -1);
    ck_assert_msg(strncmp(err, c->err, strlen(c->err)) == 0, "got  \"%s\"\nwant \"%s...\"", err,
                  c->err);
    assert_config_eq(&cfg, &before);
}
END_TEST

START_TEST(test_file_long_line)
{
    struct ftpd_config cfg;
    char err[512], text[1024];
    config_defaults(&cfg);
    /* inih reads at most INI_MAX_LINE (200) bytes per line, newline included. */
    snprintf(text, sizeof text, "port = 21\nbanner = %0*d\n", 198 - 9, 0);
    ck_assert_msg(load_text(&cfg, text, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(strlen(cfg.banner), 198 - 9);

    snprintf(text, sizeof text, "port = 21\nbanner = %0*d\nport = 22\n", 199 - 9, 0);
    ck_assert_int_eq(load_text(&cfg, text, err, sizeof err), -1);
    ck_assert_str_eq(err, "FILE:2: line too long (at most 198 characters)");

    char comment[400];
    memset(comment, '#', sizeof comment - 1);
    comment[sizeof comment - 1] = '\0';
    snprintf(text, sizeof text, "%s\nport = 22\n", comment);
    ck_assert_int_eq(load_text(&cfg, text, err, sizeof err), -1);
    ck_assert_str_eq(err, "FILE:1: line too long (at most 198 characters)");

    /* exactly 199 characters on a last line without newline fits */
    snprintf(text, sizeof text, "banner = %0*d", 199 - 9, 0);
    ck_assert_msg(load_text(&cfg, text, err, sizeof err) == 0, "%s", err);
}
END_TEST

START_TEST(test_file_missing)
{
    struct ftpd_config cfg;
    char err[512];
    config_defaults(&cfg);
    const char *path = "/tmp/ftpd-test-config-does-not-exist";
    unlink(path);
    ck_assert_int_eq(config_load_file(&cfg, path, NULL, err, sizeof err), -1);
    ck_assert_str_eq(err, "/tmp/ftpd-test-config-does-not-exist: cannot open: No such file or "
                          "directory");
}
END_TEST

START_TEST(test_file_is_directory)
{
    struct ftpd_config cfg;
    char err[512];
    config_defaults(&cfg);
    ck_assert_int_eq(config_load_file(&cfg, "/tmp", NULL, err, sizeof err), -1);
    ck_assert_msg(strncmp(err, "/tmp: cannot ", 13) == 0, "got \"%s\"", err);
}
END_TEST

/* conf/ftpd.conf loads, sets every key, and changes nothing. */
START_TEST(test_shipped_conf)
{
    char path[FTPD_PATH_MAX];
    const char *src = __FILE__; /* .../tests/unit/test_config.c */
    const char *tail = strstr(src, "tests/unit/test_config.c");
    ck_assert_ptr_nonnull(tail);
    snprintf(path, sizeof path, "%.*sconf/ftpd.conf", (int)(tail - src), src);

    struct ftpd_config cfg, defaults;
    char err[512];
    config_defaults(&defaults);
    config_defaults(&cfg);
    ck_assert_msg(config_load_file(&cfg, path, NULL, err, sizeof err) == 0, "%s", err);
    assert_config_eq(&cfg, &defaults);
    ck_assert_int_eq(config_validate(&cfg, err, sizeof err), 0);

    /* Every key is written out: starting from odd values, all come back. */
    memset(&cfg, 0, sizeof cfg);
    cfg.log_level = LOG_LVL_DEBUG;
    ck_assert_msg(config_load_file(&cfg, path, NULL, err, sizeof err) == 0, "%s", err);
    assert_config_eq(&cfg, &defaults);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("config");

    TCase *tc = tcase_create("keys");
    tcase_add_test(tc, test_defaults);
    tcase_add_loop_test(tc, test_int_key, 0, ARRAY_LEN(int_keys));
    tcase_add_test(tc, test_port_message);
    tcase_add_test(tc, test_proxy_keys);
    tcase_add_test(tc, test_choice_keys);
    tcase_add_loop_test(tc, test_bool_keys, 0, ARRAY_LEN(bool_cases));
    tcase_add_loop_test(tc, test_listen, 0, ARRAY_LEN(listen_cases));
    tcase_add_loop_test(tc, test_string_keys, 0, ARRAY_LEN(str_cases));
    tcase_add_test(tc, test_log_level_values);
    tcase_add_test(tc, test_length_limits);
    tcase_add_test(tc, test_arch);
    tcase_add_test(tc, test_rate_keys);
    tcase_add_test(tc, test_unknown_key);
    tcase_add_test(tc, test_small_error_buffer);
    tcase_add_loop_test(tc, test_validate, 0, ARRAY_LEN(validate_cases));
    suite_add_tcase(s, tc);

    tc = tcase_create("file");
    tcase_add_test(tc, test_file_every_key);
    tcase_add_test(tc, test_file_empty_and_later_wins);
    tcase_add_test(tc, test_file_arch_origin);
    tcase_add_loop_test(tc, test_file_errors, 0, ARRAY_LEN(file_cases));
    tcase_add_test(tc, test_file_long_line);
    tcase_add_test(tc, test_file_missing);
    tcase_add_test(tc, test_file_is_directory);
    tcase_add_test(tc, test_shipped_conf);
    tcase_add_test(tc, test_validate_spare_workers);
    suite_add_tcase(s, tc);

    return s;
}

UNIT_MAIN()
