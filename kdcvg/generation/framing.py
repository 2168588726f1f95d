"""Fitting any frame to an ad's format: smart crop, then padding over a blurred backdrop.

Both the compose backend and the outputs layer (for backends that return small
square frames) use these, so every video of a format is framed the same way.

A crop never throws away more than `MAX_CROP_LOSS` of the source's width (or
height); whatever the crop cannot reach is padding, filled with a darkened, blurred
copy of the frame, the way vertical ads repurpose landscape footage. Inside
those limits the crop keeps the band with the most motion and detail.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

MAX_CROP_LOSS = 0.45
_ANALYSIS_WIDTH = 96  # energy maps are computed on frames this wide


def crop_window(
    frames: Sequence[np.ndarray],
    source_size: tuple[int, int],
    size: tuple[int, int],
    max_loss: float = MAX_CROP_LOSS,
) -> tuple[int, int, int, int]:
    """The (x, y, w, h) window of the source to show in an output of `size`.

    The window has the output's aspect when that loses at most `max_loss` of the
    source along the cut axis; otherwise it keeps `1 - max_loss` of it and the rest
    of the output is padding. Its position maximises motion plus detail, with a mild
    pull towards the centre so that ties stay centred.

    Args:
        frames: a few source frames (H, W, 3) uint8; may be empty (centred crop).
        source_size: (width, height) of the frames.
        size: output (width, height).
    """
    src_w, src_h = source_size
    out_aspect = size[0] / size[1]
    if abs(src_w / src_h - out_aspect) < 1e-3:
        return 0, 0, src_w, src_h
    horizontal = src_w / src_h > out_aspect  # the source is wider: choose x
    if horizontal:
        w = int(round(max(src_h * out_aspect, src_w * (1.0 - max_loss))))
        w = min(src_w, w)
        x = _best_offset(_profile(frames, axis=0), src_w, w)
        return x, 0, w, src_h
    h = int(round(max(src_w / out_aspect, src_h * (1.0 - max_loss))))
    h = min(src_h, h)
    y = _best_offset(_profile(frames, axis=1), src_h, h)
    return 0, y, src_w, h


def _profile(frames: Sequence[np.ndarray], axis: int) -> np.ndarray | None:
    """Motion-plus-detail energy summed across `axis` (0: per column, 1: per row)."""
    import cv2

    if not frames:
        return None
    step = max(1, len(frames) // 8)
    sample = list(frames[::step])[:8]
    h, w = sample[0].shape[:2]
    small_size = (_ANALYSIS_WIDTH, max(2, int(round(_ANALYSIS_WIDTH * h / w))))
    grey = [cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), small_size,
                       interpolation=cv2.INTER_AREA).astype(np.float32) for f in sample]
    detail = np.zeros_like(grey[0])
    for g in grey:
        detail += np.abs(cv2.Sobel(g, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(g, cv2.CV_32F, 0, 1))
    energy = detail / (detail.mean() + 1e-6)
    if len(grey) > 1:
        motion = sum(np.abs(a - b) for a, b in zip(grey, grey[1:], strict=False))
        assert isinstance(motion, np.ndarray)
        if motion.mean() > 1e-3:
            energy = energy + 2.0 * motion / motion.mean()
    return np.asarray(energy.sum(axis=axis), dtype=np.float64)


def _best_offset(profile: np.ndarray | None, length: int, window: int) -> int:
    """Offset of the window (source pixels) that holds the most energy."""
    room = length - window
    if room <= 0:
        return 0
    if profile is None or profile.sum() <= 0:
        return room // 2
    n = len(profile)
    win = max(1, int(round(window * n / length)))
    sums = np.convolve(profile, np.ones(win), mode="valid")  # energy in each window position
    centres = np.arange(len(sums)) + win / 2
    pull = 1.0 - 0.2 * np.abs(centres - n / 2) / max(1.0, (n - win) / 2 + 1e-6)
    best = int(np.argmax(sums * pull))
    return int(round(best * (length / n))) if len(sums) > 1 else room // 2


def fit_frame(
    frame: np.ndarray,
    size: tuple[int, int],
    window: tuple[float, float, float, float] | None = None,
    angle: float = 0.0,
) -> np.ndarray:
    """Show `window` of `frame` in an output of `size` (width, height), padding what is left.

    Args:
        frame: RGB uint8 (H, W, 3).
        size: output (width, height).
        window: (x, y, w, h) of the frame to show; None: `crop_window` without analysis.
        angle: rotation of the window in degrees (for orbit-like camera moves).

    Returns:
        RGB uint8 (size[1], size[0], 3), a new array.
    """

    out_w, out_h = size
    src_h, src_w = frame.shape[:2]
    if window is None:
        window = tuple(float(v) for v in crop_window([], (src_w, src_h), size))  # type: ignore[assignment]
    assert window is not None
    x, y, w, h = window
    scale = min(out_w / w, out_h / h)
    fg_w, fg_h = min(out_w, int(round(w * scale))), min(out_h, int(round(h * scale)))
    if out_w - fg_w < 4:
        fg_w = out_w
    if out_h - fg_h < 4:
        fg_h = out_h
    fg = _warp(frame, (x, y, w, h), (fg_w, fg_h), angle)
    if (fg_w, fg_h) == (out_w, out_h):
        return fg
    out = _backdrop(frame, size)
    ox, oy = (out_w - fg_w) // 2, (out_h - fg_h) // 2
    out[oy:oy + fg_h, ox:ox + fg_w] = fg
    return out


def _warp(
    frame: np.ndarray,
    window: tuple[float, float, float, float],
    size: tuple[int, int],
    angle: float,
) -> np.ndarray:
    import cv2

    x, y, w, h = window
    out_w, out_h = size
    interp = cv2.INTER_AREA if w > out_w else cv2.INTER_LINEAR
    if angle == 0.0 and all(float(v).is_integer() for v in window):
        region = frame[int(y):int(y + h), int(x):int(x + w)]
        return cv2.resize(region, (out_w, out_h), interpolation=interp)
    sx, sy = out_w / w, out_h / h
    cx, cy = x + w / 2, y + h / 2
    a = math.radians(angle)
    cos, sin = math.cos(a), math.sin(a)
    # source -> output: translate the window centre to the origin, rotate, scale, recentre
    m = np.array([[sx * cos, sx * sin, 0.0], [-sy * sin, sy * cos, 0.0]], dtype=np.float64)
    m[:, 2] = np.array([out_w / 2, out_h / 2]) - m[:, :2] @ np.array([cx, cy])
    return cv2.warpAffine(frame, m, (out_w, out_h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


def _backdrop(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A darkened, blurred copy of `frame` covering `size`: the padding behind the picture."""
    import cv2

    out_w, out_h = size
    src_h, src_w = frame.shape[:2]
    aspect = out_w / out_h
    if src_w / src_h > aspect:
        cw, ch = int(src_h * aspect), src_h
    else:
        cw, ch = src_w, int(src_w / aspect)
    x0, y0 = (src_w - cw) // 2, (src_h - ch) // 2
    small = cv2.resize(frame[y0:y0 + ch, x0:x0 + cw], (max(8, out_w // 12), max(8, out_h // 12)),
                       interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 2.0)
    small = cv2.convertScaleAbs(small, alpha=0.5)
    return cv2.resize(small, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
