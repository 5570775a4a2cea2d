// A Cloudflare Worker that answers text queries over photos indexed elsewhere:
//   GET /search?q=a+red+circle&n=5  ->  {"query", "n", "results": [{rank, file, score}], "ms",
//                                        "setupMs", "runtime": {processVersionsNode, wasmHeapBytes}}
// The CLIP text tower, its vocabulary and an export container of image vectors (written from
// the native CLI's store) are bundled as Data modules; clipdb.wasm as a CompiledWasm module.
// Everything is set up on the first request (Workers allow no such work at global scope) and
// kept for the isolate's life; a failed setup is dropped so the next request tries again.
import * as clipdb from 'clipdb';
import wasmModule from 'clipdb/dist/clipdb.wasm';
import modelBytes from '../assets/model.safetensors';
import vocabBytes from '../assets/vocab.txt.gz';
import indexBytes from '../assets/index.clipdb';
import { openSearch } from './search.mjs';

const MAX_MEMORY_MB = 128; // a Worker isolate's memory

let ready = null;

async function setup() {
  const t0 = Date.now();
  const module = await clipdb.createModule({ wasmModule });
  const search = await openSearch(clipdb, { module, model: modelBytes, vocab: vocabBytes, index: indexBytes, maxMemoryMB: MAX_MEMORY_MB });
  return { module, search, setupMs: Date.now() - t0 };
}

function json(body, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=utf-8' } });
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname !== '/search') return json({ error: 'NOT_FOUND', message: 'try GET /search?q=...&n=5' }, 404);
    const q = url.searchParams.get('q');
    const n = Number(url.searchParams.get('n') ?? 5);
    if (!q) return json({ error: 'INVALID_ARGUMENT', message: 'q (the text query) is required' }, 400);
    if (!Number.isInteger(n) || n < 1 || n > 100) return json({ error: 'INVALID_ARGUMENT', message: `n must be an integer from 1 to 100, not ${url.searchParams.get('n')}` }, 400);
    if (!ready) {
      ready = setup();
      ready.catch(() => { ready = null; });
    }
    let state;
    try {
      state = await ready;
    } catch (e) {
      return json({ error: e.code || 'SETUP_FAILED', message: e.message }, 500);
    }
    const t0 = Date.now();
    try {
      const results = await state.search.search(q, n);
      // What the runtime reports as Node (workerd with nodejs_compat does): clipdb must not care.
      const node = typeof process !== 'undefined' && process.versions ? process.versions.node ?? null : null;
      return json({ query: q, n, results, ms: Date.now() - t0, setupMs: state.setupMs, runtime: { processVersionsNode: node, wasmHeapBytes: state.module.HEAPU8.length } });
    } catch (e) {
      return json({ error: e.code || 'ERROR', message: e.message }, 400);
    }
  },
};
