/*
 * clipdb index  --model PATH --store DIR [--exif apply|ignore] IMAGE_DIR_OR_FILE...
 * clipdb search --store DIR (--text TEXT | --image FILE) [-n N] [--exif apply|ignore]
 *
 * `index` walks the given folders recursively, embeds every image file (by extension: .jpg
 * .jpeg .png .bmp .gif, any case) with the model's image encoder, and keeps the L2-normalised
 * embeddings with their absolute paths in a store folder. Re-running skips files whose size
 * and modification time are unchanged, re-embeds changed ones and drops entries whose file
 * is gone. A file that fails to decode is reported by name on stderr
 * ({"skipped": FILE, "error": STATUS, "message": ...}) and skipped; the run continues and
 * ends with one summary line on stdout. Exit status 0 unless the model or store itself fails.
 *
 * `search` needs no --model: the store remembers the model's path and identity (size and a
 * hash of its bytes) and refuses to answer if that file changed since indexing. It embeds the
 * query with the text encoder (tokenizer files found next to the model) or the image encoder,
 * runs an exact cosine top-k over the stored vectors (clipdb_index_*) and prints one JSON
 * object per hit, best first: {"rank":1,"file":"/abs/path.jpg","score":0.31}. `score` is the
 * cosine similarity.
 *
 * Store format: DIR/clipdb-store.bin, little-endian, version 1:
 *     char[8]  magic "CLIPDBST"
 *     u32      version (1)
 *     u32      dim (embedding size)
 *     u64      count (entries)
 *     u64      model_size (bytes of the model file, or of config.json + model.safetensors)
 *     u64      model_hash (FNV-1a 64 over those bytes)
 *     u32 n, u8[n]  model path (absolute, UTF-8, no NUL)
 *     count x { u32 n, u8[n] file path (absolute);  u64 file size;  i64 mtime (seconds);
 *               f32[dim] embedding, L2-normalised }
 *     u64      FNV-1a 64 of every byte before it (detects a truncated or damaged store)
 * It is always written as DIR/clipdb-store.bin.tmp, flushed, fsync'ed and renamed over the
 * old one, so an interrupted `index` leaves either the previous store or the new one. Long
 * runs also save every 256 new embeddings, so an interruption loses little work.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "cli.h"

#define STORE_FILE "clipdb-store.bin"
#define STORE_MAGIC "CLIPDBST"
#define STORE_VERSION 1u
#define SAVE_EVERY 256

clipdb_status cli_load_pixels(const char *image_path, const clipdb_model_config *cfg, int exif,
                              float *out);

/* ------------------------------------------------------------------------------------------
 * Small helpers: FNV-1a, paths, growable byte buffer
 * ---------------------------------------------------------------------------------------- */

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * FNV_PRIME;
  return h;
}

/* Hash a file's bytes into *hash and add its size to *size. 0 on success. */
static int hash_file(const char *path, uint64_t *hash, uint64_t *size) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return -1;
  unsigned char *buf = malloc(1 << 20);
  if (buf == NULL) {
    fclose(f);
    return -1;
  }
  size_t got;
  while ((got = fread(buf, 1, 1 << 20, f)) > 0) {
    *hash = fnv1a(*hash, buf, got);
    *size += got;
  }
  int err = ferror(f);
  free(buf);
  fclose(f);
  return err ? -1 : 0;
}

/* Identity of a model: a .safetensors file, or an HF directory (config.json + model.safetensors). */
static clipdb_status model_identity(const char *path, uint64_t *size, uint64_t *hash) {
  *size = 0;
  *hash = FNV_OFFSET;
  if (cli_is_dir(path)) {
    const char *parts[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
      char *p = cli_join(path, parts[i]);
      int rc = p ? hash_file(p, hash, size) : -1;
      free(p);
      if (rc != 0) return CLIPDB_STATUS_IO;
    }
    return CLIPDB_STATUS_SUCCESS;
  }
  return hash_file(path, hash, size) == 0 ? CLIPDB_STATUS_SUCCESS : CLIPDB_STATUS_IO;
}

