"""The feedback prior: what users said about each clip as a whole, as a term of the score.

A clip's prior is the mean of its whole-clip feedback values (`kdcvg sar feedback` rows
without a selling point, in [-1, 1]) shrunk toward the mean over all rated clips by its
count, minus that mean: `n / (n + shrink) * (mean_clip - mean_all)`. An unrated clip, or
one rated like the average, gets 0; a clip many users rated well gets up to about
`1 - mean_all`. Retrieval adds `weight * prior` to SC-GAT's score (`rerank`); the
weight is the model's `SarModel.prior_weight`, learned by the RL stage from the
feedback reward (`ppo.py`) or set from `RlConfig.prior_weight`.

This module is the one place the term is computed: the RL stage's policy, retrieval
(`SarRetriever.search`) and the benches all call `clip_prior` and `rerank`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

Search = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def clip_prior(values: dict[str, list[float]], clip_keys: list[str], shrink: float
               ) -> np.ndarray:
    """(C,) float32 prior per clip row, 0 for clips without whole-clip feedback.

    Args:
        values: feedback values in [-1, 1] per clip id (`feedback.clip_feedback`); ids not
            in `clip_keys` are ignored.
        clip_keys: clip id per row.
        shrink: pseudo-count pulling a clip's mean toward the mean over rated clips.
    """
    row = {k: i for i, k in enumerate(clip_keys)}
    rated = {k: v for k, v in values.items() if k in row and v}
    out = np.zeros(len(clip_keys), dtype=np.float32)
    if not rated:
        return out
    mean_all = float(np.mean([np.mean(v) for v in rated.values()]))
    for k, v in rated.items():
        n = len(v)
        out[row[k]] = n / (n + shrink) * (float(np.mean(v)) - mean_all)
    return out


def stored_prior(folder: Path, clip_keys: list[str], shrink: float) -> np.ndarray:
    """`clip_prior` of the whole-clip feedback stored in `folder` (`<home>/sar`)."""
    from kdcvg.retrieval.feedback import clip_feedback, load_feedback

    return clip_prior(clip_feedback(load_feedback(folder)), clip_keys, shrink)


def rerank(search: Search, vectors: np.ndarray, k: int, bonus: np.ndarray, size: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of `score + bonus[clip]`, exactly, from an index that knows only the score.

    Searches a deeper list and adds the bonus; a clip outside the list scores at most
    the list's last score plus the largest bonus, so the depth doubles until the k-th
    reranked score is at least that (or the list holds every clip).

    Args:
        search: the index's `search(vectors, depth) -> (scores, rows)`, rows -1 padded.
        vectors: (Q, D) query vectors.
        k: results per query.
        bonus: (C,) additive term per clip row.
        size: clips in the index.

    Returns:
        (Q, k) scores (with the bonus) and clip rows, best first, -1 padded.
    """
    q = vectors.shape[0]
    out_s = np.full((q, k), -np.inf, dtype=np.float32)
    out_r = np.full((q, k), -1, dtype=np.int64)
    if not bonus.any():
        scores, rows = search(vectors, k)
        return scores.astype(np.float32), rows.astype(np.int64)
    top = float(bonus.max())
    todo = np.arange(q)
    depth = min(size, max(2 * k, k + 32))
    while todo.size:
        scores, rows = search(vectors[todo], depth)
        total = np.where(rows >= 0, scores + bonus[np.clip(rows, 0, None)], -np.inf)
        order = np.argsort(-total, axis=1, kind="stable")[:, :k]
        best_s = np.take_along_axis(total, order, 1)
        best_r = np.where(np.isfinite(best_s), np.take_along_axis(rows, order, 1), -1)
        n = min(k, best_s.shape[1])
        last = scores[:, -1] if depth < size else np.full(len(todo), -np.inf)
        done = (depth >= size) | (best_s[:, n - 1] >= last + top)
        out_s[todo[done], :n] = best_s[done, :n]
        out_r[todo[done], :n] = best_r[done, :n]
        todo = todo[~done]
        depth = min(size, depth * 2)
    return out_s, out_r


def prior_reward(prior: np.ndarray) -> np.ndarray:
    """(C,) the prior as the RL stage's feedback reward: in standard deviations of the prior
    over the clips it is not 0 for, clipped to [-1, 1], so that it weighs like a curated
    link (0-1) or a rated pair (-1 to 1) in the mix; 0 where nobody rated the clip."""
    rated = prior[prior != 0]
    scale = float(rated.std()) if rated.size >= 2 else 0.0
    out: np.ndarray = (np.sign(prior) if scale == 0.0 else np.clip(prior / scale, -1.0, 1.0))
    return out.astype(np.float32)
