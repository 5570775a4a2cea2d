/* Which compute backend this build uses (set by CMake: CLIPDB_BACKEND). */
#include "../clipdb-impl.h"

#ifndef CLIPDB_BACKEND_NAME
#define CLIPDB_BACKEND_NAME "scalar"
#endif

const char *clipdb_backend_name(void) { return CLIPDB_BACKEND_NAME; }
