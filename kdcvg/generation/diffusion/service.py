"""A clip's MR-LoRA for a model: the saved one, or one trained now and saved.

`mr_lora` is the one place that decides between loading and training; the
diffusers backend (`lora=on`) and `distill_clip` (what `kdcvg generate distill`
runs) both call it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdcvg.generation.diffusion.lora import LoraRecord, LoraSettings
from kdcvg.generation.diffusion.pipelines import LoadedPipeline


@dataclass(frozen=True)
class DistillResult:
    folder: Path
    record: LoraRecord
    reused: bool


def mr_lora(
    loaded: LoadedPipeline,
    home: str | os.PathLike[str],
    clip_id: str,
    caption: str,
    latents: Callable[[], Any],
    settings: LoraSettings,
    *,
    attach: bool = True,
    force: bool = False,
    progress: Callable[[int, int, float], None] | None = None,
) -> DistillResult:
    """The clip's MR-LoRA under `<home>/loras/<fingerprint>/<clip>/`, trained and saved if absent.

    Args:
        loaded: the pipeline.
        home: the store folder.
        clip_id: the reference clip's id.
        caption: its caption, the prompt the LoRA is trained with.
        latents: returns the reference's latents (1, C, F, h, w); called only to train.
        settings: rank, steps, lr, seed of a training.
        attach: leave the adapter attached to the denoiser (a reused one is loaded);
            otherwise a reused one is only read.
        force: train even if a saved one exists.
        progress: called as (step, total, loss) while training.

    Raises:
        GenerationError: a saved LoRA made for another model, or bad settings.
    """
    from kdcvg.generation.diffusion import inversion, lora

    folder = lora.lora_dir(home, loaded.fingerprint, clip_id)
    if not force and (folder / lora.META_FILE).is_file():
        record = lora.load_mr_lora(loaded, folder) if attach else lora.read_record(folder)
        return DistillResult(folder, record, True)
    embeds, _ = inversion.encode_prompt(loaded, caption)
    record = lora.train_mr_lora(loaded, latents(), embeds, clip_id, settings, progress=progress)
    lora.save_mr_lora(loaded, record, folder)
    return DistillResult(folder, record, False)


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
    from kdcvg.generation.diffusion import inversion
    from kdcvg.generation.diffusion.pipelines import gpu_memory_guard, load_pipeline

    settings = settings or LoraSettings()
    settings.check()
    loaded = load_pipeline(model, device=device, dtype=dtype)
    count = loaded.family.frame_count(frames)

    def latents() -> Any:
        return inversion.encode_video(
            loaded, inversion.reference_frames(uri, count, width, height, fps))

    with gpu_memory_guard(f"distilling clip {clip_id}"):
        return mr_lora(loaded, home, clip_id, caption, latents, settings, attach=False,
                       force=force, progress=progress)
