// Storage adapters: the one small interface the database reads and writes through.
//
//   interface StorageAdapter {
//     kind: 'indexeddb' | 'fs' | 'memory';
//     persistent: boolean;                        // survives a restart of the page/process
//     getAll(store, prefix?): Promise<Array<[key, value]>>   // key order; prefix: keys starting with it
//     keys(store, prefix?): Promise<string[]>                 // key order
//     get(store, key, options?): Promise<value | undefined>
//                                                 // options.vectorsInto(byteLength) → Uint8Array:
//                                                 //   a 'vectors' record's floats may be read into
//                                                 //   that (reused) memory, so an open of a big
//                                                 //   index allocates no fresh buffer per chunk;
//                                                 //   the record's `vectors` is then a view on it
//                                                 // options.planesInto(byteLength) → Uint8Array:
//                                                 //   if the record has compact planes, read them
//                                                 //   (into that memory; `planes` a view on it)
//                                                 //   and not its floats (`vectors` left out)
//     lastKey(store, prefix): Promise<string | undefined>
//     write(ops): Promise<void>;                  // atomic: all ops land or none
//                                                 //   op = {store, key, value} | {store, key, delete: true}
//     close(): Promise<void>;
//     persist?(): Promise<boolean|null>;          // browsers: navigator.storage.persist()
//     estimate?(): Promise<{usage, quota}|null>;
//     migrated?: {from: number, documents: number} // set when open converted an older layout
//   }
//
// Stores (layout version 2; see README.md in this folder):
//   docs     "<collection>\0<10-digit page>" → {docs: [{doc, seq}, ...]}  small fields of up to 512
//            documents per record (doc-pages.mjs)
//   pending  "<collection>\0<t><_id>" (t = 's' string _id | 'n' number) → [vector index names
//            that still owe the document a vector]
//   blobs    "<collection>\0<t><_id>\0<path>" → {as, type?, width?, height?, data: Blob|Uint8Array}
//   vectors  "<index>\0<model>\0<seq, 12 digits>" → {ids: [t<_id>...], vectors: Float32Array|null, del: [t<_id>...],
//            planes?: Uint8Array, planesVersion?: 1}  (planes: the compact rows of `vectors`,
//            clipdb_index_compact_encode, kept beside full records of compact indexes)
//   meta     "vectorIndex\0<name>" → index definition; "format" → {version: 2}
// Opening a store reads docs, pending and meta only; vectors are read when their vector index
// is added, binary fields when a caller asks for a document.
//
// write() is the only mutation. In IndexedDB it is a single transaction whose requests are all
// issued synchronously, so no transaction ever spans an await of other work (a transaction left
// idle while the page awaits something else commits early in IndexedDB, which would split it).
import { ClipdbError } from '../errors.mjs';
import { convertV1Doc, idKey } from './layout.mjs';
import { PAGE_DOCS, pageKey } from './doc-pages.mjs';
import { fromJSONSafe } from './codec.mjs';

export const STORES = ['docs', 'pending', 'blobs', 'vectors', 'meta'];
// IndexedDB object store names (version 1 used 'docs' and 'vectors' for other layouts).
const IDB_NAMES = { docs: 'docs-v2', pending: 'pending', blobs: 'blobs', vectors: 'vectors-v2', meta: 'meta' };
export const LAYOUT_VERSION = 2;
const hasBlob = typeof Blob !== 'undefined';
const isNode = typeof process !== 'undefined' && process.versions?.node != null && typeof process.cwd === 'function';
const END = '\uffff';

/** Map a storage failure to a ClipdbError, keeping the original as `cause`. */
export function storageError(err, what, details) {
  if (err instanceof ClipdbError) return err;
  const name = err?.name || '';
  const inner = err?.inner?.name || err?.target?.error?.name || err?.cause?.code || '';
  if (name === 'QuotaExceededError' || inner === 'QuotaExceededError' || err?.code === 'ENOSPC' || inner === 'ENOSPC' || err?.code === 22 || /No space left/i.test(err?.message || '')) {
    const e = new ClipdbError('QUOTA_EXCEEDED', `failed to ${what}: storage quota exceeded (${err?.message || name}); nothing of this write was stored`, { cause: err, details });
    e.name = 'QuotaExceededError'; // the platform's name, so code written for IndexedDB's error recognises it
    return e;
  }
  if (err?.code === 'LEVEL_LOCKED' || inner === 'LEVEL_LOCKED' || /lock/i.test(err?.cause?.message || '') && err?.code === 'LEVEL_DATABASE_NOT_OPEN') {
    return new ClipdbError('BLOCKED', `failed to ${what}: the store is open in another process (${err?.cause?.message || err?.message})`, { cause: err, details });
  }
  return new ClipdbError('IO', `failed to ${what}: ${name ? name + ': ' : ''}${err?.message || err}`, { cause: err, details });
}

function corrupt(where, why, cause) {
  return new ClipdbError('CORRUPT', `the store is damaged: ${where}: ${why}; nothing was changed (restore a backup, or export what is readable)`, { cause, details: { where } });
}

