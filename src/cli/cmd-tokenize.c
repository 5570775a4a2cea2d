/*
 * clipdb tokenize --vocab PATH [--truncate] [--context N] TEXT...
 *   prints one JSON array of N (default 77) token ids per TEXT, one per line, as
 *   clip.tokenize(TEXT, context_length=N, truncate=...) returns them.
 *   (the vocabulary rule and cli_load_tokenizer live in loaders.c)
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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
