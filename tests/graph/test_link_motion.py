"""The automatic motion linker: pure scoring, calibration, and links written to a real store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kdcvg.graph import link_motion as lm
from kdcvg.graph.ingest import write_batch
from kdcvg.graph.records import IngestBatch, read_batch

LARGE = Path(__file__).resolve().parents[2] / "examples" / "sar" / "large" / "ackb.jsonl"


def _suggests(store: object) -> dict[tuple[str, str], dict]:
    rows = store.cypher(  # type: ignore[attr-defined]
        "MATCH (s:SellingPoint)-[r:SUGGESTS]->(m:MotionPattern) "
        "RETURN s.id AS sp, m.name AS m, r.source AS source, r.score AS score")
    return {(r["sp"], r["m"]): {"source": r["source"], "score": r["score"]} for r in rows}


def test_choose_takes_top_k_above_the_threshold() -> None:
    scores = np.array([[0.1, 0.5, 0.3], [0.02, 0.01, 0.0]], dtype=np.float32)
    assert lm.choose(scores, 2, 0.05) == [[1, 2], []]


def test_agreement_counts_matches_and_chance() -> None:
    found = lm.agreement([[0, 1], [2, 3]], [{0}, {2, 5}], patterns=10, top_k=2)
    assert (found.matched, found.predicted_links, found.curated_links) == (2, 4, 3)
    assert found.precision == 0.5 and found.recall == pytest.approx(0.6667, abs=1e-4)
    assert found.chance_precision == pytest.approx(3 / 20)


def test_calibrate_uses_defaults_with_too_few_curated_links() -> None:
    rng = np.random.default_rng(0)
    pts, pats = rng.normal(size=(2, 8)), rng.normal(size=(4, 8))
    settings, found, calibrated = lm.calibrate(pts, np.zeros_like(pts), pats, [{0}, {1}])
    assert settings == lm.DEFAULT_LINKER and not calibrated and found is not None


@pytest.mark.slow
@pytest.mark.parametrize("which", ["demo", "large"])
def test_automatic_links_agree_with_curated_ones_better_than_chance(
    store: object, embedder: object, which: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Held out: every third curated selling point loses its links, which the linker then
    predicts from the calibration on the others; compared with the hidden curated links."""
    if which == "demo":
        from kdcvg.demo.build import catalogue_batch

        batch = catalogue_batch()
    else:
        batch = read_batch(LARGE)
        batch.nodes.pop("Clip", None)
        for rel in ("EXPRESSES", "HAS_MOTION", "SHOWS"):
            batch.links.pop(rel, None)
    points = sorted({r["source"] for r in batch.links["SUGGESTS"]})
    held_out = set(points[::3])
    hidden = [r for r in batch.links["SUGGESTS"] if r["source"] in held_out]
    batch.links["SUGGESTS"] = [r for r in batch.links["SUGGESTS"] if r["source"] not in held_out]
    write_batch(store, batch, embedder)  # type: ignore[arg-type]
    curated = _suggests(store)

    report = lm.link_motion(store, embedder)  # type: ignore[arg-type]

    assert report.calibrated and report.agreement is not None
    links = _suggests(store)
    assert all(links[k] == v for k, v in curated.items())  # curated links untouched
    auto = {k: v for k, v in links.items() if v["source"] == "auto"}
    assert auto and not {s for s, _ in auto} & {s for s, _ in curated}
    assert all(0.0 < v["score"] <= 1.0 for v in auto.values())
    names = sorted({m for _, m in links} | {r["target"] for r in hidden})
    order = sorted(held_out)
    gold = [{names.index(r["target"]) for r in hidden if r["source"] == sp} for sp in order]
    chosen = [[names.index(m) for s, m in auto if s == sp] for sp in order]
    found = lm.agreement(chosen, gold, patterns=len(batch.nodes["MotionPattern"]),
                         top_k=report.settings.top_k)
    with capsys.disabled():
        print(f"\nmotion linker on {which}: settings {report.settings}, calibration "
              f"{report.agreement}, held out {found}")
    # better than drawing the same number of patterns at random, by a clear margin
    assert found.precision > 2 * found.chance_precision


def test_link_motion_writes_auto_links_and_prunes_stale_ones(
    store: object, embedder: object
) -> None:
    from kdcvg.graph.motion_patterns import MOTION_PATTERNS

    batch = IngestBatch()
    for m in MOTION_PATTERNS:
        batch.add_node("MotionPattern", m.row())
    batch.add_node("Category", {"name": "beverages"})
    batch.add_node("Product", {"id": "p1", "name": "Fizz", "category": "beverages"})
    batch.add_link("IN_CATEGORY", "p1", "beverages")
    for i, text in enumerate(["Pour a glass of sparkling water over ice.",
                              "A fine mist sprays from the nozzle."]):
        batch.add_node("SellingPoint", {"id": f"sp{i}", "text": text, "product": "p1"})
        batch.add_link("HAS_SELLING_POINT", "p1", f"sp{i}")
    batch.add_link("SUGGESTS", "sp1", "spray", {"source": "curated"})
    batch.add_link("SUGGESTS", "sp0", "static", {"source": "auto", "score": 0.01})
    write_batch(store, batch, embedder)  # type: ignore[arg-type]

    report = lm.link_motion(store, embedder, settings=lm.LinkerSettings(0.0, 1, 0.0))  # type: ignore[arg-type]

    links = _suggests(store)
    assert links[("sp1", "spray")]["source"] == "curated"
    assert [m for sp, m in links if sp == "sp1"] == ["spray"]  # curated point left alone
    auto = [m for (sp, m), v in links.items() if sp == "sp0"]
    assert len(auto) == 1 and auto[0] in ("pour", "splash")  # the stale "static" link is gone
    assert links[("sp0", auto[0])]["source"] == "auto"
    assert (report.written, report.deleted, report.skipped_curated) == (1, 1, 1)
