#!/usr/bin/python3
"""Emoji pictures and captions for clipdb's default model (numpy + Pillow, seeded).

Concepts come from the emoji-datasource data file (one entry per emoji, skin-tone variants left
out) joined with emojibase-data's CLDR names and tags; pictures from the per-emoji 64 px PNGs
of the Noto (Google) and Twemoji (Twitter) sets for training, plus six Iconify sets (Fluent
Emoji 3D, flat and high-contrast, Emoji One, Noto v1, Firefox OS; ICONIFY_SETS, rasterised by
scripts/emoji-data to iconify-64/<prefix>/<code>.png) as further training styles, and from
OpenMoji (rasterised by scripts/emoji-data) for held-out evaluation only. Country and
subdivision flags, keycaps, the skin-tone swatches and hair components are left out (names the pictures cannot show, or
concepts whose only difference is a country name).

A picture puts one, two or three emoji at random sizes, positions and rotations onto a
photo-like background (flat colour, gradient, value-noise texture, stripes, checks, or a
blurred blow-up of another emoji), then optionally blurs it, shifts brightness/contrast and
JPEG-compresses it, as photos vary. Captions: "a mushroom", "a photo of a red apple",
"a dog face", "a mushroom and a pizza", or a CLDR tag ("a fungus").

Command line (held-out files for the tests and the demo):
    emoji_world.py write [--data DIR | --pictures DIR] --out FOLDER --seed N [--per-concept K]
        [--limit M] [--two M2] [--pairs A+B,C+D] [--concepts NAME,NAME] [--manifest FILE]
writes K pictures of every held-out concept (or the first M) as JPEG/PNG files named
"NNNN-<name>.jpg" plus M2 two-emoji pictures "NNNN-<a>+<b>.png", and a manifest (JSON).
"""
import argparse
import io
import json
import math
import os
import random
import re
import sys

import numpy as np
from PIL import Image, ImageFilter, ImageEnhance

TRAIN_SETS = ("google", "twitter")
ICONIFY_SETS = ("fluent-emoji", "fluent-emoji-flat", "fluent-emoji-high-contrast", "emojione", "noto-v1", "fxemoji")
SKIP_SUBCATEGORIES = {"country-flag", "subdivision-flag", "keycap", "skin-tone", "hair-style"}


def _norm_code(code):
    return "-".join(p for p in code.upper().split("-") if p != "FE0F")


def default_data_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get("CLIPDB_EMOJI_DIR", os.path.join(here, "..", "build", "emoji-data"))


def _clean_name(s):
    s = s.lower().replace("_", " ").replace("\u201c", "").replace("\u201d", "").replace("\u2019", "'")
    s = re.sub(r"\s+", " ", s).strip()
    return s


def load_concepts(data_dir):
    """Returns a list of concept dicts: code (normalised hex), name (CLDR label), names (all name
    forms), tags, category, subcategory, has (set of training sets with a picture)."""
    nm = os.path.join(data_dir, "node_modules")
    ds = json.load(open(os.path.join(nm, "emoji-datasource-google", "emoji.json"), encoding="utf-8"))
    eb = json.load(open(os.path.join(nm, "emojibase-data", "en", "data.json"), encoding="utf-8"))
    by_code = {_norm_code(e["hexcode"]): e for e in eb}
    out = []
    for e in sorted(ds, key=lambda e: e["sort_order"]):
        if e["category"] in ("Component",) or e["subcategory"] in SKIP_SUBCATEGORIES:
            continue
        code = _norm_code(e["unified"])
        b = by_code.get(code)
        label = _clean_name(b["label"]) if b else _clean_name(e["name"] or e["short_name"])
        names = [label]
        for n in [e.get("name") or ""] + list(e.get("short_names") or []):
            n = _clean_name(n)
            if n and n not in names and not re.search(r"[^a-z0-9 '&:.-]", n):
                names.append(n)
        tags = [_clean_name(t) for t in (b.get("tags") or [])] if b else []
        has = {s for s in TRAIN_SETS if e.get("has_img_" + s)}
        out.append({"code": code, "image": e["image"], "name": label, "names": names,
                    "tags": [t for t in tags if t and t not in names], "category": e["category"],
                    "subcategory": e["subcategory"], "has": has})
    return out


