#!/usr/bin/python3
"""`clipdb thumbnail` (the native CLI) against an independent downscale by Pillow.

Usage: thumbnail-vs-pillow.py PATH/TO/clipdb   (exit 77 = skipped: no PIL / numpy)

Inputs are generated here, in a temporary folder removed afterwards:
  - a 12-MP "photo" (4032 x 3024 JPEG, quality 93, 3-4 MB): colour gradients, textures at
    every scale from 4 to 256 px (upsampled random fields), sensor-like noise;
  - a zone plate (4032 x 3024 gray PNG, concentric rings whose frequency rises to 1/2 cycle
    per pixel at the edges): the classic aliasing test; a resampler that skips input pixels
    draws false rings (moire) all over it;
  - plain images of other shapes (BMP) for the output sizes.
Checks:
  - the photo gives a 320 x 240 thumbnail of a few tens of KB (8..80 KB) at the defaults;
  - its pixels at quality 100 are within a mean |difference| of 1.2 (uint8 steps) of
    Pillow's `resize((320, 240), Image.BOX)` of the same file (Pillow decodes with
    libjpeg-turbo, clipdb with stb_image; BOX is Pillow's area filter); at the default quality
    80 within 4 (JPEG error included). Pillow's NEAREST is at 4.2 on this photo, so the bound
    tells a real averaging filter from a point sampler;
  - the zone plate at quality 100 is within 2 of Pillow's BOX (NEAREST: about 80);
  - 16-bit gray PNG, CMYK JPEG, RGBA PNG and palette GIF (800 x 600) at quality 100 within
    1.5 of Pillow's own conversion (16 bits / 257, convert("RGB"), alpha_composite over
    white) followed by BOX;
  - 3000 x 4000 -> 240 x 320, 100 x 50 stays 100 x 50, 4000 x 3000 -> 320 x 240 and at
    --max-side 1000 -> 1000 x 750, read back from the JPEG files by Pillow.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import numpy as np
    from PIL import Image
except ImportError as e:  # pragma: no cover
    print(f"skipped: {e} (apt-get install python3-pil python3-numpy)")
    sys.exit(77)

W, H = 4032, 3024
failures = 0


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("FAIL", msg)
    else:
        print("ok  ", msg)


def thumbnail(cli, src, dst, *args):
    r = subprocess.run([cli, "thumbnail", *args, src, dst], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"clipdb thumbnail {' '.join(args)} {src} failed: {r.stderr.strip()}")
    return json.loads(r.stdout)


def photo(rng):
    """A 4032 x 3024 RGB uint8 array that compresses like a photo."""
    tex = np.zeros((H, W), np.float32)
    for s in (4, 16, 64, 256):
        f = rng.normal(0, 1, (H // s + 2, W // s + 2)).astype(np.float32)
        up = Image.fromarray(f, "F").resize((W + 2 * s, H + 2 * s), Image.BICUBIC)
        tex += np.asarray(up, np.float32)[:H, :W] * (s ** 0.5)
    y = np.linspace(0, 1, H, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, W, dtype=np.float32)[None, :]
    base = [60 + 120 * x + 40 * np.sin(7 * y + 3 * x),
            80 + 100 * y + 30 * np.cos(30 * x * y),
            140 - 90 * x * y + 25 * np.sin(11 * x)]
    img = np.empty((H, W, 3), np.float32)
    for c in range(3):
        img[..., c] = base[c] + tex * (1.5 + 0.5 * c) + rng.normal(0, 6, (H, W)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def zone_plate():
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    r2 = (xx - W / 2) ** 2 + (yy - H / 2) ** 2
    return (127.5 + 127.5 * np.cos(np.pi * r2 / W)).astype(np.uint8)


def mad(a, b):
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    cli = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="clipdb-thumbnail-")
    try:
        rng = np.random.default_rng(20240512)
        p = os.path.join(tmp, "photo.jpg")
        pixels = photo(rng)
        Image.fromarray(pixels).save(p, "JPEG", quality=93)
        size = os.path.getsize(p)
        print(f"generated photo: {W} x {H}, {size} bytes")
        check(2_500_000 <= size <= 5_000_000, f"the generated photo is a 3-4 MB JPEG ({size} bytes)")
        src = Image.open(p).convert("RGB")
        ref = np.asarray(src.resize((320, 240), Image.BOX))
        nearest = np.asarray(src.resize((320, 240), Image.NEAREST))
        print(f"Pillow NEAREST vs BOX on the photo: mean |d| {mad(nearest, ref):.3f}")

        t = os.path.join(tmp, "t.jpg")
        out = thumbnail(cli, p, t)
        got = np.asarray(Image.open(t).convert("RGB"))
        n = os.path.getsize(t)
        check(out["width"] == 320 and out["height"] == 240 and got.shape == (240, 320, 3),
              f"12-MP photo -> 320 x 240 (CLI says {out['width']} x {out['height']}, file {got.shape[1]} x {got.shape[0]})")
        check(out["bytes"] == n and 8_000 <= n <= 80_000, f"thumbnail of the photo is a few tens of KB ({n} bytes)")
        d = mad(got, ref)
        check(d <= 4.0, f"quality 80 vs Pillow BOX: mean |d| {d:.3f} <= 4")

        thumbnail(cli, p, t, "--quality", "100")
        got = np.asarray(Image.open(t).convert("RGB"))
        d = mad(got, ref)
        check(d <= 1.2, f"quality 100 vs Pillow BOX: mean |d| {d:.3f} <= 1.2")

        z = os.path.join(tmp, "zone.png")
        Image.fromarray(zone_plate()).save(z, compress_level=1)
        zsrc = Image.open(z)
        zref = np.asarray(zsrc.resize((320, 240), Image.BOX))
        znear = np.asarray(zsrc.resize((320, 240), Image.NEAREST))
        print(f"Pillow NEAREST vs BOX on the zone plate: mean |d| {mad(znear, zref):.3f}")
        thumbnail(cli, z, t, "--quality", "100")
        zgot = np.asarray(Image.open(t).convert("L"))
        d = mad(zgot, zref)
        check(zgot.shape == (240, 320) and d <= 2.0, f"zone plate vs Pillow BOX: mean |d| {d:.3f} <= 2")

        # Other modes, each against Pillow's own conversion then BOX (quality 100):
        # 16-bit gray (scaled to 8 bits), CMYK JPEG, RGBA over white, palette GIF.
        tex = np.ascontiguousarray(pixels[:600, :800])
        g16 = (tex[..., 1].astype(np.uint16) * 257 + rng.integers(0, 257, (600, 800))).astype(np.uint16)
        modes = []
        f = os.path.join(tmp, "gray16.png")
        Image.fromarray(g16).save(f)
        modes.append((f, Image.fromarray((g16.astype(np.float64) / 257.0).round().astype(np.uint8)).convert("RGB")))
        f = os.path.join(tmp, "cmyk.jpg")
        Image.fromarray(tex).convert("CMYK").save(f, quality=95)
        modes.append((f, Image.open(f).convert("RGB")))
        f = os.path.join(tmp, "rgba.png")
        alpha = (np.arange(800)[None, :] * 255 // 799).repeat(600, 0).astype(np.uint8)
        Image.fromarray(np.dstack([tex, alpha])).save(f)
        white = Image.new("RGBA", (800, 600), (255, 255, 255, 255))
        modes.append((f, Image.alpha_composite(white, Image.open(f)).convert("RGB")))
        f = os.path.join(tmp, "palette.gif")
        Image.fromarray(tex).quantize(64).save(f)
        modes.append((f, Image.open(f).convert("RGB")))
        for f, ref_img in modes:
            out = thumbnail(cli, f, t, "--quality", "100")
            got = np.asarray(Image.open(t).convert("RGB"))
            d = mad(got, np.asarray(ref_img.resize((320, 240), Image.BOX)))
            check(got.shape == (240, 320, 3) and d <= 1.5,
                  f"{os.path.basename(f)} (mode {out['mode']}) vs Pillow convert + BOX: mean |d| {d:.3f} <= 1.5")

        for (w, h, args, want) in [(3000, 4000, [], (240, 320)), (100, 50, [], (100, 50)),
                                   (4000, 3000, [], (320, 240)),
                                   (4000, 3000, ["--max-side", "1000"], (1000, 750))]:
            b = os.path.join(tmp, f"{w}x{h}.bmp")
            grad = np.zeros((h, w, 3), np.uint8)
            grad[..., 0] = (np.arange(w) * 255 // max(1, w - 1)).astype(np.uint8)[None, :]
            Image.fromarray(grad).save(b)
            out = thumbnail(cli, b, t, *args)
            got = Image.open(t)
            check((out["width"], out["height"]) == want and got.size == want,
                  f"{w} x {h} {' '.join(args)} -> {got.size[0]} x {got.size[1]} (want {want[0]} x {want[1]})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("thumbnail-vs-pillow:", "all checks passed" if failures == 0 else f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
