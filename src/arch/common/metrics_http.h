/* The metrics endpoint's HTTP: one request per connection (HTTP/1.0
 * style), GET /metrics only (404 for another path, 405 for another method,
 * 431 past STATUS_HTTP_REQUEST_MAX), the whole exchange within
 * STATUS_IO_TIMEOUT_MS. */
#ifndef FTPD_ARCH_COMMON_METRICS_HTTP_H
#define FTPD_ARCH_COMMON_METRICS_HTTP_H

#include "ftpd/buf.h"

/* Appends the Prometheus text to out; 0, or -1 (then 500). */
typedef int (*metrics_render_fn)(void *arg, struct buf *out);

/* Serve the connection fd (non-blocking) and close it. */
void metrics_http_serve(int fd, metrics_render_fn render, void *arg);

#endif
