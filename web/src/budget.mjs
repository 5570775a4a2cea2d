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

/**
 * The estimate for one parsed safetensors header (the JSON object): {text, vision, largest}
 * in bytes — packed weights per tower and the largest tensor that is converted while loading
 * (F16/BF16, as stored in the file: the loader's one conversion scratch; 0 for all-F32 files).
 */
export function towerBytes(header) {
  const out = { text: 0, vision: 0, largest: 0 };
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__' || !t || !Array.isArray(t.shape)) continue;
    const n = t.shape.reduce((a, d) => a * d, 1);
    const bytes = n * packedBytesPerElement(t.dtype);
    if (isVision(name)) out.vision += bytes; else out.text += bytes;
    // F32 tensors are read straight into their packed buffer; others pass through one scratch
    if (t.dtype !== 'F32' && Array.isArray(t.data_offsets)) out.largest = Math.max(out.largest, t.data_offsets[1] - t.data_offsets[0]);
  }
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
  let weights = 0;
  if (options.loadText !== false) { weights += t.text; towers.push('text'); }
  if (options.loadVision !== false) { weights += t.vision; towers.push('image'); }
  // Files given as bytes are copied whole into wasm memory for the load; streamed ones are not.
  const copied = sources.reduce((a, f) => a + (f.data ? f.data.length : 0), 0);
  const needed = weights + t.largest + copied + HEADROOM + usedBytes;
  if (needed > budget) {
    const int8 = Math.round(weights / 4);
    throw new ClipdbError('MEMORY_BUDGET_EXCEEDED',
      `loadModel: the ${towers.join(' and ')} tower${towers.length > 1 ? 's' : ''} of ${file.name} need about ${needed} bytes ` +
      `(${(needed / MiB).toFixed(1)} MiB: ${weights} bytes of packed weights, ${t.largest} for converting the largest tensor, ` +
      `${copied ? `${copied} for the file copied in whole, ` : ''}` +
      `${HEADROOM} of working memory${usedBytes ? `, ${usedBytes} already in use` : ''}), more than maxMemoryMB ${mb} ` +
      `(${budget} bytes); nothing was allocated. Quantize the model to int8 (clipdb quantize; about ${int8} bytes of weights) ` +
      'or load only the tower you need (loadVision: false / loadText: false).',
      { details: { needed, budget, weights, towers } });
  }
  return needed;
}
