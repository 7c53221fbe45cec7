#ifndef FTPD_CLOCK_H
#define FTPD_CLOCK_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC: for timeouts and deadlines only. */
int64_t clock_ms(void);

#endif
