/* Upload receive path, measured: read + pwrite against splice(2) socket ->
 * pipe -> file, for one loopback TCP upload (the figures are quoted in
 * src/net/xfer_blocking.c, recv_file).
 *
 *   cc -O2 -o /tmp/splice_bench scripts/splice_bench.c -lpthread
 *   /tmp/splice_bench DIR [MiB]     (a file DIR/splice_bench.out is written)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (256 * 1024)

static size_t total;
static int port;

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void *sender(void *arg)
{
    (void)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("connect");
    char *buf = malloc(CHUNK);
    memset(buf, 'x', CHUNK);
    size_t left = total;
    while (left > 0) {
        ssize_t n = write(fd, buf, left < CHUNK ? left : CHUNK);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("write");
        }
        left -= (size_t)n;
    }
    close(fd);
    free(buf);
    return NULL;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t recv_rw(int s, int f)
{
    char *buf = malloc(CHUNK);
    off_t off = 0;
    for (;;) {
        ssize_t n = read(s, buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("read");
        if (n == 0)
            break;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = pwrite(f, buf + done, (size_t)(n - done), off);
            if (w < 0)
                die("pwrite");
            done += w;
            off += w;
        }
    }
    free(buf);
    return (size_t)off;
}

static size_t recv_splice(int s, int f)
{
    int p[2];
    if (pipe(p) < 0)
        die("pipe");
    fcntl(p[1], F_SETPIPE_SZ, CHUNK);
    loff_t off = 0;
    for (;;) {
        ssize_t n = splice(s, NULL, p[1], NULL, CHUNK, SPLICE_F_MOVE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("splice in");
        if (n == 0)
            break;
        while (n > 0) {
            ssize_t w = splice(p[0], NULL, f, &off, (size_t)n, SPLICE_F_MOVE);
            if (w < 0)
                die("splice out");
            n -= w;
        }
    }
    close(p[0]);
    close(p[1]);
    return (size_t)off;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    total = (size_t)(argc > 2 ? atoi(argv[2]) : 256) << 20;
    char path[4096];
    snprintf(path, sizeof path, "%s/splice_bench.out", argv[1]);
    for (int round = 0; round < 6; round++) {
        int ls = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t al = sizeof a;
        if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 1) < 0 ||
            getsockname(ls, (struct sockaddr *)&a, &al) < 0)
            die("listen");
        port = ntohs(a.sin_port);
        int f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (f < 0)
            die("open");
        pthread_t th;
        pthread_create(&th, NULL, sender, NULL);
        int s = accept(ls, NULL, NULL);
        double t0 = now();
        size_t got = round % 2 ? recv_splice(s, f) : recv_rw(s, f);
        double dt = now() - t0;
        pthread_join(th, NULL);
        printf("%-12s %zu MiB in %.3f s = %.0f MB/s\n", round % 2 ? "splice" : "read+pwrite",
               got >> 20, dt, got / dt / 1e6);
        close(s);
        close(ls);
        close(f);
        unlink(path);
    }
    return 0;
}
