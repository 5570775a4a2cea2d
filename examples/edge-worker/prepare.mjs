#!/usr/bin/env node
// Prepare the edge Worker's assets/ from a folder indexed by the native CLI:
//   node prepare.mjs --store DIR [--model MODEL_DIR] [--out assets] [--clipdb PATH]
// copies the model's weights (model.safetensors) and vocabulary (vocab.txt.gz) and writes
// assets/index.clipdb with `clipdb export --store DIR --out FILE`: the export container
// (docs/export-format.md) of the store's vectors, collection `photos`, vector index `images`,
// one document {_id: path, file: path, size, mtime} per indexed file. `--clipdb`: the CLI to
// run (default: the native build of this checkout, build/native/clipdb, else the wasm CLI).
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '../..');
const DEFAULT_MODEL = path.join(root, 'models/clipdb-shapes');

/** The command line that runs the clipdb CLI. */
function cliCommand(given) {
  if (given) return [given];
  const native = path.join(root, 'build/native/clipdb');
  return fs.existsSync(native) ? [native] : [process.execPath, path.join(root, 'web/bin/clipdb.mjs')];
}

function main(argv) {
  const opt = { model: DEFAULT_MODEL, out: path.join(here, 'assets') };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    if (!['store', 'model', 'out', 'clipdb'].includes(k) || argv[i + 1] === undefined) {
      console.error('usage: node prepare.mjs --store DIR [--model MODEL_DIR] [--out DIR] [--clipdb PATH]');
      process.exit(2);
    }
    opt[k] = argv[i + 1];
  }
  if (!opt.store) { console.error('prepare.mjs: --store DIR (a folder indexed by `clipdb index`) is required'); process.exit(2); }
  fs.mkdirSync(opt.out, { recursive: true });
  fs.copyFileSync(path.join(opt.model, 'model.safetensors'), path.join(opt.out, 'model.safetensors'));
  // The documented vocabulary names (the CLI's rule); exactly one must be there.
  const names = ['bpe_simple_vocab_16e6.txt.gz', 'vocab.txt.gz'].filter((f) => fs.existsSync(path.join(opt.model, f)));
  if (names.length !== 1) throw new Error(`${opt.model}: expected one vocabulary (bpe_simple_vocab_16e6.txt.gz or vocab.txt.gz), found ${names.length ? names.join(', ') : 'none'}`);
  const vocab = names[0];
  fs.copyFileSync(path.join(opt.model, vocab), path.join(opt.out, 'vocab.txt.gz'));
  const [cmd, ...pre] = cliCommand(opt.clipdb);
  const out = execFileSync(cmd, [...pre, 'export', '--store', opt.store, '--out', path.join(opt.out, 'index.clipdb')], { encoding: 'utf8' });
  process.stdout.write(out);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
