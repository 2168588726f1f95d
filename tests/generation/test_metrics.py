"""Quality measures on real encoded files."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdcvg.errors import GenerationError
from kdcvg.generation.metrics import measure
from kdcvg.media import video
from kdcvg.retrieval.scenes import Reference, Scene
from tests.generation.adkit import texture, write_pan_clip, write_still_clip


def _scene(path: Path) -> list[Scene]:
    return [Scene("A bottle", "sp", (Reference("c", str(path), "", 1.0),))]


def test_still_video_is_not_dynamic_and_perfectly_smooth(tmp_path: Path) -> None:
    still = write_still_clip(tmp_path / "still.mp4")
    m = measure(still, _scene(still), {})
    assert m["dynamic_degree"] == 0.0
    assert m["motion_smoothness"] > 0.995 and m["temporal_consistency"] > 0.99
    assert m["motion_fidelity_scenes"][0]["output_pattern"] == "static"
    assert m["motion_fidelity"] == pytest.approx(1.0, abs=0.01)  # same clip as its reference
    assert m["frames_measured"] == 60


def test_fast_pan_is_dynamic_and_less_consistent(tmp_path: Path) -> None:
    pan = write_pan_clip(tmp_path / "pan.mp4", speed=12)
    m = measure(pan, _scene(pan), {})
    assert m["dynamic_degree"] == 1.0
    assert m["temporal_consistency"] < 0.9


def test_jumping_frames_are_not_smooth(tmp_path: Path) -> None:
    a, b = texture(240, 320, seed=5), texture(240, 320, seed=6)
    flicker = tmp_path / "flicker.mp4"
    video.write_mp4(flicker, ([a, b][i % 2] for i in range(30)), 30)
    still = write_still_clip(tmp_path / "still.mp4")
    flick = measure(flicker, _scene(flicker), {})["motion_smoothness"]
    calm = measure(still, _scene(still), {})["motion_smoothness"]
    assert flick < calm - 0.1


def test_clip_score_needs_a_model_folder(tmp_path: Path) -> None:
    still = write_still_clip(tmp_path / "still.mp4", seconds=0.5)
    m = measure(still, _scene(still), {})
    assert (m["clip_score"], m["clip_score_note"]) == (None, "not computed: no --clip-model given")
    with pytest.raises(GenerationError, match="--clip-model .*nope: not a folder"):
        measure(still, _scene(still), {}, clip_model=tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GenerationError, match="--clip-model .*empty: cannot load a CLIP model"):
        measure(still, _scene(still), {}, clip_model=empty)


def test_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"xx")
    with pytest.raises(GenerationError, match="cannot measure .*bad.mp4: .*not a readable video"):
        measure(bad, _scene(bad), {})


def test_scene_spans_leave_out_crossfades_and_end_card(tmp_path: Path) -> None:
    from kdcvg.generation.metrics import _scene_spans

    meta = {"settings": {"crossfade_frames": 12, "end_card_frames": 40},
            "scenes": [{"start_frame": 0, "end_frame": 96}, {"start_frame": 84,
                                                             "end_frame": 180}]}
    assert _scene_spans(meta, 2, 180) == [(0, 84), (96, 140)]
    assert _scene_spans({}, 3, 90) == [(0, 30), (30, 60), (60, 90)]
