#include "arch/common/prologue.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "ftpd/clock.h"
#include "ftpd/log.h"
#include "ftpd/net.h"
#include "ftpd/tls.h"

void arrival_init(struct arrival *a, int fd, const union sockaddr_any *peer)
{
    stream_plain(&a->ctrl, fd);
    a->peer = *peer;
    a->slot = -1;
}

enum prologue_step prologue_pregreet(struct arrival *a, const struct ftpd_config *cfg)
{
    /* No pre-greeting phase is configured yet. A PROXY header reader or an
     * implicit TLS handshake plugs in here: it may replace a->peer or wrap
     * a->ctrl, and returns WANT_* while it waits for the peer. */
    return PROLOGUE_DONE;
}

bool prologue_pregreet_blocking(struct arrival *a, const struct ftpd_config *cfg)
{
    int64_t deadline = clock_ms() + (int64_t)cfg->idle_timeout * 1000;
    for (;;) {
        enum prologue_step st = prologue_pregreet(a, cfg);
        if (st == PROLOGUE_DONE)
            return true;
        int64_t left = deadline - clock_ms();
        if (st == PROLOGUE_FAILED || left <= 0)
            break;
        struct pollfd pfd = {.fd = a->ctrl.fd,
                             .events = st == PROLOGUE_WANT_READ ? POLLIN : POLLOUT};
        if (poll(&pfd, 1, left > 60000 ? 60000 : (int)left) < 0 && errno != EINTR)
            break;
    }
    stream_close(&a->ctrl);
    return false;
}

/* The connection arrived on the implicit FTPS port. */
static bool on_implicit_port(const struct arrival *a, const struct ftpd_config *cfg)
{
    if (cfg->implicit_tls_port == 0)
        return false;
    union sockaddr_any local;
    socklen_t len = sizeof local;
    return getsockname(a->ctrl.fd, &local.sa, &len) == 0 &&
           sockaddr_port(&local) == cfg->implicit_tls_port;
}

static void log_handshake_failure(const struct arrival *a)
{
    char name[SOCKADDR_STR_MAX];
    sockaddr_str(&a->peer, name, sizeof name);
    log_info("%s TLS handshake failed: %s", name, strerror(errno));
}

enum prologue_step prologue_implicit_tls(struct arrival *a, const struct ftpd_server *srv)
{
    if (srv->tls == NULL)
        return PROLOGUE_DONE;
    if (!stream_is_tls(&a->ctrl)) {
        if (!on_implicit_port(a, srv->cfg))
            return PROLOGUE_DONE;
        if (tls_wrap_control(&a->ctrl, srv->tls) < 0) {
            log_handshake_failure(a);
            return PROLOGUE_FAILED;
        }
    }
    switch (tls_handshake(&a->ctrl)) {
    case STREAM_OK:
        return PROLOGUE_DONE;
    case STREAM_WANT_READ:
    case STREAM_AGAIN:
        return PROLOGUE_WANT_READ;
    case STREAM_WANT_WRITE:
        return PROLOGUE_WANT_WRITE;
    case STREAM_EOF:
    case STREAM_ERR:
        break;
    }
    log_handshake_failure(a);
    return PROLOGUE_FAILED;
}

bool prologue_implicit_tls_blocking(struct arrival *a, const struct ftpd_server *srv,
                                    struct admission *adm)
{
    if (srv->tls == NULL || !on_implicit_port(a, srv->cfg))
        return true;
    /* Non-blocking, so that the handshake waits in poll, with the timeout. */
    if (net_set_nonblock(a->ctrl.fd, true) == 0 && tls_wrap_control(&a->ctrl, srv->tls) == 0 &&
        tls_handshake_blocking(&a->ctrl, srv->cfg->tls_handshake_timeout * 1000) == STREAM_OK)
        return true;
    log_handshake_failure(a);
    stream_close(&a->ctrl);
    admission_release(adm, a->slot);
    a->slot = -1;
    return false;
}

bool prologue_admit(struct arrival *a, const struct ftpd_config *cfg, struct admission *adm,
                    pid_t owner, bool stopping)
{
    enum refusal why = REFUSE_SHUTTING_DOWN;
    if (!stopping)
        a->slot = admission_admit(adm, &a->peer, owner, &why);
    if (a->slot >= 0)
        return true;
    admission_refuse(adm, cfg, &a->ctrl, why, &a->peer);
    return false;
}

struct session *prologue_session(struct arrival *a, const struct ftpd_server *srv,
                                 struct admission *adm, struct buf *out)
{
    union sockaddr_any local;
    socklen_t len = sizeof local;
    struct session *s = NULL;
    if (getsockname(a->ctrl.fd, &local.sa, &len) == 0 && net_set_nonblock(a->ctrl.fd, true) == 0)
        s = session_new(srv->cfg, srv->root_fd, &local, &a->peer);
    if (s != NULL) {
        session_set_users(s, srv->users);
        session_set_rate_share(s, srv->rate_total);
        session_set_stats(s, srv->stats, srv->stats_row, a->slot);
    }
    if (s == NULL) {
        char name[SOCKADDR_STR_MAX];
        sockaddr_str(&a->peer, name, sizeof name);
        log_error("%s cannot set up connection: %s", name, strerror(errno));
        admission_release(adm, a->slot);
        a->slot = -1;
        admission_refuse(adm, srv->cfg, &a->ctrl, REFUSE_NO_MEMORY, &a->peer);
        return NULL;
    }
    net_control_socket(a->ctrl.fd);
    if (stream_is_tls(&a->ctrl))
        session_tls_started(s, &a->ctrl, true); /* implicit FTPS */
    log_info("%s connected", session_peer_name(s));
    session_greet(s, out);
    return s;
}

void prologue_end(struct arrival *a, struct session *s, struct admission *adm)
{
    log_info("%s disconnected", session_peer_name(s));
    session_free(s);
    stream_close(&a->ctrl);
    admission_release(adm, a->slot);
    a->slot = -1;
}
