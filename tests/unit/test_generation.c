/* Generations (arch/common/generation.c, reload on SIGHUP): a session keeps
 * the generation it took while reloads make new ones current; a failed
 * reload changes nothing; keys that need a restart keep their running
 * value; listeners that stay keep their descriptor, added ones are opened,
 * removed ones handed back; acquire/release race with reloads from other
 * threads (run under TSan and ASan by CI). */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ftpd/config.h"
#include "ftpd/generation.h"
#include "ftpd/net.h"
#include "unit.h"

static struct ftpd_config first_cfg;
static struct ftpd_server srv;

/* What the reader hands the next reload. */
static struct ftpd_config next_cfg;
static bool next_fails;

static int read_next(void *arg, struct ftpd_config *out, char *err, size_t errlen)
{
    if (next_fails) {
        snprintf(err, errlen, "test.conf:3: key 'port': bad");
        return -1;
    }
    *out = next_cfg;
    return 0;
}

static struct generations *start(void)
{
    config_defaults(&first_cfg);
    first_cfg.port = 0;
    strcpy(first_cfg.banner, "one");
    srv = (struct ftpd_server){.cfg = &first_cfg};
    srv.root_fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(srv.root_fd, 0);
    srv.nlisteners = net_listen_all(&first_cfg, false, srv.listeners, NULL, 0);
    ck_assert_int_eq(srv.nlisteners, 1);
    next_cfg = first_cfg;
    next_fails = false;
    struct generations *g = generations_new(&srv, false, read_next, NULL);
    ck_assert_ptr_nonnull(g);
    srv.gens = g;
    return g;
}

static void finish(struct generations *g)
{
    generations_free(g); /* closes the current listeners, and the root (generation 1's) */
}

START_TEST(test_session_keeps_its_generation)
{
    struct generations *g = start();
    const struct ftpd_server *a = generation_acquire(&srv);
    ck_assert_str_eq(a->cfg->banner, "one");
    strcpy(next_cfg.banner, "two");
    struct reload rl;
    ck_assert_int_eq(generation_reload(g, 0, &rl), 0);
    ck_assert(!rl.listeners_changed);
    ck_assert_int_eq(rl.nremoved, 0);
    const struct ftpd_server *b = generation_acquire(&srv);
    ck_assert_str_eq(b->cfg->banner, "two");
    ck_assert_ptr_eq(b, generations_current(g));
    ck_assert_str_eq(a->cfg->banner, "one"); /* still there: a holds it */
    ck_assert_int_ge(a->root_fd, 0);
    generation_release(a); /* the last session of generation 1: freed (ASan) */
    ck_assert_int_eq(generation_reload(g, 0, &rl), 0);
    ck_assert_str_eq(b->cfg->banner, "two"); /* 2 is not current, b holds it */
    generation_release(b);
    finish(g);
}
END_TEST

START_TEST(test_failed_reload_changes_nothing)
{
    struct generations *g = start();
    const struct ftpd_server *before = generations_current(g);
    next_fails = true;
    struct reload rl;
    ck_assert_int_eq(generation_reload(g, 0, &rl), -1);
    ck_assert_ptr_eq(generations_current(g), before);
    /* A root that cannot be opened fails the reload too. */
    next_fails = false;
    strcpy(next_cfg.root, "/nonexistent/ftpd-root");
    ck_assert_int_eq(generation_reload(g, 0, &rl), -1);
    ck_assert_ptr_eq(generations_current(g), before);
    /* So do a users file and a certificate that do not load. */
    next_cfg = first_cfg;
    strcpy(next_cfg.users_file, "/nonexistent/ftpd-users");
    ck_assert_int_eq(generation_reload(g, 0, &rl), -1);
    next_cfg = first_cfg;
    next_cfg.tls = TLS_OPTIONAL;
    strcpy(next_cfg.tls_cert_file, "/nonexistent/ftpd-cert.pem");
    ck_assert_int_eq(generation_reload(g, 0, &rl), -1);
    ck_assert_ptr_eq(generations_current(g), before);
    /* An address that cannot be bound: nothing opened stays open. */
    next_cfg = first_cfg;
    strcpy(next_cfg.listen[1], "192.0.2.1"); /* TEST-NET-1: not ours */
    next_cfg.nlisten = 2;
    ck_assert_int_eq(generation_reload(g, 0, &rl), -1);
    ck_assert_ptr_eq(generations_current(g), before);
    finish(g);
}
END_TEST

