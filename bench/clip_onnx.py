#!/usr/bin/python3
"""Export CLIP encoders to ONNX for the peer runtimes in bench/ (onnxruntime-web/-node).

The modules below follow the official architecture (openai/CLIP clip/model.py: VisionTransformer,
ModifiedResNet with AttentionPool2d, the causal text Transformer, QuickGELU) with the same
parameter names as an OpenAI state dict, so they load the very safetensors file clipdb loads.
Written for this bench; the attention is spelled out as matmuls so the exported graph is plain.

  clip_onnx.py --model ViT-B/32 --random OUT.safetensors   write random weights (OpenAI names)
  clip_onnx.py --model ViT-B/32 --weights W.safetensors --image OUT.onnx --text OUT.onnx \
               --text-positions 77
Requires Debian's python3-torch (/usr/bin/python3); no onnx package needed.
"""
import argparse
import json
import math
import os
import struct
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
ARCH = os.path.join(HERE, '..', '..', 'shared', 'golden', 'architectures.json')


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class SelfAttention(nn.Module):
    """nn.MultiheadAttention's parameters (in_proj_weight/bias, out_proj), batch-first maths."""

    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x, mask=None):  # x [B, L, W]
        b, l, w = x.shape
        d = w // self.heads
        qkv = torch.nn.functional.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.split(w, dim=-1)
        q = q.reshape(b, l, self.heads, d).transpose(1, 2) * (d ** -0.5)
        k = k.reshape(b, l, self.heads, d).transpose(1, 2)
        v = v.reshape(b, l, self.heads, d).transpose(1, 2)
        s = q @ k.transpose(-1, -2)
        if mask is not None:
            s = s + mask
        o = torch.softmax(s, dim=-1) @ v
        return self.out_proj(o.transpose(1, 2).reshape(b, l, w))


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.attn = SelfAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([
            ('c_fc', nn.Linear(width, 4 * width)), ('gelu', QuickGELU()),
            ('c_proj', nn.Linear(4 * width, width))]))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x, mask=None):
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads):
        super().__init__()
        self.resblocks = nn.ModuleList([Block(width, heads) for _ in range(layers)])

    def forward(self, x, mask=None):
        for blk in self.resblocks:
            x = blk(x, mask)
        return x


class VisionTransformer(nn.Module):
    def __init__(self, resolution, patch, width, layers, heads, out_dim):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch, stride=patch, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn((resolution // patch) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, out_dim))

    def forward(self, x):  # [B, 3, R, R]
        x = self.conv1(x)
        x = x.flatten(2).transpose(1, 2)  # [B, grid², W]
        cls = self.class_embedding.reshape(1, 1, -1).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.transformer(self.ln_pre(x))
        return self.ln_post(x[:, 0, :]) @ self.proj


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if stride > 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(OrderedDict([
                ('-1', nn.AvgPool2d(stride)),
                ('0', nn.Conv2d(inplanes, planes * 4, 1, stride=1, bias=False)),
                ('1', nn.BatchNorm2d(planes * 4))]))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(self.avgpool(out)))
        identity = x if self.downsample is None else self.downsample(x)
        return torch.relu(out + identity)


class AttentionPool2d(nn.Module):
    def __init__(self, spacial_dim, embed_dim, heads, out_dim):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.randn(spacial_dim ** 2 + 1, embed_dim) / embed_dim ** 0.5)
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.c_proj = nn.Linear(embed_dim, out_dim)
        self.heads = heads

    def forward(self, x):  # [B, C, H, W]
        x = x.flatten(2).transpose(1, 2)  # [B, HW, C]
        x = torch.cat([x.mean(dim=1, keepdim=True), x], dim=1) + self.positional_embedding
        b, l, c = x.shape
        d = c // self.heads
        q = self.q_proj(x[:, :1]).reshape(b, 1, self.heads, d).transpose(1, 2) * (d ** -0.5)
        k = self.k_proj(x).reshape(b, l, self.heads, d).transpose(1, 2)
        v = self.v_proj(x).reshape(b, l, self.heads, d).transpose(1, 2)
        o = torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v  # [B, H, 1, d]
        return self.c_proj(o.transpose(1, 2).reshape(b, c))