/* An absolute, normalised ("." and ".." resolved, no doubled or trailing "/") copy of `path`.
 * Symbolic links are not resolved. NULL on allocation failure. */
static char *absolute_path(const char *path) {
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

static int mkdir_p(const char *path) {
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

typedef struct {
  unsigned char *data;
  size_t len, cap;
  int failed;
} bytes_t;

static void put(bytes_t *b, const void *p, size_t n) {
  if (b->failed) return;
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

static void put_u32(bytes_t *b, uint32_t v) {
  unsigned char x[4];
  for (int i = 0; i < 4; i++) x[i] = (unsigned char)(v >> (8 * i));
  put(b, x, 4);
}

static void put_u64(bytes_t *b, uint64_t v) {
  unsigned char x[8];
  for (int i = 0; i < 8; i++) x[i] = (unsigned char)(v >> (8 * i));
  put(b, x, 8);
}

static void put_f32(bytes_t *b, float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  put_u32(b, u);
}

/* Bounds-checked reader over a loaded store file. */
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

/* ------------------------------------------------------------------------------------------
 * The store
 * ---------------------------------------------------------------------------------------- */

typedef struct {
  char *path;
  uint64_t size;
  int64_t mtime;
  int seen; /* set while indexing */
} entry_t;

typedef struct {
  char *dir;        /* store folder */
  char *model_path; /* absolute */
  uint64_t model_size, model_hash;
  uint32_t dim;
  size_t count, cap;
  entry_t *entries;
  float *vectors; /* [cap, dim] */
} store_t;

static void store_clear(store_t *s) {
  for (size_t i = 0; i < s->count; i++) free(s->entries[i].path);
  free(s->entries);
  free(s->vectors);
  free(s->model_path);
  free(s->dir);
  memset(s, 0, sizeof *s);
}

static int store_reserve(store_t *s, size_t n) {
  if (n <= s->cap) return 0;
  size_t cap = s->cap ? s->cap * 2 : 64;
  while (cap < n) cap *= 2;
  entry_t *e = realloc(s->entries, cap * sizeof *e);
  if (e == NULL) return -1;
  s->entries = e;
  float *v = realloc(s->vectors, cap * (size_t)(s->dim ? s->dim : 1) * sizeof *v);
  if (v == NULL) return -1;
  s->vectors = v;
  s->cap = cap;
  return 0;
}

/* Load DIR/clipdb-store.bin into `s` (s->dir already set). Returns SUCCESS, NOT_FOUND when
 * there is no store file, or an error already reported. */
static clipdb_status store_load(store_t *s) {
  char *file = cli_join(s->dir, STORE_FILE);
  if (file == NULL) return cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory"), CLIPDB_STATUS_OUT_OF_MEMORY;
  struct stat st;
  if (stat(file, &st) != 0) {
    free(file);
    return CLIPDB_STATUS_NOT_FOUND;
  }
  void *data = NULL;
  size_t size = 0;
  clipdb_status status = cli_read_file(file, &data, &size);
  if (status != CLIPDB_STATUS_SUCCESS) {
    free(file);
    return status;
  }
  reader_t r = {data, size, 0, 0};
  const unsigned char *magic = take(&r, 8);
  status = CLIPDB_STATUS_IO;
  const char *why = NULL;
  if (magic == NULL || memcmp(magic, STORE_MAGIC, 8) != 0) {
    why = "not a clipdb store (bad magic)";
    goto done;
  }
  if (size < 16 || fnv1a(FNV_OFFSET, data, size - 8) != (r.at = size - 8, get_le(&r, 8))) {
    why = "checksum mismatch (truncated or damaged)";
    goto done;
  }
  r.len = size - 8;
  r.at = 8;
  uint32_t version = (uint32_t)get_le(&r, 4);
  if (version != STORE_VERSION) {
    why = "unsupported store version";
    goto done;
  }
  s->dim = (uint32_t)get_le(&r, 4);
  uint64_t count = get_le(&r, 8);
  s->model_size = get_le(&r, 8);
  s->model_hash = get_le(&r, 8);
  uint32_t n = (uint32_t)get_le(&r, 4);
  const unsigned char *mp = take(&r, n);
  if (r.bad || (s->dim == 0 && count > 0) || s->dim > 65536 || count > (r.len - r.at) / ((uint64_t)s->dim * 4 + 20)) {
    why = "malformed header";
    goto done;
  }
  s->model_path = malloc(n + 1);
  if (s->model_path == NULL || store_reserve(s, (size_t)count + 1) != 0) {
    status = CLIPDB_STATUS_OUT_OF_MEMORY;
    why = "out of memory";
    goto done;
  }
  memcpy(s->model_path, mp, n);
  s->model_path[n] = '\0';
  for (uint64_t i = 0; i < count; i++) {
    uint32_t pn = (uint32_t)get_le(&r, 4);
    const unsigned char *pp = take(&r, pn);
    uint64_t fsize = get_le(&r, 8);
    int64_t mtime = (int64_t)get_le(&r, 8);
    const unsigned char *vp = take(&r, (size_t)s->dim * 4);
    if (r.bad) {
      why = "truncated entry";
      goto done;
    }
    entry_t *e = &s->entries[s->count];
    e->path = malloc(pn + 1);
    if (e->path == NULL) {
      status = CLIPDB_STATUS_OUT_OF_MEMORY;
      why = "out of memory";
      goto done;
    }
    memcpy(e->path, pp, pn);
    e->path[pn] = '\0';
    e->size = fsize;
    e->mtime = mtime;
    e->seen = 0;
    float *v = s->vectors + s->count * s->dim;
    for (uint32_t k = 0; k < s->dim; k++) {
      uint32_t u = (uint32_t)vp[4 * k] | (uint32_t)vp[4 * k + 1] << 8 | (uint32_t)vp[4 * k + 2] << 16 |
                   (uint32_t)vp[4 * k + 3] << 24;
      memcpy(&v[k], &u, 4);
    }
    s->count++;
  }
  status = CLIPDB_STATUS_SUCCESS;
done:
  if (status != CLIPDB_STATUS_SUCCESS) cli_fail(status, "failed to read store %s: %s", file, why);
  free(data);
  free(file);
  return status;
}

/* Write the store atomically: temp file, fsync, rename. */
static clipdb_status store_save(const store_t *s) {
  bytes_t b = {0};
  put(&b, STORE_MAGIC, 8);
  put_u32(&b, STORE_VERSION);
  put_u32(&b, s->dim);
  put_u64(&b, s->count);
  put_u64(&b, s->model_size);
  put_u64(&b, s->model_hash);
  put_u32(&b, (uint32_t)strlen(s->model_path));
  put(&b, s->model_path, strlen(s->model_path));
  for (size_t i = 0; i < s->count; i++) {
    const entry_t *e = &s->entries[i];
    put_u32(&b, (uint32_t)strlen(e->path));
    put(&b, e->path, strlen(e->path));
    put_u64(&b, e->size);
    put_u64(&b, (uint64_t)e->mtime);
    for (uint32_t k = 0; k < s->dim; k++) put_f32(&b, s->vectors[i * s->dim + k]);
  }
  if (!b.failed) put_u64(&b, fnv1a(FNV_OFFSET, b.data, b.len));
  if (b.failed) {
    free(b.data);
    return cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "failed to write store: out of memory"), CLIPDB_STATUS_OUT_OF_MEMORY;
  }
  char *file = cli_join(s->dir, STORE_FILE);
  char *tmp = cli_join(s->dir, STORE_FILE ".tmp");
  clipdb_status status = CLIPDB_STATUS_IO;
  FILE *f = (file && tmp) ? fopen(tmp, "wb") : NULL;
  if (f == NULL) {
    cli_fail(CLIPDB_STATUS_IO, "failed to create %s: %s", tmp ? tmp : "store", strerror(errno));
  } else {
    int ok = fwrite(b.data, 1, b.len, f) == b.len && fflush(f) == 0;
    ok = ok && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
      cli_fail(CLIPDB_STATUS_IO, "failed to write %s: %s", tmp, strerror(errno));
      remove(tmp);
    } else if (rename(tmp, file) != 0) {
      cli_fail(CLIPDB_STATUS_IO, "failed to rename %s to %s: %s", tmp, file, strerror(errno));
      remove(tmp);
    } else {
      status = CLIPDB_STATUS_SUCCESS;
    }
  }
  free(file);
  free(tmp);
  free(b.data);
  return status;
}

/* ------------------------------------------------------------------------------------------
 * Finding image files
 * ---------------------------------------------------------------------------------------- */

typedef struct {
  char **items;
  size_t count, cap;
} list_t;

static int list_push(list_t *l, char *s) {
  if (s == NULL) return -1;
  if (l->count == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    char **items = realloc(l->items, cap * sizeof *items);
    if (items == NULL) {
      free(s);
      return -1;
    }
    l->items = items;
    l->cap = cap;
  }
  l->items[l->count++] = s;
  return 0;
}

static void list_clear(list_t *l) {
  for (size_t i = 0; i < l->count; i++) free(l->items[i]);
  free(l->items);
  memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_image_name(const char *name) {
  const char *dot = strrchr(name, '.');
  if (dot == NULL) return 0;
  static const char *exts[] = {"jpg", "jpeg", "png", "bmp", "gif"};
  for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
    const char *e = exts[i], *p = dot + 1;
    while (*e && *p && (*p | 0x20) == *e) e++, p++;
    if (*e == '\0' && *p == '\0') return 1;
  }
  return 0;
}

/* Append image files under `dir` (absolute) to `out`, sorted per folder, recursing into
 * sub-folders; hidden entries (".name") are skipped. */
static int walk(const char *dir, list_t *out, int depth) {
  if (depth > 64) return 0;
  DIR *d = opendir(dir);
  if (d == NULL) {
    cli_fail(CLIPDB_STATUS_IO, "failed to open folder %s: %s", dir, strerror(errno));
    return 0; /* reported; keep going with the rest */
  }
  list_t names = {0};
  struct dirent *de;
  int rc = 0;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue;
    if (list_push(&names, strdup(de->d_name)) != 0) {
      rc = -1;
      break;
    }
  }
  closedir(d);
  if (names.count) qsort(names.items, names.count, sizeof(char *), cmp_str);
  for (size_t i = 0; rc == 0 && i < names.count; i++) {
    char *full = cli_join(dir, names.items[i]);
    if (full == NULL) {
      rc = -1;
      break;
    }
    struct stat st;
    if (stat(full, &st) != 0) {
      free(full);
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      rc = walk(full, out, depth + 1);
      free(full);
    } else if (S_ISREG(st.st_mode) && is_image_name(names.items[i])) {
      rc = list_push(out, full);
    } else {
      free(full);
    }
  }
  list_clear(&names);
  return rc;
}

