"""The fused score: SC-GAT's score plus a learned lexical term, weighed on held-out links.

SC-GAT's score (`SCGAT.score`) matches meaning and graph context; it has no term for the
words a query shares with what curators wrote about a clip, which is how a statement
about the same ad is found (issue 17). The final score of a (query, clip) pair is

    `w_scgat * score(q, c) + w_lexical * bm25(q, d_c) / max_c' bm25(q, d_c')`

where `d_c` is the clip's document (its caption and the texts of the selling points it
expresses, `documents`) and BM25 is bm25s with English stopwords (`LexicalIndex`), its
scores divided by the query's best one so that they read the same for every query.

The weights are learned, not set: after the supervised stage, `fit_fusion` scores the
validation selling points (their links hidden throughout training, their texts left out
of the documents) as text the graph has not seen, and fits the weights with the
supervised stage's ranking loss, their curated clips as positives, over the same
candidates retrieval ranks: SC-GAT's top `depth` (the FAISS search) merged with BM25's
top `depth`, so a clip that only the words find can enter (`merge_candidates`). The
weights start at (1, 0), SC-GAT's ranking exactly, and move only as far as the held-out
links ask.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from kdcvg.retrieval.config import FusionConfig
from kdcvg.retrieval.encoder import SCGAT, GraphContext
from kdcvg.retrieval.features import EXPRESSES, GraphInputs, query_edges
from kdcvg.retrieval.index import top_k
from kdcvg.retrieval.train import StageReport, positives

TERMS = ("scgat", "lexical")  # the fused score's terms, in feature order
START = {"scgat": 1.0, "lexical": 0.0}  # SC-GAT's ranking until the fit moves it
TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s's default token pattern


def documents(captions: list[str], sp_texts: list[str], expresses: Tensor) -> list[str]:
    """One document per clip: its caption and the texts of the selling points it expresses.

    Args:
        captions: caption per clip row.
        sp_texts: text per selling-point row.
        expresses: (2, E) clip row -> selling-point row links in use.
    """
    parts: list[list[str]] = [[c] for c in captions]
    for clip, sp in expresses.T.tolist():
        parts[clip].append(sp_texts[sp])
    return [" ".join(p) for p in parts]


class LexicalIndex:
    """BM25 (bm25s: k1 1.5, b 0.75, English stopwords) over one document per clip."""

    def __init__(self, docs: list[str]) -> None:
        import bm25s

        self.docs = list(docs)
        self._bm25 = bm25s.BM25()
        if docs:
            self._bm25.index(bm25s.tokenize(self.docs, stopwords="en", show_progress=False),
                             show_progress=False)

    @staticmethod
    def tokens(texts: list[str]) -> list[list[str]]:
        """The words BM25 matches in each text (lower-cased, English stopwords dropped)."""
        import bm25s

        out: list[list[str]] = bm25s.tokenize(texts, stopwords="en", return_ids=False,
                                              show_progress=False)
        return out

    def scores(self, texts: list[str]) -> np.ndarray:
        """(Q, N) float32 BM25 scores of every document for each text."""
        out = np.zeros((len(texts), len(self.docs)), dtype=np.float32)
        if not self.docs:
            return out
        for i, toks in enumerate(self.tokens(texts)):
            if toks:
                out[i] = self._bm25.get_scores(toks)
        return out

    def normalised(self, texts: list[str]) -> np.ndarray:
        """(Q, N) BM25 scores divided by each text's best one: the lexical term, in [0, 1]."""
        raw = self.scores(texts)
        best = raw.max(axis=1, keepdims=True) if raw.shape[1] else np.zeros((raw.shape[0], 1))
        return np.where(best > 0, raw / np.maximum(best, 1e-12), 0.0).astype(np.float32)

    def matched(self, text: str, rows: list[int]) -> list[list[str]]:
        """The query's words that each clip of `rows` holds in its document (what the lexical
        term saw). One tokenizer call for the query and one for the documents: bm25s costs
        about as much per call as per text at these sizes."""
        if not rows:
            return []
        words = list(dict.fromkeys(self.tokens([text])[0]))
        docs = [set(d) for d in self.tokens([self.docs[r] for r in rows])]
        return [[w for w in words if w in doc] for doc in docs]