def load_rgba(path, size=None):
    im = Image.open(path).convert("RGBA")
    if size and im.size != (size, size):
        im = im.resize((size, size), Image.LANCZOS)
    return im


def training_pictures(data_dir, concepts):
    """[(concept index, RGBA 64x64 image)] for every training-set picture: the emoji-datasource
    sets first, then the Iconify sets, each in concept order."""
    nm = os.path.join(data_dir, "node_modules")
    out = []
    for s in TRAIN_SETS:
        folder = os.path.join(nm, "emoji-datasource-" + s, "img", s, "64")
        for i, c in enumerate(concepts):
            p = os.path.join(folder, c["image"])
            if s in c["has"] and os.path.exists(p):
                out.append((i, load_rgba(p, 64)))
    for s in ICONIFY_SETS:
        folder = os.path.join(data_dir, "iconify-64", s)
        for i, c in enumerate(concepts):
            p = os.path.join(folder, c["code"] + ".png")
            if os.path.exists(p):
                out.append((i, load_rgba(p, 64)))
    return out


def heldout_pictures(data_dir, concepts):
    """{concept index: RGBA 72x72 OpenMoji image} for the concepts OpenMoji draws."""
    folder = os.path.join(data_dir, "openmoji-72")
    files = {}
    for f in os.listdir(folder):
        if f.endswith(".png"):
            files[_norm_code(f[:-4])] = os.path.join(folder, f)
    out = {}
    for i, c in enumerate(concepts):
        p = files.get(c["code"])
        if p:
            out[i] = load_rgba(p)
    return out


# ---------------------------------------------------------------------------------------------
# Backgrounds and composition
# ---------------------------------------------------------------------------------------------

def _rand_colour(rng):
    return np.array([rng.randint(0, 255) for _ in range(3)], dtype=np.float32)


