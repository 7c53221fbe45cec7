/* The status service's thread, its two sockets and their protocols. */
#include "ftpd/status.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "arch/common/admission.h"
#include "arch/common/report.h"
#include "ftpd/clock.h"
#include "ftpd/hostport.h"
#include "ftpd/log.h"
#include "ftpd/msg.h"
#include "ftpd/sock.h"

struct status_service {
    const struct ftpd_server *srv;
    /* Held while adm is read or changed, and whenever the thread is in
     * libc code that takes a lock of its own (the log's gmtime_r,
     * strerror, localtime_r in the text report): a process forking
     * (status_service_fork_begin) waits for it, so no child is born with
     * such a lock taken by a thread it does not have. */
    pthread_mutex_t lock;
    struct admission *adm; /* the back-end's while it lives; NULL: none */
    int ctl_fd;            /* control socket listener; -1: off */
    int http_fd;           /* metrics listener; -1: off */
    int wake[2];           /* closing wake[1] stops the thread */
    struct stat ctl_file;  /* the control socket's file, as bound */
    pthread_t thread;
    bool running;
};

/* The request payload of MSG_CTL_STATUS: which rendering. */
#define STATUS_REQ_JSON "json"
#define STATUS_REQ_TEXT "text"

static int unix_addr(const char *path, struct sockaddr_un *sun)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sun->sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sun->sun_path, path);
    return 0;
}

/* Started by an ftpd, i.e. a live upgrade's new generation: the parent
 * runs the same program (its binary may be "(deleted)" by then). */
static bool started_by_ftpd(void)
{
    char self[PATH_MAX], parent[PATH_MAX], link[64];
    snprintf(link, sizeof link, "/proc/%ld/exe", (long)getppid());
    ssize_t a = readlink("/proc/self/exe", self, sizeof self - 1);
    ssize_t b = readlink(link, parent, sizeof parent - 1);
    if (a <= 0 || b <= 0)
        return false;
    self[a] = parent[b] = '\0';
    static const char deleted[] = " (deleted)";
    size_t dl = sizeof deleted - 1;
    if ((size_t)b > dl && strcmp(parent + b - dl, deleted) == 0)
        parent[b - dl] = '\0';
    return strcmp(self, parent) == 0;
}

/* Something accepts connections on addr. */
static bool answers(const struct sockaddr *addr, socklen_t len)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool yes = connect(fd, addr, len) == 0;
    close(fd);
    return yes;
}

/* A control socket that answers belongs to a running server: never steal
 * it, unless that server started us (a live upgrade: the new generation
 * takes the path over, the old one answers on until it exits and then
 * leaves the path alone, see close_fds). One that refuses is a leftover of
 * a server that died: replace it. The socket is bound on a temporary name
 * and renamed over the path, so the path always leads to a server. */
static int open_control_socket(const char *path, struct stat *bound)
{
    struct sockaddr_un sun, tmp;
    char tmp_path[sizeof sun.sun_path];
    int n = snprintf(tmp_path, sizeof tmp_path, "%s.%ld", path, (long)getpid());
    if (unix_addr(path, &sun) < 0 || n < 0 || (size_t)n >= sizeof tmp_path ||
        unix_addr(tmp_path, &tmp) < 0) {
        log_error("control_socket %s: %s", path, strerror(ENAMETOOLONG));
        return -1;
    }
    if (answers((struct sockaddr *)&sun, sizeof sun)) {
        if (!started_by_ftpd()) {
            log_error("control_socket %s: another server answers on it", path);
            return -1;
        }
        log_info("control_socket %s: taking it over from the previous generation", path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        log_error("control_socket: socket: %s", strerror(errno));
        return -1;
    }
    unlink(tmp_path);
    /* 0600 from the start: no window where others could connect. main()
     * runs this before any thread exists, so the umask change is safe. */
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&tmp, sizeof tmp);
    umask(old);
    if (rc < 0 || listen(fd, 16) < 0 || rename(tmp_path, path) < 0 || lstat(path, bound) < 0) {
        log_error("control_socket %s: %s", path, strerror(errno));
        unlink(tmp_path);
        close(fd);
        return -1;
    }
    log_info("control socket on %s", path);
    return fd;
}

