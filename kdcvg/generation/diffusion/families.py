"""What differs between the pipeline families MKR runs on: one small adapter per family.

The rest of the diffusers backend (loading, inversion, MR-LoRA, the generator)
is written once and asks the family of its pipeline (`LoadedPipeline.family`,
looked up by kind with `family(kind)`) whenever the two differ:

- `AnimateDiff`: Stable Diffusion 1.5 UNet + motion modules; latents (B, C, F, h, w),
  one text embedding per frame, epsilon or v prediction, DDIM inversion, LoRA on the
  motion modules' query projections.
- `Wan`: Wan 2.1 transformer; a causal video VAE (F' = (F - 1) / 4 + 1 latent frames)
  with per-channel latent statistics, flow matching, rectified-flow inversion, LoRA on
  the self-attention query projections.

Adapters hold no state; torch and diffusers are imported inside their methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from kdcvg.errors import GenerationError


class Family(ABC):
    """The family interface; a subclass per supported pipeline family.

    Attributes:
        kind: the family's name, `LoadedPipeline.kind` ("animatediff", "wan").
        pipeline_class: the `_class_name` in `model_index.json` that loads as this family.
        default_frames: frames per scene when the user gives none.
        cuda_dtype: the weights' dtype for `dtype=auto` on CUDA (the CPU uses float32).
        inversion: "ddim" or "rectified_flow", the sampler trajectory inverted.
        lora_targets: peft regex of the temporal attention's query projections.
    """

    kind: ClassVar[str]
    pipeline_class: ClassVar[str]
    default_frames: ClassVar[int]
    cuda_dtype: ClassVar[str]
    inversion: ClassVar[str]
    lora_targets: ClassVar[str]

    def frame_count(self, requested: int | None) -> int:
        """`requested`, or the family's default when None."""
        return requested or self.default_frames

    @abstractmethod
    def from_pretrained(self, root: Path, dtype: Any, motion_adapter: str | None) -> Any:
        """Load the pipeline from a local folder (no hub access)."""

    @abstractmethod
    def denoiser(self, pipe: Any) -> Any:
        """The network MR-LoRA adapts and inversion calls."""

    @abstractmethod
    def spatial_factor(self, pipe: Any) -> int:
        """Pixels per latent cell along height and width."""

    def size_multiple(self, pipe: Any) -> int:
        """What width and height must be multiples of."""
        return self.spatial_factor(pipe)

    def check_frames(self, pipe: Any, frames: int) -> None:  # noqa: B027 - most take any count
        """Raise `GenerationError` when the pipeline cannot make `frames` frames."""

    @abstractmethod
    def encode_video(self, vae: Any, pixels: Any) -> Any:
        """VAE latents (1, C, F', h, w) of pixels (F, 3, H, W) in [-1, 1]."""

    @abstractmethod
    def encode_prompt(self, pipe: Any, device: str, prompt: str, negative: str | None,
                      guidance: bool) -> tuple[Any, Any]:
        """The pipeline's own (cond (1, L, D), uncond or None) text embeddings."""

    def frame_embeds(self, prompt_embeds: Any, frames: int) -> Any:
        """The text embeddings as the denoiser takes them for `frames` latent frames."""
        return prompt_embeds

    @abstractmethod
    def denoise(self, denoiser: Any, latents: Any, timestep: Any, embeds: Any) -> Any:
        """One denoiser call on latents (B, C, F', h, w) at timestep (1,)."""

    @abstractmethod
    def noise_shape(self, pipe: Any, frames: int, height: int, width: int) -> tuple[tuple, Any]:
        """(shape, torch dtype) of the first noise the pipeline draws."""

    @abstractmethod
    def training_pair(self, scheduler: Any, latents: Any, noise: Any,
                      generator: Any) -> tuple[Any, Any, Any]:
        """(timestep, noised latents, target) for one MR-LoRA step, drawn with `generator`."""


