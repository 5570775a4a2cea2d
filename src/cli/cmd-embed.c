/*
 * clipdb embed / info (model, vocabulary and image loading: loaders.c).
 *
 *   clipdb embed --model PATH (--pixels FILE | --tokens IDS | --text TEXT | --image FILE)...
 *                [--exif ignore|apply] [--vocab PATH]
 *   clipdb info --model PATH
 *
 * embed prints one JSON array (the unnormalised embedding, model.encode_image /
 * model.encode_text of the official code) per input, in the order the inputs were given.
 * --pixels FILE: raw little-endian float32 [3,R,R] tensors (CHW, already preprocessed); a
 * file holding several images gives one line each. --tokens: comma-separated ids, either
 * the full context (zero padding included) or a shorter list ending at the end-of-text id.
 * --image FILE: EXIF orientation applied by default (as ImageOps.exif_transpose); --exif
 * ignore for the official pipeline's exact input (reference parity).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cli.h"

/* Parse "49406,320,1125,..." into ids (at most `cap`). Returns the count, or -1. */
static long parse_ids(const char *s, int32_t *ids, size_t cap) {
  size_t n = 0;
  const char *p = s;
  while (*p) {
    while (*p == ' ' || *p == ',' || *p == '[' || *p == ']' || *p == '\n') p++;
    if (*p == '\0') break;
    char *end = NULL;
    long v = strtol(p, &end, 10);
    if (end == p || v < 0 || v > INT32_MAX) return -1;
    if (n == cap) return -2;
    ids[n++] = (int32_t)v;
    p = end;
    if (*p != '\0' && *p != ',' && *p != ' ' && *p != ']' && *p != '\n') return -1;
  }
  return (long)n;
}

typedef struct input {
  const char *kind; /* "--pixels", "--tokens", "--text", "--image" */
  const char *value;
} input;

