// Store Models over clipdb's own CLIP: the visual encoder (image pipeline + clipdb_image_embed)
// and the text encoder (CLIP tokenizer + clipdb_text_embed), as thin wrappers. The engine and
// tokenizer objects are passed in (loadModel() from engine.mjs, createTokenizer() from
// text.mjs), so this file depends only on their methods:
//   clip.config {embed_dim, image_resolution, image_mean, image_std, has_vision, has_text}
//   clip.embedImage(pixels: Float32Array [3*R*R]) -> Float32Array [embed_dim]
//   clip.embedText(tokens: Int32Array) -> Float32Array [embed_dim]
//   tokenizer.tokenize(text, {truncate, contextLength}) -> Int32Array
import { ClipdbError } from '../errors.mjs';
import { preprocess } from '../image.mjs';
import { Model } from './database.mjs';

/**
 * The two encoders of one CLIP model as store Models.
 * @param {{clip: object, tokenizer?: object, identifier: string, truncate?: boolean, exif?: 'ignore'|'apply'}} options
 *   `identifier` names the weights (e.g. 'openai/ViT-B-32' or a file hash); it is stored with
 *   every vector index built from these models (as '<identifier>#visual'), so reopening a
 *   store with other weights is a MODEL_MISMATCH instead of silently mixed vectors.
 *   `truncate` (default true): texts longer than the context are cut as clip.tokenize(...,
 *   truncate=True) does, instead of failing with TEXT_TOO_LONG.
 *   `exif` as in preprocess(): 'apply' (default) turns encoded photos upright by their EXIF
 *   orientation first, so stored bytes, an ImageData query and a file query agree;
 *   'ignore' reproduces the official pipeline's embeddings (reference parity).
 *   The policy is part of the visual model's identity: 'ignore' keeps the identifier
 *   '<identifier>#visual' that stores built before 'apply' became the default
 *   carry, and 'apply' is '<identifier>#visual+exif'. So a store whose vectors were made
 *   with the other policy is a MODEL_MISMATCH when its vector index is added (nothing is
 *   dropped; {reindex: true} re-embeds the stored documents with the new policy) instead of
 *   silently mixing rotated and unrotated vectors.
 * @returns {{visual: Model|null, text: Model|null}} null for a tower the model lacks.
 * @example
 *   const { visual, text } = clipModels({ clip: await loadModel(files), tokenizer, identifier: 'clip-tiny-vit' });
 */
export function clipModels({ clip, tokenizer, identifier, truncate = true, exif = 'apply' } = {}) {
  if (!clip || typeof clip.embedImage !== 'function' || !clip.config) throw new ClipdbError('INVALID_ARGUMENT', 'clipModels needs a loaded CLIP model (loadModel())');
  if (typeof identifier !== 'string' || identifier === '') throw new ClipdbError('INVALID_ARGUMENT', 'clipModels needs an identifier naming the weights');
  if (exif !== 'apply' && exif !== 'ignore') throw new ClipdbError('INVALID_ARGUMENT', `clipModels: exif must be 'apply' or 'ignore', not '${exif}'`);
  const c = clip.config;
  const dim = c.embed_dim;
  const visual = c.has_vision === false ? null : new Model({
    identifier: exif === 'apply' ? `${identifier}#visual+exif` : `${identifier}#visual`, dim, kind: 'image',
    encode: async (input) => {
      if (typeof input === 'string') throw new ClipdbError('INVALID_ARGUMENT', 'the visual encoder needs an image (bytes, Blob or ImageData), got a string');
      // on the model's own wasm instance (an edge entry's or a createModule() one)
      const pixels = await preprocess(input, { module: clip.module, resolution: c.image_resolution, mean: c.image_mean, std: c.image_std, exif });
      return clip.embedImage(pixels);
    },
  });
  let text = null;
  if (c.has_text !== false && tokenizer) {
    text = new Model({
      identifier: `${identifier}#text`, dim, kind: 'text',
      encode: async (input) => {
        if (typeof input !== 'string') throw new ClipdbError('INVALID_ARGUMENT', `the text encoder needs a string, got ${typeof input}`);
        return clip.embedText(tokenizer.tokenize(input, { truncate, contextLength: c.context_length }));
      },
    });
  }
  return { visual, text };
}
