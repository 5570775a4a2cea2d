// ClipdbError: every failure of the high-level API. `code` is the C status name
// (e.g. 'BAD_MODEL', 'TEXT_TOO_LONG', 'DIMENSION_MISMATCH') or a JS-side name
// ('QUOTA_EXCEEDED', 'MODEL_MISMATCH', ...); `status` the numeric C status where there is one.
export class ClipdbError extends Error {
  constructor(code, message, { status, cause, details } = {}) {
    super(message, cause ? { cause } : undefined);
    this.name = 'ClipdbError';
    this.code = code;
    if (status !== undefined) this.status = status;
    if (details !== undefined) this.details = details;
  }
}

let statusNames = null;

/** Map of status name → number, read from the module (never hard-coded). */
export function statusTable(mod) {
  if (statusNames == null) {
    statusNames = JSON.parse(mod.UTF8ToString(mod._clipdb__wasm_enum_json())).status;
  }
  return statusNames;
}

/** Throw a ClipdbError for a non-zero status, with the C message (clipdb_last_error()). */
export function check(mod, status, what) {
  if (status === 0) return;
  const table = statusTable(mod);
  const code = Object.keys(table).find((k) => table[k] === status) || `STATUS_${status}`;
  const message = mod.UTF8ToString(mod._clipdb_last_error());
  throw new ClipdbError(code, message || `${what}: ${code}`, { status });
}

// The most wasm memory a module can grow to (the build's -sMAXIMUM_MEMORY: the wasm32 limit).
export const WASM_MEMORY_LIMIT = 4 * 1024 * 1024 * 1024;

/**
 * ClipdbError OUT_OF_MEMORY for a failed wasm allocation: the message gives the bytes that
 * were asked for, the module's memory size now and its limit (never the size of some input).
 * @param {object} mod the Emscripten module
 * @param {string} what the call that failed, e.g. 'preprocess'
 * @param {number} requested bytes of the allocation that failed (or the sum of a group of them)
 */
export function outOfMemory(mod, what, requested) {
  const now = mod.HEAPU8 ? mod.HEAPU8.length : 0;
  return new ClipdbError('OUT_OF_MEMORY',
    `${what}: failed to allocate ${requested} bytes of wasm memory (memory is ${now} bytes, at most ${WASM_MEMORY_LIMIT} bytes)`);
}
