/* The configuration parser: one setter per key, and the INI file.
 *
 * config_set() is the only place a key is parsed and checked; the file
 * loader and the command line both go through it, so a value means the same
 * thing wherever it comes from. Every setter leaves the config untouched when
 * it fails. */
#include "ftpd/config_file.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "ftpd/hostport.h"
#include "ftpd/rate.h"

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
                                                      ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- one setter per kind of value ---------------------------------------- */

struct key;
typedef int (*setter_fn)(struct ftpd_config *cfg, const struct key *k, const char *value, char *err,
                         size_t errlen);

struct key {
    const char *name;
    setter_fn set;
    size_t offset;    /* of the field in struct ftpd_config */
    int min, max;     /* integers only */
    const char *hint; /* integers only: shown with a bad value; NULL = "min-max" */
};

static int *int_field(struct ftpd_config *cfg, const struct key *k)
{
    return (int *)(void *)((char *)cfg + k->offset);
}

static bool *bool_field(struct ftpd_config *cfg, const struct key *k)
{
    return (bool *)(void *)((char *)cfg + k->offset);
}

enum int_parse { INT_OK, INT_NOT_NUMBER, INT_OUT_OF_RANGE };

/* Decimal only, optional leading '-', nothing before or after the digits. */
static enum int_parse parse_int(const char *s, int min, int max, int *out)
{
    const char *digits = s[0] == '-' ? s + 1 : s;
    if (!isdigit((unsigned char)digits[0]))
        return INT_NOT_NUMBER;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end != '\0')
        return INT_NOT_NUMBER;
    if (errno == ERANGE || v < min || v > max)
        return INT_OUT_OF_RANGE;
    *out = (int)v;
    return INT_OK;
}

static int set_int(struct ftpd_config *cfg, const struct key *k, const char *value, char *err,
                   size_t errlen)
{
    int v;
    switch (parse_int(value, k->min, k->max, &v)) {
    case INT_OK:
        *int_field(cfg, k) = v;
        return 0;
    case INT_NOT_NUMBER:
        return fail(err, errlen, "key '%s': '%s' is not an integer", k->name, value);
    case INT_OUT_OF_RANGE:
    default:
        if (k->hint != NULL)
            return fail(err, errlen, "key '%s': '%s' is out of range (%s)", k->name, value,
                        k->hint);
        return fail(err, errlen, "key '%s': '%s' is out of range (%d-%d)", k->name, value, k->min,
                    k->max);
    }
}

static int set_port(struct ftpd_config *cfg, const struct key *k, const char *value, char *err,
                    size_t errlen)
{
    int v;
    if (parse_int(value, k->min, k->max, &v) != INT_OK)
        return fail(err, errlen, "key '%s': '%s' is not a port number (%s)", k->name, value,
                    k->hint);
    *int_field(cfg, k) = v;
    return 0;
}

static int set_bool(struct ftpd_config *cfg, const struct key *k, const char *value, char *err,
                    size_t errlen)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(value, yes[i]) == 0) {
            *bool_field(cfg, k) = true;
            return 0;
        }
        if (strcasecmp(value, no[i]) == 0) {
            *bool_field(cfg, k) = false;
            return 0;
        }
    }
    return fail(err, errlen, "key '%s': '%s' is not a boolean (yes/no, true/false, on/off, 1/0)",
                k->name, value);
}

/* An address in binary form, to spot the same address written twice. */
struct ip_bin {
    int family;
    unsigned char bytes[16];
};

static int parse_ip(const char *text, struct ip_bin *out)
{
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, text, out->bytes) == 1)
        out->family = AF_INET;
    else if (inet_pton(AF_INET6, text, out->bytes) == 1)
        out->family = AF_INET6;
    else
        return -1;
    return 0;
}

