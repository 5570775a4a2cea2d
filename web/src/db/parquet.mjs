// Parquet export of one vector index: one row per document that has a vector, with its id, its
// collection, the vector and the document's small scalar fields, as one Parquet file streamed
// row group by row group. Parquet is what server vector databases and query engines bulk-load
// (DuckDB, LanceDB, Milvus, Pinecone imports), so a store that outgrows one device can move.
//
// The writer is hyparquet-writer (pure JS, no native code), imported only when an export runs.
// Its ParquetWriter encodes nested columns value by value; the vector column (a list of exactly
// `dim` floats per row, never null) needs none of that: this module writes its column chunk
// itself as one plain-encoded data page per row group (the Float32Array's bytes as they are,
// with run-length encoded levels), and lets hyparquet-writer write the other columns, the page
// headers and the footer. That uses hyparquet-writer's column encoder and row-group fields
// directly, which is why its version is pinned exactly (the tests read every file back).
// Memory: the rows of one row group and its encoded bytes are all the export holds at a time,
// on top of what the store already holds; the file leaves through a ReadableStream with a
// high-water mark of one chunk.
import { ClipdbError } from '../errors.mjs';
import { isRef } from './codec.mjs';
import { VectorSet, ChunkVectors } from './vector-set.mjs';
import { SEP, docKey, indexMetaKey } from './layout.mjs';

export const PARQUET_FORMAT = 'clipdb-parquet';
export const PARQUET_VERSION = 1;

/** Column names the export itself uses; document fields of these names are renamed (`doc.<name>`). */
const RESERVED = new Set(['id', 'id_type', 'collection', 'vector']);

/** Most vector values in one row group (256 MiB of float32; one data page holds them). */
const MAX_GROUP_VALUES = 1 << 26;

/** Default rows per row group: about one million float32 values of vectors, at least 256 rows. */
export const defaultRowGroupSize = (dim) => Math.max(256, Math.floor((1 << 20) / dim));

/**
 * The kind of a stored value as a Parquet column sees it: 'string', 'int', 'double',
 * 'boolean', 'date', 'json' (arrays), 'object' (walk into it) or null (skipped: null,
 * binary fields, typed arrays, functions).
 */
function kindOf(v) {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'string': return 'string';
    case 'boolean': return 'boolean';
    case 'number': return Number.isSafeInteger(v) ? 'int' : 'double';
    case 'object':
      if (v instanceof Date) return Number.isFinite(v.getTime()) ? 'date' : null;
      if (ArrayBuffer.isView(v) || isRef(v)) return null;
      if (Array.isArray(v)) return arrayIsPlain(v) ? 'json' : null;
      return 'object';
    default: return null;
  }
}

/** An array that JSON can carry as it is: no binary fields or typed arrays inside. */
function arrayIsPlain(a) {
  for (const x of a) {
    if (x == null || typeof x !== 'object' || x instanceof Date) continue;
    if (ArrayBuffer.isView(x) || isRef(x)) return false;
    if (Array.isArray(x) ? !arrayIsPlain(x) : !arrayIsPlain(Object.values(x))) return false;
  }
  return true;
}

/**
 * Call `visit(path, keys, value, kind)` for every leaf of a stored document except `_id`:
 * `path` is the dotted name, `keys` the property names leading to it (a key may hold a dot).
 */
function walkLeaves(doc, visit, prefix = '', keys = []) {
  for (const [k, v] of Object.entries(doc)) {
    if (prefix === '' && k === '_id') continue;
    const path = prefix === '' ? k : `${prefix}.${k}`;
    const kind = kindOf(v);
    if (kind === 'object') walkLeaves(v, visit, path, [...keys, k]);
    else if (kind !== null) visit(path, [...keys, k], v, kind);
  }
}

/** The column type that holds every kind seen in one field. */
function columnType(kinds) {
  if (kinds.size === 1) return [...kinds][0];
  if (kinds.size === 2 && kinds.has('int') && kinds.has('double')) return 'double';
  return 'json';
}

