"""Simple product drawings for the demo catalog (Pillow only, nothing downloaded).

Each category has its own shape language (a mug with a handle, a shoe silhouette, a phone with a
screen, ...) drawn in the product's colour with the brand as a label. `draw_product` returns the object
on a transparent layer; `render_jpeg` puts it on a background with a shop's "camera" (`View`: tint,
scale, rotation, offset, JPEG quality), so two shops' photos of one product look alike but not equal.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

from PIL import Image, ImageDraw, ImageFont, ImageOps

RGB = tuple[int, int, int]
CANVAS = 320  # drawn at 2x the default output size, then downsampled: smooth edges
_INK_DARK: RGB = (22, 22, 26)
_INK_LIGHT: RGB = (246, 246, 242)


@dataclass(frozen=True)
class View:
    """How one shop photographs a product.

    background: RGB of the backdrop; scale: object size relative to the canvas (1.0 fills it);
    angle: rotation in degrees, counter-clockwise; offset: (dx, dy) shift in output pixels;
    quality: JPEG quality 1-95; size: output width = height in pixels.
    """

    background: RGB = (250, 250, 250)
    scale: float = 1.0
    angle: float = 0.0
    offset: tuple[int, int] = (0, 0)
    quality: int = 88
    size: int = 160


def shade(c: RGB, f: float) -> RGB:
    """Darker (f < 1) or lighter (f > 1, mixed towards white) version of a colour."""
    if f <= 1:
        return tuple(int(v * f) for v in c)  # type: ignore[return-value]
    t = min(f - 1, 1.0)
    return tuple(int(v + (255 - v) * t) for v in c)  # type: ignore[return-value]


def _ink(c: RGB) -> RGB:
    """Readable text colour on a background of colour c."""
    luminance = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
    return _INK_DARK if luminance > 150 else _INK_LIGHT


# Each shape draws on a CANVAS x CANVAS RGBA layer and returns (label centre x, y, background colour
# under the label, font size) so the brand label lands on the product.
Shape = Callable[[ImageDraw.ImageDraw, RGB, RGB, int], tuple[int, int, RGB, int]]


def _headphones(d: ImageDraw.ImageDraw, c: RGB, a: RGB, detail: int) -> tuple[int, int, RGB, int]:
    d.arc((62, 36, 258, 250), 180, 360, fill=c, width=24)
    d.arc((78, 52, 242, 234), 200, 340, fill=shade(c, 0.6), width=6)
    for x0 in (36, 220):
        d.rounded_rectangle((x0, 140, x0 + 64, 256), radius=26, fill=c)
        inner = x0 + 54 if x0 < 160 else x0 - 16
        d.rounded_rectangle((inner, 156, inner + 22, 240), radius=10, fill=shade(c, 0.45))
        if detail % 2:
            d.ellipse((x0 + 14, 170, x0 + 50, 226), outline=a, width=6)
    return 160, 128, (255, 255, 255), 20


def _smartphone(d: ImageDraw.ImageDraw, c: RGB, a: RGB, detail: int) -> tuple[int, int, RGB, int]:
    d.rounded_rectangle((92, 26, 228, 294), radius=24, fill=c)
    screen = (24, 28, 42)
    d.rounded_rectangle((102, 44, 218, 276), radius=14, fill=screen)
    d.ellipse((150, 32, 170, 42), fill=shade(c, 0.4))
    if detail % 3 == 0:  # wallpaper blob
        d.ellipse((112, 150, 208, 246), fill=a)
    else:  # app grid, its size varies per model
        cols = 3 + detail % 2
        step = 96 // cols
        for i in range(cols * (2 + detail % 3)):
            x, y = 114 + (i % cols) * step, 150 + (i // cols) * step
            tone = shade(a, 1.0 + 0.1 * (i % 3))
            d.rounded_rectangle((x, y, x + step - 10, y + step - 10), radius=5, fill=tone)
    return 160, 100, screen, 20


def _running_shoe(d: ImageDraw.ImageDraw, c: RGB, a: RGB, detail: int) -> tuple[int, int, RGB, int]:
    d.polygon([(46, 214), (52, 150), (92, 118), (126, 140), (176, 150), (234, 176), (280, 196),
               (290, 216)], fill=c)
    d.polygon([(46, 214), (52, 150), (80, 128), (84, 214)], fill=shade(c, 0.7))  # heel counter
    d.rounded_rectangle((36, 210, 294, 246), radius=16, fill=shade(a, 1.7))  # midsole
    d.rectangle((40, 236, 290, 248), fill=shade(c, 0.35))  # outsole
    stripe_y = 196 - (detail % 3) * 8
    d.polygon([(96, stripe_y + 8), (214, stripe_y - 26), (228, stripe_y - 16), (102, stripe_y + 18)], fill=a)
    for i in range(4):
        x = 132 + i * 14
        d.line((x, 142 + i * 3, x + 10, 156 + i * 3), fill=_INK_LIGHT, width=4)
    return 150, 224, shade(a, 1.7), 16


def _backpack(d: ImageDraw.ImageDraw, c: RGB, a: RGB, detail: int) -> tuple[int, int, RGB, int]:
    d.arc((128, 18, 192, 82), 180, 360, fill=shade(c, 0.5), width=10)
    d.rounded_rectangle((78, 48, 242, 292), radius=48, fill=c)
    d.arc((92, 62, 228, 190), 200, 340, fill=shade(c, 0.55), width=5)  # zip
    pocket = a if detail % 2 else shade(c, 0.7)
    d.rounded_rectangle((104, 168, 216, 278), radius=22, fill=pocket)
    if detail % 3 == 1:  # side bottle pockets
        d.rounded_rectangle((62, 190, 86, 276), radius=10, fill=shade(c, 0.75))
        d.rounded_rectangle((234, 190, 258, 276), radius=10, fill=shade(c, 0.75))
    return 160, 222, pocket, 18


def _mug(d: ImageDraw.ImageDraw, c: RGB, a: RGB, detail: int) -> tuple[int, int, RGB, int]:
    d.ellipse((196, 112, 278, 216), outline=c, width=20)
    d.rectangle((70, 84, 222, 262), fill=c)
    d.ellipse((70, 246, 222, 280), fill=c)
    d.ellipse((70, 66, 222, 102), fill=shade(c, 0.55), outline=shade(c, 1.3), width=5)
    if detail % 2:
        d.rectangle((70, 226, 222, 242), fill=a)
    return 146, 168, c, 22


def _watch(d: ImageDraw.ImageDraw, c: RGB, a: RGB, detail: int) -> tuple[int, int, RGB, int]:
    d.rounded_rectangle((124, 10, 196, 310), radius=14, fill=c)
    for y in (250, 270, 290):
        d.ellipse((155, y, 165, y + 10), fill=shade(c, 0.45))
    metal = (214, 182, 96) if detail % 3 == 0 else (190, 192, 198)
    d.ellipse((82, 82, 238, 238), fill=metal)
    d.rectangle((236, 150, 252, 170), fill=metal)  # crown
    dial: RGB = (246, 244, 236) if detail % 2 else (30, 34, 48)
    d.ellipse((98, 98, 222, 222), fill=dial)
    ink = _ink(dial)
    for k in range(12):
        x, y = [(160, 108), (189, 116), (210, 131), (212, 160), (210, 189), (189, 204),
                (160, 212), (131, 204), (110, 189), (108, 160), (110, 131), (131, 116)][k]
        d.ellipse((x - 3, y - 3, x + 3, y + 3), fill=ink)
    d.line((160, 160, 160, 122), fill=ink, width=6)
    d.line((160, 160, 190, 172), fill=a, width=4)
    return 160, 190, dial, 13


def _laptop(d: ImageDraw.ImageDraw, c: RGB, a: RGB, detail: int) -> tuple[int, int, RGB, int]:
    d.rounded_rectangle((48, 36, 272, 204), radius=10, fill=c)
    screen = (26, 30, 44)
    d.rectangle((60, 48, 260, 192), fill=screen)
    if detail % 2:
        d.polygon([(60, 192), (60, 120), (160, 80), (260, 150), (260, 192)], fill=a)
    else:
        d.ellipse((170, 70, 250, 150), fill=a)
    d.polygon([(34, 206), (286, 206), (310, 244), (10, 244)], fill=shade(c, 1.15))
    d.rectangle((60, 212, 260, 226), fill=shade(c, 0.75))  # keyboard
    d.rectangle((136, 230, 184, 240), fill=shade(c, 0.85))  # trackpad
    return 110, 170, screen, 20


def _desk_lamp(d: ImageDraw.ImageDraw, c: RGB, a: RGB, detail: int) -> tuple[int, int, RGB, int]:
    d.polygon([(202, 158), (272, 132), (300, 250), (164, 250)], fill=(255, 236, 160, 110))  # light
    d.ellipse((62, 252, 198, 292), fill=c)
    arm = shade(c, 0.7)
    elbow = (96, 150) if detail % 2 else (120, 160)
    d.line((130, 268, *elbow), fill=arm, width=12)
    d.line((*elbow, 204, 92), fill=arm, width=12)
    for x, y in ((130, 268), elbow, (204, 92)):
        d.ellipse((x - 10, y - 10, x + 10, y + 10), fill=shade(c, 0.5))
    d.polygon([(184, 72), (228, 54), (276, 136), (200, 162)], fill=c)
    return 130, 272, c, 16


def _bottle(d: ImageDraw.ImageDraw, c: RGB, a: RGB, detail: int) -> tuple[int, int, RGB, int]:
    cap = a if detail % 2 else shade(c, 0.5)
    d.rounded_rectangle((128, 18, 192, 66), radius=10, fill=cap)
    d.rectangle((138, 62, 182, 86), fill=shade(c, 0.8))
    d.rounded_rectangle((102, 78, 218, 298), radius=34, fill=c)
    d.rectangle((102, 140 + (detail % 3) * 10, 218, 160 + (detail % 3) * 10), fill=a)
    return 160, 226, c, 16


def _tshirt(d: ImageDraw.ImageDraw, c: RGB, a: RGB, detail: int) -> tuple[int, int, RGB, int]:
    d.polygon([(100, 38), (134, 28), (160, 48), (186, 28), (220, 38), (288, 96), (252, 138),
               (226, 118), (226, 292), (94, 292), (94, 118), (68, 138), (32, 96)], fill=c)
    d.arc((128, 8, 192, 66), 0, 180, fill=shade(c, 0.6), width=8)
    if detail % 3 == 1:
        d.rectangle((94, 206, 226, 222), fill=a)
    elif detail % 3 == 2:
        d.rectangle((186, 120, 212, 148), outline=shade(c, 0.6), width=4)  # chest pocket
    return 160, 168, c, 24


def _sunglasses(d: ImageDraw.ImageDraw, c: RGB, a: RGB, detail: int) -> tuple[int, int, RGB, int]:
    lens = shade(a, 0.35)
    boxes = ((36, 112, 148, 206), (172, 112, 284, 206))
    for box in boxes:
        if detail % 2:
            d.ellipse(box, fill=lens, outline=c, width=10)
        else:
            d.rounded_rectangle(box, radius=22, fill=lens, outline=c, width=10)
    d.arc((136, 118, 184, 166), 200, 340, fill=c, width=9)
    d.line((38, 132, 8, 120), fill=c, width=9)
    d.line((282, 132, 312, 120), fill=c, width=9)
    return 160, 250, (255, 255, 255), 22


def _kettle(d: ImageDraw.ImageDraw, c: RGB, a: RGB, detail: int) -> tuple[int, int, RGB, int]:
    d.rounded_rectangle((66, 260, 254, 288), radius=8, fill=(60, 60, 64))
    d.arc((196, 96, 292, 236), 270, 90, fill=shade(c, 0.6), width=18)
    d.polygon([(98, 152), (40, 100), (30, 108), (82, 196)], fill=c)  # spout
    d.polygon([(98, 90), (222, 90), (246, 262), (74, 262)], fill=c)
    d.ellipse((108, 74, 212, 106), fill=shade(c, 0.7))
    d.ellipse((150, 66, 170, 82), fill=(60, 60, 64))
    if detail % 2:
        d.rectangle((206, 130, 218, 230), fill=shade(a, 1.5))  # water window
    return 160, 196, c, 20


SHAPES: dict[str, Shape] = {
    "headphones": _headphones, "smartphone": _smartphone, "running_shoes": _running_shoe,
    "backpack": _backpack, "mug": _mug, "watch": _watch, "laptop": _laptop,
    "desk_lamp": _desk_lamp, "bottle": _bottle, "tshirt": _tshirt, "sunglasses": _sunglasses,
    "kettle": _kettle,
}


def _label_font(text: str, size: int, max_width: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at `size`, shrunk until `text` fits in max_width pixels."""
    while True:
        font = ImageFont.load_default(size=size)
        if size <= 8 or ImageDraw.Draw(Image.new("L", (1, 1))).textlength(text, font=font) <= max_width:
            return font
        size -= 2


