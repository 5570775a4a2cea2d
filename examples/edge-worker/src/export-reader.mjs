// A small reader for the clipdb export container (docs/export-format.md): a ustar archive whose
// first entry is clipdb-export.json, then batch-B/docs.jsonl and batch-B/vectors-I.f32 entries,
// then clipdb-end.json. It reads what a search Worker needs — the manifest and, per vector
// index, each document with its vector — from bytes already in memory (a Data module, an R2
// object read whole). Binary fields (blob-n) are skipped.
const BLOCK = 512;
const utf8 = new TextDecoder();

function field(bytes, at, len) {
  let end = at;
  while (end < at + len && bytes[end] !== 0) end++;
  return utf8.decode(bytes.subarray(at, end));
}

function* entries(bytes) {
  for (let at = 0; at + BLOCK <= bytes.length;) {
    const name = field(bytes, at, 100);
    if (name === '') return; // the two zero blocks at the end
    if (field(bytes, at + 257, 6) !== 'ustar') throw new Error(`export container: entry at byte ${at} is not a ustar header`);
    const prefix = field(bytes, at + 345, 155);
    const size = parseInt(field(bytes, at + 124, 12).trim() || '0', 8);
    const type = String.fromCharCode(bytes[at + 156] || 48);
    const start = at + BLOCK;
    if (start + size > bytes.length) throw new Error(`export container is truncated in ${name}`);
    if (type === '0') yield { name: prefix ? `${prefix}/${name}` : name, data: bytes.subarray(start, start + size) };
    at = start + Math.ceil(size / BLOCK) * BLOCK;
  }
}

/**
 * Read an export container. Returns {manifest, end, indexes: Map(id -> {spec, rows: [{c, id, doc,
 * vector: Float32Array}]})}, where `spec` is the manifest's vectorIndexes entry.
 * Throws Error naming the problem (not a container, truncated, rows and vectors disagree).
 */
export function readExport(bytes) {
  let manifest = null, end = null, pending = null;
  const indexes = new Map();
  for (const e of entries(bytes)) {
    if (manifest === null) {
      if (e.name !== 'clipdb-export.json') throw new Error(`not a clipdb export container (first entry ${e.name})`);
      manifest = JSON.parse(utf8.decode(e.data));
      if (manifest.format !== 'clipdb-export' || manifest.version !== 1) throw new Error(`unsupported export format ${manifest.format} v${manifest.version}`);
      for (const spec of manifest.vectorIndexes) indexes.set(spec.id, { spec, rows: [] });
      continue;
    }
    const m = /^batch-(\d+)\/(docs\.jsonl|vectors-(\d+)\.f32|blob-\d+)$/.exec(e.name);
    if (m && m[2] === 'docs.jsonl') {
      pending = utf8.decode(e.data).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
    } else if (m && m[3] !== undefined) {
      const ix = indexes.get(Number(m[3]));
      if (!ix || !pending) throw new Error(`${e.name}: no such vector index or no docs.jsonl before it`);
      const dim = ix.spec.model.dim;
      const rows = pending.filter((d) => (d.v || []).includes(ix.spec.id));
      if (e.data.length !== rows.length * dim * 4) throw new Error(`${e.name}: ${e.data.length} bytes for ${rows.length} vectors of ${dim}`);
      const all = new Float32Array(e.data.slice().buffer); // copy: the entry need not be 4-byte aligned
      rows.forEach((d, i) => ix.rows.push({ c: d.c, id: d.id, doc: d.doc, vector: all.subarray(i * dim, (i + 1) * dim) }));
    } else if (e.name === 'clipdb-end.json') {
      end = JSON.parse(utf8.decode(e.data));
    }
  }
  if (manifest === null) throw new Error('not a clipdb export container (empty)');
  if (end === null) throw new Error('export container is truncated (no clipdb-end.json)');
  return { manifest, end, indexes };
}
