#include "arch/common/backlog.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "ftpd/log.h"

uint64_t listen_queue_length(const struct listener *l, int n)
{
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (l[i].fd < 0)
            continue;
        /* For a listening socket Linux reports the accept queue's length
         * in tcpi_unacked (and its limit in tcpi_sacked). */
        struct tcp_info ti;
        socklen_t len = sizeof ti;
        if (getsockopt(l[i].fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0)
            total += ti.tcpi_unacked;
    }
    return total;
}

/* Take up to count connections off the listeners and refuse each. */
static int refuse_pending(struct backlog_guard *g, uint64_t count)
{
    int refused = 0;
    bool more = true;
    while ((uint64_t)refused < count && more) {
        more = false;
        for (int i = 0; i < g->nlisteners && (uint64_t)refused < count; i++) {
            if (g->listeners[i].fd < 0)
                continue;
            int fd;
            union sockaddr_any peer;
            enum accept_result r = acceptor_take(g->acc, g->listeners[i].fd, &fd, &peer);
            if (r == ACCEPT_OK) {
                admission_refuse_fd(g->adm, g->cfg, fd, REFUSE_BUSY, &peer);
                refused++;
                more = true;
            } else if (r == ACCEPT_DROPPED) {
                refused++;
                more = true;
            }
        }
    }
    return refused;
}

int backlog_guard_tick(struct backlog_guard *g, int64_t now)
{
    uint64_t queued = listen_queue_length(g->listeners, g->nlisteners);
    uint64_t taken = atomic_load_explicit(g->taken, memory_order_relaxed);
    uint64_t overdue = backlog_overdue(&g->watch, now, queued, taken, BACKLOG_WAIT_MS);
    if (overdue > queued)
        overdue = queued; /* a client gone from the queue meanwhile */
    return overdue > 0 ? refuse_pending(g, overdue) : 0;
}

void backlog_guard_idle(struct backlog_guard *g)
{
    backlog_reset(&g->watch);
}
