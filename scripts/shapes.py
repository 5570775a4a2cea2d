#!/usr/bin/python3
"""Seeded procedural generator of captioned images ("shapes" world) for clipdb.

Used three ways:
  * by scripts/train-tiny-clip.py, to draw an endless stream of training pairs;
  * by scripts/demo and the retrieval test, to write folders of real image files (JPEG and PNG,
    varied sizes and aspect ratios) that the model never saw (a different seed);
  * from the command line:
        shapes.py write  --out DIR --seed S [--count N | --grid K] [--manifest FILE]

Only numpy + PIL (Debian python3-numpy / python3-pil); no torch.

A scene has one or two objects. Each object has a shape, a colour, a size (small/large) and a
position (left/right/top/bottom/center). The background is a plain colour, a linear gradient or
value noise, always kept far from the objects' colours so they stay visible. Objects are placed
inside the centred square of the canvas, which is what CLIP's preprocessing (resize the short side,
centre crop) keeps, so a caption's position still holds after preprocessing.
"""
import argparse
import io
import json
import math
import os
import random
import sys

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ["circle", "square", "triangle", "star", "heart", "cross", "ring", "diamond"]
COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (30, 70, 230),
    "yellow": (245, 220, 30),
    "orange": (255, 135, 0),
    "purple": (130, 40, 190),
    "pink": (255, 120, 200),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
    "gray": (128, 128, 128),
}
COLOUR_NAMES = list(COLOURS)
SIZES = ["small", "large"]
POSITIONS = ["left", "right", "top", "bottom", "center"]
POSITION_PHRASE = {
    "left": "on the left",
    "right": "on the right",
    "top": "at the top",
    "bottom": "at the bottom",
    "center": "in the center",
}
# Two-object layouts: the pair of positions each object takes.
PAIR_LAYOUTS = [("left", "right"), ("top", "bottom")]

# CLIP's image normalisation constants (official preprocessing).
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# Scenes
# ---------------------------------------------------------------------------------------------

def random_object(rng, size=None, pos=None, shape=None, colour=None):
    return {
        "shape": shape or rng.choice(SHAPES),
        "colour": colour or rng.choice(COLOUR_NAMES),
        "size": size or rng.choice(SIZES),
        "pos": pos or rng.choice(POSITIONS),
    }


def random_scene(rng, two_prob=0.3):
    """A scene description: {"objects": [...]} with one or two objects."""
    if rng.random() < two_prob:
        layout = rng.choice(PAIR_LAYOUTS)
        if rng.random() < 0.5:
            layout = layout[::-1]
        a = random_object(rng, size="small", pos=layout[0])
        while True:
            b = random_object(rng, size="small", pos=layout[1])
            if (b["shape"], b["colour"]) != (a["shape"], a["colour"]):
                break
        return {"objects": [a, b]}
    return {"objects": [random_object(rng)]}


def _colour_distance(c1, c2):
    return math.sqrt(sum((float(a) - float(b)) ** 2 for a, b in zip(c1, c2)))


def _background_colour(rng, avoid):
    """A random RGB colour at least ~110 away from every colour in `avoid`."""
    for _ in range(200):
        c = tuple(rng.randrange(256) for _ in range(3))
        if all(_colour_distance(c, a) > 110 for a in avoid):
            return c
    # Fall back: mid-dark teal is far from the palette's extremes for most objects.
    return (20, 90, 100) if all(_colour_distance((20, 90, 100), a) > 80 for a in avoid) else (200, 200, 140)


def _background(rng, w, h, avoid):
    kind = rng.random()
    c1 = np.array(_background_colour(rng, avoid), dtype=np.float32)
    if kind < 0.4:  # plain
        arr = np.broadcast_to(c1, (h, w, 3)).copy()
    elif kind < 0.75:  # linear gradient between two far-away colours
        c2 = np.array(_background_colour(rng, avoid), dtype=np.float32)
        ang = rng.random() * 2 * math.pi
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = (xx / max(w - 1, 1) - 0.5) * math.cos(ang) + (yy / max(h - 1, 1) - 0.5) * math.sin(ang)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        arr = c1[None, None, :] * (1 - t[..., None]) + c2[None, None, :] * t[..., None]
    else:  # smooth value noise around the base colour, plus fine grain
        nrng = np.random.default_rng(rng.randrange(1 << 30))
        gh, gw = rng.randint(2, 6), rng.randint(2, 6)
        coarse = nrng.normal(0, 1, (gh, gw, 3)).astype(np.float32)
        img = Image.fromarray(((coarse * 0.25 + 0.5).clip(0, 1) * 255).astype(np.uint8), "RGB")
        smooth = np.asarray(img.resize((w, h), Image.BICUBIC), dtype=np.float32) / 255.0 - 0.5
        arr = c1[None, None, :] + smooth * 70 + nrng.normal(0, 8, (h, w, 3)).astype(np.float32)
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB")


def _star(cx, cy, r):
    pts = []
    for k in range(10):
        rr = r if k % 2 == 0 else r * 0.42
        a = -math.pi / 2 + k * math.pi / 5
        pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    return pts


