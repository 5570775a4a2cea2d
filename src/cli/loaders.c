/*
 * Loaders shared by the CLI commands: the model (streamed from its file), the tokenizer
 * vocabulary found by the documented rule (cli.h), image pixels, and the identities (size +
 * FNV-1a 64 hash) a store records of the model and vocabulary it was built with.
 */
#define _POSIX_C_SOURCE 200809L /* strdup, fseeko, ftello */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cli.h"
#include "model/safetensors.h"
#include "store-file.h"

static int has_suffix(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* ---- models ------------------------------------------------------------------------------- */

/* clipdb_file_read_fn over stdio: the model is streamed, never read whole (include/clipdb.h,
 * clipdb_file). Positioned reads by seeking, so it also works under Emscripten's NODERAWFS. */
static int stdio_read(void *user, uint64_t offset, void *dst, size_t n) {
  FILE *f = user;
  if (offset > (uint64_t)INT64_MAX || fseeko(f, (off_t)offset, SEEK_SET) != 0) return 1;
  return fread(dst, 1, n, f) == n ? 0 : 1;
}

/* Open `path` as a streamed clipdb_file called `name`; *fp receives the stream to fclose.
 * Returns 0 if the file does not exist, 1 when opened, -1 (error printed) on other failures. */
static int open_streamed(const char *path, const char *name, clipdb_file *file, FILE **fp) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return 0;
  off_t size = -1;
  if (fseeko(f, 0, SEEK_END) == 0) size = ftello(f);
  if (size < 0 || (uint64_t)size > (uint64_t)SIZE_MAX) {
    fclose(f);
    cli_fail(CLIPDB_STATUS_IO, "failed to read %s: cannot tell its size", path);
    return -1;
  }
  memset(file, 0, sizeof *file);
  file->name = name;
  file->size = (size_t)size;
  file->read = stdio_read;
  file->user = f;
  *fp = f;
  return 1;
}

clipdb_status cli_load_model(const char *path, clipdb_model_t **out) {
  *out = NULL;
  clipdb_file files[2];
  FILE *fp[2] = {NULL, NULL};
  size_t n = 0;
  clipdb_status status = CLIPDB_STATUS_IO;
  if (cli_is_dir(path)) {
    /* a Hugging Face CLIPModel directory (or any folder with model.safetensors) */
    static const char *weights[] = {"model.safetensors", "open_clip_model.safetensors"};
    for (size_t i = 0; i < 2 && n == 0; i++) {
      char *p = cli_join(path, weights[i]);
      int r = p ? open_streamed(p, weights[i], &files[0], &fp[0]) : -1;
      free(p);
      if (r < 0) return CLIPDB_STATUS_IO;
      if (r > 0) n = 1;
    }
    if (n == 0) {
      cli_fail(CLIPDB_STATUS_IO, "failed to load model: %s holds no model.safetensors", path);
      return CLIPDB_STATUS_IO;
    }
    char *p = cli_join(path, "config.json");
    int r = p ? open_streamed(p, "config.json", &files[1], &fp[1]) : -1;
    free(p);
    if (r < 0) goto done;
    if (r > 0) n = 2;
  } else {
    if (!has_suffix(path, ".safetensors")) {
      cli_fail(CLIPDB_STATUS_INVALID_ARGUMENT,
               "failed to load model: %s is neither a .safetensors file nor a directory", path);
      return CLIPDB_STATUS_INVALID_ARGUMENT;
    }
    int r = open_streamed(path, "model.safetensors", &files[0], &fp[0]);
    if (r == 0) {
      cli_fail(CLIPDB_STATUS_IO, "failed to open %s: %s", path, strerror(errno));
      return CLIPDB_STATUS_IO;
    }
    if (r < 0) return CLIPDB_STATUS_IO;
    n = 1;
  }
  clipdb_model_params params = clipdb_model_default_params();
  const char *threads = getenv("CLIPDB_THREADS");
  if (threads != NULL && threads[0] != '\0') {
    char *end = NULL;
    long v = strtol(threads, &end, 10);
    if (*end != '\0' || v < 0 || v > 256) {
      cli_fail(CLIPDB_STATUS_INVALID_ARGUMENT, "CLIPDB_THREADS must be a number of threads from 0 to 256, not '%s'", threads);
      status = CLIPDB_STATUS_INVALID_ARGUMENT;
      goto done;
    }
    params.n_threads = (int32_t)v;
  }
  status = clipdb_model_init_from_files(files, n, &params, out);
  if (status != CLIPDB_STATUS_SUCCESS) cli_fail(status, "%s", clipdb_last_error());
done:
  for (int i = 0; i < 2; i++)
    if (fp[i]) fclose(fp[i]);
  return status;
}


