// Text search over an exported index, on whichever clipdb entry the caller imported (`clipdb`
// resolves to the edge entry in a Worker and to the Node/browser one elsewhere; both take the
// same calls here). The export container goes into a memory store with db.importData; its
// image vectors are used as they are (the models' identifiers match the manifest's, so nothing
// is re-embedded) and queries are embedded by the model's text tower.
const utf8 = new TextDecoder();

/** The manifest (first entry, clipdb-export.json) of an export container in `bytes`. */
export function readManifest(bytes) {
  const field = (at, len) => utf8.decode(bytes.subarray(at, at + len)).replace(/\0[\s\S]*$/, '');
  if (bytes.length < 512 || field(0, 100) !== 'clipdb-export.json') throw new Error('not a clipdb export container (no clipdb-export.json first)');
  const size = parseInt(field(124, 12).trim(), 8);
  return JSON.parse(utf8.decode(bytes.subarray(512, 512 + size)));
}

/**
 * @param {object} clipdb the package's exports (import * as clipdb from 'clipdb')
 * @param {{module: object, model: ArrayBuffer|Uint8Array|object, vocab: ArrayBuffer|Uint8Array,
 *   index: ArrayBuffer|Uint8Array, maxMemoryMB?: number}} options `model`: the weights' data
 *   as loadModel takes it (in Node also {path}, streamed, where bytes would be copied whole)
 * @returns {Promise<{search(q: string, n: number): Promise<Array<{rank, file, score}>>, count: number}>}
 */
export async function openSearch(clipdb, { module, model, vocab, index, maxMemoryMB }) {
  const { loadModel, createTokenizer, openDatabase, Model, Listener, VectorIndex, ClipdbError } = clipdb;
  const clip = await loadModel({ 'model.safetensors': model }, { module, loadVision: false, maxMemoryMB });
  const tokenizer = await createTokenizer({ 'vocab.txt.gz': vocab }, { module });
  const bytes = index instanceof Uint8Array ? index : new Uint8Array(index);
  const [spec] = readManifest(bytes).vectorIndexes;
  const db = await openDatabase({ module, storage: 'memory' });
  const { documents } = await db.importData(bytes);
  const dim = clip.config.embed_dim;
  const images = new Model({
    identifier: spec.model.identifier, dim, kind: 'image',
    encode: () => { throw new ClipdbError('UNSUPPORTED', 'this search has no image tower: new images are indexed by the CLI'); },
  });
  const text = new Model({
    identifier: spec.compatible ? spec.compatible.identifier : `${spec.model.identifier}#text`, dim, kind: 'text',
    encode: (q) => clip.embedText(tokenizer.tokenize(q, { truncate: true, contextLength: clip.config.context_length })),
  });
  const select = { collection: spec.collection };
  await db.add(new VectorIndex(spec.name, {
    indexingListener: new Listener({ model: images, key: spec.key, select }),
    compatibleListener: new Listener({ model: text, key: 'text', select }),
  }));
  const photos = db.collection(spec.collection);
  return {
    count: documents,
    async search(q, n) {
      const hits = await photos.like({ text: q }, { vectorIndex: spec.name, n }).find();
      return hits.map((h, i) => ({ rank: i + 1, file: h.file ?? h._id, score: h.score }));
    },
  };
}