static int open_metrics(const char *spec)
{
    union sockaddr_any addr;
    if (hostport_parse(spec, &addr) < 0) {
        log_error("metrics_listen: '%s' is not ADDR:PORT", spec);
        return -1;
    }
    int fd;
    /* SO_REUSEPORT, so that a live upgrade's new generation can bind it
     * while the old one still listens; anyone else answering is a
     * conflict. */
    if (answers(&addr.sa, sockaddr_len(&addr)) && !started_by_ftpd()) {
        log_error("metrics_listen %s: another server answers on it", spec);
        return -1;
    }
    if (sock_listen(&addr, 16, SOCK_LISTEN_REUSEPORT, &fd) != SOCK_OK) {
        log_error("metrics_listen %s: %s", spec, strerror(errno));
        return -1;
    }
    char name[SOCKADDR_STR_MAX];
    sockaddr_str(&addr, name, sizeof name);
    /* The tests read the port of ":0" from this line. */
    log_info("metrics on http://%s/metrics", name);
    return fd;
}

/* A log line from the thread, under the lock (see struct status_service). */
static void thread_log(struct status_service *ss, enum log_level level, const char *what, int err)
{
    pthread_mutex_lock(&ss->lock);
    if (err != 0)
        log_msg(level, "%s: %s", what, strerror(err));
    else
        log_msg(level, "%s", what);
    pthread_mutex_unlock(&ss->lock);
}

/* Rendered under the lock, so the back-end cannot free its admission
 * table meanwhile (it detaches first); sent after, without it. */
static int render(struct status_service *ss, enum report_format f, struct buf *out)
{
    pthread_mutex_lock(&ss->lock);
    int rc = report_render(ss->srv, ss->adm, f, out);
    pthread_mutex_unlock(&ss->lock);
    return rc;
}

/* Wait for fd to be ready for events until deadline; false on timeout. */
static bool wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - clock_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return true;
        if (n < 0 && errno != EINTR)
            return false;
    }
}

static void write_all(int fd, const char *p, size_t len, int64_t deadline)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN && wait_fd(fd, POLLOUT, deadline)) {
            continue;
        } else {
            return; /* the client went away or stalled: nothing to tell it */
        }
    }
}

static void serve_control(struct status_service *ss, int fd)
{
    int64_t deadline = clock_ms() + STATUS_IO_TIMEOUT_MS;
    struct msg_reader r;
    msg_reader_init(&r, 64);
    struct msg m;
    enum msg_status st;
    while ((st = msg_read(&r, fd, &m)) == MSG_AGAIN && wait_fd(fd, POLLIN, deadline))
        ;
    if (st == MSG_OK && m.type == MSG_CTL_STATUS) {
        bool json = m.len == strlen(STATUS_REQ_JSON) && memcmp(m.payload, "json", m.len) == 0;
        msg_close_fds(&m);
        struct buf out;
        buf_init(&out, MSG_PAYLOAD_MAX);
        render(ss, json ? REPORT_JSON : REPORT_TEXT, &out);
        if (msg_send(fd, MSG_CTL_STATUS_REPLY, buf_head(&out), out.len, NULL, 0) < 0)
            thread_log(ss, LOG_LVL_WARN, "control socket: reply", errno);
        buf_free(&out);
    } else if (st == MSG_OK) {
        msg_close_fds(&m);
        thread_log(ss, LOG_LVL_WARN, "control socket: unknown request type", 0);
    } else if (st == MSG_ERR) {
        thread_log(ss, LOG_LVL_WARN, "control socket: bad request", errno);
    }
    msg_reader_free(&r);
}

/* The end of the request head; NULL while incomplete. */
static const char *head_end(const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] == '\n' && p[i + 1] == '\n')
            return p + i + 2;
        if (i + 3 < n && memcmp(p + i, "\r\n\r\n", 4) == 0)
            return p + i + 4;
    }
    return NULL;
}

static void http_reply(int fd, int code, const char *reason, const char *type, const char *body,
                       size_t len, int64_t deadline)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     code, reason, type, len);
    write_all(fd, head, (size_t)n, deadline);
    write_all(fd, body, len, deadline);
}

