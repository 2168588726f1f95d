"""Loading text-to-video pipelines from a local folder, and the device settings.

Only local folders are read (`from_pretrained` on a path, never a hub name).
Two pipeline families are supported, `AnimateDiffPipeline` and `WanPipeline`;
what differs between them sits in one adapter each (`families.py`).

A Stable Diffusion 1.5 folder plus a separate `MotionAdapter` folder also loads
as an AnimateDiff pipeline (`motion_adapter=PATH`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdcvg.errors import GenerationError
from kdcvg.generation.diffusion.families import FAMILIES, AnimateDiff, Family, family

# model_index.json `_class_name` -> family
SUPPORTED_PIPELINES: dict[str, str] = {f.pipeline_class: kind for kind, f in FAMILIES.items()}
# an SD 1.5 folder becomes AnimateDiff when a motion adapter is given
SD_PIPELINES = ("StableDiffusionPipeline",)
DTYPES = ("auto", "float32", "float16", "bfloat16")
OFFLOAD_MODES = ("none", "model", "sequential")
OOM_HINT = (
    "lower the load with the options offload=model (or offload=sequential), "
    "vae_slicing=on, vae_tiling=on, fewer frames or a smaller width/height"
)


@dataclass
class LoadedPipeline:
    """A pipeline ready to run, with what MKR needs to know about it.

    Args:
        pipe: the diffusers pipeline.
        kind: "animatediff" or "wan".
        folder: the folder it was loaded from.
        fingerprint: `model_fingerprint(folder)`; MR-LoRAs are keyed by it.
        device: "cpu" or "cuda[:N]" (where the denoiser runs).
        dtype: the torch dtype of the weights.
    """

    pipe: Any
    kind: str
    folder: Path
    fingerprint: str
    device: str
    dtype: Any

    @property
    def family(self) -> Family:
        """What this pipeline's family does its own way (`families.py`)."""
        return family(self.kind)

    @property
    def denoiser(self) -> Any:
        """The network MR-LoRA adapts: the motion UNet or the transformer."""
        return self.family.denoiser(self.pipe)

    @property
    def spatial_factor(self) -> int:
        """Pixels per latent cell along height and width."""
        return self.family.spatial_factor(self.pipe)


