/* What thread and threadpool share: small-stack thread attributes, the stop
 * pipe that tells every thread the server is stopping, and the main
 * thread's wait for signals. */
#ifndef FTPD_ARCH_THREADS_H
#define FTPD_ARCH_THREADS_H

#include <pthread.h>
#include <stdbool.h>

#include "ftpd/arch.h"

/* Explicit stack so thousands of session threads fit: sessions keep their
 * buffers on the heap, the deepest stack use is a few path buffers. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SESSION_THREAD_STACK (1024 * 1024)
#else
#define SESSION_THREAD_STACK (128 * 1024)
#endif

int thread_attr_init(pthread_attr_t *attr, bool detached);

/* A pipe whose read end becomes readable, for every thread at once, when
 * the write end is closed. */
struct stop_pipe {
    int rd, wr;
};

int stop_pipe_open(struct stop_pipe *p);
void stop_pipe_fire(struct stop_pipe *p);
void stop_pipe_close(struct stop_pipe *p);

/* Main thread: wait for SIGINT/SIGTERM on sigfd. */
void wait_for_stop_signal(int sigfd);

/* Main thread, stopping: wait until done(arg) is true, polling sigfd; a
 * second signal returns at once (the process exits, ending the threads). */
void wait_for_drain(int sigfd, bool (*done)(void *arg), void *arg);

#endif
