/* Reading a PROXY protocol header (ftpd/proxy_header.h) off a socket:
 * exactly the header's bytes and not one more, so that what follows it
 * (the FTP commands, a TLS ClientHello) stays in the socket for the
 * stream that reads next. */
#ifndef FTPD_PROXY_READ_H
#define FTPD_PROXY_READ_H

#include "ftpd/proxy_header.h"
#include "ftpd/stream.h"

/* As far as the peer has sent it, without blocking. STREAM_OK: complete,
 * *out filled; STREAM_AGAIN: wait until the fd is readable and call again;
 * STREAM_EOF: closed before the end; STREAM_ERR: errno (EPROTO: not a
 * valid header, p->error says why). */
enum stream_status proxy_read(int fd, struct proxy_parser *p, struct proxy_header *out);

#endif
