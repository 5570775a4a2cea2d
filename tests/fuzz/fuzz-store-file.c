/*
 * libFuzzer target for the CLI's store file reader (src/cli/store-file.c): arbitrary bytes
 * through cli_store_decode. It must never crash, read out of bounds or leak; every refusal must
 * carry a message; and whatever it accepts must encode back to a file that decodes to the same
 * store (same bytes once in canonical order). To get past the checksum, the
 * last input byte, when odd, re-seals the input with a correct FNV-1a before decoding, so the
 * field checks behind the checksum are reached too. Built only when asked (tests/fuzz/README.md
 * gives the cmake line); seeds in tests/fuzz/corpus/store-file/ (a version-1 and a version-2 store):
 *
 *     cmake --build build/fuzz --target fuzz-store-file -j2
 *     mkdir -p build/fuzz/corpus-store && cp -r tests/fuzz/corpus/store-file/. build/fuzz/corpus-store/
 *     build/fuzz/tests/fuzz/fuzz-store-file build/fuzz/corpus-store -max_len=4096 -max_total_time=60
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/store-file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *buf = malloc(size ? size : 1);
  if (buf == NULL) return 0;
  memcpy(buf, data, size);
  if (size >= 20 && (data[size - 1] & 1)) {
    uint64_t h = cli_fnv1a(CLI_FNV_OFFSET, buf, size - 8);
    for (int i = 0; i < 8; i++) buf[size - 8 + i] = (uint8_t)(h >> (8 * i));
  }
  cli_store s;
  char err[CLI_ERR_SIZE];
  err[0] = '\0';
  clipdb_status st = cli_store_decode(buf, size, &s, err);
  if (st != CLIPDB_STATUS_SUCCESS) {
    if (err[0] == '\0' || s.entries != NULL || s.model_path != NULL) abort(); /* unnamed, or not cleared */
    free(buf);
    return 0;
  }
  unsigned char *enc = NULL, *enc2 = NULL;
  size_t n = 0, n2 = 0;
  if (cli_store_encode(&s, &enc, &n, err) != CLIPDB_STATUS_SUCCESS) abort();
  cli_store t;
  if (cli_store_decode(enc, n, &t, err) != CLIPDB_STATUS_SUCCESS) abort(); /* we wrote it */
  if (t.count != s.count || t.dim != s.dim || t.model_size != s.model_size || t.model_hash != s.model_hash) abort();
  if (cli_store_encode(&t, &enc2, &n2, err) != CLIPDB_STATUS_SUCCESS) abort();
  if (n2 != n || memcmp(enc, enc2, n) != 0) abort(); /* canonical: the same store, the same bytes */
  free(enc);
  free(enc2);
  cli_store_clear(&t);
  cli_store_clear(&s);
  free(buf);
  return 0;
}