/* ------------------------------------------------------------------------------------------
 * clipdb index
 * ---------------------------------------------------------------------------------------- */

static int parse_exif(const char *command, const char *s, int *out) {
  if (strcmp(s, "apply") == 0) *out = CLIPDB_EXIF_APPLY;
  else if (strcmp(s, "ignore") == 0) *out = CLIPDB_EXIF_IGNORE;
  else return cli_usage(command, "--exif takes apply or ignore, not '%s'", s);
  return 0;
}

/* Sorted copy of the scanned paths, to tell "not scanned this run" from "failed now". */
static int is_listed(const list_t *sorted, const char *path) {
  return sorted->count && bsearch(&path, sorted->items, sorted->count, sizeof(char *), cmp_str) != NULL;
}

/* Entries of the store as loaded, sorted by path, for lookups while indexing. */
static const store_t *sort_store;

static int cmp_entry(const void *a, const void *b) {
  return strcmp(sort_store->entries[*(const size_t *)a].path, sort_store->entries[*(const size_t *)b].path);
}

static long find_entry(const store_t *s, const size_t *order, size_t n, const char *path) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(s->entries[order[mid]].path, path);
    if (c == 0) return (long)order[mid];
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}

int cli_index(int argc, char **argv) {
  const char *model_arg = NULL, *store_arg = NULL;
  int exif = CLIPDB_EXIF_APPLY;
  list_t inputs = {0}, files = {0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--model") == 0 && i + 1 < argc) model_arg = argv[++i];
    else if (strcmp(a, "--store") == 0 && i + 1 < argc) store_arg = argv[++i];
    else if (strcmp(a, "--exif") == 0 && i + 1 < argc) {
      if (parse_exif("index", argv[++i], &exif)) return list_clear(&inputs), 2;
    } else if (a[0] == '-' && a[1] != '\0') {
      list_clear(&inputs);
      return cli_usage("index", "unknown or incomplete option '%s'", a);
    } else if (list_push(&inputs, strdup(a)) != 0) {
      return cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
    }
  }
  if (model_arg == NULL || store_arg == NULL || inputs.count == 0) {
    list_clear(&inputs);
    return cli_usage("index", "needs --model PATH --store DIR and at least one IMAGE_DIR");
  }

  int rc = 1;
  store_t s = {0};
  clipdb_model_t *model = NULL;
  clipdb_session_t *session = NULL;
  float *pixels = NULL, *emb = NULL;
  size_t *order = NULL;
  size_t embedded = 0, unchanged = 0, failed = 0, removed = 0, since_save = 0;

  char *model_path = absolute_path(model_arg);
  s.dir = absolute_path(store_arg);
  if (model_path == NULL || s.dir == NULL) {
    cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
    goto out;
  }
  uint64_t msize, mhash;
  if (model_identity(model_path, &msize, &mhash) != CLIPDB_STATUS_SUCCESS) {
    cli_fail(CLIPDB_STATUS_IO, "failed to read model %s: %s", model_path, strerror(errno));
    goto out;
  }
  if (mkdir_p(s.dir) != 0) {
    cli_fail(CLIPDB_STATUS_IO, "failed to create store folder %s: %s", s.dir, strerror(errno));
    goto out;
  }
  clipdb_status st = store_load(&s);
  if (st == CLIPDB_STATUS_SUCCESS) {
    if (s.model_size != msize || s.model_hash != mhash) {
      cli_fail(CLIPDB_STATUS_INVALID_STATE,
               "store %s was built with another model (%s); index into a new --store folder",
               s.dir, s.model_path);
      goto out;
    }
    free(s.model_path); /* same bytes; remember where the model lives now */
  } else if (st != CLIPDB_STATUS_NOT_FOUND) {
    goto out;
  }
  s.model_path = model_path;
  model_path = NULL;
  s.model_size = msize;
  s.model_hash = mhash;

  for (size_t i = 0; i < inputs.count; i++) {
    char *p = absolute_path(inputs.items[i]);
    struct stat stt;
    if (p == NULL) {
      cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
      goto out;
    }
    if (stat(p, &stt) != 0) {
      cli_fail(CLIPDB_STATUS_IO, "failed to open %s: %s", inputs.items[i], strerror(errno));
      free(p);
      goto out;
    }
    if (S_ISDIR(stt.st_mode)) {
      int w = walk(p, &files, 0);
      free(p);
      if (w != 0) {
        cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
        goto out;
      }
    } else if (list_push(&files, p) != 0) {
      cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
      goto out;
    }
  }

  /* One pass in path order; the same file named twice is embedded once. */
  if (files.count) qsort(files.items, files.count, sizeof(char *), cmp_str);
  size_t uniq = 0;
  for (size_t i = 0; i < files.count; i++) {
    if (uniq > 0 && strcmp(files.items[uniq - 1], files.items[i]) == 0) free(files.items[i]);
    else files.items[uniq++] = files.items[i];
  }
  files.count = uniq;
  size_t n_old = s.count;
  order = malloc((n_old ? n_old : 1) * sizeof *order);
  if (order == NULL) {
    cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < n_old; i++) order[i] = i;
  sort_store = &s;
  if (n_old) qsort(order, n_old, sizeof *order, cmp_entry);

  clipdb_model_config cfg;
  for (size_t i = 0; i < files.count; i++) {
    const char *path = files.items[i];
    struct stat fst;
    if (stat(path, &fst) != 0) continue;
    long at = find_entry(&s, order, n_old, path);
    if (at >= 0 && s.entries[at].size == (uint64_t)fst.st_size && s.entries[at].mtime == (int64_t)fst.st_mtime) {
      s.entries[at].seen = 1;
      unchanged++;
      continue;
    }
    if (model == NULL) {
      if (cli_load_model(s.model_path, &model) != CLIPDB_STATUS_SUCCESS) goto out; /* reported */
      if (clipdb_model_get_config(model, &cfg) != CLIPDB_STATUS_SUCCESS || cfg.image_resolution <= 0) {
        cli_fail(CLIPDB_STATUS_INVALID_STATE, "model %s has no image encoder", s.model_path);
        goto out;
      }
      if (s.count > 0 && s.dim != (uint32_t)cfg.embed_dim) {
        cli_fail(CLIPDB_STATUS_INVALID_STATE, "store %s holds %u-d vectors, model gives %d", s.dir,
                 s.dim, cfg.embed_dim);
        goto out;
      }
      s.dim = (uint32_t)cfg.embed_dim;
      if (clipdb_session_init(model, &session) != CLIPDB_STATUS_SUCCESS) {
        cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "failed to create a session: %s", clipdb_model_last_error(model));
        goto out;
      }
      pixels = malloc((size_t)3 * cfg.image_resolution * cfg.image_resolution * sizeof *pixels);
      emb = malloc((size_t)cfg.embed_dim * sizeof *emb);
      if (pixels == NULL || emb == NULL) {
        cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
        goto out;
      }
    }
    clipdb_status ps = cli_load_pixels(path, &cfg, exif, pixels);
    if (ps == CLIPDB_STATUS_SUCCESS) {
      ps = clipdb_image_embed(session, pixels, 1, emb);
      if (ps == CLIPDB_STATUS_SUCCESS) ps = clipdb_embedding_normalize(emb, (size_t)cfg.embed_dim);
    }
    if (ps != CLIPDB_STATUS_SUCCESS) {
      fputs("{\"skipped\":", stderr);
      cli_json_string(stderr, path);
      fprintf(stderr, ",\"error\":\"%s\",\"message\":", clipdb_status_string(ps));
      cli_json_string(stderr, clipdb_last_error());
      fputs("}\n", stderr);
      failed++;
      if (at >= 0) s.entries[at].seen = 0; /* a file that no longer decodes leaves the store */
      continue;
    }
    if (at < 0) {
      if (store_reserve(&s, s.count + 1) != 0) {
        cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
        goto out;
      }
      at = (long)s.count;
      s.entries[at].path = strdup(path);
      if (s.entries[at].path == NULL) {
        cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
        goto out;
      }
      s.count++;
    }
    s.entries[at].size = (uint64_t)fst.st_size;
    s.entries[at].mtime = (int64_t)fst.st_mtime;
    s.entries[at].seen = 1;
    memcpy(s.vectors + (size_t)at * s.dim, emb, s.dim * sizeof *emb);
    embedded++;
    if (++since_save == SAVE_EVERY) {
      if (store_save(&s) != CLIPDB_STATUS_SUCCESS) goto out;
      since_save = 0;
    }
  }

  /* Drop entries whose file is gone or no longer decodes; keep others (e.g. other folders). */
  list_t scanned = {files.items, files.count, files.cap, };
  size_t kept = 0;
  for (size_t i = 0; i < s.count; i++) {
    entry_t e = s.entries[i];
    struct stat fst;
    int keep = e.seen || (stat(e.path, &fst) == 0 && !is_listed(&scanned, e.path));
    if (!keep) {
      free(e.path);
      removed++;
      continue;
    }
    if (kept != i) {
      s.entries[kept] = e;
      memmove(s.vectors + kept * s.dim, s.vectors + i * s.dim, s.dim * sizeof(float));
    }
    kept++;
  }
  s.count = kept;
  if (store_save(&s) != CLIPDB_STATUS_SUCCESS) goto out;

  printf("{\"store\":");
  cli_json_string(stdout, s.dir);
  printf(",\"images\":%zu,\"embedded\":%zu,\"unchanged\":%zu,\"removed\":%zu,\"failed\":%zu}\n",
         s.count, embedded, unchanged, removed, failed);
  rc = 0;
