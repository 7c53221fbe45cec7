/* ftpd: command line + configuration -> one concurrency back-end.
 *
 * Order: defaults, then the file given with --config (never an implicit
 * path), then the flags, each through config_set() so a flag is checked
 * exactly like the same key in the file, then the cross-key checks. The
 * arch name is looked up in the back-end registry here, not in the parser
 * (which sits below arch/), right after the file or flag that set it.
 *
 * Exit status: 0 success, 1 configuration or start-up error, 2 usage error
 * (a bad flag or flag value, or a back-end not available in this build). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ftpd/arch.h"
#include "ftpd/config.h"
#include "ftpd/config_file.h"
#include "ftpd/listen_adopt.h"
#include "ftpd/generation.h"
#include "ftpd/log.h"
#include "ftpd/net.h"
#include "ftpd/pidfile.h"
#include "ftpd/privdrop.h"
#include "ftpd/sandbox.h"
#include "ftpd/sdnotify.h"
#include "ftpd/sockaddr.h"
#include "ftpd/stats.h"
#include "ftpd/status.h"
#include "ftpd/rate.h"
#include "ftpd/tls.h"
#include "ftpd/upgrade.h"
#include "ftpd/users.h"
#include "ftpd/xferlog.h"

enum { EXIT_USAGE = 2 };

enum {
    OPT_CHECK_CONFIG = 256,
    OPT_LIST_ARCHS,
    OPT_LOG_LEVEL,
    OPT_HASH_PASSWORD,
    OPT_STATUS,
    OPT_JSON
};

static const struct option long_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"arch", required_argument, NULL, 'a'},
    {"listen", required_argument, NULL, 'l'},
    {"port", required_argument, NULL, 'p'},
    {"root", required_argument, NULL, 'r'},
    {"user", required_argument, NULL, 'u'},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"check-config", no_argument, NULL, OPT_CHECK_CONFIG},
    {"list-archs", no_argument, NULL, OPT_LIST_ARCHS},
    {"hash-password", no_argument, NULL, OPT_HASH_PASSWORD},
    {"status", no_argument, NULL, OPT_STATUS},
    {"json", no_argument, NULL, OPT_JSON},
    {"version", no_argument, NULL, 'V'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Leading ':' : a missing argument is reported as ':' and we word it. */
static const char short_opts[] = ":c:a:l:p:r:u:hV";

/* Flags that set a config key. */
static const struct flag_key {
    int opt;
    const char *key;
} flag_keys[] = {
    {'a', "arch"}, {'l', "listen"},      {'p', "port"},
    {'r', "root"}, {'u', "run_as_user"}, {OPT_LOG_LEVEL, "log_level"},
};

#define NFLAG_KEYS (sizeof flag_keys / sizeof flag_keys[0])

struct cli {
    const char *config_path;        /* NULL: defaults and flags only */
    const char *values[NFLAG_KEYS]; /* by flag_keys index; NULL = not given */
    bool check_config, list_archs, hash_password, version, help;
    bool status, json; /* --status [--json] */
};

static void usage(FILE *out)
{
    fputs("Usage: ftpd [OPTION]...\n"
          "Serve a directory over FTP.\n"
          "\n"
          "  -c, --config FILE          read settings from FILE (see conf/ftpd.conf)\n"
          "  -a, --arch NAME            concurrency back-end (see --list-archs)\n"
          "  -l, --listen ADDR[,ADDR]   numeric IPv4/IPv6 addresses to listen on\n"
          "  -p, --port N               TCP port (0: any free port)\n"
          "  -r, --root DIR             directory to serve\n"
          "  -u, --user NAME            run as NAME after binding (run_as_user; started\n"
          "                             as root the default is ftp)\n"
          "      --log-level LEVEL      error, warn, info or debug\n"
          "      --check-config         check the configuration, the root and the users\n"
          "                             file, then exit\n"
          "      --list-archs           list the back-ends and exit\n"
          "      --hash-password        read a password (no echo on a terminal, else one\n"
          "                             line of stdin), print its yescrypt hash for the\n"
          "                             users file (name:hash:home:permissions), exit\n"
          "      --status [--json]      ask the server running with this configuration\n"
          "                             (its control_socket) for its sessions, transfers\n"
          "                             and counters; print them (as JSON), exit\n"
          "  -V, --version              print the version and exit\n"
          "  -h, --help                 print this help and exit\n"
          "\n"
          "Flags override the configuration file.\n"
          "Exit status: 0 success, 1 configuration or start-up error, 2 usage error.\n",
          out);
}

