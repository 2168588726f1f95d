"""Motion knowledge without curators: automatic `SUGGESTS` links.

A selling point suggests the motion patterns whose descriptions its text (and its
product's category) reads closest to, zero-shot: the query vector is the selling
point's MiniLM embedding plus `category_weight` times its category's, normalised,
and a pattern's score is its cosine with the pattern's description embedding.
A selling point gets its `top_k` patterns scoring at least `min_score`, ranked by
the cosine plus `prior_weight` times the log share of each pattern among the
curated links (patterns curators use often come first when texts are close).

Those four settings are calibrated on the curated `SUGGESTS` links that exist:
with at least `MIN_CURATED_LINKS` links over `MIN_CURATED_POINTS` selling points,
the grid in `GRID_*` is searched for the best F1 against them (ties: fewer links);
otherwise `DEFAULT_LINKER` is used. Links are written as
`(SellingPoint)-[:SUGGESTS {source: 'auto', score}]->(MotionPattern)` only for
selling points without curated links, so a curated link is never replaced; a
selling point's earlier automatic links that the new ranking drops are deleted.

The motion vocabulary (`MOTION_PATTERNS`) is written first when the graph lacks
some of it, so that a catalogue with no motion knowledge at all can be linked.

Everything but `link_motion` (one read, one write) is a pure function of arrays.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kdcvg.graph.ingest import TextEmbedder, write_batch
from kdcvg.graph.records import IngestBatch
from kdcvg.graph.store import Store

MIN_CURATED_LINKS = 20
MIN_CURATED_POINTS = 5
GRID_CATEGORY_WEIGHT = (0.0, 0.25, 0.5, 1.0)
GRID_TOP_K = (1, 2, 3)
GRID_MIN_SCORE = (0.0, 0.05, 0.1, 0.15, 0.2)
GRID_PRIOR_WEIGHT = (0.0, 0.02, 0.05, 0.1)


@dataclass(frozen=True)
class LinkerSettings:
    """How selling points are linked to motion patterns.

    Args:
        category_weight: weight of the category embedding in the query vector.
        top_k: patterns linked per selling point at most.
        min_score: cosine below which a pattern is not linked.
        prior_weight: weight of the curated links' pattern prior in the ranking.
    """

    category_weight: float = 0.5
    top_k: int = 2
    min_score: float = 0.0
    prior_weight: float = 0.0


DEFAULT_LINKER = LinkerSettings()


@dataclass(frozen=True)
class Agreement:
    """How automatic links agree with curated ones, over the curated selling points.

    `chance_precision` is what `top_k` patterns drawn at random would score.
    """

    points: int
    curated_links: int
    predicted_links: int
    matched: int
    precision: float
    recall: float
    f1: float
    chance_precision: float


@dataclass
class LinkReport:
    """What `link_motion` did."""

    settings: LinkerSettings
    calibrated: bool
    agreement: Agreement | None
    linked_points: int = 0
    links: int = 0  # automatic links the ranking chose (written or already there)
    patterns_added: int = 0
    written: int = 0
    deleted: int = 0
    skipped_curated: int = 0
    without_embedding: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"settings": asdict(self.settings), "calibrated": self.calibrated,
                "agreement": asdict(self.agreement) if self.agreement else None,
                "linked_points": self.linked_points, "links": self.links,
                "patterns_added": self.patterns_added,
                "written": self.written,
                "deleted": self.deleted, "skipped_curated": self.skipped_curated,
                "without_embedding": self.without_embedding}


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)


def pattern_scores(
    points: np.ndarray, categories: np.ndarray, patterns: np.ndarray, category_weight: float
) -> np.ndarray:
    """Cosine of each selling point's query vector with each pattern description.

    Args:
        points: (P, D) selling-point text embeddings.
        categories: (P, D) their category embeddings (zeros where none).
        patterns: (M, D) motion-pattern description embeddings.
        category_weight: weight of the category in the query vector.

    Returns:
        (P, M) float32 scores.
    """
    query = _unit(points.astype(np.float32) + category_weight * categories.astype(np.float32))
    scores: np.ndarray = (query @ _unit(patterns.astype(np.float32)).T).astype(np.float32)
    return scores


def pattern_prior(curated: Sequence[set[int]], patterns: int) -> np.ndarray:
    """(M,) log share of each pattern among the curated links, add-one smoothed."""
    counts = np.ones(patterns, dtype=np.float32)
    for links in curated:
        for j in links:
            counts[j] += 1
    prior: np.ndarray = np.log(counts / counts.sum()).astype(np.float32)
    return prior


def choose(
    scores: np.ndarray, top_k: int, min_score: float, rank: np.ndarray | None = None
) -> list[list[int]]:
    """Per row, its `top_k` columns by `rank` (default `scores`) scoring at least `min_score`."""
    order = np.argsort(-(scores if rank is None else rank), axis=1, kind="stable")[:, :top_k]
    return [[int(j) for j in row if scores[i, j] >= min_score] for i, row in enumerate(order)]


def select(
    scores: np.ndarray, prior: np.ndarray, settings: LinkerSettings
) -> list[list[int]]:
    """`choose` with the settings' threshold, top-k and prior weight."""
    rank = scores + settings.prior_weight * prior[None, :] if settings.prior_weight else None
    return choose(scores, settings.top_k, settings.min_score, rank)