/* ---- tokenizer vocabularies ---------------------------------------------------------------- */

static int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* Directory part of a file path ("." when there is none). */
static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL) return strdup(".");
  size_t n = slash == path ? 1 : (size_t)(slash - path);
  char *d = malloc(n + 1);
  if (d == NULL) return NULL;
  memcpy(d, path, n);
  d[n] = 0;
  return d;
}

void cli_vocab_clear(cli_vocab *v) {
  free(v->path[0]);
  free(v->path[1]);
  memset(v, 0, sizeof *v);
}

/* The `clipdb_vocab` value of the safetensors `__metadata__` of `weights`, malloc'ed, or NULL
 * when the file has none (or cannot be parsed: loading the model reports that). */
static char *metadata_vocab(const char *weights) {
  FILE *f = fopen(weights, "rb");
  if (f == NULL) return NULL;
  char *name = NULL;
  off_t size = -1;
  if (fseeko(f, 0, SEEK_END) == 0) size = ftello(f);
  clipdb__safetensors *st = NULL;
  if (size > 0 && clipdb__safetensors_open_reader(stdio_read, f, (uint64_t)size, NULL, &st) == CLIPDB_STATUS_SUCCESS) {
    const char *v = clipdb__safetensors_metadata(st, CLI_VOCAB_METADATA_KEY);
    if (v != NULL) name = strdup(v);
    clipdb__safetensors_free(st);
  }
  fclose(f);
  return name;
}

/* The safetensors file of a model path (a .safetensors file, or the weights in a folder). */
static char *weights_of(const char *model_path) {
  if (!cli_is_dir(model_path)) return strdup(model_path);
  static const char *names[] = {"model.safetensors", "open_clip_model.safetensors"};
  for (size_t i = 0; i < 2; i++) {
    char *p = cli_join(model_path, names[i]);
    if (p == NULL || is_file(p)) return p;
    free(p);
  }
  return NULL;
}

/* Candidates among the documented names in `dir`: count returned, the first two filled in
 * `found` (each with its second file for vocab.json + merges.txt). -1: out of memory. */
static int candidates_in(const char *dir, cli_vocab found[2]) {
  static const char *single[] = {"bpe_simple_vocab_16e6.txt.gz", "vocab.txt.gz"};
  int n = 0;
  for (size_t i = 0; i < 3; i++) {
    char *a = cli_join(dir, i < 2 ? single[i] : "vocab.json");
    char *b = i < 2 ? NULL : cli_join(dir, "merges.txt");
    if (a == NULL || (i == 2 && b == NULL)) {
      free(a);
      free(b);
      return -1;
    }
    if (is_file(a) && (i < 2 || is_file(b))) {
      if (n < 2) {
        found[n].path[0] = a;
        found[n].path[1] = b;
        found[n].n = i < 2 ? 1 : 2;
        a = b = NULL;
      }
      n++;
    }
    free(a);
    free(b);
  }
  return n;
}

static const char *const looked_for =
    "bpe_simple_vocab_16e6.txt.gz, vocab.txt.gz, vocab.json + merges.txt, or the file named by "
    "the model's safetensors metadata key " CLI_VOCAB_METADATA_KEY;

