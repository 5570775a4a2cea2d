/*
 * The CLI's store file (src/cli/store-file.c):
 *  - tests/data/cli-store-v1/clipdb-store.bin, written by clipdb 0.1's `clipdb index` (format
 *    version 1: 4 images of tests/data/exif with the shipped shapes model), opens with every
 *    field as written, and a write turns it into version 2 with nothing lost;
 *  - version 2 round-trips the vocabulary and EXIF fields, entries are written in path order;
 *  - damaged files are refused with a named reason: every truncation, every single-byte
 *    change, and well-checksummed files with bad fields (EXIF value, duplicate path,
 *    non-finite vector, bytes left over, an absurd entry count);
 *  - cli_store_save / cli_store_load through a temporary folder.
 * The module is compiled into this test directly (it has no dependency on the rest of the CLI).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/store-file.c"
#include "read-file.h"

static int failures = 0;
/* A step the rest of the test depends on: stop here when it fails. */
#define REQUIRE(cond)                                                          \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "FAIL %s:%d: %s (stopping)\n", __FILE__, __LINE__, #cond); \
      return 1;                                                                \
    }                                                                          \
  } while (0)
#define EXPECT(cond, ...)                                  \
  do {                                                     \
    if (!(cond)) {                                         \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                        \
      fputc('\n', stderr);                                 \
      failures++;                                          \
    }                                                      \
  } while (0)

static void store_equal(const cli_store *a, const cli_store *b, const char *what) {
  EXPECT(a->dim == b->dim && a->count == b->count, "%s: dim/count %u/%zu vs %u/%zu", what, a->dim, a->count, b->dim, b->count);
  EXPECT(strcmp(a->model_path, b->model_path) == 0, "%s: model path", what);
  EXPECT(a->model_size == b->model_size && a->model_hash == b->model_hash, "%s: model identity", what);
  if (a->count != b->count || a->dim != b->dim) return;
  for (size_t i = 0; i < a->count; i++) {
    EXPECT(strcmp(a->entries[i].path, b->entries[i].path) == 0, "%s: entry %zu path %s vs %s", what, i, a->entries[i].path, b->entries[i].path);
    EXPECT(a->entries[i].size == b->entries[i].size && a->entries[i].mtime == b->entries[i].mtime, "%s: entry %zu size/mtime", what, i);
    EXPECT(memcmp(a->vectors + i * a->dim, b->vectors + i * b->dim, a->dim * sizeof(float)) == 0, "%s: entry %zu vector", what, i);
  }
}

static void put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Re-seal a modified buffer with a correct checksum, so that only the field check can catch it. */
static void reseal(unsigned char *buf, size_t size) {
  uint64_t h = cli_fnv1a(CLI_FNV_OFFSET, buf, size - 8);
  for (int i = 0; i < 8; i++) buf[size - 8 + i] = (unsigned char)(h >> (8 * i));
}

static void expect_refused(const unsigned char *buf, size_t size, const char *want, const char *what) {
  cli_store s;
  char err[CLI_ERR_SIZE] = "";
  clipdb_status st = cli_store_decode(buf, size, &s, err);
  EXPECT(st == CLIPDB_STATUS_IO, "%s: status %d, want IO", what, (int)st);
  EXPECT(strstr(err, want) != NULL, "%s: message '%s' lacks '%s'", what, err, want);
  EXPECT(s.entries == NULL && s.count == 0 && s.model_path == NULL, "%s: store not cleared", what);
}

