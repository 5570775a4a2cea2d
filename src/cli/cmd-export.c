/*
 * clipdb export --store DIR --out FILE [--with-images]
 *
 * Writes the store as one export container (docs/export-format.md: a ustar archive of a
 * manifest, batches of documents + vectors (+ image bytes), and an end record), which the JS
 * store's importData() reads, so a folder indexed here can be searched in a page or an edge
 * function without embedding anything again. What it holds:
 *   - collection "photos", vector index "images" on key "image" (id 0), its model identified as
 *     "<model file name>@fnv1a64:<16 hex digits>#visual+exif" ("#visual" for a store indexed
 *     with --exif ignore), the text encoder of the same file as its compatible model
 *     ("...#text", key "text");
 *   - one document per indexed file: {"_id": "/abs/path.jpg", "file": "/abs/path.jpg",
 *     "size": bytes, "mtime": seconds} (size and mtime as recorded when it was embedded) with
 *     its L2-normalised vector;
 *   - with --with-images, the file's bytes as the document's "image" field (a blob with the
 *     MIME type of its extension). A file that cannot be read then fails the export (IO naming
 *     it): a backup never silently lacks an image.
 * Batches hold at most 1000 documents, about 4 MiB of document lines and 64 MiB of images.
 * FILE is written as FILE.tmp-<pid> and renamed into place once complete and fsync'ed, so a
 * failed or interrupted export never leaves a partial FILE. The store is only read (no lock:
 * its file is only ever replaced whole). Prints {"out": FILE, "documents": D, "vectors": V,
 * "batches": B, "images": I, "bytes": N} on success.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "store-file.h"

#define BATCH_DOCS 1000
#define BATCH_JSONL_BYTES (4u << 20)
#define BATCH_IMAGE_BYTES (64u << 20)

/* ---- a growable buffer with JSON helpers ---- */

typedef struct {
  char *data;
  size_t len, cap;
  int failed;
} buf_t;

static void buf_put(buf_t *b, const void *p, size_t n) {
  if (b->failed || n == 0) return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    char *d = realloc(b->data, cap);
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

static void buf_str(buf_t *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_printf(buf_t *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp) {
    b->failed = 1;
    return;
  }
  buf_put(b, tmp, (size_t)n);
}

/* A JSON string literal (UTF-8 passed through; control characters, quote, backslash escaped). */
static void buf_json(buf_t *b, const char *s) {
  buf_put(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"') buf_str(b, "\\\"");
    else if (*p == '\\') buf_str(b, "\\\\");
    else if (*p == '\n') buf_str(b, "\\n");
    else if (*p == '\r') buf_str(b, "\\r");
    else if (*p == '\t') buf_str(b, "\\t");
    else if (*p < 0x20) buf_printf(b, "\\u%04x", *p);
    else buf_put(b, p, 1);
  }
  buf_put(b, "\"", 1);
}

/* ---- ustar writing ---- */

typedef struct {
  FILE *f;
  const char *path; /* for messages */
  uint64_t bytes;
  long mtime;
  int failed;
} tar_t;

static void tar_write(tar_t *t, const void *p, size_t n) {
  if (t->failed || n == 0) return;
  if (fwrite(p, 1, n, t->f) != n) t->failed = errno ? errno : EIO;
  t->bytes += n;
}

/* One regular-file entry: 512-byte ustar header, the data, zero padding to 512. */
static void tar_entry(tar_t *t, const char *name, const void *data, uint64_t size) {
  unsigned char h[512];
  memset(h, 0, sizeof h);
  snprintf((char *)h, 100, "%s", name);
  memcpy(h + 100, "0000644", 8);
  memcpy(h + 108, "0000000", 8);
  memcpy(h + 116, "0000000", 8);
  snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
  snprintf((char *)h + 136, 12, "%011lo", t->mtime);
  memset(h + 148, ' ', 8);
  h[156] = '0';
  memcpy(h + 257, "ustar", 6);
  memcpy(h + 263, "00", 2);
  snprintf((char *)h + 265, 32, "clipdb");
  snprintf((char *)h + 297, 32, "clipdb");
  unsigned sum = 0;
  for (int i = 0; i < 512; i++) sum += h[i];
  snprintf((char *)h + 148, 8, "%06o", sum);
  h[155] = ' ';
  tar_write(t, h, sizeof h);
  tar_write(t, data, (size_t)size);
  static const unsigned char zeros[512];
  if (size % 512) tar_write(t, zeros, 512 - (size_t)(size % 512));
}

/* ---- the export ---- */

static const char *mime_of(const char *path) {
  const char *dot = strrchr(path, '.');
  if (dot == NULL) return "application/octet-stream";
  char ext[8] = {0};
  for (size_t i = 0; i < sizeof ext - 1 && dot[1 + i]; i++) ext[i] = (char)(dot[1 + i] | 0x20);
  if (strcmp(ext, "jpg") == 0 || strcmp(ext, "jpeg") == 0) return "image/jpeg";
  if (strcmp(ext, "png") == 0) return "image/png";
  if (strcmp(ext, "gif") == 0) return "image/gif";
  if (strcmp(ext, "bmp") == 0) return "image/bmp";
  return "application/octet-stream";
}

