#include <string.h>

#include "arch/backends.h"
#include "ftpd/arch.h"

static const struct arch archs[] = {
    {"serial", "one loop: accept a connection, serve it to the end, accept the next",
     arch_serial_run},
    {"process", "the parent accepts and forks a child per connection", arch_process_run},
    {"thread", "the main thread accepts; a detached thread per connection", arch_thread_run},
    {"prefork", "a master forks N workers that each accept on the shared listener",
     arch_prefork_run},
    {"threadpool", "N threads started at boot, each accepting on the shared listener",
     arch_threadpool_run},
    {"reactor", "one libev event loop serves every connection without blocking", arch_reactor_run},
    {"hybrid", "nginx-style: a master and N worker processes, each running the reactor",
     arch_hybrid_run},
};

const struct arch *arch_table(size_t *count)
{
    *count = sizeof archs / sizeof archs[0];
    return archs;
}

const struct arch *arch_find(const char *name)
{
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++) {
        if (strcmp(archs[i].name, name) == 0)
            return &archs[i];
    }
    return NULL;
}
