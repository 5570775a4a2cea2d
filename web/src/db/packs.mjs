// Binary packs: the binary fields written by one call (an insertMany batch, an updateOne, an
// import batch) are concatenated into one 'blobs' record, a pack, instead of one record each.
// A document's reference then says where its bytes lie: {$clipdb: 'ref', as, size, ..., pack,
// offset} is bytes [offset, offset + size) of the pack record packKey(pack).
//
// Why: each record that holds a Blob costs the browser a file and a round of IPC; a batch of
// 512 thumbnails written as one pack takes about a third of the time of 512 separate Blobs
// (bench/store.mjs measures the store as a whole). Reading stays lazy: a pack is a disk-backed
// Blob in IndexedDB and in Node, and a document's field is a slice of it, read only when used.
//
// A pack is deleted in the same write that removes the last document referring to it. The
// number of live references per pack is counted from the documents in memory the first time a
// reference is released (opening a store does not pay for it), then kept up to date. Bytes of
// deleted documents inside a pack that still has live documents stay until db.compact(), which
// rewrites a pack once a quarter of its bytes are dead.
//
// References without `pack` (stores written before packs existed, and clipdb 0.1 conversions)
// keep their own record under blobKey(collection, id, path); both forms are read.
import { ClipdbError } from '../errors.mjs';
import { SEP } from './layout.mjs';

export const PACK_PREFIX = `${SEP}pack${SEP}`;
export const packKey = (seq) => `${PACK_PREFIX}${String(seq).padStart(12, '0')}`;
/** The sequence number of the pack record under `key` (packKey's inverse). */
export const packSeq = (key) => Number(key.slice(PACK_PREFIX.length));
/** A pack holds at most this many bytes (one field larger than this gets a pack of its own). */
export const PACK_MAX_BYTES = 64 << 20;
// Pack records kept open for reading: where Blob exists a record holds a handle (an IndexedDB
// or disk-backed Blob), not the bytes, so thousands cost little and a library of 100,000
// photos (about 200 packs) reads each pack record once; without Blob, the bytes themselves.
const CACHE = typeof Blob !== 'undefined' ? 4096 : 64;
const hasBlob = typeof Blob !== 'undefined';

const damaged = (why) => new ClipdbError('CORRUPT', `the store is damaged: ${why}; nothing was changed`);

/** The references held in a stored document: [{path, ref}]. */
export function refsOf(doc) {
  const out = [];
  const walk = (v, path) => {
    if (v == null || typeof v !== 'object' || ArrayBuffer.isView(v) || v instanceof Date) return;
    if (v.$clipdb === 'ref') { out.push({ path, ref: v }); return; }
    for (const [k, x] of Object.entries(v)) walk(x, path === '' ? k : `${path}.${k}`);
  };
  walk(doc, '');
  return out;
}

function concat(parts, size) {
  if (hasBlob) return new Blob(parts);
  const out = new Uint8Array(size);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.byteLength; }
  return out;
}

export class Packs {
  /**
   * @param {object} adapter  the storage adapter
   * @param {() => Iterable<object>} storedDocs  every stored document in memory (for counting)
   */
  constructor(adapter, storedDocs) {
    this.adapter = adapter;
    this.storedDocs = storedDocs;
    this.nextSeq = null;
    this.live = null; // Map pack seq → live references, built on first release
    this.cache = new Map(); // pack seq → Promise<record>
  }

  async _take() {
    if (this.nextSeq === null) {
      const last = await this.adapter.lastKey('blobs', PACK_PREFIX);
      this.nextSeq = last === undefined ? 0 : packSeq(last) + 1;
    }
    return this.nextSeq++;
  }