def _value_noise(rng, w, h, cells):
    g = np.array([[rng.random() for _ in range(cells + 1)] for _ in range(cells + 1)], dtype=np.float32)
    im = Image.fromarray((g * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC)
    return np.asarray(im, dtype=np.float32) / 255.0


def background(rng, w, h, pictures=None):
    kind = rng.random()
    if kind < 0.15:
        a = np.broadcast_to(_rand_colour(rng), (h, w, 3)).copy()
    elif kind < 0.35:
        c1, c2 = _rand_colour(rng), _rand_colour(rng)
        ang = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = (xx * math.cos(ang) + yy * math.sin(ang))
        t = (t - t.min()) / max(1e-6, t.max() - t.min())
        a = c1 * (1 - t[..., None]) + c2 * t[..., None]
    elif kind < 0.7:
        # Photo-like texture: two octaves of value noise mapped between two or three colours.
        t = 0.65 * _value_noise(rng, w, h, rng.randint(2, 5)) + 0.35 * _value_noise(rng, w, h, rng.randint(6, 16))
        c1, c2, c3 = _rand_colour(rng), _rand_colour(rng), _rand_colour(rng)
        t = t[..., None]
        a = np.where(t < 0.5, c1 * (1 - 2 * t) + c2 * 2 * t, c2 * (2 - 2 * t) + c3 * (2 * t - 1))
        a = a + np.random.RandomState(rng.randint(0, 2 ** 31 - 1)).normal(0, rng.uniform(0, 12), a.shape)
    elif kind < 0.8:
        c1, c2 = _rand_colour(rng), _rand_colour(rng)
        period = rng.randint(4, 20)
        yy, xx = np.mgrid[0:h, 0:w]
        if rng.random() < 0.5:
            m = ((xx + yy * rng.choice([0, 1])) // period) % 2
        else:
            m = ((xx // period) + (yy // period)) % 2
        a = np.where(m[..., None] == 1, c1, c2).astype(np.float32)
    elif pictures:
        # A blurred, blown-up piece of some other emoji: clutter with emoji-like colours.
        _, pic = pictures[rng.randrange(len(pictures))]
        base = Image.new("RGB", pic.size, tuple(int(v) for v in _rand_colour(rng)))
        base.paste(pic, (0, 0), pic)
        s = max(w, h) * rng.uniform(1.5, 3.0) / pic.size[0]
        big = base.resize((int(pic.size[0] * s) + 1, int(pic.size[1] * s) + 1), Image.BILINEAR)
        x0 = rng.randint(0, big.size[0] - w)
        y0 = rng.randint(0, big.size[1] - h)
        big = big.crop((x0, y0, x0 + w, y0 + h)).filter(ImageFilter.GaussianBlur(rng.uniform(2, 6)))
        a = np.asarray(big, dtype=np.float32)
    else:
        a = np.broadcast_to(_rand_colour(rng), (h, w, 3)).copy()
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


def _place(rng, canvas, pic, size, centre):
    k = size / float(max(pic.size))  # scale of the unrotated emoji; rotation grows the box
    if rng.random() < 0.6:
        pic = pic.rotate(rng.uniform(-25, 25), resample=Image.BICUBIC, expand=True)
    pic = pic.resize((max(2, int(pic.size[0] * k)), max(2, int(pic.size[1] * k))), Image.BICUBIC)
    x = int(centre[0] - pic.size[0] / 2)
    y = int(centre[1] - pic.size[1] / 2)
    canvas.paste(pic, (x, y), pic)


def compose(rng, pics, width, height, bg_pictures=None):
    """Draw the RGBA emoji `pics` (1-3) onto a background; returns an RGB PIL image."""
    img = background(rng, width, height, bg_pictures)
    s = min(width, height)
    n = len(pics)
    if n == 1:
        size = s * rng.uniform(0.45, 0.95)
        cx = rng.uniform(min(size * 0.4, width / 2), max(width - size * 0.4, width / 2))
        cy = rng.uniform(min(size * 0.4, height / 2), max(height - size * 0.4, height / 2))
        _place(rng, img, pics[0], size, (cx, cy))
    else:
        horizontal = width >= height if rng.random() < 0.8 else width < height
        long_ = width if horizontal else height
        slot = long_ / n
        for k, p in enumerate(pics):
            size = min(s * rng.uniform(0.38, 0.55), slot * 1.05)
            a = slot * (k + 0.5) + rng.uniform(-0.08, 0.08) * slot
            b = (height if horizontal else width) / 2 + rng.uniform(-0.12, 0.12) * s
            _place(rng, img, p, size, (a, b) if horizontal else (b, a))
    return img


def degrade(rng, img, jpeg_prob=0.35):
    if rng.random() < 0.25:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.3)))
    if rng.random() < 0.3:
        img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.7, 1.3))
        img = ImageEnhance.Contrast(img).enhance(rng.uniform(0.7, 1.3))
    if rng.random() < jpeg_prob:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=rng.randint(30, 92))
        buf.seek(0)
        img = Image.open(buf).convert("RGB")
    return img


# ---------------------------------------------------------------------------------------------
# Captions
# ---------------------------------------------------------------------------------------------

PREFIXES = ["", "", "a photo of ", "a picture of ", "an image of ", "a drawing of ", "an emoji of ",
            "a cartoon of ", "a close-up photo of "]


def article(np_):
    if re.match(r"(a|an|the|two|three|\d)\b", np_):
        return np_
    return ("an " if np_[:1] in "aeiou" else "a ") + np_


