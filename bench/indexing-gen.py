#!/usr/bin/python3
"""Pictures for bench/indexing.mjs: N JPEGs of 640x480 (quality 90), each one object of the
"shapes" world (scripts/shapes.py draws it, so the shipped model clipdb-shapes has something
to find) with light sensor-like grain, so the files are photo-like (about 90 KB) rather than
flat colour. Seeded: the same --seed and --count give the same files.

    indexing-gen.py --out DIR --seed S --count N

Writes DIR/manifest.json ({seed, width, height, photos: [{file, colour, shape, bytes}]}) last,
so a folder with a manifest of N photos is complete.
"""
import argparse
import json
import os
import random
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts'))
import shapes  # noqa: E402

W, H = 640, 480


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    photos = []
    for i in range(a.count):
        rng = random.Random(a.seed * 1_000_003 + i)
        scene = shapes.random_scene(rng, two_prob=0.0)
        img = shapes.render(scene, rng, width=W, height=H)
        grain = np.random.default_rng(a.seed * 7919 + i).normal(0, 6, (H, W, 1))
        px = np.clip(np.asarray(img, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
        o = scene["objects"][0]
        name = "photo-%04d-%s-%s.jpg" % (i, o["colour"], o["shape"])
        path = os.path.join(a.out, name)
        Image.fromarray(px).save(path, "JPEG", quality=90)
        photos.append({"file": name, "colour": o["colour"], "shape": o["shape"], "bytes": os.path.getsize(path)})
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump({"seed": a.seed, "width": W, "height": H, "photos": photos}, f, indent=1)
    print("indexing-gen: wrote %d photos to %s" % (len(photos), a.out), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