const SCHEMA = {
  string: { type: 'BYTE_ARRAY', converted_type: 'UTF8' },
  int: { type: 'INT64' },
  double: { type: 'DOUBLE' },
  boolean: { type: 'BOOLEAN' },
  date: { type: 'INT64', converted_type: 'TIMESTAMP_MILLIS' },
  json: { type: 'BYTE_ARRAY', converted_type: 'JSON' },
};

/** A value of a field as its column writes it. */
function cell(v, type) {
  if (v === null || v === undefined) return null;
  switch (type) {
    case 'int': return BigInt(v);
    case 'date': return BigInt(v.getTime());
    case 'json': return v; // the writer JSON-encodes (Dates as ISO strings)
    default: return v;
  }
}

/**
 * Work out the field columns: every scalar leaf (string, number, boolean, Date) of the
 * documents that have a vector, or, when `fields` is given, every leaf under those paths,
 * arrays included (as JSON); each column has one type over all rows.
 */
function fieldColumns(recs, ids, fields) {
  const wanted = fields ? fields.map(String) : null;
  const picks = (path) => !wanted || wanted.some((f) => path === f || path.startsWith(`${f}.`));
  const kinds = new Map(); // path → {keys, set of kinds}, in first-seen order
  for (const id of ids) {
    walkLeaves(recs.get(id).doc, (path, keys, v, kind) => {
      // Arrays (tags, raw vectors) only when `fields` asks for them.
      if (!picks(path) || (kind === 'json' && !wanted)) return;
      if (!kinds.has(path)) kinds.set(path, { keys, set: new Set() });
      kinds.get(path).set.add(kind);
    });
  }
  if (wanted) {
    const missing = wanted.filter((f) => ![...kinds.keys()].some((p) => p === f || p.startsWith(`${f}.`)));
    if (missing.length) {
      throw new ClipdbError('INVALID_ARGUMENT', `exportParquet: no exported document has a scalar field ${missing.map((f) => `'${f}'`).join(', ')} (fields must name strings, numbers, booleans, dates, arrays or objects holding them)`, { details: { missing } });
    }
  }
  const taken = new Set(RESERVED);
  const cols = [];
  for (const [path, { keys, set }] of kinds) {
    let name = path;
    while (taken.has(name)) name = `doc.${name}`;
    taken.add(name);
    cols.push({ path, keys, name, type: columnType(set), kinds: set });
  }
  return cols;
}

/** The value under `keys` in a stored document (undefined when a step is missing). */
function leaf(doc, keys) {
  let o = doc;
  for (const k of keys) {
    if (o == null || typeof o !== 'object') return undefined;
    o = o[k];
  }
  return o;
}

/** The parts of hyparquet-writer this module uses (modules that do not import node:fs). */
async function loadWriter() {
  let pw, bw, col, dremel, schema, page;
  try {
    [pw, bw, col, dremel, schema, page] = await Promise.all([
      import('hyparquet-writer/src/parquet-writer.js'), import('hyparquet-writer/src/bytewriter.js'),
      import('hyparquet-writer/src/column.js'), import('hyparquet-writer/src/dremel.js'), import('hyparquet-writer/src/schema.js'),
      import('hyparquet-writer/src/datapage.js'),
    ]);
  } catch (e) {
    throw new ClipdbError('UNSUPPORTED', `exportParquet needs the npm package hyparquet-writer, which could not be loaded here (${e?.message ?? e}); in a page without a bundler, map "hyparquet-writer/", "hyparquet" and "hyparquet/" in the import map (module Workers see no import map: export from the page, or bundle)`, { cause: e });
  }
  return {
    ParquetWriter: pw.ParquetWriter, ByteWriter: bw.ByteWriter, writeColumn: col.writeColumn, encodeNestedValues: dremel.encodeNestedValues,
    schemaPathResolver: schema.schemaPathResolver, writePageHeader: page.writePageHeader,
  };
}

/**
 * The byte sink the Parquet writer writes into: a growing buffer whose contents are handed out
 * (and the buffer reused) after every row group.
 */
