"""SAR as the generation front end's reference source (`--references sar`).

`SarReferences` implements `kdcvg.generation.references.ReferenceSource` (a
protocol: nothing here imports generation); generation registers it by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdcvg.errors import GenerationError, RetrievalError
from kdcvg.retrieval.scenes import ProductInfo, Scene, with_distortions

if TYPE_CHECKING:
    from kdcvg.graph.store import GraphReader


class SarReferences:
    """References ranked by the trained SAR model saved under `<home>/sar/model`.

    Args:
        store: an open `Store`.
        home: the store folder; defaults to the store's.
        retriever: an already loaded `SarRetriever` (skips loading).

    Raises:
        GenerationError: no trained model fits the store's graph (train with `kdcvg sar train`).
    """

    name = "sar"

    def __init__(self, store: GraphReader, home: Path | None = None, retriever: Any = None) -> None:
        from kdcvg.retrieval.retrieve import SarRetriever

        self.store = store
        self.home = Path(home) if home is not None else store.home
        if retriever is None:
            try:
                retriever = SarRetriever.load(store, self.home)
            except RetrievalError as e:
                raise GenerationError(f"--references sar: {e}") from e
        self.retriever = retriever

    def describe(self) -> dict[str, Any]:
        from kdcvg.retrieval.model import model_dir

        return {"source": self.name, "model": str(model_dir(self.home, "model")),
                "graph_version": self.retriever.graph_version}

    def scene(self, product: ProductInfo, selling_point: str, k: int) -> Scene:
        rows = self.store.query("generate_selling_point", product=product.id,
                                selling_point=selling_point)
        sp_id, text = (str(rows[0]["id"]), str(rows[0]["text"])) if rows else (None, selling_point)
        try:
            ranked = self.retriever.references(text, product.id, k)
        except RetrievalError as e:
            raise GenerationError(f"selling point {selling_point!r}: {e}") from e
        references = with_distortions(self.store, ranked)
        if not references:
            raise GenerationError(f"selling point {selling_point!r} of product {product.id!r}: "
                                  "SAR retrieved no clip; ingest clips for this product first")
        return Scene(text=text, selling_point_id=sp_id, references=references)