def caption(rng, concepts, idx):
    """A caption for a picture of the concepts `idx`; returns (text, slots): one set of
    acceptable concept indices per object the caption names (for soft contrastive targets),
    or the tag string for a keyword caption."""
    prefix = rng.choice(PREFIXES)
    if len(idx) == 1:
        c = concepts[idx[0]]
        if c["tags"] and rng.random() < 0.12:
            t = rng.choice(c["tags"])
            return prefix + article(t), [("tag", t)]
        r = rng.random()
        name = c["name"] if r < 0.6 else rng.choice(c["names"])
        if rng.random() < 0.15:
            return name, [("name", name)]
        return prefix + article(name), [("name", name)]
    parts = []
    slots = []
    for i in idx:
        n = concepts[i]["name"] if rng.random() < 0.8 else rng.choice(concepts[i]["names"])
        parts.append(article(n))
        slots.append(("name", n))
    joiner = rng.choice([" and ", " and ", " with ", " next to "])
    if len(parts) == 3:
        text = parts[0] + ", " + parts[1] + " and " + parts[2]
    else:
        text = parts[0] + joiner + parts[1]
    return prefix + text, slots


class Matcher:
    """Which caption slots a concept satisfies (names and tags are shared across concepts)."""

    def __init__(self, concepts):
        self.name_of = {}
        self.tag_of = {}
        for i, c in enumerate(concepts):
            for n in c["names"]:
                self.name_of.setdefault(n, set()).add(i)
            for t in c["tags"]:
                self.tag_of.setdefault(t, set()).add(i)

    def ok(self, slot, i):
        kind, s = slot
        return i in (self.name_of if kind == "name" else self.tag_of).get(s, ())

    def holds(self, slots, idx):
        if len(slots) != len(idx):
            return False
        if len(idx) == 1:
            return self.ok(slots[0], idx[0])
        import itertools
        return any(all(self.ok(s, i) for s, i in zip(slots, perm)) for perm in itertools.permutations(idx))


# ---------------------------------------------------------------------------------------------
# Held-out evaluation sets
# ---------------------------------------------------------------------------------------------

CONCRETE_SUBCATEGORIES = (
    "animal-mammal", "animal-bird", "animal-amphibian", "animal-reptile", "animal-marine", "animal-bug",
    "plant-flower", "plant-other", "food-fruit", "food-vegetable", "food-prepared", "food-asian",
    "food-sweet", "drink", "dishware", "transport-ground", "transport-water", "transport-air",
    "clothing", "household", "tool", "musical-instrument", "sport", "game", "office", "book-paper",
    "light & video", "computer", "phone", "money", "mail", "writing", "science", "medical", "lock",
    "arts & crafts", "other-object", "sky & weather", "place-building", "place-geographic",
)


def heldout_concepts(concepts, held):
    """Indices of the concepts evaluated on the held-out style: drawn by OpenMoji, with a name no
    other evaluated concept shares. In emoji order."""
    seen = {}
    for i in sorted(held):
        seen.setdefault(concepts[i]["name"], []).append(i)
    return sorted(v[0] for v in seen.values() if len(v) == 1)


def concrete_nouns(concepts, idx, count=200):
    """`count` held-out concepts whose CLDR name is one word and whose subcategory is an animal,
    plant, food, drink, vehicle, object or weather/place thing: taken round-robin over those
    subcategories (in emoji order within each), so every kind of thing is represented."""
    groups = {}
    for i in idx:
        sc = concepts[i]["subcategory"]
        if sc in CONCRETE_SUBCATEGORIES and re.fullmatch(r"[a-z]+", concepts[i]["name"]):
            groups.setdefault(sc, []).append(i)
    order = [groups[sc] for sc in CONCRETE_SUBCATEGORIES if sc in groups]
    out, k = [], 0
    while len(out) < count and any(k < len(g) for g in order):
        out += [g[k] for g in order if k < len(g)][:count - len(out)]
        k += 1
    return sorted(out)


def _slug(s):
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


