"""Motion descriptor and classifier: synthetic motion with known answers, and real footage."""

from __future__ import annotations

import numpy as np
import pytest

from kdcvg.errors import VideoError
from kdcvg.graph.motion_patterns import MOTION_PATTERNS
from kdcvg.media.motion import (
    DETECTABLE_PATTERNS,
    MOTION_DIM,
    MOTION_FIELDS,
    classify,
    describe_file,
    describe_frames,
    named_fields,
    pattern_scores,
)
from tests.conftest import shared_clip


def _texture(seed: int, side: int) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    small = (rng.random((side // 8, side // 8, 3)) * 255).astype(np.uint8)
    return cv2.resize(small, (side, side), interpolation=cv2.INTER_CUBIC)


def _shifted(dx: int, dy: int, n: int = 16, side: int = 96) -> list[np.ndarray]:
    world = _texture(0, side * 3)
    c = side
    return [world[c + i * dy : c + i * dy + side, c + i * dx : c + i * dx + side] for i in range(n)]


def test_vocabulary_matches_the_catalogue() -> None:
    detectable = {m.name for m in MOTION_PATTERNS if m.detectable}
    assert detectable == set(DETECTABLE_PATTERNS)
    assert len(MOTION_FIELDS) == MOTION_DIM == 25


@pytest.mark.parametrize(
    ("dx", "dy", "pattern"),
    [
        (-2, 0, "pan_left"),  # window moves left: the scene slides right
        (2, 0, "pan_right"),
        (0, -2, "tilt_up"),
        (0, 2, "tilt_down"),
    ],
)
def test_global_translation_is_a_pan_or_tilt(dx: int, dy: int, pattern: str) -> None:
    d = describe_frames(_shifted(dx, dy), fps=8)
    assert d.dtype == np.float32 and d.shape == (MOTION_DIM,)
    assert d[MOTION_FIELDS.index("globality")] > 0.8
    assert classify(d)[0][0] == pattern


def test_still_frames_are_static() -> None:
    frame = _texture(1, 96)
    d = describe_frames([frame] * 10, fps=8)
    assert d[MOTION_FIELDS.index("magnitude")] < 1e-3
    assert classify(d)[0] == ("static", 1.0)


def test_named_fields_skip_the_histogram() -> None:
    d = describe_frames(_shifted(2, 0), fps=8)
    fields = named_fields(d)
    assert "motion_translation_x" in fields and fields["motion_translation_x"] < 0
    assert not any(k.startswith("motion_direction") for k in fields)


def test_bad_inputs_have_clear_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(VideoError, match=r"needs at least 2 frames, got fewer"):
        describe_frames([_texture(0, 64)], fps=8)
    with pytest.raises(VideoError, match=r"must have shape \(25,\), got \(3,\)"):
        pattern_scores(np.zeros(3, np.float32))
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(VideoError, match="not a readable video"):
        describe_file(text)


# real footage: the descriptor must tell them apart the way a person would
@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("bottles-on-table.mp4", "static"),
        ("cockatoo-handheld.mp4", "shake"),
        ("newtons-cradle.gif", "periodic"),
        ("produce-conveyor.gif", "slide"),
        ("bolt-conveyor.gif", "slide"),
    ],
)
def test_real_footage_top_pattern(name: str, pattern: str) -> None:
    ranked = classify(describe_file(shared_clip(name)))
    assert ranked[0][0] == pattern, ranked


def test_conveyors_move_sideways() -> None:
    d = describe_file(shared_clip("produce-conveyor.gif"))
    assert abs(d[MOTION_FIELDS.index("object_x")]) > 5 * abs(d[MOTION_FIELDS.index("object_y")])


def _stream(vertical: bool, n: int = 24, side: int = 96) -> list[np.ndarray]:
    """A still scene with a thin band whose texture changes every frame (a pouring stream)."""
    rng = np.random.default_rng(3)
    background = _texture(2, side)
    frames = []
    for _ in range(n):
        frame = background.copy()
        ripples = rng.integers(150, 255, size=(side - 20, 2, 1), dtype=np.uint8)
        if vertical:
            frame[10 : side - 10, side // 2 : side // 2 + 2] = ripples
        else:
            frame[side // 2 : side // 2 + 2, 10 : side - 10] = ripples.transpose(1, 0, 2)
        frames.append(frame)
    return frames


def test_a_thin_vertical_stream_of_change_is_a_pour() -> None:
    d = describe_frames(_stream(vertical=True), fps=8)
    height, width = d[MOTION_FIELDS.index("streak_height")], d[MOTION_FIELDS.index("streak_width")]
    assert height == pytest.approx(76 / 96, abs=0.03) and width < 0.1
    assert classify(d)[0][0] == "pour"
    # the same band lying down is no stream: gravity makes streams vertical
    flat = describe_frames(_stream(vertical=False), fps=8)
    assert flat[MOTION_FIELDS.index("streak_height")] < 0.1
    assert classify(flat)[0][0] != "pour"


def test_real_pour_is_pour() -> None:
    """The thin steady stream is invisible to flow at 128 px; its band of change is not."""
    d = describe_file(shared_clip("water-pour.mp4"))
    assert d[MOTION_FIELDS.index("streak_height")] > 4 * d[MOTION_FIELDS.index("streak_width")]
    ranked = classify(d)
    assert ranked[0][0] == "pour" and ranked[0][1] > 0.8, ranked
