// Streaming model load in a browser Worker (Debian's Chromium through playwright-core): a
// Blob given to loadModel() inside a Worker is read slice by slice with FileReaderSync (never
// whole: no read is larger than the model's largest tensor) and gives exactly the embeddings
// of the same bytes given as an ArrayBuffer; a truncated Blob is BAD_MODEL naming the file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve } from '../../scripts/serve.mjs';
import { chromiumSkip, NEEDS_WASM, openProfile, openTestPage } from './chromium.mjs';

const skip = chromiumSkip([NEEDS_WASM,
  [new URL('../../models/clipdb-shapes/model.safetensors', import.meta.url), 'models/clipdb-shapes is not in this tree']]);

let server, browser, page;
before(async () => {
  if (skip) return;
  server = await serve({});
  browser = await openProfile();
  page = browser.page;
  await openTestPage(page, server, 'worker.html');
});
after(async () => {
  await browser?.close();
  await server?.close();
});

test('loadModel(Blob) in a Worker streams and matches the ArrayBuffer route', { skip, timeout: 120000 }, async () => {
  const r = await page.evaluate(() => new Promise((resolve) => {
    const w = new Worker('/tests/browser/model-stream-worker.mjs', { type: 'module' });
    w.onmessage = (e) => { w.terminate(); resolve(e.data); };
    w.onerror = (e) => { w.terminate(); resolve({ error: e.message }); };
    w.postMessage('go');
  }));
  assert.equal(r.error, undefined, r.error);
  assert.ok(r.reads.length > 10, `${r.reads.length} streamed reads`);
  const total = r.reads.reduce((a, b) => a + b, 0);
  assert.ok(total <= r.size && total > r.size * 0.9, `${total} of ${r.size} bytes read`);
  assert.ok(Math.max(...r.reads) < r.size / 2, `largest read ${Math.max(...r.reads)} of a ${r.size}-byte file`);
  assert.equal(r.streamed.image.length, r.copied.image.length);
  assert.deepEqual(r.streamed.image, r.copied.image, 'image embedding differs between Blob (streamed) and ArrayBuffer');
  assert.deepEqual(r.streamed.text, r.copied.text, 'text embedding differs between Blob (streamed) and ArrayBuffer');
  assert.ok(r.streamed.image.some((v) => v !== 0));
  assert.ok(r.truncatedReads >= 1, 'the truncated Blob was streamed too');
  assert.equal(r.truncated?.code, 'BAD_MODEL', JSON.stringify(r.truncated));
  assert.match(r.truncated.message, /model\.safetensors/);
});
