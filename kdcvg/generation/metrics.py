"""Quality of a generated ad, measured offline on the written file.

The measures of the paper's evaluation, computed in one streaming pass over the
decoded MP4 (so they describe what the viewer gets, encoder included):

- dynamic degree: VBench's definition with the clip issue's Farneback flow. Frames
  are sampled at about 8 fps and scaled to a 256-pixel short side; a pair counts as
  dynamic when the mean of its top 5 % flow magnitudes exceeds
  `6 * short_side / 256` pixels. The score is the share of dynamic pairs.
- motion smoothness: VBench's formula, every odd frame predicted from its two
  neighbours and scored `(255 - mean abs error) / 255`; the interpolator is a plain
  linear blend of the neighbours (VBench uses the AMT network), so the value is a
  lower bound on what a motion-compensated interpolator would give.
- temporal consistency: mean SSIM of consecutive frames (grey, 128-pixel short side).
- textual alignment: CLIP score (torchmetrics) of sampled frames against their scene's
  selling point, only with a local CLIP folder; otherwise recorded as not computed.
- motion fidelity: per scene, the cosine between the motion-pattern scores of the
  output and of its target: the reference clip's descriptor when the scene kept the
  clip's own motion, the camera move (one-hot) when it gave a still clip one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from kdcvg.errors import GenerationError, VideoError
from kdcvg.media import video
from kdcvg.retrieval.scenes import Scene


@dataclass(frozen=True)
class MetricSettings:
    """Sampling and thresholds of the measures (defaults follow VBench).

    Args:
        flow_short_side: frames are scaled to this short side for flow.
        flow_fps: frame pairs per second for dynamic degree.
        flow_threshold: VBench's magnitude threshold at a 256-pixel short side.
        top_share: share of strongest flow vectors averaged per pair.
        ssim_short_side: short side for temporal consistency.
        clip_frames_per_scene: frames scored by CLIP per scene.
    """

    flow_short_side: int = 256
    flow_fps: float = 8.0
    flow_threshold: float = 6.0
    top_share: float = 0.05
    ssim_short_side: int = 128
    clip_frames_per_scene: int = 4


DEFAULT_METRICS = MetricSettings()


def _resize_short(frame: np.ndarray, short: int) -> np.ndarray:
    import cv2

    h, w = frame.shape[:2]
    s = short / min(h, w)
    if s >= 1.0:
        return frame
    return cv2.resize(frame, (max(2, round(w * s)), max(2, round(h * s))),
                      interpolation=cv2.INTER_AREA)


def _resize_long(frame: np.ndarray, long: int) -> np.ndarray:
    h, w = frame.shape[:2]
    return _resize_short(frame, max(2, round(long * min(h, w) / max(h, w))))


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two grey float32 images (Wang et al. 2004, Gaussian window 1.5)."""
    import cv2

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = cv2.GaussianBlur(a, (11, 11), 1.5), cv2.GaussianBlur(b, (11, 11), 1.5)
    var_a = cv2.GaussianBlur(a * a, (11, 11), 1.5) - mu_a ** 2
    var_b = cv2.GaussianBlur(b * b, (11, 11), 1.5) - mu_b ** 2
    cov = cv2.GaussianBlur(a * b, (11, 11), 1.5) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def _pattern_cosine(a: dict[str, float], b: dict[str, float]) -> float:
    keys = sorted(set(a) | set(b))
    va = np.array([a.get(k, 0.0) for k in keys])
    vb = np.array([b.get(k, 0.0) for k in keys])
    na, nb = np.linalg.norm(va), np.linalg.norm(vb)
    return float(va @ vb / (na * nb)) if na > 0 and nb > 0 else 0.0


