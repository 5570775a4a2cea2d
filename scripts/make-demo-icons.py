#!/usr/bin/python3
"""Draw the demo's PNG app icons (web/demo/icon-192.png, icon-512.png, icon-maskable-512.png).

The same picture as web/demo/icon.svg (a photo with a sun and hills under a magnifier, on the
theme colour), drawn with Pillow at 4x and scaled down, since Pillow cannot read SVG. The
maskable variant keeps the drawing inside the central 80 % "safe zone" and fills the corners,
so a launcher can cut it to any shape. Run it again after changing the SVG; the PNGs are
committed (the page and its manifest use them; the tests do not regenerate them).
Usage: scripts/make-demo-icons.py
"""
import os
from PIL import Image, ImageDraw

BLUE, PAPER, SUN, HILL = (0x1f, 0x5f, 0x8b), (0xf6, 0xf7, 0xf9), (0xf2, 0xb1, 0x34), (0x3a, 0x8f, 0x5c)
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'web', 'demo')


def draw(side, maskable=False):
    ss = 4  # supersampling
    big = side * ss
    img = Image.new('RGBA', (big, big), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    # Coordinates of icon.svg (a 512 box); the maskable one shrinks them into the safe zone.
    k = big / 512 * (0.8 if maskable else 1.0)
    off = big * 0.1 if maskable else 0

    def p(x, y):
        return (off + x * k, off + y * k)

    if maskable:
        d.rectangle([0, 0, big, big], fill=BLUE)
    else:
        d.rounded_rectangle([0, 0, big - 1, big - 1], radius=96 * k, fill=BLUE)
    d.rounded_rectangle([*p(72, 112), *p(352, 332)], radius=24 * k, fill=PAPER)
    d.ellipse([*p(150 - 34, 180 - 34), *p(150 + 34, 180 + 34)], fill=SUN)
    d.polygon([p(92, 312), p(178, 220), p(238, 282), p(278, 242), p(342, 312)], fill=HILL)
    d.ellipse([*p(330 - 92 - 18, 320 - 92 - 18), *p(330 + 92 + 18, 320 + 92 + 18)], outline=PAPER, width=round(36 * k))
    d.line([p(398, 388), p(460, 450)], fill=PAPER, width=round(44 * k))
    for cx, cy in (p(398, 388), p(460, 450)):  # round caps
        r = 22 * k
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=PAPER)
    return img.resize((side, side), Image.LANCZOS)


if __name__ == '__main__':
    for name, side, maskable in (('icon-192.png', 192, False), ('icon-512.png', 512, False), ('icon-maskable-512.png', 512, True)):
        draw(side, maskable).save(os.path.join(HERE, name), optimize=True)
        print(os.path.join('web/demo', name))
