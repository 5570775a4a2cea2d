#!/usr/bin/env node
// Random-weight CLIP checkpoints with the real published architectures (RN50, ViT-B/32, and
// the other entries of ../shared/golden/architectures.json), in OpenAI/open_clip state-dict
// naming, as safetensors. Seeded (deterministic), no torch: CI and benchmarks use it where
// real weights cannot be downloaded. The numbers mean nothing; shapes, names, config
// metadata and the forward-pass cost are those of the real models.
//
//   node scripts/gen-random-model.mjs ARCH OUT.safetensors [--dtype F16|F32|BF16] [--seed N]
//        [--towers both|text]
//   ARCH: RN50 | ViT-B/32 (embedded below), or any model in architectures.json when the
//   golden folder is present. --towers text leaves out the visual.* tensors: the text
//   tower's values are those of the two-tower file (tensors draw from one seeded stream in
//   name order, and every visual.* name sorts after the text tower's).
//
// As a module: generateModel(arch, {dtype, seed, towers}) → Uint8Array (the whole file).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Facts from github.com/openai/CLIP (clip/model.py build_model on the released checkpoints),
// as recorded in ../shared/golden/architectures.json.
const EMBEDDED = {
  RN50: {
    embed_dim: 1024, image_resolution: 224, vision_layers: [3, 4, 6, 3], vision_width: 64,
    vision_patch_size: null, context_length: 77, vocab_size: 49408, transformer_width: 512,
    transformer_heads: 8, transformer_layers: 12,
  },
  'ViT-B/32': {
    embed_dim: 512, image_resolution: 224, vision_layers: 12, vision_width: 768,
    vision_patch_size: 32, context_length: 77, vocab_size: 49408, transformer_width: 512,
    transformer_heads: 8, transformer_layers: 12,
  },
};

const CONFIG_KEYS = ['embed_dim', 'image_resolution', 'vision_layers', 'vision_width', 'vision_patch_size',
  'context_length', 'vocab_size', 'transformer_width', 'transformer_heads', 'transformer_layers'];

export function architecture(name) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const golden = process.env.CLIPDB_GOLDEN || path.join(here, '..', '..', 'shared', 'golden');
  const file = path.join(golden, 'architectures.json');
  if (existsSync(file)) {
    const all = JSON.parse(readFileSync(file, 'utf8')).models;
    if (all[name]) return Object.fromEntries(CONFIG_KEYS.map((k) => [k, all[name][k]]));
  }
  if (EMBEDDED[name]) return { ...EMBEDDED[name] };
  throw new Error(`unknown architecture ${name} (known: ${Object.keys(EMBEDDED).join(', ')})`);
}

