/* Must not compile: core cannot see net. */
#include "ftpd/net.h"
