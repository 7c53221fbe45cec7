/* Generations of what sessions share (reload, SIGHUP): see ftpd/generation.h.
 *
 * Why acquire needs no lock. A session does
 *     acquiring++;  gen = current;  gen->refs++;  acquiring--;
 * and the one reloading thread does
 *     current = new;  wait until acquiring == 0;  release(old);
 * (all sequentially consistent). The old generation's own reference (the
 * one "current" held) is dropped only after the reloader saw acquiring at
 * 0 after it published the new one: a session that read the old pointer
 * had then already counted itself in it, and any later session reads the
 * new pointer. So a generation's count never reaches 0 while someone may
 * still take it, and whoever drops the last reference frees it. Only the
 * reloader ever waits (for a few instructions of the sessions starting
 * right then); sessions never wait. */
#include "ftpd/generation.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ftpd/log.h"
#include "ftpd/sdnotify.h"
#include "ftpd/sockaddr.h"
#include "ftpd/tls.h"
#include "ftpd/users.h"

#define RELOAD_ERR_MAX 1024

struct generation {
    atomic_uint refs;
    unsigned number;
    struct ftpd_config cfg;
    /* Each listener's configured address (its port as configured: 0 keeps
     * the port the kernel picked), by which a reload matches it. */
    union sockaddr_any spec[FTPD_LISTEN_MAX];
    struct ftpd_server srv; /* the view sessions use; srv.cfg = &cfg */
};

struct generations {
    _Atomic(struct generation *) current;
    atomic_uint acquiring; /* sessions between reading current and counting */
    bool reuseport;
    config_reader read;
    void *arg;
};

/* The configured address of every listener cfg asks for, in the order
 * net_listen_all opens them (plain, then implicit FTPS). -1 if one is not
 * a numeric address (config_validate has checked them). */
static int listen_specs(const struct ftpd_config *cfg, union sockaddr_any *spec)
{
    int sets = cfg->implicit_tls_port != 0 ? 2 : 1;
    int n = cfg->nlisten * sets;
    if (cfg->nlisten <= 0 || n > FTPD_LISTEN_MAX)
        return -1;
    for (int i = 0; i < n; i++) {
        int port = i < cfg->nlisten ? cfg->port : cfg->implicit_tls_port;
        if (sockaddr_parse(cfg->listen[i % cfg->nlisten], port, &spec[i]) < 0)
            return -1;
    }
    return n;
}

static bool same_spec(const union sockaddr_any *a, const union sockaddr_any *b)
{
    return sockaddr_same_ip(a, b) && sockaddr_port(a) == sockaddr_port(b);
}

struct generations *generations_new(const struct ftpd_server *first, bool reuseport,
                                    config_reader read, void *arg)
{
    struct generations *g = calloc(1, sizeof *g);
    struct generation *gen = calloc(1, sizeof *gen);
    if (g == NULL || gen == NULL || listen_specs(first->cfg, gen->spec) != first->nlisteners) {
        log_error("reload: cannot set up: %s",
                  g == NULL || gen == NULL ? strerror(ENOMEM) : "listeners");
        free(g);
        free(gen);
        return NULL;
    }
    g->reuseport = reuseport;
    g->read = read;
    g->arg = arg;
    atomic_init(&g->acquiring, 0);
    gen->number = 1;
    gen->cfg = *first->cfg;
    gen->srv = *first;
    gen->srv.cfg = &gen->cfg;
    gen->srv.gens = g;
    gen->srv.gen = gen;
    atomic_init(&gen->refs, 1); /* current's */
    atomic_init(&g->current, gen);
    return g;
}

static void generation_free(struct generation *gen, const char *when)
{
    if (gen->number > 0)
        log_debug("generation %u freed %s", gen->number, when);
    users_free((struct users *)gen->srv.users);
    tls_context_free((struct tls_context *)gen->srv.tls);
    if (gen->srv.root_fd >= 0)
        close(gen->srv.root_fd);
    free(gen);
}

void generations_free(struct generations *g)
{
    if (g == NULL)
        return;
    struct generation *gen = atomic_load(&g->current);
    net_close_all(gen->srv.listeners, gen->srv.nlisteners);
    /* Not 1: sessions still run after a second stop signal, and the
     * process exits right after; they keep what they use. */
    if (atomic_fetch_sub(&gen->refs, 1) == 1)
        generation_free(gen, "at exit");
    free(g);
}

const struct ftpd_server *generation_acquire(const struct ftpd_server *srv)
{
    struct generations *g = srv->gens;
    if (g == NULL)
        return srv;
    atomic_fetch_add(&g->acquiring, 1);
    struct generation *gen = atomic_load(&g->current);
    atomic_fetch_add_explicit(&gen->refs, 1, memory_order_relaxed);
    atomic_fetch_sub(&g->acquiring, 1);
    return &gen->srv;
}

