#!/usr/bin/python3
"""Write the EXIF orientation test photos to tests/data/exif/ (run with Debian's python3-pil).

One 320x160 JPEG, left half pure red and right half pure blue, saved without an EXIF
orientation tag (no-tag.jpg) and with Orientation = 3, 6 and 8 (orientationN.jpg). Displayed upright
(ImageOps.exif_transpose, or any browser) orientation 6 puts red on top, 8 puts blue on top
and 3 swaps left and right. The files are small and committed; rerunning rewrites them
(byte-identical with the same Pillow/libjpeg).
"""
import os
import sys

from PIL import Image

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'data', 'exif')
os.makedirs(out, exist_ok=True)
img = Image.new('RGB', (320, 160), (0, 0, 255))
img.paste((255, 0, 0), (0, 0, 160, 160))
for o in (None, 3, 6, 8):
    name = 'no-tag.jpg' if o is None else f'orientation{o}.jpg'
    kw = {}
    if o is not None:
        exif = Image.Exif()
        exif[0x0112] = o  # Orientation
        kw['exif'] = exif.tobytes()
    img.save(os.path.join(out, name), 'JPEG', quality=95, **kw)
    print(name, file=sys.stderr)
