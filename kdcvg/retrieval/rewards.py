"""Reward sources of the RL stage, precomputed as (S, K) tables over candidate pools.

- `cider`: the paper's R = CIDEr(G_hat, G). G_hat is the script assembled from the
  picked reference (its caption), G the ground truth: the captions of the clips
  curated for the selling point. CIDEr-D comes from `pycocoevalcap`, on text we
  tokenise ourselves (lower case, alphanumeric runs), with document frequencies
  over all selling points' references, the corpus-level statistics CIDEr needs.
- `curated`: the weight of a curated EXPRESSES link from the picked clip, else 0.
- `feedback`: what users reported (`kdcvg sar feedback`), mapped to [-1, 1]: the
  pair's own feedback, else the clip's feedback prior (ratings of the clip as a whole,
  `prior.prior_reward`).

Relevance is the weighted sum of `cider` and `curated` (weights in `RlConfig.rewards`);
the reward is `mix(relevance, feedback, RlConfig.feedback_weight)`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from kdcvg.errors import RetrievalError
from kdcvg.retrieval.config import REWARD_SOURCES

_TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> str:
    """Pre-tokenised form CIDEr expects: lower-case alphanumeric tokens joined by spaces."""
    return " ".join(_TOKEN.findall(text.lower()))


def cider_table(candidates: np.ndarray, captions: list[str], refs: list[list[str]]
                ) -> np.ndarray:
    """CIDEr-D of each candidate's caption against its selling point's references.

    Args:
        candidates: (S, K) clip rows, -1 for padding.
        captions: caption per clip row.
        refs: reference captions per pool row (S lists; an empty list, a selling point
            with no curated clip, scores 0).

    Returns:
        (S, K) float32; 0 where padded or without references.
    """
    from pycocoevalcap.cider.cider_scorer import CiderScorer

    s, k = candidates.shape
    out = np.zeros((s, k), dtype=np.float32)
    rows = [i for i in range(s) if refs[i]]
    if not rows:
        return out
    tok_refs = [[tokenize(r) for r in rs] for rs in refs]
    tok_caps = [tokenize(c) for c in captions]
    for j in range(k):
        # one corpus per column: document frequencies over all selling points' references
        scorer = CiderScorer(n=4, sigma=6.0)
        for i in rows:
            c = int(candidates[i, j])
            scorer.cook_append(tok_caps[c] if c >= 0 else "", tok_refs[i])
        _, scores = scorer.compute_score()
        out[rows, j] = np.where(candidates[rows, j] >= 0, scores, 0.0)
    return out


def curated_table(candidates: np.ndarray, pools: list[int],
                  links: Mapping[tuple[int, int], float]) -> np.ndarray:
    """Weight of the curated link (clip row, selling-point row) per candidate, else 0."""
    out = np.zeros(candidates.shape, dtype=np.float32)
    for i, sp in enumerate(pools):
        for j, c in enumerate(candidates[i]):
            out[i, j] = links.get((int(c), sp), 0.0)
    return out


def feedback_table(candidates: np.ndarray, pools: list[int],
                   feedback: Mapping[tuple[int, int], float],
                   clip_prior: np.ndarray | None = None) -> np.ndarray:
    """User feedback per candidate: the (clip, selling point) pair's, else the clip's
    (`clip_prior`, (C,) per clip row: `prior.prior_reward`), else 0."""
    out = curated_table(candidates, pools, feedback)
    if clip_prior is None:
        return out
    for i, sp in enumerate(pools):
        for j, c in enumerate(candidates[i]):
            if c >= 0 and (int(c), sp) not in feedback:
                out[i, j] = clip_prior[int(c)]
    return out


def mix(relevance: np.ndarray, feedback: np.ndarray, weight: float) -> np.ndarray:
    """The RL reward: `(1 - weight) * relevance + weight * feedback`.

    Raises:
        RetrievalError: `weight` is not a finite number in [0, 1].
    """
    if not 0.0 <= weight <= 1.0:  # also false for NaN
        raise RetrievalError(f"feedback weight must be a number from 0 to 1, got {weight!r}")
    return ((1.0 - weight) * relevance + weight * feedback).astype(np.float32)


def combine(tables: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """Weighted sum of reward tables.

    Raises:
        RetrievalError: a weight names an unknown reward source.
    """
    unknown = sorted(set(weights) - set(REWARD_SOURCES))
    if unknown:
        raise RetrievalError(f"unknown reward source(s) {', '.join(unknown)}; "
                             f"expected some of {', '.join(REWARD_SOURCES)}")
    shape = next(iter(tables.values())).shape
    total = np.zeros(shape, dtype=np.float32)
    for name, w in weights.items():
        if w and name in tables:
            total += np.float32(w) * tables[name]
    return total