def measure(
    path: str | os.PathLike[str],
    scenes: Sequence[Scene],
    metadata: dict[str, Any],
    *,
    clip_model: str | os.PathLike[str] | None = None,
    settings: MetricSettings = DEFAULT_METRICS,
) -> dict[str, Any]:
    """Every quality measure of the ad at `path`, as a JSON-ready dict.

    Args:
        path: the written MP4.
        scenes: the job's scenes (texts and references), in order.
        metadata: the backend's metadata; `scenes[i].start_frame/end_frame` (and, from
            compose, `mode`) place each scene in time. Without them the whole video is
            one scene per selling point, split evenly.
        clip_model: a local CLIP folder (transformers format) for the CLIP score.
        settings: sampling and thresholds.

    Raises:
        GenerationError: the file cannot be decoded or has fewer than 3 frames.
    """
    import cv2

    from kdcvg.media import motion

    try:
        info = video.probe(path)
    except VideoError as e:
        raise GenerationError(f"cannot measure {path}: {e}") from e
    fps = info.fps
    flow_step = max(1, round(fps / settings.flow_fps))
    spans = _scene_spans(metadata, len(scenes), info.frame_count)
    motion_step = max(1, round(fps / motion.DEFAULT_SETTINGS.sample_fps))
    clip_at = {
        int(s + (e - s) * (k + 0.5) / settings.clip_frames_per_scene): i
        for i, (s, e) in enumerate(spans) for k in range(settings.clip_frames_per_scene)
    }

    dynamic: list[bool] = []
    threshold = 0.0
    smooth: list[float] = []
    ssims: list[float] = []
    scene_frames: list[list[np.ndarray]] = [[] for _ in spans]
    clip_images: list[tuple[int, np.ndarray]] = []
    window: list[np.ndarray] = []  # the last three frames at SSIM size, float32 grey
    prev_flow: np.ndarray | None = None
    n = 0
    try:
        # decode straight to the flow size: the largest any measure needs
        long_side = round(settings.flow_short_side * max(info.width, info.height)
                          / min(info.width, info.height))
        for n, frame in enumerate(video.iter_frames(path, max_side=long_side)):
            small = _resize_short(frame, settings.ssim_short_side)
            grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
            window = (window + [grey])[-3:]
            if len(window) >= 2:
                ssims.append(_ssim(window[-2], window[-1]))
            if len(window) == 3 and n % 2 == 0:
                # frame n-1 dropped and re-made from n-2 and n (VBench: odd frames)
                guess = (window[0] + window[2]) / 2.0
                smooth.append((255.0 - float(np.mean(np.abs(guess - window[1])))) / 255.0)
            if n % flow_step == 0:
                fl = motion.to_grey(_resize_short(frame, settings.flow_short_side))
                if prev_flow is not None:
                    mag = np.linalg.norm(motion.farneback(prev_flow, fl), axis=2).ravel()
                    k = max(1, int(len(mag) * settings.top_share))
                    top = float(np.mean(np.partition(mag, -k)[-k:]))
                    threshold = settings.flow_threshold * min(fl.shape) / 256.0
                    dynamic.append(top > threshold)
                prev_flow = fl
            for i, (first, stop) in enumerate(spans):
                if first <= n < stop and (n - first) % motion_step == 0:
                    scene_frames[i].append(_resize_long(frame, motion.DEFAULT_SETTINGS.max_side))
            if clip_model is not None and n in clip_at:
                clip_images.append((clip_at[n], _resize_short(frame, 224)))
    except VideoError as e:
        raise GenerationError(f"cannot measure {path}: {e}") from e
    if n < 2:
        raise GenerationError(f"cannot measure {path}: it has fewer than 3 frames")

    fidelity = _fidelity(scenes, metadata, scene_frames, fps / motion_step)
    result: dict[str, Any] = {
        "dynamic_degree": round(float(np.mean(dynamic)), 4) if dynamic else 0.0,
        "motion_smoothness": round(float(np.mean(smooth)), 4) if smooth else None,
        "temporal_consistency": round(float(np.mean(ssims)), 4) if ssims else None,
        "motion_fidelity": fidelity["mean"],
        "motion_fidelity_scenes": fidelity["scenes"],
        "frames_measured": n + 1,
        "settings": asdict(settings) | {"flow_threshold_px": round(threshold, 3),
                                        "interpolator": "linear blend of neighbours"},
    }
    result.update(_clip_score(clip_model, scenes, clip_images))
    return result


