"""The generation interface every backend implements.

The front end (CLI, batch, outputs, metrics, report) only knows these types, so
a backend (compose, diffusers) plugs in without changes elsewhere. A backend
receives the product and the scenes retrieval made (`kdcvg.retrieval.scenes`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from kdcvg.retrieval.scenes import ProductInfo, Scene

# Output sizes per format. 9:16 is the vertical phone format most ads are cut for.
FORMATS: dict[str, tuple[int, int]] = {  # name -> (width, height)
    "9:16": (720, 1280),
    "1:1": (720, 720),
    "16:9": (1280, 720),
}
DURATIONS_S = (6, 15, 30)


@dataclass(frozen=True)
class AdJob:
    """What the user asked for.

    Args:
        product_id: the product the ad is for.
        selling_points: selling-point ids or free text, one scene each, in order.
        format: a key of `FORMATS`.
        duration_s: one of `DURATIONS_S`.
        seed: makes the output reproducible (same seed, same bytes).
        backend: generator name ("compose", "diffusers").
        options: backend settings (model folder, beta, steps ...), recorded in the sidecar.
    """

    product_id: str
    selling_points: tuple[str, ...]
    format: str = "9:16"
    duration_s: int = 6
    seed: int = 0
    backend: str = "compose"
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class GeneratedVideo:
    """A backend's output, streamed so that long, large ads never sit in memory whole.

    Args:
        frames: RGB uint8 frames of shape (H, W, 3), `num_frames` of them.
        num_frames: how many frames `frames` yields.
        fps: frame rate.
        metadata: backend settings, priors and timings, written into the sidecar.
    """

    frames: Iterator[np.ndarray]
    num_frames: int
    fps: float
    metadata: dict[str, Any] = field(default_factory=dict)


ProgressCallback = Callable[[int, int], None]  # (done, total)


class Generator(Protocol):
    """A backend that turns a job and its retrieved scenes into frames."""

    name: str

    def generate(
        self,
        job: AdJob,
        product: ProductInfo,
        scenes: Sequence[Scene],
        size: tuple[int, int],
        progress: ProgressCallback | None = None,
    ) -> GeneratedVideo:
        """Render the ad at `size` (width, height); raise `GenerationError` on failure."""
        ...