  /**
   * Pack binary records: sets `pack` and `offset` on each reference and returns the storage ops
   * that write the packs, and `commit()` to call once they are written.
   * @param {Array<{ref: object, record: {size: number, data: Blob|Uint8Array}}>} bins
   */
  async pack(bins) {
    const ops = [], counts = [];
    let group = [], bytes = 0;
    const flush = async () => {
      if (!group.length) return;
      const seq = await this._take();
      let offset = 0;
      for (const b of group) { b.ref.pack = seq; b.ref.offset = offset; offset += b.record.size; }
      ops.push({ store: 'blobs', key: packKey(seq), value: { as: 'pack', size: offset, data: concat(group.map((b) => b.record.data), offset) } });
      counts.push([seq, group.length]);
      group = []; bytes = 0;
    };
    for (const b of bins) {
      if (group.length && bytes + b.record.size > PACK_MAX_BYTES) await flush();
      group.push(b); bytes += b.record.size;
    }
    await flush();
    return { ops, commit: () => { if (this.live) for (const [seq, n] of counts) this.live.set(seq, (this.live.get(seq) ?? 0) + n); } };
  }

  _count() {
    if (this.live) return this.live;
    const live = new Map();
    for (const doc of this.storedDocs()) {
      for (const { ref } of refsOf(doc)) if (ref.pack !== undefined) live.set(ref.pack, (live.get(ref.pack) ?? 0) + 1);
    }
    return (this.live = live);
  }

  /**
   * Release references (documents removed, fields replaced): the ops that delete packs left
   * with no live reference, and `commit()` to call once they are written.
   * @param {object[]} refs  references with `pack`
   */
  release(refs) {
    const live = this._count(), drop = new Map();
    for (const r of refs) if (r.pack !== undefined) drop.set(r.pack, (drop.get(r.pack) ?? 0) + 1);
    const ops = [], gone = [];
    for (const [seq, n] of drop) if ((live.get(seq) ?? 0) <= n) { ops.push({ store: 'blobs', key: packKey(seq), delete: true }); gone.push(seq); }
    return {
      ops,
      commit: () => {
        for (const [seq, n] of drop) { const left = (live.get(seq) ?? 0) - n; if (left > 0) live.set(seq, left); else live.delete(seq); }
        for (const seq of gone) this.cache.delete(seq);
      },
    };
  }

  /** Packs removed by a rewrite (db.compact()): no live reference, no cached record. */
  forget(seqs) {
    for (const seq of seqs) { this.live?.delete(seq); this.cache.delete(seq); }
  }

  /**
   * The binary record of a packed reference: {as, size, type?, width?, height?, data}, `data` a
   * slice of the pack (a lazy Blob where Blob exists). CORRUPT if the pack is missing or short.
   * With `lazy`, a 'blob' field in a Blob pack comes as {as, size, type?, blob()} instead, and
   * blob() makes (once) the slice.
   * @param {object} ref  @param {string} what  names the field in errors
   */
  async read(ref, what, { lazy = false } = {}) {
    let p = this.cache.get(ref.pack);
    if (!p) {
      p = this.adapter.get('blobs', packKey(ref.pack));
      this.cache.set(ref.pack, p);
      if (this.cache.size > CACHE) this.cache.delete(this.cache.keys().next().value);
      p.catch(() => this.cache.delete(ref.pack));
    }
    const rec = await p;
    if (rec === undefined) { this.cache.delete(ref.pack); throw damaged(`${what} lies in pack ${ref.pack}, which is missing`); }
    const end = ref.offset + ref.size;
    const have = hasBlob && rec.data instanceof Blob ? rec.data.size : rec.data?.byteLength;
    if (!Number.isInteger(ref.offset) || ref.offset < 0 || !(end <= have)) throw damaged(`${what} lies at bytes ${ref.offset}..${end} of pack ${ref.pack}, which holds ${have ?? 0}`);
    const isBlob = hasBlob && rec.data instanceof Blob;
    const out = { as: ref.as, size: ref.size };
    if (ref.type !== undefined) out.type = ref.type;
    if (ref.width !== undefined) { out.width = ref.width; out.height = ref.height; }
    if (lazy && isBlob && ref.as === 'blob') {
      // A Blob field's slice is made when first asked for: in Chromium each Blob.slice is a
      // round trip to the browser process (about 0.8 ms), paid only for fields a caller reads.
      let slice = null;
      out.blob = () => (slice ??= rec.data.slice(ref.offset, end, ref.type ?? ''));
    } else {
      out.data = isBlob ? rec.data.slice(ref.offset, end, ref.type ?? '') : rec.data.subarray(ref.offset, end);
    }
    return out;
  }
}
