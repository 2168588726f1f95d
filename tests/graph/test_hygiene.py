"""Catalogue hygiene: near-duplicates and boilerplate are reported, and skipped on request."""

from __future__ import annotations

import numpy as np

from kdcvg.graph.hygiene import find_boilerplate, find_near_duplicates, review
from kdcvg.graph.records import IngestBatch

FITS = "Make sure this fits by entering your model number."


def _catalogue() -> IngestBatch:
    batch = IngestBatch()
    for p in range(10):
        batch.add_node("Product", {"id": f"p{p}", "name": f"Product {p}"})
        texts = [f"Product {p} is great in way number {p}.", FITS if p % 2 else FITS.upper()]
        if p == 0:
            texts.append("Keeps drinks cold for 24 hours.")
            texts.append("Keeps your drinks cold for 24 hours.")
        for i, text in enumerate(texts):
            batch.add_node("SellingPoint", {"id": f"sp{p}-{i}", "product": f"p{p}", "text": text})
            batch.add_link("HAS_SELLING_POINT", f"p{p}", f"sp{p}-{i}")
    batch.add_node("MotionPattern", {"name": "pour", "kind": "object"})
    batch.add_link("SUGGESTS", "sp0-1", "pour")
    return batch


def test_boilerplate_is_a_text_many_products_share_case_and_spacing_ignored() -> None:
    rows = _catalogue().nodes["SellingPoint"]
    found = find_boilerplate(rows)
    assert list(found) == [FITS.upper()] or list(found) == [FITS]
    assert sorted(next(iter(found.values()))) == sorted(f"sp{p}-1" for p in range(10))
    assert find_boilerplate(rows, min_products=11) == {}


def test_near_duplicates_follow_the_same_rule_within_a_product() -> None:
    a, b = np.eye(3, dtype=np.float32)[:2]
    near = (a * 0.95 + b * 0.31) / np.linalg.norm(a * 0.95 + b * 0.31)
    rows = [{"id": "x", "product": "p", "embedding": a}, {"id": "y", "product": "p", "embedding": b},
            {"id": "z", "product": "p", "embedding": near},
            {"id": "w", "product": "q", "embedding": a}]
    [dup] = find_near_duplicates(rows)
    assert (dup.id, dup.of, dup.product) == ("z", "x", "p") and dup.cosine >= 0.92


def test_review_reports_everything_and_skips_only_on_request(embedder: object) -> None:
    batch = _catalogue()
    kept, report = review(batch, embedder.embed)  # type: ignore[attr-defined]
    assert kept is batch and report.skipped == []
    assert [(d.id, d.of) for d in report.duplicates] == [("sp0-3", "sp0-2")]
    assert len(next(iter(report.boilerplate.values()))) == 10
    lines = report.lines()
    assert lines[0].startswith("warning: 1 near-duplicate selling points (cosine >= 0.92")
    assert "sp0-3 ~ sp0-2" in lines[0]
    assert lines[1].startswith("warning: 1 boilerplate texts shared by many products "
                               "(10 selling points)")
    assert lines[2].startswith("ingested them anyway")
    assert all("embedding" in r for r in batch.nodes["SellingPoint"])  # embedded once, here

    kept, report = review(_catalogue(), embedder.embed, skip_duplicates=True,  # type: ignore[attr-defined]
                          skip_boilerplate=True)
    ids = {r["id"] for r in kept.nodes["SellingPoint"]}
    assert ids == {f"sp{p}-0" for p in range(10)} | {"sp0-2"}
    assert len(report.skipped) == 11 and "left out 11 selling points" in report.lines()[-1]
    assert all(r["target"] in ids for r in kept.links["HAS_SELLING_POINT"])
    assert kept.links["SUGGESTS"] == []  # the link to a skipped selling point goes with it