def _scene_spans(metadata: dict[str, Any], count: int, frames: int) -> list[tuple[int, int]]:
    """Frame ranges to measure each scene on: crossfades and the end card left out."""
    rows = metadata.get("scenes") or []
    if len(rows) != count or not all("start_frame" in r for r in rows):
        return [(frames * i // count, frames * (i + 1) // count) for i in range(count)]
    settings = metadata.get("settings", {})
    fade = int(settings.get("crossfade_frames", 0))
    last = int(rows[-1]["end_frame"]) - int(settings.get("end_card_frames", 0))
    spans = []
    for i, r in enumerate(rows):
        s = int(r["start_frame"]) + (fade if i > 0 else 0)
        e = min(int(r["end_frame"]) - (fade if i < count - 1 else 0), last)
        if e - s < 3:  # too short to leave anything out
            s, e = int(r["start_frame"]), int(r["end_frame"])
        spans.append((s, e))
    return spans


def _fidelity(
    scenes: Sequence[Scene], metadata: dict[str, Any], frames: list[list[np.ndarray]], fps: float
) -> dict[str, Any]:
    from kdcvg.media import motion

    rows = metadata.get("scenes") or [{} for _ in scenes]
    out: list[dict[str, Any]] = []
    for i, scene in enumerate(scenes):
        if len(frames[i]) < 2 or not scene.references:
            out.append({"index": i, "fidelity": None, "reason": "too few frames or no reference"})
            continue
        scores = motion.pattern_scores(motion.describe_frames(frames[i], fps))
        mode = rows[i].get("mode", "clip") if i < len(rows) else "clip"
        ref = scene.references[0]
        if mode != "clip":
            target = {mode: 1.0}
            target_name = mode
        else:
            if ref.motion is not None and len(ref.motion) == motion.MOTION_DIM:
                descriptor = np.asarray(ref.motion, dtype=np.float32)
            else:
                try:
                    descriptor = motion.describe_file(ref.uri)
                except VideoError as e:
                    out.append({"index": i, "fidelity": None, "reason": str(e)})
                    continue
            target = motion.pattern_scores(descriptor)
            target_name = max(target, key=lambda k: target[k])
        out.append({
            "index": i,
            "target": target_name,
            "output_pattern": max(scores, key=lambda k: scores[k]),
            "output_scores": {k: v for k, v in scores.items() if v > 0},
            "fidelity": round(_pattern_cosine(scores, target), 4),
        })
    values = [s["fidelity"] for s in out if s["fidelity"] is not None]
    return {"mean": round(float(np.mean(values)), 4) if values else None, "scenes": out}


def _clip_score(
    clip_model: str | os.PathLike[str] | None,
    scenes: Sequence[Scene],
    images: list[tuple[int, np.ndarray]],
) -> dict[str, Any]:
    """CLIP score averaged over sampled frames, or a record saying why it was not computed."""
    if clip_model is None:
        return {"clip_score": None, "clip_score_note": "not computed: no --clip-model given"}
    if not os.path.isdir(clip_model):
        raise GenerationError(
            f"--clip-model {clip_model}: not a folder (expected a local CLIP model)"
        )
    import torch
    from torchmetrics.multimodal.clip_score import CLIPScore

    try:
        metric = CLIPScore(model_name_or_path=str(clip_model))  # type: ignore[arg-type]
    except Exception as e:  # transformers raises many kinds for a bad folder
        raise GenerationError(f"--clip-model {clip_model}: cannot load a CLIP model ({e})") from e
    values = []
    with torch.no_grad():
        for index, image in images:
            tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)  # (3, H, W)
            values.append(float(metric(tensor, scenes[index].text)))
            metric.reset()
    score = float(np.mean(values)) if values else math.nan
    return {"clip_score": round(score, 4), "clip_score_note": f"CLIP model {clip_model}, "
            f"{len(values)} frames"}
