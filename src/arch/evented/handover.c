/* Live upgrade: idle sessions move from the old generation to the new one
 * (issue 12), for reactor and hybrid. The seam is in handover.h.
 *
 * Design.
 *
 *   Where sessions live. reactor: in its one process. hybrid: in the
 *   worker processes, each with its own loop; the master holds none. So
 *   the receiving end must be reachable from every old process holding
 *   sessions and served by every new loop, like a listener.
 *
 *   The handover socket. Every generation's main process (the reactor's
 *   process, hybrid's master before it forks) listens on a Unix stream
 *   socket in the abstract namespace named after its pid
 *   ("ftpd-handover.<pid>": nothing on disk to clean up, gone when it
 *   exits). The old generation knows that pid: the reactor forked the new
 *   one, and a hybrid master sends it to its workers with the drain
 *   (SIGUSR2 by sigqueue, arch/common/upgrade.h). Every loop of the new
 *   generation watches it as it watches a
 *   TCP listener: whichever hybrid worker wins accept() serves that
 *   handover connection, so the sessions of the old workers spread over the
 *   new ones. It accepts only a peer running as our own user
 *   (SO_PEERCRED): such a process could ptrace us anyway, anybody else
 *   could otherwise hand us a "logged-in" session.
 *
 *   The old side. Once the new generation reported ready, the upgrade flow
 *   drains each old process with sessions (the reactor; each hybrid
 *   worker, told by its master), and the drain calls handover_start()
 *   (reactor_opts.hand_over) before the rest finish there. That process
 *   connects once (the new generation reports ready once its handover
 *   socket is open; a refused connect is still retried for
 *   FTPD_HANDOVER_CONNECT_MS, sessions served on meanwhile) and sends every
 *   idle session, one message each, then
 *   each session that becomes idle later: a transfer ends, the 226 is
 *   written, the next command line is not there, it moves. A session is
 *   idle between commands: no transfer, no password check or login delay,
 *   no half-read line, no unsent reply (evconn_export). A TLS session
 *   never moves: OpenSSL cannot export its state, so it drains here (served
 *   until it ends, or until upgrade_drain_timeout's graceful stop gives it
 *   a 421; a stop moves nothing more).
 *
 *   The protocol (msg.h framing). old -> new: MSG_HO_SESSION, payload the
 *   session record, descriptors the control socket and, if open, the
 *   passive listener. new -> old: MSG_HO_ACK, one byte, in the order the
 *   sessions came: HO_TAKEN or HO_REFUSED. The new side decodes the record,
 *   admits the session (max_clients, max_per_ip: admission counts it),
 *   restores it (the account looked up again, its home reopened), answers,
 *   and only then starts reading the control socket. The old side, from
 *   the send until the answer, watches nothing on that connection (it is
 *   parked): whatever the client sends meanwhile waits in the kernel for
 *   whichever side serves it. HO_TAKEN: the old side closes its copies
 *   without a word. HO_REFUSED (a bad record, the account gone from the new
 *   users file, anonymous turned off, max_clients): the old side serves it
 *   on, and never offers it again. If the handover connection fails (the
 *   new generation died, a send timed out), every parked session is served
 *   on here, and nothing else moves. So a session is always served by
 *   exactly one side, and the client never sees a second greeting.
 *
 *   Cost. One message of ~200 bytes and one answer per session. Up to
 *   FTPD_HANDOVER_WINDOW sessions are sent ahead of the answers (parked in
 *   order); each batch of answers sends the next ones. Without that bound
 *   1,000 sessions sent at once filled the socket one way while the
 *   answers filled it the other, and both loops waited on each other. */
#include "arch/evented/handover.h"

#include <errno.h>
#include <ev.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ftpd/clock.h"
#include "ftpd/generation.h"
#include "ftpd/limits.h"
#include "ftpd/log.h"
#include "ftpd/msg.h"
#include "ftpd/session.h"
#include "ftpd/session_record.h"

enum { HO_TAKEN = 0, HO_REFUSED = 1 };

/* Backlog of the handover socket: one connection per old process. */
#define HANDOVER_BACKLOG 64

static socklen_t handover_addr(pid_t pid, struct sockaddr_un *sun)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    /* Abstract namespace: sun_path[0] is NUL, the name follows unterminated. */
    int n = snprintf(sun->sun_path + 1, sizeof sun->sun_path - 1, HANDOVER_NAME_FMT, (long)pid);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/* ---- new generation: taking sessions ------------------------------------ */