def resolve_device(device: str = "auto") -> str:
    """`auto` picks CUDA when present, otherwise the CPU.

    Raises:
        GenerationError: an unknown name, or CUDA asked for on a machine without it.
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return "cpu"
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise GenerationError(
                f"device {device!r} asked for, but torch sees no CUDA device "
                f"(torch {torch.__version__}); use device=cpu or device=auto"
            )
        return device
    raise GenerationError(f"device {device!r} is unknown; expected auto, cpu, cuda or cuda:N")


def resolve_dtype(dtype: str, device: str, kind: str) -> Any:
    """Weights' dtype: `auto` is float16 (AnimateDiff) or bfloat16 (Wan) on CUDA, float32 on CPU.

    Raises:
        GenerationError: an unknown name, or half precision asked for on the CPU.
    """
    import torch

    if dtype not in DTYPES:
        raise GenerationError(f"dtype {dtype!r} is unknown; expected one of {', '.join(DTYPES)}")
    on_cuda = device.startswith("cuda")
    if dtype == "auto":
        if not on_cuda:
            return torch.float32
        return getattr(torch, family(kind).cuda_dtype)
    if dtype != "float32" and not on_cuda:
        raise GenerationError(
            f"dtype {dtype} needs a CUDA device (device is {device}); use dtype=float32 on the CPU"
        )
    return getattr(torch, dtype)


def model_fingerprint(folder: str | os.PathLike[str]) -> str:
    """A stable id of a model folder: its configs' content and its weight files' bytes, sampled.

    Weights are not hashed whole (a full-size model is gigabytes): each weight file
    contributes its size and three 64 KiB windows (start, middle, end), so another
    architecture, layout or scheduler, and in practice another checkpoint of the same
    architecture (fine-tuning changes tensors throughout a file), gives another id.
    """
    root = Path(folder)
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(".") or "/." in rel:
            continue
        h.update(rel.encode())
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):  # the saving library's version is not the model
                data.pop("_diffusers_version", None)
                data.pop("transformers_version", None)
                data.pop("_name_or_path", None)
            h.update(json.dumps(data, sort_keys=True).encode())
        else:
            size = path.stat().st_size
            h.update(str(size).encode())
            with open(path, "rb") as f:
                for offset in (0, max(0, size // 2 - _WINDOW // 2), max(0, size - _WINDOW)):
                    f.seek(offset)
                    h.update(f.read(_WINDOW))
    return h.hexdigest()[:16]


_WINDOW = 64 * 1024


def pipeline_class_name(folder: Path) -> str:
    """The `_class_name` in a folder's `model_index.json`.

    Raises:
        GenerationError: the folder is missing or holds no readable model_index.json.
    """
    supported = ", ".join(SUPPORTED_PIPELINES)
    if not folder.exists():
        raise GenerationError(
            f"model folder {folder} does not exist; give a local diffusers folder ({supported})"
        )
    index = folder / "model_index.json"
    if not folder.is_dir() or not index.is_file():
        raise GenerationError(
            f"model folder {folder} has no model_index.json: not a diffusers pipeline folder; "
            f"supported pipelines: {supported}"
        )
    try:
        name = json.loads(index.read_text(encoding="utf-8")).get("_class_name")
    except (json.JSONDecodeError, AttributeError) as e:
        raise GenerationError(f"{index}: not valid JSON ({e})") from e
    return str(name)


def load_pipeline(
    folder: str | os.PathLike[str],
    *,
    device: str = "auto",
    dtype: str = "auto",
    offload: str = "none",
    vae_slicing: bool = False,
    vae_tiling: bool = False,
    motion_adapter: str | os.PathLike[str] | None = None,
) -> LoadedPipeline:
    """Load a supported pipeline from a local folder and place it on the device.

    Args:
        folder: a diffusers pipeline folder (`model_index.json` and components).
        device: "auto", "cpu", "cuda" or "cuda:N".
        dtype: "auto", "float32", "float16" or "bfloat16".
        offload: "none", "model" (whole components to the GPU in turn) or
            "sequential" (layer by layer: least memory, slowest). CUDA only.
        vae_slicing: decode frames in slices (AnimateDiff).
        vae_tiling: decode in spatial tiles.
        motion_adapter: a `MotionAdapter` folder, when `folder` is a Stable Diffusion 1.5 pipeline.

    Raises:
        GenerationError: missing folder, unsupported pipeline, bad settings, or a load failure.
    """
    root = Path(folder)
    class_name = pipeline_class_name(root)
    if class_name in SD_PIPELINES and motion_adapter is not None:
        kind = AnimateDiff.kind
    elif class_name in SUPPORTED_PIPELINES:
        kind = SUPPORTED_PIPELINES[class_name]
    else:
        hint = " (an SD 1.5 folder needs motion_adapter=PATH)" if class_name in SD_PIPELINES else ""
        raise GenerationError(
            f"model folder {root} holds a {class_name}{hint}; supported pipelines: "
            f"{', '.join(SUPPORTED_PIPELINES)}"
        )
    if offload not in OFFLOAD_MODES:
        raise GenerationError(f"offload {offload!r} is unknown; expected one of {OFFLOAD_MODES}")
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev, kind)
    if offload != "none" and not dev.startswith("cuda"):
        raise GenerationError(f"offload={offload} needs a CUDA device (device is {dev})")

    import diffusers
    import transformers

    # loading bars and casting notes are noise for CLI users; errors still surface
    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    try:
        adapter = None if motion_adapter is None else str(motion_adapter)
        pipe = family(kind).from_pretrained(root, torch_dtype, adapter)
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise GenerationError(f"model folder {root}: loading {class_name} failed ({e})") from e

    pipe.set_progress_bar_config(disable=True)
    if offload == "model":
        pipe.enable_model_cpu_offload(device=dev)
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=dev)
    else:
        pipe.to(dev)
    if vae_slicing:
        pipe.vae.enable_slicing()
    if vae_tiling:
        pipe.vae.enable_tiling()
    return LoadedPipeline(pipe, kind, root, model_fingerprint(root), dev, torch_dtype)


class _GpuMemoryGuard:
    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        import torch

        if kind is None or not issubclass(kind, torch.cuda.OutOfMemoryError):
            return  # anything else goes on as it was
        # the traceback holds the failed work's frames and with them its tensors: neither
        # the error raised below nor this frame may keep it
        error.__traceback__ = None
        del error, trace
        torch.cuda.empty_cache()
        raise GenerationError(f"{self.what}: the GPU ran out of memory; {OOM_HINT}") from None


def gpu_memory_guard(what: str) -> _GpuMemoryGuard:
    """A `with` block that turns a CUDA out-of-memory error into a `GenerationError`
    naming the remedies, and releases what the failed work held.

    On an H200, 63 GiB stayed allocated after a caught out-of-memory error while the
    error kept the failed work's traceback.
    """
    return _GpuMemoryGuard(what)
