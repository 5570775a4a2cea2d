// The CLIP tokenizer on the wasm build: clip.tokenize of the official OpenAI code
// (clip/simple_tokenizer.py at d05afc4): ftfy-style cleaning, HTML unescaping, white-space
// collapsing, lower-casing, the official pre-tokenisation pattern, byte-level BPE with "</w>",
// <|startoftext|> ... <|endoftext|>, zero padding. See include/clipdb.h (clipdb_tokenize) and
// ../shared/golden/README.md ("Texts").
// Reaches wasm only through binding.mjs, on the module its caller passes (`options.module`),
// else the shared default instance.
import { getModule } from './module.mjs';
import { ClipdbError } from './errors.mjs';
import * as b from './binding.mjs';

const encoder = new TextEncoder();
let defaultTokenizer = null;

function toBytes(data, what) {
  if (typeof data === 'string') return encoder.encode(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new ClipdbError('INVALID_ARGUMENT', `createTokenizer: ${what} must be an ArrayBuffer, typed array or string`);
}

/** A CLIP tokenizer held in wasm memory. Create with createTokenizer(); release with free(). */
export class Tokenizer {
  constructor(mod, handle) {
    this.module = mod;
    this.handle = handle;
    const info = b.clipdb_tokenizer_info(mod, handle);
    this.vocabSize = info.vocabSize;
    this.sot = info.sot;
    this.eot = info.eot;
  }

  /**
   * clip.tokenize(text, contextLength, truncate) for one string.
   * Returns a new Int32Array(contextLength): [SOT, ids..., EOT, 0, ...].
   * Throws ClipdbError TEXT_TOO_LONG (message names the token count) when the text needs more
   * than contextLength tokens and `truncate` is false; with `truncate` the first
   * contextLength ids are kept and the last one becomes EOT, as the official code does.
   */
  tokenize(text, { truncate = false, contextLength = 77 } = {}) {
    if (this.handle === 0) throw new ClipdbError('INVALID_STATE', 'tokenize: the tokenizer was freed');
    if (typeof text !== 'string') throw new ClipdbError('INVALID_ARGUMENT', 'tokenize: text must be a string');
    if (!Number.isInteger(contextLength) || contextLength < 2)
      throw new ClipdbError('INVALID_ARGUMENT', `tokenize: contextLength must be an integer >= 2, not ${contextLength}`);
    const mod = this.module;
    const r = b.clipdb_tokenize(mod, this.handle, text, contextLength, truncate); // lone surrogates become U+FFFD
    // the per-thread message (clipdb_last_error) is the tokenizer's message too
    return b.check(mod, r, 'tokenize').tokens;
  }

  /** Release the wasm memory. The tokenizer cannot be used afterwards. */
  free() {
    b.clipdb_tokenizer_free(this.module, this.handle);
    this.handle = 0;
  }
}

/**
 * Create a tokenizer from vocabulary files, given as `{name: bytes}` (or an array of
 * `{name, data}`): either OpenAI's `bpe_simple_vocab_16e6.txt.gz` (any `*.txt.gz` or `*.txt`
 * in that format, e.g. a model's own smaller vocabulary) or Hugging Face's `vocab.json` +
 * `merges.txt`. Bytes are ArrayBuffer / typed arrays (strings are UTF-8 encoded); they are
 * copied. Options: `module` (a createModule() instance instead of the shared one), `default`
 * (also make it the tokenizer that tokenize() uses).
 * Throws ClipdbError BAD_VOCAB (message names the file and line), INVALID_ARGUMENT, OUT_OF_MEMORY.
 */
export async function createTokenizer(files, options = {}) {
  const mod = options.module || (await getModule());
  const list = Array.isArray(files) ? files : Object.entries(files || {}).map(([name, data]) => ({ name, data }));
  if (list.length < 1 || list.length > 2)
    throw new ClipdbError('INVALID_ARGUMENT', `createTokenizer: expected 1 file (.txt.gz) or 2 (vocab.json + merges.txt), got ${list.length}`);
  const args = list.map((f) => {
    if (typeof f.name !== 'string') throw new ClipdbError('INVALID_ARGUMENT', 'createTokenizer: every file needs a name');
    return { name: f.name, data: toBytes(f.data, f.name) };
  });
  const r = b.check(mod, b.clipdb_tokenizer_init_from_files(mod, args), 'createTokenizer');
  const tokenizer = new Tokenizer(mod, r.tokenizer);
  if (options.default) setDefaultTokenizer(tokenizer);
  return tokenizer;
}

/** Make `tokenizer` the one tokenize() uses when none is passed. */
export function setDefaultTokenizer(tokenizer) {
  if (!(tokenizer instanceof Tokenizer)) throw new ClipdbError('INVALID_ARGUMENT', 'setDefaultTokenizer: not a Tokenizer');
  defaultTokenizer = tokenizer;
}

/**
 * clip.tokenize for one string: a new Int32Array(77) (or `contextLength`).
 * Uses `options.tokenizer`, else the default one (createTokenizer(files, {default: true})).
 * Throws ClipdbError TEXT_TOO_LONG without `truncate`, INVALID_STATE without a tokenizer.
 * @example
 *   const tok = await createTokenizer({ 'bpe_simple_vocab_16e6.txt.gz': bytes }, { default: true });
 *   tokenize('a photo of a cat');                 // Int32Array(77) [49406, 320, 1125, ...]
 *   tokenize(longText, { truncate: true });      // last id 49407
 */
export function tokenize(text, { truncate = false, contextLength = 77, tokenizer } = {}) {
  const t = tokenizer || defaultTokenizer;
  if (!t) throw new ClipdbError('INVALID_STATE', 'tokenize: no tokenizer; call createTokenizer(files, {default: true}) first or pass {tokenizer}');
  return t.tokenize(text, { truncate, contextLength });
}
