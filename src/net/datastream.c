/* The data connection as a stream, for both transfer engines: plain TCP,
 * or TLS for a PROT P transfer (its handshake runs as the first step of
 * the engine's first read or write, non-blocking in the evented engine),
 * and neither engine knows which.
 *
 * Alone in its file on purpose: a unit test can define its own
 * xfer_data_stream (a stream with TLS-like results) and the linker then
 * leaves this object out of the static library. */
#include <errno.h>
#include <unistd.h>

#include "ftpd/net.h"
#include "ftpd/tls.h"

int xfer_data_stream(const struct transfer *t, int fd, struct stream *out)
{
    stream_plain(out, fd);
    if (t->tls_protect && tls_wrap_data(out, t->tls_control, t->kind != XFER_RECV_FILE) < 0) {
        int err = errno;
        close(fd);
        out->fd = -1;
        errno = err;
        return -1;
    }
    return 0;
}
