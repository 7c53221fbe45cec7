#include "arch/common/prologue.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "ftpd/clock.h"
#include "ftpd/log.h"
#include "ftpd/net.h"

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
