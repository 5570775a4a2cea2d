/*
 * The one place C tests find the golden reference data (../shared/golden beside the
 * checkout, or $CLIPDB_GOLDEN). Tests that need it call golden_require(), which exits with
 * ctest's skip code and a clear message where it is absent (e.g. a user's clone).
 */
#ifndef CLIPDB_TEST_GOLDEN_H
#define CLIPDB_TEST_GOLDEN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define GOLDEN_SKIP_CODE 77

static inline const char *golden_dir(void) {
  static char path[4096];
  const char *env = getenv("CLIPDB_GOLDEN");
  struct stat st;
  if (env != NULL && env[0] != '\0') {
    snprintf(path, sizeof path, "%s", env);
  } else {
    snprintf(path, sizeof path, "%s/../shared/golden", CLIPDB_SOURCE_DIR);
  }
  char probe[4200];
  snprintf(probe, sizeof probe, "%s/README.md", path);
  return stat(probe, &st) == 0 ? path : NULL;
}

/* Path of `rel` inside the golden folder; exits 77 (skip) if the folder is absent. */
static inline const char *golden_require(const char *rel) {
  static char out[4][4400];
  static int slot;
  const char *dir = golden_dir();
  if (dir == NULL) {
    printf("SKIP: golden reference data not found: expected ../shared/golden beside the "
           "checkout, or set CLIPDB_GOLDEN=/path/to/golden\n");
    exit(GOLDEN_SKIP_CODE);
  }
  slot = (slot + 1) % 4;
  snprintf(out[slot], sizeof out[slot], "%s/%s", dir, rel);
  return out[slot];
}

#endif