def _write(out, seed, names, held, per_concept, two, pairs=()):
    """Write per_concept pictures of each concept in `names` (RGBA pictures in held[name]),
    `two` random two-emoji pictures and one of each pair in `pairs`; returns the list of
    {file, concepts}."""
    rng = random.Random(seed)
    os.makedirs(out, exist_ok=True)
    bg = [(n, held[n]) for n in sorted(held)]
    items = []

    def emit(objs):
        short = rng.randint(96, 224)
        aspect = rng.uniform(1.0, 1.5)
        w, h = (int(short * aspect), short) if rng.random() < 0.6 else (short, int(short * aspect))
        img = degrade(rng, compose(rng, [held[n] for n in objs], w, h, bg), jpeg_prob=0.0)
        ext = "jpg" if rng.random() < 0.5 else "png"
        name = "%04d-%s.%s" % (len(items), "+".join(_slug(n) for n in objs), ext)
        if ext == "jpg":
            img.save(os.path.join(out, name), "JPEG", quality=rng.randint(70, 95))
        else:
            img.save(os.path.join(out, name), "PNG")
        items.append({"file": name, "concepts": list(objs)})

    for _ in range(per_concept):
        for n in names:
            emit([n])
    for _ in range(two):
        emit(rng.sample(names, 2))
    for p in pairs:
        emit(list(p))
    return items


def write_folder(data_dir, out, seed, per_concept=1, limit=None, two=0, names=None, pictures=None, pairs=None):
    """Write held-out (OpenMoji) pictures to `out`; returns the manifest. The pictures come from
    the rasterised OpenMoji set in data_dir, or from `pictures`: a folder with index.json
    ({name: {file}}) and those PNGs (the demo's small committed copy)."""
    if pictures:
        index = json.load(open(os.path.join(pictures, "index.json"), encoding="utf-8"))
        all_names = list(index)
        held = {n: load_rgba(os.path.join(pictures, index[n]["file"])) for n in all_names}
        nouns = []
    else:
        concepts = load_concepts(data_dir)
        by_idx = heldout_pictures(data_dir, concepts)
        idx = heldout_concepts(concepts, by_idx)
        all_names = [concepts[i]["name"] for i in idx]
        held = {concepts[i]["name"]: by_idx[i] for i in idx}
        nouns = [concepts[i]["name"] for i in concrete_nouns(concepts, idx)]
    chosen = all_names
    if names:
        chosen = [n.strip() for n in names.split(",") if n.strip()]
        missing = [n for n in chosen if n not in held]
        if missing:
            raise SystemExit("emoji_world: no held-out concept named %s" % ", ".join(missing))
    if limit:
        chosen = chosen[:limit]
    pair_list = [tuple(p.split("+")) for p in pairs.split(",")] if pairs else []
    for p in pair_list:
        if len(p) != 2 or any(n not in held for n in p):
            raise SystemExit("emoji_world: --pairs wants NAME+NAME of held-out concepts, got %r" % "+".join(p))
    items = _write(out, seed, chosen, held, per_concept, two, pair_list)
    return {"seed": seed, "concepts": chosen, "nouns": nouns, "images": items}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write", help="write held-out (OpenMoji) pictures")
    w.add_argument("--data", default=default_data_dir())
    w.add_argument("--out", required=True)
    w.add_argument("--seed", type=int, required=True)
    w.add_argument("--per-concept", type=int, default=1)
    w.add_argument("--limit", type=int)
    w.add_argument("--two", type=int, default=0)
    w.add_argument("--concepts", help="comma-separated CLDR names instead of every held-out concept")
    w.add_argument("--pictures", help="a folder with index.json and PNGs to draw from instead of --data")
    w.add_argument("--pairs", help="comma-separated NAME+NAME: one two-emoji picture of each")
    w.add_argument("--manifest")
    a = ap.parse_args(argv)
    m = write_folder(a.data, a.out, a.seed, a.per_concept, a.limit, a.two, a.concepts, a.pictures, a.pairs)
    if a.manifest:
        with open(a.manifest, "w") as f:
            json.dump(m, f, indent=0)
    print("wrote %d pictures of %d concepts to %s" % (len(m["images"]), len(m["concepts"]), a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
