/* Must not compile: net cannot see arch. */
#include "ftpd/arch.h"
