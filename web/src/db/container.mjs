// The export container (docs/export-format.md): a ustar archive of batches of documents, their
// vectors and binary fields, written and read as a stream so that neither side holds more than
// one batch in memory.
import { ClipdbError } from '../errors.mjs';
import { toJSONSafe, fromJSONSafe, isRef } from './codec.mjs';
import { VectorSet, ChunkVectors, DocMap } from './vector-set.mjs';
import { getPath } from './filter.mjs';
import { indexMetaKey, vsetPrefix, chunkKey, chunkSeq, idKey, SEP } from './layout.mjs';

export const FORMAT = 'clipdb-export';
export const VERSION = 1;
const BATCH_DOCS = 1024;
const BATCH_JSON_BYTES = 4 << 20;
const BATCH_BLOB_BYTES = 64 << 20;
const hasBlob = typeof Blob !== 'undefined';
const enc = new TextEncoder();
const dec = new TextDecoder();

// ---- ustar ------------------------------------------------------------------------------------

function octal(buf, off, len, value) {
  const s = value.toString(8).padStart(len - 1, '0');
  if (s.length > len - 1) throw new ClipdbError('INVALID_ARGUMENT', `tar field too large: ${value}`);
  for (let i = 0; i < s.length; i++) buf[off + i] = s.charCodeAt(i);
  buf[off + len - 1] = 0;
}

/** A ustar header block for a regular file `name` (ASCII, < 100 bytes) of `size` bytes. */
export function tarHeader(name, size, mtime = 0) {
  const h = new Uint8Array(512);
  const nb = enc.encode(name);
  if (nb.length > 99) throw new ClipdbError('INVALID_ARGUMENT', `tar entry name too long: ${name}`);
  h.set(nb, 0);
  octal(h, 100, 8, 0o644); octal(h, 108, 8, 0); octal(h, 116, 8, 0);
  octal(h, 124, 12, size); octal(h, 136, 12, Math.floor(mtime));
  h[156] = 0x30; // '0': regular file
  h.set(enc.encode('ustar\u000000'), 257);
  for (let i = 148; i < 156; i++) h[i] = 0x20;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i];
  const cs = sum.toString(8).padStart(6, '0');
  for (let i = 0; i < 6; i++) h[148 + i] = cs.charCodeAt(i);
  h[154] = 0; h[155] = 0x20;
  return h;
}

const padding = (size) => (512 - (size % 512)) % 512;

function parseOctal(h, off, len) {
  let s = '';
  for (let i = off; i < off + len && h[i] !== 0; i++) s += String.fromCharCode(h[i]);
  s = s.trim();
  if (!/^[0-7]*$/.test(s)) return NaN;
  return s === '' ? 0 : parseInt(s, 8);
}

/** Async iterator of Uint8Array chunks from a ReadableStream, Blob, bytes or async iterable. */
async function* chunksOf(source) {
  if (source instanceof Uint8Array) { yield source; return; }
  if (source instanceof ArrayBuffer) { yield new Uint8Array(source); return; }
  if (ArrayBuffer.isView(source)) { yield new Uint8Array(source.buffer, source.byteOffset, source.byteLength); return; }
  if (hasBlob && source instanceof Blob) source = source.stream();
  if (source && typeof source.getReader === 'function') {
    const reader = source.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value instanceof Uint8Array ? value : new Uint8Array(value);
      }
    } finally { reader.releaseLock?.(); }
  }
  if (source && typeof source[Symbol.asyncIterator] === 'function') {
    for await (const c of source) yield c instanceof Uint8Array ? c : new Uint8Array(c);
    return;
  }
  throw new ClipdbError('INVALID_ARGUMENT', 'importData needs a ReadableStream, Blob, Uint8Array, ArrayBuffer or async iterable of Uint8Array');
}

/** A byte reader over chunks: read(n) resolves exactly n bytes (or fewer at the end). */
function byteReader(source) {
  const it = chunksOf(source)[Symbol.asyncIterator]();
  let buf = new Uint8Array(0), pos = 0, done = false;
  return {
    offset: 0,
    async read(n, { parts = false } = {}) {
      const out = [];
      let need = n;
      while (need > 0) {
        if (pos >= buf.length) {
          if (done) break;
          const r = await it.next();
          if (r.done) { done = true; break; }
          buf = r.value; pos = 0;
          continue;
        }
        const take = Math.min(need, buf.length - pos);
        out.push(buf.subarray(pos, pos + take));
        pos += take; need -= take; this.offset += take;
      }
      if (parts) return out;
      if (out.length === 1) return out[0].slice();
      const r = new Uint8Array(n - need);
      let o = 0;
      for (const p of out) { r.set(p, o); o += p.length; }
      return r;
    },
  };
}

