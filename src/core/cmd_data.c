/* Data-channel commands: PASV, EPSV, PORT, EPRT set up the one data channel
 * of the session; RETR, LIST, NLST, MLSD turn it into a transfer job for the
 * back-end; REST and ABOR adjust or stop it. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "path.h"
#include "session_impl.h"
#include "ftpd/clock.h"
#include "ftpd/limits.h"
#include "ftpd/listing.h"

/* Active-mode targets below this port are refused (RFC 2577: bounce). */
#define PORT_MIN_ACTIVE 1024

static bool passive_refused(struct session *s, struct buf *out)
{
    if (s->epsv_all) {
        reply(out, 503, "EPSV ALL in effect; only EPSV is allowed.");
        return true;
    }
    return false;
}

static int open_passive(struct session *s, union sockaddr_any *bound, struct buf *out)
{
    session_close_data(s);
    s->pasv_fd = dataport_listen(&s->local, s->cfg->pasv_min_port, s->cfg->pasv_max_port,
                                 &s->pasv_rng, bound);
    if (s->pasv_fd < 0) {
        session_log(s, LOG_LVL_WARN, "cannot open passive port: %s", strerror(errno));
        reply(out, 425, "Cannot open passive connection.");
        return -1;
    }
    return 0;
}

enum step cmd_pasv(struct session *s, const char *arg, struct buf *out)
{
    if (passive_refused(s, out))
        return STEP_CONTINUE;
    if (s->local.sa.sa_family != AF_INET) {
        reply(out, 425, "PASV is IPv4 only; use EPSV.");
        return STEP_CONTINUE;
    }
    union sockaddr_any bound;
    if (open_passive(s, &bound, out) < 0)
        return STEP_CONTINUE;
    union sockaddr_any shown = bound;
    if (s->cfg->pasv_address[0] != '\0')
        sockaddr_parse(s->cfg->pasv_address, sockaddr_port(&bound), &shown);
    uint32_t ip = ntohl(shown.in.sin_addr.s_addr);
    int port = sockaddr_port(&bound);
    reply(out, 227, "Entering Passive Mode (%u,%u,%u,%u,%d,%d).", ip >> 24, (ip >> 16) & 255,
          (ip >> 8) & 255, ip & 255, port >> 8, port & 255);
    return STEP_CONTINUE;
}

enum step cmd_epsv(struct session *s, const char *arg, struct buf *out)
{
    if (strcasecmp(arg, "ALL") == 0) {
        s->epsv_all = true;
        reply(out, 200, "EPSV ALL ok.");
        return STEP_CONTINUE;
    }
    int want = s->local.sa.sa_family == AF_INET6 ? 2 : 1;
    if (*arg != '\0' && strspn(arg, "0123456789") != strlen(arg)) {
        reply(out, 501, "Bad EPSV argument.");
        return STEP_CONTINUE;
    }
    if (*arg != '\0' && strcmp(arg, want == 1 ? "1" : "2") != 0) {
        reply(out, 522, "Network protocol not supported, use (%d)", want);
        return STEP_CONTINUE;
    }
    union sockaddr_any bound;
    if (open_passive(s, &bound, out) < 0)
        return STEP_CONTINUE;
    reply(out, 229, "Entering Extended Passive Mode (|||%d|)", sockaddr_port(&bound));
    return STEP_CONTINUE;
}

/* PORT/EPRT may only name the client's own IP and an unprivileged port: no
 * FTP bounce (RFC 2577). */
static enum step set_active(struct session *s, const union sockaddr_any *target, struct buf *out)
{
    if (!sockaddr_same_ip(target, &s->peer) || sockaddr_port(target) < PORT_MIN_ACTIVE) {
        char want[SOCKADDR_STR_MAX];
        sockaddr_str(target, want, sizeof want);
        session_log(s, LOG_LVL_WARN, "refused active data address %s", want);
        reply(out, 500, "Illegal PORT command: use your own address and a port >= %d.",
              PORT_MIN_ACTIVE);
        return STEP_CONTINUE;
    }
    session_close_data(s);
    s->port_addr = *target;
    sockaddr_unmap(&s->port_addr);
    s->have_port = true;
    reply(out, 200, "PORT command successful. Consider using PASV.");
    return STEP_CONTINUE;
}

