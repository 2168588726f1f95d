"""Text and call-to-action overlays for rendered ads.

Text is drawn once per scene with Pillow into an RGBA patch, then alpha-blended
onto each frame's region only, so overlays cost little per frame. The font is
the one Pillow bundles (`ImageFont.load_default(size=...)`, Aileron Regular), so
no system font is needed; bold is drawn with a stroke of the text colour.

Safe margins keep text clear of the interface that platforms draw over ads
(captions, buttons and the like sit over the bottom fifth of a 9:16 story).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL.ImageFont import FreeTypeFont

# (left, top, right, bottom) margins as fractions of width / height, per aspect.
SAFE_MARGINS: dict[str, tuple[float, float, float, float]] = {
    "9:16": (0.07, 0.10, 0.07, 0.22),
    "1:1": (0.06, 0.07, 0.06, 0.10),
    "16:9": (0.05, 0.08, 0.05, 0.12),
}
# Brand accents for the call-to-action pill; chosen per product, never at random.
ELLIPSIS = "\u2026"
ACCENTS: tuple[tuple[int, int, int], ...] = (
    (232, 72, 85), (255, 140, 0), (38, 166, 154), (66, 133, 244), (142, 68, 173), (46, 160, 67),
)


@dataclass(frozen=True, eq=False)
class Overlay:
    """An RGBA patch placed at (x, y) on a frame.

    Args:
        rgba: uint8 (h, w, 4) straight (not premultiplied) RGBA pixels.
        x, y: top-left corner on the frame, in pixels.
    """

    rgba: np.ndarray
    x: int
    y: int
    # blend weights at full opacity, computed on first use (see `_weights`)
    full: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)


def format_of(size: tuple[int, int]) -> str:
    """The format name whose aspect is closest to `size` (width, height)."""
    w, h = size
    ratios = {"9:16": 9 / 16, "1:1": 1.0, "16:9": 16 / 9}
    return min(ratios, key=lambda k: abs(ratios[k] - w / h))


def safe_box(size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The (left, top, right, bottom) pixel box where text may go for a frame `size`."""
    w, h = size
    left, top, right, bottom = SAFE_MARGINS[format_of(size)]
    return int(w * left), int(h * top), int(w * (1 - right)), int(h * (1 - bottom))


@cache
def font(size: int) -> FreeTypeFont:
    """Pillow's bundled scalable font at `size` pixels."""
    from PIL import ImageFont

    loaded = ImageFont.load_default(size=size)
    return loaded  # type: ignore[return-value]


def wrap(text: str, fnt: FreeTypeFont, max_width: int, stroke: int = 0) -> list[str]:
    """Greedy word wrap of `text` so that each line is at most `max_width` pixels wide.

    A word wider than a whole line is split into hyphenated pieces that fit, so no text
    ever runs past `max_width` (a frame edge) whatever its words.
    """
    lines: list[str] = []
    current = ""
    for word in text.split():
        for piece in _pieces(word, fnt, max_width, stroke):
            trial = f"{current} {piece}".strip()
            if current and fnt.getlength(trial) + 2 * stroke > max_width:
                lines.append(current)
                current = piece
            else:
                current = trial
    if current:
        lines.append(current)
    return lines or [""]


def _pieces(word: str, fnt: FreeTypeFont, max_width: int, stroke: int) -> list[str]:
    """`word`, or hyphenated pieces of it when it is wider than `max_width` on its own."""
    if fnt.getlength(word) + 2 * stroke <= max_width:
        return [word]
    pieces, current = [], ""
    for ch in word:
        if current and fnt.getlength(current + ch + "-") + 2 * stroke > max_width:
            pieces.append(current + "-")
            current = ch
        else:
            current += ch
    return pieces + [current]


@dataclass(frozen=True)
class FittedText:
    """Text fitted into a box: its font, stroke and lines."""

    font: FreeTypeFont
    stroke: int
    lines: list[str]


def fit_text(
    text: str, max_width: int, max_lines: int, size: int, min_size: int,
    stroke_div: int = 28,
) -> FittedText:
    """The largest font from `size` down to `min_size` at which `text` wraps into
    `max_lines` lines of `max_width` pixels; below that, `max_lines` lines ending in an
    ellipsis after a whole word. Never a line wider than `max_width`.

    Args:
        text: what to draw.
        max_width: pixels a line may take (stroke included).
        max_lines: lines at most.
        size: preferred font size in pixels.
        min_size: smallest font size tried.
        stroke_div: the stroke (bold) is the font size divided by this.
    """
    current = max(min_size, size)
    while True:
        fnt = font(current)
        stroke = max(1, current // stroke_div)
        lines = wrap(text, fnt, max_width - 2, stroke)  # _text_block adds 2 pixels
        if len(lines) <= max_lines or current <= min_size:
            break
        current = max(min_size, int(current * 0.9))
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1].split()
        while last and fnt.getlength(" ".join(last) + ELLIPSIS) + 2 * stroke + 2 > max_width:
            last.pop()
        lines[-1] = " ".join(last) + ELLIPSIS if last else ELLIPSIS
    return FittedText(fnt, stroke, lines)


