/* Must not compile: core cannot see arch's private headers (no src/ root). */
#include "arch/blocking/blocking.h"
