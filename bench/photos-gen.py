#!/usr/bin/python3
"""Photo-sized test images for bench/photos.mjs: JPEGs of 4000x3000 (12 MP), each 3-4 MB.

Each one shows a single large shape of the "shapes" world (scripts/shapes.py draws it, so the
shipped model clipdb-shapes has something to find) on a background textured at several scales,
with sensor-like grain over everything: enough detail that JPEG quality 90 lands at 3-4 MB, as
a 12-MP camera photo does. Colours and shapes cycle, so every (colour, shape) pair appears once
per 80 photos; the file name says what the photo shows (photo-0007-black-circle.jpg).

Seeded per photo (photo i depends only on --seed and i), so a folder can grow: files already
there with a size in range are kept. A photo outside 3-4 MB is encoded again with the grain
scaled. Two worker processes by default (--jobs).

    photos-gen.py --out DIR --seed S --count N [--jobs J]

Writes DIR/manifest.json ({seed, width, height, photos: [{file, colour, shape, bytes}]}) last,
so a folder with a manifest of N photos is complete.
"""
import argparse
import json
import multiprocessing
import os
import random
import sys

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts'))
import shapes  # noqa: E402

W, H = 4000, 3000
LO, HI = 3_000_000, 4_000_000  # bytes
TILE = 1024  # the grain is a tile of this side, shifted per photo (JPEG codes 8x8 blocks alone)


def name_of(i):
    colour = shapes.COLOUR_NAMES[i % len(shapes.COLOUR_NAMES)]
    shape = shapes.SHAPES[(i // len(shapes.COLOUR_NAMES)) % len(shapes.SHAPES)]
    return colour, shape, 'photo-%04d-%s-%s.jpg' % (i, colour, shape)


def background(rng, nrng, avoid):
    """Structure at three scales, made at 1/8 size and enlarged once (bicubic)."""
    w, h = W // 8, H // 8
    acc = np.broadcast_to(np.array(shapes._background_colour(rng, avoid), np.float32), (h, w, 3)).copy()
    for cells, amp in ((4, 60.0), (24, 30.0), (160, 18.0)):
        coarse = nrng.normal(0, 0.2, (cells * H // W + 1, cells + 1, 3)).clip(-0.5, 0.5) + 0.5
        img = Image.fromarray((coarse * 255).astype(np.uint8), 'RGB').resize((w, h), Image.BICUBIC)
        acc += (np.asarray(img, np.float32) / 255.0 - 0.5) * amp
    return Image.fromarray(acc.clip(0, 255).astype(np.uint8), 'RGB').resize((W, H), Image.BICUBIC)


def make(args):
    out, seed, i = args
    colour, shape, name = name_of(i)
    path = os.path.join(out, name)
    if os.path.exists(path) and LO <= os.path.getsize(path) <= HI:
        return {'file': name, 'colour': colour, 'shape': shape, 'bytes': os.path.getsize(path)}
    rng = random.Random(seed * 1_000_003 + i)
    nrng = np.random.default_rng(rng.randrange(1 << 30))
    rgb = shapes.COLOURS[colour]
    img = background(rng, nrng, [rgb])
    # One large object inside the centred square (what CLIP's centre crop keeps).
    s = min(W, H)
    r = s * rng.uniform(0.3, 0.37)
    cx = W / 2 + rng.uniform(-0.06, 0.06) * s
    cy = H / 2 + rng.uniform(-0.06, 0.06) * s
    fill = tuple(int(min(255, max(0, v + rng.randint(-14, 14)))) for v in rgb)
    shapes._draw_shape(ImageDraw.Draw(img), shape, cx, cy, r, fill)
    arr = np.asarray(img, np.int16)
    noise = nrng.normal(0, 1, (TILE, TILE, 3)).astype(np.float32)
    dy, dx = nrng.integers(0, TILE, 2)
    grain = 8.3
    for _ in range(8):
        tile = np.roll((noise * grain).round().clip(-127, 127).astype(np.int16), (dy, dx), (0, 1))
        big = np.tile(tile, (H // TILE + 1, W // TILE + 1, 1))[:H, :W]
        Image.fromarray((arr + big).clip(0, 255).astype(np.uint8), 'RGB').save(path + '.tmp', 'JPEG', quality=90)
        size = os.path.getsize(path + '.tmp')
        if LO <= size <= HI:
            break
        grain *= (LO + HI) / 2 / size  # the size grows about linearly with the grain here
    else:
        raise SystemExit('%s: %d bytes after 8 tries (grain %.2f)' % (name, size, grain))
    os.replace(path + '.tmp', path)
    print('%s %d bytes' % (name, size), file=sys.stderr)
    return {'file': name, 'colour': colour, 'shape': shape, 'bytes': size}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True)
    ap.add_argument('--seed', type=int, required=True)
    ap.add_argument('--count', type=int, required=True)
    ap.add_argument('--jobs', type=int, default=2)
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    todo = [(a.out, a.seed, i) for i in range(a.count)]
    if a.jobs > 1:
        with multiprocessing.Pool(a.jobs) as pool:
            photos = pool.map(make, todo, chunksize=1)
    else:
        photos = [make(t) for t in todo]
    with open(os.path.join(a.out, 'manifest.json'), 'w') as f:
        json.dump({'seed': a.seed, 'width': W, 'height': H, 'photos': photos}, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