def agreement(
    chosen: Sequence[Sequence[int]], curated: Sequence[set[int]], patterns: int, top_k: int
) -> Agreement:
    """Precision, recall and F1 of `chosen` against `curated`, row by row."""
    matched = sum(len(set(c) & g) for c, g in zip(chosen, curated, strict=True))
    predicted = sum(len(c) for c in chosen)
    gold = sum(len(g) for g in curated)
    precision = matched / predicted if predicted else 0.0
    recall = matched / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    chance = gold / (len(curated) * patterns) if curated and patterns else 0.0
    return Agreement(len(curated), gold, predicted, matched, round(precision, 4),
                     round(recall, 4), round(f1, 4), round(chance, 4))


def calibrate(
    points: np.ndarray, categories: np.ndarray, patterns: np.ndarray, curated: Sequence[set[int]]
) -> tuple[LinkerSettings, Agreement | None, bool]:
    """The settings that agree best with the curated links, or the defaults when too few.

    Returns:
        (settings, their agreement with the curated links or None, whether calibrated).
    """
    if not curated:
        return DEFAULT_LINKER, None, False
    prior = pattern_prior(curated, len(patterns))
    enough = sum(map(len, curated)) >= MIN_CURATED_LINKS and len(curated) >= MIN_CURATED_POINTS
    if not enough:
        scores = pattern_scores(points, categories, patterns, DEFAULT_LINKER.category_weight)
        chosen = select(scores, prior, DEFAULT_LINKER)
        return DEFAULT_LINKER, agreement(chosen, curated, len(patterns), DEFAULT_LINKER.top_k), False
    best: tuple[float, int, LinkerSettings, Agreement] | None = None
    for weight in GRID_CATEGORY_WEIGHT:
        scores = pattern_scores(points, categories, patterns, weight)
        for top_k, min_score, beta in itertools.product(GRID_TOP_K, GRID_MIN_SCORE,
                                                        GRID_PRIOR_WEIGHT):
            candidate = LinkerSettings(weight, top_k, min_score, beta)
            found = agreement(select(scores, prior, candidate), curated, len(patterns), top_k)
            key = (found.f1, -found.predicted_links)
            if best is None or key > (best[0], best[1]):
                best = (found.f1, -found.predicted_links, candidate, found)
    assert best is not None  # the grid is not empty
    return best[2], best[3], True


def _category_vectors(
    names: list[str], stored: dict[str, list[float]], embedder: TextEmbedder | None, dim: int
) -> dict[str, np.ndarray]:
    """An embedding per category name: the Category node's, else embedded now, else zeros."""
    vectors = {n: np.asarray(v, dtype=np.float32) for n, v in stored.items() if v is not None}
    missing = sorted({n for n in names if n and n not in vectors})
    if missing and embedder is not None:
        vectors.update(zip(missing, np.asarray(embedder.embed(missing), dtype=np.float32),
                           strict=True))
    return {n: vectors.get(n, np.zeros(dim, dtype=np.float32)) for n in set(names)}


