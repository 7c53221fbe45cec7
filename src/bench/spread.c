/* An idle run spread over several client processes (--procs): one process
 * cannot hold 100,000 client sockets where the descriptor limit is 20,000.
 *
 *   parent                                 child i (of P), after fork
 *   memory before (server PSS, kernel)
 *   fork P children ----------------------> bench_setup for its share;
 *                                           idle.c ramps its sessions up
 *   wait for every RAMPED  <--------------- RAMPED (held so far)
 *   GO to every child -------------------> hold: NOOPs for --hold seconds
 *   wait for every DONE    <--------------- DONE (held, latencies, errors)
 *   memory held (every session still open)
 *   close the pipes ----------------------> EOF: close its sessions, exit
 *   reap every child
 *
 * Each child gets 1/P of the sessions, of the logins in flight, of the
 * login rate (--rate) and of the NOOP rate, so the load on the server is that of one process
 * holding them all; background logins run in child 0 only. A child that dies has its share counted
 * as local errors. The children die with the parent (PR_SET_PDEATHSIG), and see EOF on their pipe
 * when it is gone. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"

/* What the single-process idle run allows in all (idle.c), divided. */
#define SPREAD_RAMP_INFLIGHT 200u
#define SPREAD_NOOP_RATE     2000u

enum msg_kind { MSG_RAMPED = 1, MSG_DONE = 2 };

/* A child's report, written whole on its pipe. */
struct part {
    uint32_t kind;
    uint32_t held;
    uint32_t login_failed;
    bool holding;
    uint64_t ops, bg_ops;
    uint64_t errors[ERR_KINDS];
    char bad_reply[BAD_REPLY_MAX];
    uint64_t hold_ns;
    struct hist lat, bg_lat;
};

struct child {
    pid_t pid;
    int up;   /* read end: the child's reports */
    int down; /* write end: GO, then EOF */
    unsigned sessions;
    bool ramped, done;
};

/* 0, or -1 (EOF or an error). */
static int read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t r = write(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

static void part_fill(struct part *p, const struct bench *b, enum msg_kind kind)
{
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->held = b->held;
    p->login_failed = b->login_failed;
    p->holding = b->holding;
    p->ops = b->ops;
    p->bg_ops = b->bg_ops;
    memcpy(p->errors, b->errors, sizeof p->errors);
    memcpy(p->bad_reply, b->bad_reply, sizeof p->bad_reply);
    if (b->holding && b->t_end > b->t_hold)
        p->hold_ns = b->t_end - b->t_hold;
    p->lat = b->lat;
    p->bg_lat = b->bg_lat;
}

void spread_child_ramped(struct bench *b)
{
    struct part *p = malloc(sizeof *p);
    if (p == NULL) {
        fputs("ftpbench: out of memory\n", stderr);
        _exit(1);
    }
    part_fill(p, b, MSG_RAMPED);
    int rc = write_all(b->sync_up, p, sizeof *p);
    free(p);
    b->sync_ramped = true;
    char go;
    if (rc < 0 || read_all(b->sync_down, &go, 1) < 0)
        _exit(1); /* the parent is gone: nothing to report to */
}

/* Child i's life; never returns. */
static void child_run(const struct bench_opts *po, unsigned index, unsigned procs,
                      unsigned sessions, int up, int down)
{
    pid_t parent = getppid();
    /* Without it a killed parent still ends us: EOF on the pipes. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        perror("ftpbench: prctl(PR_SET_PDEATHSIG)");
    if (getppid() != parent)
        _exit(1);
    struct sigaction dfl = {.sa_handler = SIG_DFL}; /* the parent ignores it */
    if (sigaction(SIGINT, &dfl, NULL) != 0)
        perror("ftpbench: sigaction(SIGINT)");
    struct bench_opts o = *po;
    o.sessions = sessions;
    o.server_pid = 0;
    o.procs = 1;
    o.quiet = true; /* no progress line: the parent speaks */
    o.csv = o.csv_header = o.json = false;
    o.rate = po->rate / procs; /* --rate is over all the processes */
    if (index > 0) {
        o.bg_rate = 0;
        o.concurrency = 0;
    }
    char err[256];
    struct bench *b = malloc(sizeof *b);
    if (b == NULL || bench_setup(b, &o, err, sizeof err) < 0) {
        fprintf(stderr, "ftpbench: process %u: %s\n", index, b != NULL ? err : "out of memory");
        _exit(1);
    }
    b->procs = procs;
    b->sync_up = up;
    b->sync_down = down;
    b->ramp_inflight = SPREAD_RAMP_INFLIGHT / procs > 0 ? SPREAD_RAMP_INFLIGHT / procs : 1;
    b->noop_rate_max = SPREAD_NOOP_RATE / procs > 0 ? SPREAD_NOOP_RATE / procs : 1;
    bench_raise_nofile(b);
    idle_run(b);
    struct part *p = malloc(sizeof *p);
    if (p == NULL)
        _exit(1);
    /* A ramp cut short (Ctrl-C) never said RAMPED: say it now. */
    if (!b->sync_ramped) {
        part_fill(p, b, MSG_RAMPED);
        (void)write_all(up, p, sizeof *p);
    }
    part_fill(p, b, MSG_DONE);
    (void)write_all(up, p, sizeof *p);
    free(p);
    /* The sessions stay open until the parent has measured: EOF. */
    char c;
    while (read_all(down, &c, 1) == 0)
        ;
    bench_teardown(b);
    free(b);
    _exit(0);
}

/* The parent's ends of the pipes of children [0, n), closed in a new child
 * (or the child would hold its siblings' pipes open). */
static void close_parent_ends(struct child *ch, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        close(ch[i].up);
        close(ch[i].down);
    }
}