/* HTTP/1.0 style: one request per connection, GET /metrics only. */
static void serve_http(struct status_service *ss, int fd)
{
    int64_t deadline = clock_ms() + STATUS_IO_TIMEOUT_MS;
    char req[STATUS_HTTP_REQUEST_MAX + 1]; /* + a NUL after the bytes */
    size_t have = 0;
    while (head_end(req, have) == NULL) {
        if (have == STATUS_HTTP_REQUEST_MAX) {
            static const char msg[] = "request too large\n";
            http_reply(fd, 431, "Request Header Fields Too Large", "text/plain", msg,
                       sizeof msg - 1, deadline);
            return;
        }
        ssize_t n = recv(fd, req + have, STATUS_HTTP_REQUEST_MAX - have, 0);
        if (n > 0)
            have += (size_t)n;
        else if (n == 0)
            return;
        else if (errno == EINTR || (errno == EAGAIN && wait_fd(fd, POLLIN, deadline)))
            continue;
        else
            return; /* error or timeout: just close */
    }
    req[have] = '\0';
    size_t line = strcspn(req, "\r\n");
    const char *path_start = (const char *)memchr(req, ' ', line);
    bool get = line > 4 && memcmp(req, "GET ", 4) == 0;
    if (!get) {
        static const char msg[] = "only GET\n";
        http_reply(fd, 405, "Method Not Allowed", "text/plain", msg, sizeof msg - 1, deadline);
        return;
    }
    size_t plen = strcspn(path_start + 1, " ?\r\n");
    if (plen != strlen("/metrics") || memcmp(path_start + 1, "/metrics", plen) != 0) {
        static const char msg[] = "not found: try /metrics\n";
        http_reply(fd, 404, "Not Found", "text/plain", msg, sizeof msg - 1, deadline);
        return;
    }
    struct buf out;
    buf_init(&out, MSG_PAYLOAD_MAX);
    if (render(ss, REPORT_METRICS, &out) == 0)
        http_reply(fd, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", buf_head(&out),
                   out.len, deadline);
    else
        http_reply(fd, 500, "Internal Server Error", "text/plain", "", 0, deadline);
    buf_free(&out);
}

/* Special problem: closing a socket whose peer sent bytes we did not read
 * (the rest of a refused request) sends RST, and the peer may lose our
 * answer with it. So: end our side, and read and drop what comes for a
 * moment (64 KiB, 500 ms at most) before closing. */
static void lingering_close(int fd)
{
    shutdown(fd, SHUT_WR);
    int64_t deadline = clock_ms() + 500;
    char sink[4096];
    for (size_t dropped = 0; dropped < 64 * 1024;) {
        ssize_t n = recv(fd, sink, sizeof sink, 0);
        if (n > 0)
            dropped += (size_t)n;
        else if (n < 0 && (errno == EINTR || (errno == EAGAIN && wait_fd(fd, POLLIN, deadline))))
            continue;
        else
            break;
    }
    close(fd);
}

static void accept_one(struct status_service *ss, int lfd, bool http)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            thread_log(ss, LOG_LVL_WARN, http ? "metrics: accept" : "control socket: accept",
                       errno);
        return;
    }
    if (http) {
        serve_http(ss, fd);
        lingering_close(fd);
    } else {
        serve_control(ss, fd);
        close(fd);
    }
}

static void *service_main(void *arg)
{
    struct status_service *ss = arg;
    for (;;) {
        struct pollfd p[3] = {
            {.fd = ss->wake[0], .events = POLLIN},
            {.fd = ss->ctl_fd, .events = POLLIN},
            {.fd = ss->http_fd, .events = POLLIN},
        };
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            thread_log(ss, LOG_LVL_ERROR, "status service: poll", errno);
            return NULL;
        }
        if (p[0].revents != 0)
            return NULL;
        if (p[1].revents != 0)
            accept_one(ss, ss->ctl_fd, false);
        if (p[2].revents != 0)
            accept_one(ss, ss->http_fd, true);
    }
}

static void close_fds(struct status_service *ss)
{
    if (ss->ctl_fd >= 0) {
        /* Only if the path is still ours: after a live upgrade it leads
         * to the new generation. */
        struct stat now;
        const char *path = ss->srv->cfg->control_socket;
        if (lstat(path, &now) == 0 && now.st_ino == ss->ctl_file.st_ino &&
            now.st_dev == ss->ctl_file.st_dev)
            unlink(path);
        close(ss->ctl_fd);
    }
    if (ss->http_fd >= 0)
        close(ss->http_fd);
    for (int i = 0; i < 2; i++) {
        if (ss->wake[i] >= 0)
            close(ss->wake[i]);
    }
    ss->ctl_fd = ss->http_fd = ss->wake[0] = ss->wake[1] = -1;
}

