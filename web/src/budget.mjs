// Memory budget for loading a model (loadModel's `maxMemoryMB`): from the safetensors header
// alone, how many bytes of wasm memory the towers being loaded will take, so a model that
// cannot fit is refused before the loader allocates anything (an edge isolate that runs out
// of memory mid-load is killed, not given an error).
import { ClipdbError } from './errors.mjs';

const MiB = 1 << 20;
// Room for everything besides the packed weights: the text session's activations (77 tokens),
// the tokenizer, the glue's own allocations and a small vector index.
const HEADROOM = 16 * MiB;

const utf8 = new TextDecoder();

// Bytes one element takes once loaded: F32/F16/BF16 are packed to float32; int8 stays 1 byte.
function packedBytesPerElement(dtype) {
  if (dtype === 'I8' || dtype === 'U8') return 1;
  return 4;
}

const isVision = (name) => name.startsWith('visual.') || name.startsWith('vision_model.') || name.startsWith('visual_projection');
// The token table (OpenAI and Hugging Face names): an I8 one is read as it is, into its own buffer.
const isTokenTable = (name) => name === 'token_embedding.weight' || name === 'text_model.embeddings.token_embedding.weight';
// Layer weights (linear, convolution, projection: 2 or more dimensions, not an embedding
// table, not an int8 tensor's scales) are fetched as float32 and then packed into a buffer of
// their own, so the float32 copy is held besides the packed weights until the layer is built.
const isLayerWeight = (name, shape) => shape.length >= 2 && !/embedding/.test(name) && !name.endsWith('.scale');

/**
 * What loading one tensor holds beyond the packed weights, in bytes, as the C loader
 * (src/model/load.c) does it from a streamed file: a non-F32 tensor is read into a scratch
 * buffer as stored (bytes as in the file) and converted to float32; a layer weight's float32
 * copy (4 bytes per value) lives until it is packed (int8 layers are dequantized through
 * their scales, then packed to int8 again). An I8 token table is read straight into its
 * buffer: 0.
 */
function transientBytes(name, t) {
  const n = t.shape.reduce((a, d) => a * d, 1);
  if (t.dtype === 'I8' && isTokenTable(name)) return 0;
  const stored = t.dtype !== 'F32' && Array.isArray(t.data_offsets) ? t.data_offsets[1] - t.data_offsets[0] : 0;
  return stored + (isLayerWeight(name, t.shape) ? 4 * n : 0);
}

/**
 * The estimate for one parsed safetensors header (the JSON object), in bytes: `text`,
 * `vision`: packed weights per tower (1 byte per I8 value, 4 per float value, the F32 scales
 * of int8 tensors included); `largestText`, `largestVision`: the most one tensor of that tower
 * holds while it is loaded (transientBytes); `largest`: the larger of the two.
 */
export function towerBytes(header) {
  const out = { text: 0, vision: 0, largestText: 0, largestVision: 0, largest: 0 };
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__' || !t || !Array.isArray(t.shape)) continue;
    const n = t.shape.reduce((a, d) => a * d, 1);
    const bytes = n * packedBytesPerElement(t.dtype);
    const held = transientBytes(name, t);
    if (isVision(name)) {
      out.vision += bytes;
      out.largestVision = Math.max(out.largestVision, held);
    } else {
      out.text += bytes;
      out.largestText = Math.max(out.largestText, held);
    }
  }
  out.largest = Math.max(out.largestText, out.largestVision);
  return out;
}

/**
 * Parse the header of a safetensors file given `peek(offset, n) -> Uint8Array` (n bytes at
 * that offset). Returns the JSON object, or null when the bytes are not a safetensors header
 * (the loader then reports the real error).
 */
export function readHeader(peek) {
  const head = peek(0, 8);
  if (!head || head.length < 8) return null;
  const dv = new DataView(head.buffer, head.byteOffset, 8);
  const len = dv.getUint32(0, true) + dv.getUint32(4, true) * 2 ** 32;
  if (!(len > 1) || len > 100 * MiB) return null;
  try {
    return JSON.parse(utf8.decode(peek(8, len)));
  } catch {
    return null;
  }
}

/**
 * Throw ClipdbError MEMORY_BUDGET_EXCEEDED when loading `sources` (engine.mjs file sources:
 * {name, data} or {name, size, peek(offset, n)}) with `options` ({loadVision, loadText,
 * maxMemoryMB}) would need more than maxMemoryMB MiB of wasm memory, counting what the module
 * already holds (`usedBytes`). The message states the bytes needed and suggests int8.
 * Returns the estimate in bytes (null when no safetensors header could be read).
 */
export function checkMemoryBudget(sources, options, usedBytes = 0) {
  const mb = options.maxMemoryMB;
  if (typeof mb !== 'number' || !(mb > 0)) {
    throw new ClipdbError('INVALID_ARGUMENT', `loadModel: maxMemoryMB must be a positive number of MiB, not ${mb}`);
  }
  const budget = Math.floor(mb * MiB);
  const file = sources.find((f) => /\.safetensors$/.test(f.name));
  if (!file) return null;
  const peek = file.data ? (o, n) => file.data.subarray(o, o + n) : file.peek;
  if (typeof peek !== 'function') return null;
  const header = readHeader(peek);
  if (!header) return null;
  const t = towerBytes(header);
  const towers = [];
  let weights = 0, largest = 0;
  if (options.loadText !== false) { weights += t.text; largest = Math.max(largest, t.largestText); towers.push('text'); }
  if (options.loadVision !== false) { weights += t.vision; largest = Math.max(largest, t.largestVision); towers.push('image'); }
  // Files given as bytes are copied whole into wasm memory for the load; streamed ones are not.
  const copied = sources.reduce((a, f) => a + (f.data ? f.data.length : 0), 0);
  const needed = weights + largest + copied + HEADROOM + usedBytes;
  if (needed > budget) {
    const meta = header.__metadata__ || {};
    const quantized = meta.quantization != null;
    const oneTower = towers.length > 1 ? 'load only the tower you need (loadVision: false / loadText: false)' : null;
    const hint = quantized
      ? `The model is already int8: ${[copied ? 'stream the file instead of passing its bytes' : null, oneTower, 'raise maxMemoryMB']
        .filter(Boolean).join(', or ')}.`
      // int8 keeps 1 byte of the 4 per weight (the scales add under 1 %)
      : `Quantize the model to int8 (clipdb quantize; about ${Math.round(weights / 4)} bytes of weights)${oneTower ? ` or ${oneTower}` : ''}.`;
    throw new ClipdbError('MEMORY_BUDGET_EXCEEDED',
      `loadModel: the ${towers.join(' and ')} tower${towers.length > 1 ? 's' : ''} of ${file.name} need${towers.length > 1 ? '' : 's'} about ${needed} bytes ` +
      `(${(needed / MiB).toFixed(1)} MiB: ${weights} bytes of packed weights, ${largest} while loading the largest tensor, ` +
      `${copied ? `${copied} for the file copied in whole, ` : ''}` +
      `${HEADROOM} of working memory${usedBytes ? `, ${usedBytes} already in use` : ''}), more than maxMemoryMB ${mb} ` +
      `(${budget} bytes); nothing was allocated. ${hint}`,
      { details: { needed, budget, weights, largest, copied, towers } });
  }
  return needed;
}
