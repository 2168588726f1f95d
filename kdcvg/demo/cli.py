"""`kdcvg demo build`: parse options, call the library, print."""

from __future__ import annotations

import typer

from kdcvg.graph.cli_common import DbOption, Neo4jOption, WorkersOption, store_config, store_from_options

demo_app = typer.Typer(help="Build the demo ACKB the project renders itself.", no_args_is_help=True)


@demo_app.command("build")
def build(
    workers: WorkersOption = 1,
    db: DbOption = None,
    neo4j: Neo4jOption = None,
) -> None:
    """Render the demo clips under <store folder>/demo_clips and build the demo ACKB."""
    from rich.progress import Progress

    from kdcvg.demo.build import build_demo

    home = store_config(db, neo4j).home
    with store_from_options(db, neo4j) as store, Progress(transient=True) as bar:
        tasks: dict[str, object] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done)  # type: ignore[arg-type]

        report = build_demo(store, home, progress, workers=workers)
    typer.echo(
        f"demo ACKB built: {report.rendered} clips rendered, {len(report.ingested)} "
        f"ingested, {len(report.unchanged)} unchanged; clips in {report.clip_dir}"
    )
