/*
 * The C tests' one whole-file reader: read_file(path, &size) returns a malloc'd copy of the
 * file with a NUL byte after its last one (so text files can be used as strings), or NULL
 * (size 0) if it cannot be opened or read. The caller frees it.
 */
#ifndef CLIPDB_TEST_READ_FILE_H
#define CLIPDB_TEST_READ_FILE_H

#include <stdio.h>
#include <stdlib.h>

static void *read_file(const char *path, size_t *size) {
  *size = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  char *buf = NULL;
  long n = -1;
  if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
  if (n >= 0 && fseek(f, 0, SEEK_SET) == 0) buf = malloc((size_t)n + 1);
  if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf == NULL) return NULL;
  buf[n] = '\0';
  *size = (size_t)n;
  return buf;
}

#endif