def _draw_shape(draw, shape, cx, cy, r, fill):
    """Draw `shape` of half-extent r centred at (cx, cy)."""
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "square":
        s = r * 0.85
        draw.rectangle([cx - s, cy - s, cx + s, cy + s], fill=fill)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx + r, cy + r * 0.8), (cx - r, cy + r * 0.8)], fill=fill)
    elif shape == "star":
        draw.polygon(_star(cx, cy, r * 1.1), fill=fill)
    elif shape == "heart":
        q = r * 0.5
        draw.ellipse([cx - 2 * q, cy - r * 0.75, cx, cy - r * 0.75 + 2 * q], fill=fill)
        draw.ellipse([cx, cy - r * 0.75, cx + 2 * q, cy - r * 0.75 + 2 * q], fill=fill)
        draw.polygon([(cx - 2 * q + 0.5, cy - r * 0.75 + q + 0.3 * q), (cx + 2 * q - 0.5, cy - r * 0.75 + q + 0.3 * q),
                      (cx, cy + r)], fill=fill)
    elif shape == "cross":
        t = r * 0.33
        draw.rectangle([cx - t, cy - r, cx + t, cy + r], fill=fill)
        draw.rectangle([cx - r, cy - t, cx + r, cy + t], fill=fill)
    elif shape == "ring":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=fill, width=max(2, int(round(r * 0.3))))
    elif shape == "diamond":
        draw.polygon([(cx, cy - r), (cx + r * 0.7, cy), (cx, cy + r), (cx - r * 0.7, cy)], fill=fill)
    else:
        raise ValueError("unknown shape %r" % shape)


def render(scene, rng, width=None, height=None, short_range=(72, 200)):
    """Render `scene` into a PIL RGB image of a random (or the given) size; the short side is
    drawn from `short_range`, the long one up to 1.6 times that."""
    if width is None:
        short = rng.randint(*short_range)
        aspect = rng.uniform(1.0, 1.6)
        long_ = int(short * aspect)
        width, height = (long_, short) if rng.random() < 0.5 else (short, long_)
    objs = scene["objects"]
    rgb = []
    for o in objs:
        base = COLOURS[o["colour"]]
        rgb.append(tuple(int(min(255, max(0, v + rng.randint(-14, 14)))) for v in base))
    img = _background(rng, width, height, [COLOURS[o["colour"]] for o in objs])
    draw = ImageDraw.Draw(img)
    s = min(width, height)
    ox, oy = (width - s) / 2.0, (height - s) / 2.0
    for o, fill in zip(objs, rgb):
        if len(objs) == 1:
            r = s * (rng.uniform(0.19, 0.23) if o["size"] == "small" else rng.uniform(0.3, 0.37))
        else:
            r = s * rng.uniform(0.16, 0.2)
        margin = r * 1.15 + 1
        lo, hi = margin, s - margin
        third = s / 3.0
        jitter = lambda: rng.uniform(-0.06, 0.06) * s
        p = o["pos"]
        if p == "left":
            cx, cy = rng.uniform(lo, max(lo, third)), s / 2 + jitter()
        elif p == "right":
            cx, cy = rng.uniform(min(hi, s - third), hi), s / 2 + jitter()
        elif p == "top":
            cx, cy = s / 2 + jitter(), rng.uniform(lo, max(lo, third))
        elif p == "bottom":
            cx, cy = s / 2 + jitter(), rng.uniform(min(hi, s - third), hi)
        else:
            cx, cy = s / 2 + jitter(), s / 2 + jitter()
        cx = min(max(cx, lo), hi)
        cy = min(max(cy, lo), hi)
        _draw_shape(draw, o["shape"], ox + cx, oy + cy, r, fill)
    return img


# ---------------------------------------------------------------------------------------------
# Captions
# ---------------------------------------------------------------------------------------------

def _np(o, size=False, pos=False):
    words = ["a"]
    if size:
        words.append(o["size"])
    words += [o["colour"], o["shape"]]
    s = " ".join(words)
    if pos:
        s += " " + POSITION_PHRASE[o["pos"]]
    return s


def caption(scene, rng):
    """A caption for `scene` from varied templates, and the facts it states.

    Returns (text, facts) where facts is a list (one entry per object, in scene order) of dicts
    holding only the attributes the caption mentions; used to decide which captions in a batch
    are also true of other images."""
    objs = scene["objects"]
    prefix = rng.choice(["", "", "", "a photo of ", "a picture of ", "an image of ", "a drawing of "])
    if len(objs) == 1:
        o = objs[0]
        if rng.random() < 0.3:  # shape only: a direct signal for shape, whatever the colour
            return prefix + "a " + o["shape"], [{"shape": o["shape"]}]
        size = rng.random() < 0.35
        pos = rng.random() < 0.35
        np_ = _np(o, size, pos)
        if prefix:
            text = prefix + np_
        else:
            text = np_
        facts = [{k: o[k] for k in ("shape", "colour")}]
        if size:
            facts[0]["size"] = o["size"]
        if pos:
            facts[0]["pos"] = o["pos"]
        return text, facts
    a, b = objs
    if rng.random() < 0.5:
        a, b = b, a
    pos = rng.random() < 0.3
    joiner = rng.choice([" and ", " and ", " with ", " next to "])
    text = prefix + _np(a, False, pos) + joiner + _np(b, False, pos)
    facts = [{"shape": a["shape"], "colour": a["colour"]}, {"shape": b["shape"], "colour": b["colour"]}]
    if pos:
        facts[0]["pos"] = a["pos"]
        facts[1]["pos"] = b["pos"]
    return text, facts


