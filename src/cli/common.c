/* Helpers shared by the CLI commands: errors as JSON, file reading, JSON output. */
#define _POSIX_C_SOURCE 200809L /* strdup, strtok_r */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* An absolute, normalised ("." and ".." resolved, no doubled or trailing "/") copy of `path`.
 * Symbolic links are not resolved. NULL on allocation failure. */
char *cli_absolute_path(const char *path) {
  char *joined;
  if (path[0] == '/') {
    joined = strdup(path);
  } else {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) == NULL) return NULL;
    joined = cli_join(cwd, path);
  }
  if (joined == NULL) return NULL;
  size_t n = strlen(joined);
  char *out = malloc(n + 2);
  if (out == NULL) {
    free(joined);
    return NULL;
  }
  size_t len = 0;
  char *save = NULL;
  for (char *seg = strtok_r(joined, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
    if (strcmp(seg, ".") == 0) continue;
    if (strcmp(seg, "..") == 0) {
      while (len > 0 && out[len - 1] != '/') len--;
      if (len > 0) len--; /* drop the "/" too */
      continue;
    }
    out[len++] = '/';
    size_t s = strlen(seg);
    memcpy(out + len, seg, s);
    len += s;
  }
  if (len == 0) out[len++] = '/';
  out[len] = '\0';
  free(joined);
  return out;
}

int cli_mkdir_p(const char *path) {
  char *p = strdup(path);
  if (p == NULL) return -1;
  for (char *s = p + 1; *s; s++) {
    if (*s == '/') {
      *s = '\0';
      if (mkdir(p, 0777) != 0 && errno != EEXIST) {
        free(p);
        return -1;
      }
      *s = '/';
    }
  }
  int rc = (mkdir(p, 0777) != 0 && errno != EEXIST) ? -1 : 0;
  free(p);
  return rc == 0 && cli_is_dir(path) ? 0 : -1;
}