/* The rule in one folder. SUCCESS (found), NOT_FOUND (nothing there; not reported), or an
 * error already reported. */
static clipdb_status find_in_dir(const char *dir, const char *what, cli_vocab *out) {
  cli_vocab found[2];
  memset(found, 0, sizeof found);
  int n = candidates_in(dir, found);
  if (n < 0) return cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory"), CLIPDB_STATUS_OUT_OF_MEMORY;
  if (n == 0) return CLIPDB_STATUS_NOT_FOUND;
  if (n > 1) {
    cli_fail(CLIPDB_STATUS_INVALID_ARGUMENT,
             "two tokenizer vocabularies for %s: %s%s and %s%s; remove one or give --vocab PATH", what,
             found[0].path[0], found[0].n == 2 ? " + merges.txt" : "", found[1].path[0],
             found[1].n == 2 ? " + merges.txt" : "");
    cli_vocab_clear(&found[0]);
    cli_vocab_clear(&found[1]);
    return CLIPDB_STATUS_INVALID_ARGUMENT;
  }
  *out = found[0];
  return CLIPDB_STATUS_SUCCESS;
}

clipdb_status cli_find_vocab(const char *model_path, int report_missing, cli_vocab *out) {
  memset(out, 0, sizeof *out);
  char *weights = weights_of(model_path);
  char *dir = cli_is_dir(model_path) ? strdup(model_path) : dir_of(model_path);
  clipdb_status st = CLIPDB_STATUS_OUT_OF_MEMORY;
  char *named = NULL;
  if (dir == NULL) goto oom;
  named = weights ? metadata_vocab(weights) : NULL;
  if (named != NULL) {
    /* the model says which file: a plain name in its own folder */
    if (named[0] == '\0' || strchr(named, '/') != NULL || strcmp(named, ".") == 0 || strcmp(named, "..") == 0) {
      st = CLIPDB_STATUS_BAD_MODEL;
      cli_fail(st, "model %s names its vocabulary '%s' (metadata %s): not a file name in the model's folder",
               model_path, named, CLI_VOCAB_METADATA_KEY);
      goto done;
    }
    out->path[0] = cli_join(dir, named);
    if (out->path[0] == NULL) goto oom;
    out->n = 1;
    if (strcmp(named, "vocab.json") == 0 || strcmp(named, "merges.txt") == 0) {
      free(out->path[0]);
      out->path[0] = cli_join(dir, "vocab.json");
      out->path[1] = cli_join(dir, "merges.txt");
      out->n = 2;
      if (out->path[0] == NULL || out->path[1] == NULL) goto oom;
    }
    for (int i = 0; i < out->n; i++) {
      if (!is_file(out->path[i])) {
        st = CLIPDB_STATUS_NOT_FOUND;
        cli_fail(st, "model %s names its vocabulary %s (metadata %s), which does not exist; give --vocab PATH",
                 model_path, out->path[i], CLI_VOCAB_METADATA_KEY);
        cli_vocab_clear(out);
        goto done;
      }
    }
    st = CLIPDB_STATUS_SUCCESS;
    goto done;
  }
  st = find_in_dir(dir, model_path, out);
  if (st == CLIPDB_STATUS_NOT_FOUND && cli_is_dir(model_path)) {
    /* a model folder without one: per-model folders beside one shared vocabulary */
    char *parent = cli_join(dir, "..");
    if (parent == NULL) goto oom;
    st = find_in_dir(parent, model_path, out);
    free(parent);
  }
  if (st == CLIPDB_STATUS_NOT_FOUND && report_missing)
    cli_fail(st, "no tokenizer vocabulary next to %s (looked in %s for %s); give --vocab PATH",
             model_path, cli_is_dir(model_path) ? "that folder and the one above" : "its folder", looked_for);
  goto done;
oom:
  cli_vocab_clear(out);
  st = CLIPDB_STATUS_OUT_OF_MEMORY;
  cli_fail(st, "out of memory");
done:
  free(weights);
  free(dir);
  free(named);
  return st;
}

