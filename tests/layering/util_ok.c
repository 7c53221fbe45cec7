/* Positive control: util's own headers compile with util's include flags. */
#include "ftpd/buf.h"
#include "ftpd/config.h"
#include "ftpd/sock.h"