/** Entries of a ustar stream: {name, size, data: Uint8Array | Blob} (big entries as Blob where there is one). */
async function* tarEntries(source) {
  const r = byteReader(source);
  for (;;) {
    const h = await r.read(512);
    if (h.length === 0) throw new ClipdbError('BAD_EXPORT', 'the export file ends without its end record (clipdb-end.json): it is truncated');
    if (h.length < 512) throw new ClipdbError('BAD_EXPORT', `the export file is truncated inside a header at byte ${r.offset}`);
    if (h.every((b) => b === 0)) return;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
    if (parseOctal(h, 148, 8) !== sum) throw new ClipdbError('BAD_EXPORT', `not a clipdb export (tar header checksum mismatch at byte ${r.offset - 512})`);
    let name = '';
    for (let i = 0; i < 100 && h[i] !== 0; i++) name += String.fromCharCode(h[i]);
    const size = parseOctal(h, 124, 12);
    if (!Number.isFinite(size)) throw new ClipdbError('BAD_EXPORT', `bad size field for tar entry '${name}'`);
    const type = String.fromCharCode(h[156] || 0x30);
    const big = size > (1 << 20) && hasBlob;
    const parts = await r.read(size, { parts: big });
    const got = big ? parts.reduce((a, p) => a + p.length, 0) : parts.length;
    if (got < size) throw new ClipdbError('BAD_EXPORT', `the export file is truncated inside entry '${name}' (${got} of ${size} bytes)`);
    await r.read(padding(size));
    if (type === 'x' || type === 'g') continue; // pax extended headers: not used by clipdb
    if (type !== '0' && type !== '\0') throw new ClipdbError('BAD_EXPORT', `unexpected tar entry type '${type}' for '${name}'`);
    yield { name, size, data: big ? new Blob(parts.map((p) => p.slice())) : parts };
  }
}

// ---- export -----------------------------------------------------------------------------------

function jsonForm(doc, refs) {
  const walk = (v) => {
    if (v == null || typeof v !== 'object' || ArrayBuffer.isView(v) || v instanceof Date) return v;
    if (Array.isArray(v)) return v.map(walk);
    if (isRef(v)) return refs.get(v);
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = walk(x);
    return out;
  };
  return toJSONSafe(walk(doc));
}

