/* The status service: its thread, its two listeners and the control
 * socket's protocol (the HTTP side is metrics_http.c, the client
 * status_client.c). */
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
#include "arch/common/metrics_http.h"
#include "arch/common/report.h"
#include "arch/common/status_sock.h"
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
    if (status_unix_addr(path, &sun) < 0 || n < 0 || (size_t)n >= sizeof tmp_path ||
        status_unix_addr(tmp_path, &tmp) < 0) {
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

static int render_metrics(void *arg, struct buf *out)
{
    return render(arg, REPORT_METRICS, out);
}

static void serve_control(struct status_service *ss, int fd)
{
    int64_t deadline = clock_ms() + STATUS_IO_TIMEOUT_MS;
    struct msg_reader r;
    msg_reader_init(&r, 64);
    struct msg m;
    enum msg_status st;
    while ((st = msg_read(&r, fd, &m)) == MSG_AGAIN && status_wait_fd(fd, POLLIN, deadline))
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
        metrics_http_serve(fd, render_metrics, ss);
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
