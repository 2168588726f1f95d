"""Top-k search over clip vectors with FAISS: exact inner product, HNSW for large catalogues.

IVF (`approx="ivf"`) is the choice where the index is built often and searched in
bulk, e.g. the selling-point kNN edges: it trains on a sample in seconds, where
an HNSW build over 200k rows takes minutes on one thread.

An index can be saved beside the model it was built with (`save`), tagged with the
graph version and the model's weight digest; `load_matching` reloads it only when
both still match, so the retriever rebuilds (and re-saves) it when the graph changes.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

HNSW_THRESHOLD = 50_000  # below it an exact flat scan is fast enough (a few ms)
HNSW_M = 32
FLAT_BATCH = 256  # up to this many queries a flat index is one matrix product (`search`)
IVF_PROBES = 4
IVF_TRAIN_PER_LIST = 32  # training sample = this x lists (k-means on a sample, 8 iterations)
INDEX_NAME = "index.faiss"
INDEX_META = "index.json"


class ClipIndex:
    """Inner-product index over (N, D) float32 vectors.

    Args:
        vectors: one row per clip.
        hnsw_threshold: use the approximate index from this many rows on.
        approx: the approximate index: "hnsw" (`IndexHNSWFlat`) or "ivf" (`IndexIVFFlat`,
            about 4 sqrt(N) lists rounded to a power of two, `IVF_PROBES` probed).
    """

    def __init__(self, vectors: np.ndarray, hnsw_threshold: int = HNSW_THRESHOLD,
                 approx: str = "hnsw") -> None:
        import faiss

        if approx not in ("hnsw", "ivf"):
            raise ValueError(f"approx must be 'hnsw' or 'ivf', got {approx!r}")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.dim = int(vectors.shape[1])
        self.size = int(vectors.shape[0])
        self.kind = approx if self.size >= hnsw_threshold else "flat"
        index: Any
        if self.kind == "hnsw":
            index = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = 128
        elif self.kind == "ivf":
            index = _trained_ivf(vectors)
        else:
            index = faiss.IndexFlatIP(self.dim)
        index.add(vectors)
        self._index = index

    @classmethod
    def _wrap(cls, index: Any, kind: str) -> ClipIndex:
        self = cls.__new__(cls)
        self._index, self.kind = index, kind
        self.dim, self.size = int(index.d), int(index.ntotal)
        return self

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(Q, k) scores and rows, best first; rows are -1 where fewer than k exist.

        Up to `FLAT_BATCH` queries, a flat index is scanned with one matrix product over
        the stored vectors rather than by FAISS: this faiss-cpu build scans the whole
        index once per query below 20 queries and is slower still from 20 to about 200
        (10k x 1600 vectors, k = 100, one thread: 8 queries 33 ms against 13.5, 32
        queries 173 ms against 26), so a server's micro-batch cost as much as its
        queries one by one. Bulk searches (kNN edges, evaluations) stay with FAISS,
        which is faster there (20k x 20k, k = 6: 4.0 s against 6.2).
        """
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        k = min(k, max(self.size, 1))
        if self.kind == "flat" and self.size and q.shape[0] <= FLAT_BATCH:
            return top_k(q @ self._stored().T, k)  # (Q, N) scores
        scores, rows = self._index.search(q, k)
        return scores, rows

    def _stored(self) -> np.ndarray:
        """(N, D) the flat index's vectors, a view of FAISS's own memory (no copy)."""
        import faiss

        xb: np.ndarray = faiss.rev_swig_ptr(self._index.get_xb(), self.size * self.dim)
        return xb.reshape(self.size, self.dim)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """(R, D) the stored vectors of `rows` (flat and HNSW indexes keep them whole)."""
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        if rows.size == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out: np.ndarray = self._index.reconstruct_batch(rows)
        return out

    def save(self, folder: Path, tag: dict[str, str]) -> None:
        """Write `index.faiss` and `index.json` (the tag) into `folder`, each replaced whole."""
        import faiss

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".index-", dir=folder)
        os.close(fd)
        faiss.write_index(self._index, tmp)
        meta = {**tag, "kind": self.kind, "size": self.size, "dim": self.dim}
        os.replace(tmp, folder / INDEX_NAME)
        (folder / INDEX_META).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load_matching(cls, folder: Path, tag: dict[str, str], size: int, dim: int
                      ) -> ClipIndex | None:
        """The index saved in `folder` if its tag, size and width match, else None."""
        import faiss

        folder = Path(folder)
        try:
            meta = json.loads((folder / INDEX_META).read_text())
        except (OSError, ValueError):
            return None
        if any(meta.get(k) != v for k, v in tag.items()) or meta.get("size") != size \
                or meta.get("dim") != dim or not (folder / INDEX_NAME).exists():
            return None
        try:
            index = faiss.read_index(str(folder / INDEX_NAME))
        except RuntimeError:
            return None
        if int(index.ntotal) != size or int(index.d) != dim:
            return None
        return cls._wrap(index, str(meta.get("kind", "flat")))


def _trained_ivf(vectors: np.ndarray) -> Any:
    """An `IndexIVFFlat` (inner product) trained on a seeded sample of `vectors`."""
    import faiss

    n, dim = vectors.shape
    lists = int(2 ** round(np.log2(max(4 * np.sqrt(n), 16))))
    lists = max(1, min(lists, n // 8))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = 8
    index.cp.min_points_per_centroid = 8  # the sample is small on purpose: no warning
    index.cp.seed = 0
    rng = np.random.default_rng(0)
    sample = min(n, IVF_TRAIN_PER_LIST * lists)
    index.train(vectors[np.sort(rng.choice(n, sample, replace=False))])
    index.nprobe = min(IVF_PROBES, lists)
    return index


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(Q, k) the best `scores` (Q, N) of each row and their columns, best first; equal
    scores in column order."""
    n = scores.shape[1]
    cols = (np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < n
            else np.broadcast_to(np.arange(n), scores.shape))
    top = np.take_along_axis(scores, cols, 1)
    order = np.lexsort((cols, -top), axis=1)
    return np.take_along_axis(top, order, 1), np.take_along_axis(cols, order, 1).astype(np.int64)
