#!/usr/bin/env node
// Prepare the edge Worker's assets/ from a folder indexed by the native CLI:
//   node prepare.mjs --store DIR [--model MODEL_DIR] [--out assets]
// copies the model's weights (model.safetensors) and vocabulary (vocab.txt.gz) and writes
// assets/index.clipdb, an export container (docs/export-format.md) of the store's vectors:
// collection `photos`, vector index `images`, one document {_id: path, file: path, size, mtime}
// per indexed file, vectors L2-normalised as the CLI keeps them. (`clipdb export --store DIR
// --out FILE` writes the same container once the CLI has it.)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const DEFAULT_MODEL = path.join(here, '../../models/clipdb-shapes');

/** Parse DIR/clipdb-store.bin (format in src/cli/cmd-store.c). */
export function readCliStore(file) {
  const b = fs.readFileSync(file);
  const fnv = (buf) => {
    let h = 0xcbf29ce484222325n;
    for (const x of buf) h = BigInt.asUintN(64, (h ^ BigInt(x)) * 0x100000001b3n);
    return h;
  };
  if (b.length < 48 || b.toString('latin1', 0, 8) !== 'CLIPDBST') throw new Error(`${file}: not a clipdb store`);
  if (b.readBigUInt64LE(b.length - 8) !== fnv(b.subarray(0, b.length - 8))) throw new Error(`${file}: damaged (checksum)`);
  let at = 8;
  const version = b.readUInt32LE(at); at += 4;
  if (version !== 1) throw new Error(`${file}: store version ${version}`);
  const dim = b.readUInt32LE(at); at += 4;
  const count = Number(b.readBigUInt64LE(at)); at += 8;
  const modelSize = b.readBigUInt64LE(at); at += 8;
  const modelHash = b.readBigUInt64LE(at); at += 8;
  const str = () => { const n = b.readUInt32LE(at); at += 4; const s = b.toString('utf8', at, at + n); at += n; return s; };
  const modelPath = str();
  const entries = [];
  for (let i = 0; i < count; i++) {
    const file = str();
    const size = Number(b.readBigUInt64LE(at)); at += 8;
    const mtime = Number(b.readBigInt64LE(at)); at += 8;
    const vector = new Float32Array(dim);
    for (let j = 0; j < dim; j++, at += 4) vector[j] = b.readFloatLE(at);
    entries.push({ file, size, mtime, vector });
  }
  return { dim, modelSize, modelHash, modelPath, entries };
}

function tarHeader(name, size) {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100); h.write('0000000\0', 108); h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write(Math.floor(Date.now() / 1000).toString(8).padStart(11, '0') + '\0', 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0', 257); h.write('00', 263);
  let sum = 0;
  for (const x of h) sum += x;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

/** The export container (a Buffer) for a parsed CLI store. */
export function exportContainer(store, { exif = 'apply' } = {}) {
  const ident = `${path.basename(store.modelPath)}@fnv1a64:${store.modelHash.toString(16).padStart(16, '0')}`;
  const manifest = {
    format: 'clipdb-export', version: 1, created: new Date().toISOString(), producer: 'clipdb edge-worker prepare.mjs',
    collections: ['photos'],
    vectorIndexes: [{
      id: 0, name: 'images', collection: 'photos', key: 'image', filter: {},
      model: { identifier: `${ident}#visual${exif === 'apply' ? '+exif' : ''}`, dim: store.dim },
      compatible: { identifier: `${ident}#text`, key: 'text', dim: store.dim },
    }],
  };
  const docs = store.entries.map((e) => JSON.stringify({ c: 'photos', id: e.file, doc: { _id: e.file, file: e.file, size: e.size, mtime: e.mtime }, v: [0], b: [] })).join('\n') + '\n';
  const vectors = Buffer.alloc(store.entries.length * store.dim * 4);
  store.entries.forEach((e, i) => e.vector.forEach((x, j) => vectors.writeFloatLE(x, (i * store.dim + j) * 4)));
  const parts = [];
  const add = (name, data) => {
    parts.push(tarHeader(name, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  };
  add('clipdb-export.json', Buffer.from(JSON.stringify(manifest)));
  if (store.entries.length > 0) {
    add('batch-000000/docs.jsonl', Buffer.from(docs));
    add('batch-000000/vectors-0.f32', vectors);
  }
  add('clipdb-end.json', Buffer.from(JSON.stringify({ batches: store.entries.length > 0 ? 1 : 0, documents: store.entries.length, vectors: store.entries.length })));
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

function main(argv) {
  const opt = { model: DEFAULT_MODEL, out: path.join(here, 'assets') };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    if (!['store', 'model', 'out', 'exif'].includes(k) || argv[i + 1] === undefined) {
      console.error('usage: node prepare.mjs --store DIR [--model MODEL_DIR] [--out DIR] [--exif apply|ignore]');
      process.exit(2);
    }
    opt[k] = argv[i + 1];
  }
  if (!opt.store) { console.error('prepare.mjs: --store DIR (a folder indexed by `clipdb index`) is required'); process.exit(2); }
  const store = readCliStore(path.join(opt.store, 'clipdb-store.bin'));
  fs.mkdirSync(opt.out, { recursive: true });
  fs.copyFileSync(path.join(opt.model, 'model.safetensors'), path.join(opt.out, 'model.safetensors'));
  const vocab = fs.readdirSync(opt.model).find((f) => f.endsWith('.txt.gz'));
  if (!vocab) throw new Error(`${opt.model}: no *.txt.gz vocabulary`);
  fs.copyFileSync(path.join(opt.model, vocab), path.join(opt.out, 'vocab.txt.gz'));
  fs.writeFileSync(path.join(opt.out, 'index.clipdb'), exportContainer(store, { exif: opt.exif }));
  console.log(JSON.stringify({ out: opt.out, vectors: store.entries.length, dim: store.dim }));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
