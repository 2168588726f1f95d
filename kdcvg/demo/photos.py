"""Product photos the project draws itself, for the example catalogue (no footage needed).

`render_photo` draws one product as a studio shot with Pillow: a soft, lightly
textured backdrop (so that a camera move over it reads as motion), a shadow, the
product's silhouette in its colour with a highlight, and its brand on a label.
`render_catalogue_photos(folder)` draws `photos/<product id>.png` for every
product in `folder/photos.json` (shape and colour) and `folder/catalogue.jsonl`
(brand), plus `photos/<product id>.png.json` sidecars naming the product.
Deterministic: the same inputs give the same pixels. The photos are drawn when
needed rather than committed (their grain makes them large to store):

    python -m kdcvg.demo.photos examples/catalogue [OUT]
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

PHOTO_SIZE = (480, 480)
SHAPES = ("bottle", "can", "carton", "jar", "tube", "dropper", "spray", "bag", "kettle", "pan",
          "blender", "knife", "lamp", "mop", "disc", "case", "watch", "stand", "speaker")


def _seed(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def _backdrop(size: tuple[int, int], colour: tuple[int, int, int], seed: int) -> np.ndarray:
    """A pale gradient tinted by the product colour, with faint soft shapes and grain."""
    from PIL import Image, ImageDraw, ImageFilter

    w, h = size
    rng = np.random.default_rng(seed)
    tint = np.asarray(colour, dtype=np.float32)
    top = 0.82 * np.full(3, 255.0) + 0.18 * tint
    bottom = 0.62 * np.full(3, 235.0) + 0.38 * tint * 0.8
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    img = Image.fromarray(np.broadcast_to(top * (1 - t) + bottom * t, (h, w, 3)).astype(np.uint8))
    shapes = Image.new("RGB", size, (0, 0, 0))
    draw = ImageDraw.Draw(shapes)
    for _ in range(26):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        r = int(rng.integers(w // 30, w // 8))
        level = int(rng.integers(20, 60))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(level, level, level))
    shapes = shapes.filter(ImageFilter.GaussianBlur(w / 90))
    arr = np.asarray(img, dtype=np.float32) + np.asarray(shapes, dtype=np.float32) * 0.6
    arr += rng.normal(0.0, 4.0, (h, w, 1))
    return np.clip(arr, 0, 255).astype(np.uint8)


def _silhouette(shape: str, w: int, h: int) -> list[tuple[str, tuple[int, int, int, int]]]:
    """The product drawn as rounded boxes and ellipses: (kind, box) in a w x h frame."""
    cx = w // 2
    body = {
        "bottle": [("round", (cx - 55, 150, cx + 55, 400)), ("round", (cx - 22, 95, cx + 22, 160))],
        "can": [("round", (cx - 60, 170, cx + 60, 390))],
        "carton": [("box", (cx - 65, 150, cx + 65, 395)), ("tri", (cx - 65, 150, cx + 65, 110))],
        "jar": [("round", (cx - 85, 250, cx + 85, 390)), ("box", (cx - 90, 225, cx + 90, 262))],
        "tube": [("round", (cx - 40, 130, cx + 40, 395)), ("box", (cx - 30, 100, cx + 30, 135))],
        "dropper": [("round", (cx - 48, 220, cx + 48, 395)), ("round", (cx - 14, 120, cx + 14, 225))],
        "spray": [("round", (cx - 50, 190, cx + 50, 395)), ("box", (cx - 18, 135, cx + 30, 195))],
        "bag": [("round", (cx - 95, 140, cx + 95, 400))],
        "kettle": [("ellipse", (cx - 100, 200, cx + 100, 395)), ("box", (cx + 85, 240, cx + 125, 320))],
        "pan": [("ellipse", (cx - 130, 250, cx + 90, 370)), ("box", (cx + 80, 295, cx + 200, 320))],
        "blender": [("round", (cx - 65, 110, cx + 65, 320)), ("box", (cx - 85, 320, cx + 85, 400))],
        "knife": [("tri", (cx - 170, 300, cx + 60, 250)), ("round", (cx + 55, 268, cx + 180, 300))],
        "lamp": [("box", (cx - 8, 160, cx + 8, 380)), ("ellipse", (cx - 80, 130, cx + 40, 190)),
                 ("ellipse", (cx - 70, 370, cx + 70, 400))],
        "mop": [("box", (cx - 6, 90, cx + 6, 360)), ("round", (cx - 110, 350, cx + 110, 395))],
        "disc": [("ellipse", (cx - 150, 280, cx + 150, 380))],
        "case": [("round", (cx - 90, 230, cx + 90, 370))],
        "watch": [("box", (cx - 35, 120, cx + 35, 380)), ("round", (cx - 70, 185, cx + 70, 315))],
        "stand": [("box", (cx - 110, 350, cx + 110, 390)), ("round", (cx - 70, 140, cx + 70, 355))],
        "speaker": [("round", (cx - 70, 140, cx + 70, 395))],
    }
    return body.get(shape, body["bottle"])


def render_photo(
    shape: str, colour: tuple[int, int, int], brand: str, seed: int = 0,
    size: tuple[int, int] = PHOTO_SIZE,
) -> np.ndarray:
    """One product photo.

    Args:
        shape: one of `SHAPES` (others draw a bottle).
        colour: the product's RGB colour.
        brand: written on the product's label.
        seed: the backdrop's texture.
        size: (width, height); shapes are laid out for 480 x 480 and scaled.

    Returns:
        (height, width, 3) uint8.
    """
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    base = (480, 480)
    canvas = Image.fromarray(_backdrop(base, colour, seed))
    parts = _silhouette(shape, *base)
    shadow = Image.new("L", base, 0)
    ImageDraw.Draw(shadow).ellipse((base[0] // 2 - 150, 380, base[0] // 2 + 150, 420), fill=110)
    canvas.paste((40, 40, 40), (0, 0), shadow.filter(ImageFilter.GaussianBlur(12)))
    draw = ImageDraw.Draw(canvas)
    light = tuple(min(255, int(c * 0.6 + 255 * 0.4)) for c in colour)
    dark = tuple(int(c * 0.7) for c in colour)
    for kind, box in parts:
        x0, y0, x1, y1 = box
        if kind == "tri":
            draw.polygon([(x0, y0), (x1, y0), ((x0 + x1) // 2, y1)], fill=dark)
        elif kind == "ellipse":
            draw.ellipse(box, fill=tuple(colour), outline=dark, width=3)
        else:
            radius = 0 if kind == "box" else min(x1 - x0, y1 - y0) // 5
            draw.rounded_rectangle(box, radius=radius, fill=tuple(colour), outline=dark, width=3)
    main = max((b for k, b in parts if k != "tri"), key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    x0, y0, x1, y1 = main
    draw.rounded_rectangle((x0 + 8, y0 + 10, x0 + 8 + max(6, (x1 - x0) // 8), y1 - 14),
                           radius=4, fill=light)  # a highlight down the body
    label_h = max(24, (y1 - y0) // 5)
    ly = (y0 + y1) // 2 - label_h // 2
    draw.rectangle((x0 + 4, ly, x1 - 4, ly + label_h), fill=(250, 248, 240))
    fnt = ImageFont.load_default(size=max(12, label_h // 2))
    text = brand.upper()
    while fnt.getlength(text) > (x1 - x0) - 16 and len(text) > 1:
        text = text[:-1]
    tw = fnt.getlength(text)
    draw.text(((x0 + x1 - tw) / 2, ly + label_h * 0.22), text, font=fnt, fill=dark)
    if size != base:
        canvas = canvas.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(canvas)


def render_catalogue_photos(folder: str | Path, out: str | Path | None = None) -> list[Path]:
    """Draw `<id>.png` (and a `<id>.png.json` sidecar naming the product) for each product
    of a catalogue folder into `out` (default `folder/photos`); returns the PNG paths."""
    from PIL import Image

    folder = Path(folder)
    specs = json.loads((folder / "photos.json").read_text())
    brands = {}
    for line in (folder / "catalogue.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("type") == "product":
            brands[record["id"]] = (record.get("brand") or record["name"], record["name"])
    out = Path(out) if out is not None else folder / "photos"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for product, spec in sorted(specs.items()):
        brand, name = brands[product]
        pixels = render_photo(spec["shape"], tuple(spec["colour"]), brand, seed=_seed(product))
        path = out / f"{product}.png"
        Image.fromarray(pixels).save(path)
        sidecar = {"id": f"photo-{product.removeprefix('p-')}", "product": product,
                   "caption": f"Studio photo of the {name}", "tags": ["photo", "catalogue"]}
        (out / f"{product}.png.json").write_text(json.dumps(sidecar, indent=1) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    paths = render_catalogue_photos(sys.argv[1] if len(sys.argv) > 1 else "examples/catalogue",
                                    sys.argv[2] if len(sys.argv) > 2 else None)
    print(f"{len(paths)} photos in {paths[0].parent if paths else '-'}")
