/*
 * clipdb index  --model PATH --store DIR [--vocab PATH] [--exif apply|ignore] [--no-wait]
 *               [--save-every N] IMAGE_DIR_OR_FILE...
 * clipdb search --store DIR (--text TEXT | --image FILE) [-n N] [--vocab PATH] [--exif apply|ignore]
 *
 * `index` walks the given folders recursively, embeds every image file (by extension: .jpg
 * .jpeg .png .bmp .gif, any case) with the model's image encoder, and keeps the L2-normalised
 * embeddings with their absolute paths in a store folder (format: store-file.h). Re-running
 * skips files whose size and modification time are unchanged, re-embeds changed ones and drops
 * entries whose file is gone. A file that fails to decode is reported by name on stderr
 * ({"skipped": FILE, "error": STATUS, "message": ...}) and skipped; the run continues and
 * ends with one summary line on stdout. Exit status 0 unless the model or store itself fails.
 *
 * The store records what its vectors were made with: the model (path, size, hash), the
 * tokenizer vocabulary that goes with it (found next to the model by the documented names, or
 * --vocab; path, size, hash) and the EXIF policy (--exif, default apply). A later `index` into
 * the same store must use the same model bytes, the same vocabulary bytes and the same EXIF
 * policy, or it is refused by name.
 *
 * `search` needs no --model: it uses the store's model and refuses if that file changed since
 * indexing. A text query is tokenized with exactly the vocabulary the store recorded (refused,
 * naming the file, if it changed or is gone; --vocab may point at a moved copy with the same
 * bytes); a store that recorded none (written by clipdb 0.1) uses --vocab or the rule next to
 * the model. An image query is embedded with the store's EXIF policy unless --exif is given.
 * It runs an exact cosine top-k over the stored vectors (clipdb_index_*) and prints one JSON
 * object per hit, best first: {"rank":1,"file":"/abs/path.jpg","score":0.31}. `score` is the
 * cosine similarity.
 *
 * Saving: the store is rewritten atomically (store-file.h) at the end of `index` and every
 * --save-every N new embeddings (default 256), so an interrupted run loses little work.
 *
 * Concurrency: `index` holds the store lock (store-file.h) from before it reads the store until
 * its last write. A second `index` on the same store waits for it and then reads what the
 * first one wrote, so both runs' images end up in the store; with --no-wait it fails at once
 * with INVALID_STATE "store DIR is in use by another clipdb process". `search` and `export`
 * take no lock: they read whole files that are only ever replaced by a rename.
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
#include "store-file.h"

#define SAVE_EVERY 256

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

static const char *exif_name(int exif) { return exif == CLIPDB_EXIF_IGNORE ? "ignore" : "apply"; }

/* Sorted copy of the scanned paths, to tell "not scanned this run" from "failed now". */
static int is_listed(const list_t *sorted, const char *path) {
  return sorted->count && bsearch(&path, sorted->items, sorted->count, sizeof(char *), cmp_str) != NULL;
}

/* Entries of the store as loaded, sorted by path, for lookups while indexing. */
static const cli_store *sort_store;

static int cmp_entry(const void *a, const void *b) {
  return strcmp(sort_store->entries[*(const size_t *)a].path, sort_store->entries[*(const size_t *)b].path);
}

