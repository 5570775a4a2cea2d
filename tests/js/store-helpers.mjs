// Shared pieces of the store tests: a deterministic fake embedder and a brute-force ranking.
import { Model, Listener, VectorIndex } from '../../web/src/index.mjs';

/** xorshift PRNG with a fixed seed. */
export function rng(seed = 12345) {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296 * 2 - 1; };
}

/**
 * A model that returns the document's own vector: the field holds an array of numbers.
 * `calls` counts encodes (to prove nothing is re-embedded), `delayMs` simulates a worker
 * round trip (B22), `hang(input)` can make an encode never resolve (simulated crash).
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
