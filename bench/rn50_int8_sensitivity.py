"""How much of RN50's int8 error comes from which weights: weight-only int8 rounding, one group of
layers at a time, measured as the cosine of the image embedding to float32.

clipdb's int8 format keeps each convolution and linear weight as int8 with one float scale per
output channel (symmetric, max |w| / 127); this script rounds the float weights of the chosen
layers to that grid (and back to float32) in our PyTorch modules of the official architecture
(clip_onnx.py) and leaves everything else, activations included, in float32. A group whose
rounding alone costs much cosine cannot reach a given accuracy with per-channel int8 weights,
whatever the activations do. The f16 row rounds every weight to float16 instead, for scale.

  /usr/bin/python3 bench/rn50_int8_sensitivity.py [--weights bench/work/rn50.safetensors]
                                                   [--pixels FILE] [--model RN50]

--pixels: float32 [3, R, R] normalised pixels (default: the bench's noise input, the same
generator as benchPixels in bench/worker.mjs). Needs Debian's python3-torch (bench/run installs
it) and ../shared/golden/architectures.json, as clip_onnx.py does.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_onnx import ARCH, CLIP, read_safetensors  # noqa: E402


def bench_pixels(resolution):
    """bench/worker.mjs benchPixels: an LCG mod 2^32 mapped to [-2, 2)."""
    n = 3 * resolution * resolution
    out = np.empty(n, np.float32)
    s = 1234567
    for i in range(n):
        s = (s * 1103515245 + 12345) & 0xFFFFFFFF
        out[i] = s / 2 ** 32 * 4 - 2
    return torch.from_numpy(out.reshape(1, 3, resolution, resolution))


def int8_round(w):
    """Symmetric per-output-channel int8 rounding (clipdb's quantizer: scale max|w| / 127,
    round half to even, clamp to +-127), returned as float32."""
    flat = w.reshape(w.shape[0], -1)
    scale = flat.abs().amax(dim=1, keepdim=True) / 127
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return (torch.round(flat / scale).clamp(-127, 127) * scale).reshape(w.shape)


def quantizable(name, t):
    """The weights clipdb's int8 RN50 stores as int8: every convolution and the attention
    pool's projections."""
    return name.startswith('visual.') and name.endswith('.weight') and (
        t.dim() == 4 or (t.dim() == 2 and 'attnpool' in name))


GROUPS = [
    ('every int8 weight', lambda n, t: True),
    ('stem (conv1-3)', lambda n, t: n.startswith('visual.conv')),
    ('layer1', lambda n, t: '.layer1.' in n),
    ('layer2', lambda n, t: '.layer2.' in n),
    ('layer3', lambda n, t: '.layer3.' in n),
    ('layer4', lambda n, t: '.layer4.' in n),
    ('attention pool', lambda n, t: 'attnpool' in n),
    ('every 1x1 convolution', lambda n, t: t.dim() == 4 and t.shape[-1] == 1),
    ('every 3x3 convolution', lambda n, t: t.dim() == 4 and t.shape[-1] == 3),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='RN50')
    ap.add_argument('--weights', default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      'work', 'rn50.safetensors'))
    ap.add_argument('--pixels', help='float32 [3, R, R] file (default: the bench noise input)')
    args = ap.parse_args()
    cfg = json.load(open(ARCH))['models'][args.model]
    clip = CLIP(cfg).eval()
    sd = read_safetensors(args.weights)
    missing, unexpected = clip.load_state_dict(sd, strict=False)
    if [k for k in missing if not k.endswith('num_batches_tracked')] or unexpected:
        raise SystemExit('state dict mismatch: %s %s' % (missing[:5], unexpected[:5]))
    r = cfg['image_resolution']
    if args.pixels:
        px = torch.from_numpy(np.fromfile(args.pixels, np.float32).reshape(1, 3, r, r))
    else:
        px = bench_pixels(r)
    original = {k: v.clone() for k, v in clip.state_dict().items()}

    def embed():
        with torch.no_grad():
            return clip.visual(px)[0].double()

    ref = embed()

    def cosine(e):
        return float(torch.dot(ref, e) / (ref.norm() * e.norm()))

    rows = []
    with torch.no_grad():
        for label, pick in GROUPS:
            changed = 0
            for name, t in clip.state_dict().items():
                if quantizable(name, t) and pick(name, t):
                    t.copy_(int8_round(original[name]))
                    changed += 1
            rows.append((label, changed, cosine(embed())))
            clip.load_state_dict(original)
        for name, t in clip.state_dict().items():
            if name.startswith('visual.') and t.is_floating_point():
                t.copy_(original[name].half().float())
        rows.append(('every weight as float16', 0, cosine(embed())))
        clip.load_state_dict(original)
    print('%s, %s, input %s' % (args.model, os.path.basename(args.weights),
                                args.pixels or 'the bench noise input'))
    print('%-28s %8s  %s' % ('rounded (weights only)', 'tensors', 'cosine to float32'))
    for label, changed, c in rows:
        print('%-28s %8s  %.6f' % (label, changed or '-', c))


if __name__ == '__main__':
    main()
