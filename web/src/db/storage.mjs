// Storage adapters: the one tiny interface the database writes through.
//
//   interface StorageAdapter {
//     kind: 'indexeddb' | 'fs' | 'memory';
//     persistent: boolean;                 // survives a restart of the page/process
//     getAll(store): Promise<Array<[key, value]>>;
//     write(ops): Promise<void>;           // atomic: all ops land or none
//                                          //   op = {store, key, value} | {store, key, delete: true}
//     clear(): Promise<void>;              // drop everything (atomic)
//     close(): Promise<void>;
//     persist?(): Promise<boolean|null>;   // browsers: navigator.storage.persist()
//     estimate?(): Promise<{usage, quota}|null>;
//   }
//
// Stores: 'docs' (key "<collection>\u0000<_id>"), 'vectors' (key "<index>\u0000<_id>"),
// 'meta' (vector index definitions, counters). Values are in the stored form (codec.mjs).
// write() is the only mutation and is a single IndexedDB transaction whose requests are all
// issued synchronously, so no transaction ever spans an await of other work (B22).
import { ClipdbError } from '../errors.mjs';
import { toJSONSafe, fromJSONSafe } from './codec.mjs';

export const STORES = ['docs', 'vectors', 'meta'];
const isNode = typeof process !== 'undefined' && process.versions?.node != null;

/** Map a storage failure to a ClipdbError, keeping the original as `cause`. */
export function storageError(err, what, details) {
  if (err instanceof ClipdbError) return err;
  const name = err?.name || '';
  const inner = err?.inner?.name || err?.target?.error?.name || '';
  if (name === 'QuotaExceededError' || inner === 'QuotaExceededError' || err?.code === 'ENOSPC' || err?.code === 22) {
    return new ClipdbError('QUOTA_EXCEEDED', `failed to ${what}: storage quota exceeded (${err?.message || name}); nothing of this write was stored`, { cause: err, details });
  }
  return new ClipdbError('IO', `failed to ${what}: ${name ? name + ': ' : ''}${err?.message || err}`, { cause: err, details });
}

// ---- memory ---------------------------------------------------------------------------------

/** In-memory storage (edge runtimes, tests, private-mode fallback). Nothing survives a restart. */
export function memoryStorage() {
  const maps = Object.fromEntries(STORES.map((s) => [s, new Map()]));
  let closed = false;
  const check = () => { if (closed) throw new ClipdbError('INVALID_STATE', 'storage is closed'); };
  return {
    kind: 'memory',
    persistent: false,
    async getAll(store) { check(); return [...maps[store]].map(([k, v]) => [k, structuredClone(v)]); },
    async write(ops) {
      check();
      const cloned = ops.map((op) => (op.delete ? op : { ...op, value: structuredClone(op.value) }));
      for (const op of cloned) op.delete ? maps[op.store].delete(op.key) : maps[op.store].set(op.key, op.value);
    },
    async clear() { check(); for (const m of Object.values(maps)) m.clear(); },
    async close() { closed = true; },
  };
}

// ---- file system (Node) ---------------------------------------------------------------------

/**
 * File-system storage for Node: one append-only journal `<dir>/<name>.clipdb.jsonl`; each
 * write() is one line (a JSON array of ops, binary as base64) appended with a single write and
 * fdatasync'd. On open the journal is replayed; a torn last line (crash mid-write) is dropped,
 * so each write is atomic. When the journal holds far more lines than live records it is
 * compacted through a temporary file and an atomic rename.
 */