enum step cmd_port(struct session *s, const char *arg, struct buf *out)
{
    if (passive_refused(s, out))
        return STEP_CONTINUE;
    union sockaddr_any target;
    if (dataport_parse_port(arg, &target) < 0) {
        reply(out, 501, "Bad PORT argument.");
        return STEP_CONTINUE;
    }
    return set_active(s, &target, out);
}

enum step cmd_eprt(struct session *s, const char *arg, struct buf *out)
{
    if (passive_refused(s, out))
        return STEP_CONTINUE;
    union sockaddr_any target;
    int r = dataport_parse_eprt(arg, &target);
    if (r == -2) {
        reply(out, 522, "Network protocol not supported, use (1,2)");
        return STEP_CONTINUE;
    }
    if (r < 0) {
        reply(out, 501, "Bad EPRT argument.");
        return STEP_CONTINUE;
    }
    return set_active(s, &target, out);
}

enum step cmd_rest(struct session *s, const char *arg, struct buf *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (arg[0] < '0' || arg[0] > '9' || *end != '\0' || errno == ERANGE || v > INT64_MAX) {
        reply(out, 501, "REST needs a byte offset.");
        return STEP_CONTINUE;
    }
    s->rest = v;
    reply(out, 350, "Restart position accepted (%llu).", v);
    return STEP_CONTINUE;
}

/* Common part of every transfer command: there must be a data channel
 * (and under tls_data = required, a protected one). */
bool session_have_data_channel(struct session *s, struct buf *out)
{
    if (!tls_data_allowed(s, out))
        return false;
    if (s->pasv_fd < 0 && !s->have_port) {
        reply(out, 425, "Use PORT or PASV first.");
        return false;
    }
    return true;
}

/* The session's bandwidth cap for a job of this kind: the account's own
 * (users file options) where it has one, else the server's. */
static uint64_t job_max_rate(const struct session *s, enum xfer_kind kind)
{
    bool upload = kind == XFER_RECV_FILE;
    int64_t own = -1;
    if (s->account != NULL)
        own = upload ? s->account->max_rate_upload : s->account->max_rate_download;
    if (own >= 0)
        return (uint64_t)own;
    return upload ? s->cfg->max_rate_upload : s->cfg->max_rate_download;
}

enum step session_start_job(struct session *s, enum xfer_kind kind, const char *vpath)
{
    struct session_job *j = s->job; /* the command got it (session_job) */
    struct transfer *t = &j->xfer;
    t->kind = kind;
    t->pasv_fd = s->pasv_fd;
    t->port_addr = s->port_addr;
    t->local_addr = s->local;
    sockaddr_set_port(&t->local_addr, 0);
    t->peer_addr = s->data_peer;
    if (s->cfg->proxy_protocol_data) {
        t->pasv_proxy = (unsigned)s->cfg->proxy_protocol;
        t->proxy_trusted = s->cfg->proxy_trusted;
        t->nproxy_trusted = s->cfg->nproxy_trusted;
    }
    t->data_timeout = s->cfg->data_timeout;
    t->ascii = s->type_ascii;
    t->max_rate = job_max_rate(s, kind);
    t->rate_total = s->rate_total;
    t->tls_protect = s->tls_prot_p;
    t->tls_control = s->tls_ctrl;
    t->stats_row = s->stats_row;
    t->stats_slot = s->stats_slot;
    enum stats_xfer shown = kind == XFER_SEND_FILE   ? STATS_XFER_RETR
                            : kind == XFER_RECV_FILE ? STATS_XFER_STOR
                                                     : STATS_XFER_LIST;
    stats_slot_xfer_begin(s->stats_slot, shown, vpath, kind == XFER_SEND_FILE ? t->size : 0);
    j->xfer_path = strdup(vpath); /* for the log line only; NULL is tolerated */
    j->started_ms = clock_ms();
    s->in_transfer = true;
    return STEP_TRANSFER;
}

