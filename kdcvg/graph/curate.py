"""One-off curation: add a selling point, link a clip to a selling point."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from kdcvg.errors import ValidationError
from kdcvg.graph.ingest import TextEmbedder, existing_nodes, write_batch
from kdcvg.graph.records import IngestBatch, now_iso
from kdcvg.graph.schema import MAX_TEXT_CHARS
from kdcvg.graph.store import Store
from kdcvg.validation import InputError, check_id, check_text

NEAR_DUPLICATE = 0.92  # cosine of MiniLM vectors; above it two texts say the same thing


@dataclass(frozen=True)
class Added:
    id: str
    nearest: str | None  # the closest existing selling point of the product
    similarity: float


def selling_point_id(product: str, text: str) -> str:
    """A stable id: the same product and text always give the same id."""
    return f"sp-{product}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def add_selling_point(store: Store, embedder: TextEmbedder, product: str, text: str,
                      force: bool = False, threshold: float = NEAR_DUPLICATE,
                      sp_id: str | None = None) -> Added:
    """Add a selling point to a product, refusing near-duplicates of its existing ones.

    Raises:
        ValidationError: empty or over-long text, unknown product, or a near-duplicate
            (cosine >= threshold) without `force`; nothing is written.
    """
    try:
        text = check_text("text", text, MAX_TEXT_CHARS)
        check_id("product", product)
    except InputError as e:
        raise ValidationError([str(e)], "selling point") from e
    if product not in existing_nodes(store, "Product", [product]):
        raise ValidationError([f"product: {product!r} does not exist (see `kdcvg graph query "
                               "selling_points_of_product` or ingest it first)"], "selling point")
    vector = embedder.embed([text])[0]
    nearest, similarity = None, 0.0
    others = [r for r in store.query("product_selling_point_embeddings", product=product)
              if r["embedding"] is not None]
    if others:
        sims = np.asarray([r["embedding"] for r in others], dtype=np.float32) @ vector
        best = int(np.argmax(sims))
        nearest, similarity = others[best]["id"], float(sims[best])
        if similarity >= threshold and not force:
            raise ValidationError(
                [f"text: near-duplicate of {nearest!r} ({others[best]['text']!r}, cosine "
                 f"{similarity:.3f} >= {threshold}); use --force to add it anyway"],
                "selling point")
    new_id = sp_id or selling_point_id(product, text)
    try:
        check_id("id", new_id)  # a product id near the length limit makes one too long
    except InputError as e:
        raise ValidationError([str(e)], "selling point") from e
    batch = IngestBatch()
    batch.add_node("SellingPoint", {"id": new_id, "text": text, "source": "curated",
                                    "embedding": [float(x) for x in vector],
                                    "created_at": now_iso()})
    batch.add_link("HAS_SELLING_POINT", product, new_id)
    write_batch(store, batch, embedder=None)
    return Added(new_id, nearest, similarity)


def link_clip(store: Store, clip: str, selling_point: str, weight: float = 1.0) -> None:
    """Curate `(clip)-[:EXPRESSES {weight, source: curated}]->(selling point)`.

    Raises:
        ValidationError: unknown clip or selling point, or weight outside [0, 1].
    """
    try:
        check_id("clip", clip)
        check_id("selling_point", selling_point)
    except InputError as e:
        raise ValidationError([str(e)], "link") from e
    if not 0.0 <= weight <= 1.0:
        raise ValidationError([f"weight: {weight} is outside [0, 1]"], "link")
    batch = IngestBatch()
    batch.add_link("EXPRESSES", clip, selling_point, {"weight": weight, "source": "curated"},
                   where="link")
    write_batch(store, batch, embedder=None)
