"""The CUDA path: half precision, the CPU generator, and bit-identity at beta = 0 on the GPU."""

from pathlib import Path

import numpy as np
import pytest

from kdcvg.generation.base import AdJob
from kdcvg.retrieval.scenes import ProductInfo, Scene

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def _needs_cuda() -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device (torch.cuda.is_available() is False)")


def test_cuda_generation_is_half_precision_and_reproducible(
    tiny_folders: dict[str, Path], product: ProductInfo, scene: Scene
) -> None:
    import torch

    from kdcvg.generation.diffusion.backend import DiffusersGenerator, parse_options

    gen = DiffusersGenerator()
    options = {"model": str(tiny_folders["animatediff"]), "device": "cuda", "steps": "3",
               "frames": "8", "width": "32", "height": "32", "beta": "0.7",
               "inversion_steps": "3", "vae_slicing": "on"}
    a = np.stack(list(gen.generate(AdJob("p1", ("s",), seed=1, options=options), product,
                                   [scene], (720, 720)).frames))
    b = np.stack(list(gen.generate(AdJob("p1", ("s",), seed=1, options=options), product,
                                   [scene], (720, 720)).frames))
    loaded = gen.load(parse_options(options))
    assert loaded.dtype == torch.float16 and loaded.device == "cuda"
    assert a.shape == (8, 32, 32, 3) and np.array_equal(a, b)


def test_cuda_lora_training_and_model_offload(
    tiny_folders: dict[str, Path], product: ProductInfo, scene: Scene, tmp_path: Path
) -> None:
    from kdcvg.generation.diffusion.backend import DiffusersGenerator

    options = {"model": str(tiny_folders["wan"]), "device": "cuda", "steps": "2", "frames": "9",
               "width": "32", "height": "32", "beta": "0.5", "inversion_steps": "2",
               "lora": "on", "lora_steps": "3", "lora_rank": "2", "offload": "model",
               "home": str(tmp_path)}
    out = DiffusersGenerator().generate(AdJob("p1", ("s",), options=options), product, [scene],
                                        (720, 720))
    frames = np.stack(list(out.frames))
    motion = out.metadata["scenes"][0]["motion"]
    assert frames.shape == (9, 32, 32, 3)
    assert motion["reused"] is False and Path(motion["path"]).is_dir()