/* "127.0.0.1" or "0.0.0.0, ::" - numeric addresses, comma-separated. */
static int set_listen(struct ftpd_config *cfg, const struct key *k, const char *value, char *err,
                      size_t errlen)
{
    char list[FTPD_LISTEN_MAX][sizeof cfg->listen[0]];
    struct ip_bin bin[FTPD_LISTEN_MAX];
    int n = 0;
    const char *p = value;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma != NULL ? comma : p + strlen(p);
        while (p < end && isspace((unsigned char)*p))
            p++;
        while (end > p && isspace((unsigned char)end[-1]))
            end--;
        size_t len = (size_t)(end - p);
        if (len == 0)
            return fail(err, errlen, "key '%s': empty address in '%s'", k->name, value);
        if (n == FTPD_LISTEN_MAX)
            return fail(err, errlen, "key '%s': too many addresses (at most %d)", k->name,
                        FTPD_LISTEN_MAX);
        if (len >= sizeof list[0])
            return fail(err, errlen, "key '%s': '%.*s' is not a numeric IPv4 or IPv6 address",
                        k->name, (int)len, p);
        memcpy(list[n], p, len);
        list[n][len] = '\0';
        if (parse_ip(list[n], &bin[n]) != 0)
            return fail(err, errlen, "key '%s': '%s' is not a numeric IPv4 or IPv6 address",
                        k->name, list[n]);
        for (int i = 0; i < n; i++) {
            if (memcmp(&bin[i], &bin[n], sizeof bin[n]) == 0)
                return fail(err, errlen, "key '%s': address '%s' is listed twice", k->name,
                            list[n]);
        }
        n++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    memset(cfg->listen, 0, sizeof cfg->listen);
    memcpy(cfg->listen, list, (size_t)n * sizeof list[0]);
    cfg->nlisten = n;
    return 0;
}

/* A key whose value is one of two words, stored as a bool (true = second). */
/* A key whose value is one of the words in hint ("a\0b\0c\0"), stored as
 * the word's index in an enum field. */
static int set_enum(struct ftpd_config *cfg, const struct key *k, const char *value, char *err,
                    size_t errlen)
{
    int i = 0;
    for (const char *w = k->hint; *w != '\0'; w += strlen(w) + 1, i++) {
        if (strcmp(value, w) == 0) {
            *int_field(cfg, k) = i;
            return 0;
        }
    }
    char words[128] = "";
    size_t used = 0;
    for (const char *w = k->hint; *w != '\0' && used < sizeof words; w += strlen(w) + 1) {
        const char *next = w + strlen(w) + 1;
        const char *sep = used == 0 ? "" : *next == '\0' ? " or " : ", ";
        int n = snprintf(words + used, sizeof words - used, "%s%s", sep, w);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return fail(err, errlen, "key '%s': '%s' is not %s", k->name, value, words);
}

static int set_choice(struct ftpd_config *cfg, const struct key *k, const char *value, char *err,
                      size_t errlen)
{
    const char *first = k->hint, *second = k->hint + strlen(k->hint) + 1;
    if (strcmp(value, first) == 0 || strcmp(value, second) == 0) {
        *bool_field(cfg, k) = strcmp(value, second) == 0;
        return 0;
    }
    return fail(err, errlen, "key '%s': '%s' is not %s or %s", k->name, value, first, second);
}

/* Only the shape of the name is checked here: the back-end registry lives
 * above the parser (in arch/), so main() looks the name up. */
static int set_arch(struct ftpd_config *cfg, const struct key *k, const char *value, char *err,
                    size_t errlen)
{
    size_t len = strlen(value);
    if (len == 0)
        return fail(err, errlen, "key '%s': must not be empty", k->name);
    if (len >= sizeof cfg->arch)
        return fail(err, errlen, "key '%s': unknown arch '%s' (names are at most %zu bytes)",
                    k->name, value, sizeof cfg->arch - 1);
    memcpy(cfg->arch, value, len + 1);
    return 0;
}

/* A path of at most FTPD_PATH_MAX - 1 bytes; empty only where k->min is 0. */
static int set_path(struct ftpd_config *cfg, const struct key *k, const char *value, char *err,
                    size_t errlen)
{
    size_t len = strlen(value);
    if (len == 0 && k->min > 0)
        return fail(err, errlen, "key '%s': must not be empty", k->name);
    if (len >= FTPD_PATH_MAX)
        return fail(err, errlen, "key '%s': path too long (at most %d bytes)", k->name,
                    FTPD_PATH_MAX - 1);
    memcpy((char *)cfg + k->offset, value, len + 1);
    return 0;
}

/* An octal mode such as 022 or 0077. */
static int set_octal(struct ftpd_config *cfg, const struct key *k, const char *value, char *err,
                     size_t errlen)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 8);
    if (*value == '\0' || *end != '\0' || errno != 0 || v < k->min || v > k->max)
        return fail(err, errlen, "key '%s': '%s' is not an octal mode (%s)", k->name, value,
                    k->hint);
    *int_field(cfg, k) = (int)v;
    return 0;
}