/* One handover connection from an old process. */
struct rx_conn {
    struct handover_rx *rx;
    struct rx_conn *next;
    ev_io w;
    struct msg_reader rd;
};

struct handover_rx {
    struct evserver *es;
    ev_io accept_w;
    struct rx_conn *conns;
};

int handover_listen(pid_t self)
{
    struct sockaddr_un sun;
    socklen_t len = handover_addr(self, &sun);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&sun, len) < 0 || listen(fd, HANDOVER_BACKLOG) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int handover_listen_logged(void)
{
    int fd = handover_listen(getpid());
    if (fd < 0)
        log_warn("no handover socket, sessions cannot move in: %s", strerror(errno));
    return fd;
}

static void rx_conn_free(struct rx_conn *rc)
{
    struct handover_rx *rx = rc->rx;
    ev_io_stop(rx->es->loop, &rc->w);
    for (struct rx_conn **p = &rx->conns; *p != NULL; p = &(*p)->next) {
        if (*p == rc) {
            *p = rc->next;
            break;
        }
    }
    msg_reader_free(&rc->rd);
    close(rc->w.fd);
    free(rc);
}

/* Restore the session of one MSG_HO_SESSION. Returns the connection,
 * parked, or NULL (logged; our copies of its descriptors closed: the old
 * generation serves it on). */
static struct evconn *rx_restore(struct evserver *es, struct msg *m)
{
    const char *why = "descriptors missing";
    struct session_record r;
    char name[SOCKADDR_STR_MAX] = "?";
    int slot = -1;
    const struct ftpd_server *srv = NULL;
    if (m->nfds < 1)
        goto fail;
    if (session_record_decode(m->payload, m->len, &r, &why) < 0)
        goto fail;
    sockaddr_str(&r.peer, name, sizeof name);
    why = "descriptors missing";
    if (m->nfds != (r.have_pasv ? 2 : 1))
        goto fail;
    why = "this generation is stopping";
    if (es->stopping || es->draining)
        goto fail;
    enum refusal refused;
    slot = admission_admit(es->adm, &r.peer, es->pid, &refused);
    if (slot < 0) {
        why = refusal_reason(refused);
        goto fail;
    }
    /* The generation current here (reload): the session takes its own
     * reference in evconn_adopt. */
    srv = generation_acquire(es->srv);
    int pasv = r.have_pasv ? m->fds[1] : -1;
    if (r.have_pasv)
        m->nfds = 1; /* the import takes it, whatever happens */
    struct session *s = session_record_import(&r, srv->cfg, srv->root_fd, srv->users, pasv, &why);
    if (s == NULL)
        goto fail;
    session_set_rate_share(s, srv->rate_total);
    session_set_stats(s, srv->stats, es->srv->stats_row, slot); /* --status sees it */
    struct evconn *c = evconn_adopt(es, m->fds[0], &r.peer, slot, s);
    if (c != NULL) {
        generation_release(srv);
        return c;
    }
    why = "out of memory";
    session_free(s);
fail:
    if (srv != NULL)
        generation_release(srv);
    log_warn("%s cannot move in: %s", name, why);
    if (slot >= 0)
        admission_release(es->adm, slot);
    msg_close_fds(m); /* our copies only */
    return NULL;
}

static void on_rx_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    struct rx_conn *rc = w->data;
    struct evserver *es = rc->rx->es;
    for (;;) {
        struct msg m;
        enum msg_status st = msg_read(&rc->rd, w->fd, &m);
        if (st == MSG_AGAIN)
            return;
        if (st != MSG_OK) {
            if (st == MSG_ERR)
                log_warn("handover connection: %s", strerror(errno));
            rx_conn_free(rc);
            return;
        }
        if (m.type != MSG_HO_SESSION) {
            msg_close_fds(&m);
            continue;
        }
        struct evconn *c = rx_restore(es, &m);
        unsigned char answer = c != NULL ? HO_TAKEN : HO_REFUSED;
        if (msg_send(w->fd, MSG_HO_ACK, &answer, 1, NULL, 0) < 0) {
            /* The old side cannot learn it: it serves the session on. */
            log_warn("handover connection: answer failed: %s", strerror(errno));
            if (c != NULL)
                evconn_let_go(c, "stays in the old generation");
            rx_conn_free(rc);
            return;
        }
        if (c != NULL) {
            log_info("%s moved in from the old generation", evconn_name(c));
            evconn_unpark(c, false); /* the client's next command is ours */
        }
    }
}