def _text_block(
    lines: list[str], fnt: FreeTypeFont, colour: tuple[int, int, int], stroke: int,
    align: str = "left",
) -> tuple[np.ndarray, int]:
    """Draw lines into a transparent RGBA block; returns (block, line height)."""
    from PIL import Image, ImageDraw

    ascent, descent = fnt.getmetrics()
    line_h = int((ascent + descent) * 1.12)
    width = max(int(fnt.getlength(line)) for line in lines) + 2 * stroke + 2
    height = line_h * len(lines) + 2 * stroke
    img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        lw = fnt.getlength(line)
        x = stroke + (0 if align == "left" else int((width - 2 * stroke - lw) / 2))
        draw.text((x, stroke + i * line_h), line, font=fnt, fill=(*colour, 255),
                  stroke_width=stroke, stroke_fill=(*colour, 255))
    return np.asarray(img), line_h


def _rounded_box(
    width: int, height: int, radius: int, rgba: tuple[int, int, int, int]
) -> np.ndarray:
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    ImageDraw.Draw(img).rounded_rectangle((0, 0, width - 1, height - 1), radius=radius, fill=rgba)
    return np.asarray(img).copy()


def _paste(dst: np.ndarray, src: np.ndarray, x: int, y: int) -> None:
    """Alpha-composite RGBA `src` over RGBA `dst` at (x, y), in place."""
    h, w = src.shape[:2]
    region = dst[y:y + h, x:x + w].astype(np.float32)
    a = src[..., 3:4].astype(np.float32) / 255.0
    region[..., :3] = src[..., :3] * a + region[..., :3] * (1 - a)
    region[..., 3:4] = 255 * a + region[..., 3:4] * (1 - a)
    dst[y:y + h, x:x + w] = region.astype(np.uint8)


def caption(text: str, size: tuple[int, int]) -> Overlay:
    """The selling-point caption: white bold text on a translucent dark box, lower third.

    Args:
        text: the selling point as the viewer reads it.
        size: frame (width, height).
    """
    w, h = size
    left, top, right, bottom = safe_box(size)
    start = max(14, int(min(w, h) * (0.062 if w < h else 0.052)))
    pad = int(start * 0.55)
    # at most 4 lines keep the box inside the lower part of the frame
    fitted = fit_text(text, right - left - 2 * pad, 4, start, max(12, int(start * 0.7)))
    block, _ = _text_block(fitted.lines, fitted.font, (255, 255, 255), fitted.stroke)
    box_w = min(right - left, block.shape[1] + 2 * pad)
    box = _rounded_box(box_w, block.shape[0] + 2 * pad, pad, (12, 12, 16, 165))
    _paste(box, block[:, : box_w - 2 * pad], pad, pad)
    return Overlay(box, left, bottom - box.shape[0])


def brand_tag(name: str, size: tuple[int, int]) -> Overlay:
    """A small product-name tag at the top of the safe area."""
    w, h = size
    left, top, right, _ = safe_box(size)
    start = max(12, int(min(w, h) * 0.036))
    pad = int(start * 0.45)
    # a long name shrinks, then wraps to a second line, then ends in an ellipsis
    fitted = fit_text(name.upper(), right - left - 2 * pad, 2, start, max(10, int(start * 0.7)),
                      stroke_div=30)
    block, _ = _text_block(fitted.lines, fitted.font, (255, 255, 255), fitted.stroke)
    box = _rounded_box(block.shape[1] + 2 * pad, block.shape[0] + 2 * pad, pad, (0, 0, 0, 110))
    _paste(box, block, pad, pad)
    return Overlay(box, left, top)