static int set_pasv_address(struct ftpd_config *cfg, const struct key *k, const char *value,
                            char *err, size_t errlen)
{
    struct in_addr a;
    size_t len = strlen(value);
    if (len > 0 && (len >= sizeof cfg->pasv_address || inet_pton(AF_INET, value, &a) != 1))
        return fail(err, errlen, "key '%s': '%s' is not a numeric IPv4 address (or empty)", k->name,
                    value);
    memcpy(cfg->pasv_address, value, len + 1);
    return 0;
}

/* The banner goes out in the 220 reply: one line of text, no control bytes,
 * so nothing can forge a second reply line. */
static int set_banner(struct ftpd_config *cfg, const struct key *k, const char *value, char *err,
                      size_t errlen)
{
    size_t len = strlen(value);
    if (len == 0)
        return fail(err, errlen, "key '%s': must not be empty", k->name);
    if (len >= sizeof cfg->banner)
        return fail(err, errlen, "key '%s': too long (at most %zu bytes)", k->name,
                    sizeof cfg->banner - 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c < 0x20 || c == 0x7f)
            return fail(err, errlen,
                        "key '%s': control character at offset %zu (printable text only, one "
                        "line)",
                        k->name, i);
    }
    memcpy(cfg->banner, value, len + 1);
    return 0;
}

static int set_log_level(struct ftpd_config *cfg, const struct key *k, const char *value, char *err,
                         size_t errlen)
{
    enum log_level level;
    if (log_parse_level(value, &level) != 0)
        return fail(err, errlen, "key '%s': '%s' is not a log level (error|warn|info|debug)",
                    k->name, value);
    cfg->log_level = level;
    return 0;
}

/* Bandwidth caps: bytes per second, with K/M/G (powers of 1000) or
 * Ki/Mi/Gi (powers of 1024) after the number (rate_parse). */
static int set_rate(struct ftpd_config *cfg, const struct key *k, const char *value, char *err,
                    size_t errlen)
{
    uint64_t v;
    if (rate_parse(value, &v) != 0)
        return fail(err, errlen,
                    "key '%s': '%s' is not a rate (bytes/s, e.g. 500000, 512K, 1M, 2Mi; 0 = "
                    "unlimited; at most 1000G)",
                    k->name, value);
    *(uint64_t *)(void *)((char *)cfg + k->offset) = v;
    return 0;
}

/* FTPS: tls = off | optional | required. */
static int set_tls_mode(struct ftpd_config *cfg, const struct key *k, const char *value, char *err,
                        size_t errlen)
{
    static const char *const names[] = {"off", "optional", "required"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(value, names[i]) == 0) {
            cfg->tls = (enum tls_mode)i;
            return 0;
        }
    }
    return fail(err, errlen, "key '%s': '%s' is not off, optional or required", k->name, value);
}