/* "YYYY-MM-DDTHH:MM:SS.000Z" for seconds since the epoch (UTC, proleptic Gregorian), computed
 * here because the wasm runtime's gmtime() aborts under Node. */
static void iso_time(int64_t t, char *out, size_t n) {
  int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400, secs = t - days * 86400;
  int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
  snprintf(out, n, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.000Z", (long long)(y + (m <= 2)), (long long)m,
           (long long)d, (long long)(secs / 3600), (long long)(secs / 60 % 60), (long long)(secs % 60));
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash && slash[1] ? slash + 1 : path;
}

int cli_export(int argc, char **argv) {
  const char *store_arg = NULL, *out_arg = NULL;
  int with_images = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--store") == 0 && i + 1 < argc) store_arg = argv[++i];
    else if (strcmp(a, "--out") == 0 && i + 1 < argc) out_arg = argv[++i];
    else if (strcmp(a, "--with-images") == 0) with_images = 1;
    else return cli_usage("export", "unknown or incomplete option '%s'", a);
  }
  if (store_arg == NULL || out_arg == NULL) return cli_usage("export", "needs --store DIR and --out FILE");

  int rc = 1;
  cli_store s = {0};
  char err[CLI_ERR_SIZE];
  char *dir = cli_absolute_path(store_arg), *tmp = NULL;
  buf_t jsonl = {0}, vectors = {0};
  void **images = NULL;
  size_t *image_sizes = NULL;
  FILE *f = NULL;
  if (dir == NULL) {
    cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
    goto out;
  }
  clipdb_status st = cli_store_load(dir, &s, err);
  if (st != CLIPDB_STATUS_SUCCESS) {
    if (st == CLIPDB_STATUS_NOT_FOUND) cli_fail(st, "no clipdb store in %s (create one with clipdb index)", dir);
    else cli_fail(st, "%s", err);
    goto out;
  }
  /* entries in path order, as the store file keeps them */
  unsigned char *canon = NULL;
  size_t canon_size = 0;
  if (cli_store_encode(&s, &canon, &canon_size, err) != CLIPDB_STATUS_SUCCESS ||
      (cli_store_clear(&s), cli_store_decode(canon, canon_size, &s, err)) != CLIPDB_STATUS_SUCCESS) {
    free(canon);
    cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "%s", err);
    goto out;
  }
  free(canon);

  size_t tmp_len = strlen(out_arg) + 32;
  tmp = malloc(tmp_len);
  images = calloc(BATCH_DOCS, sizeof *images);
  image_sizes = calloc(BATCH_DOCS, sizeof *image_sizes);
  if (tmp == NULL || images == NULL || image_sizes == NULL) {
    cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
    goto out;
  }
  snprintf(tmp, tmp_len, "%s.tmp-%ld", out_arg, cli_process_id());
  f = fopen(tmp, "wb");
  if (f == NULL) {
    cli_fail(CLIPDB_STATUS_IO, "failed to create %s: %s", tmp, strerror(errno));
    goto out;
  }
  time_t now = time(NULL);
  tar_t t = {f, tmp, 0, (long)now, 0};

  /* the manifest */
  char created[32];
  iso_time((int64_t)now, created, sizeof created);
  char ident[64];
  snprintf(ident, sizeof ident, "@fnv1a64:%016llx", (unsigned long long)s.model_hash);
  const char *model_name = base_name(s.model_path);
  /* a version-1 store does not know its EXIF policy: clipdb 0.1 applied EXIF by default */
  const char *visual = s.exif == CLIPDB_EXIF_IGNORE ? "#visual" : "#visual+exif";
  buf_t m = {0};
  buf_printf(&m, "{\"format\":\"clipdb-export\",\"version\":1,\"created\":\"%s\",\"producer\":\"clipdb-cli %d.%d.%d\",",
             created, CLIPDB_VERSION_MAJOR, CLIPDB_VERSION_MINOR, CLIPDB_VERSION_PATCH);
  buf_str(&m, "\"collections\":[\"photos\"],\"vectorIndexes\":[{\"id\":0,\"name\":\"images\",\"collection\":\"photos\","
              "\"key\":\"image\",\"filter\":{},\"model\":{\"identifier\":");
  buf_t id = {0};
  buf_str(&id, model_name);
  buf_str(&id, ident);
  buf_str(&id, visual);
  buf_put(&id, "", 1);
  if (!id.failed) buf_json(&m, id.data);
  buf_printf(&m, ",\"dim\":%u},\"compatible\":{\"identifier\":", s.dim);
  id.len = 0;
  buf_str(&id, model_name);
  buf_str(&id, ident);
  buf_str(&id, "#text");
  buf_put(&id, "", 1);
  if (!id.failed) buf_json(&m, id.data);
  buf_printf(&m, ",\"key\":\"text\",\"dim\":%u}}]}", s.dim);
  int failed = m.failed || id.failed;
  if (!failed) tar_entry(&t, "clipdb-export.json", m.data, m.len);
  free(m.data);
  free(id.data);
  if (failed) {
    cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
    goto out;
  }

  /* the batches */
  size_t batches = 0, n_images = 0, blob = 0;
  for (size_t at = 0; at < s.count;) {
    jsonl.len = vectors.len = 0;
    size_t n = 0, image_bytes = 0, first_blob = blob;
    while (at + n < s.count && n < BATCH_DOCS && jsonl.len < BATCH_JSONL_BYTES && image_bytes < BATCH_IMAGE_BYTES) {
      const cli_store_entry *e = &s.entries[at + n];
      if (with_images) {
        if (cli_read_file(e->path, &images[n], &image_sizes[n]) != CLIPDB_STATUS_SUCCESS) {
          n++; /* reported, naming the file; the export stops and leaves no FILE */
          goto out_batch;
        }
        image_bytes += image_sizes[n];
      }
      buf_str(&jsonl, "{\"c\":\"photos\",\"id\":");
      buf_json(&jsonl, e->path);
      buf_str(&jsonl, ",\"doc\":{\"_id\":");
      buf_json(&jsonl, e->path);
      buf_str(&jsonl, ",\"file\":");
      buf_json(&jsonl, e->path);
      buf_printf(&jsonl, ",\"size\":%llu,\"mtime\":%lld", (unsigned long long)e->size, (long long)e->mtime);
      if (with_images) {
        buf_printf(&jsonl, ",\"image\":{\"$ref\":%zu}},\"v\":[0],\"b\":[{\"n\":%zu,\"path\":\"image\",\"as\":\"blob\",\"type\":\"%s\",\"size\":%zu}]}\n",
                   blob, blob, mime_of(e->path), image_sizes[n]);
        blob++;
      } else {
        buf_str(&jsonl, "},\"v\":[0],\"b\":[]}\n");
      }
      for (uint32_t k = 0; k < s.dim; k++) {
        uint32_t u;
        unsigned char le[4];
        memcpy(&u, &s.vectors[(at + n) * s.dim + k], 4);
        for (int i = 0; i < 4; i++) le[i] = (unsigned char)(u >> (8 * i));
        buf_put(&vectors, le, 4);
      }
      n++;
    }
    if (jsonl.failed || vectors.failed) {
      cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
      goto out_batch;
    }
    char name[64];
    snprintf(name, sizeof name, "batch-%06zu/docs.jsonl", batches);
    tar_entry(&t, name, jsonl.data, jsonl.len);
    snprintf(name, sizeof name, "batch-%06zu/vectors-0.f32", batches);
    tar_entry(&t, name, vectors.data, vectors.len);
    for (size_t i = 0; with_images && i < n; i++) {
      snprintf(name, sizeof name, "batch-%06zu/blob-%zu", batches, first_blob + i);
      tar_entry(&t, name, images[i], image_sizes[i]);
    }
    n_images += with_images ? n : 0;
    for (size_t i = 0; i < n; i++) {
      free(images[i]);
      images[i] = NULL;
    }
    batches++;
    at += n;
    if (t.failed) break;
    continue;
  out_batch:
    for (size_t i = 0; i < n; i++) {
      free(images[i]);
      images[i] = NULL;
    }
    goto out;
  }

  char end[160];
  int end_len = snprintf(end, sizeof end, "{\"batches\":%zu,\"documents\":%zu,\"vectors\":%zu}", batches, s.count, s.count);
  tar_entry(&t, "clipdb-end.json", end, (uint64_t)end_len);
  static const unsigned char zeros[1024];
  tar_write(&t, zeros, sizeof zeros); /* the end-of-archive marker: two zero blocks */
  int e = t.failed;
  if (!e && fflush(f) != 0) e = errno;
  if (!e && fsync(fileno(f)) != 0) e = errno;
  if (fclose(f) != 0 && !e) e = errno;
  f = NULL;
  if (e) {
    cli_fail(CLIPDB_STATUS_IO, "failed to write %s: %s", tmp, strerror(e));
    goto out;
  }
  if (rename(tmp, out_arg) != 0) {
    cli_fail(CLIPDB_STATUS_IO, "failed to rename %s to %s: %s", tmp, out_arg, strerror(errno));
    goto out;
  }
  printf("{\"out\":");
  cli_json_string(stdout, out_arg);
  printf(",\"documents\":%zu,\"vectors\":%zu,\"batches\":%zu,\"images\":%zu,\"bytes\":%llu}\n", s.count, s.count,
         batches, n_images, (unsigned long long)t.bytes);
  rc = 0;
out:
  if (f != NULL) fclose(f);
  if (rc != 0 && tmp != NULL) remove(tmp);
  free(tmp);
  free(dir);
  free(jsonl.data);
  free(vectors.data);
  free(images);
  free(image_sizes);
  cli_store_clear(&s);
  return rc;
}