def caption_holds(facts, scene):
    """True when a caption with `facts` truthfully describes `scene` (same object count, and some
    assignment of stated objects to scene objects agrees on every stated attribute)."""
    objs = scene["objects"]
    if len(facts) != len(objs):
        return False

    def ok(f, o):
        return all(o[k] == v for k, v in f.items())

    if len(objs) == 1:
        return ok(facts[0], objs[0])
    return (ok(facts[0], objs[0]) and ok(facts[1], objs[1])) or (ok(facts[0], objs[1]) and ok(facts[1], objs[0]))


# ---------------------------------------------------------------------------------------------
# Official CLIP preprocessing (PIL), for training and for the Python reference
# ---------------------------------------------------------------------------------------------

def clip_preprocess(img, resolution):
    """torchvision Resize(R, BICUBIC) on the PIL image, CenterCrop(R), convert RGB, /255, normalise.
    Returns float32 [3,R,R] (CHW)."""
    w, h = img.size
    if w <= h:
        tw, th = resolution, int(resolution * h / w)
    else:
        tw, th = int(resolution * w / h), resolution
    if (tw, th) != (w, h):
        img = img.resize((tw, th), Image.BICUBIC)
    left = int(round((tw - resolution) / 2.0))
    top = int(round((th - resolution) / 2.0))
    img = img.crop((left, top, left + resolution, top + resolution)).convert("RGB")
    x = np.asarray(img, dtype=np.uint8).astype(np.float32) / np.float32(255.0)
    x = (x - CLIP_MEAN) / CLIP_STD
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)


def jpeg_roundtrip(img, rng):
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=rng.randint(70, 95))
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def training_batch(rng, n, resolution, two_prob=0.25, jpeg_prob=0.5):
    """n samples: (pixels float32 [n,3,R,R], captions list[str], facts, scenes)."""
    pix = np.empty((n, 3, resolution, resolution), dtype=np.float32)
    caps, facts, scenes = [], [], []
    for i in range(n):
        sc = random_scene(rng, two_prob)
        img = render(sc, rng, short_range=(64, 128))  # smaller than files: cheaper to draw
        if rng.random() < jpeg_prob:
            img = jpeg_roundtrip(img, rng)
        pix[i] = clip_preprocess(img, resolution)
        t, f = caption(sc, rng)
        caps.append(t)
        facts.append(f)
        scenes.append(sc)
    return pix, caps, facts, scenes


# ---------------------------------------------------------------------------------------------
# Writing folders of image files
# ---------------------------------------------------------------------------------------------

def write_folder(out, seed, count=None, grid=0, two=0):
    """Write images to `out`; returns the manifest (list of dicts: file, objects).

    grid=K writes K single-object images of every colour x shape (held-out evaluation sets);
    count=N adds N random scenes; two=M adds M random two-object scenes."""
    rng = random.Random(seed)
    os.makedirs(out, exist_ok=True)
    scenes = []
    for k in range(grid):
        for c in COLOUR_NAMES:
            for s in SHAPES:
                scenes.append({"objects": [random_object(rng, shape=s, colour=c)]})
    for _ in range(count or 0):
        scenes.append(random_scene(rng, two_prob=0.0))
    for _ in range(two):
        scenes.append(random_scene(rng, two_prob=1.0))
    manifest = []
    for i, sc in enumerate(scenes):
        img = render(sc, rng)
        name = "-".join(o["colour"] + "-" + o["shape"] for o in sc["objects"])
        if rng.random() < 0.5:
            fname = "img%04d-%s.jpg" % (i, name)
            img.save(os.path.join(out, fname), "JPEG", quality=rng.randint(80, 95))
        else:
            fname = "img%04d-%s.png" % (i, name)
            img.save(os.path.join(out, fname), "PNG")
        manifest.append({"file": fname, "width": img.size[0], "height": img.size[1], "objects": sc["objects"]})
    return manifest


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write", help="write a folder of generated image files")
    w.add_argument("--out", required=True)
    w.add_argument("--seed", type=int, required=True)
    w.add_argument("--count", type=int, default=0, help="random single-object scenes")
    w.add_argument("--two", type=int, default=0, help="random two-object scenes")
    w.add_argument("--grid", type=int, default=0, help="K images of every colour x shape")
    w.add_argument("--manifest", help="write a JSON manifest of what each file shows")
    a = ap.parse_args(argv)
    m = write_folder(a.out, a.seed, a.count, a.grid, a.two)
    if a.manifest:
        with open(a.manifest, "w") as f:
            json.dump({"seed": a.seed, "shapes": SHAPES, "colours": COLOUR_NAMES, "images": m}, f, indent=1)
    print("shapes: wrote %d images to %s" % (len(m), a.out), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
