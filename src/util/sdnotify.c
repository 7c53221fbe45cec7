/* sd_notify, the protocol only (ftpd/sdnotify.h). */
#include "ftpd/sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ftpd/log.h"

int sd_notify_send(const char *msg)
{
    const char *name = getenv("NOTIFY_SOCKET");
    if (name == NULL || name[0] == '\0')
        return 0;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    /* "/path", or "@name" for the abstract namespace (leading NUL, and the
     * length counts exactly the name: no terminating NUL). Anything else
     * (vsock addresses) is not ours to speak. */
    if ((name[0] != '/' && name[0] != '@') || len < 2 || len > sizeof sun.sun_path) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    memcpy(sun.sun_path, name, len);
    if (name[0] == '@')
        sun.sun_path[0] = '\0';
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    if (name[0] == '/' && len < sizeof sun.sun_path)
        alen++; /* the path's NUL */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    ssize_t n;
    do {
        n = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sun, alen);
    } while (n < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    errno = saved;
    return n < 0 ? -1 : 1;
}

static void notify(const char *msg)
{
    if (sd_notify_send(msg) < 0)
        log_warn("sd_notify '%.*s': %s", (int)strcspn(msg, "\n"), msg, strerror(errno));
}

void notify_ready(void)
{
    notify("READY=1\nSTATUS=serving");
}

void notify_reloading(void)
{
    /* Type=notify-reload wants the CLOCK_MONOTONIC time the reload began
     * with RELOADING=1, to tell this reload from an earlier one. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char msg[96];
    snprintf(msg, sizeof msg, "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
    notify(msg);
}

void notify_stopping(void)
{
    notify("STOPPING=1\nSTATUS=stopping");
}

void notify_mainpid(pid_t pid)
{
    char msg[64];
    snprintf(msg, sizeof msg, "MAINPID=%ld\nREADY=1", (long)pid);
    notify(msg);
}
