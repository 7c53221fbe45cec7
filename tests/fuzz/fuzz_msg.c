/* The message framing of the master/worker channel, the control socket and
 * the handover (src/util/msg.c): the input is the byte stream a peer
 * writes on the Unix socket, sent in chunks (sizes from the first input
 * byte) to a non-blocking reader that reads after each chunk, then closed.
 * Every message handed out must be exactly the one the stream holds at
 * that point (header, type, payload), within the reader's limit; the
 * stream ends in MSG_EOF only on a message boundary, otherwise MSG_ERR
 * (EMSGSIZE over the limit, EPROTO for a bad header, descriptors announced
 * but absent, or EOF inside a message), and MSG_ERR is sticky.
 * Needs: src/util/msg.c include/util/ftpd/msg.h */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "ftpd/msg.h"

#define LIMIT 1024 /* a small payload limit, to reach EMSGSIZE */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    unsigned chunk = data[0] % 64 + 1;
    data++;
    size--;
    int sv[2];
    FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    FUZZ_ASSERT(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
    struct msg_reader r;
    msg_reader_init(&r, LIMIT);
    size_t sent = 0, model = 0; /* bytes written; start of the next message */
    enum msg_status st = MSG_AGAIN;
    bool closed = false;
    for (;;) {
        if (st == MSG_AGAIN) {
            if (sent < size) {
                size_t n = size - sent < chunk ? size - sent : chunk;
                ssize_t w = write(sv[1], data + sent, n);
                FUZZ_ASSERT(w > 0, "write: %s", strerror(errno));
                sent += (size_t)w;
            } else if (!closed) {
                close(sv[1]);
                closed = true;
            } else {
                FUZZ_ASSERT(false, "MSG_AGAIN after the peer closed");
            }
        }
        struct msg m;
        st = msg_read(&r, sv[0], &m);
        if (st == MSG_OK) {
            FUZZ_ASSERT(size - model >= MSG_HEADER_LEN, "a message from a partial header");
            const uint8_t *h = data + model;
            uint32_t len = be32(h);
            FUZZ_ASSERT(m.len == len && len <= LIMIT && size - model - MSG_HEADER_LEN >= len,
                        "message of %u bytes, the stream says %u", m.len, len);
            FUZZ_ASSERT(m.type == (uint16_t)(h[4] << 8 | h[5]), "type %#x", m.type);
            FUZZ_ASSERT(m.nfds == 0, "%d descriptors from a stream that sent none", m.nfds);
            FUZZ_ASSERT(len == 0 || memcmp(m.payload, h + MSG_HEADER_LEN, len) == 0,
                        "payload differs");
            model += MSG_HEADER_LEN + len;
            continue;
        }
        if (st == MSG_AGAIN)
            continue;
        if (st == MSG_EOF) {
            FUZZ_ASSERT(closed && model == size, "EOF at %zu of %zu", model, size);
        } else {
            int err = errno;
            FUZZ_ASSERT(err == EMSGSIZE || err == EPROTO, "MSG_ERR errno %d", err);
            FUZZ_ASSERT(msg_read(&r, sv[0], &m) == MSG_ERR, "MSG_ERR not sticky");
        }
        break;
    }
    msg_reader_free(&r);
    close(sv[0]);
    if (!closed)
        close(sv[1]);
    return 0;
}