int main(void) {
  size_t size = 0;
  unsigned char *v1 = read_file(CLIPDB_SOURCE_DIR "/tests/data/cli-store-v1/clipdb-store.bin", &size);
  REQUIRE(v1 != NULL);
  REQUIRE(size == 1381);

  /* ---- version 1, as clipdb 0.1 wrote it ---- */
  cli_store s;
  char err[CLI_ERR_SIZE];
  REQUIRE(cli_store_decode(v1, size, &s, err) == CLIPDB_STATUS_SUCCESS);
  EXPECT(s.version == 1, "version %u", s.version);
  EXPECT(s.dim == 64 && s.count == 4, "dim %u count %zu", s.dim, s.count);
  EXPECT(s.model_size == 1289628 && s.model_hash == 0xa8992c1103899b30ull, "model identity %llu %016llx",
         (unsigned long long)s.model_size, (unsigned long long)s.model_hash);
  EXPECT(strcmp(s.model_path + strlen(s.model_path) - strlen("/models/clipdb-shapes/model.safetensors"),
                "/models/clipdb-shapes/model.safetensors") == 0, "model path %s", s.model_path);
  EXPECT(s.vocab_path[0] == NULL && s.vocab_path[1] == NULL && s.vocab_size == 0, "a v1 store records no vocabulary");
  EXPECT(s.exif == CLI_STORE_EXIF_UNKNOWN, "v1 exif %d", s.exif);
  static const char *names[4] = {"no-tag.jpg", "orientation3.jpg", "orientation6.jpg", "orientation8.jpg"};
  static const uint64_t sizes[4] = {1545, 1581, 1581, 1581};
  static const float first[4] = {0.07850774377584457f, 0.07059933990240097f, 0.06577113270759583f, 0.05391950532793999f};
  static const float last[4] = {-0.07606831938028336f, -0.11050499230623245f, -0.08494029194116592f, -0.10963574051856995f};
  for (size_t i = 0; i < 4 && i < s.count; i++) {
    const char *p = s.entries[i].path;
    EXPECT(strlen(p) > strlen(names[i]) && strcmp(p + strlen(p) - strlen(names[i]), names[i]) == 0, "entry %zu path %s", i, p);
    EXPECT(s.entries[i].size == sizes[i], "entry %zu size %llu", i, (unsigned long long)s.entries[i].size);
    EXPECT(s.entries[i].mtime == 1796548975, "entry %zu mtime %lld", i, (long long)s.entries[i].mtime);
    const float *v = s.vectors + i * 64;
    EXPECT(v[0] == first[i] && v[63] == last[i], "entry %zu vector ends %.9g %.9g", i, v[0], v[63]);
    double n2 = 0;
    for (int k = 0; k < 64; k++) n2 += (double)v[k] * v[k];
    EXPECT(fabs(n2 - 1) < 1e-6, "entry %zu |v|^2 = %.9g", i, n2);
  }

  /* ---- upgraded on write: version 2, same entries, nothing lost ---- */
  s.exif = CLIPDB_EXIF_APPLY; /* what `index` sets */
  unsigned char *v2 = NULL;
  size_t v2size = 0;
  REQUIRE(cli_store_encode(&s, &v2, &v2size, err) == CLIPDB_STATUS_SUCCESS);
  EXPECT(v2size == size + 4 + 4 + 8 + 8 + 4, "v2 size %zu (v1 %zu + the empty vocabulary and EXIF fields)", v2size, size);
  cli_store u;
  REQUIRE(cli_store_decode(v2, v2size, &u, err) == CLIPDB_STATUS_SUCCESS);
  EXPECT(u.version == 2 && u.exif == CLIPDB_EXIF_APPLY && u.vocab_path[0] == NULL, "upgraded header");
  store_equal(&s, &u, "v1 -> v2");
  cli_store_clear(&u);

  /* ---- version 2 with a vocabulary; entries are written in path order ---- */
  s.vocab_path[0] = strdup("/models/x/vocab.json");
  s.vocab_path[1] = strdup("/models/x/merges.txt");
  s.vocab_size = 12345;
  s.vocab_hash = 0x0123456789abcdefull;
  s.exif = CLIPDB_EXIF_IGNORE;
  cli_store_entry tmp = s.entries[0]; /* swap the first two entries (and their vectors) */
  s.entries[0] = s.entries[1];
  s.entries[1] = tmp;
  float row[64];
  memcpy(row, s.vectors, sizeof row);
  memcpy(s.vectors, s.vectors + 64, sizeof row);
  memcpy(s.vectors + 64, row, sizeof row);
  unsigned char *w = NULL;
  size_t wsize = 0;
  REQUIRE(cli_store_encode(&s, &w, &wsize, err) == CLIPDB_STATUS_SUCCESS);
  REQUIRE(cli_store_decode(w, wsize, &u, err) == CLIPDB_STATUS_SUCCESS);
  EXPECT(strcmp(u.entries[0].path + strlen(u.entries[0].path) - strlen(names[0]), names[0]) == 0, "path order on write");
  EXPECT(u.vectors[0] == first[0] && u.vectors[64] == first[1], "vectors follow their entries");
  EXPECT(u.vocab_path[0] && strcmp(u.vocab_path[0], "/models/x/vocab.json") == 0 && u.vocab_path[1] &&
             strcmp(u.vocab_path[1], "/models/x/merges.txt") == 0, "vocabulary paths");
  EXPECT(u.vocab_size == 12345 && u.vocab_hash == 0x0123456789abcdefull && u.exif == CLIPDB_EXIF_IGNORE, "vocabulary identity, exif");
  unsigned char *again = NULL;
  size_t again_size = 0;
  REQUIRE(cli_store_encode(&u, &again, &again_size, err) == CLIPDB_STATUS_SUCCESS);
  EXPECT(again_size == wsize && memcmp(again, w, wsize) == 0, "same content, same bytes");
  free(again);
  cli_store_clear(&u);

  /* ---- damage: every truncation, every byte changed ---- */
  for (size_t n = 0; n < wsize; n++) {
    cli_store d;
    REQUIRE(cli_store_decode(w, n, &d, err) != CLIPDB_STATUS_SUCCESS);
    EXPECT(err[0] != '\0', "truncated at %zu: no message", n);
  }
  expect_refused(w, wsize - 3, "checksum mismatch", "truncated by 3 bytes");
  expect_refused(w, 7, "bad magic", "7 bytes");
  for (size_t i = 0; i < wsize; i++) {
    unsigned char *c = malloc(wsize);
    memcpy(c, w, wsize);
    c[i] ^= 0x20;
    cli_store d;
    err[0] = '\0';
    EXPECT(cli_store_decode(c, wsize, &d, err) == CLIPDB_STATUS_IO && (strstr(err, "checksum") || strstr(err, "magic")),
           "byte %zu flipped: '%s'", i, err);
    free(c);
  }

  /* ---- damage that passes the checksum: each field check names the problem ---- */
  unsigned char *c = malloc(wsize + 8);
  const size_t model_len = strlen(s.model_path);
  const size_t exif_at = 8 + 4 + 4 + 8 + 8 + 8 + 4 + model_len + 4 + strlen(s.vocab_path[0]) + 4 + strlen(s.vocab_path[1]) + 16;
  memcpy(c, w, wsize);
  put32(c + exif_at, 7);
  reseal(c, wsize);
  expect_refused(c, wsize, "EXIF policy 7", "exif 7");
  memcpy(c, w, wsize);
  put32(c + 8, 3);
  reseal(c, wsize);
  expect_refused(c, wsize, "unsupported store version 3", "version 3");
  memcpy(c, w, wsize);
  c[16] = 0xff; /* count's low byte: far more entries than bytes */
  reseal(c, wsize);
  expect_refused(c, wsize, "entries cannot fit", "count");
  {
    /* a huge dimension and no entries (found by fuzz-store-file: it made the reader reserve 8 GB) */
    cli_store empty = {0};
    empty.model_path = (char *)"/m.safetensors";
    empty.dim = 64;
    unsigned char *e = NULL;
    size_t en = 0;
    REQUIRE(cli_store_encode(&empty, &e, &en, err) == CLIPDB_STATUS_SUCCESS);
    put32(e + 12, 0x02000040u);
    reseal(e, en);
    expect_refused(e, en, "dimension 33554496", "huge dim, no entries");
    free(e);
  }
  memcpy(c, w, wsize);
  put32(c + 12, 0); /* dim 0 with entries */
  reseal(c, wsize);
  expect_refused(c, wsize, "dimension 0", "dim 0");
  /* the second entry's path made equal to the first's: same length, so copy the bytes */
  {
    const size_t e0 = exif_at + 4;
    const uint32_t n0 = (uint32_t)c[e0] | (uint32_t)c[e0 + 1] << 8;
    const size_t e1 = e0 + 4 + n0 + 16 + 64 * 4;
    const uint32_t n1 = (uint32_t)w[e1] | (uint32_t)w[e1 + 1] << 8;
    memcpy(c, w, wsize);
    if (n0 == n1) {
      memcpy(c + e1 + 4, c + e0 + 4, n0);
      reseal(c, wsize);
      expect_refused(c, wsize, "appears twice", "duplicate path");
    }
    memcpy(c, w, wsize);
    const float nan = NAN;
    memcpy(c + e0 + 4 + n0 + 16 + 5 * 4, &nan, 4);
    reseal(c, wsize);
    expect_refused(c, wsize, "non-finite vector", "NaN");
    memcpy(c, w, wsize);
    c[e0 + 4 + 2] = 0; /* a NUL inside a path */
    reseal(c, wsize);
    expect_refused(c, wsize, "malformed entry 0 (path)", "NUL in path");
  }
  /* bytes left over after the last entry (count one lower) */
  memcpy(c, w, wsize);
  c[16] = (unsigned char)(c[16] - 1);
  reseal(c, wsize);
  expect_refused(c, wsize, "bytes after the last entry", "leftover");
  free(c);

  /* ---- save / load through a folder; the temp file does not stay ---- */
  char dir[] = "/tmp/clipdb-test-store-XXXXXX";
  REQUIRE(mkdtemp(dir) != NULL);
  cli_store l;
  EXPECT(cli_store_load(dir, &l, err) == CLIPDB_STATUS_NOT_FOUND, "empty folder: NOT_FOUND");
  REQUIRE(cli_store_save(dir, &s, err) == CLIPDB_STATUS_SUCCESS);
  REQUIRE(cli_store_load(dir, &l, err) == CLIPDB_STATUS_SUCCESS);
  EXPECT(l.count == 4 && l.version == 2, "loaded back");
  cli_store_clear(&l);
  char tmpname[512];
  snprintf(tmpname, sizeof tmpname, "%s/" CLI_STORE_FILE ".tmp-%ld", dir, cli_process_id());
  EXPECT(access(tmpname, F_OK) != 0, "temp file %s left behind", tmpname);
  /* a damaged file on disk: the error names the file */
  char file[512];
  snprintf(file, sizeof file, "%s/" CLI_STORE_FILE, dir);
  FILE *f = fopen(file, "wb");
  REQUIRE(f != NULL);
  fwrite(w, 1, wsize / 2, f);
  fclose(f);
  EXPECT(cli_store_load(dir, &l, err) == CLIPDB_STATUS_IO && strstr(err, file) && strstr(err, "checksum mismatch"), "'%s'", err);
  /* the lock: a second non-waiting taker is refused by name while the first holds it */
  int fd1 = -1, fd2 = -1;
  REQUIRE(cli_store_lock(dir, 0, &fd1, err) == CLIPDB_STATUS_SUCCESS);
  EXPECT(cli_store_lock(dir, 0, &fd2, err) == CLIPDB_STATUS_INVALID_STATE && strstr(err, "in use by another clipdb process"), "'%s'", err);
  cli_store_unlock(fd1);
  EXPECT(cli_store_lock(dir, 0, &fd2, err) == CLIPDB_STATUS_SUCCESS, "after unlock: '%s'", err);
  cli_store_unlock(fd2);
  char lock[512];
  snprintf(lock, sizeof lock, "%s/" CLI_STORE_LOCK, dir);
  remove(lock);
  remove(file);
  rmdir(dir);

  cli_store_clear(&s);
  free(v1);
  free(v2);
  free(w);
  if (failures) {
    fprintf(stderr, "%d failure(s)\n", failures);
    return 1;
  }
  printf("store file: v1 fixture read and upgraded, v2 round trip, %zu truncations and %zu byte flips refused\n", wsize, wsize);
  return 0;
}
