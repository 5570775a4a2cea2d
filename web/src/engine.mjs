// High-level model API: load a CLIP model from named file buffers, embed images and texts.
// Throws ClipdbError (web/src/errors.mjs) with the C status name as `code`. Built on the
// non-throwing mirror in binding.mjs. The math is the C engine's (include/clipdb.h:
// clipdb_image_embed = model.encode_image, clipdb_text_embed = model.encode_text of
// github.com/openai/CLIP).
import { getModule } from './module.mjs';
import { ClipdbError } from './errors.mjs';
import * as b from './binding.mjs';

function raise(mod, status, message, what) {
  const table = b.statusCodes(mod);
  const code = Object.keys(table).find((k) => table[k] === status) || `STATUS_${status}`;
  const text = message || b.clipdb_last_error(mod) || `${what}: ${code}`;
  return new ClipdbError(code, text, { status });
}

async function toBytes(data, name) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (typeof Blob !== 'undefined' && data instanceof Blob) return new Uint8Array(await data.arrayBuffer());
  if (typeof data === 'string' && name.endsWith('.json')) return new TextEncoder().encode(data);
  throw new ClipdbError('INVALID_ARGUMENT', `loadModel: file ${name} must be an ArrayBuffer, typed array or Blob`);
}

async function normalizeFiles(files) {
  let entries;
  if (Array.isArray(files)) entries = files.map((f) => [f && f.name, f && f.data]);
  else if (files instanceof Map) entries = [...files.entries()];
  else if (files && typeof files === 'object') entries = Object.entries(files);
  else throw new ClipdbError('INVALID_ARGUMENT', 'loadModel: files must be an array of {name, data}, a Map or an object of name → bytes');
  if (entries.length === 0) throw new ClipdbError('INVALID_ARGUMENT', 'loadModel: no files given');
  const out = [];
  for (const [name, data] of entries) {
    if (typeof name !== 'string' || name === '') throw new ClipdbError('INVALID_ARGUMENT', 'loadModel: every file needs a name');
    out.push({ name, data: await toBytes(data, name) });
  }
  return out;
}

/** A loaded CLIP model with its scratch session. Create with loadModel(); call free() when done. */
export class ClipModel {
  #mod;
  #model;
  #session;

  constructor(mod, model, session, config) {
    this.#mod = mod;
    this.#model = model;
    this.#session = session;
    /** The resolved configuration (clipdb_model_config_json). */
    this.config = Object.freeze(config);
  }

  #live(what) {
    if (!this.#model) throw new ClipdbError('INVALID_STATE', `${what}: the model was freed`);
  }

  /**
   * Image embedding (unnormalised) of one preprocessed image: `pixels` Float32Array
   * [3·R·R] (CHW, RGB; R = config.image_resolution). Returns Float32Array [embed_dim].
   */
  embedImage(pixels) {
    this.#live('embedImage');
    const r = b.clipdb_image_embed(this.#mod, this.#model, this.#session, pixels, 1);
    if (r.status !== 0) throw raise(this.#mod, r.status, r.message, 'embedImage');
    return r.embeddings;
  }

  /**
   * Text embedding (unnormalised): `tokens` Int32Array (or number[]) of clip.tokenize ids,
   * at most config.context_length, zero padding optional. Returns Float32Array [embed_dim].
   */
  embedText(tokens) {
    this.#live('embedText');
    const r = b.clipdb_text_embed(this.#mod, this.#model, this.#session, tokens);
    if (r.status !== 0) throw raise(this.#mod, r.status, r.message, 'embedText');
    return r.embedding;
  }

  /** Release the wasm memory of the model and its session. Idempotent. */
  free() {
    if (!this.#model) return;
    b.clipdb_session_free(this.#mod, this.#session);
    b.clipdb_model_free(this.#mod, this.#model);
    this.#model = 0;
    this.#session = 0;
  }

  /** True once free() was called. */
  get freed() {
    return !this.#model;
  }
}

/**
 * Load a CLIP model from safetensors as published: `files` is an array of {name, data}, a
 * Map, or an object {name: data}; names as published ('model.safetensors', 'config.json'
 * for a Hugging Face CLIPModel directory). The bytes are copied; the caller may drop them.
 * Options: module (a createModule() instance instead of the shared one), loadVision /
 * loadText (default true).
 */
export async function loadModel(files, options = {}) {
  const list = await normalizeFiles(files);
  const mod = options.module || (await getModule(options));
  const r = b.clipdb_model_init_from_files(mod, list, options);
  if (r.status !== 0) throw raise(mod, r.status, r.message, 'loadModel');
  const s = b.clipdb_session_init(mod, r.model);
  if (s.status !== 0) {
    const err = raise(mod, s.status, s.message, 'loadModel');
    b.clipdb_model_free(mod, r.model);
    throw err;
  }
  return new ClipModel(mod, r.model, s.session, b.clipdb_model_config_json(mod, r.model));
}

/**
 * A unit-L2-norm copy of `v` (Float32Array or number[]), as clipdb_embedding_normalize.
 * Throws ClipdbError BAD_VECTOR for a zero or non-finite vector.
 */
export function normalize(v) {
  const x = Float32Array.from(v);
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i] * x[i];
  if (!(ss > 0) || !Number.isFinite(ss)) throw new ClipdbError('BAD_VECTOR', `normalize: the norm is ${ss === 0 ? '0' : 'not finite'}`);
  const inv = Math.fround(1 / Math.sqrt(ss));
  for (let i = 0; i < x.length; i++) x[i] *= inv;
  return x;
}