/* A folder given as --vocab that holds none of the documented names: its one *.txt.gz (the
 * user named the folder as the vocabulary's). Two are an error naming both. */
static clipdb_status only_gz_in(const char *dir, cli_vocab *out) {
  DIR *d = opendir(dir);
  if (d == NULL) return CLIPDB_STATUS_NOT_FOUND;
  char *names[2] = {NULL, NULL};
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' || !has_suffix(e->d_name, ".txt.gz")) continue;
    if (n < 2) names[n] = strdup(e->d_name);
    n++;
  }
  closedir(d);
  clipdb_status st = CLIPDB_STATUS_NOT_FOUND;
  if (n == 1) {
    out->path[0] = names[0] ? cli_join(dir, names[0]) : NULL;
    out->n = 1;
    st = out->path[0] ? CLIPDB_STATUS_SUCCESS : CLIPDB_STATUS_OUT_OF_MEMORY;
    if (st != CLIPDB_STATUS_SUCCESS) cli_fail(st, "out of memory");
  } else if (n > 1) {
    st = CLIPDB_STATUS_INVALID_ARGUMENT;
    cli_fail(st, "two tokenizer vocabularies in folder %s: %s and %s; give --vocab FILE", dir,
             names[0] ? names[0] : "?", names[1] ? names[1] : "?");
  }
  free(names[0]);
  free(names[1]);
  return st;
}

clipdb_status cli_vocab_from_path(const char *vocab_path, cli_vocab *out) {
  memset(out, 0, sizeof *out);
  if (cli_is_dir(vocab_path)) {
    clipdb_status st = find_in_dir(vocab_path, vocab_path, out);
    if (st == CLIPDB_STATUS_NOT_FOUND) st = only_gz_in(vocab_path, out);
    if (st == CLIPDB_STATUS_NOT_FOUND)
      cli_fail(st, "no tokenizer vocabulary in folder %s (looked for bpe_simple_vocab_16e6.txt.gz, vocab.txt.gz, vocab.json + merges.txt, or a single *.txt.gz)",
               vocab_path);
    return st;
  }
  const char *base = base_name(vocab_path);
  if (strcmp(base, "vocab.json") == 0 || strcmp(base, "merges.txt") == 0) {
    char *dir = dir_of(vocab_path);
    out->path[0] = dir ? cli_join(dir, "vocab.json") : NULL;
    out->path[1] = dir ? cli_join(dir, "merges.txt") : NULL;
    out->n = 2;
    free(dir);
  } else {
    out->path[0] = strdup(vocab_path);
    out->n = 1;
  }
  if (out->path[0] == NULL || (out->n == 2 && out->path[1] == NULL)) {
    cli_vocab_clear(out);
    return cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory"), CLIPDB_STATUS_OUT_OF_MEMORY;
  }
  for (int i = 0; i < out->n; i++) {
    if (!is_file(out->path[i])) {
      cli_fail(CLIPDB_STATUS_IO, "failed to open vocabulary %s: %s", out->path[i],
               cli_is_dir(out->path[i]) ? "a folder" : "no such file");
      cli_vocab_clear(out);
      return CLIPDB_STATUS_IO;
    }
  }
  return CLIPDB_STATUS_SUCCESS;
}

clipdb_status cli_vocab_load(const cli_vocab *v, clipdb_tokenizer_t **out) {
  clipdb_file files[2];
  void *data[2] = {NULL, NULL};
  const char *names[2];
  clipdb_status st = CLIPDB_STATUS_SUCCESS;
  memset(files, 0, sizeof files);
  for (int i = 0; i < v->n && st == CLIPDB_STATUS_SUCCESS; i++) {
    size_t size = 0;
    st = cli_read_file(v->path[i], &data[i], &size);
    names[i] = base_name(v->path[i]);
    /* plain OpenAI text under another name (e.g. "vocab"): the tokenizer keys on the suffix */
    if (v->n == 1 && !has_suffix(names[i], ".gz") && !has_suffix(names[i], ".txt")) names[i] = "vocab.txt";
    files[i].name = names[i];
    files[i].data = data[i];
    files[i].size = size;
  }
  if (st == CLIPDB_STATUS_SUCCESS) {
    st = clipdb_tokenizer_init_from_files(files, (size_t)v->n, out);
    if (st != CLIPDB_STATUS_SUCCESS) cli_fail(st, "%s", clipdb_last_error());
  }
  for (int i = 0; i < 2; i++) free(data[i]);
  return st;
}