export async function fsStorage({ dir, name = 'clipdb' }) {
  if (!isNode) throw new ClipdbError('UNSUPPORTED', 'the file-system storage adapter needs Node');
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, `${name}.clipdb.jsonl`);
  const maps = Object.fromEntries(STORES.map((s) => [s, new Map()]));
  let lines = 0, validBytes = 0;
  let text = '';
  try { text = await fs.readFile(file, 'utf8'); } catch (e) { if (e.code !== 'ENOENT') throw storageError(e, `read ${file}`); }
  let pos = 0;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    if (nl < 0) break; // torn write: no newline
    let ops;
    try { ops = JSON.parse(text.slice(pos, nl)); } catch { break; }
    for (const op of ops) op.d ? maps[op.s].delete(op.k) : maps[op.s].set(op.k, fromJSONSafe(op.v));
    lines++;
    pos = nl + 1;
  }
  validBytes = Buffer.byteLength(text.slice(0, pos));
  const live = () => STORES.reduce((n, s) => n + maps[s].size, 0);
  async function rewrite() {
    const tmp = `${file}.tmp`;
    const body = STORES.map((s) => [...maps[s]].map(([k, v]) => JSON.stringify([{ s, k, v: toJSONSafe(v) }]) + '\n').join('')).join('');
    await fs.writeFile(tmp, body);
    const h = await fs.open(tmp, 'r+'); await h.datasync(); await h.close();
    await fs.rename(tmp, file);
    lines = live();
  }
  if (pos < text.length || lines > 2 * live() + 100) await rewrite(); // drop torn tail / compact
  else if (validBytes !== Buffer.byteLength(text)) await fs.truncate(file, validBytes);
  let handle = await fs.open(file, 'a');
  let size = (await handle.stat()).size;
  let queue = Promise.resolve();
  let closed = false;
  return {
    kind: 'fs',
    persistent: true,
    file,
    async getAll(store) { return [...maps[store]].map(([k, v]) => [k, structuredClone(v)]); },
    write(ops) {
      const run = async () => {
        if (closed) throw new ClipdbError('INVALID_STATE', 'storage is closed');
        const line = JSON.stringify(ops.map((op) => (op.delete ? { s: op.store, k: op.key, d: 1 } : { s: op.store, k: op.key, v: toJSONSafe(op.value) }))) + '\n';
        const bytes = Buffer.from(line);
        try {
          await handle.write(bytes);
          await handle.datasync();
        } catch (e) {
          await fs.truncate(file, size).catch(() => {}); // drop a partial line so later appends stay readable
          throw storageError(e, `append to ${file}`);
        }
        size += bytes.length;
        for (const op of ops) op.delete ? maps[op.store].delete(op.key) : maps[op.store].set(op.key, structuredClone(op.value));
        lines++;
      };
      const p = queue.then(run, run);
      queue = p.catch(() => {});
      return p;
    },
    async clear() {
      await queue;
      for (const m of Object.values(maps)) m.clear();
      await handle.close(); await rewrite(); handle = await fs.open(file, 'a'); size = (await handle.stat()).size;
    },
    async close() { await queue; if (!closed) { closed = true; await handle.close(); } },
  };
}

// ---- IndexedDB (browsers) -------------------------------------------------------------------

/**
 * IndexedDB storage through the `idb` package: database `name`, version 1, object stores
 * docs/vectors/meta. Errors: ClipdbError 'STORAGE_UNAVAILABLE' (no indexedDB, private mode,
 * open failed), 'BLOCKED' (another tab holds an older version open), 'QUOTA_EXCEEDED' on
 * writes (the transaction is aborted, so nothing of that write is stored).
 */