int cli_embed(int argc, char **argv) {
  const char *model_path = NULL, *vocab = NULL;
  int exif = CLIPDB_EXIF_APPLY; /* README "Images": one EXIF policy on every path */
  input *inputs = calloc((size_t)argc + 1, sizeof *inputs);
  size_t n_inputs = 0;
  int rc = 0;
  clipdb_model_t *model = NULL;
  clipdb_session_t *session = NULL;
  clipdb_tokenizer_t *tokenizer = NULL;
  float *emb = NULL, *pixels = NULL;
  int32_t *ids = NULL;
  if (inputs == NULL) return cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) {
      rc = cli_usage("embed", "%s needs a value", a);
      goto done;
    }
    if (strcmp(a, "--model") == 0) model_path = argv[++i];
    else if (strcmp(a, "--vocab") == 0) vocab = argv[++i];
    else if (strcmp(a, "--exif") == 0) {
      const char *v = argv[++i];
      if (strcmp(v, "ignore") == 0) exif = CLIPDB_EXIF_IGNORE;
      else if (strcmp(v, "apply") == 0) exif = CLIPDB_EXIF_APPLY;
      else {
        rc = cli_usage("embed", "--exif must be ignore or apply, not %s", v);
        goto done;
      }
    } else if (strcmp(a, "--pixels") == 0 || strcmp(a, "--tokens") == 0 ||
               strcmp(a, "--text") == 0 || strcmp(a, "--image") == 0) {
      inputs[n_inputs].kind = a;
      inputs[n_inputs].value = argv[++i];
      n_inputs++;
    } else {
      rc = cli_usage("embed", "unknown option %s", a);
      goto done;
    }
  }
  if (model_path == NULL) {
    rc = cli_usage("embed", "--model PATH is required");
    goto done;
  }
  if (n_inputs == 0) {
    rc = cli_usage("embed", "give --pixels, --tokens, --text or --image");
    goto done;
  }
  if (cli_load_model(model_path, &model) != CLIPDB_STATUS_SUCCESS) {
    rc = 1;
    goto done;
  }
  clipdb_model_config cfg;
  clipdb_model_get_config(model, &cfg);
  clipdb_status st = clipdb_session_init(model, &session);
  if (st != CLIPDB_STATUS_SUCCESS) {
    rc = cli_fail(st, "%s", clipdb_last_error());
    goto done;
  }
  size_t E = (size_t)cfg.embed_dim, R = (size_t)cfg.image_resolution;
  size_t ctx = cfg.context_length > 0 ? (size_t)cfg.context_length : 77;
  emb = malloc(E * sizeof(float));
  ids = malloc((ctx + 1) * sizeof(int32_t));
  if (emb == NULL || ids == NULL) {
    rc = cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
    goto done;
  }
  for (size_t k = 0; k < n_inputs; k++) {
    const char *kind = inputs[k].kind, *value = inputs[k].value;
    if (strcmp(kind, "--pixels") == 0 || strcmp(kind, "--image") == 0) {
      size_t per = 3 * R * R, n_img = 1;
      if (R == 0) {
        rc = cli_fail(CLIPDB_STATUS_INVALID_STATE, "failed to embed image: the model has no vision tower");
        goto done;
      }
      free(pixels);
      pixels = NULL;
      if (strcmp(kind, "--pixels") == 0) {
        void *data;
        size_t size;
        if (cli_read_file(value, &data, &size) != CLIPDB_STATUS_SUCCESS) {
          rc = 1;
          goto done;
        }
        pixels = data;
        if (size == 0 || size % (per * sizeof(float)) != 0) {
          rc = cli_fail(CLIPDB_STATUS_INVALID_ARGUMENT,
                        "failed to read pixels from %s: %zu bytes is not a multiple of 3x%zux%zu "
                        "float32 (%zu bytes)", value, size, R, R, per * sizeof(float));
          goto done;
        }
        n_img = size / (per * sizeof(float));
      } else {
        pixels = malloc(per * sizeof(float));
        if (pixels == NULL) {
          rc = cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
          goto done;
        }
        if (cli_load_pixels(value, &cfg, exif, pixels) != CLIPDB_STATUS_SUCCESS) {
          rc = 1; /* cli_load_pixels reported it */
          goto done;
        }
      }
      for (size_t i = 0; i < n_img; i++) {
        st = clipdb_image_embed(session, pixels + i * per, 1, emb);
        if (st != CLIPDB_STATUS_SUCCESS) {
          rc = cli_fail(st, "%s", clipdb_session_last_error(session));
          goto done;
        }
        cli_json_floats(stdout, emb, E);
        fputc('\n', stdout);
      }
    } else {
      size_t n_ids = 0;
      if (strcmp(kind, "--tokens") == 0) {
        long n = parse_ids(value, ids, ctx);
        if (n == -2) {
          rc = cli_fail(CLIPDB_STATUS_INVALID_ARGUMENT,
                        "failed to parse --tokens: more than context_length %zu ids", ctx);
          goto done;
        }
        if (n <= 0) {
          rc = cli_fail(CLIPDB_STATUS_INVALID_ARGUMENT,
                        "failed to parse --tokens: expected comma-separated non-negative ids");
          goto done;
        }
        n_ids = (size_t)n;
      } else {
        if (tokenizer == NULL &&
            cli_load_tokenizer(vocab, model_path, &tokenizer) != CLIPDB_STATUS_SUCCESS) {
          rc = 1; /* cli_load_tokenizer reported it */
          goto done;
        }
        int32_t n_out = 0;
        st = clipdb_tokenize(tokenizer, value, strlen(value), (int32_t)ctx, 1, ids, &n_out);
        if (st != CLIPDB_STATUS_SUCCESS) {
          rc = cli_fail(st, "%s", clipdb_last_error());
          goto done;
        }
        n_ids = ctx;
      }
      st = clipdb_text_embed(session, ids, n_ids, emb);
      if (st != CLIPDB_STATUS_SUCCESS) {
        rc = cli_fail(st, "%s", clipdb_session_last_error(session));
        goto done;
      }
      cli_json_floats(stdout, emb, E);
      fputc('\n', stdout);
    }
  }
done:
  free(inputs);
  free(emb);
  free(ids);
  free(pixels);
  clipdb_tokenizer_free(tokenizer);
  clipdb_session_free(session);
  clipdb_model_free(model);
  return rc;
}

int cli_info(int argc, char **argv) {
  const char *model_path = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model_path = argv[++i];
    else return cli_usage("info", "unknown option %s", argv[i]);
  }
  if (model_path == NULL) return cli_usage("info", "--model PATH is required");
  clipdb_model_t *model = NULL;
  if (cli_load_model(model_path, &model) != CLIPDB_STATUS_SUCCESS) return 1;
  int32_t n = clipdb_model_config_json(model, NULL, 0);
  char *buf = malloc((size_t)n + 1);
  if (buf == NULL) {
    clipdb_model_free(model);
    return cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
  }
  clipdb_model_config_json(model, buf, (size_t)n + 1);
  printf("%s\n", buf);
  free(buf);
  clipdb_model_free(model);
  return 0;
}
