// The document store (SuperDuperDB-style) — see database.mjs.
export { openDatabase, Database, Collection, LikeQuery, Model, Listener, VectorIndex } from './database.mjs';
export { memoryStorage, fsStorage, indexedDBStorage, openStorage } from './storage.mjs';
export { WasmVectorIndex } from './vector-index.mjs';
export { matches } from './filter.mjs';
export { clipModels } from './clip-models.mjs';
