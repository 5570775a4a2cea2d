// Module Worker for model-cache-stream.test.mjs: clipdb's own worker (web/src/worker.mjs),
// plus a probe that records the size of every Blob read made in this Worker (FileReaderSync
// for the streamed model load, Blob.arrayBuffer/text for hashing and cache checks), and can
// compare embeddings of a model loaded from the cached Blob with those from an ArrayBuffer.
// Probe messages ({type: 'probe', ...}) are answered with {type: 'probe', ...}; the clipdb
// client ignores them.
import { loadModel } from '/web/src/engine.mjs';
import { openModelCache } from '/web/src/model-cache.mjs';
import '/web/src/worker.mjs';

const reads = [];
const NativeFRS = globalThis.FileReaderSync;
globalThis.FileReaderSync = class extends NativeFRS {
  readAsArrayBuffer(blob) { reads.push(['sync', blob.size]); return super.readAsArrayBuffer(blob); }
};
for (const m of ['arrayBuffer', 'text', 'stream']) {
  const native = Blob.prototype[m];
  Blob.prototype[m] = function (...a) { reads.push([m, this.size]); return native.apply(this, a); };
}

function embed(model) {
  const c = model.config, n = 3 * c.image_resolution * c.image_resolution;
  const pixels = new Float32Array(n);
  for (let i = 0; i < n; i++) pixels[i] = ((i * 7919) % 1000) / 500 - 1;
  return { image: Array.from(model.embedImage(pixels)), text: Array.from(model.embedText([c.vocab_size - 2, 5, 17, c.vocab_size - 1])) };
}

self.addEventListener('message', async (event) => {
  const msg = event.data;
  if (msg?.type !== 'probe') return;
  try {
    if (msg.op === 'reads') { self.postMessage({ type: 'probe', reads: reads.splice(0) }); return; }
    if (msg.op === 'embeddings') {
      // The record the model cache holds for msg.url, as get() hands it back, loaded (streamed)
      // and compared with the same file fetched into an ArrayBuffer.
      const { openDB } = await import(msg.idbURL);
      const cache = await openModelCache({ name: msg.cacheName, idb: { openDB }, chunkSize: msg.chunkSize });
      const hit = await cache.get(msg.url);
      cache.close();
      reads.splice(0);
      const streamed = await loadModel([{ name: 'model.safetensors', data: hit.data }]);
      const streamedReads = reads.splice(0);
      const a = embed(streamed);
      streamed.free();
      const bytes = await (await fetch(msg.url)).arrayBuffer();
      const copied = await loadModel([{ name: 'model.safetensors', data: bytes }]);
      const b = embed(copied);
      copied.free();
      self.postMessage({ type: 'probe', isBlob: hit.data instanceof Blob, size: hit.data.size, bytes: bytes.byteLength, streamedReads, fromCache: a, fromBuffer: b });
    }
  } catch (e) {
    self.postMessage({ type: 'probe', error: `${e.name}: ${e.message}` });
  }
});