static int usage_error(void)
{
    usage(stderr);
    return EXIT_USAGE;
}

/* glibc leaves the offending text in argv[optind - 1] for long options and
 * in optopt for short ones. */
static void report_bad_option(int c, char **argv)
{
    const char *arg = argv[optind - 1];
    bool is_long = strncmp(arg, "--", 2) == 0;
    const char *what = c == ':' ? "needs a value" : "is not a known option";
    if (is_long || optopt == 0)
        fprintf(stderr, "ftpd: option '%.*s' %s\n", (int)strcspn(arg, "="), arg, what);
    else
        fprintf(stderr, "ftpd: option '-%c' %s\n", optopt, what);
}

static bool remember_flag_value(struct cli *cli, int opt, const char *value)
{
    for (size_t i = 0; i < NFLAG_KEYS; i++) {
        if (flag_keys[i].opt == opt) {
            cli->values[i] = value;
            return true;
        }
    }
    return false;
}

/* Returns 0, or -1 after printing what was wrong. */
static int parse_args(int argc, char **argv, struct cli *cli)
{
    memset(cli, 0, sizeof *cli);
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cli->config_path = optarg;
            break;
        case OPT_CHECK_CONFIG:
            cli->check_config = true;
            break;
        case OPT_LIST_ARCHS:
            cli->list_archs = true;
            break;
        case OPT_HASH_PASSWORD:
            cli->hash_password = true;
            break;
        case OPT_STATUS:
            cli->status = true;
            break;
        case OPT_JSON:
            cli->json = true;
            break;
        case 'V':
            cli->version = true;
            break;
        case 'h':
            cli->help = true;
            break;
        case ':':
        case '?':
            report_bad_option(c, argv);
            return -1;
        default:
            if (!remember_flag_value(cli, c, optarg)) {
                fprintf(stderr, "ftpd: unexpected option\n");
                return -1;
            }
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ftpd: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

static void list_archs(void)
{
    size_t count;
    const struct arch *table = arch_table(&count);
    int width = 0;
    for (size_t i = 0; i < count; i++) {
        int len = (int)strlen(table[i].name);
        width = len > width ? len : width;
    }
    for (size_t i = 0; i < count; i++)
        printf("%-*s  %s%s\n", width, table[i].name, table[i].summary,
               table[i].run == NULL ? " (not yet available)" : "");
    /* "threadpool+accept  threadpool with threadpool_dispatch = accept":
     * the scripts take variants from here. */
    for (size_t i = 0; i < count; i++) {
        for (size_t j = 0; j < ARCH_VARIANTS_MAX; j++) {
            const char *v = table[i].variants[j].variant;
            const char *colon = v != NULL ? strchr(v, ':') : NULL;
            if (colon != NULL)
                printf("%s+%.*s  %s with%s\n", table[i].name, (int)(colon - v), v, table[i].name,
                       colon + 1);
        }
    }
}

/* An arch name the registry does not know: "WHERE: key 'arch': unknown arch
 * 'x' (valid: serial, ...)", where WHERE is "FILE:LINE" or NULL for a flag.
 * Returns 0 if the name is known. */
static int check_arch_name(const char *name, const char *file, int line)
{
    if (arch_find(name) != NULL)
        return 0;
    char names[256] = "";
    size_t count, used = 0;
    const struct arch *table = arch_table(&count);
    for (size_t i = 0; i < count && used < sizeof names; i++) {
        int w =
            snprintf(names + used, sizeof names - used, "%s%s", i > 0 ? ", " : "", table[i].name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (file != NULL)
        fprintf(stderr, "ftpd: %s:%d: key 'arch': unknown arch '%s' (valid: %s)\n", file, line,
                name, names);
    else
        fprintf(stderr, "ftpd: key 'arch': unknown arch '%s' (valid: %s)\n", name, names);
    return -1;
}

/* Defaults, file, flags, cross-checks. Returns 0 or the exit status after
 * printing the error. */
static int build_config(const struct cli *cli, struct ftpd_config *cfg)
{
    char err[1024];
    config_defaults(cfg);
    if (cli->config_path != NULL) {
        struct config_origin origin;
        if (config_load_file(cfg, cli->config_path, &origin, err, sizeof err) != 0) {
            fprintf(stderr, "ftpd: %s\n", err);
            return EXIT_FAILURE;
        }
        if (origin.arch_line != 0 &&
            check_arch_name(cfg->arch, cli->config_path, origin.arch_line) != 0)
            return EXIT_FAILURE;
    }
    for (size_t i = 0; i < NFLAG_KEYS; i++) {
        if (cli->values[i] == NULL)
            continue;
        if (config_set(cfg, flag_keys[i].key, cli->values[i], err, sizeof err) != 0) {
            fprintf(stderr, "ftpd: %s\n", err);
            return usage_error();
        }
        if (strcmp(flag_keys[i].key, "arch") == 0 && check_arch_name(cfg->arch, NULL, 0) != 0)
            return usage_error();
    }
    if (config_validate(cfg, err, sizeof err) != 0) {
        fprintf(stderr, "ftpd: %s\n", err);
        return EXIT_FAILURE;
    }
    return 0;
}

/* Reload (SIGHUP): the configuration again, as build_config() made it
 * (defaults, the same file, the same flags, the checks), the reason in err
 * instead of on stderr. */
static int reread_config(void *arg, struct ftpd_config *cfg, char *err, size_t errlen)
{
    const struct cli *cli = arg;
    config_defaults(cfg);
    if (cli->config_path != NULL && config_load_file(cfg, cli->config_path, NULL, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < NFLAG_KEYS; i++) {
        if (cli->values[i] != NULL &&
            config_set(cfg, flag_keys[i].key, cli->values[i], err, errlen) != 0)
            return -1;
    }
    if (arch_find(cfg->arch) == NULL) {
        snprintf(err, errlen, "%s: key 'arch': unknown arch '%s'",
                 cli->config_path != NULL ? cli->config_path : "--arch", cfg->arch);
        return -1;
    }
    return config_validate(cfg, err, errlen);
}

/* build_config() checked the name against the registry, so this finds it. */
static const struct arch *runnable_arch(const struct ftpd_config *cfg)
{
    const struct arch *arch = arch_find(cfg->arch);
    if (arch == NULL || arch->run == NULL) {
        fprintf(stderr, "ftpd: arch '%s' is not yet available\n", cfg->arch);
        return NULL;
    }
    return arch;
}

static int open_root(const char *root)
{
    int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        fprintf(stderr, "ftpd: cannot open root '%s': %s\n", root, strerror(errno));
    return fd;
}

/* The users file, when the config names one. 0 with *out set (NULL: no
 * file), or -1 after printing the error ("FILE:LINE: field 'F': ..."). */
static int load_users(const struct ftpd_config *cfg, struct users **out)
{
    *out = NULL;
    if (cfg->users_file[0] == '\0')
        return 0;
    char err[1024];
    *out = users_load(cfg->users_file, err, sizeof err);
    if (*out == NULL) {
        fprintf(stderr, "ftpd: %s\n", err);
        return -1;
    }
    return 0;
}

/* FTPS: the TLS context (certificate, key, versions, ciphers), when tls is
 * on. 0 with *out set (NULL: tls = off), or -1 after printing the error,
 * which names the file or key. */
static int load_tls(const struct ftpd_config *cfg, struct tls_context **out)
{
    *out = NULL;
    if (cfg->tls == TLS_OFF)
        return 0;
    char err[1024];
    *out = tls_context_new(cfg, err, sizeof err);
    if (*out == NULL) {
        fprintf(stderr, "ftpd: %s\n", err);
        return -1;
    }
    return 0;
}

/* --check-config: everything a start would check short of binding. */
static int check_config(const struct ftpd_config *cfg)
{
    if (runnable_arch(cfg) == NULL)
        return EXIT_FAILURE;
    int fd = open_root(cfg->root);
    if (fd < 0)
        return EXIT_FAILURE;
    close(fd);
    struct users *users;
    if (load_users(cfg, &users) != 0)
        return EXIT_FAILURE;
    users_free(users);
    struct tls_context *tls;
    if (load_tls(cfg, &tls) != 0)
        return EXIT_FAILURE;
    tls_context_free(tls);
    struct privdrop drop;
    char err[1024];
    if (privdrop_plan(cfg->run_as_user, &drop, err, sizeof err) != 0) {
        fprintf(stderr, "ftpd: %s\n", err);
        return EXIT_FAILURE;
    }
    printf("ftpd: configuration OK\n");
    return EXIT_SUCCESS;
}

/* One line of stdin into buf, its newline stripped. On a terminal, with
 * the echo off (restored before returning). 0, or -1 (EOF or error). */
static int read_password(const char *prompt, char *buf, size_t size)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        quiet.c_lflag |= ECHONL;
        fputs(prompt, stderr);
        fflush(stderr);
        if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0) {
            fprintf(stderr, "ftpd: cannot turn the echo off: %s\n", strerror(errno));
            return -1;
        }
    }
    char *got = fgets(buf, (int)size, stdin);
    if (tty)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    if (got == NULL)
        return -1;
    size_t len = strcspn(buf, "\r\n");
    if (buf[len] == '\0' && len == size - 1) {
        fprintf(stderr, "ftpd: password too long (at most %zu bytes)\n", size - 2);
        return -1;
    }
    buf[len] = '\0';
    return 0;
}

/* --hash-password: a yescrypt hash of a password, for the users file. */
static int hash_password(void)
{
    char pw[FTPD_LINE_MAX + 2], again[FTPD_LINE_MAX + 2], hash[USERS_HASH_MAX];
    int status = EXIT_FAILURE;
    if (read_password("Password: ", pw, sizeof pw) != 0)
        goto out;
    if (isatty(STDIN_FILENO)) {
        if (read_password("Again: ", again, sizeof again) != 0)
            goto out;
        if (strcmp(pw, again) != 0) {
            fprintf(stderr, "ftpd: the passwords differ\n");
            goto out;
        }
    }
    if (pw[0] == '\0') {
        fprintf(stderr, "ftpd: empty password refused\n");
        goto out;
    }
    if (users_hash_password(pw, hash, sizeof hash) != 0) {
        fprintf(stderr, "ftpd: cannot hash the password: %s\n", strerror(errno));
        goto out;
    }
    printf("%s\n", hash);
    status = EXIT_SUCCESS;
out:
    explicit_bzero(pw, sizeof pw);
    explicit_bzero(again, sizeof again);
    return status;
}

/* SIGPIPE: a peer that goes away shows up as EPIPE, never kills us. The
 * others are blocked here, before any thread or child exists, so every
 * thread inherits the mask and every process reads them as control events
 * (src/arch/common/events.c). */
static int setup_signals(void)
{
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigemptyset(&ign.sa_mask);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    /* SIGXFSZ: an upload past RLIMIT_FSIZE fails with EFBIG (552) instead
     * of killing the process. */
    if (sigaction(SIGPIPE, &ign, NULL) != 0 || sigaction(SIGXFSZ, &ign, NULL) != 0 ||
        sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
        fprintf(stderr, "ftpd: cannot set up signals: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

/* sets: room for ADOPT_MAX listeners, where hybrid_balance = reuseport's
 * per-worker sets an older generation passed (live upgrade) go
 * (srv->worker_sets). */
static int open_listeners(struct ftpd_server *srv, const struct arch *arch, struct listener *sets)
{
    char err[512];
    /* hybrid_balance = reuseport: every worker binds its own SO_REUSEPORT
     * set, which the kernel allows only if these have the option too. */
    bool reuseport = srv->cfg->hybrid_reuseport && arch->reuseport_listeners;
    /* Socket activation or a live upgrade: take the listeners passed by
     * LISTEN_FDS instead of binding them (ftpd/listen_adopt.h). */
    struct adopted adopted;
    if (listen_adopt_take(&adopted, err, sizeof err) < 0) {
        fprintf(stderr, "ftpd: %s\n", err);
        return -1;
    }
    if (adopted.n > 0)
        log_info("adopting %d listening sockets", adopted.n);
    int n = net_listen_adopt(srv->cfg, reuseport, &adopted, srv->listeners, sets, ADOPT_MAX,
                             &srv->nworker_sets, err, sizeof err);
    srv->worker_sets = sets;
    listen_adopt_close_rest(&adopted);
    if (n < 0) {
        fprintf(stderr, "ftpd: %s\n", err);
        return -1;
    }
    srv->nlisteners = n;
    /* The integration tests read the port of "--port 0" from this line. */
    for (int i = 0; i < n; i++) {
        char addr[SOCKADDR_STR_MAX];
        sockaddr_str(&srv->listeners[i].addr, addr, sizeof addr);
        /* The implicit FTPS listeners (after the plain ones) say so in
         * other words, so that "listening on" stays one per address. */
        if (i < srv->cfg->nlisten)
            log_info("listening on %s", addr);
        else
            log_info("implicit FTPS on %s", addr);
    }
    return 0;
}

/* --status and /metrics: the shared counters and board (ftpd/stats.h),
 * a row for the server and one per possible prefork/hybrid worker, and the
 * service answering on control_socket and metrics_listen. Only when one of
 * them is set: otherwise nothing is counted, and an idle session costs no
 * board slot. */
static int start_status(struct ftpd_server *srv)
{
    const struct ftpd_config *cfg = srv->cfg;
    if (cfg->control_socket[0] == '\0' && cfg->metrics_listen[0] == '\0')
        return 0;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int workers = cfg->workers > 0 ? cfg->workers : (cpus > 0 ? (int)cpus : 1);
    if (cfg->max_workers > workers)
        workers = cfg->max_workers;
    srv->stats = stats_new(1 + workers, cfg->max_clients);
    if (srv->stats == NULL) {
        log_error("cannot map the status board: %s", strerror(errno));
        return -1;
    }
    stats_row_claim(srv->stats, 0);
    if (status_service_start(srv, &srv->status) != 0) {
        stats_free(srv->stats);
        srv->stats = NULL;
        return -1;
    }
    return 0;
}

static void stop_status(struct ftpd_server *srv)
{
    status_service_stop(srv->status);
    stats_free(srv->stats);
}

/* System daemon (issue 13), before anything is bound or opened: who to
 * become, the log target and the transfer log. 0, or -1 after printing. */
static int daemon_open(const struct ftpd_config *cfg, struct privdrop *drop)
{
    char err[1024];
    if (privdrop_plan(cfg->run_as_user, drop, err, sizeof err) != 0 ||
        log_open(cfg->log_target, err, sizeof err) != 0 ||
        xferlog_open(cfg->xferlog_file, err, sizeof err) != 0) {
        fprintf(stderr, "ftpd: %s\n", err);
        return -1;
    }
    return 0;
}

/* Everything root was needed for is open (listeners, TLS key, logs, pid
 * file): become run_as_user before the back-end makes a thread or a
 * process, then tell the service manager we serve. 0, or -1 (logged). */
static int daemon_start(const struct ftpd_config *cfg, const struct privdrop *drop)
{
    char err[1024];
    if (cfg->pid_file[0] != '\0' && pidfile_write(cfg->pid_file, err, sizeof err) != 0) {
        /* Started as root, a pid file that cannot be written is a
         * configuration error. Not as root it may be a new generation
         * after a live upgrade (already run_as_user), which must not fail
         * for a file only root may replace. */
        if (geteuid() == 0) {
            log_error("%s", err);
            return -1;
        }
        log_warn("%s", err);
    }
    if (privdrop_apply(drop, err, sizeof err) != 0) {
        log_error("%s", err);
        pidfile_remove(cfg->pid_file);
        return -1;
    }
    if (drop->drop)
        log_info("running as %s (uid %ld, gid %ld)", drop->name, (long)drop->uid, (long)drop->gid);
    else if (geteuid() == 0)
        log_warn("running as root: run_as_user = root");
    notify_ready();
    return 0;
}

/* seccomp = yes|log: the filter, said in the log. 0, or -1 (logged). */
static int start_sandbox(const struct ftpd_config *cfg)
{
    if (cfg->seccomp == SECCOMP_NO)
        return 0;
    const char *why_not = sandbox_unavailable();
    if (why_not != NULL) {
        log_info("seccomp: off (%s)", why_not);
        return 0;
    }
    char err[256];
    if (sandbox_install(cfg->seccomp, err, sizeof err) != 0) {
        log_error("%s", err);
        return -1;
    }
    log_info("seccomp: syscall filter on%s",
             cfg->seccomp == SECCOMP_LOG ? ", logging what it lacks (seccomp = log)" : "");
    return 0;
}

static int serve(const struct cli *cli, const struct ftpd_config *cfg, const struct arch *arch,
                 struct exec_plan *exec)
{
    struct ftpd_server srv = {.cfg = cfg, .root_fd = -1, .exec = exec};
    /* Started by a live upgrade: the old generation waits on this for our
     * ready report, which the back-end sends once set up (ftpd/upgrade.h);
     * any failure before that is our exit, which tells the old one to roll
     * back. */
    int upgrade_channel = upgrade_channel_take();
    if (exec != NULL)
        exec->ready_channel = upgrade_channel;
    struct privdrop drop;
    if (daemon_open(cfg, &drop) != 0)
        return EXIT_FAILURE;
    srv.root_fd = open_root(cfg->root);
    if (srv.root_fd < 0)
        return EXIT_FAILURE;
    /* Read-only from here on, shared by every thread and inherited by
     * every process; a reload (SIGHUP) loads a new table for the sessions
     * that start afterwards (ftpd/generation.h). */
    struct users *users;
    if (load_users(cfg, &users) != 0) {
        close(srv.root_fd);
        return EXIT_FAILURE;
    }
    srv.users = users;
    /* max_rate_total: one figure for the whole server, in memory every
     * process forked later shares (ftpd/rate.h). */
    if (cfg->max_rate_total > 0) {
        srv.rate_total = rate_share_new(cfg->max_rate_total);
        if (srv.rate_total == NULL) {
            log_error("max_rate_total: cannot map shared memory: %s", strerror(errno));
            users_free(users);
            close(srv.root_fd);
            return EXIT_FAILURE;
        }
    }
    struct tls_context *tls;
    if (load_tls(cfg, &tls) != 0) {
        rate_share_free(srv.rate_total);
        users_free(users);
        close(srv.root_fd);
        return EXIT_FAILURE;
    }
    srv.tls = tls;
    struct listener sets[ADOPT_MAX];
    if (setup_signals() != 0 || open_listeners(&srv, arch, sets) != 0 || start_status(&srv) != 0) {
        tls_context_free(tls);
        rate_share_free(srv.rate_total);
        users_free(users);
        close(srv.root_fd);
        return EXIT_FAILURE;
    }
    char abs_root[PATH_MAX];
    const char *shown = realpath(cfg->root, abs_root) != NULL ? abs_root : cfg->root;
    log_info("ftpd %s serving %s %s, arch %s", FTPD_VERSION, shown,
             cfg->write_enable ? "read-write" : "read-only", arch->name);
    if (users != NULL)
        log_info("%zu accounts from %s%s", users_count(users), cfg->users_file,
                 cfg->anonymous ? ", and anonymous" : "");
    if (cfg->max_rate_download > 0 || cfg->max_rate_upload > 0 || cfg->max_rate_total > 0)
        log_info("bandwidth caps in bytes/s (0 = none): %llu down and %llu up per session, "
                 "%llu in all",
                 (unsigned long long)cfg->max_rate_download,
                 (unsigned long long)cfg->max_rate_upload, (unsigned long long)cfg->max_rate_total);
    if (tls != NULL)
        log_info("FTPS %s with %s%s", cfg->tls == TLS_REQUIRED ? "required" : "optional",
                 cfg->tls_cert_file,
                 cfg->implicit_tls_port != 0 ? ", implicit TLS on its own port" : "");

    if (daemon_start(cfg, &drop) != 0) {
        stop_status(&srv);
        net_close_all(srv.listeners, srv.nlisteners);
        net_close_all(srv.worker_sets, srv.nworker_sets);
        tls_context_free(tls);
        rate_share_free(srv.rate_total);
        users_free(users);
        close(srv.root_fd);
        return EXIT_FAILURE;
    }
    /* Reload (SIGHUP): generation 1 is what was just loaded; the root,
     * the accounts, the TLS context and the listeners belong to the
     * generations from here on. */
    srv.gens = generations_new(&srv, srv.cfg->hybrid_reuseport && arch->reuseport_listeners,
                               reread_config, (void *)cli);
    if (srv.gens == NULL) {
        stop_status(&srv);
        pidfile_remove(cfg->pid_file);
        net_close_all(srv.listeners, srv.nlisteners);
        net_close_all(srv.worker_sets, srv.nworker_sets);
        rate_share_free(srv.rate_total);
        tls_context_free(tls);
        users_free(users);
        close(srv.root_fd);
        return EXIT_FAILURE;
    }
    if (exec == NULL && upgrade_channel >= 0) { /* no plan: no back-end reports */
        upgrade_report_ready(upgrade_channel);
        close(upgrade_channel);
    }

    /* Everything privileged is done: from here on, every thread and every
     * process forked later runs under the syscall filter (ftpd/sandbox.h). */
    if (start_sandbox(cfg) != 0) {
        stop_status(&srv);
        pidfile_remove(cfg->pid_file);
        generations_free(srv.gens);
        net_close_all(srv.worker_sets, srv.nworker_sets);
        rate_share_free(srv.rate_total);
        return EXIT_FAILURE;
    }
    int status = arch->run(&srv);

    stop_status(&srv);
    pidfile_remove(cfg->pid_file);
    generations_free(srv.gens);
    net_close_all(srv.worker_sets, srv.nworker_sets); /* those hybrid did not take */
    rate_share_free(srv.rate_total);
    return status;
}

int main(int argc, char **argv)
{
    struct cli cli;
    if (parse_args(argc, argv, &cli) != 0)
        return usage_error();
    if (cli.help) {
        usage(stdout);
        return EXIT_SUCCESS;
    }
    if (cli.version) {
        printf("ftpd %s\n", FTPD_VERSION);
        return EXIT_SUCCESS;
    }
    if (cli.list_archs) {
        list_archs();
        return EXIT_SUCCESS;
    }
    if (cli.hash_password)
        return hash_password();

    struct ftpd_config cfg;
    int status = build_config(&cli, &cfg);
    if (status != 0)
        return status;
    if (cli.check_config)
        return check_config(&cfg);
    if (cli.status)
        return status_client_run(cfg.control_socket, cli.json);

    log_set_level(cfg.log_level);
    /* Checked before binding anything: no port is taken just to fail. */
    const struct arch *arch = runnable_arch(&cfg);
    if (arch == NULL)
        return EXIT_USAGE;
    /* The program path for SIGUSR2, resolved now: the file may be
     * replaced by then, which is the point of an upgrade. */
    struct exec_plan exec;
    return serve(&cli, &cfg, arch, upgrade_plan_init(&exec, argv) == 0 ? &exec : NULL);
}
