/*
 * The C tests' one assertion macro: CHECK(cond, fmt, ...) prints "FAIL file:line: message"
 * and counts the failure in `failures`, without stopping the test, so one run reports every
 * mismatch. Each test's main() returns failures != 0.
 */
#ifndef CLIPDB_TEST_CHECK_H
#define CLIPDB_TEST_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                          \
  do {                                            \
    if (!(cond)) {                                \
      failures++;                                 \
      printf("FAIL %s:%d: ", __FILE__, __LINE__); \
      printf(__VA_ARGS__);                        \
      printf("\n");                               \
    }                                             \
  } while (0)

#endif
