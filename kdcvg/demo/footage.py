"""Synthetic product footage with known motion, drawn with numpy and OpenCV.

Each demo clip (`kdcvg.demo.catalog.ClipSpec`) names a `scene` and the detectable
motion it is rendered with. Camera motions move a virtual camera over a large,
textured "world" image (flow needs texture to be seen); object motions move
drawn things over a still, textured background. Rendering is seeded, so the
same spec gives the same frames.

Example:
    >>> from kdcvg.demo.catalog import DEMO_CLIPS, PRODUCTS
    >>> frames = list(render_clip(DEMO_CLIPS[0], PRODUCTS[0]))
    >>> frames[0].shape
    (192, 192, 3)
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator

import numpy as np

from kdcvg.demo.catalog import ClipSpec, ProductSpec
from kdcvg.errors import VideoError
from kdcvg.media.motion import CAMERA_PATTERNS

OBJECT_SCENES = (
    "pour",
    "splash",
    "drip",
    "slice",
    "spray",
    "unbox",
    "spin",
    "conveyor",
    "bounce",
    "swing",
)

_PAN_SPEED = 0.12  # frame widths per second
_ZOOM_END = 1.45  # scale reached at the end of a zoom
_ROLL_DEG = 45.0  # degrees turned over a roll
_SHAKE_PX = 0.025  # jitter amplitude, frame widths


def _rng(spec: ClipSpec) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(spec.id.encode()))


def _texture(rng: np.random.Generator, h: int, w: int, tint: tuple[int, int, int]) -> np.ndarray:
    """A blotchy coloured texture (H, W, 3) uint8 with detail at several scales."""
    import cv2

    img = np.zeros((h, w, 3), np.float32)
    for scale, amp in ((32, 60.0), (8, 40.0), (2, 25.0)):
        small = rng.random((max(2, h // scale), max(2, w // scale), 3)).astype(np.float32)
        img += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) * amp
    base = np.array(tint, np.float32) * 0.55
    return np.clip(img + base, 0, 255).astype(np.uint8)


def _draw_product(img: np.ndarray, product: ProductSpec, cx: int, cy: int, size: int) -> None:
    """Draw a simple product silhouette with a label stripe, centred at (cx, cy)."""
    import cv2

    color = tuple(int(c) for c in product.color)
    dark = tuple(int(c * 0.5) for c in product.color)
    s = size
    if product.shape in ("bottle", "blender"):
        cv2.rectangle(img, (cx - s // 4, cy - s // 3), (cx + s // 4, cy + s // 2), color, -1)
        cv2.rectangle(img, (cx - s // 10, cy - s // 2), (cx + s // 10, cy - s // 3), dark, -1)
    elif product.shape in ("box", "bag", "case"):
        cv2.rectangle(img, (cx - s // 2, cy - s // 3), (cx + s // 2, cy + s // 3), color, -1)
    elif product.shape == "knife":
        pts = np.array([[cx - s // 2, cy], [cx + s // 2, cy - s // 8], [cx + s // 2, cy + s // 10]])
        cv2.fillPoly(img, [pts.astype(np.int32)], color)
        cv2.rectangle(
            img, (cx - s // 2 - s // 3, cy - s // 16), (cx - s // 2, cy + s // 12), dark, -1
        )
    else:  # watch
        cv2.circle(img, (cx, cy), s // 3, color, -1)
        cv2.rectangle(
            img, (cx - s // 8, cy - s // 2 - s // 8), (cx + s // 8, cy + s // 2 + s // 8), dark, -1
        )
        cv2.circle(img, (cx, cy), s // 4, (230, 230, 230), -1)
    cv2.rectangle(
        img, (cx - s // 5, cy - s // 12), (cx + s // 5, cy + s // 12), (250, 250, 240), -1
    )
    cv2.putText(
        img,
        product.brand[:5],
        (cx - s // 5, cy + s // 24),
        cv2.FONT_HERSHEY_PLAIN,
        max(0.5, s / 120),
        dark,
        1,
        cv2.LINE_AA,
    )


def _camera_frames(spec: ClipSpec, product: ProductSpec, n: int) -> Iterator[np.ndarray]:
    import cv2

    rng = _rng(spec)
    size = spec.size
    world_side = size * 3
    world = _texture(rng, world_side, world_side, product.color)
    c = world_side // 2
    # a shelf of the product around the centre, so pans cross several of them
    for dx in (-size, -size // 2, 0, size // 2, size):
        for dy in (-size // 2, size // 2) if spec.scene == "pan_shelf" else (0,):
            _draw_product(world, product, c + dx, c + dy, size // 3 if dx or dy else size // 2)
    jitter = rng.normal(0.0, 1.0, (n, 2)) * _SHAKE_PX * size
    for i in range(n):
        t = i / spec.fps
        frac = i / max(1, n - 1)
        cx = cy = float(c)
        scale, angle = 1.0, 0.0
        shift = _PAN_SPEED * size * t
        m = spec.motion
        if m == "pan_left":  # camera turns left: the scene moves right
            cx -= shift
        elif m == "pan_right":
            cx += shift
        elif m == "tilt_up":  # camera tilts up: the scene moves down
            cy -= shift
        elif m == "tilt_down":
            cy += shift
        elif m == "zoom_in":
            scale = 1.0 + (_ZOOM_END - 1.0) * frac
        elif m == "zoom_out":
            scale = _ZOOM_END - (_ZOOM_END - 1.0) * frac
        elif m == "rotate":
            angle = _ROLL_DEG * frac
        elif m == "shake":
            cx += jitter[i, 0]
            cy += jitter[i, 1]
        # world point (cx, cy) -> frame centre, scaled and rolled about it
        mat = cv2.getRotationMatrix2D((cx, cy), angle, scale)
        mat[:, 2] += np.array([size / 2 - cx, size / 2 - cy])
        frame = cv2.warpAffine(
            world, mat, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        yield frame


def _particles(img: np.ndarray, pts: np.ndarray, color: tuple[int, int, int], r: int) -> None:
    import cv2

    for x, y in pts:
        cv2.circle(img, (int(x), int(y)), r, color, -1, cv2.LINE_AA)
        cv2.circle(img, (int(x) - r // 2, int(y) - r // 2), max(1, r // 3), (255, 255, 255), -1)


def _object_frames(spec: ClipSpec, product: ProductSpec, n: int) -> Iterator[np.ndarray]:
    import cv2

    rng = _rng(spec)
    s = spec.size
    bg = _texture(rng, s, s, (120, 120, 120))
    r, g, b = product.color
    color = (int(r), int(g), int(b))
    scene = spec.scene
    if scene == "tumble":
        scene = "pour"
    k = 40
    seeds = rng.random((k, 2))
    for i in range(n):
        t = i / spec.fps
        img = bg.copy()
        if scene in ("pour", "splash", "drip"):
            # particles fall through a column into a glass at the bottom
            speed = 0.3 * s  # px / s; slow enough for flow at the analysis rate
            cv2.rectangle(img, (s // 3, int(s * 0.72)), (2 * s // 3, s - 4), (220, 220, 230), 2)
            count = {"pour": k, "splash": k // 2, "drip": k // 4}[scene]
            x = s * (0.42 + 0.16 * seeds[:count, 0])
            y = (seeds[:count, 1] * s * 0.7 + speed * t) % (s * 0.7) + s * 0.02
            _particles(img, np.stack([x, y], 1), color, max(2, s // 40))
        elif scene == "slice":
            cv2.circle(img, (s // 2, int(s * 0.7)), s // 5, (200, 40, 40), -1)
            top = int(-s * 0.4 + 0.5 * s * (t % 2.0))
            _draw_product(img, product, s // 2, top + s // 4, s // 2)
        elif scene in ("spray", "unbox"):
            if scene == "unbox":
                _draw_product(img, product, s // 2, int(s * 0.72), s // 2)
                lid_y = int(s * 0.55 - 0.25 * s * t)
                cv2.rectangle(
                    img,
                    (s // 4, lid_y - s // 12),
                    (3 * s // 4, lid_y + s // 12),
                    tuple(int(c * 0.7) for c in color),
                    -1,
                )
                cv2.putText(
                    img,
                    "OPEN",
                    (s // 3, lid_y + s // 30),
                    cv2.FONT_HERSHEY_PLAIN,
                    max(0.6, s / 150),
                    (255, 255, 255),
                    1,
                )
            else:
                _draw_product(img, product, s // 2, int(s * 0.8), s // 3)
                rise = 0.25 * s
                x = s * (0.4 + 0.2 * seeds[:, 0])
                y = s * 0.7 - (seeds[:, 1] * s * 0.6 + rise * t) % (s * 0.6)
                _particles(img, np.stack([x, y], 1), (235, 235, 255), max(2, s // 50))
        elif scene == "spin":
            disc = _texture(np.random.default_rng(7), s // 2, s // 2, color)
            mat = cv2.getRotationMatrix2D((s / 4, s / 4), 120.0 * t, 1.0)
            rotated = cv2.warpAffine(disc, mat, (s // 2, s // 2), borderMode=cv2.BORDER_REFLECT)
            yy, xx = np.mgrid[: s // 2, : s // 2]
            inside = (xx - s / 4) ** 2 + (yy - s / 4) ** 2 < (s / 4 - 1) ** 2
            region = img[s // 4 : s // 4 + s // 2, s // 4 : s // 4 + s // 2]
            region[inside] = rotated[inside]
        elif scene == "conveyor":
            cv2.rectangle(img, (0, int(s * 0.62)), (s, int(s * 0.8)), (40, 40, 40), -1)
            offset = (0.25 * s * t) % (s / 2)
            for j in range(-1, 3):
                _draw_product(img, product, int(j * s / 2 + offset), int(s * 0.5), s // 3)
        elif scene in ("bounce", "swing"):
            phase = 2 * math.pi * t / 1.5  # two full periods in 3 s
            if scene == "bounce":
                _draw_product(img, product, s // 2, int(s / 2 + 0.1 * s * math.sin(phase)), s // 2)
            else:
                angle = 0.3 * math.sin(phase)
                px, py = s / 2 + 0.4 * s * math.sin(angle), 0.1 * s + 0.4 * s * math.cos(angle)
                cv2.line(img, (s // 2, int(0.1 * s)), (int(px), int(py)), (30, 30, 30), 2)
                _draw_product(img, product, int(px), int(py), s // 3)
        else:
            raise VideoError(
                f"clip {spec.id}: unknown scene {spec.scene!r}, expected one of "
                f"{', '.join(OBJECT_SCENES)} or a camera scene"
            )
        yield img


def render_clip(spec: ClipSpec, product: ProductSpec) -> Iterator[np.ndarray]:
    """Frames (size, size, 3) uint8 of one demo clip, rendered with its ground-truth motion.

    Raises:
        VideoError: odd size, duration outside 1-10 s, or a motion/scene it cannot draw.
    """
    if spec.size % 2 or not 32 <= spec.size <= 512:
        raise VideoError(f"clip {spec.id}: size must be even and in 32..512, got {spec.size}")
    if not 1.0 <= spec.duration_s <= 10.0:
        raise VideoError(f"clip {spec.id}: duration must be 1-10 s, got {spec.duration_s}")
    n = int(round(spec.duration_s * spec.fps))
    if spec.scene in ("still", "pan_shelf", "tilt", "zoom", "roll", "handheld"):
        if spec.motion not in CAMERA_PATTERNS:
            raise VideoError(
                f"clip {spec.id}: camera scene {spec.scene!r} cannot show {spec.motion!r}"
            )
        return _camera_frames(spec, product, n)
    return _object_frames(spec, product, n)
