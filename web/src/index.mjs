// clipdb: the public JS API (ES module). See index.d.ts for types and docs.
export { ClipdbError } from './errors.mjs';
export { createModule, getModule } from './module.mjs';
// CLIP encoders: load safetensors (OpenAI/open_clip or Hugging Face), embed images and texts
export { loadModel, ClipModel, normalize } from './engine.mjs';
// Image preprocessing: decode + the official CLIP transform
export { preprocess, defaultImageOptions } from './image.mjs';
// Thumbnails: a small upright JPEG of a photo, for display
export { thumbnail } from './thumbnail.mjs';
// The CLIP tokenizer (clip.tokenize)
export { Tokenizer, createTokenizer, setDefaultTokenizer, tokenize } from './text.mjs';
// Document store: collections, listeners, vector indexes, like().find()
export {
  openDatabase, Database, Collection, LikeQuery, Model, Listener, VectorIndex,
  memoryStorage, fsStorage, indexedDBStorage, WasmVectorIndex, clipModels,
} from './db/index.mjs';
// Model files cached in IndexedDB by URL; the engine + store in a Web Worker
export { openModelCache, getModelFiles, fetchWithProgress, sha256Hex, CHUNK_SIZE } from './model-cache.mjs';
export { Sha256 } from './sha256.mjs';
export { ClipdbWorkerClient } from './client.mjs';