function drainingWriter(ByteWriter, out) {
  const w = new ByteWriter(1 << 16);
  const drain = () => {
    if (w.index > 0) out.push(new Uint8Array(w.buffer.slice(0, w.index)));
    w.index = 0;
  };
  w.flush = drain;
  w.finish = drain;
  // Bytes the caller will not touch again (a row group's vectors) join the output as they are.
  w.appendOwned = (bytes) => { drain(); out.push(bytes); w.offset += bytes.byteLength; };
  return w;
}

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The column chunk of `n` vectors of `dim` floats (`flat`, row after row, not used by the caller
 * afterwards: its bytes become part of the output): one DATA_PAGE_V2, PLAIN, uncompressed. Levels (bit width 1, RLE runs): repetition 0 then dim-1 times 1 for
 * each row; definition 1 for every value (each list present, elements required).
 * @returns {{chunk: object}} what hyparquet-writer's column encoder returns for a chunk
 */
function writeVectorChunk(lib, writer, schemaPath, flat, n, dim) {
  const start = writer.offset;
  const levels = new lib.ByteWriter(n * 8 + 16);
  for (let r = 0; r < n; r++) {
    levels.appendVarInt(2); levels.appendUint8(0); // a run of one 0
    if (dim > 1) { levels.appendVarInt((dim - 1) * 2); levels.appendUint8(1); } // dim-1 ones
  }
  const repLength = levels.offset;
  levels.appendVarInt(n * dim * 2); levels.appendUint8(1);
  const defLength = levels.offset - repLength;
  let data = new Uint8Array(flat.buffer, flat.byteOffset, flat.byteLength);
  if (!littleEndianHost) {
    data = new Uint8Array(flat.byteLength);
    const dv = new DataView(data.buffer);
    flat.forEach((x, i) => dv.setFloat32(i * 4, x, true));
  }
  const size = levels.offset + data.byteLength;
  lib.writePageHeader(writer, {
    type: 'DATA_PAGE_V2', uncompressed_page_size: size, compressed_page_size: size,
    data_page_header_v2: {
      num_values: n * dim, num_nulls: 0, num_rows: n, encoding: 'PLAIN',
      definition_levels_byte_length: defLength, repetition_levels_byte_length: repLength, is_compressed: false,
    },
  });
  writer.appendBytes(levels.getBytes());
  if (writer.appendOwned) writer.appendOwned(data); else writer.appendBytes(data);
  const total = BigInt(writer.offset - start);
  return {
    chunk: {
      meta_data: {
        type: 'FLOAT', encodings: ['PLAIN', 'RLE'], path_in_schema: schemaPath.slice(1).map((e) => e.name),
        codec: 'UNCOMPRESSED', num_values: BigInt(n * dim), total_compressed_size: total, total_uncompressed_size: total,
        data_page_offset: BigInt(start),
      },
      file_offset: BigInt(start),
    },
  };
}

/**
 * Write one row group of `n` rows: `columns` in schema order, each {name, data} (one value per
 * row, encoded by hyparquet-writer) or {name, write(writer, schemaPath)} (writes its own column
 * chunk). Mirrors ParquetWriter.write for a single group.
 */
function writeRowGroup(lib, pw, resolve, columns, n) {
  const start = pw.writer.offset;
  const chunks = [];
  for (const c of columns) {
    let path = resolve([c.name]);
    while (path.at(-1).children.length) path = [...path, path.at(-1).children[0]]; // one leaf per column here
    const schemaPath = path.map((t) => t.element);
    let result;
    if (c.write) result = c.write(pw.writer, schemaPath);
    else {
      const column = {
        columnName: schemaPath.slice(1).map((e) => e.name).join('.'), element: schemaPath.at(-1), schemaPath,
        codec: pw.codec, compressors: pw.compressors, stats: true, statisticsTruncateLength: undefined,
        pageSize: 1 << 20, dictionarySize: undefined, columnIndex: false, offsetIndex: true, encoding: undefined, bloomFilter: false,
      };
      result = lib.writeColumn({ writer: pw.writer, column, pageData: lib.encodeNestedValues(path, c.data) });
    }
    chunks.push(result.chunk);
    pw.pendingIndexes.push(result);
  }
  let total = 0n;
  for (const ch of chunks) total += ch.meta_data?.total_uncompressed_size ?? 0n;
  pw.num_rows += BigInt(n);
  pw.row_groups.push({ columns: chunks, total_byte_size: total, num_rows: BigInt(n), total_compressed_size: BigInt(pw.writer.offset - start) });
  pw.writer.flush();
}

