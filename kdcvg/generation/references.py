"""Where an ad's reference clips come from: the `ReferenceSource` protocol.

`CuratedReferences` reads curated `EXPRESSES` links through a named query;
`kdcvg.retrieval.source.SarReferences` implements the same protocol with SAR's
learned ranking. Every graph
read generation needs (product, selling points, references) happens here, in
the process that holds the store, so that renderers receive plain data: the
references carry their motion patterns' distortions (`with_distortions`), which
MKR puts in the negative prompt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from kdcvg.errors import GenerationError, NoReferenceError
from kdcvg.retrieval.scenes import ProductInfo, Reference, Scene, with_distortions
from kdcvg.retrieval.source import SarReferences

if TYPE_CHECKING:
    from kdcvg.graph.store import GraphReader

MIN_TEXT_MATCH = 0.5  # cosine a free-text selling point needs to borrow a selling point's clips


class ReferenceSource(Protocol):
    """Finds the reference clips of one selling point of a product, best first."""

    name: str

    def scene(self, product: ProductInfo, selling_point: str, k: int) -> Scene:
        """The scene for `selling_point` (an id of the product's, or free text).

        Raises:
            GenerationError: the selling point is unknown or nothing could be retrieved
                for it; the message names the selling point and what to do.
        """
        ...

    def describe(self) -> dict[str, Any]:
        """The source's settings and model version, recorded in each sidecar."""
        ...


def load_product(store: GraphReader, product_id: str) -> ProductInfo:
    """The product an ad is for.

    Raises:
        GenerationError: no product has this id.
    """
    rows = store.query("generate_product", product=product_id)
    if not rows:
        raise GenerationError(
            f"unknown product {product_id!r}: no Product node has this id "
            "(list products with `kdcvg graph query products` or ingest it first)"
        )
    r = rows[0]
    return ProductInfo(id=str(r["id"]), name=str(r["name"] or r["id"]), brand=str(r["brand"] or ""),
                       description=str(r["description"] or ""), category=str(r["category"] or ""))


def _reference(row: dict[str, Any]) -> Reference:
    patterns = tuple((str(p["name"]), float(p["score"])) for p in row.get("patterns") or [])
    motion = row.get("motion")
    return Reference(
        clip_id=str(row["clip"]),
        uri=str(row["uri"]),
        caption=str(row.get("caption") or ""),
        score=float(row["weight"]) if row.get("weight") is not None else 1.0,
        motion_patterns=patterns,
        motion=tuple(float(x) for x in motion) if motion else None,
    )


class CuratedReferences:
    """References from curated `EXPRESSES` links, strongest weight first.

    A free-text selling point borrows the clips of the product's closest selling point
    (MiniLM cosine at least `min_similarity`); the embedder is loaded only then.

    Args:
        store: an open `kdcvg.graph.store.Store`.
        embedder_factory: returns an object with `embed(list[str]) -> (N, 384)` unit vectors.
        min_similarity: the cosine below which free text matches nothing.
    """

    name = "curated"

    def __init__(
        self,
        store: GraphReader,
        embedder_factory: Callable[[], Any] | None = None,
        min_similarity: float = MIN_TEXT_MATCH,
    ) -> None:
        self.store = store
        self._embedder_factory = embedder_factory
        self._embedder: Any = None
        self.min_similarity = min_similarity
        self.note: str | None = None  # why `auto` fell back to curated links

    def describe(self) -> dict[str, Any]:
        described = {"source": self.name, "query": "generate_curated_references",
                     "min_similarity": self.min_similarity}
        return described | ({"note": self.note} if self.note else {})

    def scene(self, product: ProductInfo, selling_point: str, k: int) -> Scene:
        rows = self.store.query("generate_selling_point", product=product.id,
                                selling_point=selling_point)
        if rows:
            sp_id, text = str(rows[0]["id"]), str(rows[0]["text"])
        else:
            sp_id, text = self._match_text(product, selling_point), selling_point
        refs = self.store.query("generate_curated_references", selling_point=sp_id, k=k)
        if not refs:
            raise NoReferenceError(
                f"selling point {sp_id!r} ({text!r}) of product {product.id!r} has no curated "
                "reference clip: curate an EXPRESSES link from a clip to it, or train SAR",
                selling_point_id=sp_id, text=text,
            )
        references = with_distortions(self.store, [_reference(r) for r in refs])
        return Scene(text=text, selling_point_id=sp_id, references=references)

    def _match_text(self, product: ProductInfo, text: str) -> str:
        """The id of the product's selling point closest to free `text`."""
        candidates = [r for r in self.store.query("product_selling_point_embeddings",
                                                  product=product.id)
                      if r.get("embedding") is not None]
        if not candidates or self._embedder_factory is None:
            raise GenerationError(
                f"selling point {text!r} is not a selling point id of product {product.id!r}, "
                "and the product has no selling points to match free text against"
            )
        if self._embedder is None:
            self._embedder = self._embedder_factory()
        vector = np.asarray(self._embedder.embed([text])[0], dtype=np.float32)
        sims = np.asarray([r["embedding"] for r in candidates], dtype=np.float32) @ vector
        best = int(np.argmax(sims))
        if sims[best] < self.min_similarity:
            raise GenerationError(
                f"selling point {text!r} is neither a selling point id of product {product.id!r} "
                f"nor close to one (closest {candidates[best]['id']!r}, cosine {sims[best]:.2f} < "
                f"{self.min_similarity}); use a selling point id, or add this text to the "
                "product first"
            )
        return str(candidates[best]["id"])


def auto_references(store: GraphReader, embedder_factory: Callable[[], Any] | None = None) -> ReferenceSource:
    """SAR when a trained model fits the graph, otherwise curated links; the sidecar says which."""
    try:
        return reference_source("sar", store)
    except GenerationError as e:
        curated = CuratedReferences(store, embedder_factory)
        curated.note = f"auto: SAR unavailable ({e}); used curated links"
        return curated


# name -> factory; a factory takes (store, **settings) and returns a ReferenceSource
SOURCES: dict[str, Callable[..., ReferenceSource]] = {
    "auto": auto_references,
    "curated": CuratedReferences,
    "sar": SarReferences,
}


def reference_source(name: str, store: GraphReader, **settings: Any) -> ReferenceSource:
    """The reference source called `name` ("curated", or "sar" once SAR is trained).

    Raises:
        GenerationError: unknown name.
    """
    if name not in SOURCES:
        raise GenerationError(f"unknown reference source {name!r}; known: {', '.join(SOURCES)}")
    return SOURCES[name](store, **settings)
