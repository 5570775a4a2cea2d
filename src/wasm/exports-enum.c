/*
 * Flat wasm exports that are not in include/clipdb.h: helpers for the JS binding
 * (web/src/binding.mjs). Names carry the clipdb__wasm_ prefix.
 */
#include <stdio.h>

#include "clipdb-impl.h"

/* Constants the JS side must never hard-code, as a JSON object (static string). */
CLIPDB_API const char *clipdb__wasm_enum_json(void) {
  static char json[1024];
  if (json[0] == '\0') {
    int n = snprintf(json, sizeof json, "{\"status\":{");
    for (int s = 0; s <= CLIPDB_STATUS_BAD_VECTOR; s++)
      n += snprintf(json + n, sizeof json - n, "%s\"%s\":%d", s ? "," : "",
                    clipdb_status_string((clipdb_status)s), s);
    snprintf(json + n, sizeof json - n,
             "},\"exif\":{\"ignore\":%d,\"apply\":%d},\"backend\":\"%s\",\"version\":\"%d.%d.%d\"}",
             CLIPDB_EXIF_IGNORE, CLIPDB_EXIF_APPLY, clipdb_backend_name(), CLIPDB_VERSION_MAJOR,
             CLIPDB_VERSION_MINOR, CLIPDB_VERSION_PATCH);
  }
  return json;
}
