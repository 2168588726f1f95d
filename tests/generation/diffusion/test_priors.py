from pathlib import Path

import pytest

from kdcvg.errors import GenerationError
from kdcvg.generation.diffusion.priors import (
    MotionPrior,
    Priors,
    Script,
    ScriptPrior,
    StructurePrior,
)


def test_priors_save_and_load_round_trip(tmp_path: Path) -> None:
    import torch

    script = ScriptPrior(Script("hand", "on a table", "pours"), Script("Acme", "studio", "pours"),
                         "Acme pours, studio", "blurry", "c1", "a hand pours on a table")
    structure = StructurePrior("c1", "ddim", 0.7, 30, torch.randn(1, 4, 2, 2, 2),
                               torch.randn(1, 4, 2, 2, 2))
    motion = MotionPrior("c1", "/l", "abc", 4, 10, False, 0.5)
    priors = Priors(script, structure, motion, {"script": 0.001})
    back = Priors.load(priors.save(tmp_path / "p"))
    assert back.script == script and back.motion == motion
    assert back.structure is not None
    assert torch.equal(back.structure.inverted, structure.inverted)
    assert torch.equal(back.structure.reference_latents, structure.reference_latents)
    assert back.summary() == priors.summary()
    assert priors.summary()["structure"]["latent_shape"] == [1, 4, 2, 2, 2]


def test_loading_a_folder_without_priors(tmp_path: Path) -> None:
    with pytest.raises(GenerationError, match="no priors.json"):
        Priors.load(tmp_path)
