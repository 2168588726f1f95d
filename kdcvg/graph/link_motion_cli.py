"""`kdcvg graph link-motion`: automatic SUGGESTS links for a whole graph."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from kdcvg.graph.cli_common import DbOption, JsonOption, Neo4jOption, store_from_options


def link_motion_command(
    top_k: Annotated[int | None, typer.Option(
        "--top-k", min=1, max=10, help="Patterns per selling point, instead of calibrating.",
        show_default=False)] = None,
    min_score: Annotated[float | None, typer.Option(
        "--min-score", min=-1.0, max=1.0, help="Lowest cosine linked, instead of calibrating.",
        show_default=False)] = None,
    db: DbOption = None, neo4j: Neo4jOption = None, as_json: JsonOption = False,
) -> None:
    """Link every selling point without curated SUGGESTS links to the motion patterns its
    text and category suggest (source: auto); calibrated on the curated links."""
    from dataclasses import replace

    from kdcvg.graph.embeddings import default_embedder
    from kdcvg.graph.link_motion import DEFAULT_LINKER, link_motion

    settings = None
    if top_k is not None or min_score is not None:
        settings = replace(DEFAULT_LINKER, top_k=top_k or DEFAULT_LINKER.top_k,
                           min_score=DEFAULT_LINKER.min_score if min_score is None else min_score)
    with store_from_options(db, neo4j) as store:
        report = link_motion(store, default_embedder(), settings=settings)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    typer.echo(motion_summary(report))


def motion_summary(report: object) -> str:
    """One paragraph on what the linker did, for people."""
    from kdcvg.graph.link_motion import LinkReport

    assert isinstance(report, LinkReport)
    s = report.settings
    how = ("calibrated on the curated links" if report.calibrated
           else "default settings (too few curated links to calibrate)")
    lines = [f"motion vocabulary: {report.patterns_added} motion patterns added"] \
        if report.patterns_added else []
    lines += [f"motion links: {report.links} automatic SUGGESTS links for "
             f"{report.linked_points} selling points ({report.written} new or changed, "
             f"{report.deleted} stale removed, "
             f"{report.skipped_curated} curated selling points left alone)",
             f"settings: top {s.top_k}, min cosine {s.min_score}, category weight "
             f"{s.category_weight}, prior weight {s.prior_weight}; {how}"]
    if report.agreement is not None:
        a = report.agreement
        lines.append(f"agreement with {a.curated_links} curated links on {a.points} selling "
                     f"points: precision {a.precision:.3f} (chance {a.chance_precision:.3f}), "
                     f"recall {a.recall:.3f}")
    if report.without_embedding:
        lines.append(f"{len(report.without_embedding)} selling points have no embedding "
                     f"(e.g. {report.without_embedding[0]}); re-ingest them")
    return "\n".join(lines)
