"""The supervised stage: SC-GAT learns curated EXPRESSES links with a ranking loss.

Each step takes a batch of linked selling points and embeds each one as a *query
node* (`SCGAT.attach`), exactly as new text is embedded at retrieval time. Half
of a batch keeps its own links in the graph and attaches to itself (the regime of
a paraphrased, known selling point); the other half has its links hidden and
attaches only to its product, category and text neighbours (an unseen selling
point). Candidates are the batch's linked clips (in-batch negatives) plus clips
of the same category (hard negatives); the loss is the multi-positive softmax
cross-entropy. A held-out share of selling points, their links hidden throughout,
drives early stopping on MRR.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from kdcvg.errors import RetrievalError
from kdcvg.retrieval.config import TrainConfig
from kdcvg.retrieval.encoder import SCGAT
from kdcvg.retrieval.features import (
    EXPRESSES,
    REV_EXPRESSES,
    GraphInputs,
    attach_edges,
    drop_links,
    knowledge_match,
    linked_mask,
    linked_text,
)
from kdcvg.retrieval.sampling import NeighbourSampler, subgraph_states
from kdcvg.types import EdgeType

StageProgress = Callable[[int, int, str], None]  # (done, total, summary line)
MIN_LINKED = 2


@dataclass
class StageReport:
    """What a training stage did, shown by the CLI and saved with the model."""

    stage: str
    steps: int
    best: int
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def line(self) -> str:
        shown = "  ".join(f"{k}={v:.3f}" for k, v in self.metrics.items())
        return f"{self.stage}: {self.steps} steps (best {self.best}) {shown} in {self.seconds:.1f}s"


def positives(inputs: GraphInputs) -> dict[int, list[int]]:
    """Selling-point row -> its curated clip rows."""
    out: dict[int, list[int]] = {}
    for clip, sp in inputs.links.T.tolist():
        out.setdefault(sp, []).append(clip)
    return out


def split_selling_points(inputs: GraphInputs, val_fraction: float, seed: int
                         ) -> tuple[list[int], list[int]]:
    """Linked selling points split into train and validation rows (seeded).

    Raises:
        RetrievalError: fewer than two selling points have curated links.
    """
    linked = sorted(positives(inputs))
    if len(linked) < MIN_LINKED:
        raise RetrievalError(
            f"the graph has curated EXPRESSES links on {len(linked)} selling point(s); "
            f"SAR training needs at least {MIN_LINKED}: add clip -> selling point links "
            "with source 'curated' (kdcvg graph ingest) and train again")
    g = torch.Generator().manual_seed(seed)
    order = [linked[i] for i in torch.randperm(len(linked), generator=g).tolist()]
    n_val = max(1, round(len(order) * val_fraction))
    return sorted(order[n_val:]), sorted(order[:n_val])


def query_inputs(inputs: GraphInputs, sps: Tensor, keep_self: Tensor
                 ) -> tuple[Tensor, dict]:
    """Query-node features and attach edges that copy known selling points.

    Args:
        sps: (Q,) selling-point rows.
        keep_self: (Q,) bool; True attaches the copy to its original as nearest neighbour.
    """
    knn = inputs.sp_knn[sps]
    self_col = torch.where(keep_self, sps, torch.full_like(sps, -1)).view(-1, 1)
    knn = torch.cat([self_col, knn[:, : max(knn.shape[1] - 1, 0)]], dim=1)
    edges = attach_edges(inputs.sp_product[sps], inputs.sp_category[sps], knn)
    return inputs.x["selling_point"][sps], edges


def rank_metrics(scores: Tensor, pos: list[list[int]], k: int = 10) -> dict[str, float]:
    """MRR and Recall@k of (Q, C) scores against positive clip rows per query."""
    order = scores.argsort(dim=1, descending=True)
    mrr, rec = 0.0, 0.0
    for i, p in enumerate(pos):
        ranks = (order[i].unsqueeze(1) == torch.tensor(p).view(1, -1)).nonzero()[:, 0]
        mrr += 1.0 / (int(ranks.min()) + 1)
        rec += float((ranks < k).sum()) / len(p)
    n = max(len(pos), 1)
    return {"mrr": mrr / n, f"recall@{k}": rec / n}


def score_queries(model: SCGAT, inputs: GraphInputs, sps: list[int], hide: Tensor,
                  keep_self: bool) -> Tensor:
    """(Q, N_clip) scores of known selling points embedded as query nodes."""
    edges = drop_links(inputs, hide)
    states = model.node_states(inputs.x, edges)
    clip = model.embed(states)["clip"]
    rows = torch.tensor(sps, dtype=torch.long)
    qx, qe = query_inputs(inputs, rows, torch.full((len(sps),), keep_self))
    q, _ = model.attach(states, qx, qe)
    qt = inputs.text["selling_point"][rows]
    match = knowledge_match(inputs, qt, qe, linked_mask(inputs, edges))
    return model.score(q, clip, qt, inputs.text["clip"], linked_text(inputs, edges), match)


def _candidates(inputs: GraphInputs, batch: list[int], pos: dict[int, list[int]],
                n_hard: int, g: torch.Generator) -> Tensor:
    cands = {c for s in batch for c in pos[s]}
    cat = inputs.clip_category
    for s in batch:
        same = (cat == inputs.sp_category[s]).nonzero().view(-1) if inputs.sp_category[s] >= 0 \
            else torch.arange(cat.shape[0])
        if same.numel():
            pick = torch.randint(0, same.numel(), (n_hard,), generator=g)
            cands.update(same[pick].tolist())
    return torch.tensor(sorted(cands), dtype=torch.long)


def _num_nodes(inputs: GraphInputs) -> dict[str, int]:
    return {nt: int(v.shape[0]) for nt, v in inputs.x.items()}


def sampled_states(model: SCGAT, inputs: GraphInputs, sampler: NeighbourSampler, hide: Tensor,
                   cand: Tensor, attach: dict[EdgeType, Tensor],
                   generator: torch.Generator | None) -> tuple[list[dict[str, Tensor]], Tensor,
                                                                dict[EdgeType, Tensor]]:
    """Encoder states on the sampled neighbourhood of a batch.

    Args:
        hide: (N_sp,) bool, selling points whose EXPRESSES links are dropped.
        cand: (C,) candidate clip rows.
        attach: query attach edges with global source rows.

    Returns:
        subgraph states, (C, out) candidate embeddings, attach edges with local source rows.
    """
    seeds: dict[str, list[Tensor]] = {"clip": [cand]}
    for et, ei in attach.items():
        seeds.setdefault(et[0], []).append(ei[0])
    sub = sampler.sample({nt: torch.cat(v) for nt, v in seeds.items()}, generator)
    sp_rows = sub.nodes.get("selling_point", torch.zeros(0, dtype=torch.long))
    for et in (EXPRESSES, REV_EXPRESSES):
        ei = sub.edges[et]
        sp_local = ei[1] if et == EXPRESSES else ei[0]
        sub.edges[et] = ei[:, ~hide[sp_rows[sp_local]]] if ei.numel() else ei
    states = subgraph_states(model, inputs.x, sub)
    n = _num_nodes(inputs)
    clip = model.embed(states)["clip"][sub.local("clip", cand, n["clip"])]
    local = {et: torch.stack([sub.local(et[0], ei[0], n[et[0]]), ei[1]])
             for et, ei in attach.items()}
    return states, clip, local


def train_supervised(model: SCGAT, inputs: GraphInputs, config: TrainConfig,
                     progress: StageProgress | None = None) -> StageReport:
    """Train `model` in place on curated links; the best validation state is kept.

    Raises:
        RetrievalError: the graph has too few curated links.
    """
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    g = torch.Generator().manual_seed(config.seed)
    pos = positives(inputs)
    train_sp, val_sp = split_selling_points(inputs, config.val_fraction, config.seed)
    n_sp = inputs.x["selling_point"].shape[0]
    val_hidden = torch.zeros(n_sp, dtype=torch.bool)
    val_hidden[val_sp] = True
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    pos_val = [pos[s] for s in val_sp]
    sampler = None
    if sum(int(v.shape[0]) for v in inputs.x.values()) > config.sample_above:
        sampler = NeighbourSampler(drop_links(inputs, val_hidden), _num_nodes(inputs),
                                   config.fanout, model.config.layers)
    model.eval()
    with torch.no_grad():  # epoch 0 competes too: training must earn its place
        metrics = rank_metrics(score_queries(model, inputs, val_sp, val_hidden, False), pos_val)
    best, best_epoch, best_state = metrics["mrr"], 0, copy.deepcopy(model.state_dict())
    epoch, n_steps, step_seconds = 0, 0, 0.0
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = [train_sp[i] for i in torch.randperm(len(train_sp), generator=g).tolist()]
        starts = range(0, len(order), config.batch_size)
        for b in starts[: config.max_steps]:
            step_start = time.perf_counter()
            batch = order[b : b + config.batch_size]
            rows = torch.tensor(batch, dtype=torch.long)
            keep = torch.rand(len(batch), generator=g) < config.keep_links
            hide = val_hidden.clone()
            hide[rows[~keep]] = True
            edges = drop_links(inputs, hide)
            cand = _candidates(inputs, batch, pos, config.hard_negatives, g)
            qx, qe = query_inputs(inputs, rows, keep)
            qt = inputs.text["selling_point"][rows]
            match = knowledge_match(inputs, qt, qe, linked_mask(inputs, edges))
            if sampler is None:
                states = model.node_states(inputs.x, edges)
                clip = model.embed(states)["clip"][cand]
            else:
                states, clip, qe = sampled_states(model, inputs, sampler, hide, cand, qe, g)
            q, _ = model.attach(states, qx, qe)
            logits = model.score(q, clip, qt, inputs.text["clip"][cand],
                                 linked_text(inputs, edges)[cand], match)  # (B, C)
            is_pos = torch.zeros_like(logits, dtype=torch.bool)
            for i, s in enumerate(batch):
                is_pos[i] = torch.isin(cand, torch.tensor(pos[s]))
            loss = (logits.logsumexp(1)
                    - logits.masked_fill(~is_pos, float("-inf")).logsumexp(1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            n_steps += 1
            step_seconds += time.perf_counter() - step_start
        model.eval()
        with torch.no_grad():
            scores = score_queries(model, inputs, val_sp, val_hidden, keep_self=False)
            metrics = rank_metrics(scores, pos_val)
        if metrics["mrr"] > best:
            best, best_epoch, best_state = metrics["mrr"], epoch, copy.deepcopy(model.state_dict())
        if progress is not None:
            progress(epoch, config.epochs, f"loss={loss.item():.3f} val_mrr={metrics['mrr']:.3f}")
        if epoch - best_epoch >= config.patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        final = rank_metrics(score_queries(model, inputs, val_sp, val_hidden, keep_self=False),
                             [pos[s] for s in val_sp])
    report = {f"val_{k}": v for k, v in final.items()}
    report["step_seconds"] = step_seconds / max(n_steps, 1)
    return StageReport("supervised", epoch, best_epoch, report, time.perf_counter() - start)