@dataclass
class FusionWeights:
    """The learned weight of each term of the fused score (`TERMS`).

    Attributes:
        weights: term -> weight.
        depth: candidates taken from each of SC-GAT (FAISS) and BM25 before fusing.
        report: what the fit saw (queries, loss before and after).
    """

    weights: dict[str, float] = field(default_factory=lambda: dict(START))
    depth: int = FusionConfig.depth
    report: dict[str, float] = field(default_factory=dict)

    def vector(self) -> np.ndarray:
        return np.array([self.weights[t] for t in TERMS], dtype=np.float32)

    def terms(self, features: np.ndarray) -> np.ndarray:
        """(..., F) features -> (..., F) each term's contribution to the fused score."""
        out: np.ndarray = features * self.vector()
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"weights": dict(self.weights), "depth": self.depth, "report": dict(self.report)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FusionWeights:
        weights = {t: float(raw["weights"][t]) for t in TERMS}
        return cls(weights, int(raw["depth"]), dict(raw.get("report", {})))


def merge_candidates(sar_rows: np.ndarray, lexical: np.ndarray, depth: int) -> np.ndarray:
    """SC-GAT's candidates followed by BM25's top `depth` that it missed (no duplicates).

    Args:
        sar_rows: (D,) SC-GAT's best clip rows, best first, -1 padded (the FAISS search).
        lexical: (N,) the lexical term of every clip for this query.
        depth: BM25 candidates taken (those with a positive score).
    """
    sar = sar_rows[sar_rows >= 0]
    k = min(depth, lexical.shape[0])
    top = np.argpartition(-lexical, k - 1)[:k] if k else np.zeros(0, dtype=np.int64)
    top = top[lexical[top] > 0]
    extra = np.setdiff1d(top, sar, assume_unique=False)
    return np.concatenate([sar, extra]).astype(np.int64)


