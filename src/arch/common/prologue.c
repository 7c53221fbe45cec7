#include "arch/common/prologue.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "ftpd/cidr.h"
#include "ftpd/clock.h"
#include "ftpd/log.h"
#include "ftpd/net.h"
#include "ftpd/proxy_read.h"
#include "ftpd/tls.h"

void arrival_init(struct arrival *a, int fd, const union sockaddr_any *peer)
{
    stream_plain(&a->ctrl, fd);
    a->peer = *peer;
    a->via = *peer;
    a->slot = -1;
    a->proxy_state = PROXY_NOT_STARTED;
    a->proxied = false;
}

bool prologue_proxy_pending(const struct arrival *a, const struct ftpd_config *cfg)
{
    return cfg->proxy_protocol != PROXY_OFF && a->proxy_state != PROXY_READ;
}

void prologue_log_timeout(const struct arrival *a, const struct ftpd_config *cfg)
{
    if (!prologue_proxy_pending(a, cfg))
        return;
    char name[SOCKADDR_STR_MAX];
    sockaddr_str(&a->via, name, sizeof name);
    log_warn("%s refused: no complete PROXY header within %d s", name, cfg->proxy_timeout);
}

/* The PROXY header (issue 14): only from a trusted balancer, and required
 * from it: never guessed. */
static enum prologue_step read_proxy_header(struct arrival *a, const struct ftpd_config *cfg)
{
    char name[SOCKADDR_STR_MAX];
    if (a->proxy_state == PROXY_NOT_STARTED) {
        if (!cidr_match_any(cfg->proxy_trusted, cfg->nproxy_trusted, &a->via)) {
            sockaddr_str(&a->via, name, sizeof name);
            log_warn("%s refused: not in proxy_trusted (this port expects a PROXY header)", name);
            return PROLOGUE_FAILED;
        }
        proxy_parser_init(&a->proxy, (unsigned)cfg->proxy_protocol);
        a->proxy_state = PROXY_READING;
    }
    struct proxy_header h;
    switch (proxy_read(a->ctrl.fd, &a->proxy, &h)) {
    case STREAM_OK:
        break;
    case STREAM_AGAIN:
    case STREAM_WANT_READ:
        return PROLOGUE_WANT_READ;
    case STREAM_EOF:
        sockaddr_str(&a->via, name, sizeof name);
        log_warn("%s refused: closed before its PROXY header ended", name);
        return PROLOGUE_FAILED;
    case STREAM_WANT_WRITE: /* not a thing a plain recv says */
    case STREAM_ERR:
        sockaddr_str(&a->via, name, sizeof name);
        if (a->proxy.error != NULL)
            log_warn("%s refused: bad PROXY header: %s", name, a->proxy.error);
        else
            log_warn("%s refused: reading its PROXY header: %s", name, strerror(errno));
        return PROLOGUE_FAILED;
    }
    a->proxy_state = PROXY_READ;
    if (h.has_addresses) { /* v1 UNKNOWN, v2 LOCAL (health checks): the TCP peer stays */
        a->peer = h.src;
        a->proxied = true;
    }
    return PROLOGUE_DONE;
}

enum prologue_step prologue_pregreet(struct arrival *a, const struct ftpd_config *cfg)
{
    /* The PROXY header comes first; an implicit TLS handshake follows it
     * (prologue_implicit_tls, called by the engines after this). */
    if (prologue_proxy_pending(a, cfg))
        return read_proxy_header(a, cfg);
    return PROLOGUE_DONE;
}

bool prologue_pregreet_blocking(struct arrival *a, const struct ftpd_config *cfg)
{
    int limit = prologue_proxy_pending(a, cfg) ? cfg->proxy_timeout : cfg->idle_timeout;
    int64_t deadline = clock_ms() + (int64_t)limit * 1000;
    for (;;) {
        enum prologue_step st = prologue_pregreet(a, cfg);
        if (st == PROLOGUE_DONE)
            return true;
        int64_t left = deadline - clock_ms();
        if (st == PROLOGUE_FAILED)
            break;
        if (left <= 0) {
            prologue_log_timeout(a, cfg);
            break;
        }
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

struct session *prologue_session(struct arrival *a, const struct ftpd_server *srv, int stats_row,
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
        session_set_stats(s, srv->stats, stats_row, a->slot);
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
    if (a->proxied) {
        char via[SOCKADDR_STR_MAX];
        sockaddr_str(&a->via, via, sizeof via);
        log_info("%s connected via %s", session_peer_name(s), via);
        if (!srv->cfg->proxy_protocol_data)
            session_set_data_peer(s, &a->via); /* passive data comes from the balancer */
    } else {
        log_info("%s connected", session_peer_name(s));
    }
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
