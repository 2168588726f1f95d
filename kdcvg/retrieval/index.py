"""Top-k search over clip vectors with FAISS: exact inner product, HNSW for large catalogues.

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
INDEX_NAME = "index.faiss"
INDEX_META = "index.json"


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

    @classmethod
    def _wrap(cls, index: Any, kind: str) -> ClipIndex:
        self = cls.__new__(cls)
        self._index, self.kind = index, kind
        self.dim, self.size = int(index.d), int(index.ntotal)
        return self

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(Q, k) scores and rows, best first; rows are -1 where fewer than k exist."""
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        scores, rows = self._index.search(q, min(k, max(self.size, 1)))
        return scores, rows

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
