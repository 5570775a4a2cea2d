/*
 * clipdb quantize --model IN --out OUT [--dtype int8|f16]
 *
 * Rewrites a float CLIP safetensors file as an int8 (default) or F16 file
 * (clipdb_model_quantize; the scheme is described in include/clipdb.h). IN is read tensor by
 * tensor, OUT is written to OUT.partial and renamed into place only when complete, so a
 * failure never leaves a truncated OUT nor touches an existing one. Prints
 * {"out": OUT, "dtype": "int8", "bytes": N, "input_bytes": M}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int read_at(void *user, uint64_t offset, void *dst, size_t n) {
  FILE *f = user;
  if (fseek(f, (long)offset, SEEK_SET) != 0) return 1;
  return fread(dst, 1, n, f) == n ? 0 : 1;
}

static int write_all(void *user, const void *data, size_t size) {
  return fwrite(data, 1, size, (FILE *)user) == size ? 0 : 1;
}

int cli_quantize(int argc, char **argv) {
  const char *in_path = NULL, *out_path = NULL, *dtype_name = "int8";
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) in_path = argv[++i];
    else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) out_path = argv[++i];
    else if (strcmp(argv[i], "--dtype") == 0 && i + 1 < argc) dtype_name = argv[++i];
    else return cli_usage("quantize", "unknown option %s", argv[i]);
  }
  if (in_path == NULL || out_path == NULL)
    return cli_usage("quantize", "--model IN and --out OUT are required");
  clipdb_quantize_dtype dtype;
  if (strcmp(dtype_name, "int8") == 0) dtype = CLIPDB_QUANTIZE_INT8;
  else if (strcmp(dtype_name, "f16") == 0) dtype = CLIPDB_QUANTIZE_F16;
  else return cli_usage("quantize", "--dtype must be int8 or f16, not %s", dtype_name);
  if (cli_is_dir(in_path))
    return cli_usage("quantize", "--model must be a .safetensors file (for a Hugging Face "
                                 "directory give its model.safetensors; config.json stays as it is)");
  if (strcmp(in_path, out_path) == 0)
    return cli_usage("quantize", "--out must differ from --model");
  FILE *in = fopen(in_path, "rb");
  if (in == NULL) return cli_fail(CLIPDB_STATUS_IO, "cannot open %s", in_path);
  long size = -1;
  if (fseek(in, 0, SEEK_END) == 0) size = ftell(in);
  if (size < 0) {
    fclose(in);
    return cli_fail(CLIPDB_STATUS_IO, "cannot read %s", in_path);
  }
  size_t tmp_len = strlen(out_path) + 16;
  char *tmp = malloc(tmp_len);
  if (tmp == NULL) {
    fclose(in);
    return cli_fail(CLIPDB_STATUS_OUT_OF_MEMORY, "out of memory");
  }
  snprintf(tmp, tmp_len, "%s.partial", out_path);
  FILE *out = fopen(tmp, "wb");
  if (out == NULL) {
    fclose(in);
    int rc = cli_fail(CLIPDB_STATUS_IO, "cannot create %s", tmp);
    free(tmp);
    return rc;
  }
  const char *base = strrchr(in_path, '/');
  clipdb_file file = {base ? base + 1 : in_path, NULL, (size_t)size, read_at, in};
  uint64_t written = 0;
  clipdb_status st = clipdb_model_quantize(&file, dtype, write_all, out, &written);
  fclose(in);
  int closed = fclose(out) == 0;
  if (st == CLIPDB_STATUS_SUCCESS && !closed)
    st = CLIPDB_STATUS_IO;
  if (st == CLIPDB_STATUS_SUCCESS && rename(tmp, out_path) != 0)
    st = CLIPDB_STATUS_IO;
  if (st != CLIPDB_STATUS_SUCCESS) {
    remove(tmp);
    int rc = st == CLIPDB_STATUS_IO && closed && strstr(clipdb_last_error(), "quantize") == NULL
                 ? cli_fail(st, "cannot write %s", out_path)
                 : cli_fail(st, "%s", clipdb_last_error());
    free(tmp);
    return rc;
  }
  free(tmp);
  printf("{\"out\":");
  cli_json_string(stdout, out_path);
  printf(",\"dtype\":\"%s\",\"bytes\":%llu,\"input_bytes\":%ld}\n", dtype_name,
         (unsigned long long)written, size);
  return 0;
}
