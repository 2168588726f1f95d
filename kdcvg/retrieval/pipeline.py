"""Training end to end: graph in, both stages, models saved under `<home>/sar/`.

`fit` is the pure part (HeteroData and captions in, `SarModel`s out); `train_sar`
reads the store, calls `fit` and saves `<home>/sar/supervised` and `<home>/sar/model`.
Both run on one CPU thread for small graphs: with tiny tensors, thread
hand-offs cost far more than they save (20x slower on a busy 2-core machine).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from kdcvg.errors import RetrievalError
from kdcvg.retrieval.config import RlConfig, SarConfig, TrainConfig
from kdcvg.retrieval.encoder import SCGAT
from kdcvg.retrieval.features import GraphInputs, build_inputs, message_edge_types
from kdcvg.retrieval.feedback import stored_feedback, with_feedback_links
from kdcvg.retrieval.fusion import FusionWeights, fit_fusion, stage_report
from kdcvg.retrieval.model import CONFIG_NAME, SarModel, model_dir, sar_dir
from kdcvg.retrieval.ppo import fixed_prior_weight, train_rl
from kdcvg.retrieval.prior import stored_prior
from kdcvg.retrieval.train import (
    StageProgress,
    split_selling_points,
    train_supervised,
    validation_sample,
)

if TYPE_CHECKING:
    from kdcvg.graph.store import GraphReader

SMALL_GRAPH = 20_000  # nodes; below it training runs on one thread
Progress = Callable[[str, int, int, str], None]  # (stage, done, total, summary)


@contextmanager
def threads_for(inputs: GraphInputs) -> Iterator[None]:
    """One torch thread while working on a small graph, restored afterwards."""
    before = torch.get_num_threads()
    if sum(inputs.num_nodes.values()) < SMALL_GRAPH:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fit(data: Any, id_maps: dict[str, list[str]], captions: list[str], config: SarConfig,
        feedback: Mapping[tuple[int, int], float] | None = None,
        progress: Progress | None = None, prior: np.ndarray | None = None,
        start: SarModel | None = None,
        sp_texts: list[str] | None = None) -> tuple[SarModel, SarModel]:
    """Train SC-GAT (supervised), fit the fused score's weights, refine with the RL stage.

    The fused score (`kdcvg.retrieval.fusion`) is fitted on the supervised stage's
    validation links; the RL stage tunes SC-GAT's own score (its candidates and policy
    read `SCGAT.score`) and the feedback prior's weight, and when it keeps an update the
    fused weights are fitted again on the final encoder, so each saved model carries
    weights fitted to its own SC-GAT.

    Args:
        captions: caption per clip row.
        feedback: pair feedback per (clip row, selling-point row).
        prior: (C,) the clips' feedback prior (`prior.clip_prior`).
        start: a trained supervised model of this graph: the supervised stage is skipped
            and the RL stage refines a copy of it.
        sp_texts: text per selling-point row; the lexical term needs them (None, or
            `config.fusion.enabled` False: SC-GAT's score alone).

    Returns:
        (supervised model, final model); the same weights when `config.rl.algo` is "none"
        (the final model then carries `RlConfig.prior_weight` as its prior weight).

    Raises:
        RetrievalError: too few curated links, a bad configuration, or `start` trained
            on another graph.
    """
    inputs = build_inputs(data, id_maps, config.encoder.knn)
    if start is not None and start.graph_version != inputs.graph_version:
        raise RetrievalError("the saved supervised model was trained on another version of "
                             "the graph; train it again (without --from-supervised)")

    def stage(name: str) -> StageProgress | None:
        if progress is None:
            return None
        return lambda done, total, line: progress(name, done, total, line)

    with threads_for(inputs):
        if start is None:
            torch.manual_seed(config.train.seed)
            encoder = SCGAT(inputs.in_channels, message_edge_types(), config.encoder)
            sup = train_supervised(encoder, inputs, config.train, stage("supervised")).__dict__
            fused = _fusion(encoder, inputs, captions, sp_texts, config)
        else:
            encoder, sup, fused = copy.deepcopy(start.encoder), start.reports[0], start.fusion
        supervised = SarModel(config, copy.deepcopy(encoder).eval(), inputs.graph_version,
                              reports=[sup, *_fusion_reports(fused, config)], fusion=fused)
        if config.rl.algo == "none":
            weight = fixed_prior_weight(encoder, inputs, config.rl, prior)
            return supervised, replace(supervised, prior_weight=weight)
        rl = train_rl(encoder, inputs, captions, config.rl, config.train.val_fraction,
                      config.train.seed, feedback, stage(config.rl.algo), config.train.paraphrase,
                      prior)
        if rl.metrics.get("rl_kept"):  # SC-GAT changed: its weights are fitted again
            fused = _fusion(encoder, inputs, captions, sp_texts, config)
    final = SarModel(config, encoder.eval(), inputs.graph_version,
                     reports=[sup, rl.__dict__, *_fusion_reports(fused, config)],
                     prior_weight=rl.metrics["prior_weight"], fusion=fused)
    return supervised, final


def _fusion(encoder: SCGAT, inputs: GraphInputs, captions: list[str],
            sp_texts: list[str] | None, config: SarConfig) -> FusionWeights | None:
    """The fused score's weights fitted on the validation links (None: not fitted)."""
    if sp_texts is None or not config.fusion.enabled:
        return None
    _, val_sp = split_selling_points(inputs, config.train.val_fraction, config.train.seed)
    if sum(inputs.num_nodes.values()) > config.train.sample_above:  # as the supervised stage validates
        val_sp = validation_sample(val_sp, config.train.seed)
    return fit_fusion(encoder, inputs, captions, sp_texts, val_sp, config.fusion)



def _fusion_reports(fused: FusionWeights | None, config: SarConfig) -> list[dict[str, Any]]:
    return [] if fused is None else [stage_report(fused, config.fusion.steps).__dict__]


def make_config(epochs: int | None = None, ppo_steps: int | None = None, seed: int = 0,
                rl: str = "ppo", conv: str = "transformer",
                feedback_weight: float | None = None) -> SarConfig:
    """A `SarConfig` from the CLI's few knobs (None keeps the default)."""
    base = SarConfig()
    train: TrainConfig = replace(base.train, seed=seed,
                                 **({"epochs": epochs} if epochs is not None else {}))
    rlc: RlConfig = replace(base.rl, seed=seed, algo=rl,  # type: ignore[arg-type]
                            steps=base.rl.steps if ppo_steps is None else ppo_steps,
                            feedback_weight=(base.rl.feedback_weight if feedback_weight is None
                                             else feedback_weight))
    enc = replace(base.encoder, conv=conv)  # type: ignore[arg-type]
    return SarConfig(encoder=enc, train=train, rl=rlc)


def train_sar(store: GraphReader, home: Path, epochs: int | None = None, ppo_steps: int | None = None,
              seed: int = 0, progress: Progress | None = None, rl: str = "ppo",
              config: SarConfig | None = None, force: bool = False,
              feedback_weight: float | None = None, from_supervised: bool = False) -> SarModel:
    """Train on the store's graph and save `<home>/sar/supervised` and `<home>/sar/model`.

    A saved model that validated better than the new one is kept unless `force`
    (`kdcvg.retrieval.supervision.keep_new`). Whole-clip feedback stored under
    `<home>/sar` becomes the clips' feedback prior (`prior.stored_prior`); with
    `from_supervised` the saved supervised model is refined again (the RL stage only).

    Example:
        >>> with open_store(resolve_store(db=path)) as store:   # doctest: +SKIP
        ...     model = train_sar(store, store_config.home, epochs=40, ppo_steps=512)

    Raises:
        RetrievalError: the graph has too few curated links, or the new model validated
            worse than the saved one without `force` (nothing is saved).
    """
    from kdcvg.graph.export import export_graph
    from kdcvg.retrieval.retrieve import GraphTexts
    from kdcvg.retrieval.supervision import count_supervision, keep_new, require
    from kdcvg.retrieval.train import MIN_LINKED

    require(count_supervision(store), MIN_LINKED)
    config = config or make_config(epochs, ppo_steps, seed, rl, feedback_weight=feedback_weight)
    start = SarModel.from_pretrained(model_dir(home, "supervised")) if from_supervised else None
    data, id_maps = export_graph(store)
    texts = GraphTexts.from_store(store)
    captions = texts.captions(id_maps.get("clip", []))
    sp_texts = texts.texts(id_maps.get("selling_point", []))
    feedback = stored_feedback(sar_dir(home), id_maps)
    prior = stored_prior(sar_dir(home), id_maps.get("clip", []), config.rl.prior_shrink)
    data = with_feedback_links(data, feedback)
    supervised, final = fit(data, id_maps, captions, config, feedback, progress, prior, start,
                            sp_texts)
    saved = model_dir(home, "model")
    if not force and (saved / CONFIG_NAME).exists():
        try:
            old = SarModel.from_pretrained(saved).reports
        except (RetrievalError, OSError, ValueError):
            old = None  # an unreadable saved model is no reason to keep it
        reason = keep_new(old, final.reports)
        if reason is not None:
            raise RetrievalError(f"not saved: {reason}")
    supervised.save_pretrained(model_dir(home, "supervised"))
    final.save_pretrained(saved)
    return final
