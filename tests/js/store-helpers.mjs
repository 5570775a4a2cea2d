// Shared pieces of the store tests: a deterministic fake embedder and a brute-force ranking.
import { readFileSync } from 'node:fs';
import { Model, Listener, VectorIndex } from '../../web/src/index.mjs';
import { goldenPath } from './golden.mjs';
import { SafeTensors } from './safetensors.mjs';

/** xorshift PRNG with a fixed seed. */
export function rng(seed = 12345) {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296 * 2 - 1; };
}

/**
 * A model that returns the document's own vector: the field holds an array of numbers.
 * `calls` counts encodes (to prove nothing is re-embedded), `delayMs` simulates a worker
 * round trip, `hang(input)` can make an encode never resolve (simulated crash).
 */
export function vectorModel({ identifier = 'identity', dim = 16, delayMs = 0, hang = null } = {}) {
  const model = new Model({
    identifier, dim, kind: 'vector',
    encode: async (v) => {
      model.calls++;
      if (hang && hang(v)) return new Promise(() => {});
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      return Float32Array.from(v);
    },
  });
  model.calls = 0;
  return model;
}

export function vectorIndex(model, { name = 'vi', collection = 'docs', key = 'vec' } = {}) {
  return new VectorIndex(name, { indexingListener: new Listener({ model, key, select: { collection } }) });
}

export function randomVectors(n, dim, seed) {
  const r = rng(seed);
  return Array.from({ length: n }, () => Array.from({ length: dim }, () => r()));
}

/** Cosine similarities in float64, sorted descending: [{id, score}]. */
export function bruteForce(docs, query, key = 'vec') {
  const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  const qn = norm(query);
  return docs.map((d) => ({ id: d._id, score: d[key].reduce((s, x, i) => s + x * query[i], 0) / (norm(d[key]) * qn) }))
    .sort((a, b) => b.score - a.score);
}

/**
 * Assert that `got` (ids in returned order) equals the reference order wherever neighbouring
 * reference scores are separated by more than `margin`; within a run of near-ties the set must
 * match. Returns the number of positions checked exactly.
 */
export function assertOrder(assert, got, ref, margin, what) {
  assert.equal(got.length, ref.length, `${what}: result count`);
  let i = 0, exact = 0;
  while (i < ref.length) {
    let j = i + 1;
    while (j < ref.length && ref[j - 1].score - ref[j].score <= margin) j++;
    const want = new Set(ref.slice(i, j).map((h) => h.id));
    const have = new Set(got.slice(i, j));
    assert.deepEqual([...have].sort(), [...want].sort(), `${what}: ranks ${i}..${j - 1}`);
    if (j === i + 1) exact++;
    i = j;
  }
  return exact;
}

// ---- golden data -------------------------------------------------------------------------
const cos = (a, b) => {
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { d += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return d / Math.sqrt(na * nb);
};

/** The golden images as documents (one per file, reference-parity entries), texts, reference embeddings. */
export function loadGolden() {
  const manifest = JSON.parse(readFileSync(goldenPath('tiny-vit', 'manifest.json'), 'utf8'));
  const ref = SafeTensors.fromFile(goldenPath('tiny-vit', 'reference.safetensors'));
  const texts = JSON.parse(readFileSync(goldenPath('texts.json'), 'utf8'));
  const images = manifest.images.filter((e) => !e.name.endsWith('_transposed')).map((e) => ({
    name: e.name, file: e.file, kind: e.kind, format: e.pil.format,
    bytes: new Uint8Array(readFileSync(goldenPath('images', e.file))),
    embedding: ref.f32(`image/${e.name}/embedding`),
  }));
  const textEmb = texts.map((_, i) => ref.f32(`text/${i}/embedding`));
  return { manifest, images, texts, textEmb, dim: images[0].embedding.length };
}

/** Float64 reference order of `images` for a query embedding: [{id, score}] descending, ties by id. */
export function referenceOrder(images, q) {
  return images.map((im) => ({ id: im.name, score: cos(im.embedding, q) }))
    .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
}

/** Read a stream to the end: its chunks and their concatenation. */
export async function drain(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  const bytes = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let o = 0;
  for (const c of chunks) { bytes.set(c, o); o += c.length; }
  return { chunks, bytes };
}
