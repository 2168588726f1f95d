"""The demo catalogue's integrity, and the demo ACKB built from it in the real graph."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from kdcvg.demo.build import build_demo, catalogue_batch
from kdcvg.demo.catalog import (
    CATEGORIES,
    DEMO_CLIPS,
    PRODUCTS,
    SELLING_POINTS,
    SUGGESTS,
)
from kdcvg.graph.motion_patterns import MOTION_PATTERNS


def test_catalogue_ids_are_consistent() -> None:
    patterns = {m.name for m in MOTION_PATTERNS}
    products = {p.id for p in PRODUCTS}
    sps = {s.id: s for s in SELLING_POINTS}
    assert len(products) == len(PRODUCTS) == 10
    assert {p.category for p in PRODUCTS} == set(CATEGORIES)
    assert all(re.fullmatch(rf"sp-{s.product}-\d", s.id) for s in SELLING_POINTS)
    assert len(sps) == len(SELLING_POINTS)
    assert 30 <= len({c.id for c in DEMO_CLIPS}) == len(DEMO_CLIPS)
    for clip in DEMO_CLIPS:
        assert clip.product in products and clip.motion in patterns
        assert all(sps[sp].product == clip.product and 0 < w <= 1 for sp, w in clip.expresses)
        assert set(clip.creative) <= patterns and 2 <= clip.duration_s <= 4 and clip.size <= 256
    assert all(sp in sps and m in patterns for sp, m in SUGGESTS)
    counts = catalogue_batch().counts()
    assert counts["Product"] == 10 and counts["SUGGESTS"] == len(SUGGESTS)


@pytest.mark.slow
def test_build_demo_makes_the_ackb(store, embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    report = build_demo(store, tmp_path, embedder=embedder)
    assert time.perf_counter() - started < 120
    assert report.rendered == len(DEMO_CLIPS) and len(report.ingested) == len(DEMO_CLIPS)
    assert sorted(p.name for p in (tmp_path / "demo_clips").glob("*.mp4")) == sorted(
        f"{c.id}.mp4" for c in DEMO_CLIPS
    )
    counts = store.stats()["relationships"]
    assert counts["EXPRESSES"] == sum(len(c.expresses) for c in DEMO_CLIPS)
    assert counts["SHOWS"] == len(DEMO_CLIPS) and counts["SUGGESTS"] == len(SUGGESTS)
    rows = store.cypher(
        "MATCH (c:Clip)-[r:HAS_MOTION]->(m:MotionPattern) WHERE r.source = 'auto' "
        "RETURN c.id AS c, m.name AS m, r.score AS s",
        {},
    )
    best: dict[str, tuple[float, str]] = {}
    for r in rows:
        best[r["c"]] = max(best.get(r["c"], (-1.0, "")), (r["s"], r["m"]))
    misses = [
        (c.id, c.motion, best.get(c.id))
        for c in DEMO_CLIPS
        if best.get(c.id, (0, ""))[1] != c.motion
    ]
    assert len(misses) <= 0.1 * len(DEMO_CLIPS), misses
    curated = store.cypher(
        "MATCH (c:Clip {id: 'clip-honey-oat-bars-unbox'})-[r:HAS_MOTION]->(m) "
        "WHERE r.source = 'curated' RETURN m.name AS m",
        {},
    )
    assert curated == [{"m": "unbox"}]
    again = build_demo(store, tmp_path, embedder=embedder)
    assert again.rendered == 0 and len(again.unchanged) == len(DEMO_CLIPS)
