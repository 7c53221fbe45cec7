/* The one list of back-ends: main(), --list-archs, the test scripts and
 * CMake (which reads the .name and .variant lines) all take it from here. */
#include <string.h>

#include "arch/backends.h"
#include "ftpd/arch.h"

static const struct arch archs[] = {
    {.name = "serial",
     .summary = "one loop: accept a connection, serve it to the end, accept the next",
     .run = arch_serial_run},
    {.name = "process",
     .summary = "the parent accepts and forks a child per connection",
     .run = arch_process_run},
    {.name = "thread",
     .summary = "the main thread accepts; a detached thread per connection",
     .run = arch_thread_run},
    {.name = "prefork",
     .summary = "a master forks N workers that each accept on the shared listener",
     .run = arch_prefork_run},
    {.name = "threadpool",
     .summary = "N threads run the commands of sessions parked in an event set between them",
     .run = arch_threadpool_run,
     .variants =
         {
             {.variant = "queue: threadpool_dispatch = queue"},
             {.variant = "accept: threadpool_dispatch = accept"},
         }},
    {.name = "reactor",
     .summary = "one libev event loop serves every connection without blocking",
     .run = arch_reactor_run},
    {.name = "hybrid",
     .summary = "nginx-style: a master and N worker processes, each running the reactor",
     .run = arch_hybrid_run,
     .reuseport_listeners = true,
     .variants =
         {
             {.variant = "reuseport: hybrid_balance = reuseport"},
         }},
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
