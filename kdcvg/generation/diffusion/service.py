"""Distilling one clip's MR-LoRA end to end (what `kdcvg generate distill` runs)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kdcvg.generation.diffusion.lora import LoraRecord, LoraSettings


@dataclass(frozen=True)
class DistillResult:
    folder: Path
    record: LoraRecord
    reused: bool


def distill_clip(
    model: str | os.PathLike[str],
    clip_id: str,
    uri: str,
    caption: str,
    home: str | os.PathLike[str],
    settings: LoraSettings | None = None,
    *,
    frames: int | None = None,
    width: int = 512,
    height: int = 512,
    fps: float = 8.0,
    device: str = "auto",
    dtype: str = "auto",
    force: bool = False,
    progress: Callable[[int, int, float], None] | None = None,
) -> DistillResult:
    """Load the model, encode the clip, train and save its MR-LoRA (or find the saved one).

    Raises:
        GenerationError: bad model folder, a clip too short, bad settings.
    """
    from kdcvg.generation.diffusion import inversion, lora
    from kdcvg.generation.diffusion.pipelines import gpu_memory_guard, load_pipeline

    settings = settings or LoraSettings()
    settings.check()
    loaded = load_pipeline(model, device=device, dtype=dtype)
    folder = lora.lora_dir(home, loaded.fingerprint, clip_id)
    if not force and (folder / lora.META_FILE).is_file():
        return DistillResult(folder, lora.read_record(folder), True)
    count = frames or (16 if loaded.kind == "animatediff" else 17)
    with gpu_memory_guard(f"distilling clip {clip_id}"):
        pixels = inversion.reference_frames(uri, count, width, height, fps)
        latents = inversion.encode_video(loaded, pixels)
        embeds, _ = inversion.encode_prompt(loaded, caption)
        record = lora.train_mr_lora(loaded, latents, embeds, clip_id, settings, progress=progress)
    lora.save_mr_lora(loaded, record, folder)
    return DistillResult(folder, record, False)