/* The peer runs as our user. */
static bool rx_peer_trusted(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid == geteuid();
}

static void on_rx_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct handover_rx *rx = w->data;
    int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
            log_warn("handover accept: %s", strerror(errno));
        return; /* another worker took it, or try again on readiness */
    }
    if (!rx_peer_trusted(fd)) {
        log_warn("handover connection refused: the peer is not our user");
        close(fd);
        return;
    }
    struct rx_conn *rc = calloc(1, sizeof *rc);
    if (rc == NULL) {
        log_warn("handover connection refused: %s", strerror(errno));
        close(fd);
        return;
    }
    rc->rx = rx;
    msg_reader_init(&rc->rd, SESSION_RECORD_MAX);
    ev_io_init(&rc->w, on_rx_readable, fd, EV_READ);
    rc->w.data = rc;
    ev_io_start(loop, &rc->w);
    rc->next = rx->conns;
    rx->conns = rc;
}

int handover_rx_start(struct evserver *es, int listen_fd)
{
    struct handover_rx *rx = calloc(1, sizeof *rx);
    if (rx == NULL)
        return -1;
    rx->es = es;
    ev_io_init(&rx->accept_w, on_rx_accept, listen_fd, EV_READ);
    rx->accept_w.data = rx;
    ev_io_start(es->loop, &rx->accept_w);
    es->handover_rx = rx;
    return 0;
}

void handover_rx_stop(struct evserver *es)
{
    struct handover_rx *rx = es->handover_rx;
    if (rx == NULL)
        return;
    ev_io_stop(es->loop, &rx->accept_w);
    while (rx->conns != NULL)
        rx_conn_free(rx->conns);
    free(rx);
    es->handover_rx = NULL;
}

/* ---- old generation: giving sessions ------------------------------------ */

struct handover {
    struct evserver *es;
    ev_io w; /* answers */
    struct msg_reader rd;
    ev_timer retry;   /* the connect, again */
    int64_t give_up;  /* clock_ms() when connecting stops */
    pid_t generation; /* the new one's main process */
    bool connected;
    bool broken; /* the connection failed: nothing more moves */
    /* The parked connections in the order they were sent (a ring); an
     * entry is NULL when its connection was freed meanwhile. */
    struct evconn **parked;
    size_t head, count, cap;
    unsigned long moved, stayed;
    uint8_t record[SESSION_RECORD_MAX]; /* the one being sent */
};

static void offer_all(struct evserver *es);

/* Every parked session is served on here; nothing more is offered. */
static void handover_break(struct handover *h, const char *why)
{
    log_warn("handover to the new generation failed (%s): the rest drains here", why);
    h->broken = true;
    ev_io_stop(h->es->loop, &h->w);
    ev_timer_stop(h->es->loop, &h->retry);
    while (h->count > 0) {
        struct evconn *c = h->parked[h->head];
        h->head = (h->head + 1) % h->cap;
        h->count--;
        if (c != NULL)
            evconn_unpark(c, true);
    }
}

static void on_answer(struct ev_loop *loop, ev_io *w, int revents)
{
    struct handover *h = w->data;
    for (;;) {
        struct msg m;
        enum msg_status st = msg_read(&h->rd, w->fd, &m);
        if (st == MSG_AGAIN) {
            offer_all(h->es); /* room in the window again */
            return;
        }
        if (st != MSG_OK) {
            handover_break(h, st == MSG_EOF ? "connection closed" : strerror(errno));
            return;
        }
        msg_close_fds(&m);
        if (m.type != MSG_HO_ACK)
            continue;
        if (h->count == 0 || m.len != 1) {
            handover_break(h, "unexpected answer");
            return;
        }
        struct evconn *c = h->parked[h->head];
        h->head = (h->head + 1) % h->cap;
        h->count--;
        if (c == NULL)
            continue;
        if (m.payload[0] == HO_TAKEN) {
            h->moved++;
            evconn_let_go(c, "moved to the new generation");
        } else {
            h->stayed++;
            log_info("%s stays in this generation: the new one refused it", evconn_name(c));
            evconn_unpark(c, true);
        }
    }
}

