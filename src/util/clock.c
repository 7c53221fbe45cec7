#include "ftpd/clock.h"

#include <time.h>

int64_t clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail with a valid clock id */
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
