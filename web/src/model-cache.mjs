// Model files kept in IndexedDB, keyed by URL, so that reloads and offline use need no network
// (FIELD.md (b)1: users ask for durable model storage, not only the HTTP cache / Cache API).
//
// One IndexedDB database (default 'clipdb-models'), one object store 'files':
//   key   the absolute URL the file was fetched from
//   value {url, name, size, sha256, chunkSize, chunks, data: Blob, storedAt}
// The file is kept and handed back as a Blob (IndexedDB stores Blobs natively), never read into
// one ArrayBuffer: inside a Worker, loadModel() streams a Blob slice by slice (engine.mjs), so the
// peak stays the packed weights plus one tensor (README "Streaming model load").
//
// Integrity (CASES.md B20: a file whose write failed is never treated as cached). A record is
// trusted only if its Blob has the recorded size and every `chunkSize` (default 4 MiB) slice has the
// SHA-256 recorded in `chunks` when the record was written. Why per-slice digests rather than
// the whole file's: Web Crypto digests a whole message at once, so checking the file's SHA-256
// would need the file in memory (the copy streaming avoids) or a SHA-256 in JavaScript
// (sha256.mjs: exact, but far slower than the native digest on every cached load). Slices are
// digested natively, one slice in memory at a time. The collision trade-off: none beyond
// SHA-256's own. A corrupted record passes only if some slice collides with its recorded
// SHA-256, and the slice list is bound to the file's `sha256` (the model identifier) because
// both were computed from the same bytes when the record was written. Records written before
// `chunks` existed (whole-file `sha256` only) are checked with the streaming JS SHA-256.
// A slice read that makes no progress for `readTimeoutMs` is abandoned and the file fetched
// again (B20: cached reads that hang forever); such a record is kept, since the read may
// succeed next time. Records failing the size or digest check are deleted.
import { ClipdbError } from './errors.mjs';
import { Sha256, toHex } from './sha256.mjs';

const STORE = 'files';
/** Bytes per verified slice of a cached Blob (and per read when hashing a Blob). */
export const CHUNK_SIZE = 4 << 20;

function abortError(signal) {
  return new ClipdbError('ABORTED', 'the operation was aborted', { cause: signal?.reason });
}

function bytesOf(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

const isBlob = (x) => typeof Blob !== 'undefined' && x instanceof Blob;

/** Size in bytes of an ArrayBuffer, typed array or Blob. */
export function byteSize(data) {
  return isBlob(data) ? data.size : data.byteLength;
}

async function subtleHex(bytes) {
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)));
}

/**
 * Lower-case hex SHA-256 of `data`: an ArrayBuffer / typed array (Web Crypto, one call), or a
 * Blob/File, read `chunkSize` (default CHUNK_SIZE) slices at a time through the incremental SHA-256 of sha256.mjs (so
 * the Blob is never held whole; slower than Web Crypto). Same digest either way.
 */
export async function sha256Hex(data, { signal, chunkSize = CHUNK_SIZE } = {}) {
  if (isBlob(data)) {
    const step = checkChunkSize(chunkSize);
    const h = new Sha256();
    for (let off = 0; off < data.size; off += step) {
      if (signal?.aborted) throw abortError(signal);
      h.update(await data.slice(off, off + step).arrayBuffer());
    }
    return toHex(h.digest());
  }
  const bytes = bytesOf(data);
  if (!bytes) throw new ClipdbError('INVALID_ARGUMENT', 'sha256Hex: data must be an ArrayBuffer, typed array or Blob');
  return subtleHex(bytes);
}

function checkChunkSize(n) {
  if (!Number.isSafeInteger(n) || n < 64 || n > (1 << 30)) throw new ClipdbError('INVALID_ARGUMENT', `chunkSize ${n} is not a byte count from 64 to 1 GiB`);
  return n;
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new ClipdbError('TIMEOUT', `${what} made no progress for ${ms} ms`)), ms); }),
  ]);
}

/**
 * Open the model cache. Resolves to null where IndexedDB cannot be opened (private mode,
 * edge runtimes): callers then simply fetch every time.
 * `chunkSize` (default CHUNK_SIZE, 4 MiB): bytes per slice digested when a file is stored and
 * read back when it is checked (memory per read vs number of reads); a record keeps the size
 * it was written with.
 * @param {{name?: string, idb?: object, indexedDB?: IDBFactory, readTimeoutMs?: number, chunkSize?: number, log?: (msg: string) => void}} [options]
 */
