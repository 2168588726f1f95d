import re
from pathlib import Path

import pytest

from kdcvg.errors import GenerationError
from kdcvg.generation.diffusion import inversion as inv
from kdcvg.generation.diffusion import lora
from kdcvg.generation.diffusion.pipelines import load_pipeline


def _setup(folder: Path, clip: Path, frames: int):  # type: ignore[no-untyped-def]
    loaded = load_pipeline(folder, device="cpu")
    latents = inv.encode_video(loaded, inv.reference_frames(clip, frames, 32, 32))
    cond, _ = inv.encode_prompt(loaded, "a square slides right")
    return loaded, latents, cond


@pytest.mark.parametrize(("kind", "frames"), [("animatediff", 4), ("wan", 9)])
def test_training_lowers_motion_loss_and_touches_only_query_projections(
    kind: str, frames: int, tiny_folders: dict[str, Path], reference_clip: Path
) -> None:
    loaded, latents, cond = _setup(tiny_folders[kind], reference_clip, frames)
    before = {k: v.clone() for k, v in loaded.denoiser.state_dict().items()}
    loss0 = lora.motion_loss(loaded, latents, cond)
    record = lora.train_mr_lora(loaded, latents, cond, "clip-1",
                                lora.LoraSettings(rank=4, steps=12, lr=1e-2))
    loss1 = lora.motion_loss(loaded, latents, cond)
    assert loss1 < loss0
    assert len(record.loss_curve) == 12
    after = loaded.denoiser.state_dict()
    base_keys = {k.replace(".base_layer", "") for k in after if "lora_" not in k}
    assert base_keys == set(before)
    for key, value in after.items():
        if "lora_" not in key:
            assert value.equal(before[key.replace(".base_layer", "")]), key
    adapted = {k.split(".lora_")[0] for k in after if "lora_B" in k}
    assert adapted and all(re.fullmatch(lora.TARGETS[kind], m) for m in adapted)
    assert all(m.endswith("to_q") for m in adapted)
    assert any(after[k].abs().sum() > 0 for k in after if "lora_B" in k)
    lora.detach_mr_lora(loaded)
    assert lora.motion_loss(loaded, latents, cond) == pytest.approx(loss0, rel=1e-6)


def test_saved_lora_reloads_to_the_same_outputs(tiny_folders: dict[str, Path],
                                               reference_clip: Path, tmp_path: Path) -> None:
    import torch

    loaded, latents, cond = _setup(tiny_folders["animatediff"], reference_clip, 4)
    record = lora.train_mr_lora(loaded, latents, cond, "clip/1",
                                lora.LoraSettings(rank=4, steps=3, lr=1e-2))
    target = lora.lora_dir(tmp_path, loaded.fingerprint, "clip/1")
    folder = lora.save_mr_lora(loaded, record, target)
    assert folder == tmp_path / "loras" / loaded.fingerprint / "clip_1"

    def run(pipe):  # type: ignore[no-untyped-def]
        return pipe(prompt_embeds=cond, num_frames=4, height=32, width=32, num_inference_steps=2,
                    guidance_scale=1.0, generator=torch.Generator().manual_seed(3),
                    output_type="latent").frames

    trained = run(loaded.pipe)
    fresh = load_pipeline(tiny_folders["animatediff"], device="cpu")
    plain = run(fresh.pipe)
    back = lora.load_mr_lora(fresh, folder)
    assert back.loss_curve == record.loss_curve
    assert torch.equal(run(fresh.pipe), trained)
    assert not torch.equal(plain, trained)


def test_lora_for_another_model_is_refused(tiny_folders: dict[str, Path],
                                           reference_clip: Path, tmp_path: Path) -> None:
    loaded, latents, cond = _setup(tiny_folders["animatediff"], reference_clip, 4)
    record = lora.train_mr_lora(loaded, latents, cond, "clip-1",
                                lora.LoraSettings(rank=2, steps=1))
    folder = lora.save_mr_lora(loaded, record, tmp_path / "lora")
    wan = load_pipeline(tiny_folders["wan"], device="cpu")
    with pytest.raises(GenerationError) as e:
        lora.load_mr_lora(wan, folder)
    assert str(e.value) == (
        f"MR-LoRA {folder} was trained for model {loaded.fingerprint} (animatediff), not for "
        f"{wan.folder} ({wan.fingerprint}, wan); distill it again for this model with "
        f"`kdcvg generate distill --clip clip-1 --model {wan.folder}`")
    assert "mr_lora" not in (getattr(wan.denoiser, "peft_config", None) or {})


def test_bad_settings_and_missing_lora(tmp_path: Path) -> None:
    with pytest.raises(GenerationError, match="lora_rank must be >= 1, got 0"):
        lora.LoraSettings(rank=0).check()
    with pytest.raises(GenerationError, match="no MR-LoRA here"):
        lora.read_record(tmp_path)
