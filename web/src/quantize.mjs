// quantizeModel: turn a float32 (or F16/BF16) CLIP safetensors file into an int8 or F16 one in
// the page, a Worker or Node, with the C engine's quantizer (clipdb_model_quantize in
// include/clipdb.h, which documents the int8 scheme). The result loads with loadModel() like
// any other model file.
import { getModule } from './module.mjs';
import { ClipdbError } from './errors.mjs';
import * as b from './binding.mjs';

const isNode = typeof process !== 'undefined' && process.versions != null && process.versions.node != null;
const DTYPES = { int8: 1, f16: 2 };

function fail(mod, status, message) {
  const table = b.statusCodes(mod);
  const code = Object.keys(table).find((k) => table[k] === status) || `STATUS_${status}`;
  return new ClipdbError(code, message || b.clipdb_last_error(mod) || `quantizeModel: ${code}`, { status });
}

// The input as the binding wants it, plus a close().
async function source(mod, name, input) {
  if (input instanceof Uint8Array) return { name, data: input, close() {} };
  if (input instanceof ArrayBuffer) return { name, data: new Uint8Array(input), close() {} };
  if (ArrayBuffer.isView(input)) return { name, data: new Uint8Array(input.buffer, input.byteOffset, input.byteLength), close() {} };
  if (typeof Blob !== 'undefined' && input instanceof Blob) {
    if (typeof FileReaderSync !== 'undefined') { // a Worker: stream the Blob, one tensor at a time
      const reader = new FileReaderSync();
      return {
        name,
        size: input.size,
        read(offset, dst, n) {
          const bytes = new Uint8Array(reader.readAsArrayBuffer(input.slice(offset, offset + n)));
          if (bytes.length !== n) throw new Error(`${name}: got ${bytes.length} of ${n} bytes at ${offset}`);
          mod.HEAPU8.set(bytes, dst);
        },
        close() {},
      };
    }
    return { name, data: new Uint8Array(await input.arrayBuffer()), close() {} };
  }
  if (input && typeof input === 'object' && typeof input.path === 'string') {
    if (!isNode) throw new ClipdbError('UNSUPPORTED', 'quantizeModel: a {path} input can only be read by Node');
    const fs = await import('node:fs');
    let fd;
    try {
      fd = fs.openSync(input.path, 'r');
    } catch (e) {
      throw new ClipdbError('IO', `quantizeModel: cannot open ${input.path}: ${e.message}`);
    }
    return {
      name,
      size: fs.fstatSync(fd).size,
      read(offset, dst, n) {
        for (let done = 0; done < n;) {
          const got = fs.readSync(fd, mod.HEAPU8, dst + done, Math.min(n - done, 64 << 20), offset + done);
          if (got <= 0) throw new Error(`${input.path} ended at byte ${offset + done} (short read)`);
          done += got;
        }
      },
      close() { fs.closeSync(fd); },
    };
  }
  throw new ClipdbError('INVALID_ARGUMENT', 'quantizeModel: the model must be an ArrayBuffer, typed array, Blob/File or (Node) {path}');
}

/**
 * Quantize one CLIP safetensors file.
 *   input    ArrayBuffer | Uint8Array | Blob/File | {path} (Node). Inside a Worker a Blob is
 *            streamed (FileReaderSync): only one tensor of it is in memory at a time; elsewhere
 *            a Blob is read whole first.
 *   options  {dtype: 'int8' (default) | 'f16', output: 'bytes' (default) | 'blob',
 *            name: file name for messages (default 'model.safetensors'), module}
 * Resolves to the new file as a Uint8Array (output 'bytes') or a Blob ('blob', where Blob
 * exists: keeps the result out of one big buffer). Rejects with ClipdbError: INVALID_ARGUMENT
 * (bad options or input), BAD_MODEL (not a CLIP safetensors file, or already quantized; the
 * message names the tensor), OUT_OF_MEMORY, IO (the input could not be read).
 */
export async function quantizeModel(input, options = {}) {
  const dtype = options.dtype === undefined ? 'int8' : options.dtype;
  if (!Object.hasOwn(DTYPES, dtype)) throw new ClipdbError('INVALID_ARGUMENT', `quantizeModel: dtype must be 'int8' or 'f16', not ${String(dtype)}`);
  const output = options.output === undefined ? 'bytes' : options.output;
  if (output !== 'bytes' && output !== 'blob') throw new ClipdbError('INVALID_ARGUMENT', `quantizeModel: output must be 'bytes' or 'blob', not ${String(output)}`);
  if (output === 'blob' && typeof Blob === 'undefined') throw new ClipdbError('UNSUPPORTED', 'quantizeModel: Blob is not available here');
  const mod = options.module || (await getModule());
  const name = typeof options.name === 'string' && options.name ? options.name : 'model.safetensors';
  const src = await source(mod, name, input);
  const chunks = [];
  let r;
  try {
    r = b.clipdb_model_quantize(mod, src, DTYPES[dtype], (bytes) => chunks.push(bytes));
  } finally {
    src.close();
  }
  if (r.status !== 0) throw fail(mod, r.status, r.message);
  if (output === 'blob') return new Blob(chunks, { type: 'application/octet-stream' });
  const out = new Uint8Array(r.size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
