"""The supervised stage: SC-GAT learns curated EXPRESSES links with a ranking loss.

Each step takes a batch of linked selling points and embeds each one as a *query
node* (`SCGAT.attach`), exactly as new text is embedded at retrieval time, in one of
three regimes (`regimes`): a paraphrase of a linked selling point (links kept,
attached to itself), a selling point in the graph without clips (links hidden,
attached to itself), text the graph has not seen (links hidden, attached only to
its text neighbours); half of the queries name their product, and every query's text
is a `paraphrase` of the selling point's (turned by a random angle). Candidates are the
batch's linked clips (in-batch negatives) plus clips of the same category (hard
negatives); the loss is the multi-positive softmax cross-entropy.

Two phases (linear probe, then fine-tuning): first only the score's mixture
scalars learn, then the attention network too. A held-out share of selling
points, their links hidden throughout, gives the validation loss that ends each
phase and picks the state that is kept (the untrained state competes too).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from kdcvg.errors import RetrievalError
from kdcvg.retrieval.config import VAL_CLIPS, VAL_QUERIES, TrainConfig
from kdcvg.retrieval.encoder import SCGAT, GraphContext
from kdcvg.retrieval.features import GraphInputs, drop_links, query_edges
from kdcvg.retrieval.sampling import NeighbourSampler

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


def paraphrase(text: Tensor, min_cos: float, pool: Tensor, g: torch.Generator) -> Tensor:
    """Unit vectors at a random cosine in [min_cos, 1] from each row of `text`.

    Retrieval queries are paraphrases, not the selling points' own words: MiniLM puts
    a paraphrase at cosine 0.5-0.95 from its original. Trained on the exact text, the
    model over-trusts the text terms. A paraphrase swaps words, so its vector moves
    toward other sentences rather than in a random direction: each row is turned
    toward a random row of `pool` (the graph's selling-point texts), by an angle
    drawn so that its cosine to the original is uniform in [min_cos, 1].

    Args:
        text: (Q, D) unit rows; pool: (P, D) unit rows; min_cos: 1 returns `text`.
    """
    if min_cos >= 1.0 or pool.shape[0] == 0:
        return text
    away = pool[torch.randint(0, pool.shape[0], (text.shape[0],), generator=g)]
    away = away - (away * text).sum(1, keepdim=True) * text
    away = torch.nn.functional.normalize(away, dim=1)
    cos = min_cos + (1.0 - min_cos) * torch.rand((text.shape[0], 1), generator=g)
    return cos * text + (1.0 - cos.square()).sqrt() * away


def ranking_loss(logits: Tensor, is_pos: Tensor) -> Tensor:
    """Multi-positive softmax cross-entropy of (Q, C) scores, averaged over queries."""
    return (logits.logsumexp(1) - logits.masked_fill(~is_pos, float("-inf")).logsumexp(1)).mean()


def rank_metrics(scores: Tensor, pos: list[list[int]], k: int = 10) -> dict[str, float]:
    """MRR, Recall@k and the ranking loss of (Q, C) scores against positive clip rows.

    The loss is the early-stopping criterion: on a few validation selling points MRR
    moves in coarse steps and stops telling better models apart once it saturates.
    """
    order = scores.argsort(dim=1, descending=True)
    mrr, rec = 0.0, 0.0
    is_pos = torch.zeros_like(scores, dtype=torch.bool)
    for i, p in enumerate(pos):
        ranks = (order[i].unsqueeze(1) == torch.tensor(p).view(1, -1)).nonzero()[:, 0]
        mrr += 1.0 / (int(ranks.min()) + 1)
        rec += float((ranks < k).sum()) / len(p)
        is_pos[i, p] = True
    n = max(len(pos), 1)
    return {"mrr": mrr / n, f"recall@{k}": rec / n, "loss": float(ranking_loss(scores, is_pos))}


def score_queries(model: SCGAT, inputs: GraphInputs, sps: list[int], hide: Tensor,
                  keep_self: bool, with_product: bool = True, min_cos: float = 1.0,
                  seed: int = 0, clips: Tensor | None = None,
                  sampler: NeighbourSampler | None = None) -> Tensor:
    """(Q, C) scores of known selling points embedded as query nodes.

    With `min_cos` < 1 the queries are `paraphrase`s of the selling points, the same
    ones for the same seed.

    Args:
        clips: (C,) the clip rows scored (default: every clip).
        sampler: encode only the queries' and clips' neighbourhood, its first `fanout`
            in-edges per node (the same subgraph at every call); None: the whole graph.
    """
    rows = torch.tensor(sps, dtype=torch.long)
    n = len(sps)
    qe = query_edges(inputs, rows, torch.full((n,), keep_self), torch.full((n,), with_product))
    ctx = GraphContext.of(inputs, hide)
    if float(model.gat_gate):  # at 0 the attention term weighs nothing: no encoding needed
        every = torch.arange(inputs.x["clip"].shape[0]) if clips is None else clips
        ctx = (model.encode_graph(ctx) if sampler is None
               else model.encode_subgraph(ctx, sampler, every, qe))
    qt = paraphrase(inputs.text["selling_point"][rows], min_cos,
                    inputs.text["selling_point"], torch.Generator().manual_seed(seed))
    queries = model.encode_queries(ctx, qt, qe)
    return model.score(model.query_vectors(queries), model.clip_vectors(ctx, clips))


def regimes(n: int, config: TrainConfig, g: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """Per query of a batch: links kept?, attached to its own node?, product named?

    Retrieval meets three kinds of text, and training draws all three: a paraphrase
    of a linked selling point (links kept, attached to itself), a selling point in
    the graph without clips yet (links hidden, attached to itself: what a curator
    adds), and text the graph has never seen (links hidden, not attached to itself).
    Queries name their product only sometimes.
    """
    keep = torch.rand(n, generator=g) < config.keep_links
    in_graph = keep | (torch.rand(n, generator=g) < config.in_graph)
    named = torch.rand(n, generator=g) < config.name_product
    return keep, in_graph, named


def validation_scores(model: SCGAT, inputs: GraphInputs, val_sp: list[int], hide: Tensor,
                      min_cos: float = 1.0, clips: Tensor | None = None,
                      sampler: NeighbourSampler | None = None) -> Tensor:
    """Scores of the validation selling points: in the graph, links hidden, no product
    named, paraphrased (the same paraphrases at every call); `score_queries`' options."""
    return score_queries(model, inputs, val_sp, hide, keep_self=True, with_product=False,
                         min_cos=min_cos, clips=clips, sampler=sampler)


@dataclass
class ValidationSet:
    """What each validation pass scores: selling points, the clips they rank, positives.

    Attributes:
        sps: selling-point rows.
        clips: (C,) clip rows ranked; None: every clip.
        pos: per selling point, its positives as columns of the scores.
        sampler: encodes each pass on the neighbourhood of `sps` and `clips` (its first
            `fanout` in-edges per node); None: on the whole graph.
    """

    sps: list[int]
    clips: Tensor | None
    pos: list[list[int]]
    sampler: NeighbourSampler | None = None

    def scores(self, model: SCGAT, inputs: GraphInputs, hide: Tensor,
               min_cos: float = 1.0) -> Tensor:
        """(Q, C) `validation_scores` of this set."""
        return validation_scores(model, inputs, self.sps, hide, min_cos, self.clips,
                                 self.sampler)

    def clip_rows(self, inputs: GraphInputs) -> Tensor:
        """(C,) the clip row of each score column."""
        return torch.arange(inputs.x["clip"].shape[0]) if self.clips is None else self.clips


def validation_sample(val_sp: list[int], seed: int, queries: int = VAL_QUERIES) -> list[int]:
    """A fixed seeded sample of at most `queries` validation selling points, sorted."""
    g = torch.Generator().manual_seed(seed + 1)
    return sorted(val_sp[i] for i in torch.randperm(len(val_sp), generator=g)[:queries].tolist())


def validation_set(inputs: GraphInputs, val_sp: list[int], pos: dict[int, list[int]],
                   seed: int, sampler: NeighbourSampler | None = None,
                   queries: int = VAL_QUERIES, clips: int = VAL_CLIPS) -> ValidationSet:
    """Every validation selling point against every clip, or with a `sampler` (a large
    graph) a fixed seeded sample: `queries` selling points against their positives and
    `clips` other clips, so that a pass costs the same at any graph size (a full pass
    at 100k clips and 25k validation selling points holds a 10 GB score matrix)."""
    if sampler is None:
        return ValidationSet(val_sp, None, [pos[s] for s in val_sp])
    sps = validation_sample(val_sp, seed, queries)
    g = torch.Generator().manual_seed(seed + 2)
    picked = torch.randperm(int(inputs.x["clip"].shape[0]), generator=g)[:clips]
    rows = torch.unique(torch.cat([picked, torch.tensor([c for s in sps for c in pos[s]])]))
    column = {int(c): i for i, c in enumerate(rows.tolist())}
    return ValidationSet(sps, rows, [[column[c] for c in pos[s]] for s in sps], sampler)


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


def _optimizer(model: SCGAT, config: TrainConfig, attention: bool) -> torch.optim.Optimizer:
    """AdamW over the score's mixture scalars, and over the attention network when asked.

    A handful of scalars against thousands of attention weights: trained together from
    the start, the attention memorises the few training selling points long before the
    scalars have found their weights (held-out nDCG fell below the dense baseline), so
    the scalars are fitted first (a linear probe, then fine-tuning).
    """
    mixture = model.mixture_parameters()
    rest = [p for p in model.parameters() if all(p is not m for m in mixture)]
    for p in rest:  # frozen in the probe phase, where the attention is not even run
        p.requires_grad_(attention)
    return torch.optim.AdamW(
        [{"params": rest, "lr": config.lr if attention else 0.0},
         {"params": mixture, "lr": config.mixture_lr, "weight_decay": 0.0}],
        lr=config.lr, weight_decay=config.weight_decay)


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
    opt = _optimizer(model, config, attention=False)
    phase_end = 0  # the last epoch of the mixture phase, once it has ended
    large = sum(inputs.num_nodes.values()) > config.sample_above
    # each step encodes its batch's computation graph only: all of it on a small graph
    # (exact), at most `fanout` in-edges per node and hop on a large one
    sampler = NeighbourSampler(drop_links(inputs, val_hidden), inputs.num_nodes,
                               config.fanout if large else None, model.config.layers)
    val = validation_set(inputs, val_sp, pos, config.seed, sampler if large else None)

    def validate() -> dict[str, float]:
        model.eval()
        with torch.no_grad():
            return rank_metrics(val.scores(model, inputs, val_hidden, config.paraphrase),
                                val.pos)

    metrics = validate()  # epoch 0 competes too: training must earn its place
    best, best_epoch, best_state = metrics["loss"], 0, copy.deepcopy(model.state_dict())
    epoch = 0
    n_steps, step_seconds = [0, 0], [0.0, 0.0]  # per phase: probe, attention
    for epoch in range(1, config.epochs + 1):
        model.train()
        # a large graph's epoch is a fresh sample of `epoch_queries` training selling points
        order = [train_sp[i] for i in torch.randperm(len(train_sp), generator=g)
                 [: config.epoch_queries].tolist()]
        size = max(1, min(config.batch_size, -(-len(order) // config.min_steps)))
        starts = range(0, len(order), size)
        for b in starts[: config.max_steps]:
            step_start = time.perf_counter()
            batch = order[b : b + size]
            rows = torch.tensor(batch, dtype=torch.long)
            keep, in_graph, named = regimes(len(batch), config, g)
            hide = val_hidden.clone()
            hide[rows[~keep]] = True
            links = GraphContext.of(inputs, hide)
            cand = _candidates(inputs, batch, pos, config.hard_negatives, g)
            qe = query_edges(inputs, rows, in_graph, named)
            qt = paraphrase(inputs.text["selling_point"][rows], config.paraphrase,
                            inputs.text["selling_point"], g)
            if not phase_end and not float(model.gat_gate):
                ctx = links  # probe phase: the attention term weighs 0 and is frozen, skip it
            else:
                ctx = model.encode_subgraph(links, sampler, cand, qe, g)
            queries = model.encode_queries(ctx, qt, qe)
            logits = model.score(model.query_vectors(queries),
                                 model.clip_vectors(ctx, cand))  # (B, C)
            is_pos = torch.zeros_like(logits, dtype=torch.bool)
            for i, s in enumerate(batch):
                is_pos[i] = torch.isin(cand, torch.tensor(pos[s]))
            loss = ranking_loss(logits, is_pos)
            opt.zero_grad()
            loss.backward()
            opt.step()
            n_steps[bool(phase_end)] += 1
            step_seconds[bool(phase_end)] += time.perf_counter() - step_start
        metrics = validate()
        if metrics["loss"] < best:
            best, best_epoch, best_state = metrics["loss"], epoch, copy.deepcopy(model.state_dict())
        if progress is not None:
            progress(epoch, config.epochs, f"loss={loss.item():.3f} val_loss={metrics['loss']:.3f} "
                                     f"val_mrr={metrics['mrr']:.3f}")
        stalled = epoch - best_epoch >= config.patience
        if not phase_end and (stalled or epoch >= config.epochs // 2):
            # the mixture has converged: go on from its best state with the attention
            # network learning too; it is kept only where it lowers the validation loss
            phase_end, best_epoch = epoch, epoch
            model.load_state_dict(best_state)
            opt = _optimizer(model, config, attention=True)
        elif stalled or (phase_end and epoch - phase_end >= config.attention_epochs):
            break
    model.load_state_dict(best_state)
    model.requires_grad_(True)
    report = {f"val_{k}": v for k, v in validate().items()}
    report["train_steps"] = float(sum(n_steps))
    report["step_seconds"] = sum(step_seconds) / max(sum(n_steps), 1)
    report["probe_step_seconds"] = step_seconds[0] / max(n_steps[0], 1)
    report["attention_step_seconds"] = step_seconds[1] / max(n_steps[1], 1)
    report["mixture_epochs"] = float(phase_end or epoch)
    report["attention_kept"] = float(best_epoch > phase_end > 0)
    return StageReport("supervised", epoch, best_epoch, report, time.perf_counter() - start)