/** The chunks of the export container of `db` (Database.exportData streams them under its lock). */
export async function* exportChunks(db) {
  await db._ready();
  // Every (vector index, model) pair, with its definition.
  const sets = [];
  for (const [k, vs] of db._meta) {
    if (!k.startsWith(`vset${SEP}`)) continue;
    const def = db._meta.get(indexMetaKey(vs.index));
    if (!def) continue;
    const st = db._vis.get(vs.index);
    const loaded = st && st.set.model === vs.model ? st.set : null;
    sets.push({ id: sets.length, vs, def, set: loaded, temp: null });
  }
  const collections = [...db._cols.keys()].filter((c) => db._cols.get(c).size > 0);
  const manifest = {
    format: FORMAT, version: VERSION, created: new Date().toISOString(), producer: 'clipdb-js',
    collections,
    vectorIndexes: sets.map(({ id, vs, def }) => ({
      id, name: vs.index, collection: def.collection, key: def.key, filter: def.filter,
      model: { identifier: vs.model, dim: vs.dim },
      compatible: vs.model === def.model.identifier ? def.compatible : null,
    })),
  };
  const file = function* (name, bytes) {
    yield tarHeader(name, bytes.length, Date.now() / 1000);
    yield bytes;
    const pad = padding(bytes.length);
    if (pad) yield new Uint8Array(pad);
  };
  yield* file('clipdb-export.json', enc.encode(JSON.stringify(manifest)));
  let batchNo = 0, documents = 0, vectors = 0, blobNo = 0;
  try {
    for (const s of sets) {
      if (s.set && !s.set.compact) continue;
      const recs = db._docs(s.def.collection);
      // Vectors of an index that is not in memory, or is compact (its C index holds 16-bit
      // copies; the export carries the stored float32 vectors): read from their chunk records
      // batch by batch when the documents' order follows the chunks' (the usual case: memory
      // stays a few chunks); otherwise loaded into a temporary float32 C index (memory: every
      // vector once).
      const located = await ChunkVectors.locate(db.adapter, s.vs, [...recs.keys()], BATCH_DOCS);
      if (located) { s.chunks = located; continue; }
      s.temp = new VectorSet({ mod: db._mod, adapter: db.adapter, index: s.vs.index, model: s.vs.model, dim: s.vs.dim, collection: s.def.collection });
      await s.temp.load({ isLive: (id) => recs.has(id), expected: recs.size }); // room reserved once: no doubling copies
    }
    for (const col of collections) {
      const recs = [...db._docs(col)];
      const colSets = sets.filter((s) => s.def.collection === col);
      for (let start = 0; start < recs.length;) {
        const lines = [], blobs = [], rows = new Map(colSets.map((s) => [s.id, []])), refObjects = new Map();
        let jsonBytes = 0, blobBytes = 0;
        while (start < recs.length && lines.length < BATCH_DOCS && jsonBytes < BATCH_JSON_BYTES && blobBytes < BATCH_BLOB_BYTES) {
          const [id, rec] = recs[start++];
          const refs = new Map(), b = [];
          const walk = (v, path) => {
            if (v == null || typeof v !== 'object' || ArrayBuffer.isView(v) || v instanceof Date) return;
            if (isRef(v)) {
              const n = blobNo++;
              refs.set(v, { $ref: n });
              const r = { n, path, as: v.as, size: v.size };
              refObjects.set(r, v);
              if (v.type !== undefined) r.type = v.type;
              if (v.width !== undefined) { r.width = v.width; r.height = v.height; }
              b.push(r);
              return;
            }
            for (const [k, x] of Object.entries(v)) walk(x, path === '' ? k : `${path}.${k}`);
          };
          walk(rec.doc, '');
          const v = [];
          for (const s of colSets) {
            if (s.chunks) { if (s.chunks.has(id)) { v.push(s.id); rows.get(s.id).push(id); } continue; }
            const vec = (s.temp ?? s.set).vectorOf(id);
            if (vec) { v.push(s.id); rows.get(s.id).push(vec); }
          }
          const line = JSON.stringify({ c: col, id, doc: jsonForm(rec.doc, refs), v, b });
          lines.push(line);
          jsonBytes += line.length + 1;
          for (const r of b) { blobs.push({ id, ...r, ref: refObjects.get(r) }); blobBytes += r.size; }
        }
        const B = String(batchNo++).padStart(6, '0');
        yield* file(`batch-${B}/docs.jsonl`, enc.encode(lines.join('\n') + '\n'));
        for (const s of colSets) {
          const list = rows.get(s.id);
          if (!list.length) continue;
          const flat = s.chunks ? await s.chunks.rows(list) : new Float32Array(list.length * s.vs.dim);
          if (!s.chunks) list.forEach((x, i) => flat.set(x, i * s.vs.dim));
          vectors += list.length;
          yield* file(`batch-${B}/vectors-${s.id}.f32`, littleEndian(flat));
        }
        for (const r of blobs) {
          const rec = await db._readBinary(col, r.id, r.path, r.ref);
          if (rec === undefined) throw new ClipdbError('CORRUPT', `the store is damaged: the binary field '${r.path}' of document ${JSON.stringify(r.id)} is missing`);
          const data = rec.data;
          const size = hasBlob && data instanceof Blob ? data.size : data.byteLength;
          yield tarHeader(`batch-${B}/blob-${r.n}`, size, Date.now() / 1000);
          if (hasBlob && data instanceof Blob) {
            for await (const c of chunksOf(data.stream())) yield c;
          } else yield data;
          const pad = padding(size);
          if (pad) yield new Uint8Array(pad);
        }
        documents += lines.length;
      }
    }
  } finally {
    for (const s of sets) s.temp?.free();
  }
  yield* file('clipdb-end.json', enc.encode(JSON.stringify({ batches: batchNo, documents, vectors })));
  yield new Uint8Array(1024);
}

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
function littleEndian(f32) {
  if (littleEndianHost) return new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength);
  const out = new Uint8Array(f32.length * 4), dv = new DataView(out.buffer);
  f32.forEach((x, i) => dv.setFloat32(i * 4, x, true));
  return out;
}
function float32FromLE(bytes, name) {
  if (bytes.byteLength % 4 !== 0) throw new ClipdbError('BAD_EXPORT', `${name} holds ${bytes.byteLength} bytes, not a whole number of float32 values`);
  const n = bytes.byteLength / 4;
  if (littleEndianHost) return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
  return out;
}

