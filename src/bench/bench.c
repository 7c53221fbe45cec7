/* Set-up and tear-down of struct bench (see bench.h). */
#include "bench/bench.h"
#include "bench/tls.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Received data lands here on its way to nowhere (see sock_discard). */
#define SCRATCH_LEN (256 * 1024)

/* Descriptors the run needs besides its sockets (stdio, the loop's own). */
#define FD_SLACK 64

static int resolve(struct bench *b, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    int rc = getaddrinfo(b->o.host, NULL, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "--host %s: %s", b->o.host, gai_strerror(rc));
        return -1;
    }
    memset(&b->server, 0, sizeof b->server);
    memcpy(&b->server, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    sockaddr_set_port(&b->server, b->o.port);
    return 0;
}

/* --sources K: 127.0.0.1 .. 127.0.0.K, all of them loopback (127/8). */
static int make_sources(struct bench *b, char *err, size_t errlen)
{
    if (b->o.sources <= 1)
        return 0;
    if (b->server.sa.sa_family != AF_INET || (ntohl(b->server.in.sin_addr.s_addr) >> 24) != 127) {
        snprintf(err, errlen, "--sources needs a 127.x.x.x --host");
        return -1;
    }
    b->src = calloc(b->o.sources, sizeof *b->src);
    if (b->src == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (unsigned i = 0; i < b->o.sources; i++) {
        b->src[i].in.sin_family = AF_INET;
        b->src[i].in.sin_addr.s_addr = htonl(0x7f000001u + i);
    }
    return 0;
}

static int make_cmd(struct cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int make_cmd(struct cmd *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    c->s = malloc((size_t)n + 1);
    if (c->s == NULL)
        return -1;
    va_start(ap, fmt);
    vsnprintf(c->s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    c->len = (size_t)n;
    return 0;
}

static int make_cmds(struct bench *b)
{
    const struct bench_opts *o = &b->o;
    const char *file = o->file != NULL ? o->file : "";
    if (make_cmd(&b->cmd.user, "USER %s\r\n", o->user) < 0 ||
        make_cmd(&b->cmd.pass, "PASS %s\r\n", o->pass) < 0 ||
        make_cmd(&b->cmd.type, "TYPE I\r\n") < 0 ||
        make_cmd(&b->cmd.pasv, "%s\r\n", o->epsv ? "EPSV" : "PASV") < 0 ||
        make_cmd(&b->cmd.size, "SIZE %s\r\n", file) < 0 || make_cmd(&b->cmd.noop, "NOOP\r\n") < 0 ||
        make_cmd(&b->cmd.quit, "QUIT\r\n") < 0 ||
        make_cmd(&b->bg_user, "USER %s\r\n", o->bg_user != NULL ? o->bg_user : o->user) < 0 ||
        make_cmd(&b->bg_pass, "PASS %s\r\n", o->bg_pass != NULL ? o->bg_pass : o->pass) < 0 ||
        make_cmd(&b->cmd.auth, "AUTH TLS\r\n") < 0 || make_cmd(&b->cmd.pbsz, "PBSZ 0\r\n") < 0 ||
        make_cmd(&b->cmd.prot, "PROT P\r\n") < 0)
        return -1;
    if (o->scenario == SC_LIST)
        return make_cmd(&b->cmd.xfer, "LIST %s\r\n", o->dir);
    return make_cmd(&b->cmd.xfer, "RETR %s\r\n", file);
}

void bench_init(struct bench *b, const struct bench_opts *o)
{
    memset(b, 0, sizeof *b);
    b->o = *o;
    b->size = o->size;
    b->mem_before = b->mem_held = -1;
    kmem_read_none(&b->kmem_before);
    kmem_read_none(&b->kmem_held);
    b->procs = 1;
    b->sync_up = b->sync_down = -1;
    b->tty = !o->quiet && isatty(STDERR_FILENO) == 1;
    hist_init(&b->lat);
    hist_init(&b->bg_lat);
    b->pid = (long)getpid();
}

int bench_setup(struct bench *b, const struct bench_opts *o, char *err, size_t errlen)
{
    bench_init(b, o);
    if (resolve(b, err, errlen) < 0 || make_sources(b, err, errlen) < 0)
        return -1;
    if (make_cmds(b) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (o->tls) {
        b->tls = tls_client_ctx(o->tls_ca, err, errlen);
        if (b->tls == NULL)
            return -1;
        b->tls_host = o->tls_ca != NULL ? o->host : NULL;
    }
    bool idle = o->scenario == SC_IDLE;
    b->nfast = idle ? o->sessions : o->concurrency;
    b->nbg = idle && o->bg_rate > 0 ? o->concurrency : 0;
    b->nclients = b->nfast + (o->scenario == SC_SLOW ? o->slow : 0) + b->nbg;
    b->clients = calloc(b->nclients, sizeof *b->clients);
    b->scratch_len = SCRATCH_LEN;
    b->scratch = malloc(b->scratch_len);
    b->loop = ev_loop_new(EVFLAG_AUTO);
    if (b->clients == NULL || b->scratch == NULL || b->loop == NULL ||
        pacer_init(&b->rate, b, o->rate, b->nfast) < 0 ||
        pacer_init(&b->bg, b, o->bg_rate, b->nbg) < 0) {
        snprintf(err, errlen, "cannot allocate %u clients or the event loop", b->nclients);
        return -1;
    }
    /* What uploads send: any bytes do; a pattern rather than whatever
     * malloc left there. */
    for (size_t i = 0; i < b->scratch_len; i++)
        b->scratch[i] = (char)('a' + i % 26);
    enum role fast = idle ? ROLE_IDLE : ROLE_FAST;
    enum role rest = idle ? ROLE_BG : ROLE_SLOW;
    for (unsigned i = 0; i < b->nclients; i++)
        client_init(&b->clients[i], b, i, i < b->nfast ? fast : rest);
    client_init(&b->probe, b, 0, ROLE_PROBE);
    if (scenario_stor(o->scenario)) {
        /* "STOR " DIR "/ftpbench." PID "." ID "." SEQ CRLF */
        b->stor_cap = strlen(o->dir) + 80;
        for (unsigned i = 0; i < b->nfast; i++) {
            b->clients[i].stor.s = malloc(b->stor_cap);
            if (b->clients[i].stor.s == NULL) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }
    }
    return 0;
}

void bench_teardown(struct bench *b)
{
    if (b->clients != NULL && b->loop != NULL) {
        for (unsigned i = 0; i < b->nclients; i++)
            client_close(&b->clients[i]);
        client_close(&b->probe);
        pacer_stop(&b->rate);
        pacer_stop(&b->bg);
    }
    for (unsigned i = 0; b->clients != NULL && i < b->nclients; i++)
        free(b->clients[i].stor.s);
    pacer_free(&b->rate);
    pacer_free(&b->bg);
    struct cmd *cmds[] = {&b->cmd.user, &b->cmd.pass, &b->cmd.type, &b->cmd.pasv, &b->cmd.xfer,
                          &b->cmd.size, &b->cmd.noop, &b->cmd.quit, &b->bg_user,  &b->bg_pass,
                          &b->cmd.auth, &b->cmd.pbsz, &b->cmd.prot};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        free(cmds[i]->s);
    free(b->clients);
    free(b->src);
    free(b->scratch);
    if (b->loop != NULL)
        ev_loop_destroy(b->loop);
    if (b->tls != NULL)
        tls_ctx_free(b->tls);
    b->tls = NULL;
    b->clients = NULL;
    b->src = NULL;
    b->scratch = NULL;
    b->loop = NULL;
}

const union sockaddr_any *bench_source(const struct bench *b, unsigned id)
{
    return b->src != NULL ? &b->src[id % b->o.sources] : NULL;
}

void bench_raise_nofile(const struct bench *b)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        perror("ftpbench: getrlimit(RLIMIT_NOFILE)");
        return;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            perror("ftpbench: setrlimit(RLIMIT_NOFILE)");
            if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
                return;
        }
    }
    /* A client may hold a control and a data connection (idle: control). */
    unsigned long long per = b->o.scenario == SC_IDLE && b->nbg == 0 ? 1 : 2;
    unsigned long long need = per * b->nclients + FD_SLACK;
    if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur)
        fprintf(stderr,
                "ftpbench: warning: up to %llu descriptors needed, the limit is %llu "
                "(raise it with ulimit -Hn / prlimit): expect 'local' errors\n",
                need, (unsigned long long)rl.rlim_cur);
}