/* Offer every connection: conn_run offers the idle ones and serves the
 * rest on (they are offered when they become idle). The list is walked
 * from a copy of next: an offered one may be freed. */
static void offer_all(struct evserver *es)
{
    struct handover *h = es->handover;
    struct evconn *next;
    for (struct evconn *c = es->conns; c != NULL && h->count < FTPD_HANDOVER_WINDOW && !h->broken;
         c = next) {
        next = evconn_next(c);
        evconn_kick(c);
    }
}

static void try_connect(struct handover *h)
{
    struct sockaddr_un sun;
    socklen_t len = handover_addr(h->generation, &sun);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    /* A Unix connect completes at once, or fails: ECONNREFUSED while the
     * name is not bound yet, EAGAIN while the backlog is full. */
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, len) == 0) {
        h->connected = true;
        ev_io_set(&h->w, fd, EV_READ);
        ev_io_start(h->es->loop, &h->w);
        log_info("handing idle sessions over to the new generation");
        offer_all(h->es);
        return;
    }
    int e = errno;
    if (fd >= 0)
        close(fd);
    if ((e == ECONNREFUSED || e == EAGAIN) && clock_ms() < h->give_up) {
        ev_timer_start(h->es->loop, &h->retry);
        return;
    }
    handover_break(h, strerror(e));
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    try_connect(w->data);
}

int handover_start(struct evserver *es, pid_t successor)
{
    if (es->handover != NULL)
        return 0;
    struct handover *h = calloc(1, sizeof *h);
    if (h == NULL) {
        log_warn("handover: %s: sessions drain here", strerror(errno));
        return -1;
    }
    h->es = es;
    h->generation = successor;
    h->give_up = clock_ms() + FTPD_HANDOVER_CONNECT_MS;
    msg_reader_init(&h->rd, 64);
    ev_init(&h->w, on_answer);
    h->w.data = h;
    ev_timer_init(&h->retry, on_retry, FTPD_HANDOVER_RETRY_MS / 1000., 0.);
    h->retry.data = h;
    es->handover = h;
    try_connect(h);
    return 0;
}

static int parked_push(struct handover *h, struct evconn *c)
{
    if (h->count == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct evconn **p = malloc(cap * sizeof *p);
        if (p == NULL)
            return -1;
        for (size_t i = 0; i < h->count; i++)
            p[i] = h->parked[(h->head + i) % h->cap];
        free(h->parked);
        h->parked = p;
        h->head = 0;
        h->cap = cap;
    }
    h->parked[(h->head + h->count) % h->cap] = c;
    h->count++;
    return 0;
}

bool handover_offer(struct evserver *es, struct evconn *c)
{
    struct handover *h = es->handover;
    if (h->broken || !h->connected || h->count >= FTPD_HANDOVER_WINDOW)
        return false; /* offered again once connected, or answers came */
    struct session_record r;
    int fds[2], nfds;
    const char *why = NULL;
    int ready = evconn_export(c, &r, fds, &nfds, &why);
    if (ready <= 0) {
        if (ready < 0) {
            h->stayed++;
            evconn_stays(c, why);
        }
        return false;
    }
    size_t len = session_record_encode(&r, h->record);
    if (parked_push(h, c) < 0)
        return false; /* out of memory: offered again at its next idle time */
    if (msg_send(h->w.fd, MSG_HO_SESSION, h->record, len, fds, nfds) < 0) {
        h->count--; /* not parked after all */
        handover_break(h, strerror(errno));
        return false;
    }
    evconn_park(c);
    return true;
}

void handover_forget(struct evserver *es, struct evconn *c)
{
    struct handover *h = es->handover;
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->count; i++) {
        if (h->parked[(h->head + i) % h->cap] == c)
            h->parked[(h->head + i) % h->cap] = NULL;
    }
}

void handover_stop(struct evserver *es)
{
    struct handover *h = es->handover;
    if (h == NULL)
        return;
    log_info("handover: %lu sessions moved, %lu stayed", h->moved, h->stayed);
    ev_io_stop(es->loop, &h->w);
    ev_timer_stop(es->loop, &h->retry);
    if (h->connected)
        close(h->w.fd);
    msg_reader_free(&h->rd);
    free(h->parked);
    free(h);
    es->handover = NULL;
}
