/*
 * Shared checks of the fuzz targets: every failure must carry a message, and the library's
 * allocation counter must be back where it started after each input (no leak on any path).
 * Each target is a libFuzzer entry point (LLVMFuzzerTestOneInput); built without libFuzzer,
 * driver.c runs the same function over files and folders given on the command line.
 */
#ifndef CLIPDB_FUZZ_COMMON_H
#define CLIPDB_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include "clipdb.h"

/* Abort (a crash libFuzzer reports with the input) when a failing call left no message. */
static inline void fuzz_require_message(clipdb_status s, const char *message, const char *what) {
  if (s != CLIPDB_STATUS_SUCCESS && (message == NULL || message[0] == '\0')) {
    fprintf(stderr, "%s failed with %s and no message\n", what, clipdb_status_string(s));
    abort();
  }
}

/* Abort when the library holds more bytes than before the input. */
static inline void fuzz_require_no_leak(size_t before, const char *what) {
  const size_t after = clipdb_allocated_bytes();
  if (after != before) {
    fprintf(stderr, "%s leaked %zu bytes\n", what, after - before);
    abort();
  }
}

#endif