out:
  clipdb_session_free(session);
  clipdb_model_free(model);
  free(pixels);
  free(emb);
  free(order);
  free(model_path);
  store_clear(&s);
  list_clear(&inputs);
  list_clear(&files);
  return rc;
}

/* ------------------------------------------------------------------------------------------
 * clipdb search
 * ---------------------------------------------------------------------------------------- */

int cli_search(int argc, char **argv) {
  const char *store_arg = NULL, *text = NULL, *image = NULL, *vocab = NULL;
  long n = 5;
  int exif = CLIPDB_EXIF_APPLY;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--store") == 0 && i + 1 < argc) store_arg = argv[++i];
    else if (strcmp(a, "--text") == 0 && i + 1 < argc) text = argv[++i];
    else if (strcmp(a, "--image") == 0 && i + 1 < argc) image = argv[++i];
    else if (strcmp(a, "--vocab") == 0 && i + 1 < argc) vocab = argv[++i];
    else if (strcmp(a, "--exif") == 0 && i + 1 < argc) {
      if (parse_exif("search", argv[++i], &exif)) return 2;
    } else if ((strcmp(a, "-n") == 0 || strcmp(a, "--n") == 0) && i + 1 < argc) {
      char *end = NULL;
      n = strtol(argv[++i], &end, 10);
      if (end == argv[i] || *end != '\0' || n < 1 || n > 1000000)
        return cli_usage("search", "-n takes an integer 1..1000000, not '%s'", argv[i]);
    } else {
      return cli_usage("search", "unknown or incomplete option '%s'", a);
    }
  }
  if (store_arg == NULL) return cli_usage("search", "missing --store DIR");
  if ((text == NULL) == (image == NULL)) return cli_usage("search", "give exactly one of --text TEXT or --image FILE");

  int rc = 1;
  store_t s = {0};
  clipdb_model_t *model = NULL;
  clipdb_session_t *session = NULL;
  clipdb_tokenizer_t *tok = NULL;
  clipdb_index_t *index = NULL;
  float *query = NULL, *pixels = NULL, *scores = NULL;
  int32_t *tokens = NULL;
  uint32_t *keys = NULL;

  s.dir = absolute_path(store_arg);
  if (s.dir == NULL) {
    cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
    goto out;
  }
  clipdb_status st = store_load(&s);
  if (st == CLIPDB_STATUS_NOT_FOUND) {
    cli_fail(CLIPDB_STATUS_NOT_FOUND, "no clipdb store in %s (create one with clipdb index)", s.dir);
    goto out;
  }
  if (st != CLIPDB_STATUS_SUCCESS) goto out;
  uint64_t msize, mhash;
  if (model_identity(s.model_path, &msize, &mhash) != CLIPDB_STATUS_SUCCESS) {
    cli_fail(CLIPDB_STATUS_IO, "failed to read the store's model %s: %s", s.model_path, strerror(errno));
    goto out;
  }
  if (msize != s.model_size || mhash != s.model_hash) {
    cli_fail(CLIPDB_STATUS_INVALID_STATE, "model %s changed since %s was indexed; re-index into a new store",
             s.model_path, s.dir);
    goto out;
  }
  if (cli_load_model(s.model_path, &model) != CLIPDB_STATUS_SUCCESS) goto out; /* reported */
  clipdb_model_config cfg;
  if (clipdb_model_get_config(model, &cfg) != CLIPDB_STATUS_SUCCESS || (s.count && (uint32_t)cfg.embed_dim != s.dim)) {
    cli_fail(CLIPDB_STATUS_INVALID_STATE, "model %s does not match store %s", s.model_path, s.dir);
    goto out;
  }
  if (clipdb_session_init(model, &session) != CLIPDB_STATUS_SUCCESS) {
    cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "failed to create a session: %s", clipdb_model_last_error(model));
    goto out;
  }
  query = malloc((size_t)cfg.embed_dim * sizeof *query);
  if (query == NULL) {
    cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
    goto out;
  }
  if (text != NULL) {
    if (cfg.context_length <= 0) {
      cli_fail(CLIPDB_STATUS_INVALID_STATE, "model %s has no text encoder", s.model_path);
      goto out;
    }
    if (cli_load_tokenizer(vocab, s.model_path, &tok) != CLIPDB_STATUS_SUCCESS) goto out; /* reported */
    tokens = malloc((size_t)cfg.context_length * sizeof *tokens);
    int32_t n_tok = 0;
    if (tokens == NULL) {
      cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
      goto out;
    }
    st = clipdb_tokenize(tok, text, strlen(text), cfg.context_length, 1, tokens, &n_tok);
    if (st != CLIPDB_STATUS_SUCCESS) {
      cli_fail(st, "failed to tokenize the query: %s", clipdb_tokenizer_last_error(tok));
      goto out;
    }
    st = clipdb_text_embed(session, tokens, (size_t)n_tok, query);
  } else {
    if (cfg.image_resolution <= 0) {
      cli_fail(CLIPDB_STATUS_INVALID_STATE, "model %s has no image encoder", s.model_path);
      goto out;
    }
    pixels = malloc((size_t)3 * cfg.image_resolution * cfg.image_resolution * sizeof *pixels);
    if (pixels == NULL) {
      cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
      goto out;
    }
    if (cli_load_pixels(image, &cfg, exif, pixels) != CLIPDB_STATUS_SUCCESS) goto out; /* reported */
    st = clipdb_image_embed(session, pixels, 1, query);
  }
  if (st != CLIPDB_STATUS_SUCCESS) {
    cli_fail(st, "failed to embed the query: %s", clipdb_session_last_error(session));
    goto out;
  }
  if (s.count == 0) { /* an empty store answers with no hits */
    rc = 0;
    goto out;
  }
  size_t k = (size_t)n < s.count ? (size_t)n : s.count, got = 0;
  keys = malloc(s.count * sizeof *keys);
  scores = malloc(k * sizeof *scores);
  uint32_t *hit = malloc(k * sizeof *hit);
  if (keys == NULL || scores == NULL || hit == NULL) {
    free(hit);
    cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < s.count; i++) keys[i] = (uint32_t)i;
  st = clipdb_index_init((int32_t)s.dim, &index);
  if (st == CLIPDB_STATUS_SUCCESS) st = clipdb_index_add(index, keys, s.vectors, s.count);
  if (st == CLIPDB_STATUS_SUCCESS) st = clipdb_index_search(index, query, 1, k, NULL, 0, hit, scores, &got);
  if (st != CLIPDB_STATUS_SUCCESS) {
    cli_fail(st, "vector index: %s", index ? clipdb_index_last_error(index) : "failed to create");
    free(hit);
    goto out;
  }
  for (size_t i = 0; i < got; i++) {
    printf("{\"rank\":%zu,\"file\":", i + 1);
    cli_json_string(stdout, s.entries[hit[i]].path);
    printf(",\"score\":%.6f}\n", (double)scores[i]);
  }
  free(hit);
  rc = 0;
out:
  clipdb_index_free(index);
  clipdb_tokenizer_free(tok);
  clipdb_session_free(session);
  clipdb_model_free(model);
  free(query);
  free(pixels);
  free(scores);
  free(tokens);
  free(keys);
  store_clear(&s);
  return rc;
}