/* A non-empty string of at most k->max - 1 bytes. */
static int set_string(struct ftpd_config *cfg, const struct key *k, const char *value, char *err,
                      size_t errlen)
{
    size_t len = strlen(value);
    if (len == 0)
        return fail(err, errlen, "key '%s': must not be empty", k->name);
    if (len >= (size_t)k->max)
        return fail(err, errlen, "key '%s': too long (at most %d bytes)", k->name, k->max - 1);
    memcpy((char *)cfg + k->offset, value, len + 1);
    return 0;
}

/* PROXY protocol: proxy_trusted = CIDR[, CIDR...]. */
static int set_proxy_trusted(struct ftpd_config *cfg, const struct key *k, const char *value,
                             char *err, size_t errlen)
{
    struct cidr list[FTPD_PROXY_TRUSTED_MAX];
    int n = cidr_parse_list(value, list, FTPD_PROXY_TRUSTED_MAX);
    if (n < 0)
        return fail(err, errlen,
                    "key '%s': '%s' is not a list of at most %d addresses or ranges "
                    "(e.g. 10.0.0.0/8, ::1)",
                    k->name, value, FTPD_PROXY_TRUSTED_MAX);
    memcpy(cfg->proxy_trusted, list, sizeof list);
    cfg->nproxy_trusted = n;
    return 0;
}

/* run_as_user: a user name, or empty (ftp when started as root). Only the
 * shape is checked here; main() looks the user up. */
static int set_user_name(struct ftpd_config *cfg, const struct key *k, const char *value, char *err,
                         size_t errlen)
{
    size_t len = strlen(value);
    if (len >= sizeof cfg->run_as_user)
        return fail(err, errlen, "key '%s': too long (at most %zu bytes)", k->name,
                    sizeof cfg->run_as_user - 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c <= 0x20 || c == 0x7f || c == ':' || c == '/')
            return fail(err, errlen, "key '%s': '%s' is not a user name", k->name, value);
    }
    memcpy(cfg->run_as_user, value, len + 1);
    return 0;
}

/* metrics_listen: "ADDR:PORT" (IPv6 in brackets), or empty for off. */
static int set_hostport(struct ftpd_config *cfg, const struct key *k, const char *value, char *err,
                        size_t errlen)
{
    union sockaddr_any addr;
    size_t len = strlen(value);
    if (len > 0 && (len >= sizeof cfg->metrics_listen || hostport_parse(value, &addr) != 0))
        return fail(err, errlen,
                    "key '%s': '%s' is not a numeric ADDR:PORT (127.0.0.1:9100, [::1]:9100)",
                    k->name, value);
    memcpy((char *)cfg + k->offset, value, len + 1);
    return 0;
}

#define FIELD(f) offsetof(struct ftpd_config, f)

