// `clipdb export --store DIR --out FILE [--with-images]` (native and wasm CLI) writes the
// container of docs/export-format.md. Checked with an independent reader, Python's tarfile
// module: the entries in the documented order, the manifest's fields, every document with its
// exact fields, the vectors equal to the store's (float32, bit for bit, independent store-file
// reader), the end record, and with --with-images each blob byte-equal to its file. Also: a
// version-1 store (tests/data/cli-store-v1) exports its four documents, and failures leave no
// output file.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './golden.mjs';
import { clis, run, jsonLines, lastError, model, haveModel, exifDir, readStoreFile, fnv1a64 } from './cli-helpers.mjs';

const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const havePython = spawnSync(python, ['-c', 'import tarfile, json, struct, base64']).status === 0;

// Reads FILE with tarfile; prints {names, types, manifest, end, batches: [{docs, vectors, blobs}]}.
const READER = String.raw`
import base64, json, struct, sys, tarfile
out = {"names": [], "types": [], "batches": {}}
with tarfile.open(sys.argv[1], mode="r:") as tar:
    assert tar.getmembers()[0].name == "clipdb-export.json"
    for m in tar.getmembers():
        out["names"].append(m.name)
        out["types"].append(m.type.decode())
        data = tar.extractfile(m).read()
        if m.name == "clipdb-export.json":
            out["manifest"] = json.loads(data)
        elif m.name == "clipdb-end.json":
            out["end"] = json.loads(data)
        else:
            batch, leaf = m.name.split("/")
            b = out["batches"].setdefault(batch, {"docs": [], "vectors": {}, "blobs": {}})
            if leaf == "docs.jsonl":
                b["docs"] = [json.loads(line) for line in data.decode("utf-8").splitlines()]
            elif leaf.startswith("vectors-"):
                b["vectors"][leaf] = list(struct.unpack("<%df" % (len(data) // 4), data))
            elif leaf.startswith("blob-"):
                b["blobs"][leaf] = base64.b64encode(data).decode()
print(json.dumps(out))
`;

