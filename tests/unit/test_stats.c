/* Counters and the session board (ftpd/stats.h) as the core fills them:
 * a session counts itself and shows itself (peer, user, transfer and its
 * live bytes), logins ok and failed, idle timeouts, transfers by result;
 * a slot is freed with its session; a slot whose writer died mid-write is
 * skipped, never read torn. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ftpd/config.h"
#include "ftpd/log.h"
#include "ftpd/session.h"
#include "ftpd/stats.h"
#include "unit.h"

static char tree[64];
static int root_fd = -1;
static struct ftpd_config cfg;
static struct stats *st;

static void setup(void)
{
    strcpy(tree, "/tmp/ftpd-stats-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tree));
    char path[128];
    snprintf(path, sizeof path, "%s/hello.txt", tree);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("hello\nworld\n", f);
    fclose(f);
    root_fd = open(tree, O_PATH | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(root_fd, 0);
    config_defaults(&cfg);
    cfg.login_fail_delay = 0;
    log_set_level(LOG_LVL_ERROR);
    st = stats_new(3, 8);
    ck_assert_ptr_nonnull(st);
}

static void teardown(void)
{
    char cmd[128];
    stats_free(st);
    close(root_fd);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tree);
    ck_assert_int_eq(system(cmd), 0);
}

static struct session *new_session(int row, int slot)
{
    union sockaddr_any local, peer;
    ck_assert_int_eq(sockaddr_parse("127.0.0.1", 2121, &local), 0);
    ck_assert_int_eq(sockaddr_parse("192.0.2.7", 40000, &peer), 0);
    struct session *s = session_new(&cfg, root_fd, &local, &peer);
    ck_assert_ptr_nonnull(s);
    session_set_stats(s, st, row, slot);
    return s;
}

static enum step run(struct session *s, const char *line)
{
    struct buf out;
    buf_init(&out, 0);
    enum step step = session_command(s, line, strlen(line), &out);
    buf_free(&out);
    return step;
}

static uint64_t counter(int row, enum stats_counter c)
{
    return atomic_load(&st->rows[row].c[c]);
}

START_TEST(session_login_and_transfer)
{
    struct session *s = new_session(1, 2);
    struct stats_view v;
    ck_assert(stats_slot_read(&st->slots[2], &v));
    ck_assert_int_eq(v.owner, getpid());
    ck_assert_int_eq(v.row, 1);
    ck_assert_str_eq(v.peer, "192.0.2.7:40000");
    ck_assert(!v.logged_in);
    ck_assert_int_eq(v.xfer, STATS_XFER_NONE);
    ck_assert_int_eq(atomic_load(&st->slots_used), 3);
    ck_assert_uint_eq(counter(1, STAT_SESSIONS), 1);

    run(s, "USER anonymous");
    ck_assert_int_eq(run(s, "PASS guest@"), STEP_CONTINUE);
    ck_assert_uint_eq(counter(1, STAT_LOGINS_OK), 1);
    ck_assert(stats_slot_read(&st->slots[2], &v));
    ck_assert(v.logged_in);
    ck_assert_str_eq(v.user, "anonymous");

    run(s, "PASV");
    ck_assert_int_eq(run(s, "RETR hello.txt"), STEP_TRANSFER);
    struct transfer *t = session_transfer(s);
    ck_assert(stats_slot_read(&st->slots[2], &v));
    ck_assert_int_eq(v.xfer, STATS_XFER_RETR);
    ck_assert_str_eq(v.path, "/hello.txt");
    ck_assert_uint_eq(v.xfer_size, 12);
    ck_assert_uint_eq(v.xfer_bytes, 0);
    /* What the engines call as bytes move: live on the board and counters. */
    transfer_moved(t, 5);
    transfer_moved(t, 7);
    ck_assert(stats_slot_read(&st->slots[2], &v));
    ck_assert_uint_eq(v.xfer_bytes, 12);
    ck_assert_uint_eq(counter(1, STAT_BYTES_OUT), 12);
    ck_assert_uint_eq(counter(1, STAT_BYTES_IN), 0);

    struct buf out;
    buf_init(&out, 0);
    session_transfer_done(s, XFER_OK, 12, &out);
    buf_free(&out);
    ck_assert_uint_eq(counter(1, STAT_XFER_FIRST + XFER_OK), 1);
    ck_assert(stats_slot_read(&st->slots[2], &v));
    ck_assert_int_eq(v.xfer, STATS_XFER_NONE);

    session_free(s);
    ck_assert(!stats_slot_read(&st->slots[2], &v));  /* free */
    ck_assert_uint_eq(counter(1, STAT_SESSIONS), 1); /* counters stay */
    ck_assert_uint_eq(counter(0, STAT_SESSIONS), 0); /* another row's */
}
END_TEST

