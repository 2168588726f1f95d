import json
from pathlib import Path

import pytest

from kdcvg.errors import GenerationError
from kdcvg.generation.diffusion.pipelines import (
    load_pipeline,
    model_fingerprint,
    resolve_device,
    resolve_dtype,
)


def test_missing_folder_names_the_supported_pipelines(tmp_path: Path) -> None:
    with pytest.raises(GenerationError) as e:
        load_pipeline(tmp_path / "nope", device="cpu")
    assert str(e.value) == (f"model folder {tmp_path / 'nope'} does not exist; give a local "
                            "diffusers folder (AnimateDiffPipeline, WanPipeline)")


def test_unsupported_pipeline_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline"}))
    with pytest.raises(GenerationError) as e:
        load_pipeline(tmp_path, device="cpu")
    assert str(e.value) == (f"model folder {tmp_path} holds a FluxPipeline; supported pipelines: "
                            "AnimateDiffPipeline, WanPipeline")


def test_folder_without_model_index(tmp_path: Path) -> None:
    with pytest.raises(GenerationError, match="has no model_index.json"):
        load_pipeline(tmp_path, device="cpu")


def test_loads_both_kinds_from_folders(tiny_folders: dict[str, Path]) -> None:
    ad = load_pipeline(tiny_folders["animatediff"], device="auto")
    wan = load_pipeline(tiny_folders["wan"], device="cpu")
    assert (type(ad.pipe).__name__, ad.kind) == ("AnimateDiffPipeline", "animatediff")
    assert (type(wan.pipe).__name__, wan.kind) == ("WanPipeline", "wan")
    assert ad.fingerprint == model_fingerprint(tiny_folders["animatediff"])
    assert ad.fingerprint != wan.fingerprint


def test_device_and_dtype_rules() -> None:
    import torch

    if not torch.cuda.is_available():
        assert resolve_device("auto") == "cpu"
        with pytest.raises(GenerationError, match="asked for, but torch sees no CUDA device"):
            resolve_device("cuda")
    with pytest.raises(GenerationError, match="device 'tpu' is unknown"):
        resolve_device("tpu")
    assert resolve_dtype("auto", "cpu", "animatediff") == torch.float32
    assert resolve_dtype("auto", "cuda", "animatediff") == torch.float16
    assert resolve_dtype("auto", "cuda", "wan") == torch.bfloat16
    with pytest.raises(GenerationError) as e:
        resolve_dtype("float16", "cpu", "animatediff")
    assert str(e.value) == ("dtype float16 needs a CUDA device (device is cpu); "
                            "use dtype=float32 on the CPU")


def test_offload_needs_cuda(tiny_folders: dict[str, Path]) -> None:
    with pytest.raises(GenerationError, match="offload=model needs a CUDA device"):
        load_pipeline(tiny_folders["animatediff"], device="cpu", offload="model")


def test_fingerprint_tells_checkpoints_of_one_architecture_apart(tmp_path: Path) -> None:
    import shutil

    from kdcvg.generation.diffusion.tiny import save_tiny_pipeline

    save_tiny_pipeline(tmp_path / "a", kind="animatediff", seed=0)
    shutil.copytree(tmp_path / "a", tmp_path / "same")
    save_tiny_pipeline(tmp_path / "b", kind="animatediff", seed=1)  # same layout, other weights
    assert model_fingerprint(tmp_path / "a") == model_fingerprint(tmp_path / "same")
    assert model_fingerprint(tmp_path / "a") != model_fingerprint(tmp_path / "b")


def test_out_of_memory_names_the_remedies_and_frees_the_failed_work() -> None:
    import weakref

    import torch

    from kdcvg.generation.diffusion.pipelines import gpu_memory_guard

    held: list[weakref.ref] = []

    def denoise() -> None:
        activations = torch.zeros(1024)  # stands for what filled the GPU
        held.append(weakref.ref(activations))
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    with pytest.raises(GenerationError) as info:
        with gpu_memory_guard("scene 'keeps drinks cold'"):
            denoise()
    message = str(info.value)
    assert message.startswith("scene 'keeps drinks cold': the GPU ran out of memory")
    assert all(option in message for option in ("offload=model", "vae_slicing=on", "vae_tiling=on"))
    # the caller still holds the error (a batch records it), but not the failed tensors
    assert held[0]() is None
