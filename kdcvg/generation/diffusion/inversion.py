"""Reference inversion: the reference clip as structurally aligned initial noise.

The reference's frames go through the pipeline's own VAE, then back along the
sampler's trajectory to noise: DDIM inversion for AnimateDiff (epsilon or v
prediction), rectified-flow (Euler) inversion for Wan. The inverted noise is
mixed with fresh noise by the reference intensity beta:

    initial = beta * inverted + sqrt(1 - beta^2) * noise

which keeps unit variance for independent parts. beta = 0 is the plain
pipeline (no inversion runs); beta = 1 replays the reference's trajectory.
Inversion uses the conditional prompt only (guidance 1), as is usual.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from kdcvg.errors import GenerationError
from kdcvg.generation.diffusion.pipelines import LoadedPipeline


def reference_frames(
    path: str | os.PathLike[str],
    num_frames: int,
    width: int,
    height: int,
    sample_fps: float | None = 8.0,
) -> np.ndarray:
    """Decode `num_frames` frames of the reference, centre-cropped and resized to (height, width).

    Returns:
        uint8 array (F, H, W, 3).

    Raises:
        GenerationError: the clip has fewer frames than asked for.
        VideoError: the file cannot be read.
    """
    import cv2

    from kdcvg.media.video import iter_frames

    frames = list(iter_frames(path, sample_fps=sample_fps, max_side=max(width, height) * 2,
                              max_frames=num_frames))
    if len(frames) < num_frames:
        rate = "every frame" if sample_fps is None else f"{sample_fps:g} fps"
        raise GenerationError(
            f"reference clip {path} gives only {len(frames)} frames at {rate}, "
            f"fewer than the {num_frames} frames requested; ask for fewer frames "
            "(frames=N), a higher fps, or use a longer clip"
        )
    out = []
    for f in frames:
        h, w = f.shape[:2]
        scale = max(width / w, height / h)  # cover, then crop the centre
        rw, rh = max(width, round(w * scale)), max(height, round(h * scale))
        f = cv2.resize(f, (rw, rh), interpolation=cv2.INTER_AREA)
        y, x = (rh - height) // 2, (rw - width) // 2
        out.append(f[y:y + height, x:x + width])
    return np.stack(out)


def encode_video(loaded: LoadedPipeline, frames: np.ndarray) -> Any:
    """VAE-encode frames into the latent layout the pipeline denoises (its `output_type="latent"`).

    Args:
        loaded: the pipeline.
        frames: uint8 (F, H, W, 3).

    Returns:
        torch.Tensor (1, C, F', H/s, W/s) in float32 on the pipeline's device; F' = F for
        AnimateDiff, (F - 1) / 4 + 1 for Wan. The latent distribution's mean is used, so the
        same frames give the same latents.
    """
    import torch

    pipe = loaded.pipe
    vae = pipe.vae
    device = loaded.device
    pixels = torch.from_numpy(frames).to(device=device, dtype=vae.dtype)
    pixels = pixels.permute(0, 3, 1, 2) / 127.5 - 1.0  # (F, 3, H, W) in [-1, 1]
    with torch.no_grad():
        latents = loaded.family.encode_video(vae, pixels)
    return latents.float()


def predict(loaded: LoadedPipeline, latents: Any, timestep: Any, embeds: Any) -> Any:
    """One denoiser call in the pipeline's latent layout.

    `embeds` are the text embeddings as `loaded.family.frame_embeds` makes them
    (AnimateDiff: one per frame).
    """
    import torch

    denoiser = loaded.denoiser
    x = latents.to(denoiser.dtype)
    t = torch.as_tensor(timestep, device=latents.device).reshape(-1)
    return loaded.family.denoise(denoiser, x, t, embeds).float()


def ddim_invert(
    loaded: LoadedPipeline, latents: Any, prompt_embeds: Any, steps: int, refine: int = 0
) -> Any:
    """DDIM inversion: clean latents -> the noise the DDIM sampler would turn back into them.

    The sampler's step i maps x at t_i to x at prev(t_i) with eps(x_{t_i}, t_i); inversion
    walks the same timesteps backwards and evaluates eps at the lower-noise latent (the
    usual approximation). `refine` fixed-point iterations then re-evaluate eps at the
    latent the sampler will actually see, so with the same prompt, steps and guidance 1
    the sampler retraces the path more closely (each iteration costs one more call per step).

    Shapes:
        latents: (B, C, F, h, w) -> (B, C, F, h, w).
    """
    import torch

    scheduler = loaded.pipe.scheduler
    scheduler.set_timesteps(steps, device=latents.device)
    alphas = scheduler.alphas_cumprod.to(latents.device, torch.float64)
    final = torch.as_tensor(scheduler.final_alpha_cumprod, dtype=torch.float64)
    ratio = scheduler.config.num_train_timesteps // scheduler.num_inference_steps
    prediction = scheduler.config.prediction_type
    embeds = loaded.family.frame_embeds(prompt_embeds, latents.shape[2])
    x = latents.double()
    with torch.no_grad():
        for t in reversed(scheduler.timesteps.tolist()):
            prev = t - ratio
            a_prev = alphas[prev] if prev >= 0 else final
            a_t = alphas[t]
            guess = x
            for _ in range(1 + refine):
                out = predict(loaded, guess.float(), t, embeds).double()
                # eps and x0 as the sampler reads them from its output at x_t
                if prediction == "epsilon":
                    eps = out
                elif prediction == "v_prediction":
                    eps = a_t.sqrt() * out + (1 - a_t).sqrt() * guess
                else:
                    raise GenerationError(
                        f"DDIM inversion supports epsilon and v_prediction, not {prediction!r}"
                    )
                x0 = (x - (1 - a_prev).sqrt() * eps) / a_prev.sqrt()
                guess = a_t.sqrt() * x0 + (1 - a_t).sqrt() * eps
            x = guess
    return x.float()


def flow_invert(
    loaded: LoadedPipeline, latents: Any, prompt_embeds: Any, steps: int, refine: int = 0
) -> Any:
    """Rectified-flow inversion: Euler steps of the velocity field from sigma 0 up to sigma_max.

    The sampler's step i is x(s_{i+1}) = x(s_i) + (s_{i+1} - s_i) v(x(s_i), t_i); inversion
    takes the same sigmas backwards with v evaluated at the lower-noise latent, then
    `refine` fixed-point iterations evaluate it where the sampler will.

    Shapes:
        latents: (B, C, F', h, w) -> (B, C, F', h, w).
    """
    import torch

    scheduler = loaded.pipe.scheduler
    scheduler.set_timesteps(steps, device=latents.device)
    sigmas = scheduler.sigmas.to(latents.device, torch.float64)
    timesteps = scheduler.timesteps
    x = latents.double()
    with torch.no_grad():
        for i in reversed(range(len(timesteps))):
            guess = x
            for _ in range(1 + refine):
                v = predict(loaded, guess.float(), timesteps[i], prompt_embeds).double()
                guess = x - (sigmas[i + 1] - sigmas[i]) * v
            x = guess
    return x.float()


def encode_prompt(loaded: LoadedPipeline, prompt: str, negative: str | None = None,
                  guidance: float = 1.0) -> tuple[Any, Any]:
    """The pipeline's own text embeddings: (cond (1, L, D), uncond or None)."""
    import torch

    with torch.no_grad():
        return loaded.family.encode_prompt(loaded.pipe, loaded.device, prompt, negative,
                                           guidance > 1.0)


def blend_embeddings(loaded: LoadedPipeline, prompt: str, captions: Sequence[str],
                     weight: float) -> Any:
    """(1 - weight) * embed(prompt) + weight * mean(embed(captions)): the optional caption blend."""
    import torch

    cond, _ = encode_prompt(loaded, prompt)
    if weight == 0.0 or not captions:
        return cond
    others = torch.cat([encode_prompt(loaded, c)[0] for c in captions]).mean(0, keepdim=True)
    return (1.0 - weight) * cond + weight * others


INVERSIONS = {"ddim": ddim_invert, "rectified_flow": flow_invert}  # Family.inversion -> function


def invert(
    loaded: LoadedPipeline, latents: Any, prompt_embeds: Any, steps: int, refine: int = 0
) -> Any:
    """The family's inversion: DDIM for AnimateDiff, rectified flow for Wan."""
    return INVERSIONS[loaded.family.inversion](loaded, latents, prompt_embeds, steps, refine)


def mix_noise(inverted: Any | None, noise: Any, beta: float) -> Any:
    """beta * inverted + sqrt(1 - beta^2) * noise; beta = 0 returns `noise` itself.

    Raises:
        GenerationError: beta outside [0, 1], or beta > 0 without inverted latents.
    """
    if not 0.0 <= beta <= 1.0:
        raise GenerationError(f"beta must be in [0, 1], got {beta}")
    if beta == 0.0:
        return noise
    if inverted is None or tuple(inverted.shape) != tuple(noise.shape):
        shape = None if inverted is None else tuple(inverted.shape)
        raise GenerationError(
            f"inverted latents {shape} do not match the noise {tuple(noise.shape)}"
        )
    return beta * inverted.to(noise) + math.sqrt(1.0 - beta * beta) * noise


def fresh_noise(loaded: LoadedPipeline, num_frames: int, height: int, width: int,
                generator: Any) -> Any:
    """The noise the pipeline itself would draw first with this generator (same draw)."""
    import torch
    from diffusers.utils.torch_utils import randn_tensor

    shape, dtype = loaded.family.noise_shape(loaded.pipe, num_frames, height, width)
    return randn_tensor(shape, generator=generator, device=torch.device(loaded.device), dtype=dtype)
