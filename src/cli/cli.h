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
#include <stdio.h>

#include "clipdb.h"

/* Commands: argv[0] is the command name. Return the process exit status. */
int cli_embed(int argc, char **argv);      /* cmd-embed.c */
int cli_info(int argc, char **argv);       /* cmd-embed.c */
int cli_tokenize(int argc, char **argv);   /* cmd-tokenize.c */
int cli_preprocess(int argc, char **argv); /* cmd-preprocess.c */
int cli_index(int argc, char **argv);      /* cmd-store.c */
int cli_search(int argc, char **argv);     /* cmd-store.c */
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

/* Write a JSON string literal (quoted, escaped) / a float array to `f`. */
void cli_json_string(FILE *f, const char *s);
void cli_json_floats(FILE *f, const float *v, size_t n);

/* ---- model, tokenizer, image loading shared by commands ---- */

/* PATH is a .safetensors file or a Hugging Face model directory (config.json +
 * model.safetensors). cmd-embed.c. */
clipdb_status cli_load_model(const char *path, clipdb_model_t **out);

/* Find the tokenizer files: `vocab_path` if given (a .txt.gz / .txt in OpenAI format, or a
 * directory holding vocab.json + merges.txt or bpe_simple_vocab_16e6.txt.gz), else next to
 * `model_path`. cmd-tokenize.c. */
clipdb_status cli_load_tokenizer(const char *vocab_path, const char *model_path,
                                 clipdb_tokenizer_t **out);

/* Decode + preprocess an image file for a model with config `cfg` into `out` [3,R,R]
 * (R = cfg->image_resolution, mean/std from cfg; cfg NULL = 224 and OpenAI's mean/std).
 * `exif` is a clipdb_exif_mode. On failure the JSON error has already been printed.
 * cmd-preprocess.c. */
clipdb_status cli_load_pixels(const char *image_path, const clipdb_model_config *cfg, int exif,
                              float *out);
/* "ignore" -> CLIPDB_EXIF_IGNORE, "apply" -> CLIPDB_EXIF_APPLY, anything else -> -1.
 * cmd-preprocess.c. */
int cli_parse_exif(const char *s);

#endif