def draw_product(category: str, colour: RGB, accent: RGB, detail: int, label: str,
                 mirror: bool = False) -> Image.Image:
    """The product drawn on a transparent CANVAS x CANVAS RGBA layer.

    detail (any int) picks small per-model differences (stripes, dial, screen); label is drawn
    unmirrored even on a mirrored view, like a photo of the product's other side.
    """
    if category not in SHAPES:
        raise KeyError(f"no drawing for category {category!r}")
    layer = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    d.ellipse((48, 284, 272, 308), fill=(0, 0, 0, 46))  # floor shadow
    x, y, under, size = SHAPES[category](d, colour, accent, detail)
    if mirror:
        layer = ImageOps.mirror(layer)
        x = CANVAS - x
        d = ImageDraw.Draw(layer)
    font = _label_font(label, size, 120)
    d.text((x, y), label, fill=_ink(under), font=font, anchor="mm")
    return layer


def render_jpeg(layer: Image.Image, view: View) -> bytes:
    """JPEG bytes of `layer` (from draw_product) photographed with `view`: view.size x view.size RGB."""
    # Box-filter down to the output size first (antialiasing), then scale and rotate the small image.
    obj = layer.reduce(CANVAS // view.size) if CANVAS % view.size == 0 else layer.resize(
        (view.size, view.size), Image.Resampling.LANCZOS)
    if view.scale != 1.0:
        side = max(1, round(view.size * view.scale))
        obj = obj.resize((side, side), Image.Resampling.BICUBIC)
    if view.angle:
        obj = obj.rotate(view.angle, resample=Image.Resampling.BICUBIC, expand=True)
    photo = Image.new("RGB", (view.size, view.size), view.background)
    x = (view.size - obj.width) // 2 + view.offset[0]
    y = (view.size - obj.height) // 2 + view.offset[1]
    photo.paste(obj, (x, y), obj)
    buf = io.BytesIO()
    photo.save(buf, format="JPEG", quality=view.quality)
    return buf.getvalue()