clipdb_status cli_load_tokenizer(const char *vocab_path, const char *model_path, clipdb_tokenizer_t **out) {
  *out = NULL;
  cli_vocab v;
  clipdb_status st;
  if (vocab_path != NULL) st = cli_vocab_from_path(vocab_path, &v);
  else if (model_path != NULL) st = cli_find_vocab(model_path, 1, &v);
  else return cli_fail(CLIPDB_STATUS_INVALID_ARGUMENT, "no tokenizer: give --vocab PATH"), CLIPDB_STATUS_INVALID_ARGUMENT;
  if (st != CLIPDB_STATUS_SUCCESS) return st;
  st = cli_vocab_load(&v, out);
  cli_vocab_clear(&v);
  return st;
}


/* ---- images -------------------------------------------------------------------------------- */

clipdb_image_params cli_image_params(const clipdb_model_config *cfg, int exif) {
  clipdb_image_params p = clipdb_image_default_params();
  if (cfg != NULL) {
    if (cfg->image_resolution > 0) p.resolution = cfg->image_resolution;
    for (int c = 0; c < 3; c++) {
      if (cfg->image_std[c] != 0.0f) {
        p.mean[c] = cfg->image_mean[c];
        p.std[c] = cfg->image_std[c];
      }
    }
  }
  p.exif = exif;
  return p;
}

clipdb_status cli_load_image(const char *path, const clipdb_image_params *p, float *out,
                             clipdb_image_info *info) {
  void *data = NULL;
  size_t size = 0;
  clipdb_status status = cli_read_file(path, &data, &size);
  if (status != CLIPDB_STATUS_SUCCESS) return status; /* already reported */
  status = clipdb_image_preprocess(data, size, p, out, info);
  free(data);
  if (status != CLIPDB_STATUS_SUCCESS) cli_fail(status, "%s: %s", path, clipdb_last_error());
  return status;
}

clipdb_status cli_load_pixels(const char *image_path, const clipdb_model_config *cfg, int exif,
                              float *out) {
  clipdb_image_params p = cli_image_params(cfg, exif);
  clipdb_image_info info;
  return cli_load_image(image_path, &p, out, &info);
}

/* "ignore" / "apply" -> clipdb_exif_mode, -1 if neither. */
int cli_parse_exif(const char *s) {
  if (strcmp(s, "ignore") == 0) return CLIPDB_EXIF_IGNORE;
  if (strcmp(s, "apply") == 0) return CLIPDB_EXIF_APPLY;
  return -1;
}


/* ---- identities ------------------------------------------------------------------------------ */

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
    *hash = cli_fnv1a(*hash, buf, got);
    *size += got;
  }
  int err = ferror(f);
  free(buf);
  fclose(f);
  return err ? -1 : 0;
}

clipdb_status cli_model_identity(const char *path, uint64_t *size, uint64_t *hash) {
  *size = 0;
  *hash = CLI_FNV_OFFSET;
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


clipdb_status cli_vocab_identity(const cli_vocab *v, uint64_t *size, uint64_t *hash) {
  *size = 0;
  *hash = CLI_FNV_OFFSET;
  for (int i = 0; i < v->n; i++)
    if (hash_file(v->path[i], hash, size) != 0) return CLIPDB_STATUS_IO;
  return CLIPDB_STATUS_SUCCESS;
}
