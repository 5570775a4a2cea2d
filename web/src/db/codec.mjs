// Document values in three forms:
//   user form    what callers pass and get back: plain objects whose image fields hold Blob,
//                ArrayBuffer, Uint8Array (encoded image bytes) or ImageData;
//   stored form  what the storage adapters keep: structured-clone friendly, no Blob (its bytes
//                are read before any transaction opens, B22), tagged so the user form comes back;
//   JSON form    the stored form with binary arrays as base64, for the file-system adapter and
//                export files.
import { ClipdbError } from '../errors.mjs';

const TAG = '$clipdb';
const hasBlob = typeof Blob !== 'undefined';
const hasImageData = typeof ImageData !== 'undefined';

function isImageDataLike(v) {
  return v != null && typeof v === 'object' && (hasImageData && v instanceof ImageData ||
    (v.data instanceof Uint8ClampedArray && Number.isInteger(v.width) && Number.isInteger(v.height) && v.constructor?.name === 'ImageData'));
}

/** Convert a user document to its stored form (reads Blobs; copies binary data). */
export async function encodeDoc(value) {
  if (value == null || typeof value !== 'object') return value;
  if (value instanceof Date) return new Date(value.getTime());
  if (hasBlob && value instanceof Blob) {
    return { [TAG]: 'blob', type: value.type, bytes: new Uint8Array(await value.arrayBuffer()) };
  }
  if (value instanceof ArrayBuffer) return { [TAG]: 'arraybuffer', bytes: new Uint8Array(value.slice(0)) };
  if (isImageDataLike(value)) {
    return { [TAG]: 'imagedata', width: value.width, height: value.height, data: new Uint8ClampedArray(value.data) };
  }
  if (ArrayBuffer.isView(value)) return value.slice();
  if (Array.isArray(value)) return Promise.all(value.map(encodeDoc));
  const out = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined || typeof v === 'function') continue;
    out[k] = await encodeDoc(v);
  }
  return out;
}

/** Convert a stored value back to user form (fresh copies; Blob again where one was given). */
export function decodeDoc(value) {
  if (value == null || typeof value !== 'object') return value;
  if (value instanceof Date) return new Date(value.getTime());
  if (ArrayBuffer.isView(value)) return value.slice();
  if (Array.isArray(value)) return value.map(decodeDoc);
  switch (value[TAG]) {
    case 'blob': return hasBlob ? new Blob([value.bytes], { type: value.type }) : value.bytes.slice();
    case 'arraybuffer': return value.bytes.slice().buffer;
    case 'imagedata':
      return hasImageData ? new ImageData(new Uint8ClampedArray(value.data), value.width, value.height)
        : { width: value.width, height: value.height, data: new Uint8ClampedArray(value.data) };
    default: {
      const out = {};
      for (const [k, v] of Object.entries(value)) out[k] = decodeDoc(v);
      return out;
    }
  }
}

/**
 * The value a model receives for a stored field: Uint8Array of encoded image bytes (Blob,
 * ArrayBuffer, Uint8Array), an ImageData-like {width, height, data} (RGBA), or the value itself
 * (strings for text models).
 */
export function modelInput(stored) {
  if (stored != null && typeof stored === 'object') {
    if (stored[TAG] === 'blob' || stored[TAG] === 'arraybuffer') return stored.bytes;
    if (stored[TAG] === 'imagedata') return { width: stored.width, height: stored.height, data: stored.data };
  }
  return stored;
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
