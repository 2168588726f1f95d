"""A trained SAR model on disk: `save_pretrained` / `from_pretrained`, config beside weights.

A model folder holds `config.json` (the `SarConfig`, the input widths, the edge
types, the schema version and graph version it was trained on, the stage
reports, the fused score's learned weights) and `model.pt` (the SC-GAT state dict). Models live under the store
folder: `<home>/sar/model` (after the RL stage) and `<home>/sar/supervised`
(SC-GAT before it, the evaluation's ablation baseline).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdcvg.errors import RetrievalError
from kdcvg.graph.schema import SCHEMA_VERSION
from kdcvg.retrieval.config import SarConfig
from kdcvg.retrieval.encoder import SCGAT
from kdcvg.retrieval.features import GraphInputs
from kdcvg.retrieval.fusion import FusionWeights

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.pt"
STAGES = ("model", "supervised")  # after the RL stage; SC-GAT before it


def _digest(path: Path) -> str:
    return hashlib.blake2b(Path(path).read_bytes(), digest_size=8).hexdigest()


def sar_dir(home: Path) -> Path:
    """Where SAR keeps its models, index and feedback under the store folder."""
    return Path(home) / "sar"


def model_dir(home: Path, stage: str = "model") -> Path:
    """Where the model of a training stage is saved: `<home>/sar/<stage>`.

    Args:
        stage: "model" (after the RL stage) or "supervised" (SC-GAT before it).

    Raises:
        RetrievalError: another stage name.
    """
    if stage not in STAGES:
        raise RetrievalError(f"unknown SAR model stage {stage!r}; expected one of "
                             f"{', '.join(STAGES)}")
    return sar_dir(home) / stage


@dataclass
class SarModel:
    """SC-GAT plus what it was trained on.

    Args:
        config: hyperparameters of every stage.
        encoder: the trained encoder.
        graph_version: the exporter's version of the graph it was trained on.
        schema_version: `kdcvg.graph.schema.SCHEMA_VERSION` at training time.
        reports: one summary dict per training stage.
        prior_weight: weight of the clip feedback prior in the score (`prior.py`), in
            score units; 0 for the supervised stage.
        fusion: the learned weights of SC-GAT's score and the lexical term
            (`kdcvg.retrieval.fusion`); None ranks by SC-GAT's score alone.
    """

    config: SarConfig
    encoder: SCGAT
    graph_version: str
    schema_version: int = SCHEMA_VERSION
    reports: list[dict[str, Any]] = field(default_factory=list)
    digest: str = ""  # of the saved weights; tags the persisted index
    prior_weight: float = 0.0
    fusion: FusionWeights | None = None

    def save_pretrained(self, folder: Path) -> Path:
        """Write config and weights; the folder is replaced whole or left untouched."""
        import torch

        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".sar-", dir=folder.parent))
        meta = {
            "config": self.config.to_dict(),
            "in_channels": self.encoder.in_channels,
            "edge_types": [list(et) for et in self.encoder.edge_types],
            "graph_version": self.graph_version,
            "schema_version": self.schema_version,
            "reports": self.reports,
            "prior_weight": self.prior_weight,
            "fusion": None if self.fusion is None else self.fusion.to_dict(),
        }
        (tmp / CONFIG_NAME).write_text(json.dumps(meta, indent=2))
        torch.save(self.encoder.state_dict(), tmp / WEIGHTS_NAME)
        self.digest = _digest(tmp / WEIGHTS_NAME)
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
        return folder

    @classmethod
    def from_pretrained(cls, folder: Path) -> SarModel:
        """Load a saved model.

        Raises:
            RetrievalError: the folder holds no model, or a broken one.
        """
        import torch

        folder = Path(folder)
        cfg, weights = folder / CONFIG_NAME, folder / WEIGHTS_NAME
        if not cfg.exists() or not weights.exists():
            raise RetrievalError(f"no trained SAR model in {folder}; run `kdcvg sar train` first")
        try:
            meta = json.loads(cfg.read_text())
            config = SarConfig.from_dict(meta["config"])
            encoder = SCGAT(meta["in_channels"], [tuple(et) for et in meta["edge_types"]],
                            config.encoder)
            encoder.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
            fusion = (None if meta.get("fusion") is None
                      else FusionWeights.from_dict(meta["fusion"]))
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise RetrievalError(f"SAR model in {folder} is unreadable ({e}); "
                                 "retrain with `kdcvg sar train`") from e
        encoder.eval()
        return cls(config, encoder, meta["graph_version"], int(meta["schema_version"]),
                   list(meta.get("reports", [])), _digest(weights),
                   float(meta.get("prior_weight", 0.0)), fusion)

    def check_graph(self, inputs: GraphInputs) -> None:
        """Refuse a graph whose schema or feature widths differ from the training graph.

        A graph that only grew (new nodes or links) is fine: the encoder is inductive,
        and the retriever rebuilds its index when `graph_version` changes.

        Raises:
            RetrievalError: the model is stale for this graph.
        """
        if self.schema_version != SCHEMA_VERSION:
            raise RetrievalError(
                f"SAR model was trained on graph schema v{self.schema_version}, the graph is "
                f"schema v{SCHEMA_VERSION}; retrain with `kdcvg sar train`")
        if inputs.in_channels != self.encoder.in_channels:
            raise RetrievalError(
                f"SAR model expects node features {self.encoder.in_channels}, the graph has "
                f"{inputs.in_channels} (motion descriptors changed?); retrain with "
                "`kdcvg sar train`")
