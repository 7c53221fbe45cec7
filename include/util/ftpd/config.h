/* The daemon's configuration and its defaults. Built once in main() (the
 * INI parser, ftpd/config_file.h, fills it), read-only afterwards and shared
 * by every layer, back-end, thread and process. It lives in util/ so that
 * every layer can read it without depending on the parser. */
#ifndef FTPD_CONFIG_H
#define FTPD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ftpd/cidr.h"
#include "ftpd/limits.h"
#include "ftpd/log.h"

#define FTPD_ARCH_NAME_MAX 16

/* FTPS (tls = ...): off, AUTH TLS offered, or AUTH TLS required before
 * USER/PASS. */
enum tls_mode { TLS_OFF, TLS_OPTIONAL, TLS_REQUIRED };

struct ftpd_config {
    char listen[FTPD_LISTEN_MAX][64]; /* numeric addresses, v4 or v6 */
    int nlisten;
    int port;
    char arch[FTPD_ARCH_NAME_MAX];
    int workers; /* prefork/hybrid processes; 0 = number of CPUs */
    int threads; /* threadpool size */
    /* How threadpool hands sessions to its threads (threadpool_dispatch). */
    enum threadpool_dispatch {
        DISPATCH_EVENT,  /* parked in an event set between commands */
        DISPATCH_QUEUE,  /* one acceptor feeds a queue; a session holds its thread */
        DISPATCH_ACCEPT, /* every thread accepts; a session holds its thread */
    } threadpool_dispatch;
    bool hybrid_reuseport; /* hybrid_balance = reuseport: a SO_REUSEPORT set per worker */
    char root[FTPD_PATH_MAX];
    bool anonymous;
    bool write_enable;              /* off: no write command for anyone */
    bool anonymous_write;           /* anonymous may upload and MKD (never delete,
                                       rename or overwrite) */
    int umask;                      /* cleared from the mode of created files and
                                       directories */
    bool upload_keep_partial;       /* upload_partial = keep: a failed upload to a
                                       new name keeps what arrived */
    char users_file[FTPD_PATH_MAX]; /* accounts; "" = anonymous only */
    int login_fail_delay;           /* seconds before a failed login's 530 */
    int max_login_fails;            /* failed logins before the connection closes */
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

    /* Bandwidth caps (ftpd/rate.h), bytes per second, 0 = unlimited. */
    uint64_t max_rate_download; /* per session, server to client (RETR, listings) */
    uint64_t max_rate_upload;   /* per session, client to server (STOR, APPE, STOU) */
    uint64_t max_rate_total;    /* the whole server, shared by running transfers */

    /* The adaptive prefork pool (issue 10): `workers` are started, then the
     * master keeps min_spare..max_spare idle workers, max_workers in all. */
    int min_spare_workers;
    int max_spare_workers;
    int max_workers;

    /* FTPS (issue 11): explicit AUTH TLS, implicit TLS, PROT P data. */
    enum tls_mode tls;
    bool tls_data_required;                 /* tls_data = required: PROT C data gets 521 */
    char tls_cert_file[FTPD_PATH_MAX];      /* PEM: the certificate, then its chain */
    char tls_key_file[FTPD_PATH_MAX];       /* PEM private key; "" = in tls_cert_file */
    char tls_ciphers[FTPD_TLS_CIPHERS_MAX]; /* TLS 1.2 cipher list (OpenSSL syntax) */
    bool tls_min_13;                        /* tls_min_version = 1.3 (else 1.2) */
    bool tls_require_reuse;    /* a PROT P data connection must resume its control's session */
    int implicit_tls_port;     /* 0 = off */
    int tls_handshake_timeout; /* seconds */

    /* PROXY protocol (issue 14): behind a load balancer. On the control
     * listeners (and the implicit TLS port), a connection from a trusted
     * address must start with a PROXY header of an accepted version
     * (proxy_mode doubles as enum proxy_versions' mask); the header's
     * client address then stands for the peer everywhere. */
    enum proxy_mode { PROXY_OFF = 0, PROXY_V1 = 1, PROXY_V2 = 2, PROXY_ANY = 3 } proxy_protocol;
    struct cidr proxy_trusted[FTPD_PROXY_TRUSTED_MAX];
    int nproxy_trusted;
    int proxy_timeout; /* seconds for the whole header */
    /* Passive data connections carry a header too (checked against the
     * real client); off: they come from the balancer's address. */
    bool proxy_protocol_data;

    /* Running as a system daemon (issue 13): privileges, logs, pid file. */
    char run_as_user[FTPD_USER_NAME_MAX + 1]; /* "" = ftp when started as root */
    char xferlog_file[FTPD_PATH_MAX];         /* xferlog(5) lines; "" = off */
    char log_target[FTPD_PATH_MAX];           /* "stderr", "syslog" or a file */
    char pid_file[FTPD_PATH_MAX];             /* "" = none */
    /* Live upgrade (issue 12, SIGUSR2): how long the old generation lets
     * its sessions finish before the rest get 421. */
    int upgrade_drain_timeout; /* seconds */
    /* ftpd --status and /metrics (issues 12 and 13). */
    char control_socket[FTPD_PATH_MAX]; /* Unix socket (mode 0600) for --status; "" = off */
    char metrics_listen[64];            /* "ADDR:PORT" serving GET /metrics; "" = off */
    /* Syscall filter (issue 15, ftpd/sandbox.h): a seccomp-bpf allow-list
     * every process runs under once started. log: the kernel logs what
     * the list lacks and lets it run (development). */
    enum seccomp_mode { SECCOMP_NO, SECCOMP_YES, SECCOMP_LOG } seccomp;
};

/* Defaults: serve "." read-only to anonymous users on 127.0.0.1:2121. */
void config_defaults(struct ftpd_config *cfg);

#endif
