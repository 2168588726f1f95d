"""Catalogue hygiene at ingest: near-duplicate selling points and boilerplate.

Real catalogues repeat themselves: a product's bullets say the same thing twice,
and one sentence ("Make sure this fits by entering your model number.") is pasted
under hundreds of products. Both are found in a batch before it is written:

- near-duplicates: two selling points of the same product whose MiniLM cosine is
  at least `NEAR_DUPLICATE` (the rule `add-selling-point` applies); the later one
  (in file order) is the duplicate of the earlier;
- boilerplate: a text (case and spacing ignored) shared by at least
  `BOILERPLATE_MIN_PRODUCTS` products and `BOILERPLATE_MIN_SHARE` of the batch's.

`review` reports them (counts and examples) and, when asked, leaves them out of
the batch with every link that touches them. Nothing is dropped silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from kdcvg.graph.curate import NEAR_DUPLICATE
from kdcvg.graph.records import IngestBatch
from kdcvg.graph.schema import NODES, RELATIONSHIPS

BOILERPLATE_MIN_PRODUCTS = 3
BOILERPLATE_MIN_SHARE = 0.05
EXAMPLES = 3  # examples named per warning

Embed = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class Duplicate:
    """Selling point `id` says what `of` (same product) says, at `cosine`."""

    id: str
    of: str
    product: str
    cosine: float


@dataclass
class HygieneReport:
    """What `review` found, and what it left out of the batch."""

    duplicates: list[Duplicate] = field(default_factory=list)
    boilerplate: dict[str, list[str]] = field(default_factory=dict)  # text -> selling points
    skipped: list[str] = field(default_factory=list)
    embedded: list[str] = field(default_factory=list)  # selling points embedded here

    def lines(self) -> list[str]:
        """Warnings for people: counts, examples, and what was done about them."""
        out = []
        if self.duplicates:
            shown = "; ".join(f"{d.id} ~ {d.of} ({d.cosine:.2f})"
                              for d in self.duplicates[:EXAMPLES])
            out.append(f"warning: {len(self.duplicates)} near-duplicate selling points "
                       f"(cosine >= {NEAR_DUPLICATE} to another of the same product), e.g. "
                       f"{shown}")
        if self.boilerplate:
            ranked = sorted(self.boilerplate.items(), key=lambda kv: (-len(kv[1]), kv[0]))
            shown = "; ".join(f"{text!r} x{len(ids)}" for text, ids in ranked[:EXAMPLES])
            total = sum(len(ids) for ids in self.boilerplate.values())
            out.append(f"warning: {len(self.boilerplate)} boilerplate texts shared by many "
                       f"products ({total} selling points), e.g. {shown}")
        if self.skipped:
            out.append(f"left out {len(self.skipped)} selling points (--skip-duplicates / "
                       "--skip-boilerplate)")
        elif self.duplicates or self.boilerplate:
            out.append("ingested them anyway: --skip-duplicates / --skip-boilerplate leave "
                       "them out")
        return out

    def as_dict(self) -> dict[str, object]:
        return {"near_duplicates": [d.__dict__ for d in self.duplicates],
                "boilerplate": {t: ids for t, ids in sorted(self.boilerplate.items())},
                "skipped": self.skipped, "embedded": len(self.embedded)}


def normalise(text: str) -> str:
    """Case and spacing folded: how boilerplate is compared."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def find_boilerplate(
    rows: Iterable[dict[str, object]],
    min_products: int = BOILERPLATE_MIN_PRODUCTS,
    min_share: float = BOILERPLATE_MIN_SHARE,
) -> dict[str, list[str]]:
    """Texts shared by many products: first spelling -> the selling point ids using it.

    Args:
        rows: SellingPoint rows (`id`, `product`, `text`).
        min_products: the fewest products a boilerplate text is shared by.
        min_share: the smallest share of the rows' products it is shared by.
    """
    rows = list(rows)
    products = {str(r["product"]) for r in rows}
    need = max(min_products, int(np.ceil(min_share * len(products))))
    groups: dict[str, tuple[str, list[str], set[str]]] = {}
    for r in rows:
        key = normalise(str(r["text"]))
        spelling, ids, owners = groups.setdefault(key, (str(r["text"]), [], set()))
        ids.append(str(r["id"]))
        owners.add(str(r["product"]))
    return {spelling: ids for spelling, ids, owners in groups.values() if len(owners) >= need}


