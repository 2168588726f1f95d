"""`make demo`: the main job end to end on the embedded default.

Builds the demo ACKB (products, selling points, motion patterns and ~30 rendered
clips), trains SAR briefly or reuses the model saved in the store folder,
retrieves reference clips, renders three 9:16 ads with the compose renderer and
writes an HTML report. Run again, it reuses everything that is still valid.

Usage: python -m kdcvg.demo [--db PATH] [--out DIR] (`kdcvg/demo/__main__.py` calls `main`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

# (product, selling points) of the three demo ads: one scene per selling point.
DEMO_ADS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("aurora-water", ("sp-aurora-water-1", "sp-aurora-water-2")),
    ("lumen-serum", ("sp-lumen-serum-1", "Absorbs in seconds, never sticky")),
    ("swirl-blender", ("sp-swirl-blender-1", "sp-swirl-blender-2")),
)

if TYPE_CHECKING:
    from kdcvg.graph.store import GraphReader, Store


def _step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def _progress_bar() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), transient=True)


def build_graph(store: Store, home: Path) -> None:
    from kdcvg.demo.build import build_demo

    with _progress_bar() as bar:
        tasks: dict[str, Any] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(f"{step} demo clips", total=total)
            bar.update(tasks[step], completed=done, total=total)

        build_demo(store, home, progress)
    stats = store.stats()
    print("  nodes: " + ", ".join(f"{label} {c['nodes']}" for label, c in stats["nodes"].items()))
    print("  relationships: " + ", ".join(f"{t} {n}" for t, n in stats["relationships"].items()))
    print("  motion patterns most used per category (named query motion_patterns_by_category):")
    for row in store.query("motion_patterns_by_category", limit=1):
        print(f"    {row['category']:<12} {row['pattern']:<10} ({row['kind']}, {row['clips']} clips)")
    print("  products similar to aurora-water (named query similar_products):")
    for row in store.query("similar_products", product="aurora-water", limit=3):
        print(f"    {row['product']:<16} {row['shared']} shared motion patterns")


def sar_retriever(store: GraphReader, home: Path) -> Any:
    """The saved SAR model when it fits this graph; otherwise train one briefly."""
    from kdcvg.errors import RetrievalError
    from kdcvg.retrieval.pipeline import train_sar
    from kdcvg.retrieval.retrieve import SarRetriever

    try:
        retriever = SarRetriever.load(store, home)
        print(f"  reusing the SAR model in {home / 'sar'}")
        return retriever
    except RetrievalError as e:
        print(f"  training SAR ({e})")
    with _progress_bar() as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int, line: str) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"SAR {stage}", total=total)
            bar.update(tasks[stage], completed=done, total=total)
            if line:
                bar.console.print(f"  {line}")

        train_sar(store, home, progress=progress)
    return SarRetriever.load(store, home)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kdcvg.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=None, help="embedded database folder")
    parser.add_argument("--out", type=Path, default=Path("out") / "demo", help="output folder")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from kdcvg.config import resolve_store
    from kdcvg.errors import KdcvgError
    from kdcvg.generation.base import AdJob
    from kdcvg.generation.pipeline import generate_ad
    from kdcvg.generation.report import write_report
    from kdcvg.graph.store import open_store
    from kdcvg.retrieval.source import SarReferences

    started = time.perf_counter()
    config = resolve_store(db=args.db or resolve_store().db)
    try:
        with open_store(config) as store:
            _step(f"1/4 demo knowledge graph in {config.db}")
            build_graph(store, config.home)

            _step("2/4 SAR: semantic-aware retrieval")
            retriever = sar_retriever(store, config.home)
            query = "bubbles that keep fizzing long after you open it"
            print(f"  retrieve {query!r}:")
            for hit in retriever.retrieve(query, None, None, 3).hits:
                patterns = ", ".join(name for name, _ in hit.motion_patterns[:2])
                print(f"    {hit.score:6.3f}  {hit.clip_id:<28} {patterns}")

            _step("3/4 three 9:16 ads with the compose renderer")
            source = SarReferences(store, config.home, retriever)
            args.out.mkdir(parents=True, exist_ok=True)
            for product, points in DEMO_ADS:
                out = args.out / f"{product}.mp4"
                job = AdJob(product_id=product, selling_points=points, format="9:16",
                            duration_s=6, seed=7)
                record = generate_ad(store, job, out, source=source)
                refs = ", ".join(s["references"][0]["clip_id"] for s in record["scenes"]
                                 if s["references"])
                print(f"  {out}  (references: {refs})")

        _step("4/4 report")
        page, count = write_report(args.out)
        print(f"  {count} ads: open {page.resolve()} in a browser")
    except KdcvgError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"\ndemo finished in {time.perf_counter() - started:.0f} s")
    return 0
