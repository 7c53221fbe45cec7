/* Master of prefork and hybrid (nginx's ngx_process_cycle.c, much smaller). */
#include "arch/common/supervisor.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch/common/upgrade.h"
#include "ftpd/clock.h"
#include "ftpd/generation.h"
#include "ftpd/log.h"
#include "ftpd/net.h"
#include "ftpd/status.h"

int worker_count(const struct ftpd_config *cfg)
{
    if (cfg->workers > 0)
        return cfg->workers;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void respawn_guard_death(struct respawn_guard *g, int64_t now, int64_t started)
{
    if (now - started >= RESPAWN_WINDOW_MS) {
        g->quick_deaths = 0;
    } else if (++g->quick_deaths > RESPAWN_BURST) {
        /* A crash loop: don't fork-bomb, pause respawning a while. */
        log_error("workers keep dying at start; pausing respawn for a second");
        g->paused_until = now + RESPAWN_WINDOW_MS;
        g->quick_deaths = 0;
    }
}

bool respawn_guard_allows(const struct respawn_guard *g, int64_t now)
{
    return now >= g->paused_until;
}

int workers_resize(struct supervisor *s, int n)
{
    if (n > s->cap) {
        struct worker *w = realloc(s->w, (size_t)n * sizeof *w);
        if (w == NULL)
            return -1;
        memset(w + s->cap, 0, (size_t)(n - s->cap) * sizeof *w);
        for (int i = s->cap; i < n; i++)
            w[i].ch.fd = -1;
        s->w = w;
        s->cap = n;
    }
    for (int i = 0; i < s->cap; i++) {
        if (i < n && s->w[i].pid == 0)
            s->w[i].pid = -1; /* a new slot: to be spawned */
        else if (i >= n && s->w[i].pid > 0 && kill(s->w[i].pid, SIGTERM) < 0 && errno != ESRCH)
            log_warn("kill %ld: %s", (long)s->w[i].pid, strerror(errno));
        else if (i >= n && s->w[i].pid < 0)
            s->w[i].pid = 0;
    }
    s->target = n;
    return 0;
}

/* Grow to n slots (new ones unused) and make them all eligible. */
static int workers_reserve(struct supervisor *s, int n)
{
    int target = s->target;
    if (workers_resize(s, n) < 0)
        return -1;
    for (int i = target; i < n; i++) {
        if (s->w[i].pid < 0)
            s->w[i].pid = 0;
    }
    return 0;
}

int workers_add(struct supervisor *s, int n)
{
    int added = 0;
    for (int i = 0; i < s->target && added < n; i++) {
        if (s->w[i].pid == 0) {
            s->w[i].pid = -1;
            s->w[i].retiring = false;
            added++;
        }
    }
    return added;
}

void workers_retire(struct supervisor *s, int i)
{
    s->w[i].retiring = true;
}

static void log_exit(pid_t pid, int status, bool expected)
{
    enum log_level level = expected ? LOG_LVL_INFO : LOG_LVL_ERROR;
    if (WIFSIGNALED(status))
        log_msg(level, "worker pid %ld killed by signal %d (%s)", (long)pid, WTERMSIG(status),
                strsignal(WTERMSIG(status)));
    else
        log_msg(level, "worker pid %ld exited with status %d", (long)pid, WEXITSTATUS(status));
}

void workers_reap(struct supervisor *s, int64_t now)
{
    for (int i = 0; i < s->cap; i++) {
        if (s->w[i].pid <= 0)
            continue;
        int status;
        pid_t r = waitpid(s->w[i].pid, &status, WNOHANG);
        if (r == 0 || (r < 0 && errno == EINTR))
            continue;
        bool retired = i >= s->target || s->w[i].retiring;
        if (r > 0) {
            log_exit(r, status, s->stops > 0 || retired);
            if (s->adm != NULL)
                admission_release_owner(s->adm, r);
        }
        s->w[i].pid = retired ? 0 : -1;
        s->w[i].retiring = false;
        channel_close(&s->w[i].ch);
        if (!retired && s->stops == 0)
            respawn_guard_death(&s->guard, now, s->w[i].started);
    }
}

/* Reap the workers of older generations that have left. */
static void reap_draining(struct supervisor *s)
{
    for (int i = 0; i < s->ndraining;) {
        int status;
        pid_t r = waitpid(s->draining[i].pid, &status, WNOHANG);
        if (r == 0 || (r < 0 && errno == EINTR)) {
            i++;
            continue;
        }
        if (r > 0) {
            log_exit(r, status, true);
            if (s->adm != NULL)
                admission_release_owner(s->adm, r);
        }
        if (s->draining[i].ch_fd >= 0)
            close(s->draining[i].ch_fd);
        s->draining[i] = s->draining[--s->ndraining];
    }
}

void workers_renew(struct supervisor *s, int64_t now)
{
    int renewed = 0;
    for (int i = 0; i < s->target; i++) {
        struct worker *w = &s->w[i];
        if (w->pid <= 0 || w->retiring)
            continue;
        if (s->ndraining == s->capdraining) {
            int cap = s->capdraining > 0 ? 2 * s->capdraining : 16;
            struct drainer *d = realloc(s->draining, (size_t)cap * sizeof *d);
            if (d == NULL) {
                log_error("reload: worker %d keeps its configuration: %s", i, strerror(errno));
                continue;
            }
            s->draining = d;
            s->capdraining = cap;
        }
        s->draining[s->ndraining++] = (struct drainer){.pid = w->pid, .ch_fd = w->ch.fd};
        if (w->ch.fd >= 0) /* the descriptor goes with it; the slot's next is new */
            msg_reader_free(&w->ch.rd);
        w->ch.fd = -1;
        w->ch.ready = false;
        w->pid = -1; /* respawned on the new generation */
        renewed++;
    }
    if (renewed == 0)
        return;
    log_info("reload: %d workers drain their sessions, new ones start", renewed);
    s->drain_wait_since = now > 0 ? now : 1;
    if (s->new_workers_ready == NULL)
        workers_tell_draining(s, now);
}

void workers_tell_draining(struct supervisor *s, int64_t now)
{
    if (s->drain_wait_since == 0)
        return;
    bool ready = s->new_workers_ready == NULL || s->new_workers_ready(s->arg);
    if (!ready && now - s->drain_wait_since < DRAIN_WAIT_MAX_MS)
        return;
    if (!ready)
        log_warn("reload: the new workers are not all listening after %d ms; draining the old "
                 "ones anyway",
                 DRAIN_WAIT_MAX_MS);
    for (int i = 0; i < s->ndraining; i++) {
        struct drainer *d = &s->draining[i];
        if (!d->told && kill(d->pid, SIGHUP) < 0 && errno != ESRCH)
            log_warn("kill %ld: %s", (long)d->pid, strerror(errno));
        d->told = true;
    }
    s->drain_wait_since = 0;
}

/* SIGHUP in the master: the new generation, then new workers on it. */
static void on_reload(struct supervisor *s)
{
    struct reload rl;
    if (s->stops > 0 || s->srv->gens == NULL ||
        generation_reload(s->srv->gens, s->reload_fixed, &rl) != 0)
        return;
    s->srv = rl.srv;
    if (s->reloaded != NULL)
        s->reloaded(s->arg, rl.srv);
    workers_renew(s, clock_ms());
    /* The old workers keep their copies of removed listeners until they
     * exit; they no longer accept on them. */
    reload_close_removed(&rl);
}

static pid_t spawn(struct supervisor *s, int index)
{
    if (s->before_spawn != NULL)
        s->before_spawn(s->arg, index);
    int ch[2];
    if (channel_pair(ch) < 0)
        return -1;
    status_service_fork_begin(s->srv->status);
    pid_t pid = fork();
    status_service_fork_end(s->srv->status);
    if (pid < 0) {
        log_error("fork worker %d: %s", index, strerror(errno));
        close(ch[0]);
        close(ch[1]);
        return -1;
    }
    if (pid == 0) {
        ctl_events_close(&s->events);
        /* Only the master may hold the master's ends: a sibling keeping
         * one open would hide the master's death from that worker. */
        for (int i = 0; i < s->cap; i++) {
            if (s->w[i].ch.fd >= 0)
                close(s->w[i].ch.fd);
        }
        close(ch[0]);
        channel_worker_start(ch[1]);
        _exit(s->worker(s->srv, index, s->arg));
    }
    close(ch[1]);
    channel_close(&s->w[index].ch);
    channel_open(&s->w[index].ch, ch[0]);
    log_info("worker %d started as pid %ld", index, (long)pid);
    return pid;
}

void workers_respawn(struct supervisor *s, int64_t now)
{
    if (s->stops > 0 || s->handed_over || !respawn_guard_allows(&s->guard, now))
        return;
    for (int i = 0; i < s->target; i++) {
        if (s->w[i].pid < 0) {
            s->w[i].pid = spawn(s, i);
            s->w[i].started = now;
        }
    }
}

int workers_alive(const struct supervisor *s)
{
    int alive = s->ndraining;
    for (int i = 0; i < s->cap; i++)
        alive += s->w[i].pid > 0 || (s->w[i].pid < 0 && s->stops == 0 && !s->handed_over);
    return alive;
}

void workers_signal(const struct supervisor *s, int sig)
{
    for (int i = 0; i < s->cap; i++) {
        if (s->w[i].pid > 0 && kill(s->w[i].pid, sig) < 0 && errno != ESRCH)
            log_warn("kill %ld: %s", (long)s->w[i].pid, strerror(errno));
    }
    for (int i = 0; i < s->ndraining; i++) {
        if (kill(s->draining[i].pid, sig) < 0 && errno != ESRCH)
            log_warn("kill %ld: %s", (long)s->draining[i].pid, strerror(errno));
    }
}

int workers_tell(struct supervisor *s, int i, uint16_t type)
{
    if (i < 0 || i >= s->cap || s->w[i].pid <= 0) {
        errno = ESRCH;
        return -1;
    }
    if (channel_tell(&s->w[i].ch, type) < 0) {
        channel_close(&s->w[i].ch);
        return -1;
    }
    return 0;
}

void workers_free(struct supervisor *s)
{
    for (int i = 0; i < s->cap; i++)
        channel_close(&s->w[i].ch);
    free(s->w);
    s->w = NULL;
    for (int i = 0; i < s->ndraining; i++) {
        if (s->draining[i].ch_fd >= 0)
            close(s->draining[i].ch_fd);
    }
    free(s->draining);
    s->draining = NULL;
    s->ndraining = s->capdraining = 0;
    s->cap = s->target = 0;
}

void workers_drain(struct supervisor *s, pid_t successor)
{
    if (s->handed_over)
        return;
    s->handed_over = true;
    log_info("draining: the workers finish their sessions, new ones go to the new generation "
             "(pid %ld)",
             (long)successor);
    union sigval v = {.sival_int = (int)successor};
    for (int i = 0; i < s->cap; i++) {
        if (s->w[i].pid > 0) {
            s->w[i].retiring = true;
            if (sigqueue(s->w[i].pid, SIGUSR2, v) < 0 && errno != ESRCH)
                log_warn("sigqueue %ld: %s", (long)s->w[i].pid, strerror(errno));
        } else {
            s->w[i].pid = 0; /* not to be respawned */
        }
    }
}

/* Stop signals go to the workers as SIGTERM: they count them too, so a
 * second one stops them at once but cleanly (426/421 to their clients);
 * only a third kills them. A drain (live upgrade) goes to them as
 * SIGUSR2. */
static void on_events(struct supervisor *s)
{
    unsigned reopens = s->events.reopens;
    enum ctl_event e = ctl_events_drain(&s->events);
    if (s->events.reopens != reopens)
        workers_signal(s, SIGUSR1); /* each worker reopens its own files */
    if (ctl_events_take_reload(&s->events) && e == CTL_NONE && !s->handed_over)
        on_reload(s);
    if (e == CTL_NONE)
        return;
    if (e == CTL_DRAIN) {
        workers_drain(s, s->events.successor);
        return;
    }
    if (s->stops == 0) {
        log_info("stopping workers gracefully");
        /* Never the listeners a new generation serves on (live upgrade). */
        if (!s->events.handed_over)
            net_stop_listening(s->srv->listeners, s->srv->nlisteners);
    }
    if (e == CTL_STOP_NOW)
        log_info("stopping workers now");
    else if (e == CTL_KILL)
        log_info("killing workers");
    workers_signal(s, e == CTL_KILL ? SIGKILL : SIGTERM);
    s->drain_wait_since = 0;                              /* the draining ones stop too */
    s->stops = s->events.stops > 0 ? s->events.stops : 2; /* 2: the fd failed */
}

/* Poll the control events and every worker's channel until something
 * happens or a tick passes; read what the channels brought. -1: poll
 * failed (logged). */
static int wait_events(struct supervisor *s)
{
    struct pollfd one;
    /* The pollfds, then which worker each one is (channels may close
     * while they are read). */
    size_t slots = (size_t)s->cap + 1;
    struct pollfd *p = malloc((sizeof *p + sizeof(int)) * slots);
    if (p == NULL)
        p = &one; /* out of memory: the events alone, this time */
    int *who = (int *)(p + slots);
    int n = 0;
    p[n++] = (struct pollfd){.fd = s->events.fd, .events = POLLIN};
    for (int i = 0; i < s->cap && p != &one; i++) {
        if (s->w[i].ch.fd >= 0) {
            who[n] = i;
            p[n++] = (struct pollfd){.fd = s->w[i].ch.fd, .events = POLLIN};
        }
    }
    int wait_ms = s->drain_wait_since != 0 ? DRAIN_WAIT_TICK_MS
                  : s->tick_ms > 0         ? s->tick_ms
                                           : 1000;
    int rc = poll(p, (nfds_t)n, wait_ms);
    int err = errno;
    for (int k = 1; rc > 0 && k < n; k++) {
        if (p[k].revents != 0)
            channel_receive(&s->w[who[k]].ch, who[k]);
    }
    if (p != &one)
        free(p);
    if (rc < 0 && err != EINTR) {
        log_error("poll: %s", strerror(err));
        return -1;
    }
    return 0;
}

int supervise(struct supervisor *s, int nworkers)
{
    if (ctl_events_open(&s->events, CTL_WITH_SIGINT | CTL_WITH_CHILD) < 0)
        return 1;
    if (ctl_events_enable_upgrade(&s->events, s->srv) < 0) {
        ctl_events_close(&s->events);
        return 1;
    }
    if (workers_resize(s, nworkers) < 0 ||
        (s->reserve > nworkers && workers_reserve(s, s->reserve) < 0)) {
        log_error("cannot allocate the worker table: %s", strerror(errno));
        workers_free(s);
        ctl_events_close(&s->events);
        return 1;
    }
    workers_respawn(s, clock_ms());
    if (s->started != NULL)
        s->started(s->arg);
    while (workers_alive(s) > 0) {
        /* Wake up now and then to retry a worker that could not be forked
         * or whose respawn was paused. */
        if (wait_events(s) < 0)
            break;
        on_events(s);
        int64_t now = clock_ms();
        workers_reap(s, now);
        reap_draining(s);
        if (s->tick != NULL && s->stops == 0 && !s->handed_over)
            s->tick(s, now);
        workers_respawn(s, now);
        workers_tell_draining(s, now);
    }
    workers_free(s);
    ctl_events_close(&s->events);
    log_info("all workers stopped");
    return 0;
}
