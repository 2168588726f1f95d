"""The compose backend: an ad cut from the retrieved reference clips themselves.

Needs no model weights. For each selling point it takes a segment of the scene's
best reference clip, keeps the clip's own motion (or, for a still or static clip,
gives it the camera move of its retrieved motion pattern: zoom, pan, tilt or an
orbit-like parallax), fits it to the frame by smart crop plus a blurred
backdrop, writes the selling point over it, crossfades to the next scene and
closes on a card with the product name and a call to action.

A still (a product photo, or a static clip) is given the camera move its selling
point SUGGESTS (`Scene.suggested`) when it names one. A designed text scene (a
fallback with no reference at all, `Scene.fallback == "text"`) is drawn here: the
brand's colours as a soft textured backdrop, moved gently, with the selling point
as a headline.

Frames are produced one at a time; a scene's source frames are decoded when the
scene starts and dropped when it ends, so memory stays bounded by one or two
scenes whatever the ad's length.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kdcvg.errors import GenerationError, VideoError
from kdcvg.generation import text_overlay as tx
from kdcvg.generation.base import AdJob, GeneratedVideo, ProgressCallback
from kdcvg.generation.framing import MAX_CROP_LOSS, crop_window, fit_frame
from kdcvg.media import video
from kdcvg.retrieval.scenes import ProductInfo, Scene

CAMERA_MOVES = ("zoom_in", "zoom_out", "pan_left", "pan_right", "tilt_up", "tilt_down", "orbit")
OPTIONS = ("fps", "cta", "transition", "crossfade_s")
MAX_CTA_CHARS = 80  # the closing card's label: a few words
STATIC_DIFF = 3.0  # grey-level change per frame (98th percentile) below which a clip is static
BUFFER_BYTES = 384 * 2**20  # source frames one scene may hold in memory
MAX_SKIP_S = 10.0
MOVE_CROP_LOSS = 0.62  # a still given a camera move may lose this much to fill the frame
ZOOM_RATE = 0.1  # camera zoom speed, 1/s (log scale); total zoom kept within ZOOM_RANGE
ZOOM_RANGE = (1.25, 1.6)  # the latest a scene's segment may start inside a long clip


@dataclass(frozen=True)
class ComposeSettings:
    """Rendering settings, read from `AdJob.options`.

    Args:
        fps: output frame rate.
        cta: call-to-action label on the closing card.
        transition: "crossfade" or "cut" between scenes.
        crossfade_s: length of a crossfade.
    """

    fps: float = 30.0
    cta: str = "Shop now"
    transition: str = "crossfade"
    crossfade_s: float = 0.4

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> ComposeSettings:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise GenerationError(
                f"compose backend has no option {unknown[0]!r}; known options: {', '.join(OPTIONS)}"
            )
        values: dict[str, Any] = {}
        for name in OPTIONS:
            value = options.get(name, getattr(cls, name))
            kind = type(getattr(cls, name))
            try:
                if isinstance(value, bool) and kind is float:
                    raise TypeError(name)
                values[name] = kind(value)
            except (TypeError, ValueError) as e:
                raise GenerationError(f"compose option {name}={value!r} must be a "
                                      f"{'number' if kind is float else 'text'}") from e
        s = cls(**values)
        if len(s.cta) > MAX_CTA_CHARS:
            raise GenerationError(f"compose option cta is {len(s.cta)} characters, the limit "
                                  f"is {MAX_CTA_CHARS}")
        if not 1 <= s.fps <= 60:
            raise GenerationError(f"compose option fps must be between 1 and 60, got {s.fps}")
        if s.transition not in ("crossfade", "cut"):
            raise GenerationError(
                f"compose option transition must be 'crossfade' or 'cut', got {s.transition!r}"
            )
        if not 0 <= s.crossfade_s <= 2:
            raise GenerationError(
                f"compose option crossfade_s must be between 0 and 2 s, got {s.crossfade_s}"
            )
        return s


@dataclass
class _Shot:
    """One scene's plan and, while it is on screen, its decoded source frames."""

    index: int
    scene: Scene
    start: int  # first output frame (inclusive)
    end: int  # last output frame (exclusive)
    mode: str = "clip"  # "clip" (own motion) or a camera move
    source_start: int = 0
    crop: tuple[int, int, int, int] = (0, 0, 0, 0)  # in working-resolution source pixels
    frames: list[np.ndarray] = field(default_factory=list)
    src_fps: float = 30.0
    caption: tx.Overlay | None = None


