/* The CLI's store file: reading, validating, writing and locking it. Format in store-file.h. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* flock */
#include "store-file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef __EMSCRIPTEN__
#include <emscripten.h>
#endif

#define FNV_PRIME 0x100000001b3ull
#define TMP_PREFIX CLI_STORE_FILE ".tmp-"

uint64_t cli_fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * FNV_PRIME;
  return h;
}

#ifdef __EMSCRIPTEN__
/* getpid() is a constant under Emscripten: ask Node. */
EM_JS(int, node_pid, (void), { return typeof process !== 'undefined' ? process.pid : 42; });
long cli_process_id(void) { return (long)node_pid(); }
#else
long cli_process_id(void) { return (long)getpid(); }
#endif

static char *join(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *s = malloc(a + b + 2);
  if (s == NULL) return NULL;
  memcpy(s, dir, a);
  size_t at = a;
  if (a > 0 && dir[a - 1] != '/') s[at++] = '/';
  memcpy(s + at, name, b + 1);
  return s;
}

/* ---- entries ---------------------------------------------------------------------------- */

int cli_store_reserve(cli_store *s, size_t n) {
  if (n <= s->cap) return 0;
  size_t cap = s->cap ? s->cap * 2 : 64;
  while (cap < n) cap *= 2;
  size_t dim = s->dim ? s->dim : 1;
  if (cap > SIZE_MAX / sizeof(cli_store_entry) || cap > SIZE_MAX / sizeof(float) / dim) return -1;
  cli_store_entry *e = realloc(s->entries, cap * sizeof *e);
  if (e == NULL) return -1;
  s->entries = e;
  float *v = realloc(s->vectors, cap * dim * sizeof *v);
  if (v == NULL) return -1;
  s->vectors = v;
  s->cap = cap;
  return 0;
}

void cli_store_clear(cli_store *s) {
  for (size_t i = 0; i < s->count; i++) free(s->entries[i].path);
  free(s->entries);
  free(s->vectors);
  free(s->model_path);
  free(s->vocab_path[0]);
  free(s->vocab_path[1]);
  memset(s, 0, sizeof *s);
}

/* ---- decoding ----------------------------------------------------------------------------- */

typedef struct {
  const unsigned char *p;
  size_t len, at;
  int bad;
} reader_t;

static const unsigned char *take(reader_t *r, size_t n) {
  if (r->bad || n > r->len - r->at) {
    r->bad = 1;
    return NULL;
  }
  const unsigned char *p = r->p + r->at;
  r->at += n;
  return p;
}

