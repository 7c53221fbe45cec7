/* GET /metrics over a minimal HTTP/1.0 (see metrics_http.h). */
#include "arch/common/metrics_http.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arch/common/status_sock.h"
#include "ftpd/clock.h"
#include "ftpd/msg.h"
#include "ftpd/status.h"

static void write_all(int fd, const char *p, size_t len, int64_t deadline)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN && status_wait_fd(fd, POLLOUT, deadline)) {
            continue;
        } else {
            return; /* the client went away or stalled: nothing to tell it */
        }
    }
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
static void serve(int fd, metrics_render_fn render, void *arg)
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
        else if (errno == EINTR || (errno == EAGAIN && status_wait_fd(fd, POLLIN, deadline)))
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
    if (render(arg, &out) == 0)
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
        else if (n < 0 &&
                 (errno == EINTR || (errno == EAGAIN && status_wait_fd(fd, POLLIN, deadline))))
            continue;
        else
            break;
    }
    close(fd);
}

void metrics_http_serve(int fd, metrics_render_fn render, void *arg)
{
    serve(fd, render, arg);
    lingering_close(fd);
}