def _accent(product_id: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(product_id.encode()).digest()
    return tx.ACCENTS[digest[0] % len(tx.ACCENTS)]


# object motions a camera move can stand for on a still: what falls is shown by a tilt
# up (the scene moves down), what rises by a tilt down, a reveal by pulling back
OBJECT_MOVES = {"pour": "tilt_up", "drip": "tilt_up", "rise": "tilt_down", "slide": "pan_right",
                "spin": "orbit", "unbox": "zoom_out", "reveal": "zoom_out", "spray": "zoom_in",
                "splash": "zoom_in", "blend": "zoom_in", "slice": "pan_right"}


def move_for(pattern: str) -> str | None:
    """The camera move that renders motion pattern `pattern` on a still, or None."""
    key = pattern.lower().replace("-", "_").replace(" ", "_")
    for move in CAMERA_MOVES:
        if move in key:
            return move
    if "zoom" in key:
        return "zoom_in"
    if "pan" in key or "truck" in key:
        return "pan_right"
    if "tilt" in key:
        return "tilt_up"
    if "orbit" in key or "arc" in key or "parallax" in key or "rotat" in key:
        return "orbit"
    return OBJECT_MOVES.get(key)


def _camera_move(scene: Scene, index: int, seed: int) -> str:
    """The camera move a still gets: from the patterns its selling point suggests (for a
    photo or a designed scene) or its own retrieved patterns (a static clip), if any."""
    own = [name for ref in scene.references[:1] for name, _ in ref.motion_patterns]
    suggested = [name for name, _ in scene.suggested]
    ordered = suggested + own if scene.fallback or not own else own + suggested
    for name in ordered:
        move = move_for(name)
        if move is not None:
            return move
    defaults = ("zoom_in", "pan_right", "orbit", "zoom_out", "pan_left")
    return defaults[(index + seed) % len(defaults)]


def designed_backdrop(
    palette: tuple[tuple[int, int, int], ...], size: tuple[int, int], seed: int
) -> np.ndarray:
    """A designed scene's backdrop: a diagonal gradient of the brand colours with soft
    circles and a fine grain, so that a camera move over it reads as motion.

    Args:
        palette: one or more RGB colours, most important first.
        size: (width, height) of the backdrop.
        seed: the circles' layout.

    Returns:
        (height, width, 3) uint8.
    """
    import cv2

    w, h = size
    first = np.asarray(palette[0], dtype=np.float32)
    second = (np.asarray(palette[1], dtype=np.float32) if len(palette) > 1
              else first * 0.45)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = ((xx / max(1, w - 1)) * 0.4 + (yy / max(1, h - 1)) * 0.6)[..., None]
    img = first * (1.0 - t) + second * t
    img = img * 0.8  # a darker backdrop keeps white headlines legible
    rng = np.random.default_rng(seed)
    colours = [np.asarray(c, dtype=np.float32) for c in palette] + [np.full(3, 255.0)]
    for _ in range(18):  # translucent soft discs, each blended over what is there
        c = colours[int(rng.integers(len(colours)))]
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        radius = int(rng.uniform(0.04, 0.16) * min(w, h))
        disc = np.zeros((h, w), np.float32)
        cv2.circle(disc, centre, radius, 1.0, -1, lineType=cv2.LINE_AA)
        alpha = cv2.GaussianBlur(disc, (0, 0), max(1.0, radius * 0.15))[..., None] * 0.3
        img = img * (1.0 - alpha) + c * alpha
    img += rng.normal(0.0, 5.0, img.shape[:2])[..., None].astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


class ComposeGenerator:
    """Cuts an ad from the reference clips; see the module docstring.

    Example:
        >>> gen = ComposeGenerator()
        >>> video = gen.generate(job, product, scenes, (720, 1280))  # doctest: +SKIP
        >>> first = next(video.frames)  # (1280, 720, 3) uint8
    """

    name = "compose"

    def check_inputs(self, job: AdJob, scenes: Sequence[Scene], size: tuple[int, int]) -> None:
        """Raise `GenerationError` for anything that would fail mid-render."""
        w, h = size
        if w % 2 or h % 2 or w < 64 or h < 64:
            raise GenerationError(f"output size must be even and at least 64x64, got {w}x{h}")
        if not scenes:
            raise GenerationError("an ad needs at least one scene (selling point)")
        for i, scene in enumerate(scenes):
            if scene.fallback == "text":
                continue  # a designed scene needs no reference
            if not scene.references:
                raise GenerationError(
                    f"scene {i + 1} ({scene.text!r}) has no reference clip to compose from"
                )
            ref = scene.references[0]
            if not Path(ref.uri).is_file():
                raise GenerationError(
                    f"scene {i + 1}: reference clip {ref.clip_id!r} file {ref.uri} is missing "
                    "(moved or deleted since ingest); restore it or re-ingest the clip"
                )

    def generate(
        self,
        job: AdJob,
        product: ProductInfo,
        scenes: Sequence[Scene],
        size: tuple[int, int],
        progress: ProgressCallback | None = None,
    ) -> GeneratedVideo:
        """Plan the ad and return its frames as a stream.

        Raises:
            GenerationError: bad options or size, a scene without references, a missing or
                unreadable reference file.
        """
        # 1. check inputs and settings
        settings = ComposeSettings.from_options(dict(job.options))
        self.check_inputs(job, scenes, size)
        # 2. plan the timeline: equal scenes, crossfades centred on the cuts, an end card
        total = int(round(job.duration_s * settings.fps))
        fade = int(round(settings.crossfade_s * settings.fps))
        if settings.transition == "cut":
            fade = 0
        shots = []
        bounds = [int(round(total * i / len(scenes))) for i in range(len(scenes) + 1)]
        for i, scene in enumerate(scenes):
            start = max(0, bounds[i] - (fade // 2 if i > 0 else 0))
            end = min(total, bounds[i + 1] + (fade - fade // 2 if i < len(scenes) - 1 else 0))
            if end - start < 2:
                raise GenerationError(
                    f"{len(scenes)} scenes do not fit in {job.duration_s} s; use fewer selling "
                    "points or a longer duration"
                )
            shots.append(_Shot(i, scene, start, end))
        end_frames = int(round(min(2.0, 0.22 * job.duration_s) * settings.fps))
        # 3. stream: each scene's segment is decoded when it comes on screen; its entry in
        #    the metadata (mode, crop, segment) is filled in then
        metadata: dict[str, Any] = {
            "backend": self.name,
            "settings": {"fps": settings.fps, "cta": settings.cta,
                         "transition": settings.transition, "crossfade_frames": fade,
                         "end_card_frames": end_frames},
            "scenes": [
                {"index": s.index, "text": s.scene.text,
                 "selling_point_id": s.scene.selling_point_id,
                 "clip_id": s.scene.references[0].clip_id if s.scene.references else None,
                 "fallback": s.scene.fallback, "start_frame": s.start, "end_frame": s.end}
                for s in shots
            ],
        }
        frames = self._frames(job, product, shots, size, settings, total, end_frames, progress,
                             metadata)
        return GeneratedVideo(frames=frames, num_frames=total, fps=settings.fps, metadata=metadata)

    # -- scene preparation ---------------------------------------------------------------

    def _prepare(
        self, shot: _Shot, job: AdJob, size: tuple[int, int], settings: ComposeSettings,
        product: ProductInfo,
    ) -> None:
        """Decode the scene's source segment (or draw a designed one); decide mode and crop."""
        if shot.scene.fallback == "text":
            palette = shot.scene.palette or (_accent(product.id),)
            w, h = size
            scale = min(1.0, 1024 / max(w, h)) * 1.3  # room for the camera to move
            backdrop = designed_backdrop(palette, (int(w * scale) // 2 * 2,
                                                   int(h * scale) // 2 * 2),
                                         job.seed * 7919 + shot.index)
            shot.frames = [backdrop]
            shot.mode = _camera_move(shot.scene, shot.index, job.seed)
            if shot.mode == "orbit":  # a designed scene moves gently
                shot.mode = "zoom_in"
            bh, bw = backdrop.shape[:2]
            shot.crop = crop_window(shot.frames, (bw, bh), size, max_loss=MOVE_CROP_LOSS)
            return
        ref = shot.scene.references[0]
        try:
            info = video.probe(ref.uri)
        except VideoError as e:
            raise GenerationError(
                f"scene {shot.index + 1}: reference clip {ref.clip_id!r}: {e}"
            ) from e
        length = shot.end - shot.start
        need = max(1, math.ceil(length * info.fps / settings.fps) + 1)
        # a working size large enough for the output, small enough for the buffer
        side = max(size)
        while side > 256 and need * _frame_bytes(info.width, info.height, side) > BUFFER_BYTES:
            side = int(side * 0.85)
        rng = np.random.default_rng([job.seed, shot.index])
        spare = max(0, min(info.frame_count - need, int(MAX_SKIP_S * info.fps)))
        shot.source_start = int(rng.integers(0, spare + 1)) if spare > 0 else 0
        shot.src_fps = info.fps
        frames: list[np.ndarray] = []
        max_bytes = BUFFER_BYTES
        try:
            for k, frame in enumerate(video.iter_frames(ref.uri, max_side=side)):
                if k < shot.source_start:
                    continue
                frames.append(frame.copy())  # own the pixels: decoded arrays view PyAV buffers
                max_bytes -= frame.nbytes
                if len(frames) >= need or max_bytes <= 0:
                    break
        except VideoError as e:
            raise GenerationError(
                f"scene {shot.index + 1}: reference clip {ref.clip_id!r}: {e}"
            ) from e
        if not frames:
            raise GenerationError(
                f"scene {shot.index + 1}: reference clip {ref.clip_id!r} ({ref.uri}) has no frames"
            )
        shot.frames = frames
        if len(frames) == 1 or _mean_change(frames) < STATIC_DIFF:
            shot.mode = _camera_move(shot.scene, shot.index, job.seed)
            shot.frames = frames[:1]
        fh, fw = frames[0].shape[:2]
        # a camera move fills the frame (no static padding around a moving picture) unless
        # that would cut away most of the source
        loss = MOVE_CROP_LOSS if shot.mode != "clip" else MAX_CROP_LOSS
        shot.crop = crop_window(frames, (fw, fh), size, max_loss=loss)

    # -- frame loop ----------------------------------------------------------------------

    def _frames(
        self,
        job: AdJob,
        product: ProductInfo,
        shots: list[_Shot],
        size: tuple[int, int],
        settings: ComposeSettings,
        total: int,
        end_frames: int,
        progress: ProgressCallback | None,
        metadata: dict[str, Any],
    ) -> Iterator[np.ndarray]:
        import cv2

        named = product.brand and not product.name.lower().startswith(product.brand.lower())
        tag = tx.brand_tag(f"{product.brand} · {product.name}" if named else product.name, size)
        card = tx.end_card(product.name, settings.cta, size, _accent(product.id))
        fps = settings.fps
        for t in range(total):
            live = [s for s in shots if s.start <= t < s.end]
            layers = []
            for shot in live:
                if not shot.frames:
                    self._prepare(shot, job, size, settings, product)
                    shot.caption = (tx.headline(shot.scene.text, size)
                                    if shot.scene.fallback == "text"
                                    else tx.caption(shot.scene.text, size))
                    metadata["scenes"][shot.index].update(
                        mode=shot.mode, source_start_frame=shot.source_start,
                        source_frames=len(shot.frames), crop=list(shot.crop))
                fade_out = max(0.0, min(1.0, (t - (total - end_frames)) / max(1.0, 0.3 * fps)))
                layers.append((shot, self._render(shot, t - shot.start, size, fps,
                                                  1.0 - fade_out if end_frames else 1.0)))
            for shot in shots:  # free what is done
                if shot.end <= t and shot.frames:
                    shot.frames = []
            if len(layers) == 1:
                frame = layers[0][1]
            else:
                (a, fa), (b, fb) = layers[0], layers[1]
                w_b = (t - b.start + 1) / (a.end - b.start + 1)
                frame = cv2.addWeighted(fa, 1.0 - w_b, fb, w_b, 0.0)
            tx.blend(frame, tag)
            into_end = t - (total - end_frames)
            if end_frames and into_end >= 0:
                k = min(1.0, (into_end + 1) / max(1, int(0.4 * fps)))
                frame = cv2.convertScaleAbs(frame, alpha=1.0 - 0.55 * k)
                tx.blend(frame, card, opacity=k, dy=int((1.0 - k) * size[1] * 0.03))
            if progress is not None:
                progress(t + 1, total)
            yield frame

    def _render(
        self, shot: _Shot, j: int, size: tuple[int, int], fps: float, caption_opacity: float
    ) -> np.ndarray:
        """Output frame `j` of a scene: source frame, camera move, fit, caption."""
        length = shot.end - shot.start
        if shot.mode == "clip":
            n = len(shot.frames)
            pos = int(j * shot.src_fps / fps)
            period = max(1, 2 * (n - 1))
            m = pos % period
            src = shot.frames[m if m < n else period - m]  # ping-pong a short clip
            window = tuple(float(v) for v in shot.crop)
            angle = 0.0
        else:
            src = shot.frames[0]
            window, angle = _move_window(shot.mode, shot.crop, src.shape[1], src.shape[0],
                                         j / max(1, length - 1), length / fps)
        frame = fit_frame(src, size, window=window, angle=angle)  # type: ignore[arg-type]
        if shot.caption is not None:
            appear = j / fps - 0.15
            k = min(1.0, max(0.0, appear / 0.35))
            if k > 0:
                tx.blend(frame, shot.caption, opacity=k * caption_opacity,
                         dy=int((1.0 - k) * size[1] * 0.04))
        return frame


def _frame_bytes(width: int, height: int, side: int) -> int:
    scale = min(1.0, side / max(width, height))
    return int(width * scale) * int(height * scale) * 3


def _mean_change(frames: list[np.ndarray]) -> float:
    """Per-frame grey-level change of a clip: 98th percentile of consecutive-frame differences.

    A high percentile, so that a small moving object (a pour, a hand) counts as motion
    while compression noise on a still shot does not.
    """
    import cv2

    if len(frames) < 2:
        return 0.0
    step = max(1, len(frames) // 12)
    values = []
    for i in range(0, len(frames) - 1, step):
        a, b = (cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (96, 96),
                           interpolation=cv2.INTER_AREA) for f in (frames[i], frames[i + 1]))
        values.append(float(np.percentile(cv2.absdiff(a, b), 98)))
    return float(np.mean(values))


def _move_window(
    move: str, crop: tuple[int, int, int, int], src_w: int, src_h: int, p: float, seconds: float
) -> tuple[tuple[float, float, float, float], float]:
    """The crop window (x, y, w, h) and rotation (degrees) of a camera move at progress p.

    Zooms run at a constant rate on a log scale (what the eye reads as a steady push-in),
    `ZOOM_RATE` per second, the total kept within `ZOOM_RANGE`; pans and tilts ease in and out.
    """
    x, y, w, h = (float(v) for v in crop)
    cx, cy = x + w / 2, y + h / 2
    e = 0.5 - 0.5 * math.cos(math.pi * p)  # ease in and out
    angle = 0.0
    if move in ("zoom_in", "zoom_out"):
        total = min(max(math.exp(ZOOM_RATE * seconds), ZOOM_RANGE[0]), ZOOM_RANGE[1])
        s = total ** -(p if move == "zoom_in" else 1.0 - p)
    elif move == "orbit":
        s = 0.84 + 0.04 * math.sin(math.pi * p)
        cx += 0.08 * w * math.sin(2 * math.pi * p - math.pi / 2) * 0.9
        cy += 0.03 * h * math.cos(2 * math.pi * p)
        angle = 2.5 * math.sin(2 * math.pi * p - math.pi / 2)
    else:
        s = 0.8
    ww, hh = w * s, h * s
    if move in ("pan_left", "pan_right"):
        span = max(0.0, min(src_w, w * 1.25) - ww)
        left = max(0.0, cx - (w * 1.25) / 2)
        left = min(left, src_w - min(src_w, w * 1.25))
        pos = e if move == "pan_right" else 1.0 - e
        cx = left + ww / 2 + span * pos
    elif move in ("tilt_up", "tilt_down"):
        span = max(0.0, min(src_h, h * 1.25) - hh)
        top = max(0.0, cy - (h * 1.25) / 2)
        top = min(top, src_h - min(src_h, h * 1.25))
        pos = e if move == "tilt_down" else 1.0 - e
        cy = top + hh / 2 + span * pos
    cx = min(max(cx, ww / 2), src_w - ww / 2)
    cy = min(max(cy, hh / 2), src_h - hh / 2)
    return (cx - ww / 2, cy - hh / 2, ww, hh), angle
