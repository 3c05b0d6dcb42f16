/* internal.h — core's private declarations, for tests only: not installed, not public API. */
#ifndef USERSIM_CORE_INTERNAL_H
#define USERSIM_CORE_INTERNAL_H

#include "core/core.h"

/* As us_sha256_init, but always uses the portable block function (never the CPU's SHA
 * instructions), so tests can compare both paths on the same input. */
void us_sha256_init_portable(us_sha256 *s);

#endif
