"""Motion descriptor (dense Farneback optical flow) and the motion-pattern classifier.

The descriptor is a fixed-length float vector (`MOTION_FIELDS`, `MOTION_DIM`)
summarising a clip's motion; `classify` turns it into scored `MotionPattern`
links. Every threshold lives in `Thresholds`, documented in `docs/motion.md`.

Units are resolution- and frame-rate-free: flow is measured in frame widths
(the longer side) per second, positions in frame widths from the centre.
Image axes: x to the right, y downward, so `translation_y > 0` means the scene
moves down the frame (the camera tilts up).

Example:
    >>> from kdcvg.media.video import iter_frames
    >>> d = describe_frames(iter_frames("pour.mp4", sample_fps=8, max_side=128), fps=8)
    >>> classify(d)[0]
    ('pour', 0.93)
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from kdcvg.errors import VideoError

MOTION_FIELDS: tuple[str, ...] = (
    "magnitude",  # mean flow speed, frame widths / s
    "moving_share",  # share of pixels moving faster than `Thresholds.moving_speed`
    "translation_x",  # global (affine) translation, widths / s; > 0 the scene moves right
    "translation_y",  # > 0 the scene moves down
    "divergence",  # global affine divergence, 1 / s; > 0 zoom in
    "curl",  # global affine rotation, rad / s; > 0 clockwise on screen
    "globality",  # share of flow energy the global affine model explains (camera motion)
    "smoothness",  # 1 / (1 + relative frame-to-frame change of the flow field)
    "region_down",  # grid cell with the strongest mean downward flow beyond the global motion
    "region_up",  # grid cell with the strongest mean upward flow beyond the global motion
    "streak_height",  # height of the tallest narrow band of persistent change (a stream), widths
    "streak_width",  # width of that band, widths (0 and 0 when there is none)
    "object_x",  # mean horizontal flow of moving pixels beyond the global motion
    "object_y",  # mean vertical flow of moving pixels beyond the global motion
    "object_curl",  # rotation of the moving pixels about their own centre, rad / s
    "jitter",  # mean change of the global translation between flow pairs, widths / s
    "periodicity",  # highest autocorrelation of the motion signals at a lag >= 2 pairs
    *(f"direction_{i}" for i in range(8)),  # flow direction histogram (E, SE, S, ... 45° bins)
)
MOTION_DIM = len(MOTION_FIELDS)
_F = {name: i for i, name in enumerate(MOTION_FIELDS)}

CAMERA_PATTERNS: tuple[str, ...] = (
    "static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "rotate", "shake",
)
OBJECT_PATTERNS: tuple[str, ...] = ("pour", "rise", "spin", "slide", "periodic")
DETECTABLE_PATTERNS: tuple[str, ...] = CAMERA_PATTERNS + OBJECT_PATTERNS


@dataclass(frozen=True)
class FlowSettings:
    """How frames are sampled and flow is computed (defaults: about 128 px, 8 fps).

    Args:
        max_side: longer side of the analysed frames in pixels.
        sample_fps: analysed frames per second.
        min_frames: short clips are sampled faster (up to their own rate) to reach this.
        grid: cells per side of the region grid (`region_down`, `region_up`).
    """

    max_side: int = 128
    sample_fps: float = 8.0
    min_frames: int = 24
    grid: int = 6


@dataclass(frozen=True)
class Thresholds:
    """Every number the classifier uses, in one place (reasoning in docs/motion.md).

    A score ramps linearly from 0 at `lo` to 1 at `hi` of its evidence.
    """

    moving_speed: float = 0.03  # widths/s above which a pixel counts as moving
    change_level: float = 2.0  # grey levels of mean frame difference: persistent change
    change_over_median: float = 3.0  # ... and this many times the frame's median change
    static_speed: tuple[float, float] = (0.004, 0.02)  # magnitude: static below lo
    static_share: tuple[float, float] = (0.02, 0.15)  # moving_share: static below lo
    camera_globality: tuple[float, float] = (0.5, 0.8)  # globality: camera motion above hi
    pan_speed: tuple[float, float] = (0.02, 0.08)  # |translation_x|
    tilt_speed: tuple[float, float] = (0.02, 0.08)  # |translation_y|
    zoom_rate: tuple[float, float] = (0.03, 0.12)  # |divergence|
    roll_rate: tuple[float, float] = (0.03, 0.12)  # |curl|
    shake_jitter: tuple[float, float] = (0.04, 0.12)  # jitter
    region_speed: tuple[float, float] = (0.03, 0.12)  # region_down / region_up
    streak_aspect: tuple[float, float] = (3.0, 5.0)  # streak_height / streak_width
    streak_height: tuple[float, float] = (0.2, 0.35)  # streak_height, widths
    streak_rise: tuple[float, float] = (0.03, 0.08)  # -object_y: visible upward flow vetoes
    object_speed: tuple[float, float] = (0.01, 0.05)  # |object_x|
    object_spin: tuple[float, float] = (0.3, 1.2)  # |object_curl|
    periodic: tuple[float, float] = (0.3, 0.6)  # periodicity
    min_link_score: float = 0.3  # weaker patterns are not linked (the top one always is)


DEFAULT_SETTINGS = FlowSettings()
DEFAULT_THRESHOLDS = Thresholds()


@dataclass
class _Accumulator:
    """Per-pair statistics gathered while streaming: O(pairs) floats plus a (G, G) grid."""

    rows: list[tuple[float, ...]]
    cells: np.ndarray  # (G, G) time sum of cell-mean vertical flow beyond the global, widths / s
    prev_flow: np.ndarray | None = None
    prev_l1: float = 0.0


def farneback(prev: np.ndarray, curr: np.ndarray) -> np.ndarray:
    """Dense optical flow between two grey uint8 frames (H, W) -> (H, W, 2) float32 pixels."""
    import cv2

    flow = cv2.calcOpticalFlowFarneback(prev, curr, None, 0.5, 3, 13, 3, 5, 1.1, 0)  # type: ignore[call-overload]
    return np.asarray(flow)


def to_grey(frame: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> grey uint8 (H, W)."""
    import cv2

    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