enum step cmd_retr(struct session *s, const char *arg, struct buf *out)
{
    uint64_t rest = s->rest;
    s->rest = 0;
    if (!session_have_data_channel(s, out))
        return STEP_CONTINUE;
    char vpath[FTPD_PATH_MAX];
    if (session_path(s, arg, vpath, out) < 0)
        return STEP_CONTINUE;
    /* O_NONBLOCK: opening a FIFO someone left in the tree must not hang. */
    int fd = path_open(s->root_fd, vpath, O_RDONLY | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        reply(out, 550, "Failed to open file.");
        return STEP_CONTINUE;
    }
    if (rest > (uint64_t)st.st_size) {
        close(fd);
        reply(out, 554, "Restart offset %llu is beyond the end of the file.",
              (unsigned long long)rest);
        return STEP_CONTINUE;
    }
    struct session_job *j = session_job(s, out);
    if (j == NULL) {
        close(fd);
        return STEP_CONTINUE;
    }
    j->xfer.file_fd = fd;
    j->xfer.offset = rest;
    j->xfer.size = (uint64_t)st.st_size - rest;
    j->xfer.listing = NULL;
    reply(out, 150, "Opening %s mode data connection for %s (%llu bytes).",
          s->type_ascii ? "ASCII" : "BINARY", arg, (unsigned long long)st.st_size);
    return session_start_job(s, XFER_SEND_FILE, vpath);
}

/* LIST and NLST take ls-style options before the path ("-la dir"). */
static const char *skip_list_options(const char *arg, bool *all)
{
    while (arg[0] == '-' && arg[1] != '\0' && arg[1] != ' ') {
        size_t n = strcspn(arg, " ");
        if (memchr(arg, 'a', n) || memchr(arg, 'A', n))
            *all = true;
        arg += n;
        while (*arg == ' ')
            arg++;
    }
    return arg;
}

static enum step start_listing(struct session *s, const char *arg, enum listing_format format,
                               struct buf *out)
{
    s->rest = 0;
    if (!session_have_data_channel(s, out))
        return STEP_CONTINUE;
    bool all = format == LISTING_MLSD;
    if (format != LISTING_MLSD)
        arg = skip_list_options(arg, &all);
    char vpath[FTPD_PATH_MAX];
    if (session_path(s, arg, vpath, out) < 0)
        return STEP_CONTINUE;
    if (format == LISTING_MLSD) {
        struct stat st;
        if (path_stat(s->root_fd, vpath, &st) == 0 && !S_ISDIR(st.st_mode)) {
            reply(out, 501, "MLSD needs a directory; use MLST for a file.");
            return STEP_CONTINUE;
        }
    }
    struct listing_opts opts = {.format = format,
                                .all = all,
                                .perms = s->perms,
                                .now = time(NULL),
                                .cache = s->listing_cache};
    struct listing *l = listing_open(s->root_fd, vpath, format == LISTING_NLST ? arg : "", &opts);
    if (l == NULL) {
        reply(out, 550, "No such file or directory.");
        return STEP_CONTINUE;
    }
    struct session_job *j = session_job(s, out);
    if (j == NULL) {
        listing_close(l);
        return STEP_CONTINUE;
    }
    j->xfer.listing = l;
    j->xfer.file_fd = -1;
    j->xfer.offset = j->xfer.size = 0;
    reply(out, 150, "Here comes the directory listing.");
    return session_start_job(s, XFER_SEND_LISTING, vpath);
}

enum step cmd_list(struct session *s, const char *arg, struct buf *out)
{
    return start_listing(s, arg, LISTING_LIST, out);
}

enum step cmd_nlst(struct session *s, const char *arg, struct buf *out)
{
    return start_listing(s, arg, LISTING_NLST, out);
}

enum step cmd_mlsd(struct session *s, const char *arg, struct buf *out)
{
    return start_listing(s, arg, LISTING_MLSD, out);
}

enum step cmd_abor(struct session *s, const char *arg, struct buf *out)
{
    if (s->in_transfer) {
        /* The reply comes from session_transfer_done: 426, then 226. */
        s->abort_pending = true;
        return STEP_ABORT;
    }
    session_close_data(s);
    reply(out, 225, "No transfer to abort.");
    return STEP_CONTINUE;
}
