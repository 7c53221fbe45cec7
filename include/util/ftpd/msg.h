/* Typed, length-prefixed messages on a Unix stream socket, which may carry
 * descriptors (SCM_RIGHTS): the master/worker channel, the control socket
 * (ftpd --status), the live upgrade's ready report and the session handover
 * all speak this.
 *
 * Wire format, one message:
 *   uint32 payload length (big-endian) | uint16 type (big-endian) |
 *   uint8 descriptor count | uint8 zero | payload bytes
 * The descriptors travel as SCM_RIGHTS on the sendmsg that carries the
 * header, so they reach the reader no later than the header's bytes. The
 * reader queues received descriptors in arrival order and hands each
 * complete message as many as its header announces.
 *
 * msg_read() is an incremental reader for blocking or non-blocking fds: it
 * keeps partial messages across calls, returns several messages from one
 * read one at a time, rejects an announced length over its limit, and
 * closes every descriptor it received but did not hand out (errors, EOF,
 * msg_reader_free). */
#ifndef FTPD_MSG_H
#define FTPD_MSG_H

#include <stddef.h>
#include <stdint.h>

/* Header bytes before each payload. */
#define MSG_HEADER_LEN 8
/* Descriptors one message may carry. */
#define MSG_MAX_FDS 4
/* Default payload limit of a reader (msg_reader_init with 0). A status
 * reply listing every session of a worker is the biggest message. */
#define MSG_PAYLOAD_MAX (1024 * 1024)
/* How long msg_send waits for a full socket buffer to drain: a peer that
 * reads nothing for that long is treated as gone. */
#define MSG_SEND_TIMEOUT_MS 5000

/* Message types, grouped by who speaks them (uint16 on the wire). A
 * receiver ignores a type it does not know. */
enum msg_type {
    /* master/worker channel (src/arch/common/channel.c) */
    MSG_CH_READY = 0x0100,       /* worker -> master: serving */
    MSG_CH_COUNTERS = 0x0101,    /* worker -> master: its counters */
    MSG_CH_DRAIN = 0x0102,       /* master -> worker: stop accepting, finish sessions */
    MSG_CH_RELOAD = 0x0103,      /* master -> worker: take the new configuration */
    MSG_CH_STOP = 0x0104,        /* master -> worker: stop now */
    MSG_CH_REPORT = 0x0105,      /* master -> worker: send counters and sessions */
    MSG_CH_SESSIONS = 0x0106,    /* worker -> master: its sessions (status) */
    MSG_CH_HANDED_OVER = 0x0107, /* worker -> master: a session left for a new generation */

    /* control socket (control_socket, ftpd --status) */
    MSG_CTL_STATUS = 0x0200,       /* client -> server: request */
    MSG_CTL_STATUS_REPLY = 0x0201, /* server -> client: the status (JSON text) */

    /* live upgrade: new generation -> old (FTPD_UPGRADE_FD) */
    MSG_UPG_READY = 0x0300,
    MSG_UPG_FAILED = 0x0301,

    /* session handover between generations */
    MSG_HO_SESSION = 0x0400, /* control fd (+ passive listener) + state record */
    MSG_HO_ACK = 0x0401,
};

/* One received message. payload points into the reader's buffer and stays
 * valid until the next msg_read on that reader (it is not aligned: copy
 * fixed-size records out with memcpy). The caller owns fds[0..nfds). */
struct msg {
    uint16_t type;
    uint32_t len;
    const unsigned char *payload;
    int fds[MSG_MAX_FDS];
    int nfds;
};

struct msg_reader {
    unsigned char *buf; /* received bytes: [start, end) not yet handed out */
    size_t cap, start, end;
    size_t max_payload;
    int fds[2 * MSG_MAX_FDS]; /* received, not yet handed out (FIFO) */
    int nfds;
    int failed; /* errno of a past error: the stream is out of step for good */
};

enum msg_status {
    MSG_OK,    /* *out holds a message */
    MSG_AGAIN, /* nothing complete yet (non-blocking fd): wait for readable */
    MSG_EOF,   /* the peer closed between messages */
    MSG_ERR,   /* errno: EMSGSIZE (over the limit), EPROTO (malformed, EOF
                  inside a message, descriptors missing or truncated), or the
                  recvmsg error. Sticky: every later call fails the same way */
};

/* max_payload 0 means MSG_PAYLOAD_MAX. */
void msg_reader_init(struct msg_reader *r, size_t max_payload);
/* Frees the buffer and closes descriptors not handed out. */
void msg_reader_free(struct msg_reader *r);

enum msg_status msg_read(struct msg_reader *r, int fd, struct msg *out);

/* Closes out->fds (a caller that did not want them). */
void msg_close_fds(struct msg *m);

/* Sends one whole message (header, payload, descriptors). On a
 * non-blocking fd a full socket buffer is waited for (poll, up to
 * MSG_SEND_TIMEOUT_MS in all). Returns 0, or -1 with errno (EINVAL for
 * len or nfds over the limits, ETIMEDOUT, EPIPE...): after a failure part
 * of the message may have been written, so the channel must be closed.
 * The descriptors stay open on the sender's side. Never raises SIGPIPE. */
int msg_send(int fd, uint16_t type, const void *payload, size_t len, const int *fds, int nfds);

#endif