const inPrefix = (k, prefix) => prefix == null || (k >= prefix && k < prefix + END);

// ---- memory ---------------------------------------------------------------------------------

/** In-memory storage (edge runtimes, tests, private-mode fallback). Nothing survives a restart. */
export function memoryStorage() {
  const maps = Object.fromEntries(STORES.map((s) => [s, new Map()]));
  let closed = false;
  const check = () => { if (closed) throw new ClipdbError('INVALID_STATE', 'storage is closed'); };
  const sorted = (store, prefix) => [...maps[store].keys()].filter((k) => inPrefix(k, prefix)).sort();
  const copy = (v) => (hasBlob && v?.data instanceof Blob ? { ...structuredClone({ ...v, data: null }), data: v.data } : structuredClone(v));
  return {
    kind: 'memory',
    persistent: false,
    async getAll(store, prefix) { check(); return sorted(store, prefix).map((k) => [k, copy(maps[store].get(k))]); },
    async keys(store, prefix) { check(); return sorted(store, prefix); },
    async get(store, key) { check(); const v = maps[store].get(key); return v === undefined ? undefined : copy(v); },
    async lastKey(store, prefix) { check(); return sorted(store, prefix).at(-1); },
    async write(ops) {
      check();
      const cloned = ops.map((op) => (op.delete ? op : { ...op, value: copy(op.value) }));
      for (const op of cloned) op.delete ? maps[op.store].delete(op.key) : maps[op.store].set(op.key, op.value);
    },
    async close() { closed = true; },
  };
}

// ---- file system (Node): LevelDB through classic-level ----------------------------------------

/**
 * File-system storage for Node: a LevelDB database in the folder `<dir>/<name>.clipdb/`
 * (classic-level). Each write() is one atomic LevelDB batch written with `sync: true`, so a
 * write that resolved survives a crash or power loss, and one that failed left nothing.
 * Values are serialised with Node's structured serialiser (v8.serialize); a record that does not
 * deserialise is a 'CORRUPT' error naming its key, and nothing is rewritten. A second process
 * opening the same store gets 'BLOCKED' (LevelDB's lock).
 *
 * Binary fields (images) are files under `<dir>/<name>.clipdb.blobs/`, each written under a new
 * unique name and fsync'd before the batch that refers to it commits, and removed after the
 * batch that drops the reference commits; so a crash leaves at worst an unreferenced file, never
 * a reference to a missing or half-written one. Keeping the bytes out of LevelDB keeps its files
 * small (opening reads only small records) and lets get() hand back a disk-backed Blob
 * (fs.openAsBlob): a result's image is read when the caller reads the Blob. A vector chunk whose
 * floats take 64 KiB or more goes the same way (its floats in a file of its own, read back with
 * one read): LevelDB then neither rewrites megabytes of floats in its compactions nor maps them
 * into the process when a store is opened. Chunks written before this stay in LevelDB and read
 * as they are.
 *
 * A store written by clipdb 0.1 (the journal `<dir>/<name>.clipdb.jsonl`) is converted on first
 * open, streaming the journal (never held whole); the journal is then renamed to
 * `<name>.clipdb.jsonl.v1-backup` and kept. A damaged line inside the journal stops the
 * conversion with 'CORRUPT' naming the line; a torn last line (a crash mid-append) is ignored,
 * as clipdb 0.1 itself did.
 */
/** A vector chunk whose floats take at least this many bytes is kept in a file ('fs' adapter). */
const VECTOR_FILE_BYTES = 64 << 10;

