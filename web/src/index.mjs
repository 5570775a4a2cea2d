// clipdb: the public JS API (ES module). See index.d.ts for types and docs.
export { ClipdbError } from './errors.mjs';
export { createModule, getModule } from './module.mjs';
// Image preprocessing: decode + the official CLIP transform
export { preprocess, defaultImageOptions } from './image.mjs';
// Document store: collections, listeners, vector indexes, like().find()
export {
  openDatabase, Database, Collection, LikeQuery, Model, Listener, VectorIndex,
  memoryStorage, fsStorage, indexedDBStorage, WasmVectorIndex,
} from './db/index.mjs';
