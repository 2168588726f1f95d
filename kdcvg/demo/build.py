"""Build the demo ACKB: vocabulary, products, selling points, rendered clips and curated links.

`build_demo(store, home, progress)` is what `kdcvg demo build` and `make demo`
call. Clips are rendered by `kdcvg.demo.footage` to `home / "demo_clips" / <id>.mp4`
with a `<id>.mp4.json` sidecar each, then ingested through the same path as
`kdcvg clips ingest` (`ingest_clips`). Rendering is deterministic, so files
that exist already are kept; re-running the build is a no-op for the graph.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdcvg.demo.catalog import (
    CATEGORIES,
    DEMO_CLIPS,
    PRODUCTS,
    SELLING_POINTS,
    SUGGESTS,
)
from kdcvg.errors import KdcvgError
from kdcvg.graph.motion_patterns import MOTION_PATTERNS

if TYPE_CHECKING:
    from kdcvg.graph.store import Store

DemoProgress = Callable[[str, int, int], None]  # (step, done, total)


@dataclass
class DemoReport:
    """What `build_demo` did."""

    clip_dir: Path
    rendered: int = 0
    ingested: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def catalogue_batch() -> Any:
    """The catalogue (everything but clips) as one `IngestBatch`; a pure function."""
    from kdcvg.graph.records import IngestBatch

    batch = IngestBatch()
    for m in MOTION_PATTERNS:
        batch.add_node("MotionPattern", m.row())
    for name in CATEGORIES:
        batch.add_node("Category", {"name": name})
    for p in PRODUCTS:
        batch.add_node(
            "Product",
            {
                "id": p.id,
                "name": p.name,
                "brand": p.brand,
                "description": p.description,
                "category": p.category,
            },
        )
        batch.add_link("IN_CATEGORY", p.id, p.category)
    for sp in SELLING_POINTS:
        batch.add_node(
            "SellingPoint", {"id": sp.id, "text": sp.text, "product": sp.product, "source": "demo"}
        )
        batch.add_link("HAS_SELLING_POINT", sp.product, sp.id)
    for sp_id, pattern in SUGGESTS:
        batch.add_link("SUGGESTS", sp_id, pattern)
    return batch


def catalogue_with_clips_batch() -> Any:
    """The catalogue and its clips with their curated links and motion, no footage.

    What retrieval needs (tests, benches): clip rows name `clips/<id>.mp4`, which is
    never read; `build_demo` renders and ingests the real files.
    """
    batch = catalogue_batch()
    for c in DEMO_CLIPS:
        batch.add_node("Clip", {"id": c.id, "uri": f"clips/{c.id}.mp4", "caption": c.caption,
                                "product": c.product})
        batch.add_link("SHOWS", c.id, c.product)
        for sp, w in c.expresses:
            batch.add_link("EXPRESSES", c.id, sp, {"weight": w, "source": "curated"})
        for m in (c.motion, *c.creative):
            batch.add_link("HAS_MOTION", c.id, m, {"score": 1.0, "source": "curated"})
    return batch


def curated_motion_batch() -> Any:
    """Curated HAS_MOTION links of each demo clip to its creative patterns (score 1.0)."""
    from kdcvg.graph.records import IngestBatch

    batch = IngestBatch()
    for clip in DEMO_CLIPS:
        for pattern in clip.creative:
            batch.add_link("HAS_MOTION", clip.id, pattern, {"score": 1.0, "source": "curated"})
    return batch


def render_demo_clips(clip_dir: Path, progress: DemoProgress | None = None) -> int:
    """Render every demo clip (and its JSON sidecar) that is not there yet; returns how many."""
    from kdcvg.demo.footage import render_clip
    from kdcvg.media.video import write_mp4

    products = {p.id: p for p in PRODUCTS}
    clip_dir.mkdir(parents=True, exist_ok=True)
    rendered = 0
    for i, clip in enumerate(DEMO_CLIPS):
        mp4 = clip_dir / f"{clip.id}.mp4"
        sidecar = {
            "id": clip.id,
            "caption": clip.caption,
            "product": clip.product,
            "selling_points": [{"id": sp, "weight": w} for sp, w in clip.expresses],
            "tags": ["demo", clip.scene],
        }
        side = clip_dir / f"{clip.id}.mp4.json"
        text = json.dumps(sidecar, indent=1)
        if not side.exists() or side.read_text() != text:
            side.write_text(text)
        if not mp4.exists():
            write_mp4(mp4, render_clip(clip, products[clip.product]), clip.fps)
            rendered += 1
        if progress:
            progress("render", i + 1, len(DEMO_CLIPS))
    return rendered


def build_demo(
    store: Store,
    home: Path,
    progress: DemoProgress | None = None,
    embedder: Any = None,
    workers: int = 1,
) -> DemoReport:
    """Build the demo ACKB in `store`, rendering its clips under `home / "demo_clips"`.

    Args:
        store: an open `Store` (empty or an earlier demo build).
        home: the store folder (`StoreConfig.home`).
        progress: called as `progress(step, done, total)`, step "render" or "ingest".
        embedder: text embedder; None loads the packaged MiniLM.
        workers: analysis processes for the clip ingest.

    Raises:
        KdcvgError: a demo clip failed to ingest (a bug in the demo data: nothing is hidden).
    """
    from kdcvg.graph.clips import ingest_clips
    from kdcvg.graph.ingest import write_batch

    if embedder is None:
        from kdcvg.graph.embeddings import default_embedder

        embedder = default_embedder()
    report = DemoReport(clip_dir=home / "demo_clips")
    report.rendered = render_demo_clips(report.clip_dir, progress)
    write_batch(store, catalogue_batch(), embedder)
    paths = [report.clip_dir / f"{c.id}.mp4" for c in DEMO_CLIPS]
    done = 0

    def tick(path: str, frames: int) -> None:
        nonlocal done
        done += 1
        if progress:
            progress("ingest", done, len(paths))

    summary = ingest_clips(store, paths, home, embedder, workers=workers, progress=tick)
    report.ingested, report.unchanged, report.failed = (
        summary.ingested,
        summary.unchanged,
        summary.failed,
    )
    if report.failed:
        raise KdcvgError(
            f"demo build: {len(report.failed)} demo clip(s) failed, first: {report.failed[0][1]}"
        )
    write_batch(store, curated_motion_batch(), None)
    return report
