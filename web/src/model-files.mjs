// Which files of a model folder are the weights and which the tokenizer vocabulary.
//
// A model and its vocabulary travel together, so the vocabulary is found only under documented
// names, never by guessing from a suffix (an unrelated `*.txt.gz` beside the model must not
// become its tokenizer). The same rule as the native and wasm CLI (`clipdb search`, `embed`):
//
//   weights     `model.safetensors`, else `open_clip_model.safetensors`, else the one
//               `*.safetensors` file (two or more other ones: error naming them);
//               `config.json` goes with them when present (Hugging Face folders).
//   vocabulary  1. the file the weights' safetensors `__metadata__` names under the key
//                  `clipdb_vocab` (it must be among the files);
//               2. else exactly one of `bpe_simple_vocab_16e6.txt.gz`, `vocab.txt.gz`, or the
//                  pair `vocab.json` + `merges.txt`.
//               Two candidates: error naming both. None: error listing the names looked for.
//
// Errors are ClipdbError with code 'INVALID_ARGUMENT' (ambiguous or missing files) or
// 'BAD_MODEL' (unreadable safetensors header while looking for `clipdb_vocab`).
import { ClipdbError } from './errors.mjs';

/** The safetensors `__metadata__` key whose value names the model's vocabulary file. */
export const VOCAB_METADATA_KEY = 'clipdb_vocab';

/** Vocabulary names recognised beside a model, in the order they are listed in errors. */
export const VOCAB_NAMES = Object.freeze(['bpe_simple_vocab_16e6.txt.gz', 'vocab.txt.gz', 'vocab.json + merges.txt']);

const LOOKED_FOR = `${VOCAB_NAMES.join(', ')}, or the file named by the weights' safetensors metadata key ${VOCAB_METADATA_KEY}`;

function baseName(name) {
  const i = Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\'));
  return i >= 0 ? name.slice(i + 1) : name;
}

/**
 * Pick the weights, config and vocabulary among the file names of one model.
 * @param {string[]} names  file names (base names; a leading folder is ignored for matching)
 * @param {{metadataVocab?: string|null}} [options]  the `clipdb_vocab` metadata value of the
 *   weights, when the caller has read it (see readSafetensorsMetadata)
 * @returns {{weights: string, config: string|null, vocab: string[]}} names as given;
 *   `vocab` holds one name, or two (`vocab.json`, `merges.txt`)
 * @throws {ClipdbError} INVALID_ARGUMENT: no or several weights, no or several vocabularies, or
 *   a metadata-named vocabulary not among `names`
 */
export function pickModelFiles(names, { metadataVocab = null } = {}) {
  if (!Array.isArray(names) || names.some((n) => typeof n !== 'string')) {
    throw new ClipdbError('INVALID_ARGUMENT', 'pickModelFiles: names must be an array of file names');
  }
  return { ...pickWeights(names), vocab: pickVocab(names, { metadataVocab }) };
}

/**
 * The weights (and `config.json`) among `names`.
 * @returns {{weights: string, config: string|null}}
 * @throws {ClipdbError} INVALID_ARGUMENT when there is no `.safetensors` file, or several and
 *   none is called model.safetensors / open_clip_model.safetensors
 */
export function pickWeights(names) {
  const byBase = new Map(names.map((n) => [baseName(n), n]));
  const config = byBase.get('config.json') ?? null;
  for (const preferred of ['model.safetensors', 'open_clip_model.safetensors']) {
    if (byBase.has(preferred)) return { weights: byBase.get(preferred), config };
  }
  const st = names.filter((n) => baseName(n).toLowerCase().endsWith('.safetensors'));
  if (st.length === 1) return { weights: st[0], config };
  if (st.length === 0) {
    throw new ClipdbError('INVALID_ARGUMENT', `no .safetensors weights among ${names.join(', ') || 'the files given'}`);
  }
  throw new ClipdbError('INVALID_ARGUMENT',
    `several .safetensors files and none is model.safetensors: ${st.join(', ')}; give only the model's weights`);
}

/**
 * The vocabulary files among `names` by the documented names (see the top of this file).
 * @returns {string[]} one name, or [vocab.json, merges.txt]
 * @throws {ClipdbError} INVALID_ARGUMENT naming both candidates, or the names looked for
 */