export async function indexedDBStorage({ name = 'clipdb', indexedDB: idbFactory = globalThis.indexedDB, blockedTimeoutMs = 3000 } = {}) {
  if (idbFactory == null) throw new ClipdbError('STORAGE_UNAVAILABLE', 'IndexedDB is not available in this environment (private mode, worker or edge runtime)');
  const { openDB } = await import('idb');
  let db;
  let closed = false;
  try {
    db = await new Promise((resolve, reject) => {
      let settled = false;
      let timer = null;
      const p = openDB(name, 1, {
        upgrade(d) { for (const s of STORES) if (!d.objectStoreNames.contains(s)) d.createObjectStore(s); },
        terminated() { closed = true; }, // the browser closed the connection (e.g. storage cleared)
        blocked() {
          timer = setTimeout(() => {
            if (settled) return;
            settled = true;
            reject(new ClipdbError('BLOCKED', `IndexedDB database '${name}' is blocked: another tab keeps an older version open; close it and retry`));
          }, blockedTimeoutMs);
        },
      });
      p.then((d) => {
        if (timer) clearTimeout(timer);
        if (settled) { d.close(); return; }
        settled = true; resolve(d);
      }, (e) => { if (timer) clearTimeout(timer); if (!settled) { settled = true; reject(e); } });
    });
  } catch (e) {
    if (e instanceof ClipdbError) throw e;
    throw new ClipdbError('STORAGE_UNAVAILABLE', `failed to open IndexedDB database '${name}': ${e?.name || ''} ${e?.message || e}`, { cause: e });
  }
  // Another tab asks for a newer version: let it proceed instead of blocking it forever.
  db.addEventListener('versionchange', () => { db.close(); closed = true; });
  const check = () => { if (closed) throw new ClipdbError('INVALID_STATE', `IndexedDB database '${name}' was closed (a newer version was opened elsewhere)`); };
  const estimate = async () => {
    try { return globalThis.navigator?.storage?.estimate ? await navigator.storage.estimate() : null; } catch { return null; }
  };
  return {
    kind: 'indexeddb',
    persistent: true,
    async getAll(store) {
      check();
      try {
        const tx = db.transaction(store, 'readonly');
        const [keys, values] = await Promise.all([tx.store.getAllKeys(), tx.store.getAll(), tx.done]);
        return keys.map((k, i) => [k, values[i]]);
      } catch (e) { throw storageError(e, `read IndexedDB store ${store}`); }
    },
    async write(ops) {
      check();
      let tx;
      try {
        tx = db.transaction(STORES, 'readwrite', { durability: 'strict' });
        // All requests are issued synchronously; the transaction commits when they finish.
        for (const op of ops) {
          const st = tx.objectStore(op.store);
          (op.delete ? st.delete(op.key) : st.put(op.value, op.key)).catch(() => {}); // tx.done reports
        }
        await tx.done;
      } catch (e) {
        const err = e?.name === 'AbortError' && tx?.error ? tx.error : e;
        throw storageError(err, 'write to IndexedDB', err?.name === 'QuotaExceededError' ? { estimate: await estimate() } : undefined);
      }
    },
    async clear() {
      check();
      try {
        const tx = db.transaction(STORES, 'readwrite');
        for (const s of STORES) tx.objectStore(s).clear().catch(() => {});
        await tx.done;
      } catch (e) { throw storageError(e, 'clear IndexedDB'); }
    },
    async close() { if (!closed) { closed = true; db.close(); } },
    async persist() {
      try { return globalThis.navigator?.storage?.persist ? await navigator.storage.persist() : null; } catch { return null; }
    },
    estimate,
  };
}

/**
 * Open storage by kind. `kind`: an adapter object (used as is), 'indexeddb', 'fs', 'memory' or
 * 'auto' (IndexedDB where it exists, else the file system in Node when `dir` is given, else
 * memory). If IndexedDB was asked for (or chosen by 'auto') and cannot be opened, falls back
 * to memory unless `fallback` is false, and returns the reason (B21).
 * @returns {Promise<{adapter, persistent: boolean, reason?: string, error?: ClipdbError}>}
 */
export async function openStorage({ storage = 'auto', name = 'clipdb', dir, fallback = true, indexedDB } = {}) {
  if (storage != null && typeof storage === 'object') return { adapter: storage, persistent: Boolean(storage.persistent) };
  let kind = storage;
  if (kind === 'auto') kind = (indexedDB || globalThis.indexedDB) ? 'indexeddb' : (isNode && dir ? 'fs' : 'memory');
  if (kind === 'memory') return { adapter: memoryStorage(), persistent: false, reason: 'memory storage was requested' };
  if (kind === 'fs') return { adapter: await fsStorage({ dir, name }), persistent: true };
  if (kind === 'indexeddb') {
    try {
      const adapter = await indexedDBStorage({ name, indexedDB: indexedDB || globalThis.indexedDB });
      return { adapter, persistent: true };
    } catch (e) {
      if (!fallback || e.code === 'BLOCKED') throw e;
      return { adapter: memoryStorage(), persistent: false, reason: e.message, error: e };
    }
  }
  throw new ClipdbError('INVALID_ARGUMENT', `unknown storage '${storage}': expected 'indexeddb', 'fs', 'memory', 'auto' or an adapter`);
}
