/* The defaults, apart from the parser so every layer can have them. */
#include "ftpd/config.h"

#include <stdio.h>
#include <string.h>

void config_defaults(struct ftpd_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->listen[0], sizeof cfg->listen[0], "%s", "127.0.0.1");
    cfg->nlisten = 1;
    cfg->port = FTPD_DEFAULT_PORT;
    snprintf(cfg->arch, sizeof cfg->arch, "%s", "reactor");
    cfg->workers = 0;
    cfg->threads = FTPD_DEFAULT_THREADS;
    cfg->threadpool_dispatch = DISPATCH_EVENT; /* serves max_clients with `threads`: README */
    snprintf(cfg->root, sizeof cfg->root, "%s", ".");
    cfg->anonymous = true;
    cfg->write_enable = false;
    cfg->anonymous_write = false;
    cfg->umask = 022;
    cfg->upload_keep_partial = true;
    cfg->users_file[0] = '\0';
    cfg->login_fail_delay = FTPD_DEFAULT_LOGIN_FAIL_DELAY;
    cfg->max_login_fails = FTPD_LOGIN_FAILS_MAX;
    cfg->max_clients = FTPD_DEFAULT_MAX_CLIENTS;
    cfg->max_per_ip = FTPD_DEFAULT_MAX_PER_IP;
    cfg->idle_timeout = FTPD_DEFAULT_IDLE_TIMEOUT;
    cfg->data_timeout = FTPD_DEFAULT_DATA_TIMEOUT;
    cfg->shutdown_grace = FTPD_DEFAULT_SHUTDOWN_GRACE;
    cfg->listing_cache_ttl = FTPD_DEFAULT_LISTING_CACHE_TTL;
    cfg->pasv_min_port = 0;
    cfg->pasv_max_port = 0;
    cfg->pasv_address[0] = '\0';
    snprintf(cfg->banner, sizeof cfg->banner, "%s", "ftpd ready.");
    cfg->log_level = LOG_LVL_INFO;
    /* Bandwidth caps: none. */
    cfg->max_rate_download = 0;
    cfg->max_rate_upload = 0;
    cfg->max_rate_total = 0;
    /* The adaptive prefork pool: see README "prefork". */
    cfg->min_spare_workers = FTPD_DEFAULT_MIN_SPARE_WORKERS;
    cfg->max_spare_workers = FTPD_DEFAULT_MAX_SPARE_WORKERS;
    cfg->max_workers = FTPD_DEFAULT_MAX_WORKERS;
    /* FTPS: off until a certificate is configured. */
    cfg->tls = TLS_OFF;
    cfg->tls_data_required = false;
    snprintf(cfg->tls_ciphers, sizeof cfg->tls_ciphers, "%s", FTPD_DEFAULT_TLS_CIPHERS);
    cfg->tls_min_13 = false;
    cfg->tls_require_reuse = true;
    cfg->implicit_tls_port = 0;
    cfg->tls_handshake_timeout = FTPD_DEFAULT_TLS_HANDSHAKE_TIMEOUT;
    /* PROXY protocol: off; no balancer is trusted until one is named. */
    cfg->proxy_protocol = PROXY_OFF;
    cfg->nproxy_trusted = 0;
    cfg->proxy_timeout = FTPD_DEFAULT_PROXY_TIMEOUT;
    cfg->proxy_protocol_data = false;
    /* System daemon (issue 13): run_as_user "" means ftp when started as
     * root (ftpd/privdrop.h); no transfer log, no pid file. */
    cfg->run_as_user[0] = '\0';
    cfg->xferlog_file[0] = '\0';
    snprintf(cfg->log_target, sizeof cfg->log_target, "%s", "stderr");
    cfg->pid_file[0] = '\0';
    /* Live upgrade (SIGUSR2). */
    cfg->upgrade_drain_timeout = FTPD_DEFAULT_UPGRADE_DRAIN_TIMEOUT;
    /* --status and /metrics: off. */
    cfg->control_socket[0] = '\0';
    cfg->metrics_listen[0] = '\0';
    /* Syscall filter: on (a no-op where unsupported, ftpd/sandbox.h). */
    cfg->seccomp = SECCOMP_YES;
}
