/*
 * The clipdb command-line tool: one contract for the native binary and the wasm build
 * (`node web/bin/clipdb.mjs`). Results go to stdout as JSON, one result per line; errors go
 * to stderr as one JSON object {"error": STATUS, "message": "..."} with exit status 1
 * (2 for usage errors).
 *
 * Each command lives in its own file (cmd-<name>.c); main.c only dispatches.
 */
#ifndef CLIPDB_CLI_H
#define CLIPDB_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clipdb.h"

/* Commands: argv[0] is the command name. Return the process exit status. */
int cli_embed(int argc, char **argv);      /* cmd-embed.c */
int cli_info(int argc, char **argv);       /* cmd-embed.c */
int cli_tokenize(int argc, char **argv);   /* cmd-tokenize.c */
int cli_preprocess(int argc, char **argv); /* cmd-preprocess.c */
int cli_index(int argc, char **argv);      /* cmd-store.c */
int cli_search(int argc, char **argv);     /* cmd-store.c */
int cli_export(int argc, char **argv);     /* cmd-export.c */
int cli_quantize(int argc, char **argv);   /* cmd-quantize.c */
int cli_thumbnail(int argc, char **argv);  /* cmd-thumbnail.c */

/* ---- shared helpers (common.c) ---- */

/* Print {"error": STATUS, "message": ...} to stderr; returns 1 (or 2 for INVALID_ARGUMENT
 * raised by argument parsing: use cli_usage). */
int cli_fail(clipdb_status status, const char *fmt, ...);
/* Print a usage error for `command` and return 2. */
int cli_usage(const char *command, const char *fmt, ...);

/* Read a whole file into a malloc'ed buffer (free with free()). On failure it has already
 * printed the JSON error to stderr and returns IO or OUT_OF_MEMORY. */
clipdb_status cli_read_file(const char *path, void **data, size_t *size);
int cli_is_dir(const char *path);
/* path + "/" + name into a malloc'ed string. */
char *cli_join(const char *dir, const char *name);
/* An absolute, normalised ("." and ".." resolved, no doubled or trailing "/") malloc'ed copy
 * of `path`; symbolic links are not resolved. NULL when out of memory. */
char *cli_absolute_path(const char *path);
/* mkdir -p; 0 when `path` is a folder afterwards, else -1 (errno set). */
int cli_mkdir_p(const char *path);

/* Write a JSON string literal (quoted, escaped) / a float array to `f`. */
void cli_json_string(FILE *f, const char *s);
void cli_json_floats(FILE *f, const float *v, size_t n);

/* ---- loaders.c: model, tokenizer, image loading shared by commands ---- */

/* PATH is a .safetensors file or a Hugging Face model directory (config.json +
 * model.safetensors), streamed (never read whole). Errors reported. */
clipdb_status cli_load_model(const char *path, clipdb_model_t **out);

/*
 * Tokenizer vocabularies. A model and its vocabulary travel together, so a vocabulary next to
 * a model is found only under documented names, in this order of authority:
 *   1. the file named by the model's safetensors `__metadata__` key "clipdb_vocab" (a plain
 *      file name in the model's folder; it must exist);
 *   2. else exactly one of bpe_simple_vocab_16e6.txt.gz, vocab.txt.gz, or vocab.json +
 *      merges.txt in the folder of the .safetensors file; a model given as a folder (Hugging
 *      Face layout) is searched itself, then, when it has none, the folder above it
 *      (per-model folders sharing one vocabulary).
 * Two candidates in one folder are an INVALID_ARGUMENT error naming both; none is NOT_FOUND
 * naming the names looked for and `--vocab PATH`. Other files (any other *.txt.gz) are never
 * picked up.
 */
#define CLI_VOCAB_METADATA_KEY "clipdb_vocab"

typedef struct cli_vocab {
  char *path[2]; /* malloc'ed; path[1] is merges.txt for the vocab.json + merges.txt pair */
  int n;         /* 1 or 2 files */
} cli_vocab;

/* The vocabulary of the model at `model_path` (a .safetensors file or a model folder) by the
 * rule above. Errors are reported (JSON on stderr) before returning, except NOT_FOUND when
 * `report_missing` is 0. */
clipdb_status cli_find_vocab(const char *model_path, int report_missing, cli_vocab *out);
/* An explicit --vocab PATH: a file (OpenAI .txt.gz / .txt, or vocab.json / merges.txt, which
 * means both), or a folder searched with the documented names, else for its only *.txt.gz
 * (the user named that folder; two are an error naming both). Errors reported. */
clipdb_status cli_vocab_from_path(const char *vocab_path, cli_vocab *out);
/* Read the files of `v` and create the tokenizer (free with clipdb_tokenizer_free). */
clipdb_status cli_vocab_load(const cli_vocab *v, clipdb_tokenizer_t **out);
void cli_vocab_clear(cli_vocab *v);
/* `vocab_path` if given (cli_vocab_from_path), else the rule next to `model_path`. */
clipdb_status cli_load_tokenizer(const char *vocab_path, const char *model_path,
                                 clipdb_tokenizer_t **out);

/* Decode + preprocess an image file for a model with config `cfg` into `out` [3,R,R]
 * (R = cfg->image_resolution, mean/std from cfg; cfg NULL = 224 and OpenAI's mean/std).
 * `exif` is a clipdb_exif_mode. On failure the JSON error has already been printed. */
clipdb_status cli_load_pixels(const char *image_path, const clipdb_model_config *cfg, int exif,
                              float *out);
/* Image parameters for a model config (NULL: 224 and OpenAI's mean/std) and EXIF mode. */
clipdb_image_params cli_image_params(const clipdb_model_config *cfg, int exif);
/* Decode + preprocess the image file at `path` with `p` into `out` [3,R,R]; `info` receives
 * its format, size and orientation. Errors reported (naming the file). */
clipdb_status cli_load_image(const char *path, const clipdb_image_params *p, float *out,
                             clipdb_image_info *info);
/* "ignore" -> CLIPDB_EXIF_IGNORE, "apply" -> CLIPDB_EXIF_APPLY, anything else -> -1. */
int cli_parse_exif(const char *s);

/* Identity of the model at `path` (a .safetensors file, or config.json + model.safetensors of
 * a folder) / of a vocabulary's file(s): total bytes and FNV-1a 64 over them in order. IO
 * (errno set) when a file cannot be read; nothing reported. */
clipdb_status cli_model_identity(const char *path, uint64_t *size, uint64_t *hash);
clipdb_status cli_vocab_identity(const cli_vocab *v, uint64_t *size, uint64_t *hash);

#endif