export async function openModelCache({ name = 'clipdb-models', idb, indexedDB = globalThis.indexedDB, readTimeoutMs = 15000, chunkSize = CHUNK_SIZE, log = () => {} } = {}) {
  checkChunkSize(chunkSize);
  if (indexedDB == null) return null;
  let db;
  try {
    const { openDB } = idb ?? await import('idb');
    db = await openDB(name, 1, { upgrade(d) { if (!d.objectStoreNames.contains(STORE)) d.createObjectStore(STORE); } });
  } catch (e) {
    log(`model cache unavailable: ${e?.name || ''} ${e?.message || e}`);
    return null;
  }
  return {
    /**
     * The cached file of `url` as {data: Blob, sha256, name}, or null: absent, failing its size or
     * slice-digest check (then deleted), or a slice unreadable within readTimeoutMs (kept).
     */
    async get(url) {
      let rec;
      try { rec = await db.get(STORE, url); } catch (e) { log(`model cache read of ${url} failed: ${e?.message || e}`); return null; }
      if (!rec) return null;
      const drop = async (why) => { log(`model cache: ignoring ${url}: ${why}`); try { await db.delete(STORE, url); } catch { /* best effort */ } return null; };
      if (!isBlob(rec.data) || rec.data.size !== rec.size) return drop(`size ${rec.data?.size} != recorded ${rec.size}`);
      const blob = rec.data;
      const chunked = Number.isSafeInteger(rec.chunkSize) && rec.chunkSize > 0 && Array.isArray(rec.chunks)
        && rec.chunks.length === Math.ceil(rec.size / rec.chunkSize);
      const step = chunked ? rec.chunkSize : chunkSize;
      const whole = chunked ? null : new Sha256();
      for (let off = 0, i = 0; off < rec.size; off += step, i++) {
        const end = Math.min(off + step, rec.size);
        let buf;
        try {
          buf = await withTimeout(blob.slice(off, end).arrayBuffer(), readTimeoutMs, `reading ${url} from IndexedDB`);
        } catch (e) { log(`model cache: ${e.message}; fetching again`); return null; }
        if (buf.byteLength !== end - off) return drop(`read ${buf.byteLength} bytes at ${off}, expected ${end - off} of recorded ${rec.size}`);
        if (chunked) {
          if (rec.chunks[i] !== await subtleHex(buf)) return drop(`SHA-256 differs from the one recorded when it was stored (bytes ${off}-${end - 1})`);
        } else whole.update(buf);
      }
      if (!chunked && rec.sha256 !== toHex(whole.digest())) return drop('SHA-256 differs from the one recorded when it was stored');
      return { data: blob, sha256: rec.sha256, name: rec.name };
    },
    /**
     * Store `data` (ArrayBuffer, typed array or Blob; bytes are copied into a Blob) for `url`;
     * `sha256` is the whole file's, computed when not given. Resolves true once the
     * transaction committed; failures are logged and resolve false, never thrown.
     */
    async put(url, name, data, sha256) {
      try {
        const blob = isBlob(data) ? data : new Blob([bytesOf(data)]);
        const bytes = isBlob(data) ? null : bytesOf(data);
        const chunks = [];
        const whole = sha256 == null && bytes == null ? new Sha256() : null;
        for (let off = 0; off < blob.size; off += chunkSize) {
          const part = bytes ? bytes.subarray(off, off + chunkSize) : new Uint8Array(await blob.slice(off, off + chunkSize).arrayBuffer());
          chunks.push(await subtleHex(part));
          whole?.update(part);
        }
        const rec = { url, name, size: blob.size, sha256: sha256 ?? (whole ? toHex(whole.digest()) : await subtleHex(bytes)), chunkSize, chunks, data: blob, storedAt: Date.now() };
        await db.put(STORE, rec, url);
        return true;
      } catch (e) { log(`model cache write of ${url} failed (${e?.name || ''} ${e?.message || e}); it will be fetched again next time`); return false; }
    },
    /** [{url, name, size, storedAt}] of every cached file. */
    async list() {
      const recs = await db.getAll(STORE);
      return recs.map(({ url, name, size, storedAt }) => ({ url, name, size, storedAt }));
    },
    async delete(url) { await db.delete(STORE, url); },
    async clear() { await db.clear(STORE); },
    close() { db.close(); },
  };
}

