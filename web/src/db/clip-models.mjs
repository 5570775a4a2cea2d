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
 *   truncate=True) does, instead of failing with TEXT_TOO_LONG. `exif` as in preprocess().
 * @returns {{visual: Model|null, text: Model|null}} null for a tower the model lacks.
 * @example
 *   const { visual, text } = clipModels({ clip: await loadModel(files), tokenizer, identifier: 'clip-tiny-vit' });
 */
export function clipModels({ clip, tokenizer, identifier, truncate = true, exif = 'ignore' } = {}) {
  if (!clip || typeof clip.embedImage !== 'function' || !clip.config) throw new ClipdbError('INVALID_ARGUMENT', 'clipModels needs a loaded CLIP model (loadModel())');
  if (typeof identifier !== 'string' || identifier === '') throw new ClipdbError('INVALID_ARGUMENT', 'clipModels needs an identifier naming the weights');
  const c = clip.config;
  const dim = c.embed_dim;
  const visual = c.has_vision === false ? null : new Model({
    identifier: `${identifier}#visual`, dim, kind: 'image',
    encode: async (input) => {
      if (typeof input === 'string') throw new ClipdbError('INVALID_ARGUMENT', 'the visual encoder needs an image (bytes, Blob or ImageData), got a string');
      const pixels = await preprocess(input, { resolution: c.image_resolution, mean: c.image_mean, std: c.image_std, exif });
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
