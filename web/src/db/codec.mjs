// Document values in three forms:
//   user form    what callers pass and get back: plain objects whose binary fields hold Blob,
//                ArrayBuffer, Uint8Array (encoded image bytes) or ImageData;
//   stored form  what the 'docs' store keeps: the small fields only (structured-clone friendly),
//                each binary field replaced by a reference {$clipdb: 'ref', as, size, type?,
//                width?, height?}; the binary itself is a separate 'blobs' record
//                {as, size, type?, width?, height?, data: Blob|Uint8Array}, read only when a
//                caller asks for the document;
//   JSON form    the stored form with typed arrays as base64, for export files.
import { ClipdbError } from '../errors.mjs';

const TAG = '$clipdb';
const hasBlob = typeof Blob !== 'undefined';
const hasImageData = typeof ImageData !== 'undefined';

function isImageDataLike(v) {
  return v != null && typeof v === 'object' && (hasImageData && v instanceof ImageData ||
    (v.data instanceof Uint8ClampedArray && Number.isInteger(v.width) && Number.isInteger(v.height) && v.constructor?.name === 'ImageData'));
}

export const isRef = (v) => v != null && typeof v === 'object' && v[TAG] === 'ref';

/** The binary record for a user value, or null if the value is not binary. */
function binaryRecord(value) {
  if (value == null || typeof value !== 'object') return null;
  if (hasBlob && value instanceof Blob) return { as: 'blob', type: value.type, size: value.size, data: value };
  if (value instanceof ArrayBuffer) return { as: 'arraybuffer', size: value.byteLength, data: new Uint8Array(value.slice(0)) };
  if (isImageDataLike(value)) {
    return { as: 'imagedata', width: value.width, height: value.height, size: value.data.byteLength, data: new Uint8Array(value.data.buffer.slice(value.data.byteOffset, value.data.byteOffset + value.data.byteLength)) };
  }
  if (value instanceof Uint8Array || value instanceof Uint8ClampedArray) {
    return { as: value instanceof Uint8Array ? 'uint8array' : 'uint8clampedarray', size: value.byteLength, data: new Uint8Array(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength)) };
  }
  // clipdb 0.1's inline forms (converted when an old store is opened).
  if (value[TAG] === 'blob') return { as: 'blob', type: value.type, size: value.bytes.byteLength, data: hasBlob ? new Blob([value.bytes], { type: value.type }) : value.bytes };
  if (value[TAG] === 'arraybuffer') return { as: 'arraybuffer', size: value.bytes.byteLength, data: value.bytes };
  if (value[TAG] === 'imagedata') return { as: 'imagedata', width: value.width, height: value.height, size: value.data.byteLength, data: new Uint8Array(value.data.buffer, value.data.byteOffset, value.data.byteLength) };
  return null;
}

const refOf = (rec) => {
  const r = { [TAG]: 'ref', as: rec.as, size: rec.size };
  if (rec.type !== undefined) r.type = rec.type;
  if (rec.width !== undefined) { r.width = rec.width; r.height = rec.height; }
  return r;
};

/**
 * Split a user document into its stored form and its binary fields (synchronous: Blobs are
 * kept as Blobs, not read). References already in the value (a stored document being updated)
 * are kept as they are and listed in `kept`.
 * Each entry of `bins` carries the reference object placed in `doc` (packs.mjs adds where
 * the bytes are stored to it).
 * @returns {{doc: object, bins: Array<{path: string, record: object, ref: object}>, kept: string[]}}
 */
export function splitDoc(value) {
  const bins = [], kept = [];
  const walk = (v, path) => {
    if (v == null || typeof v !== 'object') {
      if (typeof v === 'bigint') throw new ClipdbError('INVALID_ARGUMENT', `field '${path}' holds a BigInt, which a document cannot store`);
      return v;
    }
    if (isRef(v)) { kept.push(path); return { ...v }; }
    const rec = binaryRecord(v);
    if (rec) { const ref = refOf(rec); bins.push({ path, record: rec, ref }); return ref; }
    if (v instanceof Date) return new Date(v.getTime());
    if (ArrayBuffer.isView(v)) return v.slice();
    if (Array.isArray(v)) return v.map((x, i) => walk(x, path === '' ? String(i) : `${path}.${i}`));
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined || typeof x === 'function') continue;
      out[k] = walk(x, path === '' ? k : `${path}.${k}`);
    }
    return out;
  };
  return { doc: walk(value, ''), bins, kept };
}

/** Paths of the references in a stored document. */
export function refPaths(doc) {
  const out = [];
  const walk = (v, path) => {
    if (v == null || typeof v !== 'object' || ArrayBuffer.isView(v) || v instanceof Date) return;
    if (isRef(v)) { out.push(path); return; }
    for (const [k, x] of Object.entries(v)) walk(x, path === '' ? k : `${path}.${k}`);
  };
  walk(doc, '');
  return out;
}

/** A binary record as the user gave it: Blob (disk-backed where the storage keeps one), ArrayBuffer, Uint8Array or ImageData. */
export async function binaryToUser(rec) {
  // Plain Uint8Array copies (Node's deserialiser hands back Buffers, whose slice() is a view).
  const bytes = async () => (hasBlob && rec.data instanceof Blob ? new Uint8Array(await rec.data.arrayBuffer()) : new Uint8Array(rec.data));
  switch (rec.as) {
    case 'blob': return hasBlob ? (rec.data instanceof Blob ? rec.data : new Blob([rec.data], { type: rec.type })) : bytes();
    case 'arraybuffer': { const b = await bytes(); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); }
    case 'uint8array': return bytes();
    case 'uint8clampedarray': { const b = await bytes(); return new Uint8ClampedArray(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)); }
    case 'imagedata': {
      const b = await bytes();
      const data = new Uint8ClampedArray(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      return hasImageData ? new ImageData(data, rec.width, rec.height) : { width: rec.width, height: rec.height, data };
    }
    default: throw new ClipdbError('CORRUPT', `the store is damaged: a binary field of unknown kind '${rec.as}'`);
  }
}