void generation_release(const struct ftpd_server *view)
{
    struct generation *gen = view->gen;
    if (gen != NULL && atomic_fetch_sub_explicit(&gen->refs, 1, memory_order_acq_rel) == 1)
        generation_free(gen, "(no longer current, its last session ended)");
}

const struct ftpd_server *generations_current(const struct generations *g)
{
    return &atomic_load(&((struct generations *)g)->current)->srv;
}

/* Keys read once by the back-end (sizes of pools and tables, the pattern
 * itself): a new value waits for a restart or a binary upgrade. */
static void keep_running_values(const struct ftpd_config *run, struct ftpd_config *cfg)
{
#define KEEP(field, key)                                                                           \
    do {                                                                                           \
        if (cfg->field != run->field) {                                                            \
            log_warn("reload: '%s' changed: needs a restart (or a binary upgrade), the running "   \
                     "value stays",                                                                \
                     key);                                                                         \
            cfg->field = run->field;                                                               \
        }                                                                                          \
    } while (0)
    if (strcmp(cfg->arch, run->arch) != 0) {
        log_warn("reload: 'arch' changed (%s to %s): needs a restart (or a binary upgrade), "
                 "%s stays",
                 run->arch, cfg->arch, run->arch);
        memcpy(cfg->arch, run->arch, sizeof cfg->arch);
    }
    KEEP(workers, "workers");
    KEEP(threads, "threads");
    KEEP(threadpool_dispatch, "threadpool_dispatch");
    KEEP(hybrid_reuseport, "hybrid_balance");
    KEEP(max_clients, "max_clients");
    KEEP(max_per_ip, "max_per_ip");
    KEEP(shutdown_grace, "shutdown_grace");
    KEEP(listing_cache_ttl, "listing_cache_ttl");
    KEEP(max_rate_total, "max_rate_total");
    KEEP(min_spare_workers, "min_spare_workers");
    KEEP(max_spare_workers, "max_spare_workers");
    KEEP(max_workers, "max_workers");
    KEEP(log_level, "log_level");
#undef KEEP
}

static void keep_listen_keys(const struct ftpd_config *run, struct ftpd_config *cfg)
{
    memcpy(cfg->listen, run->listen, sizeof cfg->listen);
    cfg->nlisten = run->nlisten;
    cfg->port = run->port;
    cfg->implicit_tls_port = run->implicit_tls_port;
}

/* The new generation's listeners: those of old whose configured address
 * stays (never closed and bound again: nothing queued is lost), and new
 * ones for the added addresses. 0, or -1 with err (the new ones closed). */
static int take_listeners(const struct generations *g, const struct generation *old,
                          struct generation *gen, char *err, size_t errlen)
{
    int n = listen_specs(&gen->cfg, gen->spec);
    if (n < 0) {
        snprintf(err, errlen, "no usable listen address");
        return -1;
    }
    struct ftpd_server *srv = &gen->srv;
    for (int i = 0; i < n; i++) {
        int kept = -1;
        for (int j = 0; j < old->srv.nlisteners && kept < 0; j++)
            kept = same_spec(&gen->spec[i], &old->spec[j]) ? j : -1;
        if (kept >= 0) {
            srv->listeners[i] = old->srv.listeners[kept];
            continue;
        }
        srv->listeners[i].addr = gen->spec[i];
        srv->listeners[i].fd = net_listen_one(&srv->listeners[i].addr, g->reuseport);
        if (srv->listeners[i].fd < 0) {
            char addr[SOCKADDR_STR_MAX];
            sockaddr_str(&gen->spec[i], addr, sizeof addr);
            snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(errno));
            for (int k = 0; k < i; k++) { /* close only what this reload opened */
                bool opened = true;
                for (int j = 0; j < old->srv.nlisteners; j++)
                    opened &= !same_spec(&gen->spec[k], &old->spec[j]);
                if (opened)
                    close(srv->listeners[k].fd);
            }
            return -1;
        }
    }
    srv->nlisteners = n;
    return 0;
}

/* The listeners of gen that old did not have, as main() logs them at
 * start ("listening on ADDR:PORT", which scripts and tests read). */
static void log_added(const struct generation *old, const struct generation *gen)
{
    for (int i = 0; i < gen->srv.nlisteners; i++) {
        bool kept = false;
        for (int j = 0; j < old->srv.nlisteners; j++)
            kept |= same_spec(&gen->spec[i], &old->spec[j]);
        if (kept)
            continue;
        char addr[SOCKADDR_STR_MAX];
        sockaddr_str(&gen->srv.listeners[i].addr, addr, sizeof addr);
        log_info("%s %s", i < gen->cfg.nlisten ? "listening on" : "implicit FTPS on", addr);
    }
}

/* Everything a session shares, from gen->cfg. 0, or -1 with err naming
 * the file and the problem (what was opened is closed). */