// ---- import -----------------------------------------------------------------------------------

function fromJsonForm(doc, refs, where) {
  if (doc == null || typeof doc !== 'object' || Array.isArray(doc)) throw new ClipdbError('BAD_EXPORT', `${where}: "doc" is not a JSON object`);
  const walk = (v) => {
    if (v == null || typeof v !== 'object' || ArrayBuffer.isView(v) || v instanceof Date) return v;
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v.$ref === 'number' && Object.keys(v).length === 1) {
      const r = refs.get(v.$ref);
      if (!r) throw new ClipdbError('BAD_EXPORT', `a document refers to binary ${v.$ref}, which its line does not list`);
      const out = { $clipdb: 'ref', as: r.as, size: r.size };
      if (r.type !== undefined) out.type = r.type;
      if (r.width !== undefined) { out.width = r.width; out.height = r.height; }
      return out;
    }
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = walk(x);
    return out;
  };
  let value;
  try { value = fromJSONSafe(doc); } catch (e) { throw new ClipdbError('BAD_EXPORT', `${where}: a value of the document cannot be read (${e.message})`, { cause: e }); }
  return walk(value);
}

const BINARY_AS = new Set(['blob', 'arraybuffer', 'uint8array', 'uint8clampedarray', 'imagedata']);
const isName = (x) => typeof x === 'string' && x !== '' && !x.includes(SEP);
const isCount = (x) => Number.isInteger(x) && x >= 0;

/** The binary refs of a docs line ("b"), checked: [{n, path, as, size, type?, width?, height?}]. */
function lineRefs(b, where) {
  if (b === undefined) return [];
  if (!Array.isArray(b)) throw new ClipdbError('BAD_EXPORT', `${where}: "b" is not a list`);
  const seen = new Set(), paths = new Set();
  for (const r of b) {
    const ok = r != null && typeof r === 'object' && isCount(r.n) && isName(r.path) && BINARY_AS.has(r.as) && isCount(r.size) &&
      (r.type === undefined || typeof r.type === 'string') &&
      (r.as !== 'imagedata' || (isCount(r.width) && isCount(r.height) && r.width * r.height * 4 === r.size));
    if (!ok) throw new ClipdbError('BAD_EXPORT', `${where}: bad binary entry ${JSON.stringify(r)}`);
    if (seen.has(r.n) || paths.has(r.path)) throw new ClipdbError('BAD_EXPORT', `${where}: binary ${r.n} ('${r.path}') is listed twice`);
    seen.add(r.n); paths.add(r.path);
  }
  return b;
}

/** Paths of the {$ref} values in a document's JSON form (before it is decoded). */
function refPathsOf(doc) {
  const out = new Map();
  const walk = (v, path) => {
    if (v == null || typeof v !== 'object') return;
    if (typeof v.$ref === 'number' && Object.keys(v).length === 1) { out.set(path, v.$ref); return; }
    for (const [k, x] of Object.entries(v)) walk(x, path === '' ? k : `${path}.${k}`);
  };
  walk(doc, '');
  return out;
}

