/* The loop of serial, of each prefork worker and of each threadpool thread
 * (dispatch = accept): accept, admit, serve to the end, repeat. */
#include <unistd.h>

#include "arch/blocking.h"
#include "arch/limits.h"

struct serving {
    const struct ftpd_server *srv;
    struct stop_state *st;
    struct conn_limits *limits;
    pid_t self;
};

static bool serving_on_stop(void *arg)
{
    struct serving *sv = arg;
    stop_notice(sv->st);
    return sv->st->stopping;
}

static bool serving_on_conn(void *arg, int fd, const union sockaddr_any *peer)
{
    struct serving *sv = arg;
    enum refusal why;
    int slot = limits_admit(sv->limits, peer, sv->self, &why);
    if (slot < 0) {
        limits_turn_away(sv->srv->cfg, fd, why, peer);
        return false;
    }
    serve_blocking(sv->srv, fd, peer, sv->st);
    limits_release(sv->limits, slot);
    return sv->st->stopping; /* the stop may come during the session */
}

void accept_loop(const struct ftpd_server *srv, struct stop_state *st, struct conn_limits *limits,
                 struct acceptor *acc)
{
    struct serving sv = {.srv = srv, .st = st, .limits = limits, .self = getpid()};
    static const struct accept_ops ops = {serving_on_stop, serving_on_conn};
    if (!st->stopping)
        acceptor_run(srv, acc, st->fd, &ops, &sv);
}
