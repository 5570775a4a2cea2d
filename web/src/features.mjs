// Checks of the JavaScript engine's WebAssembly features, made before the clipdb module is
// compiled, so a missing feature is a clear ClipdbError instead of an opaque CompileError.
import { ClipdbError } from './errors.mjs';

// The smallest module that uses 128-bit SIMD: one function returning v128.const 0.
//   magic, version | type section: () -> v128 | function section | code section:
//   body of 20 bytes: no locals, v128.const (0xfd 0x0c) with 16 zero bytes, end.
const SIMD_PROBE = Uint8Array.of(
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b,
  0x03, 0x02, 0x01, 0x00,
  0x0a, 0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0x0b,
);

/** The probe's bytes (a copy), for tests. */
export function simdProbeBytes() {
  return SIMD_PROBE.slice();
}

/**
 * True when this engine has WebAssembly and validates a module using 128-bit SIMD
 * (WebAssembly.validate on a 43-byte probe; no compilation, no instance).
 */
export function wasmSimdSupported() {
  const WA = globalThis.WebAssembly;
  if (typeof WA !== 'object' || WA === null || typeof WA.validate !== 'function') return false;
  try {
    return WA.validate(SIMD_PROBE) === true;
  } catch {
    return false;
  }
}

/**
 * Throw ClipdbError UNSUPPORTED unless the engine has WebAssembly with 128-bit SIMD, which the
 * clipdb module (built with -msimd128) needs: Chrome/Edge 91+, Firefox 89+, Safari 16.4+,
 * Node 16.4+, Deno, Cloudflare Workers.
 */
export function requireWasmSimd() {
  if (typeof globalThis.WebAssembly !== 'object' || globalThis.WebAssembly === null) {
    throw new ClipdbError('UNSUPPORTED', 'clipdb needs WebAssembly, which this JavaScript engine does not provide');
  }
  if (!wasmSimdSupported()) {
    throw new ClipdbError('UNSUPPORTED',
      'clipdb needs WebAssembly SIMD (128-bit), which this JavaScript engine does not support '
      + '(Chrome/Edge 91+, Firefox 89+, Safari 16.4+ and Node 16.4+ do)');
  }
}
