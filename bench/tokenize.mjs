#!/usr/bin/env node
// Benchmark: tokenise 10,000 typical captions (generated deterministically) with clipdb's
// CLIP tokenizer.
//   1. wasm, in process (web/src/text.mjs): first pass (empty BPE word cache) and second pass
//      (cached words), best of 5 runs each;
//   2. the same captions through the command-line tool, wasm (node web/bin/clipdb.mjs) and
//      native (build/native/clipdb) when built: one process tokenising all captions, minus a
//      process tokenising one caption (start-up and vocabulary loading), best of 5.
// Best-of-N (minimum) because the machine is shared: interference only ever adds time.
// Reports captions/s and the wasm/native ratio measured in this run.
// Usage: node bench/tokenize.mjs [--vocab PATH] [--n 10000]
import { readFileSync, existsSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const vocab = opt('--vocab', path.join(root, '..', 'shared', 'golden', 'bpe_simple_vocab_16e6.txt.gz'));
const N = Number(opt('--n', 10000));
if (!existsSync(vocab)) {
  console.error(`vocabulary not found: ${vocab} (pass --vocab PATH)`);
  process.exit(1);
}

// ---- deterministic captions (xorshift32) ----
let state = 0x9e3779b9;
function rand(n) {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state % n;
}
const pick = (a) => a[rand(a.length)];
const det = ['a', 'an old', 'the', 'two', 'three', 'a small', 'a large', 'some', 'a group of', 'a close-up of a'];
const adj = ['red', 'black and white', 'fluffy', 'wooden', 'shiny', 'rusty', 'colorful', 'tiny', 'sleepy', 'vintage', 'snowy', 'bright'];
const noun = ['cat', 'dog', 'bicycle', 'car', 'house', 'mountain', 'boat', 'pizza', 'guitar', 'bird', 'train', 'laptop', 'tree', 'horse', 'cup of coffee', 'street sign', 'teddy bear', 'rocket'];
const verb = ['sitting on', 'lying next to', 'parked near', 'standing in front of', 'flying over', 'on top of', 'in', 'under', 'beside', 'walking across'];
const place = ['a wooden table', 'the beach', 'a busy street', 'a green field', 'the kitchen counter', 'a snowy hill', 'the river', 'a city park', 'an empty road', 'the window'];
const tail = ['', '', '', ' at sunset', ' in the rain', ' on a sunny day', ' at night', ', photographed from above', ' in 2019', ' with 3 people nearby', " — it's beautiful!", ' (black & white photo)'];
function caption() {
  let s = `${pick(det)} ${pick(adj)} ${pick(noun)} ${pick(verb)} ${pick(place)}${pick(tail)}`;
  if (rand(4) === 0) s = s[0].toUpperCase() + s.slice(1);
  if (rand(10) === 0) s += '.';
  return s;
}
const captions = Array.from({ length: N }, caption);
const bytes = captions.reduce((a, c) => a + Buffer.byteLength(c), 0);

const best = (v) => Math.min(...v);
const results = {};

// ---- 1. wasm in process ----
const api = await import(path.join(root, 'web', 'src', 'index.mjs'));
const vocabFiles = vocab.endsWith('.gz') || vocab.endsWith('.txt')
  ? { [path.basename(vocab)]: readFileSync(vocab) }
  : { 'vocab.json': readFileSync(path.join(vocab, 'vocab.json')), 'merges.txt': readFileSync(path.join(vocab, 'merges.txt')) };
let t0 = performance.now();
const loadTok = await api.createTokenizer(vocabFiles);
results.wasm_load_ms = performance.now() - t0;
loadTok.free();
const cold = [], warm = [];
let checksum = 0;
for (let r = 0; r < 5; r++) {
  const tok = await api.createTokenizer(vocabFiles);
  t0 = performance.now();
  for (const c of captions) checksum += tok.tokenize(c, { truncate: true })[1];
  cold.push(performance.now() - t0);
  t0 = performance.now();
  for (const c of captions) checksum += tok.tokenize(c, { truncate: true })[1];
  warm.push(performance.now() - t0);
  tok.free();
}
results.wasm_cold_ms = best(cold);
results.wasm_warm_ms = best(warm);

// ---- 2. CLI processes ----
const tmp = mkdtempSync(path.join(os.tmpdir(), 'clipdb-bench-'));
function cliTime(exe, pre) {
  const run = (texts) => {
    const t = performance.now();
    execFileSync(exe, [...pre, 'tokenize', '--vocab', vocab, '--truncate', ...texts], { maxBuffer: 1 << 30, stdio: ['ignore', 'ignore', 'inherit'] });
    return performance.now() - t;
  };
  const all = [], one = [];
  for (let r = 0; r < 5; r++) {
    one.push(run(captions.slice(0, 1)));
    all.push(run(captions));
  }
  return { all_ms: best(all), startup_ms: best(one), tokenize_ms: best(all) - best(one) };
}
results.cli_wasm = cliTime(process.execPath, [path.join(root, 'web', 'bin', 'clipdb.mjs')]);
const native = path.join(root, 'build', 'native', 'clipdb');
if (existsSync(native)) results.cli_native = cliTime(native, []);
rmSync(tmp, { recursive: true, force: true });

// ---- report ----
const rate = (ms) => Math.round(N / (ms / 1000));
console.log(`captions: ${N} (${bytes} bytes, ${(bytes / N).toFixed(1)} bytes each), vocabulary ${path.basename(vocab)}`);
console.log(`wasm in process: load ${results.wasm_load_ms.toFixed(0)} ms; first pass ${results.wasm_cold_ms.toFixed(1)} ms (${rate(results.wasm_cold_ms)} captions/s), cached words ${results.wasm_warm_ms.toFixed(1)} ms (${rate(results.wasm_warm_ms)} captions/s)`);
console.log(`CLI wasm: ${results.cli_wasm.tokenize_ms.toFixed(0)} ms for ${N} captions (${rate(results.cli_wasm.tokenize_ms)} captions/s; start-up + load ${results.cli_wasm.startup_ms.toFixed(0)} ms)`);
if (results.cli_native) {
  console.log(`CLI native: ${results.cli_native.tokenize_ms.toFixed(0)} ms for ${N} captions (${rate(results.cli_native.tokenize_ms)} captions/s; start-up + load ${results.cli_native.startup_ms.toFixed(0)} ms)`);
  console.log(`ratio wasm CLI / native CLI tokenising time: ${(results.cli_wasm.tokenize_ms / results.cli_native.tokenize_ms).toFixed(2)}x`);
}
console.log(`(checksum ${checksum})`);
if (opt('--json')) writeFileSync(opt('--json'), JSON.stringify(results, null, 2));