/* Every key, in the order conf/ftpd.conf documents them. */
static const struct key keys[] = {
    {"listen", set_listen, FIELD(listen), 0, 0, NULL},
    {"port", set_port, FIELD(port), 0, 65535, "1-65535"},
    {"arch", set_arch, FIELD(arch), 0, 0, NULL},
    {"workers", set_int, FIELD(workers), 0, 1024, "0-1024, 0 = number of CPUs"},
    {"threads", set_int, FIELD(threads), 1, 4096, NULL},
    {"threadpool_dispatch", set_enum, FIELD(threadpool_dispatch), 0, 0, "event\0queue\0accept\0"},
    {"hybrid_balance", set_choice, FIELD(hybrid_reuseport), 0, 0, "shared\0reuseport"},
    {"root", set_path, FIELD(root), 1, 0, NULL},
    {"anonymous", set_bool, FIELD(anonymous), 0, 0, NULL},
    {"write_enable", set_bool, FIELD(write_enable), 0, 0, NULL},
    {"anonymous_write", set_bool, FIELD(anonymous_write), 0, 0, NULL},
    {"umask", set_octal, FIELD(umask), 0, 0777, "000-777"},
    {"upload_partial", set_choice, FIELD(upload_keep_partial), 0, 0, "delete\0keep"},
    {"users_file", set_path, FIELD(users_file), 0, 0, NULL},
    {"login_fail_delay", set_int, FIELD(login_fail_delay), 0, 60, "0-60 seconds"},
    {"max_login_fails", set_int, FIELD(max_login_fails), 1, 100, NULL},
    {"max_clients", set_int, FIELD(max_clients), 1, 1000000, NULL},
    {"max_per_ip", set_int, FIELD(max_per_ip), 0, 1000000, "0-1000000, 0 = unlimited"},
    {"idle_timeout", set_int, FIELD(idle_timeout), 1, 86400, NULL},
    {"data_timeout", set_int, FIELD(data_timeout), 1, 86400, NULL},
    {"shutdown_grace", set_int, FIELD(shutdown_grace), 0, 3600, NULL},
    {"listing_cache_ttl", set_int, FIELD(listing_cache_ttl), 0, 3600, "0-3600, 0 = off"},
    {"pasv_min_port", set_port, FIELD(pasv_min_port), 0, 65535, "0-65535"},
    {"pasv_max_port", set_port, FIELD(pasv_max_port), 0, 65535, "0-65535"},
    {"pasv_address", set_pasv_address, FIELD(pasv_address), 0, 0, NULL},
    {"banner", set_banner, FIELD(banner), 0, 0, NULL},
    {"log_level", set_log_level, FIELD(log_level), 0, 0, NULL},
    /* Bandwidth caps */
    {"max_rate_download", set_rate, FIELD(max_rate_download), 0, 0, NULL},
    {"max_rate_upload", set_rate, FIELD(max_rate_upload), 0, 0, NULL},
    {"max_rate_total", set_rate, FIELD(max_rate_total), 0, 0, NULL},
    /* The adaptive prefork pool. */
    {"min_spare_workers", set_int, FIELD(min_spare_workers), 0, 4096, NULL},
    {"max_spare_workers", set_int, FIELD(max_spare_workers), 1, 4096, NULL},
    {"max_workers", set_int, FIELD(max_workers), 1, 4096, NULL},
    /* FTPS (issue 11). */
    {"tls", set_tls_mode, FIELD(tls), 0, 0, NULL},
    {"tls_data", set_choice, FIELD(tls_data_required), 0, 0, "optional\0required"},
    {"tls_cert_file", set_path, FIELD(tls_cert_file), 0, 0, NULL},
    {"tls_key_file", set_path, FIELD(tls_key_file), 0, 0, NULL},
    {"tls_ciphers", set_string, FIELD(tls_ciphers), 0, FTPD_TLS_CIPHERS_MAX, NULL},
    {"tls_min_version", set_choice, FIELD(tls_min_13), 0, 0,
     "1.2\0"
     "1.3"},
    {"tls_require_reuse", set_bool, FIELD(tls_require_reuse), 0, 0, NULL},
    {"implicit_tls_port", set_port, FIELD(implicit_tls_port), 0, 65535, "0-65535, 0 = off"},
    {"tls_handshake_timeout", set_int, FIELD(tls_handshake_timeout), 1, 3600, NULL},
    /* PROXY protocol (issue 14). */
    {"proxy_protocol", set_enum, FIELD(proxy_protocol), 0, 0, "off\0v1\0v2\0any\0"},
    {"proxy_trusted", set_proxy_trusted, FIELD(proxy_trusted), 0, 0, NULL},
    {"proxy_timeout", set_int, FIELD(proxy_timeout), 1, 3600, NULL},
    {"proxy_protocol_data", set_bool, FIELD(proxy_protocol_data), 0, 0, NULL},
    /* System daemon (issue 13): privileges, logs, pid file. */
    {"run_as_user", set_user_name, FIELD(run_as_user), 0, 0, NULL},
    {"xferlog_file", set_path, FIELD(xferlog_file), 0, 0, NULL},
    {"log_target", set_path, FIELD(log_target), 1, 0, NULL},
    {"pid_file", set_path, FIELD(pid_file), 0, 0, NULL},
    /* Live upgrade (issue 12, SIGUSR2). */
    {"upgrade_drain_timeout", set_int, FIELD(upgrade_drain_timeout), 0, 86400, "0-86400 seconds"},
    /* ftpd --status and /metrics (issues 12 and 13). */
    {"control_socket", set_path, FIELD(control_socket), 0, 0, NULL},
    {"metrics_listen", set_hostport, FIELD(metrics_listen), 0, 0, NULL},
    /* Syscall filter (issue 15). */
    {"seccomp", set_enum, FIELD(seccomp), 0, 0, "no\0yes\0log\0"},
};