function checkOptions(o) {
  if (o == null || typeof o !== 'object') throw new ClipdbError('INVALID_ARGUMENT', 'exportParquet needs an options object {vectorIndex, fields?, rowGroupSize?, model?}');
  const { vectorIndex, fields, rowGroupSize, model } = o;
  if (typeof vectorIndex !== 'string' || vectorIndex === '') throw new ClipdbError('INVALID_ARGUMENT', 'exportParquet needs {vectorIndex: name} naming the vector index whose vectors to export');
  if (fields !== undefined && (!Array.isArray(fields) || fields.some((f) => typeof f !== 'string' || f === ''))) {
    throw new ClipdbError('INVALID_ARGUMENT', 'exportParquet: fields must be an array of non-empty dotted field paths');
  }
  if (rowGroupSize !== undefined && (!Number.isInteger(rowGroupSize) || rowGroupSize < 1)) {
    throw new ClipdbError('INVALID_ARGUMENT', `exportParquet: rowGroupSize must be a positive integer, got ${rowGroupSize}`);
  }
  if (model !== undefined && (typeof model !== 'string' || model === '')) throw new ClipdbError('INVALID_ARGUMENT', 'exportParquet: model must be a model identifier string');
}

/**
 * Which (vector index, model) pair to export, and its definition. Throws NOT_FOUND for an
 * unknown vector index or a model whose vectors the store does not keep for it.
 */
function pickSet(db, name, model) {
  const def = db._meta.get(indexMetaKey(name));
  const st = db._vis.get(name);
  if (!def && !st) throw new ClipdbError('NOT_FOUND', `exportParquet: this store has no vector index named '${name}'`);
  const identifier = model ?? (st ? st.set.model : def.model.identifier);
  const vs = db._meta.get(`vset${SEP}${name}${SEP}${identifier}`);
  if (!vs) {
    const kept = [];
    for (const [k, v] of db._meta) if (k.startsWith(`vset${SEP}${name}${SEP}`)) kept.push(v.model);
    throw new ClipdbError('NOT_FOUND', `exportParquet: vector index '${name}' keeps no vectors of model '${identifier}' (it keeps ${kept.length ? kept.map((m) => `'${m}'`).join(', ') : 'none'})`, { details: { kept } });
  }
  const collection = def?.collection ?? st.collection;
  return { def, vs, collection, loaded: st && st.set.model === identifier ? st.set : null };
}

/**
 * Export the vectors of one vector index as a ReadableStream of one Parquet file (see
 * Database.exportParquet). Bad options throw at once; store errors (NOT_FOUND, CORRUPT) come
 * through the stream. The database's write lock is taken by this call and held until the
 * stream ends, fails or is cancelled: writes made meanwhile wait.
 */
export function exportParquet(db, options) {
  checkOptions(options);
  return db._lockedStream(() => parquetChunks(db, options));
}