static int load_parts(struct generation *gen, char *err, size_t errlen)
{
    const struct ftpd_config *cfg = &gen->cfg;
    struct ftpd_server *srv = &gen->srv;
    srv->root_fd = open(cfg->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (srv->root_fd < 0) {
        snprintf(err, errlen, "cannot open root '%.512s': %s", cfg->root, strerror(errno));
        return -1;
    }
    if (cfg->users_file[0] != '\0' &&
        (srv->users = users_load(cfg->users_file, err, errlen)) == NULL) {
        close(srv->root_fd);
        return -1;
    }
    if (cfg->tls != TLS_OFF && (srv->tls = tls_context_new(cfg, err, errlen)) == NULL) {
        users_free((struct users *)srv->users);
        close(srv->root_fd);
        return -1;
    }
    return 0;
}

static bool same_specs(const union sockaddr_any *a, int na, const union sockaddr_any *b, int nb)
{
    if (na != nb)
        return false;
    for (int i = 0; i < na; i++) {
        if (!same_spec(&a[i], &b[i]))
            return false;
    }
    return true;
}

/* Make gen current and drop old's reference once no session can be taking
 * it any more (see the top of this file). */
static void publish(struct generations *g, struct generation *old, struct generation *gen)
{
    atomic_store(&g->current, gen);
    while (atomic_load(&g->acquiring) != 0)
        sched_yield();
    generation_release(&old->srv);
}

static int reload_once(struct generations *g, unsigned fixed, struct reload *out)
{
    struct generation *old = atomic_load(&g->current);
    *out = (struct reload){.srv = &old->srv};
    char err[RELOAD_ERR_MAX];
    struct generation *gen = calloc(1, sizeof *gen);
    if (gen == NULL) {
        log_error("reload: %s; still running the previous configuration", strerror(errno));
        return -1;
    }
    if (g->read(g->arg, &gen->cfg, err, sizeof err) != 0) {
        log_error("reload: %s; still running the previous configuration", err);
        free(gen);
        return -1;
    }
    keep_running_values(&old->cfg, &gen->cfg);
    gen->srv = old->srv; /* rate_total, gens; the rest is replaced below */
    gen->srv.cfg = &gen->cfg;
    gen->srv.gen = gen;
    gen->srv.users = NULL;
    gen->srv.tls = NULL;
    int nspec = listen_specs(&gen->cfg, gen->spec);
    if (nspec < 0) {
        log_error("reload: no usable listen address; still running the previous configuration");
        free(gen);
        return -1;
    }
    if ((fixed & RELOAD_FIXED_LISTENERS) &&
        !same_specs(gen->spec, nspec, old->spec, old->srv.nlisteners)) {
        log_warn("reload: the listen addresses changed: this back-end needs a restart (or a "
                 "binary upgrade) for that, they stay as they are");
        keep_listen_keys(&old->cfg, &gen->cfg);
    }
    if (load_parts(gen, err, sizeof err) < 0) {
        log_error("reload: %s; still running the previous configuration", err);
        free(gen);
        return -1;
    }
    if (take_listeners(g, old, gen, err, sizeof err) < 0) {
        log_error("reload: %s; still running the previous configuration", err);
        gen->number = 0; /* never in use: not worth a line */
        generation_free(gen, "");
        return -1;
    }
    log_added(old, gen);
    for (int j = 0; j < old->srv.nlisteners; j++) {
        bool kept = false;
        for (int i = 0; i < gen->srv.nlisteners; i++)
            kept |= same_spec(&gen->spec[i], &old->spec[j]);
        if (!kept) {
            char addr[SOCKADDR_STR_MAX];
            sockaddr_str(&old->srv.listeners[j].addr, addr, sizeof addr);
            log_info("no longer listening on %s", addr);
            out->removed[out->nremoved++] = old->srv.listeners[j];
        }
    }
    out->listeners_changed =
        !same_specs(gen->spec, gen->srv.nlisteners, old->spec, old->srv.nlisteners);
    gen->number = old->number + 1;
    atomic_init(&gen->refs, 1); /* current's */
    publish(g, old, gen);
    out->srv = &gen->srv;
    if (gen->srv.users != NULL)
        log_info("reload: %zu accounts from %s", users_count(gen->srv.users), gen->cfg.users_file);
    log_info("reload: generation %u in use for new sessions", gen->number);
    return 0;
}

void generations_close_listeners(struct generations *g)
{
    struct generation *gen = atomic_load(&g->current);
    net_close_all(gen->srv.listeners, gen->srv.nlisteners);
}

void reload_close_removed(struct reload *r)
{
    /* Shut down first: worker processes of older generations may hold
     * copies (prefork, hybrid); from now on the kernel refuses connections
     * to the address for all of them. */
    net_stop_listening(r->removed, r->nremoved);
    net_close_all(r->removed, r->nremoved);
    r->nremoved = 0;
}

/* The service manager hears of it (sd_notify): RELOADING=1 before, READY=1
 * after, whether the new configuration was taken or not. */
int generation_reload(struct generations *g, unsigned fixed, struct reload *out)
{
    notify_reloading();
    int rc = reload_once(g, fixed, out);
    notify_ready();
    return rc;
}
