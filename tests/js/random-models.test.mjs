// The real published architectures (ViT-B/32, RN50: shapes from architectures.json, via
// scripts/gen-random-model.mjs with random F16 weights) load in the wasm build and give
// finite embeddings of the right size (512 / 1024) for an image and a text. Runs without
// the golden data (the generator embeds the two configs).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { generateModel, architecture } from '../../scripts/gen-random-model.mjs';
import { loadModel, getModule } from '../../web/src/index.mjs';
import * as binding from '../../web/src/binding.mjs';

describe('published architectures with random weights (wasm)', () => {
  for (const [arch, dim, type] of [['ViT-B/32', 512, 'vit'], ['RN50', 1024, 'modified_resnet']]) {
    it(`${arch}: loads, embeds an image and a text into ${dim} finite values`, async () => {
      const mod = await getModule();
      const baseline = binding.clipdb_allocated_bytes(mod);
      const expected = architecture(arch);
      let bytes = generateModel(arch, { dtype: 'F16', seed: 7 });
      const model = await loadModel({ 'model.safetensors': bytes });
      bytes = null;
      try {
        const c = model.config;
        assert.equal(c.vision_type, type);
        assert.equal(c.embed_dim, dim);
        assert.equal(c.transformer_heads, expected.transformer_heads);
        assert.deepEqual(c.vision_layers, expected.vision_layers);
        assert.equal(c.vision_heads, type === 'vit' ? 12 : 32);
        const R = c.image_resolution;
        const pixels = new Float32Array(3 * R * R);
        for (let i = 0; i < pixels.length; i++) pixels[i] = Math.sin(i * 0.001) * 1.5;
        const img = model.embedImage(pixels);
        const txt = model.embedText(new Int32Array([49406, 320, 1125, 539, 320, 2368, 49407]));
        for (const [name, e] of [['image', img], ['text', txt]]) {
          assert.equal(e.length, dim, `${name} length`);
          assert.ok(e.every(Number.isFinite), `${name} finite`);
          assert.ok(e.some((v) => v !== 0), `${name} not all zero`);
        }
        // a different image gives a different embedding (the tower is wired, not constant)
        pixels.fill(-1);
        const img2 = model.embedImage(pixels);
        assert.ok(img2.some((v, i) => Math.abs(v - img[i]) > 1e-3), 'image embedding depends on the pixels');
      } finally {
        model.free();
      }
      assert.equal(binding.clipdb_allocated_bytes(mod), baseline);
    });
  }
});
