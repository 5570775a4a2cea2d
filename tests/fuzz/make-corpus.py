#!/usr/bin/python3
"""Write the fuzz targets' seed corpora into tests/fuzz/corpus/<target>/ (small files, kept in
git; re-run only to change the seeds). Needs python3-pil and python3-numpy."""
import gzip, io, json, os, struct
import numpy as np
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
C = os.path.join(ROOT, 'tests', 'fuzz', 'corpus')
rng = np.random.default_rng(7)


def out(target, name, data):
    os.makedirs(os.path.join(C, target), exist_ok=True)
    with open(os.path.join(C, target, name), 'wb') as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def repo(path):
    with open(os.path.join(ROOT, path), 'rb') as f:
        return f.read()


# ---- images: every decoder stb_image has, EXIF orientations, a truncated PNG
def image(img, name, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    out('image', name, b.getvalue())
    return b.getvalue()


rgb = Image.fromarray(rng.integers(0, 255, (9, 13, 3), dtype=np.uint8))
png = image(rgb, 'rgb-13x9.png', 'PNG')
image(rgb.convert('RGBA'), 'rgba-13x9.png', 'PNG')
image(rgb.convert('L'), 'gray-13x9.png', 'PNG')
image(rgb.convert('P'), 'palette-13x9.png', 'PNG')
image(rgb.convert('1'), 'bilevel-13x9.png', 'PNG')
image(rgb, 'rgb-13x9.jpg', 'JPEG', quality=80)
image(rgb, 'rgb-13x9-progressive.jpg', 'JPEG', quality=70, progressive=True)
image(rgb.convert('L'), 'gray-13x9.jpg', 'JPEG')
image(rgb, 'rgb-13x9.bmp', 'BMP')
image(rgb, 'rgb-13x9.gif', 'GIF')
image(rgb, 'rgb-13x9.tga', 'TGA')
image(rgb, 'rgb-13x9.ppm', 'PPM')
image(Image.fromarray(rng.integers(0, 65535, (5, 7)).astype(np.uint16)), 'gray16-7x5.png', 'PNG')
out('image', 'truncated.png', png[:len(png) // 2])
for f in sorted(os.listdir(os.path.join(ROOT, 'tests', 'data', 'exif'))):
    out('image', 'exif-' + f, repo(os.path.join('tests', 'data', 'exif', f)))


# ---- safetensors: tiny models of both dialects, F16/BF16, metadata, a truncated file
def safetensors(tensors, meta=None):
    header, data = {}, b''
    if meta:
        header['__metadata__'] = meta
    for name, (dtype, shape, arr) in tensors.items():
        b = arr.tobytes()
        header[name] = {'dtype': dtype, 'shape': shape, 'data_offsets': [len(data), len(data) + len(b)]}
        data += b
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    return struct.pack('<Q', len(h)) + h + data


def f32(*shape):
    return ('F32', list(shape), (rng.standard_normal(shape) * 0.1).astype(np.float32))


W, L, V = 8, 4, 16


def block(prefix):
    return {
        prefix + 'ln_1.weight': f32(W), prefix + 'ln_1.bias': f32(W),
        prefix + 'attn.in_proj_weight': f32(3 * W, W), prefix + 'attn.in_proj_bias': f32(3 * W),
        prefix + 'attn.out_proj.weight': f32(W, W), prefix + 'attn.out_proj.bias': f32(W),
        prefix + 'ln_2.weight': f32(W), prefix + 'ln_2.bias': f32(W),
        prefix + 'mlp.c_fc.weight': f32(4 * W, W), prefix + 'mlp.c_fc.bias': f32(4 * W),
        prefix + 'mlp.c_proj.weight': f32(W, 4 * W), prefix + 'mlp.c_proj.bias': f32(W),
    }


text = {'token_embedding.weight': f32(V, W), 'positional_embedding': f32(L, W),
        **block('transformer.resblocks.0.'),
        'ln_final.weight': f32(W), 'ln_final.bias': f32(W), 'text_projection': f32(W, 4),
        'logit_scale': ('F32', [], np.array(2.65, dtype=np.float32))}
cfg = {'embed_dim': 4, 'context_length': L, 'vocab_size': V, 'transformer_width': W,
       'transformer_heads': 2, 'transformer_layers': 1}
out('safetensors', 'openai-text.safetensors', safetensors(text, {'clip_config': json.dumps(cfg)}))
out('safetensors', 'openai-text-noconfig.safetensors', safetensors(text))
out('safetensors', 'openai-text-f16.safetensors', safetensors(
    {k: ('F16', v[1], v[2].astype(np.float16)) if v[1] else v for k, v in text.items()},
    {'clip_config': json.dumps(cfg)}))
out('safetensors', 'openai-text-bf16.safetensors', safetensors(
    {k: ('BF16', v[1], (v[2].view(np.uint32) >> 16).astype(np.uint16)) if v[1] else v
     for k, v in text.items()}))
P, R = 4, 8
vit = {'visual.conv1.weight': f32(W, 3, P, P), 'visual.class_embedding': f32(W),
       'visual.positional_embedding': f32((R // P) ** 2 + 1, W),
       'visual.ln_pre.weight': f32(W), 'visual.ln_pre.bias': f32(W),
       'visual.ln_post.weight': f32(W), 'visual.ln_post.bias': f32(W), 'visual.proj': f32(W, 4),
       **block('visual.transformer.resblocks.0.')}
vcfg = dict(cfg, image_resolution=R, vision_layers=1, vision_width=W, vision_patch_size=P, vision_heads=2)
out('safetensors', 'openai-vit.safetensors', safetensors({**text, **vit}, {'clip_config': json.dumps(vcfg)}))
hf = {'text_model.embeddings.token_embedding.weight': f32(V, W),
      'text_model.embeddings.position_embedding.weight': f32(L, W),
      'text_model.final_layer_norm.weight': f32(W), 'text_model.final_layer_norm.bias': f32(W),
      'text_projection.weight': f32(4, W)}
lay = 'text_model.encoder.layers.0.'
for n in ('q', 'k', 'v', 'out'):
    hf[lay + f'self_attn.{n}_proj.weight'] = f32(W, W)
    hf[lay + f'self_attn.{n}_proj.bias'] = f32(W)
for n in ('layer_norm1', 'layer_norm2'):
    hf[lay + n + '.weight'] = f32(W)
    hf[lay + n + '.bias'] = f32(W)
hf.update({lay + 'mlp.fc1.weight': f32(4 * W, W), lay + 'mlp.fc1.bias': f32(4 * W),
           lay + 'mlp.fc2.weight': f32(W, 4 * W), lay + 'mlp.fc2.bias': f32(W)})
out('safetensors', 'hf-text.safetensors', safetensors(hf))
out('safetensors', 'header-only.safetensors', safetensors({}, {'clip_config': '{}'}))
whole = safetensors(text)
out('safetensors', 'truncated.safetensors', whole[:len(whole) - 100])

# ---- config.json (Hugging Face CLIPConfig)
tc = {'hidden_size': 8, 'num_attention_heads': 2, 'num_hidden_layers': 1, 'max_position_embeddings': 4,
      'vocab_size': 16, 'hidden_act': 'quick_gelu', 'layer_norm_eps': 1e-5}
vc = {'hidden_size': 8, 'num_attention_heads': 2, 'num_hidden_layers': 1, 'image_size': 8,
      'patch_size': 4, 'hidden_act': 'quick_gelu'}
out('config', 'full.json', json.dumps({'projection_dim': 4, 'logit_scale_init_value': 2.6592,
                                       'text_config': tc, 'vision_config': vc}, indent=2))
out('config', 'text-only.json', json.dumps({'projection_dim': 4, 'text_config': tc}))
out('config', 'gelu.json', json.dumps({'text_config': {'hidden_act': 'gelu'}}))
out('config', 'mixed.json', '{"architectures":["CLIPModel"],"name":"a\\u00e9\\"b","text_config":'
    '{"hidden_size":8.0,"vocab_size":null,"layer_norm_eps":1e-05,"x":[1,[2,{"y":true}],false]}}')
out('config', 'empty-object.json', '{}')

# ---- vocabularies: first byte 0 = vocab.txt.gz, 1 = vocab.txt, 2 = vocab.json NUL merges.txt
out('vocab', 'shapes-gz', b'\x00' + repo('models/clipdb-shapes/vocab.txt.gz'))
out('vocab', 'members-gz', b'\x00' + repo('tests/data/gzip/vocab-members.txt.gz'))
out('vocab', 'flags-gz', b'\x00' + repo('tests/data/gzip/vocab-flags.txt.gz'))
out('vocab', 'shapes-text', b'\x01' + gzip.decompress(repo('models/clipdb-shapes/vocab.txt.gz')))
byte_chars = list(range(ord('!'), ord('~') + 1)) + list(range(0xa1, 0xad)) + list(range(0xae, 0x100))
extra = [b for b in range(256) if b not in byte_chars]
chars = [chr(c) for c in byte_chars] + [chr(256 + i) for i in range(len(extra))]
vocab = {c: i for i, c in enumerate(chars)}
vocab.update({c + '</w>': len(chars) + i for i, c in enumerate(chars)})
merges = ['a t', 'o f</w>', 'c at</w>']
for m in merges:
    vocab[m.replace(' ', '')] = len(vocab)
vocab['<|startoftext|>'] = len(vocab)
vocab['<|endoftext|>'] = len(vocab)
out('vocab', 'hf-pair', b'\x02' + json.dumps(vocab).encode() + b'\x00' +
    ('#version: 0.2\n' + '\n'.join(merges) + '\n').encode())

# ---- texts for the tokenizer
texts = ['a photo of a cat', '', '   \t\n ', 'A Photo OF Two DOGS!!! 123,456',
         '&amp; &lt;b&gt;bold&lt;/b&gt; &#x263A; &#9731;',
         'naïve café — “quotes” 日本語のテキスト 😀👍🏽', "l'homme doesn't I'll we're they've she's",
         'x' * 300, ' '.join(['word'] * 90), 'emoji 🐱🐶 and ZWJ 👩‍👩‍👧', 'ÅΩ ß ﬁ İstanbul ǅ',
         '<|startoftext|> <|endoftext|>']
for i, t in enumerate(texts):
    out('tokenize', f'text-{i:02d}.txt', t)
out('tokenize', 'invalid-utf8.bin', b'ab\xff\xfe\xc3(\xe2\x82 \xf0\x9f\x98 end\x00mid')
