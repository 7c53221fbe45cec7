/* ftpd --status [--json]: ask the running server on its control socket. */
#include "ftpd/status.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "arch/common/status_sock.h"
#include "ftpd/msg.h"

int status_client_run(const char *path, bool json)
{
    if (path == NULL || path[0] == '\0') {
        fprintf(stderr, "ftpd: --status needs control_socket in the configuration\n");
        return 1;
    }
    struct sockaddr_un sun;
    if (status_unix_addr(path, &sun) < 0) {
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
