// The wasm SIMD feature check: the probe validates on this engine and stops validating when
// its v128 result type is changed (so the check really asks the engine about SIMD), and on an
// engine that rejects SIMD modules createModule() fails with ClipdbError UNSUPPORTED naming
// WebAssembly SIMD, before any compilation, instead of a CompileError from the glue.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createModule, ClipdbError } from '../../web/src/index.mjs';
import { wasmSimdSupported, simdProbeBytes } from '../../web/src/features.mjs';

describe('wasm SIMD feature check', () => {
  it('the probe is a SIMD module this engine validates, and a one-byte change breaks it', () => {
    const probe = simdProbeBytes();
    assert.equal(probe.length, 43);
    assert.equal(WebAssembly.validate(probe), true);
    assert.equal(wasmSimdSupported(), true);
    const i32Result = simdProbeBytes();
    i32Result[14] = 0x7f; // the function now claims to return i32 but returns a v128
    assert.equal(WebAssembly.validate(i32Result), false);
  });

  it('createModule() on an engine without SIMD throws UNSUPPORTED before compiling', async () => {
    const { validate, compile, instantiate } = WebAssembly;
    let compiled = 0;
    // An engine without SIMD: modules that use the v128 type (0x7b) do not validate.
    WebAssembly.validate = (bytes) => !new Uint8Array(bytes.buffer || bytes).includes(0x7b) && validate(bytes);
    WebAssembly.compile = (...a) => { compiled++; return compile(...a); };
    WebAssembly.instantiate = (...a) => { compiled++; return instantiate(...a); };
    try {
      assert.equal(wasmSimdSupported(), false);
      await assert.rejects(createModule(), (e) => e instanceof ClipdbError && e.code === 'UNSUPPORTED'
        && /needs WebAssembly SIMD \(128-bit\)/.test(e.message));
      assert.equal(compiled, 0, 'nothing was compiled');
    } finally {
      Object.assign(WebAssembly, { validate, compile, instantiate });
    }
    // With SIMD back, a module is created as usual.
    const mod = await createModule();
    assert.equal(typeof mod._malloc, 'function');
  });
});