export function pickVocab(names, { metadataVocab = null } = {}) {
  const byBase = new Map(names.map((n) => [baseName(n), n]));
  if (metadataVocab != null) {
    if (typeof metadataVocab !== 'string' || metadataVocab === '' || /[/\\]/.test(metadataVocab)) {
      throw new ClipdbError('INVALID_ARGUMENT', `the model's metadata ${VOCAB_METADATA_KEY} is not a file name: ${JSON.stringify(metadataVocab)}`);
    }
    const want = metadataVocab === 'vocab.json' || metadataVocab === 'merges.txt' ? ['vocab.json', 'merges.txt'] : [metadataVocab];
    const missing = want.filter((n) => !byBase.has(n));
    if (missing.length) {
      throw new ClipdbError('INVALID_ARGUMENT',
        `the model names its vocabulary ${missing.join(' + ')} (metadata ${VOCAB_METADATA_KEY}), which is not among ${names.join(', ')}`);
    }
    return want.map((n) => byBase.get(n));
  }
  const found = [];
  for (const single of ['bpe_simple_vocab_16e6.txt.gz', 'vocab.txt.gz']) if (byBase.has(single)) found.push([byBase.get(single)]);
  if (byBase.has('vocab.json') && byBase.has('merges.txt')) found.push([byBase.get('vocab.json'), byBase.get('merges.txt')]);
  if (found.length === 1) return found[0];
  if (found.length > 1) {
    throw new ClipdbError('INVALID_ARGUMENT',
      `two tokenizer vocabularies among the model files: ${found[0].join(' + ')} and ${found[1].join(' + ')}; give only one`);
  }
  throw new ClipdbError('INVALID_ARGUMENT',
    `no tokenizer vocabulary among ${names.join(', ') || 'the files given'} (looked for ${LOOKED_FOR})`);
}

async function readRange(data, start, end) {
  if (typeof Blob !== 'undefined' && data instanceof Blob) return new Uint8Array(await data.slice(start, end).arrayBuffer());
  let bytes;
  if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
  else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  else throw new ClipdbError('INVALID_ARGUMENT', 'readSafetensorsMetadata: data must be an ArrayBuffer, typed array or Blob');
  return bytes.subarray(start, Math.min(end, bytes.length));
}

/**
 * The `__metadata__` object (string → string) of a safetensors file, reading only its header.
 * @param {ArrayBuffer|ArrayBufferView|Blob} data  the file
 * @returns {Promise<Record<string,string>>} `{}` when the header has no `__metadata__`
 * @throws {ClipdbError} BAD_MODEL when the header is truncated or not JSON
 */
export async function readSafetensorsMetadata(data, name = 'model.safetensors') {
  const head = await readRange(data, 0, 8);
  if (head.length < 8) throw new ClipdbError('BAD_MODEL', `${name}: too short for a safetensors header`);
  const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  if (n > 100n << 20n) throw new ClipdbError('BAD_MODEL', `${name}: safetensors header of ${n} bytes (over 100 MiB)`);
  const json = await readRange(data, 8, 8 + Number(n));
  if (json.length !== Number(n)) throw new ClipdbError('BAD_MODEL', `${name}: safetensors header truncated`);
  let header;
  try { header = JSON.parse(new TextDecoder().decode(json)); } catch (e) {
    throw new ClipdbError('BAD_MODEL', `${name}: safetensors header is not JSON (${e.message})`);
  }
  const meta = header && typeof header === 'object' ? header.__metadata__ : undefined;
  return meta && typeof meta === 'object' ? meta : {};
}

/**
 * pickModelFiles over files with their bytes: reads the weights' `clipdb_vocab` metadata first
 * (a weights file whose header cannot be read counts as having none).
 * @param {{name: string, data: ArrayBuffer|ArrayBufferView|Blob}[]} files
 * @returns {Promise<{weights: object, config: object|null, vocab: object[]}>} the file objects
 */
export async function selectModelFiles(files) {
  const names = files.map((f) => f.name);
  const { weights } = pickWeights(names);
  const wf = files.find((f) => f.name === weights);
  // An unreadable header is not this function's error to report: loading the weights names
  // the problem (and the caller may add where the file came from).
  const meta = await readSafetensorsMetadata(wf.data, wf.name).catch((e) => {
    if (e instanceof ClipdbError && e.code === 'BAD_MODEL') return {};
    throw e;
  });
  const picked = pickModelFiles(names, { metadataVocab: meta[VOCAB_METADATA_KEY] ?? null });
  const byName = (n) => files.find((f) => f.name === n);
  return { weights: wf, config: picked.config ? byName(picked.config) : null, vocab: picked.vocab.map(byName) };
}
