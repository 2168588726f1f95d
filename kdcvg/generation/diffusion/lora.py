"""MR-LoRA: motion prior distillation into a LoRA on the temporal attention's queries.

As in VMC and the KD-CVG paper: a LoRA (rank 128 by default) on the query
projections of the temporal self-attention (AnimateDiff's motion modules; Wan's
self-attention, which attends across frames), trained on the reference clip
(400 steps, Adam, lr 1e-4) with the frame-residual loss

    L_md = E || (pred^{n+1} - pred^n) - (target^{n+1} - target^n) ||^2

over consecutive latent frames n, where pred is the denoiser's output on the
noised reference and target the noise (epsilon models), the velocity (v and
flow models). Only motion (the change between frames) is fitted, not appearance.

LoRAs are saved per (clip, model) under `<store home>/loras/<fingerprint>/<clip>/`
with `mr_lora.json` (config, fingerprint, loss curve) beside
`adapter_model.safetensors`; a LoRA whose fingerprint differs from the model's
is refused.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kdcvg.errors import GenerationError
from kdcvg.generation.diffusion.families import FAMILIES
from kdcvg.generation.diffusion.inversion import predict
from kdcvg.generation.diffusion.pipelines import LoadedPipeline
from kdcvg.validation import safe_child

# peft target regexes per family: temporal self-attention queries
TARGETS = {kind: f.lora_targets for kind, f in FAMILIES.items()}
META_FILE = "mr_lora.json"
WEIGHTS_FILE = "adapter_model.safetensors"


@dataclass(frozen=True)
class LoraSettings:
    """MR-LoRA hyperparameters (defaults as the paper's)."""

    rank: int = 128
    steps: int = 400
    lr: float = 1e-4
    seed: int = 0

    def check(self) -> None:
        """Raise `GenerationError` on values that cannot train."""
        if self.rank < 1:
            raise GenerationError(f"lora_rank must be >= 1, got {self.rank}")
        if self.steps < 1:
            raise GenerationError(f"lora_steps must be >= 1, got {self.steps}")
        if not self.lr > 0:
            raise GenerationError(f"lora_lr must be > 0, got {self.lr}")


@dataclass
class LoraRecord:
    """What `mr_lora.json` holds."""

    clip_id: str
    fingerprint: str
    kind: str
    rank: int
    steps: int
    lr: float
    target_modules: str
    loss_curve: list[float] = field(default_factory=list)


def lora_dir(home: str | os.PathLike[str], fingerprint: str, clip_id: str) -> Path:
    """`<home>/loras/<fingerprint>/<clip id, made filesystem-safe>`."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", clip_id) or "_"
    return safe_child(Path(home) / "loras", f"{fingerprint}/{safe}")


def _target_pairs(loaded: LoadedPipeline, latents: Any, seed: int, n: int) -> list[tuple]:
    """n fixed (timestep, noised latents, target) triples drawn with `seed`."""
    import torch

    g = torch.Generator().manual_seed(seed)
    pairs = []
    for _ in range(n):
        noise = torch.randn(latents.shape, generator=g).to(latents)
        pairs.append(loaded.family.training_pair(loaded.pipe.scheduler, latents, noise, g))
    return pairs


def frame_residual_loss(pred: Any, target: Any) -> Any:
    """L_md over consecutive frames (dim 2 of (B, C, F, h, w))."""
    d_pred = pred[:, :, 1:] - pred[:, :, :-1]
    d_target = target[:, :, 1:] - target[:, :, :-1]
    return ((d_pred - d_target) ** 2).mean()


def motion_loss(loaded: LoadedPipeline, latents: Any, prompt_embeds: Any, seed: int = 1234,
                samples: int = 4) -> float:
    """L_md of the denoiser as it is now, on fixed noise draws (for before/after checks)."""
    import torch

    embeds = loaded.family.frame_embeds(prompt_embeds, latents.shape[2])
    with torch.no_grad():
        losses = [frame_residual_loss(predict(loaded, noisy, t, embeds), target).item()
                  for t, noisy, target in _target_pairs(loaded, latents, seed, samples)]
    return float(sum(losses) / len(losses))


def _config(loaded: LoadedPipeline, rank: int) -> Any:
    from peft import LoraConfig

    return LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=True,
                      target_modules=loaded.family.lora_targets)


def train_mr_lora(
    loaded: LoadedPipeline,
    latents: Any,
    prompt_embeds: Any,
    clip_id: str,
    settings: LoraSettings = LoraSettings(),
    adapter_name: str = "mr_lora",
    progress: Callable[[int, int, float], None] | None = None,
) -> LoraRecord:
    """Attach a fresh LoRA to the denoiser and fit it to the reference's motion.

    Only the LoRA's matrices train; everything else stays frozen. The adapter stays
    attached (active) afterwards.

    Args:
        loaded: the pipeline.
        latents: the reference's latents (1, C, F, h, w); F >= 2.
        prompt_embeds: the reference caption's embeddings (1, L, D).
        clip_id: the reference clip's id (recorded).
        settings: rank, steps, lr, seed.
        adapter_name: peft adapter name.
        progress: called as (step, total, loss) after each step.

    Returns:
        The record (loss curve included).
    """
    import torch

    settings.check()
    if latents.shape[2] < 2:
        raise GenerationError("MR-LoRA needs at least 2 latent frames of the reference")
    denoiser = loaded.denoiser
    denoiser.requires_grad_(False)
    denoiser.add_adapter(_config(loaded, settings.rank), adapter_name=adapter_name)
    params = [p for n, p in denoiser.named_parameters() if "lora_" in n]
    for p in params:
        p.data = p.data.float()  # train the adapter in float32 whatever the weights' dtype
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(params, lr=settings.lr)
    embeds = loaded.family.frame_embeds(prompt_embeds, latents.shape[2])
    g_pairs = _target_pairs(loaded, latents, settings.seed, settings.steps)
    curve: list[float] = []
    denoiser.train()
    try:
        for step, (t, noisy, target) in enumerate(g_pairs, start=1):
            with torch.autocast(device_type="cuda", dtype=loaded.dtype,
                                enabled=loaded.device.startswith("cuda")
                                and loaded.dtype != torch.float32):
                pred = predict(loaded, noisy, t, embeds)
            loss = frame_residual_loss(pred.float(), target.float())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            curve.append(float(loss.item()))
            if progress is not None:
                progress(step, settings.steps, curve[-1])
    finally:
        denoiser.eval()
        denoiser.requires_grad_(False)
    return LoraRecord(clip_id, loaded.fingerprint, loaded.kind, settings.rank, settings.steps,
                      settings.lr, loaded.family.lora_targets, curve)


def save_mr_lora(loaded: LoadedPipeline, record: LoraRecord, folder: str | os.PathLike[str],
                 adapter_name: str = "mr_lora") -> Path:
    """Write the adapter's weights and record, atomically (a temporary folder renamed)."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    out = Path(folder)
    out.parent.mkdir(parents=True, exist_ok=True)
    state = get_peft_model_state_dict(loaded.denoiser, adapter_name=adapter_name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in state.items()},
                  str(tmp / WEIGHTS_FILE))
        (tmp / META_FILE).write_text(json.dumps(asdict(record), indent=2), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out


def read_record(folder: str | os.PathLike[str]) -> LoraRecord:
    """Read `mr_lora.json`.

    Raises:
        GenerationError: the folder holds no MR-LoRA.
    """
    root = Path(folder)
    meta = root / META_FILE
    if not meta.is_file() or not (root / WEIGHTS_FILE).is_file():
        raise GenerationError(f"{root}: no MR-LoRA here (expected {META_FILE} and {WEIGHTS_FILE})")
    return LoraRecord(**json.loads(meta.read_text(encoding="utf-8")))


def load_mr_lora(loaded: LoadedPipeline, folder: str | os.PathLike[str],
                 adapter_name: str = "mr_lora") -> LoraRecord:
    """Attach a saved MR-LoRA to the denoiser, after checking it was made for this model.

    Raises:
        GenerationError: no LoRA there, or one trained for another model.
    """
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    record = read_record(folder)
    if record.fingerprint != loaded.fingerprint or record.kind != loaded.kind:
        raise GenerationError(
            f"MR-LoRA {folder} was trained for model {record.fingerprint} ({record.kind}), "
            f"not for {loaded.folder} ({loaded.fingerprint}, {loaded.kind}); "
            f"distill it again for this model with `kdcvg generate distill --clip "
            f"{record.clip_id} --model {loaded.folder}`"
        )
    denoiser = loaded.denoiser
    denoiser.add_adapter(_config(loaded, record.rank), adapter_name=adapter_name)
    state = load_file(str(Path(folder) / WEIGHTS_FILE), device=loaded.device)
    result = set_peft_model_state_dict(denoiser, state, adapter_name=adapter_name)
    unexpected = getattr(result, "unexpected_keys", None)
    if unexpected:
        denoiser.delete_adapters(adapter_name)
        raise GenerationError(f"MR-LoRA {folder} does not fit this model: {unexpected[:3]} ...")
    denoiser.to(loaded.device)
    return record


def detach_mr_lora(loaded: LoadedPipeline, adapter_name: str = "mr_lora") -> None:
    """Remove the adapter so the next scene starts from the plain model."""
    denoiser = loaded.denoiser
    if getattr(denoiser, "peft_config", None) and adapter_name in denoiser.peft_config:
        denoiser.delete_adapters(adapter_name)