/**
 * Fetch `url` with byte progress. Resolves to an ArrayBuffer, or null when `optional` and the
 * file is missing (HTTP 404) or unreachable. Throws ClipdbError 'IO' (network error or other HTTP status), 'ABORTED'.
 */
export async function fetchWithProgress(url, { signal, onProgress, optional = false, fetch: fetchFn = globalThis.fetch, onMiss } = {}) {
  let res;
  try { res = await fetchFn(url, { signal }); } catch (e) {
    if (signal?.aborted) throw abortError(signal);
    // Offline, an unreachable host, or a server that does not let this page read it (CORS):
    // the browser reports all three as the same network error.
    if (optional) { onMiss?.({ url, why: `unreachable, or the server does not allow this page to read it (CORS): ${e?.message || e}` }); return null; }
    throw new ClipdbError('IO', `failed to fetch ${url}: ${e?.message || e} (offline, and not in the model cache?)`, { cause: e });
  }
  if (res.status === 404 && optional) { onMiss?.({ url, why: 'HTTP 404 (not found)' }); return null; }
  if (!res.ok) throw new ClipdbError('IO', `failed to fetch ${url}: HTTP ${res.status}`);
  const total = Number(res.headers.get('content-length')) || 0;
  if (!res.body) { const b = await res.arrayBuffer(); onProgress?.({ loaded: b.byteLength, total: b.byteLength }); return b; }
  const reader = res.body.getReader();
  const chunks = [];
  let loaded = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.byteLength;
      onProgress?.({ loaded, total });
    }
  } catch (e) {
    if (signal?.aborted) throw abortError(signal);
    throw new ClipdbError('IO', `failed to read ${url}: ${e?.message || e}`, { cause: e });
  }
  if (total && loaded !== total) throw new ClipdbError('IO', `${url}: received ${loaded} of ${total} bytes`);
  const out = new Uint8Array(loaded);
  let off = 0;
  for (const c of chunks) { out.set(c, off); off += c.byteLength; }
  return out.buffer;
}

/**
 * Get model files by URL: from the cache when present and intact, else from the network (then
 * stored in the cache). `files`: [{name, url, optional?}]; optional files missing on the
 * server (HTTP 404) are left out. Every file comes back as a Blob (the cached one, or the
 * downloaded bytes wrapped once), ready for loadModel() to stream inside a Worker.
 * Progress: {file, loaded, total, source: 'cache'|'network'}. `onMiss({name, url, why})` is
 * called for each optional file left out (HTTP 404, or unreachable / not readable under CORS).
 * @returns {Promise<Array<{name: string, url: string, data: Blob, sha256: string, source: 'cache'|'network'}>>}
 */
export async function getModelFiles(files, { cache = null, signal, onProgress, fetch: fetchFn, onMiss } = {}) {
  const out = [];
  for (const f of files) {
    if (signal?.aborted) throw abortError(signal);
    const url = String(f.url);
    const hit = cache ? await cache.get(url) : null;
    if (hit) {
      onProgress?.({ file: f.name, loaded: hit.data.size, total: hit.data.size, source: 'cache' });
      out.push({ name: f.name, url, data: hit.data, sha256: hit.sha256, source: 'cache' });
      continue;
    }
    let bytes = await fetchWithProgress(url, { signal, optional: f.optional, fetch: fetchFn, onMiss: (m) => onMiss?.({ name: f.name, ...m }), onProgress: (p) => onProgress?.({ file: f.name, ...p, source: 'network' }) });
    if (bytes == null) continue;
    const sha256 = await subtleHex(new Uint8Array(bytes));
    const data = new Blob([bytes]);
    bytes = null; // the Blob holds the only copy from here on
    if (cache) await cache.put(url, f.name, data, sha256);
    out.push({ name: f.name, url, data, sha256, source: 'network' });
  }
  return out;
}