async function* parquetChunks(db, options) {
  await db._ready();
  const { vectorIndex, fields, model } = options;
  const lib = await loadWriter();
  const { def, vs, collection, loaded } = pickSet(db, vectorIndex, model);
  const dim = vs.dim;
  const recs = db._docs(collection);
  let set = loaded, temp = null, stored = null, live = null;
  try {
    if (set?.compact) {
      // A compact C index holds 16-bit copies: the file gets the stored float32 vectors, read
      // from the chunk records when the documents' order follows theirs, else as below.
      live = [];
      for (const id of recs.keys()) if (set.has(id)) live.push(id);
      stored = await ChunkVectors.locate(db.adapter, vs, live, options.rowGroupSize ?? defaultRowGroupSize(dim));
      if (!stored) set = null;
    }
    if (!set) {
      // Not added (or added with another model): read this pair's chunk records into a C index
      // of its own, freed when the export ends.
      const owesCurrent = def && def.model.identifier === vs.model;
      temp = new VectorSet({ mod: db._mod, adapter: db.adapter, index: vs.index, model: vs.model, dim, collection });
      await temp.load({
        isLive: (id) => recs.has(id) && !(owesCurrent && (db._pending.get(docKey(collection, id)) ?? []).includes(vs.index)),
      });
      set = temp;
    }
    let ids = stored ? live : null;
    if (!ids) { ids = []; for (const id of recs.keys()) if (set.has(id)) ids.push(id); }
    const cols = fieldColumns(recs, ids, fields);
    const rowGroupSize = options.rowGroupSize ?? defaultRowGroupSize(dim);
    if (rowGroupSize * dim > MAX_GROUP_VALUES) {
      throw new ClipdbError('INVALID_ARGUMENT', `exportParquet: rowGroupSize ${rowGroupSize} × ${dim} dimensions is over ${MAX_GROUP_VALUES} vector values per row group; use at most ${Math.floor(MAX_GROUP_VALUES / dim)} rows`);
    }

    const schema = [
      { name: 'schema', num_children: 4 + cols.length },
      { name: 'id', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
      { name: 'id_type', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
      { name: 'collection', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
      { name: 'vector', repetition_type: 'REQUIRED', converted_type: 'LIST', num_children: 1 },
      { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
      { name: 'element', type: 'FLOAT', repetition_type: 'REQUIRED' },
      ...cols.map((c) => ({ name: c.name, ...SCHEMA[c.type], repetition_type: 'OPTIONAL' })),
    ];
    const info = {
      format: PARQUET_FORMAT, version: PARQUET_VERSION, created: new Date().toISOString(),
      collection, vectorIndex: vs.index, key: def?.key ?? null,
      model: { identifier: vs.model, dim }, normalized: true, rows: ids.length,
      fields: cols.map((c) => ({ name: c.name, path: c.path, type: c.type })),
    };
    const out = [];
    const pw = new lib.ParquetWriter({
      writer: drainingWriter(lib.ByteWriter, out),
      schema,
      kvMetadata: [{ key: 'model', value: vs.model }, { key: 'clipdb', value: JSON.stringify(info) }],
      createdBy: 'clipdb (hyparquet-writer)',
    });
    const resolve = lib.schemaPathResolver(schema);
    for (let start = 0; start < ids.length; start += rowGroupSize) {
      const part = ids.slice(start, start + rowGroupSize);
      const n = part.length;
      const idCol = new Array(n), typeCol = new Array(n), colCol = new Array(n).fill(collection);
      const flat = stored ? await stored.rows(part) : new Float32Array(n * dim);
      const fieldCols = cols.map(() => new Array(n));
      for (let i = 0; i < n; i++) {
        const id = part[i];
        idCol[i] = String(id);
        typeCol[i] = typeof id;
        if (!stored) flat.set(set.vectorOf(id), i * dim);
        const doc = recs.get(id).doc;
        for (let c = 0; c < cols.length; c++) {
          const raw = leaf(doc, cols[c].keys);
          fieldCols[c][i] = cols[c].kinds.has(kindOf(raw)) ? cell(raw, cols[c].type) : null;
        }
      }
      writeRowGroup(lib, pw, resolve, [
        { name: 'id', data: idCol },
        { name: 'id_type', data: typeCol },
        { name: 'collection', data: colCol },
        { name: 'vector', write: (w, schemaPath) => writeVectorChunk(lib, w, schemaPath, flat, n, dim) },
        ...cols.map((c, k) => ({ name: c.name, data: fieldCols[k] })),
      ], n);
      yield* out.splice(0);
    }
    pw.finish();
    yield* out.splice(0);
  } finally {
    temp?.free();
  }
}