class AnimateDiff(Family):
    """`AnimateDiffPipeline` (or SD 1.5 + `MotionAdapter`)."""

    kind = "animatediff"
    pipeline_class = "AnimateDiffPipeline"
    default_frames = 16
    cuda_dtype = "float16"
    inversion = "ddim"
    lora_targets = r".*motion_modules\.\d+\.transformer_blocks\.\d+\.attn[12]\.to_q"

    def from_pretrained(self, root: Path, dtype: Any, motion_adapter: str | None) -> Any:
        import diffusers

        extra: dict[str, Any] = {}
        if motion_adapter is not None:
            extra["motion_adapter"] = diffusers.MotionAdapter.from_pretrained(
                str(motion_adapter), dtype=dtype, local_files_only=True
            )
        return diffusers.AnimateDiffPipeline.from_pretrained(
            str(root), dtype=dtype, local_files_only=True, **extra
        )

    def denoiser(self, pipe: Any) -> Any:
        return pipe.unet

    def spatial_factor(self, pipe: Any) -> int:
        return int(pipe.vae_scale_factor)

    def encode_video(self, vae: Any, pixels: Any) -> Any:
        latents = vae.encode(pixels).latent_dist.mean * vae.config.scaling_factor
        return latents.permute(1, 0, 2, 3).unsqueeze(0)  # (1, C, F, h, w)

    def encode_prompt(self, pipe: Any, device: str, prompt: str, negative: str | None,
                      guidance: bool) -> tuple[Any, Any]:
        cond, uncond = pipe.encode_prompt(prompt, device, 1, guidance, negative)
        return cond, uncond

    def frame_embeds(self, prompt_embeds: Any, frames: int) -> Any:
        # the motion UNet wants one text embedding per frame: (B*F, L, D)
        return prompt_embeds.repeat_interleave(frames, dim=0)

    def denoise(self, denoiser: Any, latents: Any, timestep: Any, embeds: Any) -> Any:
        return denoiser(latents, timestep.expand(latents.shape[0]),
                        encoder_hidden_states=embeds).sample

    def noise_shape(self, pipe: Any, frames: int, height: int, width: int) -> tuple[tuple, Any]:
        s = self.spatial_factor(pipe)
        shape = (1, pipe.unet.config.in_channels, frames, height // s, width // s)
        return shape, pipe.text_encoder.dtype  # the pipeline draws in prompt_embeds' dtype

    def training_pair(self, scheduler: Any, latents: Any, noise: Any,
                      generator: Any) -> tuple[Any, Any, Any]:
        import torch

        total = scheduler.config.num_train_timesteps
        t = torch.randint(0, total, (1,), generator=generator).to(latents.device)
        noisy = scheduler.add_noise(latents, noise, t)
        if scheduler.config.prediction_type == "v_prediction":
            return t, noisy, scheduler.get_velocity(latents, noise, t)
        return t, noisy, noise


class Wan(Family):
    """`WanPipeline` (Wan 2.1 text-to-video)."""

    kind = "wan"
    pipeline_class = "WanPipeline"
    default_frames = 17
    cuda_dtype = "bfloat16"
    inversion = "rectified_flow"
    lora_targets = r".*blocks\.\d+\.attn1\.to_q"

    def from_pretrained(self, root: Path, dtype: Any, motion_adapter: str | None) -> Any:
        import diffusers
        import torch

        pipe = diffusers.WanPipeline.from_pretrained(str(root), dtype=dtype, local_files_only=True)
        pipe.vae.to(torch.float32)  # Wan's VAE decodes badly in half precision
        return pipe

    def denoiser(self, pipe: Any) -> Any:
        return pipe.transformer

    def spatial_factor(self, pipe: Any) -> int:
        return int(pipe.vae_scale_factor_spatial)

    def size_multiple(self, pipe: Any) -> int:
        return self.spatial_factor(pipe) * 2  # the transformer's 2x2 patches

    def check_frames(self, pipe: Any, frames: int) -> None:
        if (frames - 1) % pipe.vae_scale_factor_temporal:
            raise GenerationError(f"Wan needs frames = 4k + 1 (e.g. 17, 33), got {frames}")

    def encode_video(self, vae: Any, pixels: Any) -> Any:
        import torch

        video = pixels.permute(1, 0, 2, 3).unsqueeze(0)  # (1, 3, F, H, W)
        z = vae.encode(video).latent_dist.mean
        mean = torch.tensor(vae.config.latents_mean, device=z.device).view(1, -1, 1, 1, 1)
        std = torch.tensor(vae.config.latents_std, device=z.device).view(1, -1, 1, 1, 1)
        return (z.float() - mean) / std

    def encode_prompt(self, pipe: Any, device: str, prompt: str, negative: str | None,
                      guidance: bool) -> tuple[Any, Any]:
        cond, uncond = pipe.encode_prompt(prompt=prompt, negative_prompt=negative,
                                          do_classifier_free_guidance=guidance, device=device)
        return cond, uncond

    def denoise(self, denoiser: Any, latents: Any, timestep: Any, embeds: Any) -> Any:
        return denoiser(hidden_states=latents, timestep=timestep.expand(latents.shape[0]),
                        encoder_hidden_states=embeds, return_dict=False)[0]

    def noise_shape(self, pipe: Any, frames: int, height: int, width: int) -> tuple[tuple, Any]:
        import torch

        s = self.spatial_factor(pipe)
        latent_frames = (frames - 1) // pipe.vae_scale_factor_temporal + 1
        shape = (1, pipe.transformer.config.in_channels, latent_frames, height // s, width // s)
        return shape, torch.float32  # Wan draws float32 whatever the weights' dtype

    def training_pair(self, scheduler: Any, latents: Any, noise: Any,
                      generator: Any) -> tuple[Any, Any, Any]:
        import torch

        total = scheduler.config.num_train_timesteps
        sigma = torch.rand(1, generator=generator).item()
        noisy = (1.0 - sigma) * latents + sigma * noise
        return torch.tensor([sigma * total], device=latents.device), noisy, noise - latents


FAMILIES: dict[str, Family] = {f.kind: f for f in (AnimateDiff(), Wan())}


def family(kind: str) -> Family:
    """The adapter of the family called `kind`.

    Raises:
        GenerationError: no supported family has this name.
    """
    if kind not in FAMILIES:
        raise GenerationError(f"pipeline family {kind!r} is unknown; expected one of "
                              f"{', '.join(FAMILIES)}")
    return FAMILIES[kind]