def end_card(
    product: str, cta: str, size: tuple[int, int], accent: tuple[int, int, int]
) -> Overlay:
    """The closing card: product name large, the call to action in an accent pill below."""
    w, h = size
    left, top, right, bottom = safe_box(size)
    start = max(16, int(min(w, h) * 0.085))
    fitted = fit_text(product, right - left, 3, start, max(12, int(start * 0.5)), stroke_div=22)
    title, _ = _text_block(fitted.lines, fitted.font, (255, 255, 255), fitted.stroke,
                           align="center")
    cta_size = max(14, int(min(w, h) * 0.055))
    cta_fit = fit_text(cta, right - left - int(cta_size * 1.8), 1, cta_size,
                       max(10, int(cta_size * 0.6)), stroke_div=24)
    cta_font = cta_fit.font
    cta_text, _ = _text_block(cta_fit.lines, cta_font, (255, 255, 255), cta_fit.stroke)
    pad_x, pad_y = int(cta_font.size * 0.9), int(cta_font.size * 0.45)
    pill = _rounded_box(cta_text.shape[1] + 2 * pad_x, cta_text.shape[0] + 2 * pad_y,
                        (cta_text.shape[0] + 2 * pad_y) // 2, (*accent, 245))
    _paste(pill, cta_text, pad_x, pad_y)
    gap = int(cta_font.size * 0.9)
    card_w = min(right - left, max(title.shape[1], pill.shape[1]))
    card_h = title.shape[0] + gap + pill.shape[0]
    card = np.zeros((card_h, card_w, 4), dtype=np.uint8)
    _paste(card, title[:, :card_w], (card_w - min(card_w, title.shape[1])) // 2, 0)
    _paste(card, pill[:, :card_w], (card_w - min(card_w, pill.shape[1])) // 2, title.shape[0] + gap)
    x = left + (right - left - card_w) // 2
    y = top + (bottom - top - card_h) // 2 + int(h * 0.05)
    return Overlay(card, x, y)


def headline(text: str, size: tuple[int, int]) -> Overlay:
    """A designed scene's headline: the selling point large and centred, with a soft shadow."""
    w, h = size
    left, top, right, bottom = safe_box(size)
    start = max(18, int(min(w, h) * 0.085))
    # the shadow is 3 pixels wider on each side than the text it sits under
    fitted = fit_text(text, right - left - 6, 5, start, max(12, int(start * 0.45)), stroke_div=22)
    shadow, _ = _text_block(fitted.lines, fitted.font, (0, 0, 0), fitted.stroke + 3,
                            align="center")
    shadow = shadow.copy()
    shadow[..., 3] = (shadow[..., 3].astype(np.uint16) * 90 // 255).astype(np.uint8)
    block, _ = _text_block(fitted.lines, fitted.font, (255, 255, 255), fitted.stroke,
                           align="center")
    card = shadow
    _paste(card, block, 3, 3)
    x = left + (right - left - card.shape[1]) // 2
    y = top + (bottom - top - card.shape[0]) // 2
    return Overlay(card, max(0, x), max(0, y))


def _weights(overlay: Overlay, opacity_256: int) -> tuple[np.ndarray, np.ndarray]:
    """Premultiplied colour and inverse alpha of an overlay, both uint16 (h, w, 3), 0..256.

    Kept on the overlay at full opacity (most frames); fades compute theirs each time.
    """
    if opacity_256 in overlay.full:
        return overlay.full[opacity_256]
    alpha = (overlay.rgba[..., 3:4].astype(np.uint16) * opacity_256) >> 8
    weights = (overlay.rgba[..., :3] * alpha, np.repeat(256 - alpha, 3, axis=2))
    if opacity_256 == 256:
        overlay.full[opacity_256] = weights
    return weights


def blend(frame: np.ndarray, overlay: Overlay, opacity: float = 1.0, dy: int = 0) -> None:
    """Alpha-blend `overlay` onto `frame` (H, W, 3) in place, shifted down by `dy` pixels.

    Pixels falling outside the frame are clipped; `opacity` scales the overlay's alpha.
    Integer maths with alpha in 0..256, so that the division is by 256; the weights of
    full-opacity weights are computed once per overlay.
    """
    import cv2

    if opacity <= 0.0:
        return
    fh, fw = frame.shape[:2]
    oh, ow = overlay.rgba.shape[:2]
    x0, y0 = overlay.x, overlay.y + dy
    x1, y1 = min(fw, x0 + ow), min(fh, y0 + oh)
    sx, sy = max(0, -x0), max(0, -y0)
    x0, y0 = max(0, x0), max(0, y0)
    if x1 <= x0 or y1 <= y0:
        return
    premultiplied, inverse = _weights(overlay, int(round(min(1.0, opacity) * 256)))
    rows, cols = slice(sy, sy + (y1 - y0)), slice(sx, sx + (x1 - x0))
    region = frame[y0:y1, x0:x1]
    # cv2 releases the GIL, so blending overlaps with encoding in the other thread
    mixed = cv2.add(cv2.multiply(region.astype(np.uint16), inverse[rows, cols]),
                    premultiplied[rows, cols])
    region[...] = (np.asarray(mixed, dtype=np.uint16) >> 8).astype(np.uint8)
