"""Real material for the generation tests: short synthetic clips and a small ACKB.

Clips are written with `kdcvg.media.video.write_mp4` into a temporary folder;
the graph goes in through the lead's ingest API, exactly as a curator's file would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kdcvg.graph.ingest import write_batch
from kdcvg.graph.records import IngestBatch
from kdcvg.media import video

PRODUCT = "p-aqua"
SP_POUR = "sp-pour"
SP_COLD = "sp-cold"
SP_EMPTY = "sp-empty"


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth, colourful, detailed RGB image: flow has something to track."""
    import cv2

    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), np.uint8)
    for _ in range(60):
        colour = tuple(int(c) for c in rng.integers(30, 255, 3))
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(img, centre, int(rng.integers(6, max(8, height // 6))), colour, -1)
    noise = rng.integers(0, 40, (height // 8, width // 8, 3)).astype(np.uint8)
    return cv2.add(img, cv2.resize(noise, (width, height), interpolation=cv2.INTER_LINEAR))


def write_pan_clip(path: Path, seconds: float = 3.0, fps: int = 30, speed: int = 3) -> Path:
    """A camera panning across a scene: the window moves `speed` px per frame to the right."""
    w, h = 320, 240
    n = int(seconds * fps)
    scene = texture(h, w + speed * n + 2, seed=1)
    video.write_mp4(path, (scene[:, i * speed:i * speed + w].copy() for i in range(n)), fps)
    return path


def write_still_clip(path: Path, seconds: float = 2.0, fps: int = 30) -> Path:
    """A product shot that does not move at all."""
    still = texture(240, 320, seed=2)
    video.write_mp4(path, (still for _ in range(int(seconds * fps))), fps)
    return path


def build_ackb(store: Any, folder: Path) -> dict[str, Path]:
    """A product with three selling points: one shown by a panning clip, one by a still
    clip with a curated zoom-in motion pattern, one with no clip at all."""
    pan = write_pan_clip(folder / "pan.mp4")
    still = write_still_clip(folder / "still.mp4")
    batch = IngestBatch()
    batch.add_node("Product", {"id": PRODUCT, "name": "AquaPure Bottle", "brand": "AquaPure",
                               "description": "A steel water bottle"})
    for sp, text in ((SP_POUR, "Pours smoothly without spilling"),
                     (SP_COLD, "Keeps water cold for 24 hours"),
                     (SP_EMPTY, "Lifetime warranty")):
        batch.add_node("SellingPoint", {"id": sp, "text": text, "product": PRODUCT})
        batch.add_link("HAS_SELLING_POINT", PRODUCT, sp)
    for clip, uri, caption in (("c-pan", pan, "camera pans across bottles"),
                               ("c-pan-alt", pan, "another pan"),
                               ("c-still", still, "bottle on a table"),
                               ("c-auto", pan, "auto-linked clip")):
        batch.add_node("Clip", {"id": clip, "uri": str(uri), "caption": caption})
    batch.add_node("MotionPattern", {"name": "zoom_in", "kind": "camera"})
    batch.add_link("EXPRESSES", "c-pan", SP_POUR, {"weight": 0.9, "source": "curated"})
    batch.add_link("EXPRESSES", "c-pan-alt", SP_POUR, {"weight": 0.4, "source": "curated"})
    batch.add_link("EXPRESSES", "c-still", SP_COLD, {"weight": 0.8, "source": "curated"})
    batch.add_link("EXPRESSES", "c-auto", SP_COLD, {"weight": 1.0, "source": "auto"})
    batch.add_link("HAS_MOTION", "c-still", "zoom_in", {"score": 0.9, "source": "curated"})
    write_batch(store, batch, embedder=None)
    return {"pan": pan, "still": still}
