"""Top-k search over clip vectors with FAISS: exact inner product, HNSW for large catalogues."""

from __future__ import annotations

from typing import Any

import numpy as np

HNSW_THRESHOLD = 50_000  # below it an exact flat scan is fast enough (a few ms)
HNSW_M = 32


class ClipIndex:
    """Inner-product index over (N, D) float32 vectors.

    Args:
        vectors: one row per clip.
        hnsw_threshold: use `IndexHNSWFlat` from this many rows on.
    """

    def __init__(self, vectors: np.ndarray, hnsw_threshold: int = HNSW_THRESHOLD) -> None:
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.dim = int(vectors.shape[1])
        self.size = int(vectors.shape[0])
        self.kind = "hnsw" if self.size >= hnsw_threshold else "flat"
        index: Any
        if self.kind == "hnsw":
            index = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = 128
        else:
            index = faiss.IndexFlatIP(self.dim)
        index.add(vectors)
        self._index = index

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(Q, k) scores and rows, best first; rows are -1 where fewer than k exist."""
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        scores, rows = self._index.search(q, min(k, max(self.size, 1)))
        return scores, rows
