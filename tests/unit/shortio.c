/* Short reads and writes, and EINTR, for the two transfer engines: a copy
 * of the net library whose calls to the I/O syscalls are renamed (objcopy
 * --redefine-sym read=shortio_read ..., see CMakeLists.txt) is linked into
 * test_xfer_shortio and test_xfer_evented_shortio, the engine tests built a
 * second time. Every third call fails with EINTR before doing anything;
 * the others move at most a third of what was asked (at least one byte).
 * The test's own client side calls the real syscalls. The engines must
 * still move every byte, in order, with the same results. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

ssize_t shortio_read(int fd, void *p, size_t n);
ssize_t shortio_write(int fd, const void *p, size_t n);
ssize_t shortio_send(int fd, const void *p, size_t n, int flags);
ssize_t shortio_pread(int fd, void *p, size_t n, off_t off);
ssize_t shortio_pwrite(int fd, const void *p, size_t n, off_t off);
ssize_t shortio_sendfile(int out, int in, off_t *off, size_t n);
ssize_t shortio_splice(int in, loff_t *in_off, int out, loff_t *out_off, size_t n, unsigned flags);

/* Test-only state; the evented engine may run on several threads. Check
 * runs each test in a child: the count of injected failures is kept in a
 * shared page, so the parent can tell at exit that the seam was used. */
static atomic_uint calls;
static atomic_uint *eintr_total;
static pid_t parent;

__attribute__((constructor)) static void shortio_init(void)
{
    void *p =
        mmap(NULL, sizeof *eintr_total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    eintr_total = p == MAP_FAILED ? NULL : p;
    parent = getpid();
}

/* No EINTR injected at all: the renamed library was not the one linked. */
__attribute__((destructor)) static void shortio_check(void)
{
    if (getpid() == parent && eintr_total != NULL && atomic_load(eintr_total) == 0) {
        fprintf(stderr, "shortio: no call reached the injecting seam\n");
        _exit(1);
    }
}

/* true: fail this call with EINTR. Else *n is cut to a third. */
static int inject(size_t *n)
{
    if (atomic_fetch_add(&calls, 1) % 3 == 2) {
        if (eintr_total != NULL)
            atomic_fetch_add(eintr_total, 1);
        errno = EINTR;
        return 1;
    }
    if (*n > 3)
        *n /= 3;
    return 0;
}

ssize_t shortio_read(int fd, void *p, size_t n)
{
    return inject(&n) ? -1 : read(fd, p, n);
}

ssize_t shortio_write(int fd, const void *p, size_t n)
{
    return inject(&n) ? -1 : write(fd, p, n);
}

ssize_t shortio_send(int fd, const void *p, size_t n, int flags)
{
    return inject(&n) ? -1 : send(fd, p, n, flags);
}

ssize_t shortio_pread(int fd, void *p, size_t n, off_t off)
{
    return inject(&n) ? -1 : pread(fd, p, n, off);
}

ssize_t shortio_pwrite(int fd, const void *p, size_t n, off_t off)
{
    return inject(&n) ? -1 : pwrite(fd, p, n, off);
}

ssize_t shortio_sendfile(int out, int in, off_t *off, size_t n)
{
    return inject(&n) ? -1 : sendfile(out, in, off, n);
}

ssize_t shortio_splice(int in, loff_t *in_off, int out, loff_t *out_off, size_t n, unsigned flags)
{
    return inject(&n) ? -1 : splice(in, in_off, out, out_off, n, flags);
}