export async function fsStorage({ dir, name = 'clipdb' } = {}) {
  if (!isNode) throw new ClipdbError('UNSUPPORTED', 'the file-system storage adapter needs Node');
  if (typeof dir !== 'string' || dir === '') throw new ClipdbError('INVALID_ARGUMENT', "the 'fs' storage needs a dir (folder path)");
  const [fs, path, v8, { ClassicLevel }] = await Promise.all([
    import('node:fs/promises'), import('node:path'), import('node:v8'), import('classic-level'),
  ]);
  await fs.mkdir(dir, { recursive: true });
  const location = path.join(dir, `${name}.clipdb`);
  const db = new ClassicLevel(location, { keyEncoding: 'utf8', valueEncoding: 'view' });
  try { await db.open(); } catch (e) {
    // LevelDB reports a full disk on open only in its cause's message.
    if (/No space left|ENOSPC/i.test(`${e?.cause?.message ?? ''} ${e?.message ?? ''}`)) {
      throw new ClipdbError('QUOTA_EXCEEDED', `failed to open ${location}: the disk is full (${e.cause?.message ?? e.message}); free some space and open it again — nothing stored was changed`, { cause: e });
    }
    throw storageError(e, `open ${location}`);
  }
  const sk = (store, key) => `${store}:${key}`;
  const decode = (store, key, bytes) => {
    try { return v8.deserialize(bytes); } catch (e) { throw corrupt(`record ${store} ${JSON.stringify(key)} in ${location}`, `it does not decode (${e.message})`, e); }
  };
  const encodeValue = (v) => v8.serialize(v);
  let closed = false;
  const check = () => { if (closed) throw new ClipdbError('INVALID_STATE', 'storage is closed'); };
  let queue = Promise.resolve();
  const serial = (fn) => { const p = queue.then(fn, fn); queue = p.catch(() => {}); return p; };

  const blobDir = `${location}.blobs`;
  await fs.mkdir(blobDir, { recursive: true });
  const { openAsBlob } = await import('node:fs');
  const { randomBytes } = await import('node:crypto');
  // Short writes are not success: loop until every byte is written (a full disk then fails
  // with ENOSPC), and check the size on disk before anything refers to the file.
  async function writeAll(fh, buf) {
    for (let off = 0; off < buf.length;) {
      const { bytesWritten } = await fh.write(buf, off, buf.length - off);
      if (!(bytesWritten > 0)) throw Object.assign(new Error(`short write (${off} of ${buf.length} bytes)`), { code: 'EIO' });
      off += bytesWritten;
    }
  }
  async function writeFileSynced(file, data) {
    const fh = await fs.open(file, 'wx');
    let expected = 0;
    try {
      if (hasBlob && data instanceof Blob) {
        for await (const chunk of data.stream()) { await writeAll(fh, chunk); expected += chunk.length; }
      } else { await writeAll(fh, data); expected = data.byteLength; }
      await fh.sync();
      const { size } = await fh.stat();
      if (size !== expected) throw Object.assign(new Error(`${file} holds ${size} bytes after writing ${expected}`), { code: 'EIO' });
    } finally { await fh.close(); }
  }
  async function syncDir(d) {
    try { const fh = await fs.open(d, 'r'); try { await fh.sync(); } finally { await fh.close(); } } catch { /* not supported: best effort */ }
  }

  async function batch(ops) {
    // Binary data goes to files first (new names, fsync'd), then one LevelDB batch refers to them.
    const written = [], unlink = [];
    let prepared;
    try {
      const toFile = async (data) => {
        const name = randomBytes(12).toString('hex');
        const rel = `${name.slice(0, 2)}/${name.slice(2)}`;
        await fs.mkdir(path.join(blobDir, name.slice(0, 2)), { recursive: true });
        await writeFileSynced(path.join(blobDir, rel), data);
        written.push(rel);
        return rel;
      };
      prepared = await Promise.all(ops.map(async (op) => {
        if (op.store === 'blobs' || op.store === 'vectors') {
          const raw = await db.get(sk(op.store, op.key));
          const old = raw === undefined ? undefined : decode(op.store, op.key, raw);
          if (old?.file) unlink.push(old.file);
          if (old?.vectorsFile) unlink.push(old.vectorsFile);
          if (old?.planesFile) unlink.push(old.planesFile);
        }
        if (op.delete) return { type: 'del', key: sk(op.store, op.key) };
        let value = op.value;
        if (op.store === 'blobs' && value && value.data != null) {
          const { data, ...rest } = value;
          value = { ...rest, file: await toFile(data) };
        } else if (op.store === 'vectors' && value) {
          if (value.vectors instanceof Float32Array && value.vectors.byteLength >= VECTOR_FILE_BYTES) {
            const { vectors, ...rest } = value;
            value = { ...rest, vectorsFile: await toFile(new Uint8Array(vectors.buffer, vectors.byteOffset, vectors.byteLength)), vectorsBytes: vectors.byteLength };
          }
          if (value.planes instanceof Uint8Array && value.planes.byteLength >= VECTOR_FILE_BYTES) {
            const { planes, ...rest } = value;
            value = { ...rest, planesFile: await toFile(planes), planesBytes: planes.byteLength };
          }
        }
        return { type: 'put', key: sk(op.store, op.key), value: encodeValue(value) };
      }));
      if (written.length) await Promise.all([...new Set(written.map((r) => path.join(blobDir, r.slice(0, 2))))].map(syncDir));
      await db.batch(prepared, { sync: true });
    } catch (e) {
      await Promise.all(written.map((r) => fs.unlink(path.join(blobDir, r)).catch(() => {})));
      throw storageError(e, `write to ${location}`);
    }
    // The batch has committed: files no longer referenced can go (a crash here leaves them).
    await Promise.all(unlink.map((r) => fs.unlink(path.join(blobDir, r)).catch(() => {})));
  }

  async function withData(key, rec) {
    if (!rec || typeof rec.file !== 'string') return rec;
    const file = path.join(blobDir, rec.file);
    try {
      const st = await fs.stat(file);
      if (st.size !== rec.size) throw corrupt(`binary field ${JSON.stringify(key)}`, `its file ${file} holds ${st.size} bytes, ${rec.size} expected`);
      return { ...rec, data: openAsBlob ? await openAsBlob(file, { type: rec.type ?? '' }) : new Uint8Array(await fs.readFile(file)) };
    } catch (e) {
      if (e instanceof ClipdbError) throw e;
      throw corrupt(`binary field ${JSON.stringify(key)}`, `its file ${file} cannot be read (${e.code || e.message})`, e);
    }
  }

  async function withVectors(key, rec, into, planesInto) {
    if (!rec) return rec;
    if (planesInto && (rec.planes != null || typeof rec.planesFile === 'string')) {
      // The compact planes instead of the floats (left unread).
      const { vectorsFile, vectorsBytes, vectors, planesFile, planesBytes, ...rest } = rec;
      void vectorsFile; void vectorsBytes; void vectors;
      if (typeof planesFile !== 'string') return { ...rest, planes: rec.planes };
      return { ...rest, planes: await readFileInto(key, planesFile, planesBytes, planesInto, 1) };
    }
    if (typeof rec.planesFile === 'string' || rec.planes != null) {
      const { planesFile, planesBytes, planes, ...rest } = rec; // not asked for
      void planesFile; void planesBytes; void planes;
      rec = rest;
    }
    if (typeof rec.vectorsFile !== 'string') return rec;
    const { vectorsFile, vectorsBytes, ...rest } = rec;
    const target = await readFileInto(key, vectorsFile, vectorsBytes, into, 4);
    return { ...rest, vectors: new Float32Array(target.buffer, target.byteOffset, vectorsBytes / 4) };
  }

  /** The `bytes` bytes of the vector record `key`'s file `rel`, read into into(bytes) or a fresh buffer (a view on them). */
  async function readFileInto(key, rel, bytes, into, unit) {
    const file = path.join(blobDir, rel);
    const damaged = (why, e) => corrupt(`vector record ${JSON.stringify(key)}`, why, e);
    if (!Number.isInteger(bytes) || bytes % unit) throw damaged(`its size ${bytes} is not a whole number of ${unit === 4 ? 'floats' : 'bytes'}`);
    let fh;
    try { fh = await fs.open(file, 'r'); } catch (e) { throw damaged(`its file ${file} cannot be read (${e.code || e.message})`, e); }
    try {
      const { size } = await fh.stat();
      if (size !== bytes) throw damaged(`its file ${file} holds ${size} bytes, ${bytes} expected`);
      // Into the caller's (reused) memory when it offers some, else a fresh buffer.
      const target = into ? into(size) : new Uint8Array(size);
      if (!(target instanceof Uint8Array) || target.byteLength < size || target.byteOffset % 4) throw new ClipdbError('INVALID_ARGUMENT', `vectorsInto/planesInto(${size}) must return a 4-byte-aligned Uint8Array of at least ${size} bytes`);
      for (let off = 0; off < size;) {
        const { bytesRead } = await fh.read(target, off, size - off, off);
        if (!(bytesRead > 0)) throw damaged(`its file ${file} ended after ${off} of ${size} bytes`);
        off += bytesRead;
      }
      return target.subarray(0, size);
    } catch (e) {
      if (e instanceof ClipdbError) throw e;
      throw damaged(`its file ${file} cannot be read (${e.code || e.message})`, e);
    } finally { await fh.close(); }
  }
  const withFiles = (store, key, rec, into, planesInto) => (store === 'blobs' ? withData(key, rec) : store === 'vectors' ? withVectors(key, rec, into, planesInto) : rec);

  const adapter = {
    kind: 'fs',
    persistent: true,
    location,
    async getAll(store, prefix = '') {
      check();
      const out = [];
      try {
        const it = db.iterator({ gte: sk(store, prefix), lt: sk(store, prefix + END) });
        try {
          // nextv: entries cross from LevelDB in batches (far cheaper than one await per entry).
          for (let entries = await it.nextv(1000); entries.length; entries = await it.nextv(1000)) {
            for (const [k, v] of entries) {
              const key = k.slice(store.length + 1);
              const rec = decode(store, key, v);
              out.push([key, await withFiles(store, key, rec)]);
            }
          }
        } finally { await it.close(); }
      } catch (e) { throw storageError(e, `read ${store} from ${location}`); }
      return out;
    },
    async keys(store, prefix = '') {
      check();
      try {
        const ks = await db.keys({ gte: sk(store, prefix), lt: sk(store, prefix + END) }).all();
        return ks.map((k) => k.slice(store.length + 1));
      } catch (e) { throw storageError(e, `read ${store} keys from ${location}`); }
    },
    async get(store, key, options) {
      check();
      let v;
      try { v = await db.get(sk(store, key)); } catch (e) { if (e.code === 'LEVEL_NOT_FOUND') return undefined; throw storageError(e, `read ${location}`); }
      if (v === undefined) return undefined;
      return withFiles(store, key, decode(store, key, v), options?.vectorsInto, options?.planesInto);
    },
    async lastKey(store, prefix = '') {
      check();
      const ks = await db.keys({ gte: sk(store, prefix), lt: sk(store, prefix + END), reverse: true, limit: 1 }).all();
      return ks.length ? ks[0].slice(store.length + 1) : undefined;
    },
    write(ops) { check(); return serial(() => batch(ops)); },
    async close() { await queue; if (!closed) { closed = true; await db.close(); } },
  };

  // Layout version and conversion of a clipdb 0.1 journal.
  let format;
  try { format = await adapter.get('meta', 'format'); } catch (e) { await db.close(); throw e; }
  const journal = path.join(dir, `${name}.clipdb.jsonl`);
  const journalExists = await fs.stat(journal).then(() => true, () => false);
  if (format == null && journalExists) {
    try {
      adapter.migrated = await migrateJournal({ adapter, journal, fs, location });
      await fs.rename(journal, `${journal}.v1-backup`);
    } catch (e) { await db.close().catch(() => {}); throw e; }
  } else if (format == null) {
    await batch([{ store: 'meta', key: 'format', value: { version: LAYOUT_VERSION } }]);
  } else if (format.version > LAYOUT_VERSION) {
    await db.close();
    throw new ClipdbError('UNSUPPORTED', `${location} was written by a newer clipdb (layout version ${format.version}; this one reads up to ${LAYOUT_VERSION})`);
  }
  return adapter;
}

