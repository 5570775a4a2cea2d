// Run by tests/edge/deno.test.mjs under Deno (deno from npm): the edge entry with everything
// handed over the way a Deno Deploy function would (a compiled WebAssembly.Module, the model
// as the ReadableStream of a Deno file, the vocabulary as bytes), nothing else permitted than
// reading those three files.
//   deno run --allow-read=WASM,MODEL,VOCAB smoke.mjs WASM MODEL VOCAB TEXT...
// Prints one JSON object: {embeddings: [[...]], heapBytes, refused: {name, code, needed, budget}}.
import * as clipdb from '../../../web/src/edge.mjs';

const [wasmPath, modelPath, vocabPath, ...texts] = Deno.args;
const wasmModule = await WebAssembly.compile(await Deno.readFile(wasmPath));

// a 16 MiB budget on a fresh instance: refused from the header, the stream cancelled
let refused = null;
const small = await clipdb.createModule({ wasmModule });
try {
  await clipdb.loadModel({ 'model.safetensors': (await Deno.open(modelPath)).readable }, { module: small, maxMemoryMB: 16 });
} catch (e) {
  refused = { name: e.name, code: e.code, needed: e.details?.needed, budget: e.details?.budget };
}

const module = await clipdb.createModule({ wasmModule });
const file = await Deno.open(modelPath);
const clip = await clipdb.loadModel({ 'model.safetensors': file.readable }, { module, loadVision: false, maxMemoryMB: 128 });
const tokenizer = await clipdb.createTokenizer({ 'vocab.txt.gz': await Deno.readFile(vocabPath) }, { module });
const embeddings = texts.map((t) => Array.from(clip.embedText(tokenizer.tokenize(t))));
console.log(JSON.stringify({ embeddings, heapBytes: module.HEAPU8.length, refused }));
clip.free();
tokenizer.free();