class _Geometry:
    """Pixel coordinates in widths from the centre, cached per frame size."""

    def __init__(self, h: int, w: int, grid: int) -> None:
        side = float(max(h, w))
        self.side = side
        self.h, self.w = h, w
        self.x = (np.arange(w, dtype=np.float64) - (w - 1) / 2) / side  # (W,)
        self.y = (np.arange(h, dtype=np.float64) - (h - 1) / 2) / side  # (H,)
        self.x2, self.y2 = self.x**2, self.y**2
        self.sxx = float(self.x2.sum() * h)
        self.syy = float(self.y2.sum() * w)
        self.n = h * w
        self.grid = grid
        # row / column sums of a (H, W, 2) field as BLAS products of its (H, 2W) view:
        # NumPy's strided sum over axis 1 costs more than the flow statistics together
        self.ones_h = np.ones(h, np.float32)
        self.pick = np.tile(np.eye(2, dtype=np.float32), (w, 1))  # (2W, 2)
        self.ones_w = np.ones(w, np.float32)

    def sums(self, field: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Column sums (W, 2) and row sums (H, 2) of a float32 (H, W, 2) field."""
        flat = field.reshape(self.h, 2 * self.w)
        return (self.ones_h @ flat).reshape(self.w, 2).astype(np.float64), (flat @ self.pick)


def _pair_stats(
    flow: np.ndarray, geo: _Geometry, per_s: float, acc: _Accumulator, th: Thresholds
) -> None:
    """Reduce one flow field (H, W, 2) in pixels / pair to the row appended to `acc.rows`.

    Every statistic is a sum of the flow, of its row / column sums, or of the same for
    the moving pixels, so the field is traversed a handful of times in C (OpenCV or a
    NumPy reduction) and the rest is arithmetic on (H,) and (W,) vectors; the scale to
    widths / s (`k`) is applied to the scalars at the end.
    """
    import cv2

    k = per_s / geo.side  # pixels / pair -> widths / s
    vx, vy = flow[..., 0], flow[..., 1]
    speed, ang = cv2.cartToPolar(vx, vy)  # angle in [0, 2 pi): 0 east, pi / 2 south (y down)
    cols, rows = geo.sums(flow)  # (W, 2), (H, 2)
    n = geo.n
    tx, ty = cols[:, 0].sum() / n, cols[:, 1].sum() / n
    # affine fit on an orthogonal centred grid: each coefficient is a projection
    a = float(cols[:, 0] @ geo.x) / geo.sxx  # d vx / dx
    c = float(cols[:, 1] @ geo.x) / geo.sxx  # d vy / dx
    b = float(rows[:, 0] @ geo.y) / geo.syy  # d vx / dy
    d = float(rows[:, 1] @ geo.y) / geo.syy  # d vy / dy
    explained = n * (tx * tx + ty * ty) + geo.sxx * (a * a + c * c) + geo.syy * (b * b + d * d)
    l2 = float(cv2.norm(speed, cv2.NORM_L2SQR)) + 1e-12
    moving = speed > th.moving_speed / k
    n_moving = int(np.count_nonzero(moving))
    obj_x = obj_y = obj_curl = 0.0
    if n_moving >= 4:
        # moments of the moving pixels: their centroid, spread and flow (x right, y down)
        m = moving.astype(np.float32)
        m_cols = (geo.ones_h @ m).astype(np.float64)  # (W,) moving pixels per column
        m_rows = (m @ geo.ones_w).astype(np.float64)  # (H,)
        f_cols, f_rows = geo.sums(cv2.copyTo(flow, moving.view(np.uint8)))  # moving flow only
        svx, svy = f_cols[:, 0].sum(), f_cols[:, 1].sum()
        sx, sy = m_cols @ geo.x, m_rows @ geo.y
        obj_x, obj_y = svx / n_moving - tx, svy / n_moving - ty
        spread = m_cols @ geo.x2 - sx * sx / n_moving + m_rows @ geo.y2 - sy * sy / n_moving
        # rotation about their centroid: covariance of position and flow (> 0 clockwise)
        cov_x_vy = f_cols[:, 1] @ geo.x - sx * svy / n_moving
        cov_y_vx = f_rows[:, 0] @ geo.y - sy * svx / n_moving
        obj_curl = float((cov_x_vy - cov_y_vx) / (spread + 1e-9)) * k
    # cell means of vertical flow (area-weighted): a persistent local stream stands out
    acc.cells += (cv2.resize(vy, (geo.grid, geo.grid), interpolation=cv2.INTER_AREA) - ty) * k
    l1 = float(cv2.norm(flow, cv2.NORM_L1))
    change = 0.0
    if acc.prev_flow is not None:
        change = float(cv2.norm(flow, acc.prev_flow, cv2.NORM_L1)) / (l1 + acc.prev_l1 + 1e-9)
    acc.prev_flow, acc.prev_l1 = flow, l1
    bins = (ang * (4 / math.pi)).astype(np.int32)
    bins[bins == 8] = 0  # 2 pi rounding
    hist = np.bincount(bins.ravel(), weights=speed.ravel(), minlength=8)
    acc.rows.append(
        (
            float(speed.sum()) / n * k,
            n_moving / n,
            tx * k,
            ty * k,
            (a + d) / 2 * k,
            (c - b) / 2 * k,
            min(1.0, explained / l2),
            change,
            obj_x * k,
            obj_y * k,
            obj_curl,
            *(hist[:8] * k).tolist(),
        )
    )


def _streak(change: np.ndarray, side: float, th: Thresholds) -> tuple[float, float]:
    """Height and width (frame widths) of the tallest narrow band of persistent change.

    A steady stream of liquid is a thin line moving along itself: optical flow cannot
    see it (aperture problem), but the frames keep changing along it. `change` is the
    time-mean absolute frame difference (H, W); a pixel changes persistently above
    `change_level` grey levels and `change_over_median` times the frame's median (so
    compression noise and handheld motion do not count). The band is the column run
    around the column with the most changing rows whose coverage stays above half of
    that column's (coverage smoothed over 3 columns); its height is the largest share of
    changing rows of a band column times the frame height, so scattered specks do not
    make a tall streak.
    """
    level = max(th.change_level, th.change_over_median * float(np.median(change)))
    active = change > level  # (H, W)
    coverage = active.mean(axis=0)  # (W,) share of rows changing in each column
    if coverage.max() <= 0:
        return 0.0, 0.0
    smooth = np.convolve(coverage, np.ones(3) / 3, mode="same") if len(coverage) >= 3 else coverage
    peak = int(smooth.argmax())
    half = smooth[peak] / 2
    left, right = peak, peak
    while left > 0 and smooth[left - 1] > half:
        left -= 1
    while right < len(smooth) - 1 and smooth[right + 1] > half:
        right += 1
    height = float(coverage[left : right + 1].max()) * active.shape[0]
    return height / side, (right - left + 1) / side


def _periodicity(signal: np.ndarray) -> float:
    """Share of a signal's varying energy in its strongest frequency of >= 2 cycles.

    A repeating motion (pendulum, pulse, bounce) puts most of its energy in one
    frequency; noise and shake spread it over all; slow drifts (one object
    crossing the frame) sit in the first bin, which is skipped. Returns 0 for
    short or flat signals.
    """
    n = len(signal)
    if n < 8:
        return 0.0
    s = signal - signal.mean()
    power = np.abs(np.fft.rfft(s))[1:] ** 2  # (n // 2,) bins of 1, 2, ... cycles per clip
    total = float(power.sum())
    if total < 1e-12:
        return 0.0
    return float(power[1:].max() / total)


def describe_frames(
    frames: Iterable[np.ndarray],
    fps: float,
    *,
    settings: FlowSettings = DEFAULT_SETTINGS,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    on_frame: Callable[[], None] | None = None,
) -> np.ndarray:
    """Motion descriptor of a stream of RGB frames, one frame in memory at a time.

    Args:
        frames: RGB uint8 frames (H, W, 3), already sampled and downscaled.
        fps: the rate of `frames` (the sampled rate, not the file's).
        settings: flow settings (only `grid` is used here).
        thresholds: `moving_speed` decides which pixels count as moving.
        on_frame: called after each frame (progress bars).

    Returns:
        float32 (MOTION_DIM,) in the order of `MOTION_FIELDS`.

    Raises:
        VideoError: fewer than two frames.
    """
    import cv2

    acc = _Accumulator(rows=[], cells=np.zeros((settings.grid, settings.grid)))
    prev: np.ndarray | None = None
    geo: _Geometry | None = None
    change = np.zeros((0, 0), np.float32)  # (H, W) time sum of |frame difference|
    for frame in frames:
        grey = to_grey(frame)
        if prev is not None:
            if geo is None:
                geo = _Geometry(grey.shape[0], grey.shape[1], settings.grid)
                change = np.zeros(grey.shape, np.float32)
            cv2.accumulate(cv2.absdiff(prev, grey), change)
            _pair_stats(farneback(prev, grey), geo, fps, acc, thresholds)
        prev = grey
        if on_frame is not None:
            on_frame()
    if geo is None:
        raise VideoError("motion descriptor needs at least 2 frames, got fewer")
    streak = _streak(change / len(acc.rows), geo.side, thresholds)
    return _aggregate(np.asarray(acc.rows, dtype=np.float64), acc.cells, streak)


def _aggregate(rows: np.ndarray, cells: np.ndarray, streak: tuple[float, float]) -> np.ndarray:
    """Per-pair rows (P, 19), cell sums (G, G) and the streak -> descriptor (MOTION_DIM,)."""
    pairs = len(rows)
    mean = rows.mean(axis=0)
    cell = cells / pairs  # time-mean per cell: a persistent local event stands out
    out = np.zeros(MOTION_DIM, dtype=np.float32)
    # median: a clip that is still most of the time is still, despite a brief event
    out[_F["magnitude"]], out[_F["moving_share"]] = np.median(rows[:, :2], axis=0)
    out[_F["translation_x"] : _F["smoothness"]] = mean[2:7]
    out[_F["smoothness"]] = 1.0 / (1.0 + (rows[1:, 7].mean() if pairs > 1 else 0.0))
    out[_F["region_down"]] = max(0.0, float(cell.max()))
    out[_F["region_up"]] = max(0.0, float(-cell.min()))
    out[_F["streak_height"]], out[_F["streak_width"]] = streak
    out[_F["object_x"] : _F["object_curl"] + 1] = mean[8:11]
    if pairs > 1:
        out[_F["jitter"]] = float(np.linalg.norm(np.diff(rows[:, 2:4], axis=0), axis=1).mean())
    signals = (rows[:, 8], rows[:, 9], rows[:, 0], rows[:, 2], rows[:, 3])
    out[_F["periodicity"]] = max(_periodicity(sig) for sig in signals)
    hist = mean[11:19]
    out[_F["direction_0"] :] = hist / (hist.sum() + 1e-12)
    return out


def analysis_rate(
    duration_s: float, file_fps: float, settings: FlowSettings = DEFAULT_SETTINGS
) -> float:
    """Frames per second to analyse: `sample_fps`, faster for short clips, at most the file's."""
    wanted = settings.sample_fps
    if duration_s > 0 and duration_s * wanted < settings.min_frames:
        wanted = settings.min_frames / duration_s
    return min(wanted, file_fps) if file_fps > 0 else wanted


def describe_file(
    path: str | os.PathLike[str],
    *,
    settings: FlowSettings = DEFAULT_SETTINGS,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    on_frame: Callable[[], None] | None = None,
) -> np.ndarray:
    """Motion descriptor of a video file, decoded as a stream.

    Raises:
        VideoError: unreadable file, or fewer than two decodable frames.
    """
    from kdcvg.media.video import iter_frames, probe

    info = probe(path)
    rate = analysis_rate(info.duration_s, info.fps, settings)
    frames = iter_frames(path, sample_fps=rate, max_side=settings.max_side)
    try:
        return describe_frames(
            frames, rate, settings=settings, thresholds=thresholds, on_frame=on_frame
        )
    except VideoError as e:
        if "at least 2 frames" in str(e):
            raise VideoError(f"{path}: fewer than 2 decodable frames, cannot measure motion") from e
        raise


def _ramp(value: float, bounds: tuple[float, float]) -> float:
    lo, hi = bounds
    return float(min(1.0, max(0.0, (value - lo) / (hi - lo))))


def pattern_scores(descriptor: np.ndarray, th: Thresholds = DEFAULT_THRESHOLDS) -> dict[str, float]:
    """Score every detectable pattern in [0, 1] from a descriptor (rules in docs/motion.md)."""
    if descriptor.shape != (MOTION_DIM,):
        raise VideoError(
            f"motion descriptor must have shape ({MOTION_DIM},), got {descriptor.shape}"
        )
    v = {name: float(descriptor[i]) for name, i in _F.items()}
    cam = _ramp(v["globality"], th.camera_globality)
    obj = 1.0 - cam
    # a tall thin band of persistent change that flow cannot see is a stream (falling:
    # gravity), unless flow shows the moving pixels going up (bubbles, mist)
    aspect = v["streak_height"] / max(v["streak_width"], 1e-6)
    stream = _ramp(aspect, th.streak_aspect) * _ramp(v["streak_height"], th.streak_height)
    falling = obj * stream * (1.0 - _ramp(-v["object_y"], th.streak_rise))
    still = 1.0 - max(
        _ramp(v["magnitude"], th.static_speed), _ramp(v["moving_share"], th.static_share), stream
    )
    moving = 1.0 - still
    tx, ty = v["translation_x"], v["translation_y"]
    shake = _ramp(v["jitter"], th.shake_jitter) * moving
    steady = 1.0 - shake
    # a conveyor's items pass at regular intervals too: a steady drift one way is a slide
    drift = _ramp(abs(v["object_x"]), th.object_speed)
    # a spinning texture repeats too: turning in place is a spin, not a back-and-forth
    spin = obj * moving * _ramp(abs(v["object_curl"]), th.object_spin)
    periodic = _ramp(v["periodicity"], th.periodic) * moving * (1.0 - drift) * (1.0 - spin)
    scores = {
        "static": still,
        "pan_left": cam * steady * _ramp(tx, th.pan_speed),
        "pan_right": cam * steady * _ramp(-tx, th.pan_speed),
        "tilt_up": cam * steady * _ramp(ty, th.tilt_speed),
        "tilt_down": cam * steady * _ramp(-ty, th.tilt_speed),
        "zoom_in": cam * steady * _ramp(v["divergence"], th.zoom_rate),
        "zoom_out": cam * steady * _ramp(-v["divergence"], th.zoom_rate),
        "rotate": cam * steady * _ramp(abs(v["curl"]), th.roll_rate),
        "shake": shake * max(cam, 0.5),
        "pour": max(
            falling,
            obj
            * moving
            * _ramp(v["region_down"], th.region_speed)
            * _ramp(v["object_y"], th.object_speed),
        ),
        "rise": obj
        * moving
        * _ramp(v["region_up"], th.region_speed)
        * _ramp(-v["object_y"], th.object_speed),
        "spin": spin,
        "slide": obj * moving * drift,
        # repetition explained by the camera (a zoom that eases in and out) is not an object's
        "periodic": periodic * obj,
    }
    return {k: round(s, 4) for k, s in scores.items()}


def classify(
    descriptor: np.ndarray, th: Thresholds = DEFAULT_THRESHOLDS
) -> list[tuple[str, float]]:
    """The patterns to link, best first: all scoring >= `min_link_score`, and always the top one."""
    ranked = sorted(pattern_scores(descriptor, th).items(), key=lambda kv: (-kv[1], kv[0]))
    return [ranked[0]] + [(k, s) for k, s in ranked[1:] if s >= th.min_link_score]


def named_fields(descriptor: np.ndarray) -> dict[str, float]:
    """The scalar descriptor fields as node properties (`motion_<field>`), histogram excluded."""
    return {
        f"motion_{name}": round(float(descriptor[i]), 6)
        for name, i in _F.items()
        if not name.startswith("direction_")
    }