class ModifiedResNet(nn.Module):
    def __init__(self, layers, out_dim, heads, resolution, width):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width // 2, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width // 2)
        self.conv2 = nn.Conv2d(width // 2, width // 2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width // 2)
        self.conv3 = nn.Conv2d(width // 2, width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.avgpool = nn.AvgPool2d(2)
        self._inplanes = width
        self.layer1 = self._make_layer(width, layers[0])
        self.layer2 = self._make_layer(width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(width * 8, layers[3], stride=2)
        self.attnpool = AttentionPool2d(resolution // 32, width * 32, heads, out_dim)

    def _make_layer(self, planes, blocks, stride=1):
        layers = [Bottleneck(self._inplanes, planes, stride)]
        self._inplanes = planes * 4
        layers += [Bottleneck(self._inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        x = torch.relu(self.bn3(self.conv3(x)))
        x = self.avgpool(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.attnpool(x)


class CLIP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        vl = cfg['vision_layers']
        if isinstance(vl, (list, tuple)):
            self.visual = ModifiedResNet(vl, cfg['embed_dim'], cfg['vision_width'] * 32 // 64,
                                         cfg['image_resolution'], cfg['vision_width'])
        else:
            self.visual = VisionTransformer(cfg['image_resolution'], cfg['vision_patch_size'],
                                            cfg['vision_width'], vl, cfg['vision_width'] // 64,
                                            cfg['embed_dim'])
        w = cfg['transformer_width']
        self.transformer = Transformer(w, cfg['transformer_layers'], cfg['transformer_heads'])
        self.token_embedding = nn.Embedding(cfg['vocab_size'], w)
        self.positional_embedding = nn.Parameter(0.01 * torch.randn(cfg['context_length'], w))
        self.ln_final = nn.LayerNorm(w)
        self.text_projection = nn.Parameter(w ** -0.5 * torch.randn(w, cfg['embed_dim']))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        nn.init.normal_(self.token_embedding.weight, std=0.02)


class ImageEncoder(nn.Module):
    def __init__(self, clip):
        super().__init__()
        self.visual = clip.visual

    def forward(self, pixels):
        return self.visual(pixels)


class TextEncoder(nn.Module):
    """encode_text for a fixed number of positions L (tokens [1, L] int64)."""

    def __init__(self, clip, positions):
        super().__init__()
        self.clip = clip
        mask = torch.full((positions, positions), float('-inf')).triu_(1)
        self.register_buffer('mask', mask)
        self.positions = positions

    def forward(self, tokens):
        c = self.clip
        x = c.token_embedding(tokens) + c.positional_embedding[: self.positions]
        x = c.ln_final(c.transformer(x, self.mask))
        eot = tokens.argmax(dim=-1)
        return x[torch.arange(x.shape[0]), eot] @ c.text_projection


def randomize(model, seed):
    """Random weights with sane scales; BatchNorm running statistics non-trivial."""
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            # He init, as the golden tiny-rn does: with PyTorch's default conv init a deep
            # ResNet's embedding barely depends on the input, which would make the check weak.
            with torch.no_grad():
                fan_in = m.weight[0].numel()
                m.weight.normal_(0, math.sqrt(2.0 / fan_in))
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    calibrate_batch_norms(model, seed)


def calibrate_batch_norms(model, seed, images=8):
    """Running statistics of every BatchNorm set to those of its input over a few smooth random
    images, as a trained network's are (they are the statistics of its data). With arbitrary
    statistics a random ResNet does not normalise: activations grow block after block (to
    thousands at the end of RN50), the attention pool's softmax saturates to one position, and
    the embedding jumps when any weight moves by a rounding step (even float16 weights gave
    cosine 0.987 to float32). Calibrated, the network is a smooth function of its weights like a
    trained one, so a comparison of precisions measures rounding, not that jump."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    if not bns:
        return
    g = torch.Generator().manual_seed(seed + 1)
    r = model.visual.attnpool.positional_embedding.shape[0]
    side = int(round((r - 1) ** 0.5)) * 32
    # low-frequency noise (8x8 upsampled), in the range of CLIP-normalised pixels
    x = torch.nn.functional.interpolate(torch.randn(images, 3, 8, 8, generator=g), size=(side, side),
                                        mode='bilinear', align_corners=False) * 1.5
    saved = [(m.momentum, m.training) for m in bns]
    with torch.no_grad():
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # a plain average over the calibration batch
        model.visual.train()
        model.visual(x)
        model.visual.eval()
        for m, (momentum, _) in zip(bns, saved):
            m.momentum = momentum


def write_safetensors(path, tensors, metadata):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32))
        header[name] = {'dtype': 'F32', 'shape': list(a.shape), 'data_offsets': [off, off + a.nbytes]}
        blobs.append(a)
        off += a.nbytes
    header['__metadata__'] = metadata
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for a in blobs:
            f.write(a.tobytes())


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {'F32': np.float32, 'F16': np.float16, 'I64': np.int64, 'I32': np.int32}
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        if info['dtype'] == 'BF16':
            raw = np.frombuffer(data[info['data_offsets'][0]:info['data_offsets'][1]], np.uint16)
            a = (raw.astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(data[info['data_offsets'][0]:info['data_offsets'][1]], dtypes[info['dtype']])
        out[name] = torch.from_numpy(a.reshape(info['shape']).astype(np.int64 if info['dtype'][0] == 'I' else np.float32))
    return out


def check_golden(name):
    """Our modules on the golden tiny model vs the official reference embeddings."""
    d = os.path.join(HERE, '..', '..', 'shared', 'golden', name)
    cfg = json.load(open(os.path.join(d, 'manifest.json')))['model']['config']
    clip = CLIP(cfg).eval()
    sd = read_safetensors(os.path.join(d, 'model.safetensors'))
    missing, unexpected = clip.load_state_dict(sd, strict=False)
    assert not [k for k in missing if not k.endswith('num_batches_tracked')] and not unexpected, (missing, unexpected)
    ref = read_safetensors(os.path.join(d, 'reference.safetensors'))
    worst = 0.0
    with torch.no_grad():
        for key in [k for k in ref if k.startswith('image/') and k.endswith('/pixels')][:3]:
            got = clip.visual(ref[key][None])[0]
            want = ref[key.replace('/pixels', '/embedding')]
            worst = max(worst, float((got - want).abs().max() / want.abs().max()))
        for key in [k for k in ref if k.startswith('text/') and k.endswith('/tokens')][:3]:
            t = ref[key].long()[None]
            got = TextEncoder(clip, t.shape[1])(t)[0]
            want = ref[key.replace('/tokens', '/embedding')]
            worst = max(worst, float((got - want).abs().max() / want.abs().max()))
    print('%s: max |diff| / max |ref| = %.2e' % (name, worst))
    if worst > 1e-4:
        raise SystemExit('bench model code does not match the official reference')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', help='architectures.json key: ViT-B/32, RN50, ...')
    ap.add_argument('--random', help='write random weights to this safetensors file')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--weights', help='load this safetensors (OpenAI names)')
    ap.add_argument('--image', help='export the image encoder to this .onnx')
    ap.add_argument('--text', action='append', default=[], help='POSITIONS:OUT.onnx (text encoder)')
    ap.add_argument('--text-batch', action='append', default=[],
                    help='POSITIONS:OUT.onnx (text encoder with a dynamic batch dimension)')
    ap.add_argument('--golden', help='check these modules against ../shared/golden/<NAME> (tiny-vit, tiny-rn)')
    args = ap.parse_args()
    if args.golden:
        return check_golden(args.golden)
    cfg = json.load(open(ARCH))['models'][args.model]
    torch.manual_seed(args.seed)
    clip = CLIP(cfg).eval()
    if args.random:
        randomize(clip, args.seed)
        sd = OrderedDict((k, v) for k, v in clip.state_dict().items() if not k.endswith('num_batches_tracked'))
        meta = {'format': 'pt', 'clipdb_bench': 'random weights, %s architecture, seed %d' % (args.model, args.seed)}
        write_safetensors(args.random, sd, meta)
    if args.weights:
        sd = read_safetensors(args.weights)
        missing, unexpected = clip.load_state_dict(sd, strict=False)
        missing = [k for k in missing if not k.endswith('num_batches_tracked')]
        if missing or unexpected:
            raise SystemExit('state dict mismatch: missing %s unexpected %s' % (missing[:5], unexpected[:5]))
    r = cfg['image_resolution']
    with torch.no_grad():
        if args.image:
            torch.onnx.export(ImageEncoder(clip), torch.zeros(1, 3, r, r), args.image, opset_version=17,
                              input_names=['pixels'], output_names=['embedding'], do_constant_folding=True)
        for spec, batch in [(s, False) for s in args.text] + [(s, True) for s in args.text_batch]:
            positions, path = spec.split(':', 1)
            tokens = torch.zeros(2 if batch else 1, int(positions), dtype=torch.int64)
            tokens[:, 0], tokens[:, -1] = cfg['vocab_size'] - 2, cfg['vocab_size'] - 1
            axes = {'tokens': {0: 'batch'}, 'embedding': {0: 'batch'}} if batch else None
            torch.onnx.export(TextEncoder(clip, int(positions)), tokens, path, opset_version=17,
                              input_names=['tokens'], output_names=['embedding'], do_constant_folding=True,
                              dynamic_axes=axes)


if __name__ == '__main__':
    main()
