// Module Worker for model-stream.test.mjs: loads the shipped model once from a Blob (streamed:
// FileReaderSync on slices, counted here) and once from an ArrayBuffer, and posts both
// embeddings of the same deterministic pixels and tokens, plus the streamed reads.
import { loadModel } from '/web/src/engine.mjs';

const reads = [];
const Native = globalThis.FileReaderSync;
globalThis.FileReaderSync = class extends Native {
  readAsArrayBuffer(blob) {
    reads.push(blob.size);
    return super.readAsArrayBuffer(blob);
  }
};

function embed(model) {
  const c = model.config, n = 3 * c.image_resolution * c.image_resolution;
  const pixels = new Float32Array(n);
  for (let i = 0; i < n; i++) pixels[i] = ((i * 7919) % 1000) / 500 - 1;
  const tokens = [c.vocab_size - 2, 5, 17, c.vocab_size - 1];
  return { image: Array.from(model.embedImage(pixels)), text: Array.from(model.embedText(tokens)) };
}

self.onmessage = async () => {
  try {
    const blob = await (await fetch('/models/clipdb-shapes/model.safetensors')).blob();
    const streamed = await loadModel([{ name: 'model.safetensors', data: blob }]);
    const streamedReads = reads.splice(0);
    const a = embed(streamed);
    streamed.free();
    const copied = await loadModel([{ name: 'model.safetensors', data: await blob.arrayBuffer() }]);
    const b = embed(copied);
    copied.free();
    let truncated = null;
    try {
      await loadModel([{ name: 'model.safetensors', data: blob.slice(0, blob.size >> 1) }]);
    } catch (e) {
      truncated = { code: e.code, message: e.message };
    }
    self.postMessage({ size: blob.size, reads: streamedReads, truncatedReads: reads.length, streamed: a, copied: b, truncated });
  } catch (e) {
    self.postMessage({ error: `${e.name}: ${e.message}` });
  }
};
