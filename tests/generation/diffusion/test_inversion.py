from pathlib import Path

import pytest

from kdcvg.errors import GenerationError
from kdcvg.generation.diffusion import inversion as inv
from kdcvg.generation.diffusion.pipelines import load_pipeline


def test_rectified_flow_inversion_then_beta_one_reconstructs_the_reference(
    tiny_folders: dict[str, Path], reference_clip: Path
) -> None:
    import torch

    loaded = load_pipeline(tiny_folders["wan"], device="cpu")
    latents = inv.encode_video(loaded, inv.reference_frames(reference_clip, 9, 32, 32))
    cond, _ = inv.encode_prompt(loaded, "a square slides")
    z = inv.invert(loaded, latents, cond, steps=10, refine=5)
    noise = inv.fresh_noise(loaded, 9, 32, 32, torch.Generator().manual_seed(0))
    start = inv.mix_noise(z, noise, beta=1.0)
    out = loaded.pipe(prompt_embeds=cond, latents=start, num_frames=9, height=32, width=32,
                      num_inference_steps=10, guidance_scale=1.0, output_type="latent").frames
    rel = ((out - latents).norm() / latents.norm()).item()
    assert rel < 1e-3  # stated tolerance: 0.1 % relative L2 on the latents
    assert z.shape == latents.shape == (1, 16, 3, 4, 4)


def test_ddim_inversion_step_is_the_exact_inverse_of_the_sampler_step(
    tiny_folders: dict[str, Path]
) -> None:
    import torch

    loaded = load_pipeline(tiny_folders["animatediff"], device="cpu")
    cond, _ = inv.encode_prompt(loaded, "a square slides")
    scheduler = loaded.pipe.scheduler
    x_t = torch.randn(1, 4, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    # one sampler step from the first timestep of a 1-step schedule, then its inversion
    scheduler.set_timesteps(1)
    t = int(scheduler.timesteps[0])
    eps = inv.predict(loaded, x_t, t, cond.repeat_interleave(4, 0))
    x_prev = scheduler.step(eps, t, x_t).prev_sample
    back = inv.ddim_invert(loaded, x_prev, cond, steps=1, refine=10)
    assert ((back - x_t).norm() / x_t.norm()).item() < 1e-5


def test_mix_noise_bounds_and_identity() -> None:
    import torch

    noise, inverted = torch.randn(1, 4, 2, 2, 2), torch.randn(1, 4, 2, 2, 2)
    assert inv.mix_noise(None, noise, 0.0) is noise
    assert torch.equal(inv.mix_noise(inverted, noise, 1.0), inverted)
    mixed = inv.mix_noise(inverted, noise, 0.6)
    assert torch.allclose(mixed, 0.6 * inverted + 0.8 * noise)
    with pytest.raises(GenerationError, match="beta must be in \\[0, 1\\], got 1.2"):
        inv.mix_noise(inverted, noise, 1.2)


def test_reference_frames_are_cropped_to_size(reference_clip: Path) -> None:
    frames = inv.reference_frames(reference_clip, 6, 32, 16)
    assert frames.shape == (6, 16, 32, 3) and frames.dtype.name == "uint8"
