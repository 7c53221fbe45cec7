/* The daemon's configuration: defaults, INI file (inih), command-line
 * overrides. Built once in main(), read-only afterwards and shared by every
 * back-end, thread and process. */
#ifndef FTPD_CONFIG_H
#define FTPD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "ftpd/limits.h"
#include "ftpd/log.h"

#define FTPD_ARCH_NAME_MAX 16

struct ftpd_config {
    char listen[FTPD_LISTEN_MAX][64]; /* numeric addresses, v4 or v6 */
    int nlisten;
    int port;
    char arch[FTPD_ARCH_NAME_MAX];
    int workers;           /* prefork/hybrid processes; 0 = number of CPUs */
    int threads;           /* threadpool size */
    bool threadpool_queue; /* threadpool_dispatch = queue: one acceptor feeds a queue */
    bool hybrid_reuseport; /* hybrid_balance = reuseport: a SO_REUSEPORT set per worker */
    char root[FTPD_PATH_MAX];
    bool anonymous;
    bool write_enable;
    int max_clients;
    int max_per_ip;
    int idle_timeout;   /* seconds */
    int data_timeout;   /* seconds */
    int shutdown_grace; /* seconds */
    int pasv_min_port;  /* 0 and 0: any port the kernel picks */
    int pasv_max_port;
    char pasv_address[64]; /* numeric IPv4 advertised in PASV; "" = local address */
    char banner[FTPD_BANNER_MAX];
    enum log_level log_level;
    int listing_cache_ttl; /* seconds a cached listing may be served; 0 = no cache */
};

/* Defaults: serve "." read-only to anonymous users on 127.0.0.1:2121. */
void config_defaults(struct ftpd_config *cfg);

/* Parse an INI file over cfg. On error returns -1 and writes
 * "FILE:LINE: key 'K': what is wrong" (or "FILE: reason") into err. */
int config_load_file(struct ftpd_config *cfg, const char *path, char *err, size_t errlen);

/* Set one key from text, as the file and the command line do. */
int config_set(struct ftpd_config *cfg, const char *key, const char *value, char *err,
               size_t errlen);

/* Cross-key checks (port range order, ...). */
int config_validate(const struct ftpd_config *cfg, char *err, size_t errlen);

#endif
