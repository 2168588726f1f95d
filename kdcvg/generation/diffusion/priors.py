"""MKR's priors as plain data: computed before the pipeline runs, inspectable and savable.

Three priors, one per part of the method:

- `ScriptPrior` (semantic): the {subject, scene, motion} script parsed from the
  top reference's caption, the one fused for the new product, and the prompts.
- `MotionPrior`: which MR-LoRA carries the reference's motion (trained or reused).
- `StructurePrior`: the reference's latents, their inversion to noise and the
  reference intensity `beta` that mixes them into the initial latents.

`Priors.save(folder)` writes text as JSON and tensors as safetensors;
`Priors.load(folder)` reads them back.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kdcvg.errors import GenerationError


@dataclass(frozen=True)
class Script:
    """One script: who or what is shown, where, and how it moves."""

    subject: str
    scene: str
    motion: str


@dataclass(frozen=True)
class ScriptPrior:
    """The semantic prior.

    Args:
        reference: the script parsed from the reference clip's caption.
        fused: the new product's subject and scene with the reference's motion.
        prompt: the text the pipeline is conditioned on.
        negative_prompt: distortions to steer away from.
        source_clip: the reference clip's id.
        source_caption: its caption.
        rewriter: "rules", or "llm:<folder>" when a local language model rewrote the prompt.
        caption_blend: weight of the retrieved captions' text embeddings (0: none).
    """

    reference: Script
    fused: Script
    prompt: str
    negative_prompt: str
    source_clip: str
    source_caption: str
    rewriter: str = "rules"
    caption_blend: float = 0.0


@dataclass(frozen=True)
class MotionPrior:
    """The MR-LoRA used for a scene (None fields: no LoRA).

    Args:
        clip_id: the clip it was distilled from.
        path: its folder under the store's `loras/`.
        fingerprint: the model it was trained for.
        rank: LoRA rank.
        steps: training steps.
        reused: True when it was loaded from an earlier run, False when trained now.
        final_loss: the last logged frame-residual loss.
    """

    clip_id: str
    path: str
    fingerprint: str
    rank: int
    steps: int
    reused: bool
    final_loss: float | None = None


@dataclass
class StructurePrior:
    """The reference's structure as initial noise.

    Args:
        clip_id: the reference clip.
        method: "ddim" (AnimateDiff), "rectified_flow" (Wan) or "none" (beta = 0).
        beta: reference intensity in [0, 1]: initial = beta * inverted + sqrt(1 - beta^2) * noise.
        inversion_steps: steps of the inversion.
        reference_latents: the VAE-encoded reference, in the pipeline's latent layout.
        inverted: the inverted noise (None when beta = 0).
    """

    clip_id: str
    method: str
    beta: float
    inversion_steps: int
    reference_latents: Any = None  # torch.Tensor (B, C, F, h, w)
    inverted: Any = None  # torch.Tensor, same shape

    def summary(self) -> dict[str, Any]:
        """Scalars only (for the sidecar)."""
        shape = None if self.reference_latents is None else list(self.reference_latents.shape)
        return {"clip_id": self.clip_id, "method": self.method, "beta": self.beta,
                "inversion_steps": self.inversion_steps, "latent_shape": shape}


@dataclass
class Priors:
    """All priors of one scene."""

    script: ScriptPrior
    structure: StructurePrior | None = None
    motion: MotionPrior | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary (what the sidecar records)."""
        return {
            "script": asdict(self.script),
            "structure": None if self.structure is None else self.structure.summary(),
            "motion": None if self.motion is None else asdict(self.motion),
            "timings_s": {k: round(v, 4) for k, v in self.timings_s.items()},
        }

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write `priors.json` and, when there are tensors, `structure.safetensors`."""
        from safetensors.torch import save_file

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        tensors = {}
        if self.structure is not None:
            for name in ("reference_latents", "inverted"):
                value = getattr(self.structure, name)
                if value is not None:
                    tensors[name] = value.detach().cpu().contiguous()
        if tensors:
            save_file(tensors, str(out / "structure.safetensors"))
        (out / "priors.json").write_text(json.dumps(self.summary(), indent=2), encoding="utf-8")
        return out

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> Priors:
        """Read what `save` wrote.

        Raises:
            GenerationError: the folder holds no `priors.json`.
        """
        root = Path(folder)
        path = root / "priors.json"
        if not path.is_file():
            raise GenerationError(
                f"{root}: no priors.json; expected a folder written by Priors.save"
            )
        data = json.loads(path.read_text(encoding="utf-8"))
        s = data["script"]
        script = ScriptPrior(**{**s, "reference": Script(**s["reference"]),
                                "fused": Script(**s["fused"])})
        structure = None
        if data["structure"] is not None:
            st = {k: v for k, v in data["structure"].items() if k != "latent_shape"}
            structure = StructurePrior(**st)
            tensor_file = root / "structure.safetensors"
            if tensor_file.is_file():
                from safetensors.torch import load_file

                tensors = load_file(str(tensor_file))
                structure.reference_latents = tensors.get("reference_latents")
                structure.inverted = tensors.get("inverted")
        motion = None if data["motion"] is None else MotionPrior(**data["motion"])
        return cls(script, structure, motion, dict(data.get("timings_s", {})))
