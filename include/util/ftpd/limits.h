/* Every hard limit of the daemon in one place (vsftpd's defs.h habit). */
#ifndef FTPD_LIMITS_H
#define FTPD_LIMITS_H

/* Longest command line accepted, CRLF excluded. Longer lines get 500 and are
 * discarded up to their end; the connection survives. */
#define FTPD_LINE_MAX 4096

/* Longest virtual path (cwd joined with an argument, after normalisation). */
#define FTPD_PATH_MAX 4096

/* Largest reply a single command may produce (STAT of a directory is the only
 * big one; it is cut at this size with a note). */
#define FTPD_REPLY_MAX (64 * 1024)

/* Entries STAT <dir> lists over the control connection. */
#define FTPD_STAT_LIST_MAX 1000

/* A listing is produced in chunks of about this size, never all at once. */
#define FTPD_LISTING_CHUNK (16 * 1024)

/* The listing cache of an event loop (ftpd/listing_cache.h): all
 * its memory (entries, captures in progress, evicted listings still being
 * sent), one listing at most (a bigger one is sent uncached), and entries. */
#define FTPD_LISTING_CACHE_BYTES     (4 * 1024 * 1024)
#define FTPD_LISTING_CACHE_ENTRY_MAX (512 * 1024)
#define FTPD_LISTING_CACHE_ENTRIES   64
/* The default of listing_cache_ttl (seconds). */
#define FTPD_DEFAULT_LISTING_CACHE_TTL 2

/* A directory changed less than this long ago is listed but not cached:
 * a file system stamps changes with a coarse clock (a jiffy; whole seconds
 * on some, two on FAT), so a change made within the same tick as the
 * recorded one would leave st_mtim/st_ctim equal and the entry stale. */
#define FTPD_LISTING_CACHE_RACY_SEC 2

/* Bytes moved per read/write round in the blocking engine when sendfile
 * cannot be used (TYPE A, STOR). */
#define FTPD_XFER_CHUNK (64 * 1024)

/* Listen addresses in the config. */
#define FTPD_LISTEN_MAX 8

/* Commands a client may send before logging in; then it is disconnected. */
#define FTPD_PRELOGIN_MAX 30

/* Failed PASS attempts before the connection is closed (the default of
 * max_login_fails). */
#define FTPD_LOGIN_FAILS_MAX 3

/* The users file (ftpd/users.h): longest line, newline excluded, accounts,
 * and the longest user name (USER arguments longer than this match no
 * account). */
#define FTPD_USERS_LINE_MAX 1024
#define FTPD_USERS_MAX      100000
#define FTPD_USER_NAME_MAX  64

/* Password checks (deferred work) of one event loop: the hashing threads,
 * started at the first check, and the jobs that may wait for one; a login
 * beyond that gets 421. A yescrypt check costs ~15-25 ms of CPU. */
#define FTPD_WORK_THREADS   2
#define FTPD_WORK_QUEUE_MAX 256

/* Random ports tried in pasv_min_port..pasv_max_port before giving up. */
#define FTPD_PASV_TRIES 64

/* Banner text length. */
#define FTPD_BANNER_MAX 256

/* Defaults for the config keys (conf/ftpd.conf documents each). */
#define FTPD_DEFAULT_PORT             2121
#define FTPD_DEFAULT_MAX_CLIENTS      2000
#define FTPD_DEFAULT_MAX_PER_IP       50
#define FTPD_DEFAULT_IDLE_TIMEOUT     300
#define FTPD_DEFAULT_DATA_TIMEOUT     60
#define FTPD_DEFAULT_SHUTDOWN_GRACE   10
#define FTPD_DEFAULT_THREADS          32
#define FTPD_DEFAULT_LOGIN_FAIL_DELAY 1 /* seconds */

/* The adaptive prefork pool: 50 sessions at once fit long before the
 * maximum (Apache prefork's 5 / 10 / 256). */
#define FTPD_DEFAULT_MIN_SPARE_WORKERS 5
#define FTPD_DEFAULT_MAX_SPARE_WORKERS 10
#define FTPD_DEFAULT_MAX_WORKERS       256

/* Live upgrade (SIGUSR2): the old generation's sessions may finish for
 * this long (upgrade_drain_timeout); a new generation not ready within
 * FTPD_UPGRADE_READY_TIMEOUT seconds is given up (rolled back). */
#define FTPD_DEFAULT_UPGRADE_DRAIN_TIMEOUT 300
#define FTPD_UPGRADE_READY_TIMEOUT         30

/* FTPS: the longest tls_ciphers value, the default cipher list for TLS 1.2
 * (forward secret AEAD suites only: no RSA key exchange, CBC, RC4, 3DES,
 * SHA-1 MACs; TLS 1.3 suites are OpenSSL's defaults, all AEAD), and the
 * default seconds a TLS handshake may take. */
#define FTPD_TLS_CIPHERS_MAX 512
#define FTPD_DEFAULT_TLS_CIPHERS                                                                   \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"     \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define FTPD_DEFAULT_TLS_HANDSHAKE_TIMEOUT 10
/* How long a finished data connection waits for the client's TLS
 * close_notify before it is closed (net/stream_tls.c: tls_shutdown). */
#define FTPD_DATA_CLOSE_WAIT_MS 2000

/* PROXY protocol (issue 14): entries of proxy_trusted, and the default
 * of proxy_timeout (seconds; the spec asks for at least 3, to cover a TCP
 * retransmit). */
#define FTPD_PROXY_TRUSTED_MAX     16
#define FTPD_DEFAULT_PROXY_TIMEOUT 3

/* Live upgrade, idle sessions move (evented/handover.c): how long an old
 * process retries connecting to the new generation's handover socket
 * (open before it reports ready: a safety net), and how often. */
#define FTPD_HANDOVER_CONNECT_MS 3000
#define FTPD_HANDOVER_RETRY_MS   20
/* Sessions an old process sends before the new generation's answers: more
 * would fill both directions of the Unix socket (each small message holds
 * ~1 KiB of its sender's buffer) and deadlock the two loops. */
#define FTPD_HANDOVER_WINDOW 32

#endif