START_TEST(failed_login_and_idle_timeout)
{
    cfg.anonymous = false;
    struct session *s = new_session(0, 0);
    run(s, "USER anonymous");
    if (run(s, "PASS guest@") == STEP_WORK) { /* the check runs as deferred work */
        struct work *w = session_work_take(s);
        work_run(w);
        struct buf out;
        buf_init(&out, 0);
        session_work_done(s, w, &out);
        buf_free(&out);
    }
    ck_assert_uint_eq(counter(0, STAT_LOGINS_FAILED), 1);
    ck_assert_uint_eq(counter(0, STAT_LOGINS_OK), 0);
    struct buf out;
    buf_init(&out, 0);
    session_idle_timeout(s, &out);
    buf_free(&out);
    ck_assert_uint_eq(counter(0, STAT_IDLE_TIMEOUTS), 1);
    session_free(s);
}
END_TEST

START_TEST(beyond_the_board_counted_not_listed)
{
    struct session *s = new_session(2, 8); /* the board has slots 0..7 */
    ck_assert_uint_eq(counter(2, STAT_SESSIONS), 1);
    ck_assert_int_eq(atomic_load(&st->slots_used), 0);
    session_free(s);
    /* No stats at all: nothing counted, nothing crashes. */
    union sockaddr_any a;
    ck_assert_int_eq(sockaddr_parse("127.0.0.1", 1, &a), 0);
    struct session *plain = session_new(&cfg, root_fd, &a, &a);
    session_set_stats(plain, NULL, 0, 0);
    run(plain, "USER anonymous");
    run(plain, "PASS x");
    session_free(plain);
}
END_TEST

START_TEST(writer_died_mid_write)
{
    struct session *s = new_session(0, 1);
    struct stats_view v;
    ck_assert(stats_slot_read(&st->slots[1], &v));
    /* As if its writer were killed inside an update: seq stays odd. */
    atomic_fetch_add(&st->slots[1].seq, 1);
    ck_assert(!stats_slot_read(&st->slots[1], &v));
    /* The next writer of the slot makes it readable again. */
    stats_slot_login(&st->slots[1], "again");
    ck_assert(stats_slot_read(&st->slots[1], &v));
    ck_assert_str_eq(v.user, "again");
    session_free(s);
}
END_TEST

START_TEST(long_names_are_cut)
{
    struct session *s = new_session(0, 3);
    char path[STATS_PATH_MAX * 2];
    memset(path, 'p', sizeof path - 1);
    path[sizeof path - 1] = '\0';
    stats_slot_xfer_begin(&st->slots[3], STATS_XFER_STOR, path, 0);
    struct stats_view v;
    ck_assert(stats_slot_read(&st->slots[3], &v));
    ck_assert_uint_eq(strlen(v.path), STATS_PATH_MAX - 1);
    ck_assert_int_eq(v.xfer, STATS_XFER_STOR);
    session_free(s);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("stats");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, session_login_and_transfer);
    tcase_add_test(tc, failed_login_and_idle_timeout);
    tcase_add_test(tc, beyond_the_board_counted_not_listed);
    tcase_add_test(tc, writer_died_mid_write);
    tcase_add_test(tc, long_names_are_cut);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN()
