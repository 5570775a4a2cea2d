/* gzip (RFC 1952) reading for clipdb's own files (the tokenizer's *.txt.gz). Not installed. */
#ifndef CLIPDB_GZIP_H
#define CLIPDB_GZIP_H

#include <stddef.h>
#include <stdint.h>

#include "../clipdb-impl.h"

/* CRC-32 of ISO 3309 / ITU-T V.42 as gzip uses it (reflected polynomial 0xEDB88320, initial
 * and final XOR 0xFFFFFFFF): crc = clipdb__crc32(0, data, n), or continue with a previous
 * result. */
uint32_t clipdb__crc32(uint32_t crc, const void *data, size_t n);

/*
 * Inflate a whole gzip file data[0..size): one or more members (RFC 1952 section 2.2; their
 * outputs are concatenated, as gzip -d does), zero bytes after the last member ignored.
 * Each member's header is parsed fully (FEXTRA, FNAME, FCOMMENT skipped, FHCRC checked,
 * reserved flag bits refused), its raw DEFLATE stream inflated (stb's inflater, see
 * clipdb__stbi_inflate_raw) and its trailer's CRC-32 and ISIZE (length mod 2^32) checked.
 *
 * On success *out (clipdb__malloc'ed, caller frees with clipdb__free; may be NULL when
 * *out_size is 0) holds *out_size bytes. On failure *out is NULL and the status is
 * `bad_status` (a malformed file: not gzip, unknown method, reserved flags, truncated header,
 * corrupt or truncated deflate data, truncated trailer, CRC-32 or length mismatch, garbage
 * after a member) or CLIPDB_STATUS_OUT_OF_MEMORY, recorded with clipdb__error(handle_err, ...)
 * as "<context>: <reason>" (context e.g. "failed to load tokenizer vocab.txt.gz").
 */
clipdb_status clipdb__gunzip(const uint8_t *data, size_t size, const char *context,
                             clipdb_status bad_status, char *handle_err, char **out,
                             size_t *out_size);

#endif /* CLIPDB_GZIP_H */
