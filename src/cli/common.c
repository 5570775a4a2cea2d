/* Helpers shared by the CLI commands: errors as JSON, file reading, JSON output. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

void cli_json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
      case '"': fputs("\\\"", f); break;
      case '\\': fputs("\\\\", f); break;
      case '\n': fputs("\\n", f); break;
      case '\r': fputs("\\r", f); break;
      case '\t': fputs("\\t", f); break;
      default:
        if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
  }
  fputc('"', f);
}

void cli_json_floats(FILE *f, const float *v, size_t n) {
  fputc('[', f);
  for (size_t i = 0; i < n; i++) fprintf(f, i ? ",%.9g" : "%.9g", (double)v[i]);
  fputc(']', f);
}

static void print_error(const char *status, const char *fmt, va_list ap) {
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  fputs("{\"error\":", stderr);
  cli_json_string(stderr, status);
  fputs(",\"message\":", stderr);
  cli_json_string(stderr, msg);
  fputs("}\n", stderr);
}

int cli_fail(clipdb_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  print_error(clipdb_status_string(status), fmt, ap);
  va_end(ap);
  return 1;
}

int cli_usage(const char *command, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fputs("{\"error\":\"INVALID_ARGUMENT\",\"message\":", stderr);
  char full[1200];
  snprintf(full, sizeof full, "clipdb %s: %s (see clipdb --help)", command, msg);
  cli_json_string(stderr, full);
  fputs("}\n", stderr);
  return 2;
}

/* The library keeps messages per thread; the CLI reports I/O failures the same way. */
static char io_error[1024];

clipdb_status cli_read_file(const char *path, void **data, size_t *size) {
  *data = NULL;
  *size = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    snprintf(io_error, sizeof io_error, "failed to open %s: %s", path, strerror(errno));
    return cli_fail(CLIPDB_STATUS_IO, "%s", io_error), CLIPDB_STATUS_IO;
  }
  size_t cap = 1 << 16, n = 0;
  unsigned char *buf = malloc(cap);
  while (buf != NULL) {
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (n < cap) break;
    unsigned char *bigger = realloc(buf, cap * 2);
    if (bigger == NULL) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = bigger;
    cap *= 2;
  }
  int err = ferror(f);
  fclose(f);
  if (buf == NULL) return cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "failed to read %s: out of memory", path), CLIPDB_STATUS_OUT_OF_MEMORY;
  if (err) {
    free(buf);
    return cli_fail(CLIPDB_STATUS_IO, "failed to read %s", path), CLIPDB_STATUS_IO;
  }
  *data = buf;
  *size = n;
  return CLIPDB_STATUS_SUCCESS;
}

int cli_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *cli_join(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *s = malloc(a + b + 2);
  if (s == NULL) return NULL;
  memcpy(s, dir, a);
  size_t at = a;
  if (a > 0 && dir[a - 1] != '/') s[at++] = '/';
  memcpy(s + at, name, b + 1);
  return s;
}
