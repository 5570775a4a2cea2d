/*
 * clipdb tokenize --vocab PATH [--truncate] [--context N] TEXT...
 *   prints one JSON array of N (default 77) token ids per TEXT, one per line, as
 *   clip.tokenize(TEXT, context_length=N, truncate=...) returns them.
 *
 * Also cli_load_tokenizer, which `clipdb embed --text` uses to find the vocabulary.
 */
#define _POSIX_C_SOURCE 200809L /* strdup, dirent */
#include <stdlib.h>
#include <string.h>

#include <dirent.h>

#include "cli.h"

static int has_suffix(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int file_exists(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return 0;
  fclose(f);
  return 1;
}

/* Load the tokenizer files found in directory `dir`; returns NOT_FOUND when it holds none. */
static clipdb_status load_from_dir(const char *dir, clipdb_tokenizer_t **out);

static clipdb_status load_files(const char **paths, const char **names, size_t n, clipdb_tokenizer_t **out) {
  clipdb_file files[2];
  void *data[2] = {NULL, NULL};
  clipdb_status st = CLIPDB_STATUS_SUCCESS;
  for (size_t i = 0; i < n && st == CLIPDB_STATUS_SUCCESS; i++) {
    size_t size = 0;
    st = cli_read_file(paths[i], &data[i], &size);
    files[i].name = names[i];
    files[i].data = data[i];
    files[i].size = size;
  }
  if (st == CLIPDB_STATUS_SUCCESS) {
    st = clipdb_tokenizer_init_from_files(files, n, out);
    if (st != CLIPDB_STATUS_SUCCESS) cli_fail(st, "%s", clipdb_last_error());
  }
  for (size_t i = 0; i < n; i++) free(data[i]);
  return st;
}

static clipdb_status load_from_dir(const char *dir, clipdb_tokenizer_t **out) {
  char *gz = cli_join(dir, "bpe_simple_vocab_16e6.txt.gz");
  char *vocab = cli_join(dir, "vocab.json");
  char *merges = cli_join(dir, "merges.txt");
  clipdb_status st = CLIPDB_STATUS_NOT_FOUND;
  char *other = NULL;
  if (gz == NULL || vocab == NULL || merges == NULL) {
    st = CLIPDB_STATUS_OUT_OF_MEMORY;
    cli_fail(st, "out of memory");
    goto done;
  }
  if (file_exists(gz)) {
    const char *p[1] = {gz}, *nm[1] = {"bpe_simple_vocab_16e6.txt.gz"};
    st = load_files(p, nm, 1, out);
    goto done;
  }
  /* any other *.txt.gz (e.g. the project's own small vocabulary), first in name order */
  DIR *d = opendir(dir);
  if (d != NULL) {
    struct dirent *e;
    char *best = NULL;
    while ((e = readdir(d)) != NULL) {
      if (has_suffix(e->d_name, ".txt.gz") && (best == NULL || strcmp(e->d_name, best) < 0)) {
        free(best);
        best = strdup(e->d_name);
      }
    }
    closedir(d);
    if (best != NULL) {
      other = cli_join(dir, best);
      const char *p[1] = {other}, *nm[1] = {best};
      st = other ? load_files(p, nm, 1, out) : CLIPDB_STATUS_OUT_OF_MEMORY;
      free(best);
      goto done;
    }
  }
  if (file_exists(vocab) && file_exists(merges)) {
    const char *p[2] = {vocab, merges}, *nm[2] = {"vocab.json", "merges.txt"};
    st = load_files(p, nm, 2, out);
  }
done:
  free(gz);
  free(vocab);
  free(merges);
  free(other);
  return st;
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

clipdb_status cli_load_tokenizer(const char *vocab_path, const char *model_path, clipdb_tokenizer_t **out) {
  *out = NULL;
  if (vocab_path != NULL) {
    if (cli_is_dir(vocab_path)) {
      clipdb_status st = load_from_dir(vocab_path, out);
      if (st == CLIPDB_STATUS_NOT_FOUND)
        cli_fail(st, "no tokenizer files in %s (bpe_simple_vocab_16e6.txt.gz, *.txt.gz, or vocab.json + merges.txt)", vocab_path);
      return st;
    }
    const char *slash = strrchr(vocab_path, '/');
    const char *base = slash ? slash + 1 : vocab_path;
    if (strcmp(base, "vocab.json") == 0 || strcmp(base, "merges.txt") == 0) {
      char *dir = dir_of(vocab_path);
      char *v = dir ? cli_join(dir, "vocab.json") : NULL, *m = dir ? cli_join(dir, "merges.txt") : NULL;
      const char *p[2] = {v, m}, *nm[2] = {"vocab.json", "merges.txt"};
      clipdb_status st = v && m ? load_files(p, nm, 2, out) : CLIPDB_STATUS_OUT_OF_MEMORY;
      free(dir);
      free(v);
      free(m);
      return st;
    }
    const char *p[1] = {vocab_path}, *nm[1] = {base};
    if (!has_suffix(base, ".gz") && !has_suffix(base, ".txt")) nm[0] = "vocab.txt"; /* plain OpenAI text */
    return load_files(p, nm, 1, out);
  }
  if (model_path == NULL) return cli_fail(CLIPDB_STATUS_INVALID_ARGUMENT, "no tokenizer: give --vocab PATH"), CLIPDB_STATUS_INVALID_ARGUMENT;
  char *dir = cli_is_dir(model_path) ? strdup(model_path) : dir_of(model_path);
  if (dir == NULL) return cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory"), CLIPDB_STATUS_OUT_OF_MEMORY;
  clipdb_status st = load_from_dir(dir, out);
  if (st == CLIPDB_STATUS_NOT_FOUND) {
    /* one level up: models kept in per-model folders beside a shared vocabulary */
    char *parent = cli_join(dir, "..");
    if (parent != NULL) st = load_from_dir(parent, out);
    free(parent);
  }
  if (st == CLIPDB_STATUS_NOT_FOUND)
    cli_fail(st, "no tokenizer files next to %s (bpe_simple_vocab_16e6.txt.gz, *.txt.gz, or vocab.json + merges.txt); give --vocab PATH",
             model_path);
  free(dir);
  return st;
}

int cli_tokenize(int argc, char **argv) {
  const char *vocab = NULL;
  int truncate = 0, first_text = -1;
  long context = 77;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--vocab") == 0 && i + 1 < argc) {
      vocab = argv[++i];
    } else if (strcmp(argv[i], "--truncate") == 0) {
      truncate = 1;
    } else if (strcmp(argv[i], "--context") == 0 && i + 1 < argc) {
      char *end = NULL;
      context = strtol(argv[++i], &end, 10);
      if (*end != '\0' || context < 2 || context > 1 << 20)
        return cli_usage("tokenize", "--context must be an integer >= 2, got %s", argv[i]);
    } else if (strcmp(argv[i], "--") == 0) {
      first_text = i + 1;
      break;
    } else if (strncmp(argv[i], "--", 2) == 0) {
      return cli_usage("tokenize", "unknown option %s", argv[i]);
    } else {
      first_text = i;
      break;
    }
  }
  if (vocab == NULL) return cli_usage("tokenize", "--vocab PATH is required");
  if (first_text < 0 || first_text >= argc) return cli_usage("tokenize", "give at least one TEXT");
  clipdb_tokenizer_t *tok = NULL;
  if (cli_load_tokenizer(vocab, NULL, &tok) != CLIPDB_STATUS_SUCCESS) return 1;
  int32_t *ids = malloc((size_t)context * sizeof *ids);
  if (ids == NULL) {
    clipdb_tokenizer_free(tok);
    return cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
  }
  int rc = 0;
  for (int i = first_text; i < argc; i++) {
    clipdb_status st = clipdb_tokenize(tok, argv[i], strlen(argv[i]), (int32_t)context, truncate, ids, NULL);
    if (st != CLIPDB_STATUS_SUCCESS) {
      rc = cli_fail(st, "%s", clipdb_tokenizer_last_error(tok));
      break;
    }
    putchar('[');
    for (long k = 0; k < context; k++) printf(k ? ",%d" : "%d", ids[k]);
    puts("]");
  }
  free(ids);
  clipdb_tokenizer_free(tok);
  return rc;
}
