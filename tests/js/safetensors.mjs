// A small safetensors reader for tests (Node): read a file once, then get tensors by name
// as typed arrays. Supports F32, F16, BF16 (as Float32Array), I32, I64 (as Int32Array; I64
// values must fit in int32) and the header's __metadata__ strings.
// Format: 8-byte little-endian header length N, N bytes of JSON, then the data section.
import { readFileSync } from 'node:fs';

const SIZES = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

function f16ToF32(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 0x1f) return man ? NaN : sign * Infinity;
  return sign * (1 + man / 1024) * 2 ** (exp - 15);
}

export class SafeTensors {
  /** @param {Uint8Array} bytes the whole file */
  constructor(bytes) {
    if (bytes.length < 8) throw new Error('safetensors: truncated (no header length)');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = Number(view.getBigUint64(0, true));
    if (n > bytes.length - 8) throw new Error(`safetensors: header of ${n} bytes exceeds the file`);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    this.bytes = bytes;
    this.dataStart = 8 + n;
    this.metadata = header.__metadata__ || {};
    delete header.__metadata__;
    this.entries = header;
  }

  static fromFile(path) {
    return new SafeTensors(new Uint8Array(readFileSync(path)));
  }

  /** Tensor names (unsorted, as in the header). */
  names() {
    return Object.keys(this.entries);
  }

  /** {dtype, shape} of `name`, or undefined. */
  info(name) {
    const e = this.entries[name];
    return e && { dtype: e.dtype, shape: e.shape.slice() };
  }

  #raw(name) {
    const e = this.entries[name];
    if (!e) throw new Error(`safetensors: no tensor ${name}`);
    const size = SIZES[e.dtype];
    if (!size) throw new Error(`safetensors: tensor ${name} has unknown dtype ${e.dtype}`);
    const [begin, end] = e.data_offsets;
    const numel = e.shape.reduce((a, b) => a * b, 1);
    if (end - begin !== numel * size || this.dataStart + end > this.bytes.length)
      throw new Error(`safetensors: tensor ${name} has bad data_offsets`);
    // copy: the data section need not be aligned for typed-array views
    const copy = this.bytes.slice(this.dataStart + begin, this.dataStart + end);
    return { e, numel, view: new DataView(copy.buffer) };
  }

  /** Values of a float tensor (F32, F16, BF16) as a new Float32Array. */
  f32(name) {
    const { e, numel, view } = this.#raw(name);
    const out = new Float32Array(numel);
    if (e.dtype === 'F32') for (let i = 0; i < numel; i++) out[i] = view.getFloat32(4 * i, true);
    else if (e.dtype === 'F16') for (let i = 0; i < numel; i++) out[i] = f16ToF32(view.getUint16(2 * i, true));
    else if (e.dtype === 'BF16') {
      const tmp = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < numel; i++) {
        tmp.setUint32(0, view.getUint16(2 * i, true) << 16, false);
        out[i] = tmp.getFloat32(0, false);
      }
    } else throw new Error(`safetensors: tensor ${name} is ${e.dtype}, not a float type`);
    return out;
  }

  /** Values of an integer tensor (I32, I64) as a new Int32Array. */
  i32(name) {
    const { e, numel, view } = this.#raw(name);
    const out = new Int32Array(numel);
    if (e.dtype === 'I32') for (let i = 0; i < numel; i++) out[i] = view.getInt32(4 * i, true);
    else if (e.dtype === 'I64') {
      for (let i = 0; i < numel; i++) {
        const v = view.getBigInt64(8 * i, true);
        if (v < -2147483648n || v > 2147483647n) throw new Error(`safetensors: ${name}[${i}] exceeds int32`);
        out[i] = Number(v);
      }
    } else throw new Error(`safetensors: tensor ${name} is ${e.dtype}, not I32/I64`);
    return out;
  }
}

/** Shorthand: SafeTensors.fromFile(path). */
export function readSafetensors(path) {
  return SafeTensors.fromFile(path);
}
