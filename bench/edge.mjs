#!/usr/bin/env node
// The example edge Worker (examples/edge-worker) in workerd from npm, built exactly as
// tests/edge/worker.test.mjs builds it (CLI store of the demo images, npm-packed clipdb,
// wrangler bundle). Measures, per compatibility mode:
//   - cold start: workerd spawned -> its socket answers, and the first /search (isolate setup:
//     wasm instantiation, text tower, vocabulary, index import) as seen by the client;
//   - per-query latency: median of 20 /search round trips over HTTP after warm-up, and the
//     Worker's own time per query;
//   - memory: the Worker's wasm heap, workerd's RSS before the first request and after the queries.
// Peer, same run: the same search code (same package, examples/edge-worker/src/search.mjs) in
// this Node process, called directly and behind a node:http server queried the same way (same
// client, same loopback); ratios are Worker / Node. workerd's clock does not advance while a
// request runs (a Workers timing-attack mitigation), so all times are taken by the client.
//   node bench/edge.mjs [--runs 5]
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import os from 'node:os';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { edgeSkip, buildExample, startWorkerd, search } from '../tests/edge/harness.mjs';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] || 5) || 5;
const QUERIES = ['a red circle', 'a large blue star', 'a photo of a yellow heart', 'a pink star and a purple heart', 'green triangle'];
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const rssKB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

const skip = edgeSkip();
if (skip) { console.error(`bench/edge: ${skip}`); process.exit(1); }

const tmp = mkdtempSync(path.join(os.tmpdir(), 'clipdb-bench-edge-'));
try {
  const ex = buildExample(tmp);
  console.log(`bundle: ${ex.bundleBytes} bytes (${ex.bundleFiles.map((f) => `${f.name.replace(/^[0-9a-f]{40}-/, '')} ${f.bytes}`).join(', ')})`);

  // Peer: the same search in Node, in this process.
  const clipdb = await import(pathToFileURL(path.join(ex.app, 'node_modules/clipdb/src/index.mjs')));
  const { openSearch } = await import(pathToFileURL(path.join(ex.app, 'src/search.mjs')));
  const assets = (f) => readFileSync(path.join(ex.app, 'assets', f));
  let t = performance.now();
  const module = await clipdb.createModule();
  const local = await openSearch(clipdb, { module, model: assets('model.safetensors'), vocab: assets('vocab.txt.gz'), index: assets('index.clipdb'), maxMemoryMB: 128 });
  const nodeSetup = performance.now() - t;
  for (const q of QUERIES) await local.search(q, 5);
  const nodeTimes = [];
  for (let i = 0; i < 20; i++) { t = performance.now(); await local.search(QUERIES[i % QUERIES.length], 5); nodeTimes.push(performance.now() - t); }
  const server = http.createServer(async (req, res) => {
    const u = new URL(req.url, 'http://x');
    const results = await local.search(u.searchParams.get('q'), Number(u.searchParams.get('n')));
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ results }));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const nodeUrl = `http://127.0.0.1:${server.address().port}`;
  for (const q of QUERIES) await search(nodeUrl, q, 5);
  const nodeHttp = [];
  for (let i = 0; i < 20; i++) { t = performance.now(); await search(nodeUrl, QUERIES[i % QUERIES.length], 5); nodeHttp.push(performance.now() - t); }
  server.close();
  console.log(`node (peer): setup ${nodeSetup.toFixed(1)} ms, query median ${median(nodeTimes).toFixed(2)} ms in process, ${median(nodeHttp).toFixed(2)} ms over HTTP (20 each), wasm heap ${module.HEAPU8.length} bytes`);

  for (const mode of [{ name: 'nodejs_compat on (2026-11-01)', date: '2026-11-01', flags: [] }, { name: 'nodejs_compat off (2026-04-20)', date: '2026-04-20', flags: [] }]) {
    const up = [], first = [], httpMs = [], heap = [], rss0 = [], rss1 = [];
    for (let r = 0; r < runs; r++) {
      const w = await startWorkerd(ex.bundle, tmp, { ...mode, tag: `b${r}` });
      try {
        up.push(performance.now() - w.started);
        rss0.push(rssKB(w.pid));
        t = performance.now();
        const firstAnswer = await search(w.url, QUERIES[0], 5);
        first.push(performance.now() - t);
        if (firstAnswer.status !== 200) throw new Error(JSON.stringify(firstAnswer.body));
        for (const q of QUERIES) await search(w.url, q, 5);
        const h = [];
        for (let i = 0; i < 20; i++) {
          t = performance.now();
          const a = await search(w.url, QUERIES[i % QUERIES.length], 5);
          h.push(performance.now() - t);
          if (i === 19) heap.push(a.body.runtime.wasmHeapBytes);
        }
        httpMs.push(median(h));
        rss1.push(rssKB(w.pid));
      } finally {
        await w.stop();
      }
    }
    console.log(`workerd ${mode.name}, ${runs} cold starts: socket up ${median(up).toFixed(0)} ms, first /search ${median(first).toFixed(0)} ms ` +
      `(isolate setup + query; Node peer setup ${nodeSetup.toFixed(0)} ms: ${(median(first) / nodeSetup).toFixed(2)}x); ` +
      `per query median ${median(httpMs).toFixed(2)} ms over HTTP (median of ${runs} medians of 20; Node peer over HTTP ${(median(httpMs) / median(nodeHttp)).toFixed(2)}x); ` +
      `wasm heap ${median(heap)} bytes; workerd RSS ${median(rss0)} KB idle -> ${median(rss1)} KB after 26 queries (+${median(rss1.map((x, i) => x - rss0[i]))} KB)`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
