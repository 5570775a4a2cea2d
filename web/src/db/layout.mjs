// Keys of the storage layout (version 2; storage.mjs describes the stores) and the conversion of
// clipdb 0.1 records into it.
import { ClipdbError } from '../errors.mjs';
import { splitDoc } from './codec.mjs';

export const SEP = '\u0000';

/**
 * The key form of an `_id`, type kept: 's<string>' or 'n<number>', so `1` and `"1"` are two
 * documents in storage as they are in the collection's Map.
 */
export function idKey(id) {
  if (typeof id === 'string') return `s${id}`;
  if (typeof id === 'number') return `n${Object.is(id, -0) ? 0 : id}`;
  throw new ClipdbError('INVALID_ARGUMENT', `_id must be a string or a finite number, got ${typeof id}`);
}

/** Inverse of idKey; a key of neither form is a damaged record. */
export function idFromKey(k) {
  if (k[0] === 's') return k.slice(1);
  if (k[0] === 'n') {
    const n = Number(k.slice(1));
    if (k.length > 1 && Number.isFinite(n)) return n;
  }
  throw new ClipdbError('CORRUPT', `the store is damaged: ${JSON.stringify(k)} is not a document key`);
}

export const docKey = (collection, id) => `${collection}${SEP}${idKey(id)}`;
export const blobKey = (collection, id, path) => `${collection}${SEP}${idKey(id)}${SEP}${path}`;
export const blobPrefix = (collection, id) => `${collection}${SEP}${idKey(id)}${SEP}`;
/** Vector chunk keys: one key space per (vector index, model); chunks in `seq` order. */
export const vsetPrefix = (index, model) => `${index}${SEP}${model}${SEP}`;
export const chunkKey = (index, model, seq) => `${vsetPrefix(index, model)}${String(seq).padStart(12, '0')}`;
export const chunkSeq = (key) => Number(key.slice(key.lastIndexOf(SEP) + 1));
export const indexMetaKey = (name) => `vectorIndex${SEP}${name}`;

/** Split "<collection>\0<t><id>" into [collection, id]. */
export function parseDocKey(k) {
  const i = k.indexOf(SEP);
  if (i < 0) throw new ClipdbError('CORRUPT', `the store is damaged: ${JSON.stringify(k)} is not a document key`);
  return [k.slice(0, i), idFromKey(k.slice(i + 1))];
}

// clipdb 0.1 kept binary fields inline as {$clipdb: 'blob'|'arraybuffer'|'imagedata', ...}.
const TAG = '$clipdb';
function v1ToUser(value) {
  if (value == null || typeof value !== 'object' || ArrayBuffer.isView(value) || value instanceof Date) return value;
  if (Array.isArray(value)) return value.map(v1ToUser);
  switch (value[TAG]) {
    case 'blob': return typeof Blob !== 'undefined' ? new Blob([value.bytes], { type: value.type }) : value.bytes;
    case 'arraybuffer': return value.bytes.buffer.slice(value.bytes.byteOffset, value.bytes.byteOffset + value.bytes.byteLength);
    case 'imagedata': return { [TAG + 'ImageData']: true, width: value.width, height: value.height, data: value.data };
    default: return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, v1ToUser(v)]));
  }
}

/**
 * One clipdb 0.1 document record {doc, pending, seq} in layout 2: its page entry {doc, seq}
 * and the storage ops of its binary fields and pending mark (the caller writes the pages).
 */
export function convertV1Doc(collection, rec) {
  const { doc, bins } = splitDoc(rec.doc);
  const key = docKey(collection, rec.doc._id);
  const ops = [];
  for (const b of bins) ops.push({ store: 'blobs', key: blobKey(collection, rec.doc._id, b.path), value: b.record });
  if (rec.pending?.length) ops.push({ store: 'pending', key, value: [...rec.pending] });
  return { entry: { doc, seq: rec.seq }, ops };
}
