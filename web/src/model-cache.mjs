// Model files kept in IndexedDB, keyed by URL, so that reloads and offline use need no network
// (FIELD.md (b)1: users ask for durable model storage, not only the HTTP cache / Cache API).
//
// One IndexedDB database (default 'clipdb-models'), one object store 'files':
//   key   the absolute URL the file was fetched from
//   value {url, name, size, sha256, data: Blob, storedAt}
// A record is trusted only if its Blob has the recorded size and its SHA-256 matches (CASES.md
// B20: a file whose write failed is never treated as cached); a read that makes no progress for
// `readTimeoutMs` is abandoned and the file fetched again (B20: cached reads that hang forever).
import { ClipdbError } from './errors.mjs';

const STORE = 'files';

function abortError(signal) {
  return new ClipdbError('ABORTED', 'the operation was aborted', { cause: signal?.reason });
}

/** Lower-case hex SHA-256 of `bytes` (Web Crypto; browsers, Workers and Node 20). */
export async function sha256Hex(bytes) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  let s = '';
  for (const b of d) s += b.toString(16).padStart(2, '0');
  return s;
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
 * @param {{name?: string, idb?: object, indexedDB?: IDBFactory, readTimeoutMs?: number, log?: (msg: string) => void}} [options]
 */
export async function openModelCache({ name = 'clipdb-models', idb, indexedDB = globalThis.indexedDB, readTimeoutMs = 15000, log = () => {} } = {}) {
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
    /** The cached bytes of `url` (ArrayBuffer), or null if absent or failing its size/hash check (then it is deleted). */
    async get(url) {
      let rec;
      try { rec = await db.get(STORE, url); } catch (e) { log(`model cache read of ${url} failed: ${e?.message || e}`); return null; }
      if (!rec) return null;
      const drop = async (why) => { log(`model cache: ignoring ${url}: ${why}`); try { await db.delete(STORE, url); } catch { /* best effort */ } return null; };
      if (!(rec.data instanceof Blob) || rec.data.size !== rec.size) return drop(`size ${rec.data?.size} != recorded ${rec.size}`);
      let buf;
      try { buf = await withTimeout(rec.data.arrayBuffer(), readTimeoutMs, `reading ${url} from IndexedDB`); } catch (e) { log(`model cache: ${e.message}; fetching again`); return null; }
      if (buf.byteLength !== rec.size) return drop(`read ${buf.byteLength} bytes, recorded ${rec.size}`);
      if (rec.sha256 !== await sha256Hex(buf)) return drop('SHA-256 differs from the one recorded when it was stored');
      return { data: buf, sha256: rec.sha256, name: rec.name };
    },
    /** Store `data` (ArrayBuffer) for `url`; resolves once the transaction committed. Failures are logged, not thrown. */
    async put(url, name, data, sha256) {
      try {
        const rec = { url, name, size: data.byteLength, sha256: sha256 ?? await sha256Hex(data), data: new Blob([data]), storedAt: Date.now() };
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
export async function fetchWithProgress(url, { signal, onProgress, optional = false, fetch: fetchFn = globalThis.fetch } = {}) {
  let res;
  try { res = await fetchFn(url, { signal }); } catch (e) {
    if (signal?.aborted) throw abortError(signal);
    if (optional) return null; // offline probing for files a model may not have
    throw new ClipdbError('IO', `failed to fetch ${url}: ${e?.message || e} (offline, and not in the model cache?)`, { cause: e });
  }
  if (res.status === 404 && optional) return null;
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
 * server (HTTP 404) are left out. Progress: {file, loaded, total, source: 'cache'|'network'}.
 * @returns {Promise<Array<{name: string, url: string, data: ArrayBuffer, sha256: string, source: 'cache'|'network'}>>}
 */
export async function getModelFiles(files, { cache = null, signal, onProgress, fetch: fetchFn } = {}) {
  const out = [];
  for (const f of files) {
    if (signal?.aborted) throw abortError(signal);
    const url = String(f.url);
    const hit = cache ? await cache.get(url) : null;
    if (hit) {
      onProgress?.({ file: f.name, loaded: hit.data.byteLength, total: hit.data.byteLength, source: 'cache' });
      out.push({ name: f.name, url, data: hit.data, sha256: hit.sha256, source: 'cache' });
      continue;
    }
    const data = await fetchWithProgress(url, { signal, optional: f.optional, fetch: fetchFn, onProgress: (p) => onProgress?.({ file: f.name, ...p, source: 'network' }) });
    if (data == null) continue;
    const sha256 = await sha256Hex(data);
    if (cache) await cache.put(url, f.name, data, sha256);
    out.push({ name: f.name, url, data, sha256, source: 'network' });
  }
  return out;
}
