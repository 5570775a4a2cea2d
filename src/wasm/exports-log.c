/*
 * Library log messages to JS (web/src/binding.mjs clipdb_log_set): a C callback that hands
 * each message to `Module.clipdbLog(level, text)` when that function exists. JS cannot pass
 * a function pointer without a growable table, so the binding switches this fixed callback
 * on and off instead.
 */
#include <emscripten.h>

#include "clipdb-impl.h"

EM_JS(void, clipdb__js_log, (int32_t level, const char *message), {
  var log = Module['clipdbLog'];
  if (typeof log === 'function') log(level, UTF8ToString(message));
});

static void js_log(clipdb_log_level level, const char *message, void *user_data) {
  (void)user_data;
  clipdb__js_log((int32_t)level, message);
}

/* on != 0: route clipdb's log to Module.clipdbLog; 0: discard (the library default). */
CLIPDB_API void clipdb__wasm_log_enable(int32_t on) {
  clipdb_log_set(on ? js_log : NULL, NULL);
}