def find_near_duplicates(
    rows: list[dict[str, object]], threshold: float = NEAR_DUPLICATE
) -> list[Duplicate]:
    """Selling points that repeat an earlier one of the same product (rows carry
    `embedding`; rows without one are not compared)."""
    by_product: dict[str, list[dict[str, object]]] = {}
    for r in rows:
        if r.get("embedding") is not None:
            by_product.setdefault(str(r["product"]), []).append(r)
    found = []
    for product, group in by_product.items():
        if len(group) < 2:
            continue
        vectors = np.asarray([r["embedding"] for r in group], dtype=np.float32)
        sims = vectors @ vectors.T
        kept: list[int] = []
        for i in range(len(group)):
            if kept:
                j = max(kept, key=lambda k: sims[i, k])
                if sims[i, j] >= threshold:
                    found.append(Duplicate(str(group[i]["id"]), str(group[j]["id"]), product,
                                           round(float(sims[i, j]), 4)))
                    continue
            kept.append(i)
    return found


def without_selling_points(batch: IngestBatch, ids: set[str]) -> IngestBatch:
    """The batch less the SellingPoint rows `ids` and every link touching them."""
    if not ids:
        return batch
    out = IngestBatch()
    out.origin = dict(batch.origin)
    for label, rows in batch.nodes.items():
        key = NODES[label].key
        out.nodes[label] = [r for r in rows
                            if not (label == "SellingPoint" and str(r[key]) in ids)]
    for rel, rows in batch.links.items():
        spec = RELATIONSHIPS[rel]
        out.links[rel] = [r for r in rows
                          if not (spec.source == "SellingPoint" and r["source"] in ids)
                          and not (spec.target == "SellingPoint" and r["target"] in ids)]
    return out


def review(
    batch: IngestBatch,
    embed: Embed | None,
    skip_duplicates: bool = False,
    skip_boilerplate: bool = False,
) -> tuple[IngestBatch, HygieneReport]:
    """Find near-duplicates and boilerplate among the batch's selling points.

    Selling points without an `embedding` are embedded with `embed` (in one call) so
    that `write_batch` need not embed them again; boilerplate left out is not embedded.

    Returns:
        (the batch, less what was skipped; the report).
    """
    report = HygieneReport()
    rows = batch.nodes.get("SellingPoint", [])
    if not rows:
        return batch, report
    if not all("product" in r for r in rows):
        # rows without `product` (linked by HAS_SELLING_POINT only) are checked by that link
        owner = {r["target"]: r["source"] for r in batch.links.get("HAS_SELLING_POINT", [])}
        rows = [r if "product" in r else r | {"product": owner.get(r["id"], "")} for r in rows]
    report.boilerplate = find_boilerplate(rows)
    skip: set[str] = set()
    if skip_boilerplate:
        skip |= {i for ids in report.boilerplate.values() for i in ids}
    todo = [r for r in batch.nodes["SellingPoint"]
            if "embedding" not in r and str(r["id"]) not in skip]
    if embed is not None and todo:
        report.embedded = [str(r["id"]) for r in todo]
        for row, vector in zip(todo, embed([str(r["text"]) for r in todo]), strict=True):
            row["embedding"] = [float(x) for x in vector]
    vectors = {str(r["id"]): r.get("embedding") for r in batch.nodes["SellingPoint"]}
    compared = [r | {"embedding": vectors.get(str(r["id"]))} for r in rows
                if str(r["id"]) not in skip]
    report.duplicates = find_near_duplicates(compared)
    if skip_duplicates:
        skip |= {d.id for d in report.duplicates}
    report.skipped = sorted(skip)
    return without_selling_points(batch, skip), report
