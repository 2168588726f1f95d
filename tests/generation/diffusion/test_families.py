"""One adapter per pipeline family, found by kind; loaded pipelines answer with theirs."""

from pathlib import Path

import pytest

from kdcvg.errors import GenerationError
from kdcvg.generation.diffusion.families import FAMILIES, family
from kdcvg.generation.diffusion.pipelines import SUPPORTED_PIPELINES, load_pipeline


@pytest.mark.parametrize(
    ("kind", "denoiser", "frames", "inversion"),
    [("animatediff", "unet", 16, "ddim"), ("wan", "transformer", 17, "rectified_flow")],
)
def test_a_loaded_pipeline_answers_with_its_familys_adapter(
    tiny_folders: dict[str, Path], kind: str, denoiser: str, frames: int, inversion: str
) -> None:
    loaded = load_pipeline(tiny_folders[kind], device="cpu")
    adapter = loaded.family
    assert adapter is family(kind) and type(loaded.pipe).__name__ == adapter.pipeline_class
    assert loaded.denoiser is getattr(loaded.pipe, denoiser)
    assert (adapter.frame_count(None), adapter.frame_count(9), adapter.inversion) == (
        frames, 9, inversion)


def test_every_family_is_a_supported_pipeline_and_an_unknown_kind_is_refused() -> None:
    assert sorted(SUPPORTED_PIPELINES.values()) == sorted(FAMILIES) == ["animatediff", "wan"]
    with pytest.raises(GenerationError) as e:
        family("sd3")
    assert str(e.value) == "pipeline family 'sd3' is unknown; expected one of animatediff, wan"


def test_wan_refuses_frame_counts_its_vae_cannot_make(tiny_folders: dict[str, Path]) -> None:
    loaded = load_pipeline(tiny_folders["wan"], device="cpu")
    with pytest.raises(GenerationError) as e:
        loaded.family.check_frames(loaded.pipe, 16)
    assert str(e.value) == "Wan needs frames = 4k + 1 (e.g. 17, 33), got 16"
    ad = load_pipeline(tiny_folders["animatediff"], device="cpu")
    assert [ad.family.check_frames(ad.pipe, n) for n in (8, 16)] == [None, None]