function readContainer(file) {
  const r = spawnSync(python, ['-c', READER, file], { encoding: 'utf8', maxBuffer: 256 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

let skip = false;
if (!haveModel) skip = 'the shipped model models/clipdb-shapes (model.safetensors + vocab.txt.gz) is missing';
else if (!clis.length) skip = 'no CLI built (run scripts/build)';
else if (!havePython) skip = `${python} is missing (the independent tar reader)`;

describe('clipdb export: the container read back with Python tarfile', { skip }, () => {
  let tmp, images, files;
  before(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'clipdb-cli-export-'));
    images = path.join(tmp, 'images');
    mkdirSync(path.join(images, 'sub'), { recursive: true });
    // names that need JSON escaping and a sub-folder
    files = ['a "quoted" name.jpg', 'plain.jpg', path.join('sub', 'back\\slash.jpg'), path.join('sub', 'z.JPG')].map((f) => path.join(images, f));
    const src = readdirSync(exifDir).filter((f) => f.endsWith('.jpg')).sort();
    files.forEach((f, i) => copyFileSync(path.join(exifDir, src[i % src.length]), f));
    files.sort();
  });
  after(() => tmp && rmSync(tmp, { recursive: true, force: true }));

  for (const cli of clis) {
    const name = cli[0];
    it(`${name}: manifest, documents, vectors and end record; with --with-images the files' bytes`, () => {
      const store = path.join(tmp, `store-${name}`);
      let r = run(cli, ['index', '--model', model, '--store', store, images]);
      assert.equal(r.status, 0, r.stderr);
      const s = readStoreFile(readFileSync(path.join(store, 'clipdb-store.bin')));
      assert.deepEqual(s.entries.map((e) => e.path), files);
      const modelHash = fnv1a64(readFileSync(model)).toString(16).padStart(16, '0');
      assert.equal(s.modelHash.toString(16).padStart(16, '0'), modelHash);

      for (const withImages of [false, true]) {
        const out = path.join(tmp, `${name}-${withImages ? 'full' : 'vectors'}.clipdb`);
        r = run(cli, ['export', '--store', store, '--out', out, ...(withImages ? ['--with-images'] : [])]);
        assert.equal(r.status, 0, r.stderr);
        const summary = jsonLines(r.stdout)[0];
        assert.deepEqual([summary.documents, summary.vectors, summary.batches, summary.images, summary.bytes],
          [4, 4, 1, withImages ? 4 : 0, statSync(out).size]);
        const c = readContainer(out);
        assert.deepEqual(c.names, ['clipdb-export.json', 'batch-000000/docs.jsonl', 'batch-000000/vectors-0.f32',
          ...(withImages ? [0, 1, 2, 3].map((n) => `batch-000000/blob-${n}`) : []), 'clipdb-end.json']);
        assert.ok(c.types.every((t) => t === '0'), 'regular files only');
        const m = c.manifest;
        assert.equal(m.format, 'clipdb-export');
        assert.equal(m.version, 1);
        assert.match(m.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assert.ok(Math.abs(Date.parse(m.created) - Date.now()) < 10 * 60e3, m.created);
        assert.match(m.producer, /^clipdb-cli \d+\.\d+\.\d+$/);
        assert.deepEqual(m.collections, ['photos']);
        assert.deepEqual(m.vectorIndexes, [{
          id: 0, name: 'images', collection: 'photos', key: 'image', filter: {},
          model: { identifier: `model.safetensors@fnv1a64:${modelHash}#visual+exif`, dim: 64 },
          compatible: { identifier: `model.safetensors@fnv1a64:${modelHash}#text`, key: 'text', dim: 64 },
        }]);
        assert.deepEqual(c.end, { batches: 1, documents: 4, vectors: 4 });
        const b = c.batches['batch-000000'];
        assert.deepEqual(b.docs, s.entries.map((e, i) => ({
          c: 'photos', id: e.path,
          doc: { _id: e.path, file: e.path, size: statSync(e.path).size, mtime: Math.floor(statSync(e.path).mtimeMs / 1000), ...(withImages ? { image: { $ref: i } } : {}) },
          v: [0],
          b: withImages ? [{ n: i, path: 'image', as: 'blob', type: 'image/jpeg', size: statSync(e.path).size }] : [],
        })));
        const vec = b.vectors['vectors-0.f32'];
        assert.equal(vec.length, 4 * 64);
        s.entries.forEach((e, i) => assert.deepEqual(Float32Array.from(vec.slice(i * 64, (i + 1) * 64)), e.vector, e.path));
        if (withImages) {
          s.entries.forEach((e, i) => assert.ok(Buffer.from(b.blobs[`blob-${i}`], 'base64').equals(readFileSync(e.path)), `blob of ${e.path}`));
        } else {
          assert.deepEqual(b.blobs, {});
        }
      }
    });

    it(`${name}: a version-1 store exports its documents; failures are named and leave no file`, () => {
      const store = path.join(tmp, `v1-${name}`);
      mkdirSync(store);
      copyFileSync(path.join(repoRoot, 'tests', 'data', 'cli-store-v1', 'clipdb-store.bin'), path.join(store, 'clipdb-store.bin'));
      const v1 = readStoreFile(readFileSync(path.join(store, 'clipdb-store.bin')));
      assert.equal(v1.version, 1);
      const out = path.join(tmp, `v1-${name}.clipdb`);
      let r = run(cli, ['export', '--store', store, '--out', out]);
      assert.equal(r.status, 0, r.stderr);
      const c = readContainer(out);
      assert.equal(c.manifest.vectorIndexes[0].model.identifier, 'model.safetensors@fnv1a64:a8992c1103899b30#visual+exif');
      const docs = c.batches['batch-000000'].docs;
      assert.deepEqual(docs.map((d) => path.basename(d.id)), ['no-tag.jpg', 'orientation3.jpg', 'orientation6.jpg', 'orientation8.jpg']);
      assert.deepEqual(docs.map((d) => [d.doc.size, d.doc.mtime]), [[1545, 1796548975], [1581, 1796548975], [1581, 1796548975], [1581, 1796548975]]);
      const vec = c.batches['batch-000000'].vectors['vectors-0.f32'];
      v1.entries.forEach((e, i) => assert.deepEqual(Float32Array.from(vec.slice(i * 64, (i + 1) * 64)), e.vector));
      assert.equal(Math.fround(vec[0]), Math.fround(0.07850774377584457));
      // --with-images where the files are not there (the fixture's paths are another machine's,
      // or the file was deleted): IO naming the file, no output, no temp file
      const gone = path.join(tmp, `gone-${name}.clipdb`);
      const s2 = path.join(tmp, `store-${name}`);
      const victim = readStoreFile(readFileSync(path.join(s2, 'clipdb-store.bin'))).entries[1].path;
      const saved = readFileSync(victim);
      rmSync(victim);
      try {
        r = run(cli, ['export', '--store', s2, '--out', gone, '--with-images']);
      } finally {
        writeFileSync(victim, saved);
      }
      assert.equal(r.status, 1);
      assert.equal(lastError(r).error, 'IO');
      assert.ok(lastError(r).message.includes(victim), r.stderr);
      assert.equal(existsSync(gone), false);
      assert.deepEqual(readdirSync(tmp).filter((f) => f.includes('.tmp-')), []);
      r = run(cli, ['export', '--store', path.join(tmp, 'no-such-store'), '--out', gone]);
      assert.equal(r.status, 1);
      assert.equal(lastError(r).error, 'NOT_FOUND');
      r = run(cli, ['export', '--store', s2]);
      assert.equal(r.status, 2);
      assert.match(lastError(r).message, /needs --store DIR and --out FILE/);
    });
  }
});