static uint64_t get_le(reader_t *r, int bytes) {
  const unsigned char *p = take(r, (size_t)bytes);
  uint64_t v = 0;
  if (p)
    for (int i = bytes - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

/* A length-prefixed string as a malloc'ed C string; *ok = 0 when it runs past the end or holds
 * a NUL. An empty string gives NULL with *ok = 1. */
static char *get_string(reader_t *r, int *ok, int *oom) {
  uint32_t n = (uint32_t)get_le(r, 4);
  const unsigned char *p = take(r, n);
  *ok = !r->bad && (n == 0 || memchr(p, 0, n) == NULL);
  if (!*ok || n == 0) return NULL;
  char *s = malloc((size_t)n + 1);
  if (s == NULL) {
    *oom = 1;
    return NULL;
  }
  memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

static const cli_store *sort_store; /* qsort has no context argument in C11 */

static int cmp_index_by_path(const void *a, const void *b) {
  return strcmp(sort_store->entries[*(const size_t *)a].path, sort_store->entries[*(const size_t *)b].path);
}

/* Indices of the entries in path order (malloc'ed), or NULL when out of memory. */
static size_t *path_order(const cli_store *s) {
  size_t *order = malloc((s->count ? s->count : 1) * sizeof *order);
  if (order == NULL) return NULL;
  for (size_t i = 0; i < s->count; i++) order[i] = i;
  sort_store = s;
  if (s->count > 1) qsort(order, s->count, sizeof *order, cmp_index_by_path);
  return order;
}

/* Index of a path that appears twice, or -1. */
static long duplicate_path(const cli_store *s, const size_t *order) {
  for (size_t i = 1; i < s->count; i++)
    if (strcmp(s->entries[order[i - 1]].path, s->entries[order[i]].path) == 0) return (long)order[i];
  return -1;
}

#define FAIL(status_, ...)                            \
  do {                                                \
    status = (status_);                               \
    snprintf(err, CLI_ERR_SIZE, __VA_ARGS__);         \
    goto done;                                        \
  } while (0)

clipdb_status cli_store_decode(const void *data, size_t size, cli_store *s, char *err) {
  clipdb_status status = CLIPDB_STATUS_SUCCESS;
  memset(s, 0, sizeof *s);
  reader_t r = {data, size, 0, 0};
  int ok = 1, oom = 0;
  size_t *order = NULL;
  const unsigned char *magic = take(&r, 8);
  if (magic == NULL || memcmp(magic, CLI_STORE_MAGIC, 8) != 0) FAIL(CLIPDB_STATUS_IO, "not a clipdb store (bad magic)");
  if (size < 20) FAIL(CLIPDB_STATUS_IO, "truncated (%zu bytes)", size);
  r.at = size - 8;
  if (cli_fnv1a(CLI_FNV_OFFSET, data, size - 8) != get_le(&r, 8))
    FAIL(CLIPDB_STATUS_IO, "checksum mismatch (truncated or damaged)");
  r.len = size - 8;
  r.at = 8;
  s->version = (uint32_t)get_le(&r, 4);
  if (s->version != 1 && s->version != CLI_STORE_VERSION)
    FAIL(CLIPDB_STATUS_IO, "unsupported store version %u (this clipdb reads 1 and %u)", s->version, CLI_STORE_VERSION);
  s->dim = (uint32_t)get_le(&r, 4);
  uint64_t count = get_le(&r, 8);
  s->model_size = get_le(&r, 8);
  s->model_hash = get_le(&r, 8);
  s->model_path = get_string(&r, &ok, &oom);
  if (oom) FAIL(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
  if (!ok || s->model_path == NULL) FAIL(CLIPDB_STATUS_IO, "malformed header (model path)");
  s->exif = CLI_STORE_EXIF_UNKNOWN;
  if (s->version >= 2) {
    for (int i = 0; i < 2; i++) {
      s->vocab_path[i] = get_string(&r, &ok, &oom);
      if (oom) FAIL(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
      if (!ok) FAIL(CLIPDB_STATUS_IO, "malformed header (vocabulary path)");
    }
    if (s->vocab_path[0] == NULL && s->vocab_path[1] != NULL)
      FAIL(CLIPDB_STATUS_IO, "malformed header (second vocabulary file without a first)");
    s->vocab_size = get_le(&r, 8);
    s->vocab_hash = get_le(&r, 8);
    uint32_t exif = (uint32_t)get_le(&r, 4);
    if (r.bad) FAIL(CLIPDB_STATUS_IO, "malformed header (truncated)");
    if (exif != CLIPDB_EXIF_IGNORE && exif != CLIPDB_EXIF_APPLY)
      FAIL(CLIPDB_STATUS_IO, "malformed header (EXIF policy %u, expected 0 or 1)", exif);
    s->exif = (int32_t)exif;
  }
  if (r.bad) FAIL(CLIPDB_STATUS_IO, "malformed header (truncated)");
  if (s->dim > CLI_STORE_MAX_DIM || (count > 0 && s->dim == 0))
    FAIL(CLIPDB_STATUS_IO, "malformed header (dimension %u)", s->dim);
  /* each entry takes at least 20 bytes + its vector: a count past that is damage, not a size */
  if (count > (r.len - r.at) / ((uint64_t)s->dim * 4 + 20))
    FAIL(CLIPDB_STATUS_IO, "malformed header (%llu entries cannot fit in %zu bytes)", (unsigned long long)count, r.len - r.at);
  if (count > 0 && cli_store_reserve(s, (size_t)count) != 0) FAIL(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory for %llu entries", (unsigned long long)count);
  for (uint64_t i = 0; i < count; i++) {
    cli_store_entry *e = &s->entries[s->count];
    e->path = get_string(&r, &ok, &oom);
    if (oom) FAIL(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
    if (!ok || e->path == NULL) {
      free(e->path);
      FAIL(CLIPDB_STATUS_IO, "malformed entry %llu (path)", (unsigned long long)i);
    }
    s->count++;
    e->size = get_le(&r, 8);
    e->mtime = (int64_t)get_le(&r, 8);
    e->seen = 0;
    const unsigned char *vp = take(&r, (size_t)s->dim * 4);
    if (r.bad) FAIL(CLIPDB_STATUS_IO, "truncated entry %llu", (unsigned long long)i);
    float *v = s->vectors + (size_t)i * s->dim;
    for (uint32_t k = 0; k < s->dim; k++) {
      uint32_t u = (uint32_t)vp[4 * k] | (uint32_t)vp[4 * k + 1] << 8 | (uint32_t)vp[4 * k + 2] << 16 |
                   (uint32_t)vp[4 * k + 3] << 24;
      memcpy(&v[k], &u, 4);
      if (!isfinite(v[k])) FAIL(CLIPDB_STATUS_IO, "entry %llu (%s) has a non-finite vector", (unsigned long long)i, e->path);
    }
  }
  if (r.at != r.len) FAIL(CLIPDB_STATUS_IO, "%zu bytes after the last entry", r.len - r.at);
  order = path_order(s);
  if (order == NULL) FAIL(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
  long dup = duplicate_path(s, order);
  if (dup >= 0) FAIL(CLIPDB_STATUS_IO, "the path %s appears twice", s->entries[dup].path);
done:
  free(order);
  if (status != CLIPDB_STATUS_SUCCESS) cli_store_clear(s);
  return status;
}

/* ---- encoding ----------------------------------------------------------------------------- */

typedef struct {
  unsigned char *data;
  size_t len, cap;
  int failed;
} bytes_t;

static void put(bytes_t *b, const void *p, size_t n) {
  if (b->failed || n == 0) return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    unsigned char *d = realloc(b->data, cap);
    if (d == NULL) {
      b->failed = 1;
      return;
    }
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

static void put_le(bytes_t *b, uint64_t v, int bytes) {
  unsigned char x[8];
  for (int i = 0; i < bytes; i++) x[i] = (unsigned char)(v >> (8 * i));
  put(b, x, (size_t)bytes);
}

static void put_string(bytes_t *b, const char *s) {
  size_t n = s ? strlen(s) : 0;
  put_le(b, n, 4);
  put(b, s, n);
}

clipdb_status cli_store_encode(const cli_store *s, unsigned char **data, size_t *size, char *err) {
  clipdb_status status = CLIPDB_STATUS_SUCCESS;
  *data = NULL;
  *size = 0;
  bytes_t b = {0};
  size_t *order = NULL;
  if (s->model_path == NULL || s->model_path[0] == '\0') FAIL(CLIPDB_STATUS_INVALID_ARGUMENT, "store has no model path");
  if (s->count > 0 && (s->dim == 0 || s->dim > CLI_STORE_MAX_DIM)) FAIL(CLIPDB_STATUS_INVALID_ARGUMENT, "store has dimension %u", s->dim);
  order = path_order(s);
  if (order == NULL) FAIL(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
  long dup = duplicate_path(s, order);
  if (dup >= 0) FAIL(CLIPDB_STATUS_INVALID_ARGUMENT, "the path %s appears twice", s->entries[dup].path);
  put(&b, CLI_STORE_MAGIC, 8);
  put_le(&b, CLI_STORE_VERSION, 4);
  put_le(&b, s->dim, 4);
  put_le(&b, s->count, 8);
  put_le(&b, s->model_size, 8);
  put_le(&b, s->model_hash, 8);
  put_string(&b, s->model_path);
  put_string(&b, s->vocab_path[0]);
  put_string(&b, s->vocab_path[0] ? s->vocab_path[1] : NULL);
  put_le(&b, s->vocab_path[0] ? s->vocab_size : 0, 8);
  put_le(&b, s->vocab_path[0] ? s->vocab_hash : 0, 8);
  put_le(&b, s->exif == CLIPDB_EXIF_IGNORE ? CLIPDB_EXIF_IGNORE : CLIPDB_EXIF_APPLY, 4);
  for (size_t j = 0; j < s->count; j++) { /* canonical order: by path */
    const size_t i = order[j];
    const cli_store_entry *e = &s->entries[i];
    put_string(&b, e->path);
    put_le(&b, e->size, 8);
    put_le(&b, (uint64_t)e->mtime, 8);
    for (uint32_t k = 0; k < s->dim; k++) {
      uint32_t u;
      memcpy(&u, &s->vectors[i * s->dim + k], 4);
      put_le(&b, u, 4);
    }
  }
  if (!b.failed) put_le(&b, cli_fnv1a(CLI_FNV_OFFSET, b.data, b.len), 8);
  if (b.failed) FAIL(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory for the store's bytes");
  *data = b.data;
  *size = b.len;
  b.data = NULL;
done:
  free(b.data);
  free(order);
  return status;
}

/* ---- files -------------------------------------------------------------------------------- */

clipdb_status cli_store_load(const char *dir, cli_store *s, char *err) {
  memset(s, 0, sizeof *s);
  char *file = join(dir, CLI_STORE_FILE);
  if (file == NULL) return snprintf(err, CLI_ERR_SIZE, "out of memory"), CLIPDB_STATUS_OUT_OF_MEMORY;
  FILE *f = fopen(file, "rb");
  if (f == NULL) {
    clipdb_status st = errno == ENOENT ? CLIPDB_STATUS_NOT_FOUND : CLIPDB_STATUS_IO;
    if (st == CLIPDB_STATUS_NOT_FOUND) snprintf(err, CLI_ERR_SIZE, "no clipdb store in %s", dir);
    else snprintf(err, CLI_ERR_SIZE, "failed to open store %s: %s", file, strerror(errno));
    free(file);
    return st;
  }
  size_t cap = 1 << 16, n = 0;
  unsigned char *buf = malloc(cap);
  while (buf != NULL) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap) break;
    unsigned char *bigger = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
    if (bigger == NULL) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = bigger;
    cap *= 2;
  }
  int read_err = ferror(f);
  fclose(f);
  clipdb_status st;
  if (buf == NULL) {
    st = CLIPDB_STATUS_OUT_OF_MEMORY;
    snprintf(err, CLI_ERR_SIZE, "failed to read store %s: out of memory", file);
  } else if (read_err) {
    st = CLIPDB_STATUS_IO;
    snprintf(err, CLI_ERR_SIZE, "failed to read store %s: read error", file);
  } else {
    char why[CLI_ERR_SIZE];
    st = cli_store_decode(buf, n, s, why);
    if (st != CLIPDB_STATUS_SUCCESS) snprintf(err, CLI_ERR_SIZE, "failed to read store %s: %s", file, why);
  }
  free(buf);
  free(file);
  return st;
}

static int fsync_dir(const char *dir) {
#ifdef __EMSCRIPTEN__
  (void)dir;
  return 0; /* NODERAWFS has no directory descriptors to sync */
#else
  int fd = open(dir, O_RDONLY);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
#endif
}

clipdb_status cli_store_save(const char *dir, const cli_store *s, char *err) {
  unsigned char *data = NULL;
  size_t size = 0;
  clipdb_status st = cli_store_encode(s, &data, &size, err);
  if (st != CLIPDB_STATUS_SUCCESS) return st;
  char name[64];
  snprintf(name, sizeof name, TMP_PREFIX "%ld", cli_process_id());
  char *file = join(dir, CLI_STORE_FILE), *tmp = join(dir, name);
  st = CLIPDB_STATUS_IO;
  FILE *f = (file && tmp) ? fopen(tmp, "wb") : NULL;
  if (file == NULL || tmp == NULL) {
    st = CLIPDB_STATUS_OUT_OF_MEMORY;
    snprintf(err, CLI_ERR_SIZE, "out of memory");
  } else if (f == NULL) {
    snprintf(err, CLI_ERR_SIZE, "failed to create %s: %s", tmp, strerror(errno));
  } else {
    int ok = fwrite(data, 1, size, f) == size && fflush(f) == 0;
    int e = errno;
    ok = ok && fsync(fileno(f)) == 0;
    if (!ok) e = errno;
    if (fclose(f) != 0 && ok) ok = 0, e = errno;
    if (!ok) {
      snprintf(err, CLI_ERR_SIZE, "failed to write %s: %s", tmp, strerror(e));
      remove(tmp);
    } else if (rename(tmp, file) != 0) {
      snprintf(err, CLI_ERR_SIZE, "failed to rename %s to %s: %s", tmp, file, strerror(errno));
      remove(tmp);
    } else if (fsync_dir(dir) != 0) {
      snprintf(err, CLI_ERR_SIZE, "failed to sync folder %s: %s", dir, strerror(errno));
    } else {
      st = CLIPDB_STATUS_SUCCESS;
    }
  }
  free(file);
  free(tmp);
  free(data);
  return st;
}

/* ---- the lock ----------------------------------------------------------------------------- */

/* Remove temp files of writers that are gone (the caller holds the lock, so no writer runs). */
static void remove_stale_temps(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, TMP_PREFIX, sizeof TMP_PREFIX - 1) != 0) continue;
    char *p = join(dir, e->d_name);
    if (p) remove(p);
    free(p);
  }
  closedir(d);
}

#ifdef __EMSCRIPTEN__
/* Emscripten's flock() does nothing, so the wasm build locks with the lock file's contents:
 * the holder's Node process id. The file is written whole under a name of its own and then
 * hard-linked to CLIPDB_STORE_LOCK ".pid" (link() fails if that exists), so nobody ever reads
 * a lock file that is still empty. A file naming a process that no longer exists is stale
 * and taken over; a file without a process id (a crash of another writer) is stale once it
 * is 10 s old. Returns 0 when taken, 1 when held by a live process, -1 on other errors. */
EM_JS(int, node_try_lock, (const char *path_c), {
  const fs = require('fs');
  const path = UTF8ToString(path_c);
  const mine = path + '.' + process.pid;
  try { fs.writeFileSync(mine, String(process.pid)); } catch (e) { return -1; }
  try {
    for (let tries = 0; tries < 3; tries++) {
      try {
        fs.linkSync(mine, path);
        return 0;
      } catch (e) {
        if (e.code !== 'EEXIST') return -1;
      }
      let pid = NaN, age = 0;
      try { pid = parseInt(fs.readFileSync(path, 'utf8'), 10); age = Date.now() - fs.statSync(path).mtimeMs; } catch (e) { continue; }
      let alive = !(pid > 0) && age < 10000;
      if (pid > 0) { try { process.kill(pid, 0); alive = true; } catch (e) { alive = e.code === 'EPERM'; } }
      if (alive) return 1;
      try { fs.unlinkSync(path); } catch (e) { /* another process took it over first */ }
    }
    return 1;
  } finally {
    try { fs.unlinkSync(mine); } catch (e) { }
  }
});
EM_JS(void, node_sleep_ms, (int ms), { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); });
EM_JS(void, node_unlock, (const char *path_c), {
  const fs = require('fs');
  const path = UTF8ToString(path_c);
  try { if (parseInt(fs.readFileSync(path, 'utf8'), 10) === process.pid) fs.unlinkSync(path); } catch (e) { }
});
static char *wasm_lock_path;
#endif

clipdb_status cli_store_lock(const char *dir, int wait, int *fd, char *err) {
  *fd = -1;
#ifdef __EMSCRIPTEN__
  char *path = join(dir, CLI_STORE_LOCK ".pid");
  if (path == NULL) return snprintf(err, CLI_ERR_SIZE, "out of memory"), CLIPDB_STATUS_OUT_OF_MEMORY;
  int r;
  while ((r = node_try_lock(path)) == 1 && wait) node_sleep_ms(50);
  if (r != 0) {
    if (r == 1) snprintf(err, CLI_ERR_SIZE, "store %s is in use by another clipdb process (lock %s)", dir, path);
    else snprintf(err, CLI_ERR_SIZE, "failed to create lock %s", path);
    free(path);
    return r == 1 ? CLIPDB_STATUS_INVALID_STATE : CLIPDB_STATUS_IO;
  }
  free(wasm_lock_path);
  wasm_lock_path = path;
  *fd = 0;
#else
  char *path = join(dir, CLI_STORE_LOCK);
  if (path == NULL) return snprintf(err, CLI_ERR_SIZE, "out of memory"), CLIPDB_STATUS_OUT_OF_MEMORY;
  int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (f < 0) {
    snprintf(err, CLI_ERR_SIZE, "failed to open lock %s: %s", path, strerror(errno));
    free(path);
    return CLIPDB_STATUS_IO;
  }
  int rc;
  while ((rc = flock(f, LOCK_EX | (wait ? 0 : LOCK_NB))) != 0 && errno == EINTR) {
  }
  if (rc != 0) {
    int e = errno;
    close(f);
    if (e == EWOULDBLOCK) {
      snprintf(err, CLI_ERR_SIZE, "store %s is in use by another clipdb process (lock %s)", dir, path);
      free(path);
      return CLIPDB_STATUS_INVALID_STATE;
    }
    snprintf(err, CLI_ERR_SIZE, "failed to lock %s: %s", path, strerror(e));
    free(path);
    return CLIPDB_STATUS_IO;
  }
  free(path);
  *fd = f;
#endif
  remove_stale_temps(dir);
  return CLIPDB_STATUS_SUCCESS;
}

void cli_store_unlock(int fd) {
#ifdef __EMSCRIPTEN__
  (void)fd;
  if (wasm_lock_path) node_unlock(wasm_lock_path);
  free(wasm_lock_path);
  wasm_lock_path = NULL;
#else
  if (fd >= 0) close(fd); /* closing the descriptor releases the flock */
#endif
}
