"""Synthetic demo footage: deterministic, the right size, and its motion is recoverable."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from kdcvg.demo.catalog import DEMO_CLIPS, PRODUCTS
from kdcvg.demo.footage import render_clip
from kdcvg.errors import VideoError
from kdcvg.media.motion import analysis_rate, classify, describe_frames

PRODUCT = {p.id: p for p in PRODUCTS}


def test_render_is_deterministic_and_sized() -> None:
    clip = DEMO_CLIPS[0]
    a = list(render_clip(clip, PRODUCT[clip.product]))
    b = list(render_clip(clip, PRODUCT[clip.product]))
    assert len(a) == round(clip.duration_s * clip.fps)
    assert a[0].shape == (clip.size, clip.size, 3) and a[0].dtype == np.uint8
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], a[-1])  # something moves


def test_bad_specs_are_refused() -> None:
    clip = DEMO_CLIPS[0]
    with pytest.raises(
        VideoError,
        match=r"clip clip-aurora-water-pour: size must be even and in "
        r"32\.\.512, got 33",
    ):
        render_clip(replace(clip, size=33), PRODUCT[clip.product])
    with pytest.raises(VideoError, match="camera scene 'zoom' cannot show 'pour'"):
        render_clip(replace(clip, scene="zoom"), PRODUCT[clip.product])


def test_classifier_recovers_the_rendered_motion() -> None:
    """At least 90% top-1 over the whole library (frames in memory; MP4 round trip in test_demo)."""
    hits = []
    for clip in DEMO_CLIPS:
        frames = list(render_clip(clip, PRODUCT[clip.product]))
        step = max(1, round(clip.fps / analysis_rate(clip.duration_s, clip.fps)))
        top = classify(describe_frames(frames[::step], clip.fps / step))[0][0]
        hits.append(top == clip.motion)
    assert sum(hits) / len(hits) >= 0.9, [
        c.id for c, ok in zip(DEMO_CLIPS, hits, strict=True) if not ok
    ]
