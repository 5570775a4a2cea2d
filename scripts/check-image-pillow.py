#!/usr/bin/python3
"""Compare `clipdb preprocess` with the local Pillow on image kinds the golden set lacks.

Writes small images with Pillow into a temporary folder (LA, 1-bit, 4-bit gray, gray and
palette tRNS, BMP 8-bit palette/gray and 1-bit, GIF gray and with transparency, gray JPEG,
JPEG with each EXIF orientation 1..8) and runs the official transform on them with Pillow
(torchvision's Resize/CenterCrop arithmetic written out; exif_transpose for --exif apply).
Lossless files must match exactly; JPEG within 4/255 (different decoders).
Needs Debian python3-pil and python3-numpy; Pillow 9.4 is what the golden data used.
Usage: scripts/check-image-pillow.py [build/native/clipdb]   (ctest runs it as image-vs-pillow)
"""
import os, subprocess, sys, tempfile

SKIP = 77  # ctest's skip code
try:
    import numpy as np
    from PIL import Image, ImageOps
except ImportError as err:
    print(f'SKIP: {err} (needs Debian python3-pil and python3-numpy)')
    sys.exit(SKIP)

R = 224
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)
HERE = os.path.dirname(os.path.abspath(__file__))
CLI = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, '..', 'build', 'native', 'clipdb')
GOLDEN = os.environ.get('CLIPDB_GOLDEN', os.path.join(HERE, '..', '..', 'shared', 'golden'))


def official(path, exif):
    im = Image.open(path)
    if exif:
        im = ImageOps.exif_transpose(im)
    w, h = im.size
    tw, th = (R, int(R * h / w)) if w <= h else (int(R * w / h), R)
    if (tw, th) != (w, h):
        im = im.resize((tw, th), Image.BICUBIC)
    left, top = int(round((tw - R) / 2.0)), int(round((th - R) / 2.0))
    x = np.asarray(im.crop((left, top, left + R, top + R)).convert('RGB')).astype(np.float32) / np.float32(255)
    return ((x - MEAN) / STD).transpose(2, 0, 1)


def ours(path, exif, out):
    cmd = [CLI, 'preprocess', '--resolution', str(R), '--exif', 'apply' if exif else 'ignore', path, '--out', out]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f'{path}: {r.stderr.strip()}')
    import json
    return np.fromfile(out, np.float32).reshape(3, R, R), json.loads(r.stdout)['mode']


def write_png16(path, arr, color_type):
    """A 16-bit PNG (Pillow cannot write 16-bit RGB/RGBA/LA): filter 0 rows, zlib, CRCs."""
    import struct, zlib
    h, w = arr.shape[:2]
    raw = b''.join(b'\0' + arr[y].astype('>u2').tobytes() for y in range(h))
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)
    ihdr = struct.pack('>IIBBBBB', w, h, 16, color_type, 0, 0, 0)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))


def main():
    if not os.path.exists(os.path.join(GOLDEN, 'images', 'chelsea.png')):
        print('SKIP: golden images not found (../shared/golden or $CLIPDB_GOLDEN)')
        return SKIP
    src = Image.open(os.path.join(GOLDEN, 'images', 'chelsea.png')).convert('RGB')
    rgba = Image.open(os.path.join(GOLDEN, 'images', 'rgba_transparent.png'))
    gray = src.convert('L')
    cases = [
        ('la.png', rgba.convert('LA'), {}), ('one.png', src.convert('1'), {}),
        ('gray4.png', gray.quantize(16).convert('L'), {'bits': 4}),
        ('gray_trns.png', gray, {'transparency': 17}), ('p_trns.png', src.quantize(64), {'transparency': 3}),
        ('p8.bmp', src.quantize(200), {}), ('gray8.bmp', gray, {}), ('one.bmp', src.convert('1'), {}),
        ('gray.gif', gray, {}), ('trns.gif', src.quantize(32), {'transparency': 5}),
        ('gray.jpg', gray, {'quality': 95}),
    ]
    # Hard-edged colour bars (resampling ringing at sharp edges): 500x375 (-> 298x224, crop x 37); 301x224 with a
    # white column every 10 px (no resize, crop x round(38.5) = 38).
    bars = np.zeros((375, 500, 3), np.uint8)
    for i, c in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255), (255, 255, 255)]):
        bars[:, i * 72:(i + 1) * 72] = c
    cols = np.zeros((224, 301), np.uint8)
    cols[:, ::10] = 255
    # RGBA with stored green under alpha 0 (left) and opaque red (right): the colour under
    # fully transparent pixels must not bleed into the resized image.
    half = np.zeros((256, 256, 4), np.uint8)
    half[:, :128] = (0, 255, 0, 0)
    half[:, 128:] = (255, 0, 0, 255)
    cases += [('b09_bars.png', Image.fromarray(bars), {}), ('b09_cols.png', Image.fromarray(cols).convert('RGB'), {}),
              ('b11_rgba.png', Image.fromarray(half, 'RGBA'), {})]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for name, im, kw in cases:
            p = os.path.join(tmp, name)
            im.save(p, **kw)
            runs.append((name, p, False))
        # GIFs whose first frame covers only part of the canvas (patched logical screen and
        # frame position): outside it Pillow shows palette index 0 / the transparency index.
        for name, kw in (('small_frame.gif', {}), ('small_frame_trns.gif', {'transparency': 2})):
            p = os.path.join(tmp, name)
            small = src.resize((40, 30)).quantize(16)
            small.save(p, **kw)
            b = bytearray(open(p, 'rb').read())
            b[6:10] = (97).to_bytes(2, 'little') + (61).to_bytes(2, 'little')
            at = b.index(b'\x2c', 13 + 3 * (2 << (b[10] & 7)))
            b[at + 1:at + 5] = (11).to_bytes(2, 'little') + (7).to_bytes(2, 'little')
            open(p, 'wb').write(bytes(b))
            runs.append((name, p, False))
        # 16-bit RGB / RGBA / gray+alpha: Pillow keeps the high byte (RGB, RGBA, LA)
        rng = np.random.default_rng(7)
        base = np.asarray(src.resize((120, 90))).astype(np.uint16) * 257 + rng.integers(0, 256, (90, 120, 3), dtype=np.uint16)
        alpha = (np.arange(120, dtype=np.uint16) * 550)[None, :, None].repeat(90, 0)
        for name, arr, ct in (('rgb16.png', base, 2), ('rgba16.png', np.concatenate([base, alpha], 2), 6),
                              ('la16.png', np.concatenate([base[:, :, :1], alpha], 2), 4)):
            p = os.path.join(tmp, name)
            write_png16(p, arr, ct)
            runs.append((name, p, False))
        for o in range(1, 9):
            p = os.path.join(tmp, f'orientation{o}.jpg')
            ex = Image.Exif()
            ex[0x0112] = o
            src.save(p, quality=95, exif=ex.tobytes())
            runs.append((f'orientation{o}.jpg (apply)', p, True))
        for name, p, exif in runs:
            x, mode = ours(p, exif, os.path.join(tmp, 'out.f32'))
            d = np.abs(x - official(p, exif))
            if mode != Image.open(p).mode:
                print(f'FAIL {name}: clipdb reports mode {mode}, Pillow {Image.open(p).mode}')
                failures += 1
            u8 = d * STD.reshape(3, 1, 1) * 255
            ok = (u8.max() <= 4 + 1e-3) if p.endswith('.jpg') else d.max() <= 1e-6
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name:28s} mode {Image.open(p).mode:4s} max|d| {d.max():.3g} (uint8 {u8.max():.2f})")
    print(f'{failures} failure(s)')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