def _ensure_vocabulary(store: Store, embedder: TextEmbedder | None) -> int:
    """Write the `MOTION_PATTERNS` nodes the graph lacks; returns how many."""
    from kdcvg.graph.motion_patterns import MOTION_PATTERNS

    if embedder is None:
        return 0
    present = {str(r["name"]) for r in store.query("link_motion_patterns")}
    missing = [m for m in MOTION_PATTERNS if m.name not in present]
    if not missing:
        return 0
    batch = IngestBatch()
    for m in missing:
        batch.add_node("MotionPattern", m.row())
    write_batch(store, batch, embedder)
    return len(missing)


def link_motion(
    store: Store,
    embedder: TextEmbedder | None = None,
    selling_points: Sequence[str] | None = None,
    settings: LinkerSettings | None = None,
) -> LinkReport:
    """Write automatic `SUGGESTS` links for selling points that have no curated ones.

    Args:
        store: the open store.
        embedder: embeds the motion patterns the graph lacks (written from
            `MOTION_PATTERNS`) and category names without an embedding; None: neither.
        selling_points: only these ids (None: every selling point in the graph).
        settings: fixed settings instead of calibrating on the curated links.

    Returns:
        The settings used, their agreement with the curated links, and counts.
    """
    report = LinkReport(settings or DEFAULT_LINKER, False, None)
    report.patterns_added = _ensure_vocabulary(store, embedder)
    rows = store.query("link_motion_inputs")
    pattern_rows = [r for r in store.query("link_motion_patterns") if r["embedding"] is not None]
    if not pattern_rows:
        return report
    names = [str(r["name"]) for r in pattern_rows]
    index = {n: i for i, n in enumerate(names)}
    patterns = np.asarray([r["embedding"] for r in pattern_rows], dtype=np.float32)
    report.without_embedding = sorted(str(r["id"]) for r in rows if r["embedding"] is None)
    rows = [r for r in rows if r["embedding"] is not None]
    cats = _category_vectors([str(r["category"] or "") for r in rows],
                             {str(r["name"]): r["embedding"]
                              for r in store.query("link_motion_categories")},
                             embedder, patterns.shape[1])
    points = np.asarray([r["embedding"] for r in rows], dtype=np.float32).reshape(
        -1, patterns.shape[1])
    categories = np.stack([cats[str(r["category"] or "")] for r in rows]) if rows else points
    curated_rows = [i for i, r in enumerate(rows) if r["curated"]]
    curated = [{index[n] for n in rows[i]["curated"] if n in index} for i in curated_rows]
    if settings is None:
        report.settings, report.agreement, report.calibrated = calibrate(
            points[curated_rows], categories[curated_rows], patterns, curated)
    s = report.settings
    wanted = set(selling_points) if selling_points is not None else None
    todo = [i for i, r in enumerate(rows) if not r["curated"]
            and (wanted is None or str(r["id"]) in wanted)]
    report.skipped_curated = sum(1 for i in curated_rows
                                 if wanted is None or str(rows[i]["id"]) in wanted)
    if not todo:
        return report
    scores = pattern_scores(points[todo], categories[todo], patterns, s.category_weight)
    prior = pattern_prior(curated, len(names))
    batch = IngestBatch()
    keep: list[dict[str, Any]] = []
    for row_scores, i, chosen in zip(scores, todo, select(scores, prior, s), strict=True):
        sp = str(rows[i]["id"])
        for j in chosen:
            batch.add_link("SUGGESTS", sp, names[j],
                           {"source": "auto", "score": round(float(row_scores[j]), 4)})
        keep.append({"selling_point": sp, "keep": [names[j] for j in chosen]})
        report.linked_points += bool(chosen)
        report.links += len(chosen)
    deleted = store.write("link_motion_prune", rows=keep)
    report.deleted = int(deleted[0]["deleted"]) if deleted else 0
    written = write_batch(store, batch, embedder=None)
    report.written = written.written.get("SUGGESTS", 0)
    return report