/** Define obj[key] as a value made by make() on first read, then kept as a plain data property. */
function lazyProperty(obj, key, make) {
  const settle = (o, v) => Object.defineProperty(o, key, { value: v, writable: true, enumerable: true, configurable: true });
  Object.defineProperty(obj, key, {
    enumerable: true, configurable: true,
    get() { const v = make(); settle(this, v); return v; },
    set(v) { settle(this, v); },
  });
}

/**
 * A stored document back in user form: references are resolved through `readBinary(path)`
 * (which returns the binary record; one with a `blob()` function becomes a property that makes
 * the Blob on first read), everything else is copied.
 */
export async function joinDoc(doc, readBinary) {
  const refs = []; // [parent, key, path]
  const walk = (v) => {
    if (v == null || typeof v !== 'object') return v;
    if (v instanceof Date) return new Date(v.getTime());
    if (ArrayBuffer.isView(v)) return v.slice();
    if (Array.isArray(v)) return v.map(walk);
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = walk(x);
    return out;
  };
  const out = walk(doc);
  const find = (v, path) => {
    if (v == null || typeof v !== 'object' || ArrayBuffer.isView(v) || v instanceof Date) return;
    for (const [k, x] of Object.entries(v)) {
      const p = path === '' ? k : `${path}.${k}`;
      if (isRef(x)) refs.push([v, k, p]); else find(x, p);
    }
  };
  find(out, '');
  await Promise.all(refs.map(async ([parent, k, path]) => {
    const rec = await readBinary(path);
    if (rec === undefined) throw new ClipdbError('CORRUPT', `the store is damaged: the binary field '${path}' of document ${JSON.stringify(doc._id)} is missing`);
    if (typeof rec.blob === 'function') { lazyProperty(parent, k, rec.blob); return; }
    parent[k] = await binaryToUser(rec);
  }));
  return out;
}

/**
 * The value a model receives for a field: Uint8Array of encoded image bytes (Blob,
 * ArrayBuffer, Uint8Array), an ImageData-like {width, height, data} (RGBA), or the value itself
 * (strings for text models). `value` is a user value or a binary record. With `blobs` (a
 * Model's option), bytes held in a Blob stay that Blob (not read here).
 */
export async function modelInput(value, { blobs = false } = {}) {
  if (value != null && typeof value === 'object') {
    const rec = value.as !== undefined && 'data' in value && 'size' in value ? value : binaryRecord(value);
    if (rec) {
      if (blobs && hasBlob && rec.data instanceof Blob && rec.as !== 'imagedata') return rec.data;
      const b = hasBlob && rec.data instanceof Blob ? new Uint8Array(await rec.data.arrayBuffer()) : rec.data;
      if (rec.as === 'imagedata') return { width: rec.width, height: rec.height, data: new Uint8ClampedArray(b.buffer, b.byteOffset, b.byteLength) };
      return b;
    }
  }
  return value;
}

/** Deep equality of stored values (used to decide whether an update changed a listener's key). */
export function storedEquals(a, b) {
  if (a === b) return true;
  if (a == null || b == null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || a.constructor !== b.constructor || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
    return true;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => storedEquals(a[k], b[k]));
}

const VIEW_TYPES = { Uint8Array, Uint8ClampedArray, Int8Array, Uint16Array, Int16Array, Uint32Array, Int32Array, Float32Array, Float64Array };

function toBase64(bytes) {
  if (typeof Buffer !== 'undefined') return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(s) {
  if (typeof Buffer !== 'undefined') { const b = Buffer.from(s, 'base64'); return new Uint8Array(b.buffer, b.byteOffset, b.length).slice(); }
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Stored form → JSON-safe value (typed arrays become {$bin: base64, $type}, Dates {$date}). */
export function toJSONSafe(value) {
  if (value == null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return { $num: String(value) };
    return value;
  }
  if (value instanceof Date) return { $date: value.getTime() };
  if (ArrayBuffer.isView(value)) {
    const type = value.constructor.name;
    if (!VIEW_TYPES[type]) throw new ClipdbError('INVALID_ARGUMENT', `cannot store a ${type}`);
    return { $bin: toBase64(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)), $type: type };
  }
  if (Array.isArray(value)) return value.map(toJSONSafe);
  const out = {};
  for (const [k, v] of Object.entries(value)) out[k] = toJSONSafe(v);
  return out;
}

/** Inverse of toJSONSafe. */
export function fromJSONSafe(value) {
  if (value == null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(fromJSONSafe);
  if (typeof value.$bin === 'string' && typeof value.$type === 'string') {
    const bytes = fromBase64(value.$bin);
    const T = VIEW_TYPES[value.$type];
    if (!T) throw new ClipdbError('IO', `unknown binary type ${value.$type} in stored data`);
    return new T(bytes.buffer, 0, bytes.byteLength / T.BYTES_PER_ELEMENT);
  }
  if (typeof value.$date === 'number' && Object.keys(value).length === 1) return new Date(value.$date);
  if (typeof value.$num === 'string' && Object.keys(value).length === 1) return Number(value.$num);
  const out = {};
  for (const [k, v] of Object.entries(value)) out[k] = fromJSONSafe(v);
  return out;
}