/** Import an export container into `db` (see Database.importData). Runs inside db._exclusive. */
export async function importContainer(db, source, { onConflict = 'error', onProgress, signal } = {}) {
  if (onConflict !== 'error' && onConflict !== 'skip') throw new ClipdbError('INVALID_ARGUMENT', `onConflict must be 'error' or 'skip', got ${onConflict}`);
  const entries = tarEntries(source)[Symbol.asyncIterator]();
  const next = async () => { const r = await entries.next(); return r.done ? null : r.value; };
  const text = async (e) => dec.decode(e.data instanceof Uint8Array ? e.data : new Uint8Array(await e.data.arrayBuffer()));
  const first = await next();
  if (!first || first.name !== 'clipdb-export.json') throw new ClipdbError('BAD_EXPORT', `not a clipdb export: the first entry is ${first ? `'${first.name}'` : 'missing'}, not clipdb-export.json`);
  let manifest;
  try { manifest = JSON.parse(await text(first)); } catch (e) { throw new ClipdbError('BAD_EXPORT', `not a clipdb export: clipdb-export.json is not JSON (${e.message})`); }
  if (manifest?.format !== FORMAT) throw new ClipdbError('BAD_EXPORT', `not a clipdb export (format '${manifest?.format}')`);
  if (manifest.version !== VERSION) throw new ClipdbError('UNSUPPORTED', `clipdb export version ${manifest.version} is not supported (this clipdb reads version ${VERSION})`);
  const marker = `import${SEP}${manifest.created ?? ''}${SEP}${manifest.producer ?? ''}`;
  const resuming = db._meta.has(marker);
  // Index definitions and (index, model) pairs.
  const sets = new Map();
  if (manifest.vectorIndexes !== undefined && !Array.isArray(manifest.vectorIndexes)) throw new ClipdbError('BAD_EXPORT', 'the manifest\'s "vectorIndexes" is not a list');
  const metaOps = [{ store: 'meta', key: marker, value: { started: new Date().toISOString(), manifest: { created: manifest.created, producer: manifest.producer } } }];
  for (const vi of manifest.vectorIndexes ?? []) {
    if (!isName(vi?.name) || !isName(vi.model?.identifier) || !Number.isInteger(vi.model?.dim) || vi.model.dim < 1 ||
        !isCount(vi.id) || sets.has(vi.id) || !isName(vi.collection) || typeof vi.key !== 'string' || vi.key === '' ||
        (vi.filter != null && (typeof vi.filter !== 'object' || Array.isArray(vi.filter)))) {
      throw new ClipdbError('BAD_EXPORT', `bad vector index entry in the manifest: ${JSON.stringify(vi)}`);
    }
    sets.set(vi.id, { vi, nextSeq: null });
    const vsKey = `vset${SEP}${vi.name}${SEP}${vi.model.identifier}`;
    const known = db._meta.get(vsKey);
    if (known && known.dim !== vi.model.dim) throw new ClipdbError('MODEL_MISMATCH', `vector index '${vi.name}' keeps ${known.dim}-dimensional vectors of '${vi.model.identifier}'; the file has ${vi.model.dim}-dimensional ones`);
    if (!known) metaOps.push({ store: 'meta', key: vsKey, value: { index: vi.name, model: vi.model.identifier, dim: vi.model.dim, collection: vi.collection } });
    const def = db._meta.get(indexMetaKey(vi.name));
    if (def && (def.collection !== vi.collection || def.key !== vi.key)) {
      throw new ClipdbError('MODEL_MISMATCH', `vector index '${vi.name}' of this store indexes key '${def.key}' of '${def.collection}'; the file's indexes key '${vi.key}' of '${vi.collection}'`);
    }
    if (!def && vi.compatible !== undefined) {
      metaOps.push({ store: 'meta', key: indexMetaKey(vi.name), value: { name: vi.name, collection: vi.collection, key: vi.key, filter: vi.filter ?? {}, model: vi.model, compatible: vi.compatible ?? null } });
    }
  }
  await db._write(metaOps);
  for (const op of metaOps) db._meta.set(op.key, op.value);

  let documents = 0, vectors = 0, skipped = 0, batches = 0;
  let pendingEntry = await next();
  for (;;) {
    if (signal?.aborted) throw new ClipdbError('ABORTED', 'the import was aborted', { cause: signal.reason, details: { documents } });
    if (!pendingEntry) throw new ClipdbError('BAD_EXPORT', 'the export file ends without its end record (clipdb-end.json): it is truncated');
    if (pendingEntry.name === 'clipdb-end.json') {
      let end;
      try { end = JSON.parse(await text(pendingEntry)); } catch (e) { throw new ClipdbError('BAD_EXPORT', `the end record (clipdb-end.json) is not JSON (${e.message})`); }
      if (end?.batches !== batches) throw new ClipdbError('BAD_EXPORT', `the export file lists ${end?.batches} batches but holds ${batches}`);
      break;
    }
    const m = /^batch-(\d{6,})\/docs\.jsonl$/.exec(pendingEntry.name);
    if (!m) throw new ClipdbError('BAD_EXPORT', `unexpected entry '${pendingEntry.name}' where a batch should start`);
    const B = m[1];
    const lines = (await text(pendingEntry)).split('\n').filter((l) => l !== '');
    const vecs = new Map(), blobs = new Map();
    for (pendingEntry = await next(); pendingEntry && pendingEntry.name.startsWith(`batch-${B}/`); pendingEntry = await next()) {
      const rest = pendingEntry.name.slice(B.length + 7);
      let mm;
      if ((mm = /^vectors-(\d+)\.f32$/.exec(rest))) {
        const bytes = pendingEntry.data instanceof Uint8Array ? pendingEntry.data : new Uint8Array(await pendingEntry.data.arrayBuffer());
        vecs.set(Number(mm[1]), float32FromLE(bytes, pendingEntry.name));
      } else if ((mm = /^blob-(\d+)$/.exec(rest))) {
        blobs.set(Number(mm[1]), pendingEntry.data);
      } else throw new ClipdbError('BAD_EXPORT', `unexpected entry '${pendingEntry.name}'`);
    }
    batches++;
    // One batch → one write.
    const ops = [], docsIn = [], rowsUsed = new Map(), bins = [];
    const perSet = new Map(); // set id → {ids, rows}
    for (const [ln, line] of lines.entries()) {
      let o;
      try { o = JSON.parse(line); } catch (e) { throw new ClipdbError('BAD_EXPORT', `batch ${B} line ${ln + 1} is not JSON (${e.message})`); }
      const where = `batch ${B} line ${ln + 1}`;
      if (o == null || typeof o !== 'object' || Array.isArray(o)) throw new ClipdbError('BAD_EXPORT', `${where} is not a JSON object`);
      const col = o.c, id = o.id;
      if (typeof col !== 'string' || col === '' || col.includes(SEP) || !(typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)))) {
        throw new ClipdbError('BAD_EXPORT', `batch ${B} line ${ln + 1}: bad collection or _id`);
      }
      const refs = new Map(lineRefs(o.b, where).map((r) => [r.n, r]));
      const doc = fromJsonForm(o.doc, refs, where);
      if (doc._id !== id) throw new ClipdbError('BAD_EXPORT', `${where}: the document's _id differs from its line's id`);
      // Each listed binary is the one its {$ref} stands at, and each {$ref} is listed.
      const refAt = refPathsOf(o.doc);
      if (refAt.size !== refs.size || [...refs.values()].some((r) => refAt.get(r.path) !== r.n)) throw new ClipdbError('BAD_EXPORT', `${where}: the binary list "b" does not match the document's {$ref} fields`);
      const vlist = o.v ?? [];
      if (!Array.isArray(vlist) || vlist.some((s) => !sets.has(s)) || new Set(vlist).size !== vlist.length) {
        throw new ClipdbError('BAD_EXPORT', `${where}: "v" must list vector index ids of the manifest, each once (got ${JSON.stringify(o.v)})`);
      }
      for (const s of vlist) if (sets.get(s).vi.collection !== col) throw new ClipdbError('BAD_EXPORT', `${where}: a document of '${col}' has a vector of index ${s}, which indexes '${sets.get(s).vi.collection}'`);
      for (const s of vlist) rowsUsed.set(s, (rowsUsed.get(s) ?? 0) + 1);
      if (db._docs(col).has(id)) {
        if (resuming || onConflict === 'skip') { skipped++; docsIn.push(null); for (const s of vlist) { if (!perSet.has(s)) perSet.set(s, { ids: [], rows: [] }); perSet.get(s).rows.push(null); } continue; }
        throw new ClipdbError('DUPLICATE_ID', `the export file holds _id ${JSON.stringify(id)} of '${col}', which this store already has (pass onConflict: 'skip' to keep the store's); ${documents} documents were imported before it`, { details: { id, documents } });
      }
      if (docsIn.some((d) => d && d.col === col && d.id === id)) throw new ClipdbError('BAD_EXPORT', `batch ${B}: _id ${JSON.stringify(id)} of '${col}' appears twice`);
      const rec = { doc, seq: db._seq++ };
      for (const r of refs.values()) {
        let data = blobs.get(r.n);
        if (data === undefined) throw new ClipdbError('BAD_EXPORT', `batch ${B}: binary ${r.n} of document ${JSON.stringify(id)} is missing`);
        const ref = getPath(doc, r.path);
        if (ref == null || ref.$clipdb !== 'ref') throw new ClipdbError('BAD_EXPORT', `batch ${B}: binary ${r.n} of document ${JSON.stringify(id)} is not referenced at '${r.path}'`);
        const size = hasBlob && data instanceof Blob ? data.size : data.byteLength;
        if (size !== r.size) throw new ClipdbError('BAD_EXPORT', `batch ${B}: binary ${r.n} of document ${JSON.stringify(id)} holds ${size} bytes, its line says ${r.size}`);
        bins.push({ ref, record: { size: r.size, data } });
      }
      docsIn.push({ col, id, rec });
      for (const s of vlist) {
        if (!sets.has(s)) throw new ClipdbError('BAD_EXPORT', `batch ${B}: document ${JSON.stringify(id)} has a vector of index ${s}, which the manifest does not list`);
        if (!perSet.has(s)) perSet.set(s, { ids: [], rows: [] });
        perSet.get(s).ids.push(id); perSet.get(s).rows.push(id);
      }
    }
    const applies = [];
    for (const [s, { rows }] of perSet) {
      const { vi } = sets.get(s);
      const flat = vecs.get(s), dim = vi.model.dim;
      if (!flat || flat.length !== rows.length * dim) throw new ClipdbError('BAD_EXPORT', `batch ${B}: vectors-${s}.f32 holds ${flat ? flat.length / dim : 0} vectors, its documents list ${rows.length}`);
      const ids = [], list = [];
      rows.forEach((id, i) => { if (id !== null) { ids.push(id); list.push(flat.subarray(i * dim, (i + 1) * dim)); } });
      // A vector a vector index refuses (zero, NaN, infinite) is refused here, before it is
      // stored: stored, it would make the index fail to load every time the store is opened.
      list.forEach((x, i) => {
        if (!x.every(Number.isFinite) || x.every((y) => y === 0)) throw new ClipdbError('BAD_EXPORT', `batch ${B}: the vector of document ${JSON.stringify(ids[i])} in vectors-${s}.f32 is zero, NaN or infinite`);
      });
      if (!ids.length) continue;
      const st = db._vis.get(vi.name);
      if (st && st.set.model === vi.model.identifier) {
        const a = st.set.appendOp(ids, list);
        ops.push(a.op); applies.push(a.apply);
      } else {
        const entry = sets.get(s);
        if (entry.nextSeq === null) {
          const last = await db.adapter.lastKey('vectors', vsetPrefix(vi.name, vi.model.identifier));
          entry.nextSeq = last === undefined ? 0 : chunkSeq(last) + 1;
        }
        const fl = new Float32Array(ids.length * dim);
        list.forEach((x, i) => fl.set(x, i * dim));
        ops.push({ store: 'vectors', key: chunkKey(vi.name, vi.model.identifier, entry.nextSeq++), value: { ids: ids.map(idKey), vectors: fl, del: [] } });
      }
      vectors += ids.length;
    }
    void rowsUsed;
    // The batch's binary fields: one pack (packs.mjs), written with the batch.
    const packed = await db._packs.pack(bins);
    ops.push(...packed.ops);
    // The documents' pages: placed tentatively, taken back if the write fails.
    const added = docsIn.filter(Boolean);
    const byCol = new Map();
    for (const d of added) {
      if (!db._cols.has(d.col)) db._cols.set(d.col, new DocMap());
      db._cols.get(d.col).set(d.id, d.rec);
      if (!byCol.has(d.col)) byCol.set(d.col, []);
      byCol.get(d.col).push(d.id);
    }
    for (const [col, ids] of byCol) ops.unshift(...db._pages.ops(col, db._pages.place(col, ids), db._cols.get(col)));
    try { await db._write(ops); } catch (e) {
      for (const d of added) { db._cols.get(d.col).delete(d.id); db._pages.remove(d.col, d.id); }
      throw e;
    }
    packed.commit();
    documents += added.length;
    for (const f of applies) f();
    onProgress?.({ documents, vectors, skipped });
  }
  await db._write([{ store: 'meta', key: marker, delete: true }]);
  db._meta.delete(marker);
  for (const st of db._vis.values()) await st.set.mergeTail((o) => db._write(o));
  return { documents, vectors, skipped };
}