/** The state dict's (name, shape, init) list, as clip/model.py CLIP(**config) has it. */
export function tensorList(c) {
  const t = [];
  const add = (name, shape, init) => t.push({ name, shape, init });
  const lin = (p, out, inp, bias = true) => {
    add(`${p}.weight`, [out, inp], { kind: 'uniform', fanIn: inp });
    if (bias) add(`${p}.bias`, [out], { kind: 'normal', std: 0.02 });
  };
  const ln = (p, w) => {
    add(`${p}.weight`, [w], { kind: 'one_plus', std: 0.1 });
    add(`${p}.bias`, [w], { kind: 'normal', std: 0.02 });
  };
  const block = (p, w) => {
    add(`${p}.attn.in_proj_weight`, [3 * w, w], { kind: 'uniform', fanIn: w });
    add(`${p}.attn.in_proj_bias`, [3 * w], { kind: 'normal', std: 0.02 });
    lin(`${p}.attn.out_proj`, w, w);
    ln(`${p}.ln_1`, w);
    lin(`${p}.mlp.c_fc`, 4 * w, w);
    lin(`${p}.mlp.c_proj`, w, 4 * w);
    ln(`${p}.ln_2`, w);
  };
  const conv = (p, out, inp, k) => add(`${p}.weight`, [out, inp, k, k], { kind: 'he', fanIn: inp * k * k });
  const bn = (p, ch) => {
    add(`${p}.weight`, [ch], { kind: 'one_plus', std: 0.1 });
    add(`${p}.bias`, [ch], { kind: 'normal', std: 0.02 });
    add(`${p}.running_mean`, [ch], { kind: 'normal', std: 0.1 });
    add(`${p}.running_var`, [ch], { kind: 'range', lo: 0.5, hi: 1.5 });
  };
  const W = c.transformer_width, E = c.embed_dim;
  if (Array.isArray(c.vision_layers)) {
    const w = c.vision_width, R = c.image_resolution;
    conv('visual.conv1', w / 2, 3, 3); bn('visual.bn1', w / 2);
    conv('visual.conv2', w / 2, w / 2, 3); bn('visual.bn2', w / 2);
    conv('visual.conv3', w, w / 2, 3); bn('visual.bn3', w);
    let inplanes = w;
    c.vision_layers.forEach((blocks, s) => {
      const planes = w << s;
      for (let j = 0; j < blocks; j++) {
        const p = `visual.layer${s + 1}.${j}`;
        conv(`${p}.conv1`, planes, inplanes, 1); bn(`${p}.bn1`, planes);
        conv(`${p}.conv2`, planes, planes, 3); bn(`${p}.bn2`, planes);
        conv(`${p}.conv3`, planes * 4, planes, 1); bn(`${p}.bn3`, planes * 4);
        if (j === 0 && (s > 0 || inplanes !== planes * 4)) {
          conv(`${p}.downsample.0`, planes * 4, inplanes, 1); bn(`${p}.downsample.1`, planes * 4);
        }
        inplanes = planes * 4;
      }
    });
    const C = w * 32, S = R / 32;
    add('visual.attnpool.positional_embedding', [S * S + 1, C], { kind: 'normal', std: 1 / Math.sqrt(C) });
    for (const q of ['q', 'k', 'v']) lin(`visual.attnpool.${q}_proj`, C, C);
    lin('visual.attnpool.c_proj', E, C);
  } else {
    const w = c.vision_width, P = c.vision_patch_size, G = c.image_resolution / P;
    add('visual.conv1.weight', [w, 3, P, P], { kind: 'uniform', fanIn: 3 * P * P });
    add('visual.class_embedding', [w], { kind: 'normal', std: 1 / Math.sqrt(w) });
    add('visual.positional_embedding', [G * G + 1, w], { kind: 'normal', std: 1 / Math.sqrt(w) });
    ln('visual.ln_pre', w);
    for (let i = 0; i < c.vision_layers; i++) block(`visual.transformer.resblocks.${i}`, w);
    ln('visual.ln_post', w);
    add('visual.proj', [w, E], { kind: 'normal', std: 1 / Math.sqrt(w) });
  }
  add('token_embedding.weight', [c.vocab_size, W], { kind: 'normal', std: 0.02 });
  add('positional_embedding', [c.context_length, W], { kind: 'normal', std: 0.01 });
  for (let i = 0; i < c.transformer_layers; i++) block(`transformer.resblocks.${i}`, W);
  ln('ln_final', W);
  add('text_projection', [W, E], { kind: 'normal', std: 1 / Math.sqrt(W) });
  add('logit_scale', [], { kind: 'const', value: Math.log(1 / 0.07) });
  return t.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

// mulberry32: a small seeded PRNG (uniform in [0, 1)); Box-Muller for normals.
function prng(seed) {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let spare = null;
  const normal = () => {
    if (spare !== null) { const s = spare; spare = null; return s; }
    const u = uniform() || 1e-12, v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
  return { uniform, normal };
}

const f32buf = new Float32Array(1), u32buf = new Uint32Array(f32buf.buffer);
function toF16(x) {
  f32buf[0] = x;
  const u = u32buf[0], sign = (u >>> 16) & 0x8000, abs = u & 0x7fffffff;
  if (abs >= 0x477ff000) return sign | 0x7c00; // overflow to inf (weights never get there)
  if (abs < 0x38800000) return sign | Math.round(f32buf[0] < 0 ? -f32buf[0] * 16777216 : f32buf[0] * 16777216);
  const mant = abs & 0x7fffff, exp = (abs >>> 23) - 112;
  let h = (exp << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++;
  return sign | h;
}
function toBF16(x) {
  f32buf[0] = x;
  const u = u32buf[0];
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The whole safetensors file for architecture `arch` ('RN50', 'ViT-B/32', ...). */
export function generateModel(arch, { dtype = 'F16', seed = 1, towers = 'both' } = {}) {
  const config = architecture(arch);
  if (!['both', 'text'].includes(towers)) throw new Error(`towers ${towers}: use both or text`);
  const all = tensorList(config);
  const tensors = towers === 'text' ? all.filter((t) => !t.name.startsWith('visual.')) : all;
  // the text-only file must draw the same values: it stops where the visual.* tensors begin
  if (towers === 'text' && all.slice(0, tensors.length).some((t, i) => t !== tensors[i])) throw new Error('tensor order: a visual.* name sorts before a text one');
  const esize = dtype === 'F32' ? 4 : 2;
  if (!['F32', 'F16', 'BF16'].includes(dtype)) throw new Error(`dtype ${dtype}: use F32, F16 or BF16`);
  const header = {
    __metadata__: {
      format: 'pt',
      naming: 'openai-clip state_dict',
      clip_config: JSON.stringify(Object.fromEntries(CONFIG_KEYS.map((k) => [k, config[k]]))),
      note: `random weights (seed ${seed}), architecture ${arch}${towers === 'text' ? ', text tower only' : ''}; not a trained model`,
      generator: 'clipdb scripts/gen-random-model.mjs',
    },
  };
  let offset = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + n * esize] };
    t.numel = n;
    offset += n * esize;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8); // data section 8-byte aligned
  const hbytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hbytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(hbytes.length), true);
  out.set(hbytes, 8);
  const rng = prng(seed);
  let pos = 8 + hbytes.length;
  for (const t of tensors) {
    const { init } = t;
    for (let i = 0; i < t.numel; i++) {
      let v;
      switch (init.kind) {
        case 'uniform': { const a = Math.sqrt(3 / init.fanIn); v = (2 * rng.uniform() - 1) * a; break; }
        case 'he': v = rng.normal() * Math.sqrt(2 / init.fanIn); break;
        case 'normal': v = rng.normal() * init.std; break;
        case 'one_plus': v = 1 + rng.normal() * init.std; break;
        case 'range': v = init.lo + (init.hi - init.lo) * rng.uniform(); break;
        default: v = init.value;
      }
      if (dtype === 'F32') view.setFloat32(pos, v, true);
      else view.setUint16(pos, dtype === 'F16' ? toF16(v) : toBF16(v), true);
      pos += esize;
    }
  }
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = { dtype: 'F16', seed: 1, towers: 'both' };
  const pos = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--dtype') opt.dtype = args[++i];
    else if (args[i] === '--seed') opt.seed = Number(args[++i]);
    else if (args[i] === '--towers') opt.towers = args[++i];
    else pos.push(args[i]);
  }
  if (pos.length !== 2) {
    process.stderr.write('usage: node scripts/gen-random-model.mjs ARCH OUT.safetensors [--dtype F16|F32|BF16] [--seed N] [--towers both|text]\n');
    process.exit(2);
  }
  const bytes = generateModel(pos[0], opt);
  writeFileSync(pos[1], bytes);
  process.stderr.write(`${pos[1]}: ${pos[0]}, ${opt.dtype}, seed ${opt.seed}, towers ${opt.towers}, ${bytes.length} bytes\n`);
}