size_t config_key_count(void)
{
    return sizeof keys / sizeof keys[0];
}

const char *config_key_name(size_t i)
{
    return i < sizeof keys / sizeof keys[0] ? keys[i].name : NULL;
}

int config_set(struct ftpd_config *cfg, const char *key, const char *value, char *err,
               size_t errlen)
{
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strcmp(keys[i].name, key) == 0)
            return keys[i].set(cfg, &keys[i], value, err, errlen);
    }
    return fail(err, errlen, "unknown key '%s'", key);
}

int config_validate(const struct ftpd_config *cfg, char *err, size_t errlen)
{
    if (cfg->nlisten < 1)
        return fail(err, errlen, "key 'listen': no address to listen on");
    if ((cfg->pasv_min_port == 0) != (cfg->pasv_max_port == 0))
        return fail(err, errlen,
                    "pasv_min_port (%d) and pasv_max_port (%d) must both be 0 (any port) or "
                    "both be set",
                    cfg->pasv_min_port, cfg->pasv_max_port);
    if (cfg->pasv_min_port > cfg->pasv_max_port)
        return fail(err, errlen, "pasv_min_port (%d) is greater than pasv_max_port (%d)",
                    cfg->pasv_min_port, cfg->pasv_max_port);
    if (cfg->min_spare_workers > cfg->max_spare_workers)
        return fail(err, errlen, "min_spare_workers (%d) is greater than max_spare_workers (%d)",
                    cfg->min_spare_workers, cfg->max_spare_workers);
    /* FTPS: the certificate is read (and checked) by the TLS context at
     * start; here only what the keys say together. */
    if (cfg->tls != TLS_OFF && cfg->tls_cert_file[0] == '\0')
        return fail(err, errlen, "tls = %s needs tls_cert_file",
                    cfg->tls == TLS_REQUIRED ? "required" : "optional");
    if (cfg->implicit_tls_port != 0 && cfg->tls == TLS_OFF)
        return fail(err, errlen, "implicit_tls_port = %d needs tls = optional or required",
                    cfg->implicit_tls_port);
    if (cfg->implicit_tls_port != 0 && 2 * cfg->nlisten > FTPD_LISTEN_MAX)
        return fail(err, errlen,
                    "implicit_tls_port: at most %d listen addresses (each gets two listeners)",
                    FTPD_LISTEN_MAX / 2);
    if (cfg->implicit_tls_port != 0 && cfg->implicit_tls_port == cfg->port)
        return fail(err, errlen, "implicit_tls_port (%d) must differ from port",
                    cfg->implicit_tls_port);
    /* PROXY protocol: never on for everyone by default. */
    if (cfg->proxy_protocol != PROXY_OFF && cfg->nproxy_trusted == 0)
        return fail(err, errlen, "proxy_protocol needs proxy_trusted (the balancers' addresses)");
    if (cfg->proxy_protocol_data && cfg->proxy_protocol == PROXY_OFF)
        return fail(err, errlen, "proxy_protocol_data = yes needs proxy_protocol");
    return 0;
}