static int start_child(struct bench *b, struct child *ch, unsigned i)
{
    int up[2], down[2];
    if (pipe2(up, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(down, O_CLOEXEC) < 0) {
        close(up[0]);
        close(up[1]);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        close(up[0]);
        close(up[1]);
        close(down[0]);
        close(down[1]);
        errno = saved;
        return -1;
    }
    if (pid == 0) {
        close_parent_ends(ch, i);
        close(up[0]);
        close(down[1]);
        child_run(&b->o, i, b->procs, ch[i].sessions, up[1], down[0]);
    }
    close(up[1]);
    close(down[0]);
    ch[i].pid = pid;
    ch[i].up = up[0];
    ch[i].down = down[1];
    return 0;
}

/* A child's report of the given kind into p; false if the child is gone. */
static bool take_report(struct child *c, struct part *p, enum msg_kind kind)
{
    if (c->pid <= 0)
        return false;
    while (read_all(c->up, p, sizeof *p) == 0) {
        if (p->kind == kind)
            return true;
    }
    return false;
}

/* Warn when the sessions need more ephemeral ports than the sources have. */
static void check_ports(const struct bench *b)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");
    unsigned lo, hi;
    if (f == NULL)
        return;
    int n = fscanf(f, "%u %u", &lo, &hi);
    fclose(f);
    if (n != 2 || hi < lo)
        return;
    unsigned long long ports = (unsigned long long)(hi - lo + 1) * b->o.sources;
    if (b->o.sessions > ports)
        fprintf(stderr,
                "ftpbench: warning: %u sessions to one server port need more local ports than "
                "%u source address(es) x %u ephemeral ports (ip_local_port_range): add --sources\n",
                b->o.sessions, b->o.sources, hi - lo + 1);
}

