"""Tiny pipeline folders and a synthetic reference clip, built once per test session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kdcvg.retrieval.scenes import ProductInfo, Reference, Scene


@pytest.fixture(scope="session")
def tiny_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """kind -> a saved tiny pipeline folder, loaded through the real loading code by tests."""
    from kdcvg.generation.diffusion.tiny import save_tiny_pipeline

    root = tmp_path_factory.mktemp("tiny-pipelines")
    return {kind: save_tiny_pipeline(root / kind, kind=kind, seed=0)
            for kind in ("animatediff", "wan")}


@pytest.fixture(scope="session")
def reference_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 24-frame 64x48 clip of a bright square sliding right (real H.264 through video.py)."""
    from kdcvg.media.video import write_mp4

    frames = []
    for i in range(24):
        f = np.full((48, 64, 3), 40, dtype=np.uint8)
        f[16:32, 2 + 2 * i:18 + 2 * i] = (230, 180, 60)
        frames.append(f)
    path = tmp_path_factory.mktemp("clips") / "slide.mp4"
    write_mp4(path, frames, fps=8)
    return path


@pytest.fixture
def product() -> ProductInfo:
    return ProductInfo("p1", "AquaPure", brand="Acme", category="Beverages")


@pytest.fixture
def scene(reference_clip: Path) -> Scene:
    ref = Reference("clip-1", str(reference_clip), "A hand pours cold water into a glass "
                    "on a kitchen counter", 0.9, (("pan_left", 0.8),))
    return Scene("keeps drinks cold for 24 hours", "sp1", (ref,))
