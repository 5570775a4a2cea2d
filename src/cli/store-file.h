/*
 * The CLI's store: one folder holding `clipdb-store.bin` (the vectors of every indexed image and
 * what they were computed with) and `clipdb-store.lock` (held while a command uses the store).
 *
 * File format, version 2, all integers little-endian:
 *     char[8]  magic "CLIPDBST"
 *     u32      version (2)
 *     u32      dim: embedding size (0 only while the store holds no entry)
 *     u64      count: entries
 *     u64      model_size: bytes of the model file (or of config.json + model.safetensors)
 *     u64      model_hash: FNV-1a 64 over those bytes
 *     u32 n, u8[n]  model path (absolute, UTF-8, no NUL)
 *     u32 n, u8[n]  vocabulary path (absolute; n = 0: none recorded)
 *     u32 n, u8[n]  second vocabulary file (merges.txt beside vocab.json; n = 0: none)
 *     u64      vocab_size, u64 vocab_hash: bytes and FNV-1a 64 of the vocabulary file(s), in
 *              the order above (both 0 when none is recorded)
 *     u32      EXIF policy the images were embedded with: 0 ignore, 1 apply (clipdb_exif_mode)
 *     count x { u32 n, u8[n] image path (absolute, UTF-8, unique);  u64 file size in bytes;
 *               i64 modification time in seconds since the epoch;
 *               f32[dim] embedding, L2-normalised }
 *     u64      FNV-1a 64 of every byte before it
 * Entries are written sorted by path (byte order), so the same content always gives the same
 * bytes. Version 1 (written by clipdb 0.1) is the same without the vocabulary and EXIF fields
 * (and entries in indexing order); it is read as a store with no vocabulary recorded and the
 * EXIF policy unknown, and written back as version 2 by the next `index`, nothing dropped.
 *
 * Writing never changes the file in place: the bytes go to a temp file named for the writing
 * process (`clipdb-store.bin.tmp-<pid>`), which is flushed, fsync'ed and renamed over the old
 * file, and the folder is fsync'ed; a reader sees the previous store or the new one, never a
 * mix. Temp files left by a killed process are removed by the next writer that holds the lock.
 *
 * Every function reports failure as a clipdb_status plus a message in the caller's `err`
 * buffer (never printed here); messages name the file and the problem, e.g.
 * "failed to read store /x/clipdb-store.bin: checksum mismatch (truncated or damaged)".
 */
#ifndef CLIPDB_CLI_STORE_FILE_H
#define CLIPDB_CLI_STORE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "clipdb.h"

#define CLI_STORE_FILE "clipdb-store.bin"
#define CLI_STORE_LOCK "clipdb-store.lock"
#define CLI_STORE_MAGIC "CLIPDBST"
#define CLI_STORE_VERSION 2u
#define CLI_STORE_EXIF_UNKNOWN (-1) /* exif of a version-1 store */
#define CLI_STORE_MAX_DIM 65536u
#define CLI_ERR_SIZE 1024

#define CLI_FNV_OFFSET 0xcbf29ce484222325ull

typedef struct cli_store_entry {
  char *path;     /* malloc'ed, absolute */
  uint64_t size;  /* bytes of the image file when embedded */
  int64_t mtime;  /* its modification time, seconds */
  int seen;       /* scratch for `index` (not stored) */
} cli_store_entry;

typedef struct cli_store {
  uint32_t version; /* as read (1 or 2); writes are always CLI_STORE_VERSION */
  uint32_t dim;
  size_t count, cap;
  cli_store_entry *entries;
  float *vectors; /* [cap, dim], row i = entries[i] */
  char *model_path;
  uint64_t model_size, model_hash;
  char *vocab_path[2]; /* vocab_path[0] NULL: no vocabulary recorded */
  uint64_t vocab_size, vocab_hash;
  int32_t exif; /* CLIPDB_EXIF_IGNORE / CLIPDB_EXIF_APPLY, or CLI_STORE_EXIF_UNKNOWN */
} cli_store;

/* FNV-1a 64 of `n` bytes continuing from `h` (start with CLI_FNV_OFFSET). */
uint64_t cli_fnv1a(uint64_t h, const void *data, size_t n);

/*
 * Parse and validate a whole store file held in memory. On success `s` (zeroed by the caller
 * or cleared) owns copies of everything. Errors (the message in `err`, CLI_ERR_SIZE bytes,
 * without the file name): IO for bad magic, checksum mismatch, an unsupported version, a
 * malformed header or entry (lengths past the end, dim over 65536, or 0 with entries, an EXIF
 * value other than 0/1, an empty or NUL-holding path, a duplicate path, a non-finite vector,
 * bytes left over); OUT_OF_MEMORY. On failure `s` is left cleared.
 */
clipdb_status cli_store_decode(const void *data, size_t size, cli_store *s, char *err);

/* Serialise `s` as version 2 (entries in path order; `s` itself is not reordered) into a
 * malloc'ed buffer (free with free()). OUT_OF_MEMORY or INVALID_ARGUMENT (no model path, a
 * duplicate path) with the message in `err`. */
clipdb_status cli_store_encode(const cli_store *s, unsigned char **data, size_t *size, char *err);

/* Read DIR/clipdb-store.bin into `s`. NOT_FOUND (message set) when the folder has no store
 * file; other errors as cli_store_decode, prefixed with the file's path, or IO for read errors. */
clipdb_status cli_store_load(const char *dir, cli_store *s, char *err);

/* Write `s` to DIR/clipdb-store.bin atomically (see the top of this file). IO naming the file
 * and the system error, or OUT_OF_MEMORY. The store on disk is unchanged on failure. */
clipdb_status cli_store_save(const char *dir, const cli_store *s, char *err);

/* Room for `n` entries (vectors of s->dim floats). 0, or -1 when out of memory. */
int cli_store_reserve(cli_store *s, size_t n);
/* Free everything `s` owns and zero it. */
void cli_store_clear(cli_store *s);

/*
 * The store lock: an exclusive advisory lock (flock) on DIR/clipdb-store.lock, created if
 * needed. `wait` nonzero blocks until the holder releases it (a process that dies releases it
 * with it); zero fails at once with INVALID_STATE "store DIR is in use by another clipdb
 * process". On success *fd is the lock's descriptor, released by cli_store_unlock (or exit).
 * While held, temp files of dead writers are removed. IO for other failures.
 */
clipdb_status cli_store_lock(const char *dir, int wait, int *fd, char *err);
void cli_store_unlock(int fd);

/* This process's id for temp-file names (the Node process's under the wasm build). */
long cli_process_id(void);

#endif
