from pathlib import Path

from kdcvg.generation.diffusion.lora import LoraSettings, read_record
from kdcvg.generation.diffusion.pipelines import model_fingerprint
from kdcvg.generation.diffusion.service import distill_clip


def test_distill_saves_per_clip_and_model_then_reuses(tiny_folders: dict[str, Path],
                                                      reference_clip: Path, tmp_path: Path) -> None:
    calls: list[int] = []
    args = (tiny_folders["wan"], "clip-9", str(reference_clip), "a square slides", tmp_path,
            LoraSettings(rank=2, steps=3, lr=1e-3))
    first = distill_clip(*args, frames=9, width=32, height=32, device="cpu",
                         progress=lambda s, t, loss: calls.append(s))
    assert first.folder == tmp_path / "loras" / model_fingerprint(tiny_folders["wan"]) / "clip-9"
    assert (first.reused, calls) == (False, [1, 2, 3])
    assert read_record(first.folder).loss_curve == first.record.loss_curve
    again = distill_clip(*args, frames=9, width=32, height=32, device="cpu")
    assert again.reused and again.record.loss_curve == first.record.loss_curve


def test_mr_lora_trains_once_then_attaches_the_saved_one(tiny_folders: dict[str, Path],
                                                         reference_clip: Path,
                                                         tmp_path: Path) -> None:
    from kdcvg.generation.diffusion import inversion
    from kdcvg.generation.diffusion.lora import detach_mr_lora
    from kdcvg.generation.diffusion.pipelines import load_pipeline
    from kdcvg.generation.diffusion.service import mr_lora

    loaded = load_pipeline(tiny_folders["animatediff"], device="cpu")
    encoded: list[int] = []

    def latents():  # type: ignore[no-untyped-def]
        encoded.append(1)
        return inversion.encode_video(
            loaded, inversion.reference_frames(str(reference_clip), 8, 32, 32))

    args = (loaded, tmp_path, "clip-1", "a square slides", latents, LoraSettings(rank=2, steps=2))
    first = mr_lora(*args)
    detach_mr_lora(loaded)
    second = mr_lora(*args)
    assert (first.reused, second.reused, len(encoded)) == (False, True, 1)
    assert second.folder == first.folder and second.record.loss_curve == first.record.loss_curve
    assert "mr_lora" in loaded.denoiser.peft_config  # reused and attached, ready to render