def candidate_features(sar_rows: np.ndarray, lexical: np.ndarray, depth: int,
                       sar_of: Callable[[int, np.ndarray], np.ndarray]
                       ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per query, its candidate rows and their (K, F) features in `TERMS` order.

    Args:
        sar_rows: (Q, D) SC-GAT's best rows per query (-1 padded).
        lexical: (Q, N) the lexical term.
        depth: BM25 candidates per query.
        sar_of: (query, rows) -> SC-GAT's scores of those rows for that query.
    """
    out = []
    for q in range(sar_rows.shape[0]):
        rows = merge_candidates(sar_rows[q], lexical[q], depth)
        feats = np.stack([sar_of(q, rows), lexical[q, rows]], axis=1).astype(np.float32)
        out.append((rows, feats))
    return out


def fusion_loss(weights: Tensor, feats: Tensor, mask: Tensor, is_pos: Tensor) -> Tensor:
    """Multi-positive softmax cross-entropy of the fused scores over each query's candidates.

    Shapes:
        weights (F,), feats (Q, K, F), mask (Q, K) real candidates, is_pos (Q, K)
    """
    logits = (feats @ weights).masked_fill(~mask, float("-inf"))
    pos = logits.masked_fill(~is_pos, float("-inf"))
    return (logits.logsumexp(1) - pos.logsumexp(1)).mean()


def fit_weights(batch: list[tuple[np.ndarray, np.ndarray]], positives: list[list[int]],
                config: FusionConfig) -> FusionWeights:
    """Fit the term weights on candidate features and the queries' positive clip rows.

    Queries with no positive among their candidates teach nothing and are left out.
    An L2 pull toward `START` (`config.l2`) keeps a fit on a handful of queries sane,
    and no weight goes below 0: a term can count for a clip, never against it.
    """
    keep = [i for i, (rows, _) in enumerate(batch) if np.isin(rows, positives[i]).any()]
    start = torch.tensor([START[t] for t in TERMS])
    fitted = FusionWeights(depth=config.depth, report={"fusion_queries": float(len(keep))})
    if not keep:
        return fitted
    width = max(batch[i][0].shape[0] for i in keep)
    feats = torch.zeros((len(keep), width, len(TERMS)))
    mask = torch.zeros((len(keep), width), dtype=torch.bool)
    is_pos = torch.zeros((len(keep), width), dtype=torch.bool)
    for j, i in enumerate(keep):
        rows, f = batch[i]
        feats[j, : rows.shape[0]] = torch.from_numpy(f)
        mask[j, : rows.shape[0]] = True
        is_pos[j, : rows.shape[0]] = torch.from_numpy(np.isin(rows, positives[i]))
    w = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=config.lr)
    with torch.no_grad():
        before = float(fusion_loss(start, feats, mask, is_pos))
    for _ in range(config.steps):
        loss = fusion_loss(w, feats, mask, is_pos) + config.l2 * (w - start).square().sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            w.clamp_(min=0.0)  # each term is evidence for a clip, never against it
    with torch.no_grad():
        after = float(fusion_loss(w, feats, mask, is_pos))
    fitted.weights = {t: float(v) for t, v in zip(TERMS, w.detach().tolist(), strict=True)}
    fitted.report |= {"fusion_loss_before": before, "fusion_loss": after}
    return fitted


def fit_fusion(model: SCGAT, inputs: GraphInputs, captions: list[str], sp_texts: list[str],
               val_sp: list[int], config: FusionConfig, chunk: int = 256) -> FusionWeights:
    """Learn the fused score's weights from the held-out curated links of `val_sp`.

    The validation selling points' links are hidden (from the graph and from the
    documents); each one's text is a query the graph has not seen (attached to its
    nearest other selling points, no product named), as a new selling point or a
    real query is, and its curated clips are the positives.

    Args:
        model: the trained `SCGAT`.
        inputs: the graph's `GraphInputs`.
        captions, sp_texts: text per clip row and per selling-point row.
        val_sp: the held-out selling-point rows (the supervised stage's validation split).
    """
    started = time.perf_counter()
    pos = positives(inputs)
    hidden = torch.zeros(inputs.x["selling_point"].shape[0], dtype=torch.bool)
    hidden[val_sp] = True
    links = GraphContext.of(inputs, hidden)
    lexical = LexicalIndex(documents(captions, sp_texts, links.edges[EXPRESSES]))
    model.eval()
    batch: list[tuple[np.ndarray, np.ndarray]] = []
    with torch.no_grad():
        ctx = model.encode_graph(links)
        clips = model.clip_vectors(ctx)
        for b in range(0, len(val_sp), chunk):
            rows = torch.tensor(val_sp[b:b + chunk], dtype=torch.long)
            n = rows.numel()
            qe = query_edges(inputs, rows, torch.zeros(n, dtype=torch.bool),
                             torch.zeros(n, dtype=torch.bool))
            queries = model.encode_queries(ctx, inputs.text["selling_point"][rows], qe)
            scores = model.score(model.query_vectors(queries), clips).numpy()  # (n, N_clip)
            d = min(config.depth, scores.shape[1])
            top = top_k(scores, d)[1]  # by partition: no full sort of every clip
            lex = lexical.normalised([sp_texts[s] for s in rows.tolist()])
            batch += candidate_features(top, lex, config.depth, _rows_of(scores))
    fitted = fit_weights(batch, [pos[s] for s in val_sp], config)
    fitted.report["fusion_seconds"] = time.perf_counter() - started
    return fitted


def _rows_of(scores: np.ndarray) -> Callable[[int, np.ndarray], np.ndarray]:
    def pick(q: int, rows: np.ndarray) -> np.ndarray:
        out: np.ndarray = scores[q, rows]
        return out

    return pick


def stage_report(fusion: FusionWeights, steps: int) -> StageReport:
    """The fit as a training stage's report (shown by `sar train`, saved with the model)."""
    metrics = {f"w_{t}": w for t, w in fusion.weights.items()}
    metrics |= {k: v for k, v in fusion.report.items() if k != "fusion_seconds"}
    return StageReport("fusion", steps, steps, metrics, fusion.report.get("fusion_seconds", 0.0))
