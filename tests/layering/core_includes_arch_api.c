/* Must not compile: core cannot see the arch interface. */
#include "ftpd/arch.h"