int status_service_start(const struct ftpd_server *srv, struct status_service **out)
{
    *out = NULL;
    const struct ftpd_config *cfg = srv->cfg;
    if (srv->stats == NULL || (cfg->control_socket[0] == '\0' && cfg->metrics_listen[0] == '\0'))
        return 0;
    struct status_service *ss = malloc(sizeof *ss);
    if (ss == NULL) {
        log_error("status service: %s", strerror(errno));
        return -1;
    }
    *ss = (struct status_service){.srv = srv, .ctl_fd = -1, .http_fd = -1, .wake = {-1, -1}};
    pthread_mutex_init(&ss->lock, NULL);
    if (cfg->control_socket[0] != '\0' &&
        (ss->ctl_fd = open_control_socket(cfg->control_socket, &ss->ctl_file)) < 0)
        goto fail;
    if (cfg->metrics_listen[0] != '\0' && (ss->http_fd = open_metrics(cfg->metrics_listen)) < 0)
        goto fail;
    if (pipe2(ss->wake, O_CLOEXEC) < 0) {
        log_error("status service: pipe: %s", strerror(errno));
        goto fail;
    }
    int rc = pthread_create(&ss->thread, NULL, service_main, ss);
    if (rc != 0) {
        log_error("status service: thread: %s", strerror(rc));
        goto fail;
    }
    ss->running = true;
    *out = ss;
    return 0;
fail:
    close_fds(ss);
    pthread_mutex_destroy(&ss->lock);
    free(ss);
    return -1;
}

void status_service_attach(struct status_service *ss, struct admission *adm)
{
    if (ss == NULL)
        return;
    pthread_mutex_lock(&ss->lock);
    ss->adm = adm;
    pthread_mutex_unlock(&ss->lock);
}

void status_service_fork_begin(struct status_service *ss)
{
    if (ss != NULL)
        pthread_mutex_lock(&ss->lock);
}

void status_service_fork_end(struct status_service *ss)
{
    if (ss != NULL)
        pthread_mutex_unlock(&ss->lock);
}

void status_service_stop(struct status_service *ss)
{
    if (ss == NULL)
        return;
    if (ss->running) {
        close(ss->wake[1]);
        ss->wake[1] = -1;
        pthread_join(ss->thread, NULL);
    }
    close_fds(ss);
    pthread_mutex_destroy(&ss->lock);
    free(ss);
}

int status_client_run(const char *path, bool json)
{
    if (path == NULL || path[0] == '\0') {
        fprintf(stderr, "ftpd: --status needs control_socket in the configuration\n");
        return 1;
    }
    struct sockaddr_un sun;
    if (unix_addr(path, &sun) < 0) {
        fprintf(stderr, "ftpd: control_socket %s: %s\n", path, strerror(errno));
        return 1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
        fprintf(stderr, "ftpd: cannot reach the server on %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return 1;
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const char *req = json ? STATUS_REQ_JSON : STATUS_REQ_TEXT;
    int status = 1;
    struct msg_reader r;
    msg_reader_init(&r, 0);
    struct msg m;
    enum msg_status st = MSG_ERR;
    if (msg_send(fd, MSG_CTL_STATUS, req, strlen(req), NULL, 0) == 0)
        st = msg_read(&r, fd, &m);
    if (st == MSG_OK && m.type == MSG_CTL_STATUS_REPLY) {
        msg_close_fds(&m);
        status = fwrite(m.payload, 1, m.len, stdout) == m.len && fflush(stdout) == 0 ? 0 : 1;
    } else if (st == MSG_OK) {
        msg_close_fds(&m);
        fprintf(stderr, "ftpd: unexpected answer (type %u) on %s\n", (unsigned)m.type, path);
    } else {
        fprintf(stderr, "ftpd: no answer on %s: %s\n", path,
                st == MSG_EOF     ? "connection closed"
                : st == MSG_AGAIN ? "timed out"
                                  : strerror(errno));
    }
    msg_reader_free(&r);
    close(fd);
    return status;
}