/**
 * Convert clipdb 0.1's journal into layout version 2, streaming: each journal line (a JSON array
 * of ops) is replayed into a scratch key space of the new database, then the scratch records
 * are converted in key order and removed. The format marker is written last, so a conversion
 * that is interrupted starts again from the journal on the next open.
 */
async function migrateJournal({ adapter, journal, fs, location }) {
  const { createReadStream } = await import('node:fs');
  const { createInterface } = await import('node:readline');
  // Scratch space: store 'v1' with keys "<docs|vectors|meta>\0<old key>".
  for (const k of await adapter.keys('v1')) await adapter.write([{ store: 'v1', key: k, delete: true }]);
  const stat = await fs.stat(journal);
  const rl = createInterface({ input: createReadStream(journal, { encoding: 'utf8' }), crlfDelay: Infinity });
  let lineNo = 0, bytes = 0, pendingBad = null;
  for await (const line of rl) {
    lineNo++;
    bytes += Buffer.byteLength(line) + 1;
    if (pendingBad) throw corrupt(`${journal} line ${pendingBad.line}`, `it is not a complete journal record (${pendingBad.why}), and more records follow it`);
    let ops;
    try { ops = JSON.parse(line); if (!Array.isArray(ops)) throw new Error('not an array of operations'); } catch (e) {
      pendingBad = { line: lineNo, why: e.message };
      continue; // only acceptable as the torn last line
    }
    const out = [];
    for (const op of ops) {
      if (!op || !['docs', 'vectors', 'meta'].includes(op.s) || typeof op.k !== 'string') { pendingBad = { line: lineNo, why: 'an operation names no known store' }; break; }
      out.push(op.d ? { store: 'v1', key: `${op.s}\0${op.k}`, delete: true } : { store: 'v1', key: `${op.s}\0${op.k}`, value: op.v });
    }
    if (!pendingBad) await adapter.write(out);
  }
  // A last line without its newline is a torn append: readline still yields it. Accept the
  // journal only if the bad line (if any) was the last one.
  void stat; void bytes;
  const meta = new Map();
  for (const [k, v] of await adapter.getAll('v1', 'meta\0')) meta.set(k.slice(5), fromJSONSafe(v));
  let documents = 0;
  const typedIds = new Map(); // "<collection>\0<String(id)>" → typed id key, for the vectors
  const pages = new Map(); // collection → {no, entries, ops}
  const flush = async (col) => {
    const p = pages.get(col);
    if (!p.entries.length) return;
    await adapter.write([{ store: 'docs', key: pageKey(col, p.no), value: { docs: p.entries } }, ...p.ops]);
    p.no++; p.entries = []; p.ops = [];
  };
  for (const [k, v] of await adapter.getAll('v1', 'docs\0')) {
    const rec = fromJSONSafe(v);
    const oldKey = k.slice(5);
    const col = oldKey.slice(0, oldKey.indexOf('\0'));
    const { entry, ops } = convertV1Doc(col, rec);
    typedIds.set(`${col}\0${String(rec.doc._id)}`, idKey(rec.doc._id));
    if (!pages.has(col)) pages.set(col, { no: 0, entries: [], ops: [] });
    const p = pages.get(col);
    p.entries.push(entry);
    p.ops.push(...ops, { store: 'v1', key: k, delete: true });
    if (p.entries.length >= PAGE_DOCS) await flush(col);
    documents++;
  }
  for (const col of pages.keys()) await flush(col);
  // Vectors: one chunk record per vector index, in key order, model from its definition.
  const chunks = new Map();
  for (const [k, v] of await adapter.getAll('v1', 'vectors\0')) {
    const oldKey = k.slice(8);
    const index = oldKey.slice(0, oldKey.indexOf('\0'));
    const id = oldKey.slice(index.length + 1);
    const def = meta.get(`vectorIndex\0${index}`);
    const t = def && typedIds.get(`${def.collection}\0${id}`);
    if (t) {
      if (!chunks.has(index)) chunks.set(index, { ids: [], vecs: [], def });
      const c = chunks.get(index);
      c.ids.push(t); c.vecs.push(fromJSONSafe(v));
    }
  }
  const ops = [];
  for (const [index, { ids, vecs, def }] of chunks) {
    const dim = def.model.dim;
    const flat = new Float32Array(ids.length * dim);
    vecs.forEach((v, i) => flat.set(v.subarray(0, dim), i * dim));
    ops.push({ store: 'vectors', key: `${index}\0${def.model.identifier}\0${'0'.padStart(12, '0')}`, value: { ids, vectors: flat, del: [] } });
  }
  for (const [k, v] of meta) ops.push({ store: 'meta', key: k, value: v });
  for (const k of await adapter.keys('v1')) ops.push({ store: 'v1', key: k, delete: true });
  ops.push({ store: 'meta', key: 'format', value: { version: LAYOUT_VERSION } });
  await adapter.write(ops);
  void location;
  return { from: 1, documents };
}

