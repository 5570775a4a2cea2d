// A minimal Worker on clipdb's edge entry for tests/edge/int8.test.mjs: an int8 text tower
// (Data module model.safetensors) loaded with maxMemoryMB: 128, its vocabulary, and a small
// set of vectors made by the native CLI (Data module vectors.bin: float32, unit length, one
// row per id of ids.json, which the bundler inlines). GET /search?q=...&n=3 embeds the query
// and answers the n nearest ids by cosine, with what the isolate's wasm memory holds:
//   {"query", "results": [{rank, id, score}], "embedding": [...512 numbers, not normalized],
//    "wasmHeapBytes" (the byteLength of the instance's memory), "weightBytes"}
// Any other path answers 404 without loading anything (the test reads workerd's RSS then).
import * as clipdb from 'clipdb';
import wasmModule from 'clipdb/dist/clipdb.wasm';
import modelBytes from './model.safetensors';
import vocabBytes from './vocab.txt.gz';
import vectorBytes from './vectors.bin';
import ids from './ids.json';

let ready = null;

async function setup() {
  const module = await clipdb.createModule({ wasmModule });
  const clip = await clipdb.loadModel({ 'model.safetensors': modelBytes }, { module, loadVision: false, maxMemoryMB: 128 });
  const tokenizer = await clipdb.createTokenizer({ 'vocab.txt.gz': vocabBytes }, { module });
  const dim = clip.config.embed_dim;
  const index = new clipdb.WasmVectorIndex(module, dim);
  index.add(Uint32Array.from(ids, (_, i) => i), new Float32Array(vectorBytes));
  return { module, clip, tokenizer, ids, index };
}

const json = (body, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname !== '/search') return json({ error: 'NOT_FOUND' }, 404);
    if (!ready) {
      ready = setup();
      ready.catch(() => { ready = null; });
    }
    try {
      const s = await ready;
      const q = url.searchParams.get('q') ?? '';
      const n = Number(url.searchParams.get('n') ?? 3);
      const embedding = s.clip.embedText(s.tokenizer.tokenize(q, { truncate: true, contextLength: s.clip.config.context_length }));
      const [hits] = s.index.search(clipdb.normalize(embedding), n);
      const results = Array.from(hits.keys, (k, i) => ({ rank: i + 1, id: s.ids[k], score: hits.scores[i] }));
      return json({
        query: q, results, embedding: Array.from(embedding),
        wasmHeapBytes: s.module.HEAPU8.buffer.byteLength,
        weightBytes: s.clip.config.weight_bytes,
      });
    } catch (e) {
      return json({ error: e.code || 'ERROR', message: e.message }, e.code === 'MEMORY_BUDGET_EXCEEDED' ? 507 : 500);
    }
  },
};
