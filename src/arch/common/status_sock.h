/* What the status service and its client (ftpd --status) share: the
 * control socket's address, the request, and a bounded wait. */
#ifndef FTPD_ARCH_COMMON_STATUS_SOCK_H
#define FTPD_ARCH_COMMON_STATUS_SOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

/* The request payload of MSG_CTL_STATUS: which rendering. */
#define STATUS_REQ_JSON "json"
#define STATUS_REQ_TEXT "text"

/* 0, or -1 with errno ENAMETOOLONG. */
int status_unix_addr(const char *path, struct sockaddr_un *sun);

/* Wait for fd to be ready for events until deadline (clock_ms()); false on
 * timeout or error. */
bool status_wait_fd(int fd, short events, int64_t deadline);

#endif
