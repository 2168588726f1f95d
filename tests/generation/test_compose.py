"""The compose backend: timeline, camera moves on stills, options, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kdcvg.errors import GenerationError
from kdcvg.generation.base import AdJob
from kdcvg.generation.compose import ComposeGenerator, ComposeSettings, _camera_move
from kdcvg.retrieval.scenes import ProductInfo, Reference, Scene
from tests.generation.adkit import write_pan_clip, write_still_clip

PRODUCT = ProductInfo("p1", "AquaPure Bottle", "AquaPure")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clips")
    return {"pan": write_pan_clip(root / "pan.mp4"), "still": write_still_clip(root / "still.mp4")}


def _scenes(clips: dict[str, Path]) -> list[Scene]:
    return [Scene("Pours smoothly", "sp1", (Reference("c-pan", str(clips["pan"]), "", 0.9),)),
            Scene("Keeps cold", "sp2", (Reference("c-still", str(clips["still"]), "", 0.8,
                                                  (("tilt_up", 0.7),)),))]


def test_timeline_covers_duration_with_crossfades_and_modes(clips: dict[str, Path]) -> None:
    job = AdJob("p1", ("sp1", "sp2"), format="16:9", duration_s=6)
    out = ComposeGenerator().generate(job, PRODUCT, _scenes(clips), (320, 180))
    assert (out.num_frames, out.fps) == (180, 30.0)
    progress: list[tuple[int, int]] = []
    out = ComposeGenerator().generate(job, PRODUCT, _scenes(clips), (320, 180),
                                      progress=lambda d, t: progress.append((d, t)))
    frames = list(out.frames)
    assert len(frames) == 180 and {f.shape for f in frames} == {(180, 320, 3)}
    assert progress[-1] == (180, 180)
    scenes = out.metadata["scenes"]
    # 0.4 s crossfade centred on the cut at 3 s
    assert [(s["start_frame"], s["end_frame"]) for s in scenes] == [(0, 96), (84, 180)]
    assert [s["mode"] for s in scenes] == ["clip", "tilt_up"]
    assert out.metadata["settings"]["end_card_frames"] == 40
    # the end card darkens the picture under the product name and call to action
    assert frames[-1].mean() < frames[120].mean()


def test_cut_transition_has_no_overlap(clips: dict[str, Path]) -> None:
    job = AdJob("p1", ("sp1", "sp2"), duration_s=6, options={"transition": "cut"})
    out = ComposeGenerator().generate(job, PRODUCT, _scenes(clips), (180, 320))
    assert [(s["start_frame"], s["end_frame"]) for s in out.metadata["scenes"]] == [(0, 90),
                                                                                    (90, 180)]


def test_still_clip_zooms_in(clips: dict[str, Path]) -> None:
    scene = Scene("Keeps cold", "sp2", (Reference("c", str(clips["still"]), "", 1.0,
                                                  (("zoom_in", 0.9),)),))
    job = AdJob("p1", ("sp2",), duration_s=6, options={"cta": ""})
    frames = list(ComposeGenerator().generate(job, PRODUCT, [scene], (180, 320)).frames)
    # zooming in magnifies: the centre of a late frame resembles an enlarged early centre
    early, late = frames[10].astype(np.float32), frames[120].astype(np.float32)
    assert np.abs(early - late).mean() > 5.0


def test_camera_move_follows_the_strongest_pattern() -> None:
    ref = Reference("c", "x", "", 1.0, (("pan-left", 0.8), ("zoom_in", 0.5)))
    assert _camera_move(Scene("t", None, (ref,)), 0, 0) == "pan_left"
    assert _camera_move(Scene("t", None, (Reference("c", "x", "", 1.0, (("Orbit", 1.0),)),)),
                        0, 0) == "orbit"
    assert _camera_move(Scene("t", None, (Reference("c", "x", "", 1.0),)), 0, 0) == "zoom_in"


@pytest.mark.parametrize(("options", "message"), [
    ({"steps": 20}, "compose backend has no option 'steps'; known options: fps, cta, "
     "transition, crossfade_s"),
    ({"fps": 120}, "compose option fps must be between 1 and 60, got 120.0"),
    ({"transition": "wipe"}, "compose option transition must be 'crossfade' or 'cut', got 'wipe'"),
    ({"fps": "fast"}, "compose option fps='fast' must be a number"),
    ({"fps": True}, "compose option fps=True must be a number"),
    ({"cta": "x" * 81}, "compose option cta is 81 characters, the limit is 80"),
])
def test_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(GenerationError) as e:
        ComposeSettings.from_options(options)
    assert str(e.value) == message


def test_scene_without_references_or_with_bad_size(clips: dict[str, Path]) -> None:
    job = AdJob("p1", ("sp1",))
    with pytest.raises(GenerationError, match=r"scene 1 \('Empty'\) has no reference clip"):
        ComposeGenerator().generate(job, PRODUCT, [Scene("Empty", "sp1", ())], (180, 320))
    with pytest.raises(GenerationError, match="output size must be even and at least 64x64, "
                       "got 181x320"):
        ComposeGenerator().generate(job, PRODUCT, _scenes(clips)[:1], (181, 320))


def test_unreadable_reference_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"garbage")
    scene = Scene("t", "sp", (Reference("c-bad", str(bad), "", 1.0),))
    gen = ComposeGenerator().generate(AdJob("p1", ("sp",)), PRODUCT, [scene], (180, 320))
    with pytest.raises(GenerationError, match="scene 1: reference clip 'c-bad': .*bad.mp4: not a "
                       "readable video"):
        next(gen.frames)