/* ---- the INI file --------------------------------------------------------- */

/* Debian's inih is built without INI_HANDLER_LINENO, so the handler is not
 * told the line. inih reads one line through the reader and then calls the
 * handler for it, so the reader counts lines and the handler reads the count.
 * The reader also stops the parse at the first error (inih itself goes on
 * after one), and turns the cases inih would misread into errors of ours. */
struct file_ctx {
    FILE *fp;
    struct ftpd_config *cfg;
    struct config_origin origin;
    int lineno;     /* lines read so far */
    int err_line;   /* line of our own error; 0 = none */
    int read_errno; /* fgets failed with this; 0 = none */
    char msg[512];  /* our own error, without "FILE:LINE: " */
};

static char *read_line(char *str, int num, void *stream)
{
    struct file_ctx *ctx = stream;
    if (ctx->err_line != 0)
        return NULL;
    errno = 0;
    if (fgets(str, num, ctx->fp) == NULL) {
        if (ferror(ctx->fp))
            ctx->read_errno = errno != 0 ? errno : EIO;
        return NULL;
    }
    ctx->lineno++;
    size_t len = strlen(str);
    /* inih would hand the rest of an over-long line back as a new line. */
    if (len == (size_t)num - 1 && str[len - 1] != '\n') {
        int c = getc(ctx->fp);
        if (c != EOF) {
            ctx->err_line = ctx->lineno;
            fail(ctx->msg, sizeof ctx->msg, "line too long (at most %d characters)", num - 2);
            return NULL;
        }
    }
    /* An indented line would be a continuation of the previous value in
     * inih; here every line stands on its own. */
    size_t indent = strspn(str, " \t");
    memmove(str, str + indent, len - indent + 1);
    if (str[0] == '[') {
        ctx->err_line = ctx->lineno;
        fail(ctx->msg, sizeof ctx->msg,
             "'%.*s': sections are not supported, every key goes outside any section",
             (int)strcspn(str, "\r\n"), str);
        return NULL;
    }
    return str;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    struct file_ctx *ctx = user;
    if (ctx->err_line != 0)
        return 0;
    if (section[0] != '\0') {
        ctx->err_line = ctx->lineno;
        fail(ctx->msg, sizeof ctx->msg,
             "'[%s]': sections are not supported, every key goes outside any section", section);
        return 0;
    }
    if (config_set(ctx->cfg, name, value, ctx->msg, sizeof ctx->msg) != 0) {
        ctx->err_line = ctx->lineno;
        return 0;
    }
    if (strcmp(name, "arch") == 0)
        ctx->origin.arch_line = ctx->lineno;
    return 1;
}

int config_load_file(struct ftpd_config *cfg, const char *path, struct config_origin *origin,
                     char *err, size_t errlen)
{
    FILE *fp = fopen(path, "re");
    if (fp == NULL)
        return fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));

    /* Parse into a copy: a file with an error changes nothing. */
    struct ftpd_config staged = *cfg;
    struct file_ctx ctx = {.fp = fp, .cfg = &staged};
    int rc = ini_parse_stream(read_line, &ctx, on_key, &ctx);
    fclose(fp);

    /* rc is the first line inih saw an error on: a syntax error there, or
     * the line on_key failed on. */
    if (rc > 0 && (ctx.err_line == 0 || rc < ctx.err_line))
        return fail(err, errlen, "%s:%d: syntax error", path, rc);
    if (ctx.err_line != 0)
        return fail(err, errlen, "%s:%d: %s", path, ctx.err_line, ctx.msg);
    if (ctx.read_errno != 0)
        return fail(err, errlen, "%s: cannot read: %s", path, strerror(ctx.read_errno));
    if (rc < 0)
        return fail(err, errlen, "%s: cannot parse: out of memory", path);
    *cfg = staged;
    if (origin != NULL)
        *origin = ctx.origin;
    return 0;
}