// ---- IndexedDB (browsers) -------------------------------------------------------------------

/**
 * IndexedDB storage through the `idb` package: database `name`, version 2 (object stores as in
 * the layout above). A version-1 database (clipdb 0.1: documents with their image bytes in
 * 'docs', one record per vector in 'vectors') is converted inside the upgrade transaction, so
 * the conversion is all-or-nothing: a tab closed in the middle leaves the version-1 database
 * as it was, converted again on the next open.
 * Errors: ClipdbError 'STORAGE_UNAVAILABLE' (no indexedDB, private mode, open failed),
 * 'BLOCKED' (another tab holds an older version open), 'QUOTA_EXCEEDED' on writes (the
 * transaction is aborted, so nothing of that write is stored; the error's `name` is
 * 'QuotaExceededError' as the platform's), 'INVALID_STATE' once the browser has closed the
 * connection (site data deleted, or a newer version opened elsewhere).
 */
export async function indexedDBStorage({ name = 'clipdb', indexedDB: idbFactory = globalThis.indexedDB, blockedTimeoutMs = 3000, idb } = {}) {
  if (idbFactory == null) throw new ClipdbError('STORAGE_UNAVAILABLE', 'IndexedDB is not available in this environment (private mode, worker or edge runtime)');
  // `idb`: the idb module itself, for module Workers, which see no import map (the Worker
  // client resolves it on the page and the Worker imports it by URL).
  const { openDB } = idb ?? await import('idb');
  let db;
  let closedWhy = null;
  let migrated;
  try {
    db = await new Promise((resolve, reject) => {
      let settled = false;
      let timer = null;
      const p = openDB(name, LAYOUT_VERSION, {
        async upgrade(d, oldVersion, _newVersion, tx) {
          for (const s of STORES) if (!d.objectStoreNames.contains(IDB_NAMES[s])) d.createObjectStore(IDB_NAMES[s]);
          if (oldVersion === 1) {
            migrated = await migrateIDB(tx);
            d.deleteObjectStore('docs'); d.deleteObjectStore('vectors');
          }
          tx.objectStore('meta').put({ version: LAYOUT_VERSION }, 'format');
        },
        terminated() { closedWhy = 'the browser closed the database (its site data may have been deleted)'; },
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
    if (e?.name === 'VersionError') throw new ClipdbError('UNSUPPORTED', `IndexedDB database '${name}' was written by a newer clipdb (${e.message})`, { cause: e });
    throw new ClipdbError('STORAGE_UNAVAILABLE', `failed to open IndexedDB database '${name}': ${e?.name || ''} ${e?.message || e}`, { cause: e });
  }
  // Another tab asks for a newer version: let it proceed instead of blocking it forever.
  db.addEventListener('versionchange', () => { db.close(); closedWhy = 'a newer version of the database was opened in another tab'; });
  db.addEventListener('close', () => { closedWhy ??= 'the browser closed the database (its site data may have been deleted)'; });
  const check = () => {
    if (closedWhy) throw new ClipdbError('INVALID_STATE', `IndexedDB database '${name}' is closed: ${closedWhy}; reload the page`);
  };
  const estimate = async () => {
    try { return globalThis.navigator?.storage?.estimate ? await navigator.storage.estimate() : null; } catch { return null; }
  };
  const range = (prefix) => (prefix == null || prefix === '' ? undefined : IDBKeyRange.bound(prefix, prefix + END, false, true));
  const read = async (what, fn) => {
    check();
    try { return await fn(); } catch (e) {
      if (e?.name === 'InvalidStateError' || e?.name === 'UnknownError') closedWhy ??= `the browser closed the database (${e.name}: ${e.message})`;
      check();
      throw storageError(e, what);
    }
  };
  return {
    kind: 'indexeddb',
    persistent: true,
    migrated,
    /** Why the connection can no longer be used (site data deleted, newer version elsewhere), or null. */
    closedReason: () => (closedWhy && closedWhy !== 'it was closed by this page' ? closedWhy : null),
    getAll(store, prefix) {
      return read(`read IndexedDB store ${store}`, async () => {
        const tx = db.transaction(IDB_NAMES[store], 'readonly');
        const [keys, values] = await Promise.all([tx.store.getAllKeys(range(prefix)), tx.store.getAll(range(prefix)), tx.done]);
        return Promise.all(keys.map(async (k, i) => [k, await fromIDB(store, values[i])]));
      });
    },
    keys(store, prefix) { return read(`read IndexedDB store ${store}`, () => db.getAllKeys(IDB_NAMES[store], range(prefix))); },
    get(store, key, options) { return read(`read IndexedDB store ${store}`, async () => fromIDB(store, await db.get(IDB_NAMES[store], key), options?.vectorsInto, options?.planesInto)); },
    lastKey(store, prefix) {
      return read(`read IndexedDB store ${store}`, async () => {
        const c = await db.transaction(IDB_NAMES[store]).store.openKeyCursor(range(prefix), 'prev');
        return c ? c.key : undefined;
      });
    },
    async write(ops) {
      check();
      let tx;
      try {
        tx = db.transaction(STORES.map((x) => IDB_NAMES[x]), 'readwrite', { durability: 'strict' });
        // All requests are issued synchronously; the transaction commits when they finish.
        for (const op of ops) {
          const st = tx.objectStore(IDB_NAMES[op.store]);
          (op.delete ? st.delete(op.key) : st.put(toIDB(op.store, op.value), op.key)).catch(() => {}); // tx.done reports
        }
        await tx.done;
      } catch (e) {
        const err = e?.name === 'AbortError' && tx?.error ? tx.error : e;
        if (err?.name === 'InvalidStateError') { closedWhy ??= `the browser closed the database (${err.message})`; check(); }
        const ce = storageError(err, 'write to IndexedDB', err?.name === 'QuotaExceededError' ? { estimate: await estimate() } : undefined);
        throw ce;
      }
    },
    async close() { if (!closedWhy) { closedWhy = 'it was closed by this page'; db.close(); } },
    async persist() {
      try { return globalThis.navigator?.storage?.persist ? await navigator.storage.persist() : null; } catch { return null; }
    },
    estimate,
  };
}

// A vector chunk's floats go into IndexedDB as a Blob: Chromium keeps any value over 64 KiB
// as a blob file anyway, and a Blob read back (Blob.arrayBuffer) costs the page about half of
// what deserialising a large Float32Array does (bench/store.mjs measures the open). Records
// written with a Float32Array (before this) read as they are.
const VECTOR_BLOB_BYTES = 64 * 1024;
function toIDB(store, value) {
  if (store !== 'vectors' || !hasBlob) return value;
  const big = (x) => ArrayBuffer.isView(x) && x.byteLength >= VECTOR_BLOB_BYTES;
  if (!big(value?.vectors) && !big(value?.planes)) return value;
  const out = { ...value };
  if (big(value.vectors)) out.vectors = new Blob([value.vectors]);
  if (big(value.planes)) out.planes = new Blob([value.planes]);
  return out;
}
async function fromIDB(store, value, into, planesInto) {
  if (store !== 'vectors' || !hasBlob) return value;
  if (planesInto && value?.planes != null) {
    // The compact planes instead of the floats (left unread).
    const { vectors, ...rest } = value;
    void vectors;
    if (!(value.planes instanceof Blob)) return rest;
    const view = await blobInto(value.planes, planesInto);
    return { ...rest, planes: view };
  }
  if (value?.planes instanceof Blob) value = { ...value, planes: undefined }; // not asked for
  if (!(value?.vectors instanceof Blob)) return value;
  const blob = value.vectors;
  if (blob.size % 4) return { ...value, vectors: null }; // reported as damaged by the reader
  if (!into) return { ...value, vectors: new Float32Array(await blob.arrayBuffer()) };
  const view = await blobInto(blob, into);
  return { ...value, vectors: view ? new Float32Array(view.buffer, view.byteOffset, view.byteLength / 4) : null };
}

/** The bytes of `blob` read into into(blob.size) (a Uint8Array view on them), or null if short. */
async function blobInto(blob, into) {
  // Stream the Blob into the caller's reused memory: Blob.arrayBuffer() would allocate a fresh
  // buffer of the chunk's size per record, and on a big index the page then pays for touching
  // hundreds of megabytes of new pages, and holds them until a garbage collection. A BYOB
  // reader fills the caller's memory in place (it transfers the ArrayBuffer: the floats come
  // back as a view on the transferred buffer, the same memory); where Blob streams are not
  // byte streams, chunks are copied in.
  const size = blob.size;
  let view = into(size);
  let off = 0;
  let reader = null;
  try { reader = blob.stream().getReader({ mode: 'byob' }); } catch { reader = null; }
  if (reader) {
    try {
      while (off < size) {
        const r = await reader.read(new Uint8Array(view.buffer, view.byteOffset + off, size - off));
        if (r.value) view = new Uint8Array(r.value.buffer, r.value.byteOffset - off, size);
        if (r.done || !r.value?.byteLength) break;
        off += r.value.byteLength;
      }
    } finally { reader.cancel().catch(() => {}); }
  } else {
    const chunks = blob.stream().getReader();
    try {
      for (let r = await chunks.read(); !r.done; r = await chunks.read()) {
        if (off + r.value.byteLength > size) { off = -1; break; }
        view.set(r.value, off);
        off += r.value.byteLength;
      }
    } finally { chunks.cancel().catch(() => {}); }
  }
  if (off !== size) return null;
  return view.subarray(0, size);
}

/** Convert clipdb 0.1's stores (inside the version-1 → 2 upgrade transaction). */
async function migrateIDB(tx) {
  const meta = new Map();
  for (let c = await tx.objectStore('meta').openCursor(); c; c = await c.continue()) meta.set(c.key, c.value);
  const typedIds = new Map();
  let documents = 0;
  const stores = Object.fromEntries(STORES.map((x) => [x, tx.objectStore(IDB_NAMES[x])]));
  const pages = new Map(); // collection → {no, entries}
  const flush = (col) => {
    const p = pages.get(col);
    if (p.entries.length) stores.docs.put({ docs: p.entries }, pageKey(col, p.no));
    p.no++; p.entries = [];
  };
  for (let c = await tx.objectStore('docs').openCursor(); c; c = await c.continue()) {
    const col = c.key.slice(0, c.key.indexOf('\0'));
    const { entry, ops } = convertV1Doc(col, c.value);
    for (const op of ops) stores[op.store].put(op.value, op.key);
    if (!pages.has(col)) pages.set(col, { no: 0, entries: [] });
    pages.get(col).entries.push(entry);
    if (pages.get(col).entries.length >= PAGE_DOCS) flush(col);
    typedIds.set(`${col}\0${String(c.value.doc._id)}`, idKey(c.value.doc._id));
    documents++;
  }
  for (const col of pages.keys()) flush(col);
  const chunks = new Map();
  for (let c = await tx.objectStore('vectors').openCursor(); c; c = await c.continue()) {
    const index = c.key.slice(0, c.key.indexOf('\0'));
    const def = meta.get(`vectorIndex\0${index}`);
    const t = def && typedIds.get(`${def.collection}\0${c.key.slice(index.length + 1)}`);
    if (!t) continue;
    if (!chunks.has(index)) chunks.set(index, { ids: [], vecs: [], def });
    chunks.get(index).ids.push(t); chunks.get(index).vecs.push(c.value);
  }
  for (const [index, { ids, vecs, def }] of chunks) {
    const dim = def.model.dim, flat = new Float32Array(ids.length * dim);
    vecs.forEach((v, i) => flat.set(v.subarray(0, dim), i * dim));
    stores.vectors.put({ ids, vectors: flat, del: [] }, `${index}\0${def.model.identifier}\0${'0'.padStart(12, '0')}`);
  }
  return { from: 1, documents };
}

/**
 * Open storage by kind. `kind`: an adapter object (used as is), 'indexeddb', 'fs', 'memory' or
 * 'auto' (IndexedDB where it exists, else the file system in Node when `dir` is given, else
 * memory). If IndexedDB was asked for (or chosen by 'auto') and cannot be opened, falls back
 * to memory unless `fallback` is false, and returns the reason.
 * @returns {Promise<{adapter, persistent: boolean, reason?: string, error?: ClipdbError}>}
 */
export async function openStorage({ storage = 'auto', name = 'clipdb', dir, fallback = true, indexedDB, idb } = {}) {
  if (storage != null && typeof storage === 'object') return { adapter: storage, persistent: Boolean(storage.persistent) };
  let kind = storage;
  if (kind === 'auto') kind = (indexedDB || globalThis.indexedDB) ? 'indexeddb' : (isNode && dir ? 'fs' : 'memory');
  if (kind === 'memory') return { adapter: memoryStorage(), persistent: false, reason: 'memory storage was requested' };
  if (kind === 'fs') return { adapter: await fsStorage({ dir, name }), persistent: true };
  if (kind === 'indexeddb') {
    try {
      const adapter = await indexedDBStorage({ name, indexedDB: indexedDB || globalThis.indexedDB, idb });
      return { adapter, persistent: true };
    } catch (e) {
      if (!fallback || e.code === 'BLOCKED' || e.code === 'UNSUPPORTED') throw e;
      return { adapter: memoryStorage(), persistent: false, reason: e.message, error: e };
    }
  }
  throw new ClipdbError('INVALID_ARGUMENT', `unknown storage '${storage}': expected 'indexeddb', 'fs', 'memory', 'auto' or an adapter`);
}