static void add_part(struct bench *b, const struct part *p)
{
    b->held += p->held;
    b->login_failed += p->login_failed;
    b->ops += p->ops;
    b->bg_ops += p->bg_ops;
    for (int k = 0; k < ERR_KINDS; k++)
        b->errors[k] += p->errors[k];
    if (b->bad_reply[0] == '\0' && p->bad_reply[0] != '\0') {
        memcpy(b->bad_reply, p->bad_reply, sizeof b->bad_reply);
        b->bad_reply[sizeof b->bad_reply - 1] = '\0'; /* from a pipe: trust nothing */
    }
    hist_merge(&b->lat, &p->lat);
    hist_merge(&b->bg_lat, &p->bg_lat);
}

void spread_run(struct bench *b)
{
    unsigned procs = b->procs;
    struct child *ch = calloc(procs, sizeof *ch);
    struct part *p = malloc(sizeof *p);
    if (ch == NULL || p == NULL) {
        fputs("ftpbench: out of memory\n", stderr);
        free(ch);
        free(p);
        return;
    }
    check_ports(b);
    /* Ctrl-C reaches the children too (one process group): they end their
     * run and report, and the parent adds up what they held. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    if (sigaction(SIGINT, &ign, &old) != 0) {
        perror("ftpbench: sigaction(SIGINT)");
        old = (struct sigaction){.sa_handler = SIG_DFL};
    }

    kmem_read(&b->kmem_before);
    if (b->o.server_pid > 0)
        b->mem_before = idle_server_pss(b, "before the run");
    b->t_start = mono_ns();
    unsigned started = 0;
    for (unsigned i = 0; i < procs; i++) {
        ch[i].sessions = b->o.sessions / procs + (i < b->o.sessions % procs ? 1 : 0);
        if (start_child(b, ch, i) < 0) {
            perror("ftpbench: cannot start a client process");
            b->errors[ERR_LOCAL] += ch[i].sessions;
            ch[i].pid = -1;
            continue;
        }
        started++;
    }
    if (!b->o.quiet)
        fprintf(stderr, "ftpbench: %u sessions over %u client processes\n", b->o.sessions, started);

    bool any_held = false;
    for (unsigned i = 0; i < procs; i++) {
        ch[i].ramped = take_report(&ch[i], p, MSG_RAMPED);
        any_held |= ch[i].ramped && p->held > 0;
    }
    b->t_hold = mono_ns();
    b->holding = any_held;
    if (!b->o.quiet)
        fprintf(stderr, "ftpbench: logged in within %.2f s; holding for %.1f s\n",
                (double)(b->t_hold - b->t_start) / 1e9, b->o.hold);
    static const char go = 'g';
    for (unsigned i = 0; i < procs; i++) {
        if (ch[i].ramped)
            (void)write_all(ch[i].down, &go, 1);
    }
    uint64_t hold_ns = 0;
    for (unsigned i = 0; i < procs; i++) {
        ch[i].done = take_report(&ch[i], p, MSG_DONE);
        if (!ch[i].done) {
            if (ch[i].pid > 0) {
                fprintf(stderr, "ftpbench: client process %u ended without its figures\n", i);
                b->errors[ERR_LOCAL] += ch[i].sessions;
            }
            continue;
        }
        add_part(b, p);
        if (p->hold_ns > hold_ns)
            hold_ns = p->hold_ns;
    }
    b->t_end = b->t_hold + hold_ns;
    /* Every child still holds its sessions open. */
    if (b->holding && b->o.server_pid > 0)
        b->mem_held = idle_server_pss(b, "while holding the sessions");
    if (b->holding)
        kmem_read(&b->kmem_held);

    for (unsigned i = 0; i < procs; i++) {
        if (ch[i].pid <= 0)
            continue;
        close(ch[i].down); /* EOF: the child closes its sessions and exits */
        close(ch[i].up);
    }
    for (unsigned i = 0; i < procs; i++) {
        int status;
        while (ch[i].pid > 0 && waitpid(ch[i].pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    (void)sigaction(SIGINT, &old, NULL); /* as it was: nothing to do if not */
    free(p);
    free(ch);
}
