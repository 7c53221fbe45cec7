/* The data connection as a stream, for both transfer engines. Plain TCP for
 * now; the TLS data channel (PROT P) plugs in here, wrapping fd when the
 * transfer asks for it, and neither engine changes.
 *
 * Alone in its file on purpose: a unit test can define its own
 * xfer_data_stream (a stream with TLS-like results) and the linker then
 * leaves this object out of the static library. */
#include "ftpd/net.h"

int xfer_data_stream(const struct transfer *t, int fd, struct stream *out)
{
    stream_plain(out, fd);
    return 0;
}
