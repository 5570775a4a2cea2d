/* Status strings, per-thread and per-handle error messages, logging. */
#include <stdio.h>
#include <string.h>

#include "../clipdb-impl.h"

static _Thread_local char thread_error[CLIPDB__ERROR_SIZE];

static clipdb_log_callback log_callback;
static void *log_user_data;

const char *clipdb_status_string(clipdb_status status) {
  switch (status) {
    case CLIPDB_STATUS_SUCCESS: return "SUCCESS";
    case CLIPDB_STATUS_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case CLIPDB_STATUS_INVALID_STATE: return "INVALID_STATE";
    case CLIPDB_STATUS_OUT_OF_MEMORY: return "OUT_OF_MEMORY";
    case CLIPDB_STATUS_BAD_MODEL: return "BAD_MODEL";
    case CLIPDB_STATUS_BAD_IMAGE: return "BAD_IMAGE";
    case CLIPDB_STATUS_UNSUPPORTED: return "UNSUPPORTED";
    case CLIPDB_STATUS_IO: return "IO";
    case CLIPDB_STATUS_ABORTED: return "ABORTED";
    case CLIPDB_STATUS_TEXT_TOO_LONG: return "TEXT_TOO_LONG";
    case CLIPDB_STATUS_BAD_VOCAB: return "BAD_VOCAB";
    case CLIPDB_STATUS_DIMENSION_MISMATCH: return "DIMENSION_MISMATCH";
    case CLIPDB_STATUS_NOT_FOUND: return "NOT_FOUND";
    case CLIPDB_STATUS_IMAGE_TOO_LARGE: return "IMAGE_TOO_LARGE";
    case CLIPDB_STATUS_BAD_VECTOR: return "BAD_VECTOR";
  }
  return "UNKNOWN_STATUS";
}

const char *clipdb_last_error(void) { return thread_error; }

clipdb_status clipdb__error(char *handle_buf, clipdb_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(thread_error, sizeof thread_error, fmt, ap);
  va_end(ap);
  /* Out of memory: say what was asked for and what the library held, whatever the caller's
   * message quotes (an input's size is not the request that failed). */
  const size_t failed = clipdb__take_failed_request();
  if (status == CLIPDB_STATUS_OUT_OF_MEMORY && failed != 0 && len >= 0 &&
      (size_t)len < sizeof thread_error) {
#if defined(__EMSCRIPTEN__)
    const char *limit = "; wasm memory is limited to 4 GiB";
#else
    const char *limit = "";
#endif
    if (failed == SIZE_MAX)
      snprintf(thread_error + len, sizeof thread_error - (size_t)len,
               " (a request larger than the address space failed; the library held %zu bytes%s)",
               clipdb_allocated_bytes(), limit);
    else
      snprintf(thread_error + len, sizeof thread_error - (size_t)len,
               " (a request for %zu bytes failed; the library held %zu bytes%s)", failed,
               clipdb_allocated_bytes(), limit);
  }
  if (handle_buf != NULL) memcpy(handle_buf, thread_error, CLIPDB__ERROR_SIZE);
  if (log_callback != NULL) log_callback(CLIPDB_LOG_LEVEL_DEBUG, thread_error, log_user_data);
  return status;
}

void clipdb_log_set(clipdb_log_callback callback, void *user_data) {
  log_callback = callback;
  log_user_data = user_data;
}

void clipdb__log(clipdb_log_level level, const char *fmt, ...) {
  if (log_callback == NULL) return;
  char msg[CLIPDB__ERROR_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  log_callback(level, msg, log_user_data);
}