static long find_entry(const cli_store *s, const size_t *order, size_t n, const char *path) {
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

static clipdb_status save(const char *dir, const cli_store *s) {
  char err[CLI_ERR_SIZE];
  clipdb_status st = cli_store_save(dir, s, err);
  if (st != CLIPDB_STATUS_SUCCESS) cli_fail(st, "%s", err);
  return st;
}

/* The vocabulary `index` records: --vocab, else the rule next to the model (none is allowed:
 * image vectors do not need it, and `search --text` then asks for --vocab). Paths made
 * absolute, the files checked to load as a tokenizer. SUCCESS with v->n == 0 when none. */
static clipdb_status index_vocab(const char *vocab_arg, const char *model_path, cli_vocab *v,
                                 uint64_t *size, uint64_t *hash) {
  clipdb_status st = vocab_arg ? cli_vocab_from_path(vocab_arg, v) : cli_find_vocab(model_path, 0, v);
  if (st == CLIPDB_STATUS_NOT_FOUND && vocab_arg == NULL) {
    memset(v, 0, sizeof *v);
    return CLIPDB_STATUS_SUCCESS;
  }
  if (st != CLIPDB_STATUS_SUCCESS) return st; /* reported */
  for (int i = 0; i < v->n; i++) {
    char *abs = cli_absolute_path(v->path[i]);
    if (abs == NULL) return cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory"), CLIPDB_STATUS_OUT_OF_MEMORY;
    free(v->path[i]);
    v->path[i] = abs;
  }
  clipdb_tokenizer_t *tok = NULL;
  st = cli_vocab_load(v, &tok); /* a damaged vocabulary is refused now, not at search time */
  clipdb_tokenizer_free(tok);
  if (st != CLIPDB_STATUS_SUCCESS) return st;
  if (cli_vocab_identity(v, size, hash) != CLIPDB_STATUS_SUCCESS) {
    cli_fail(CLIPDB_STATUS_IO, "failed to read vocabulary %s: %s", v->path[0], strerror(errno));
    return CLIPDB_STATUS_IO;
  }
  return CLIPDB_STATUS_SUCCESS;
}

int cli_index(int argc, char **argv) {
  const char *model_arg = NULL, *store_arg = NULL, *vocab_arg = NULL;
  int exif = CLIPDB_EXIF_APPLY, exif_given = 0;
  long save_every = SAVE_EVERY;
  int wait = 1, lock_fd = -1, locked = 0;
  list_t inputs = {0}, files = {0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--model") == 0 && i + 1 < argc) model_arg = argv[++i];
    else if (strcmp(a, "--store") == 0 && i + 1 < argc) store_arg = argv[++i];
    else if (strcmp(a, "--vocab") == 0 && i + 1 < argc) vocab_arg = argv[++i];
    else if (strcmp(a, "--exif") == 0 && i + 1 < argc) {
      if (parse_exif("index", argv[++i], &exif)) return list_clear(&inputs), 2;
      exif_given = 1;
    } else if (strcmp(a, "--no-wait") == 0) {
      wait = 0;
    } else if (strcmp(a, "--save-every") == 0 && i + 1 < argc) {
      char *end = NULL;
      save_every = strtol(argv[++i], &end, 10);
      if (end == argv[i] || *end != '\0' || save_every < 1 || save_every > 1000000000L) {
        list_clear(&inputs);
        return cli_usage("index", "--save-every takes an integer 1..1000000000, not '%s'", argv[i]);
      }
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
  cli_store s = {0};
  cli_vocab vocab = {{NULL, NULL}, 0};
  clipdb_model_t *model = NULL;
  clipdb_session_t *session = NULL;
  float *pixels = NULL, *emb = NULL;
  size_t *order = NULL;
  size_t embedded = 0, unchanged = 0, failed = 0, removed = 0, since_save = 0;
  uint64_t vsize = 0, vhash = 0;
  char err[CLI_ERR_SIZE];

  char *model_path = cli_absolute_path(model_arg);
  char *dir = cli_absolute_path(store_arg);
  if (model_path == NULL || dir == NULL) {
    cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
    goto out;
  }
  uint64_t msize, mhash;
  if (cli_model_identity(model_path, &msize, &mhash) != CLIPDB_STATUS_SUCCESS) {
    cli_fail(CLIPDB_STATUS_IO, "failed to read model %s: %s", model_path, strerror(errno));
    goto out;
  }
  if (index_vocab(vocab_arg, model_path, &vocab, &vsize, &vhash) != CLIPDB_STATUS_SUCCESS) goto out;
  if (cli_mkdir_p(dir) != 0) {
    cli_fail(CLIPDB_STATUS_IO, "failed to create store folder %s: %s", dir, strerror(errno));
    goto out;
  }
  /* One `index` per store at a time; the store is read only once the lock is held, so what
   * an earlier run wrote is kept. */
  clipdb_status st = cli_store_lock(dir, wait, &lock_fd, err);
  if (st != CLIPDB_STATUS_SUCCESS) {
    cli_fail(st, "%s", err);
    goto out;
  }
  locked = 1;
  st = cli_store_load(dir, &s, err);
  if (st == CLIPDB_STATUS_SUCCESS) {
    if (s.model_size != msize || s.model_hash != mhash) {
      cli_fail(CLIPDB_STATUS_INVALID_STATE,
               "store %s was built with another model (%s); index into a new --store folder", dir,
               s.model_path);
      goto out;
    }
    if (s.vocab_path[0] != NULL && vocab.n > 0 && (s.vocab_size != vsize || s.vocab_hash != vhash)) {
      cli_fail(CLIPDB_STATUS_INVALID_STATE,
               "store %s was indexed with vocabulary %s, which differs from %s; index into a new --store folder",
               dir, s.vocab_path[0], vocab.path[0]);
      goto out;
    }
    if (s.exif != CLI_STORE_EXIF_UNKNOWN && exif_given && s.exif != exif) {
      cli_fail(CLIPDB_STATUS_INVALID_STATE,
               "store %s holds images embedded with --exif %s, not %s; index into a new --store folder",
               dir, exif_name(s.exif), exif_name(exif));
      goto out;
    }
    if (s.exif != CLI_STORE_EXIF_UNKNOWN) exif = s.exif;
    free(s.model_path); /* same bytes; remember where the model lives now */
    s.model_path = NULL;
  } else if (st == CLIPDB_STATUS_NOT_FOUND) {
    memset(&s, 0, sizeof s);
  } else {
    cli_fail(st, "%s", err);
    goto out;
  }
  s.model_path = model_path;
  model_path = NULL;
  s.model_size = msize;
  s.model_hash = mhash;
  s.exif = exif;
  if (vocab.n > 0) { /* the vocabulary as found now (same bytes as any recorded one) */
    free(s.vocab_path[0]);
    free(s.vocab_path[1]);
    s.vocab_path[0] = vocab.path[0];
    s.vocab_path[1] = vocab.n == 2 ? vocab.path[1] : NULL;
    if (vocab.n != 2) free(vocab.path[1]);
    vocab.path[0] = vocab.path[1] = NULL;
    vocab.n = 0;
    s.vocab_size = vsize;
    s.vocab_hash = vhash;
  }

  for (size_t i = 0; i < inputs.count; i++) {
    char *p = cli_absolute_path(inputs.items[i]);
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
        cli_fail(CLIPDB_STATUS_INVALID_STATE, "store %s holds %u-d vectors, model gives %d", dir,
                 s.dim, cfg.embed_dim);
        goto out;
      }
      if (s.dim != (uint32_t)cfg.embed_dim) {
        /* an empty store takes the model's size: re-make the vector rows for it */
        free(s.vectors);
        s.vectors = NULL;
        s.cap = 0;
        free(s.entries);
        s.entries = NULL;
        s.dim = (uint32_t)cfg.embed_dim;
      }
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
      if (cli_store_reserve(&s, s.count + 1) != 0) {
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
    if (++since_save == (size_t)save_every) {
      if (save(dir, &s) != CLIPDB_STATUS_SUCCESS) goto out;
      since_save = 0;
    }
  }

  /* Drop entries whose file is gone or no longer decodes; keep others (e.g. other folders). */
  list_t scanned = {files.items, files.count, files.cap, };
  size_t kept = 0;
  for (size_t i = 0; i < s.count; i++) {
    cli_store_entry e = s.entries[i];
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
  if (save(dir, &s) != CLIPDB_STATUS_SUCCESS) goto out;

  printf("{\"store\":");
  cli_json_string(stdout, dir);
  printf(",\"images\":%zu,\"embedded\":%zu,\"unchanged\":%zu,\"removed\":%zu,\"failed\":%zu}\n",
         s.count, embedded, unchanged, removed, failed);
  rc = 0;
out:
  if (locked) cli_store_unlock(lock_fd);
  clipdb_session_free(session);
  clipdb_model_free(model);
  free(pixels);
  free(emb);
  free(order);
  free(model_path);
  free(dir);
  cli_vocab_clear(&vocab);
  cli_store_clear(&s);
  list_clear(&inputs);
  list_clear(&files);
  return rc;
}

/* ------------------------------------------------------------------------------------------
 * clipdb search
 * ---------------------------------------------------------------------------------------- */

/* The tokenizer for a text query on store `s` (see the top of this file). Errors reported. */
static clipdb_status search_tokenizer(const cli_store *s, const char *dir, const char *vocab_arg,
                                      clipdb_tokenizer_t **tok) {
  if (s->vocab_path[0] == NULL) return cli_load_tokenizer(vocab_arg, s->model_path, tok);
  cli_vocab v = {{NULL, NULL}, 0};
  clipdb_status st;
  if (vocab_arg != NULL) {
    st = cli_vocab_from_path(vocab_arg, &v);
  } else {
    v.n = s->vocab_path[1] ? 2 : 1;
    for (int i = 0; i < v.n; i++) v.path[i] = strdup(s->vocab_path[i]);
    st = v.path[0] && (v.n == 1 || v.path[1]) ? CLIPDB_STATUS_SUCCESS : CLIPDB_STATUS_OUT_OF_MEMORY;
    if (st != CLIPDB_STATUS_SUCCESS) cli_fail(st, "out of memory");
  }
  if (st != CLIPDB_STATUS_SUCCESS) {
    cli_vocab_clear(&v);
    return st;
  }
  uint64_t size, hash;
  int same = cli_vocab_identity(&v, &size, &hash) == CLIPDB_STATUS_SUCCESS && size == s->vocab_size && hash == s->vocab_hash;
  if (!same) {
    st = CLIPDB_STATUS_INVALID_STATE;
    if (vocab_arg != NULL)
      cli_fail(st, "--vocab %s is not the vocabulary store %s was indexed with (%s: %llu bytes, fnv1a64 %016llx)",
               vocab_arg, dir, s->vocab_path[0], (unsigned long long)s->vocab_size, (unsigned long long)s->vocab_hash);
    else
      cli_fail(st, "vocabulary %s changed or is gone since store %s was indexed; give --vocab with the original file, or re-index into a new store",
               s->vocab_path[0], dir);
  } else {
    st = cli_vocab_load(&v, tok);
  }
  cli_vocab_clear(&v);
  return st;
}

int cli_search(int argc, char **argv) {
  const char *store_arg = NULL, *text = NULL, *image = NULL, *vocab = NULL;
  long n = 5;
  int exif = CLIPDB_EXIF_APPLY, exif_given = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--store") == 0 && i + 1 < argc) store_arg = argv[++i];
    else if (strcmp(a, "--text") == 0 && i + 1 < argc) text = argv[++i];
    else if (strcmp(a, "--image") == 0 && i + 1 < argc) image = argv[++i];
    else if (strcmp(a, "--vocab") == 0 && i + 1 < argc) vocab = argv[++i];
    else if (strcmp(a, "--exif") == 0 && i + 1 < argc) {
      if (parse_exif("search", argv[++i], &exif)) return 2;
      exif_given = 1;
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
  cli_store s = {0};
  clipdb_model_t *model = NULL;
  clipdb_session_t *session = NULL;
  clipdb_tokenizer_t *tok = NULL;
  clipdb_index_t *index = NULL;
  float *query = NULL, *pixels = NULL, *scores = NULL;
  int32_t *tokens = NULL;
  uint32_t *keys = NULL;
  char err[CLI_ERR_SIZE];

  char *dir = cli_absolute_path(store_arg);
  if (dir == NULL) {
    cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
    goto out;
  }
  clipdb_status st = cli_store_load(dir, &s, err);
  if (st == CLIPDB_STATUS_NOT_FOUND) {
    cli_fail(CLIPDB_STATUS_NOT_FOUND, "no clipdb store in %s (create one with clipdb index)", dir);
    goto out;
  }
  if (st != CLIPDB_STATUS_SUCCESS) {
    cli_fail(st, "%s", err);
    goto out;
  }
  if (!exif_given && s.exif != CLI_STORE_EXIF_UNKNOWN) exif = s.exif;
  uint64_t msize, mhash;
  if (cli_model_identity(s.model_path, &msize, &mhash) != CLIPDB_STATUS_SUCCESS) {
    cli_fail(CLIPDB_STATUS_IO, "failed to read the store's model %s: %s", s.model_path, strerror(errno));
    goto out;
  }
  if (msize != s.model_size || mhash != s.model_hash) {
    cli_fail(CLIPDB_STATUS_INVALID_STATE, "model %s changed since %s was indexed; re-index into a new store",
             s.model_path, dir);
    goto out;
  }
  if (text != NULL && search_tokenizer(&s, dir, vocab, &tok) != CLIPDB_STATUS_SUCCESS) goto out; /* reported */
  if (cli_load_model(s.model_path, &model) != CLIPDB_STATUS_SUCCESS) goto out; /* reported */
  clipdb_model_config cfg;
  if (clipdb_model_get_config(model, &cfg) != CLIPDB_STATUS_SUCCESS || (s.count && (uint32_t)cfg.embed_dim != s.dim)) {
    cli_fail(CLIPDB_STATUS_INVALID_STATE, "model %s does not match store %s", s.model_path, dir);
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
  free(dir);
  cli_store_clear(&s);
  return rc;
}
