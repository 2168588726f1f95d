"""Outputs: small backend frames fitted to the format, poster, sidecar, cleanup on failure."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from kdcvg.errors import GenerationError
from kdcvg.generation import outputs
from kdcvg.generation.base import AdJob, GeneratedVideo, ProgressCallback
from kdcvg.generation.pipeline import PreparedJob, render_job
from kdcvg.media import video
from kdcvg.retrieval.scenes import ProductInfo, Scene


class SquareGenerator:
    """A backend shaped like MKR's: 16 frames of 512x512, whatever size is asked for."""

    name = "square"

    def __init__(self, frames: int = 16, fail_at: int | None = None) -> None:
        self.count, self.fail_at = frames, fail_at

    def generate(self, job: AdJob, product: ProductInfo, scenes: Sequence[Scene],
                 size: tuple[int, int], progress: ProgressCallback | None = None
                 ) -> GeneratedVideo:
        def frames() -> Iterator[np.ndarray]:
            for i in range(self.count):
                if i == self.fail_at:
                    raise GenerationError("the denoiser ran out of memory")
                f = np.zeros((512, 512, 3), np.uint8)
                f[:, : 16 * (i + 1)] = 200
                yield f
        return GeneratedVideo(frames(), 16, 8.0, {"backend": self.name})


def test_small_square_frames_fill_the_requested_format(tmp_path: Path) -> None:
    paths = outputs.OutputPaths.for_video(tmp_path / "ad.mp4")
    generated = SquareGenerator().generate(AdJob("p", ("s",)), ProductInfo("p", "P"), [],
                                           (720, 1280))
    written = outputs.encode(generated, paths, (720, 1280))
    assert written == {"frames": 16, "fps": 8.0, "size": [720, 1280]}
    info = video.probe(paths.video)
    assert (info.width, info.height, info.frame_count) == (720, 1280, 16)
    from PIL import Image

    assert Image.open(paths.poster).size == (720, 1280)


def test_wrong_frame_count_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    paths = outputs.OutputPaths.for_video(tmp_path / "ad.mp4")
    generated = SquareGenerator(frames=10).generate(AdJob("p", ("s",)), ProductInfo("p", "P"),
                                                    [], (180, 320))
    with pytest.raises(GenerationError, match="backend promised 16 frames but yielded 10"):
        outputs.encode(generated, paths, (180, 320))
    assert not paths.video.exists()


def test_failure_mid_render_keeps_an_earlier_ad_and_no_partials(tmp_path: Path,
                                                               monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from kdcvg.generation import pipeline

    out = tmp_path / "ad.mp4"
    for p in outputs.OutputPaths.for_video(out).all():
        p.write_text("earlier ad")
    monkeypatch.setattr(pipeline, "get_generator", lambda name: SquareGenerator(fail_at=5))
    prepared = PreparedJob(AdJob("p", ("s",)), ProductInfo("p", "P"), ())
    with pytest.raises(GenerationError, match="the denoiser ran out of memory"):
        render_job(prepared, out, size=(180, 320))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ad.jpg", "ad.json", "ad.mp4"]
    assert out.read_text() == "earlier ad"


def test_package_versions_name_the_stack() -> None:
    versions = outputs.package_versions()
    assert versions["av"] and versions["numpy"] and versions["python"].startswith("3.11")


def test_sidecar_on_a_full_disk_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    from tests.small_disk import fill, small_disk

    with small_disk(tmp_path / "disk", "32k") as disk:
        fill(disk)
        sidecar = disk / "ad.json"
        with pytest.raises(outputs.NoSpaceError) as e:
            outputs.write_sidecar(sidecar, {"schema": outputs.SIDECAR_SCHEMA, "x": "y" * 10_000})
        assert str(e.value) == (f"cannot write {sidecar}: No space left on device; free space "
                                "there (or choose another --out) and run again")
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]


def test_render_on_a_full_disk_leaves_no_part_of_the_ad(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from kdcvg.generation import pipeline
    from tests.small_disk import fill, small_disk

    monkeypatch.setattr(pipeline, "get_generator", lambda name: SquareGenerator())
    prepared = PreparedJob(AdJob("p", ("s",)), ProductInfo("p", "P"), ())
    with small_disk(tmp_path / "disk", "32k") as disk:
        fill(disk)
        with pytest.raises(outputs.NoSpaceError, match=r"^cannot write .*ad\.mp4: No space left"):
            render_job(prepared, disk / "ad.mp4", size=(180, 320))
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]