START_TEST(test_restart_keys_keep_running_value)
{
    struct generations *g = start();
    next_cfg.max_clients = first_cfg.max_clients + 1;
    next_cfg.threads = first_cfg.threads + 1;
    strcpy(next_cfg.arch, "serial");
    next_cfg.idle_timeout = first_cfg.idle_timeout + 1; /* a session key: taken */
    struct reload rl;
    ck_assert_int_eq(generation_reload(g, 0, &rl), 0);
    const struct ftpd_config *cfg = generations_current(g)->cfg;
    ck_assert_int_eq(cfg->max_clients, first_cfg.max_clients);
    ck_assert_int_eq(cfg->threads, first_cfg.threads);
    ck_assert_str_eq(cfg->arch, first_cfg.arch);
    ck_assert_int_eq(cfg->idle_timeout, first_cfg.idle_timeout + 1);
    finish(g);
}
END_TEST

START_TEST(test_listeners_kept_added_removed)
{
    struct generations *g = start();
    int kept_fd = srv.listeners[0].fd;
    strcpy(next_cfg.listen[1], "127.0.0.2");
    next_cfg.nlisten = 2;
    struct reload rl;
    ck_assert_int_eq(generation_reload(g, 0, &rl), 0);
    ck_assert(rl.listeners_changed);
    ck_assert_int_eq(rl.srv->nlisteners, 2);
    ck_assert_int_eq(rl.srv->listeners[0].fd, kept_fd); /* never closed and bound again */
    ck_assert_int_ne(rl.srv->listeners[1].fd, kept_fd);
    ck_assert_int_gt(rl.srv->listeners[1].fd, 0);

    /* Fixed listeners: the change is refused, the rest applies. */
    next_cfg.nlisten = 1;
    strcpy(next_cfg.banner, "fixed");
    ck_assert_int_eq(generation_reload(g, RELOAD_FIXED_LISTENERS, &rl), 0);
    ck_assert(!rl.listeners_changed);
    ck_assert_int_eq(rl.srv->nlisteners, 2);
    ck_assert_str_eq(rl.srv->cfg->banner, "fixed");

    ck_assert_int_eq(generation_reload(g, 0, &rl), 0);
    ck_assert(rl.listeners_changed);
    ck_assert_int_eq(rl.srv->nlisteners, 1);
    ck_assert_int_eq(rl.srv->listeners[0].fd, kept_fd);
    ck_assert_int_eq(rl.nremoved, 1);
    ck_assert_int_eq(fcntl(rl.removed[0].fd, F_GETFD), FD_CLOEXEC); /* open until closed */
    int removed_fd = rl.removed[0].fd;
    reload_close_removed(&rl);
    ck_assert_int_eq(fcntl(removed_fd, F_GETFD), -1);
    finish(g);
}
END_TEST

static atomic_bool racing;

static void *acquire_loop(void *arg)
{
    long n = 0;
    while (atomic_load(&racing) || n == 0) {
        const struct ftpd_server *v = generation_acquire(&srv);
        /* Everything a session reads is whole: one of the two banners. */
        if (strcmp(v->cfg->banner, "one") != 0 && strcmp(v->cfg->banner, "two") != 0)
            n = -1000000;
        generation_release(v);
        n++;
    }
    return (void *)n;
}

START_TEST(test_acquire_races_reloads)
{
    struct generations *g = start();
    atomic_store(&racing, true);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, acquire_loop, NULL), 0);
    struct reload rl;
    for (int i = 0; i < 200; i++) {
        strcpy(next_cfg.banner, i % 2 ? "one" : "two");
        ck_assert_int_eq(generation_reload(g, 0, &rl), 0);
    }
    atomic_store(&racing, false);
    for (int i = 0; i < 3; i++) {
        void *n;
        pthread_join(t[i], &n);
        ck_assert_int_gt((long)n, 0);
    }
    finish(g);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("generation");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_session_keeps_its_generation);
    tcase_add_test(tc, test_failed_reload_changes_nothing);
    tcase_add_test(tc, test_restart_keys_keep_running_value);
    tcase_add_test(tc, test_listeners_kept_added_removed);
    tcase_add_test(tc, test_acquire_races_reloads);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()
