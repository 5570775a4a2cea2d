// Synthetic documents for the store benchmark and the kill tests, identical in Node and in a
// page: document i has a string _id, a `year` (2000 + i mod 25), and an "image" of `imageBytes`
// bytes whose first four bytes are i (little-endian) and the rest pseudo-random. Its 512-d
// vector is a pure function of i, and the benchmark's model (`vectorOf`) reads i back from the
// image bytes, so embedding costs nothing and every figure is the store's own.

export const DIM = 512;
export const IMAGE_BYTES = 20 * 1024;

export const docId = (i) => `d${String(i).padStart(7, '0')}`;
export const yearOf = (i) => 2000 + (i % 25);

/** xorshift32 stream seeded by `seed` (never 0). */
function stream(seed) {
  let s = (seed * 2654435761 + 0x9e3779b9) >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
}

/** The vector of document i: float32 [dim], entries uniform in [-1, 1). */
export function vectorFor(i, dim = DIM) {
  const next = stream(i + 1);
  const v = new Float32Array(dim);
  for (let k = 0; k < dim; k++) v[k] = next() / 2147483648 - 1;
  return v;
}

/** A query vector that is no document's: vectorFor on indexes past every store size. */
export const queryVector = (q, dim = DIM) => vectorFor(1e9 + q, dim);

/** The image bytes of document i: i in the first 4 bytes (little-endian), then noise. */
export function imageFor(i, size = IMAGE_BYTES) {
  const b = new Uint8Array(size);
  const w = new Uint32Array(b.buffer, 0, size >> 2);
  const next = stream(i + 7);
  for (let k = 1; k < w.length; k++) w[k] = next();
  new DataView(b.buffer).setUint32(0, i >>> 0, true);
  return b;
}

/** Which document an image belongs to (inverse of imageFor's first four bytes). */
export const indexOfImage = (bytes) => new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);

/** Document i as given to insertMany: the image as a Blob (disk-backed once stored). */
export function docFor(i, size = IMAGE_BYTES) {
  return { _id: docId(i), year: yearOf(i), image: new Blob([imageFor(i, size)], { type: 'application/octet-stream' }) };
}

/**
 * The benchmark model for a store module `lib` (the store under test or the clipdb 0.1 peer):
 * encode(imageBytes) returns that document's own vector. `calls` counts encodes.
 */
export function vectorModel(lib, { identifier = 'bench-vector-v1', dim = DIM } = {}) {
  const model = new lib.Model({
    identifier, dim, kind: 'image',
    encode: (bytes) => { model.calls++; return vectorFor(indexOfImage(bytes), dim); },
  });
  model.calls = 0;
  return model;
}

export function vectorIndexFor(lib, model, { name = 'images', collection = 'photos' } = {}) {
  return new lib.VectorIndex(name, { indexingListener: new lib.Listener({ model, key: 'image', select: { collection } }) });
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
