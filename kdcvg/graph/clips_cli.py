"""`kdcvg clips ingest ...`: parse options, call the library, print."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from kdcvg.graph.cli_common import DbOption, Neo4jOption, WorkersOption, store_config, store_from_options

clips_app = typer.Typer(
    help="Ingest video files and product photos into the ACKB (motion descriptors, patterns).",
    no_args_is_help=True
)


@clips_app.command("ingest")
def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Video files (mp4, mov, webm, mkv, gif), product photos (jpg, png, webp; "
            "ingested as stills) and folders (searched recursively)."
        ),
    ],
    manifest: Annotated[
        Path | None,
        typer.Option(
            "--manifest",
            exists=True,
            dir_okay=False,
            help="CSV sidecar: file,id,caption,product,selling_points,tags (a url column "
            "instead of file: downloaded once into the store).",
        ),
    ] = None,
    no_sidecars: Annotated[bool, typer.Option(
        "--no-sidecars", help="Ignore sidecars and manifest fields: ids from file names, no "
        "product or selling-point links.")] = False,
    ignore_product: Annotated[bool, typer.Option(
        "--ignore-product", help="Ingest a file whose sidecar names a product or selling "
        "point that does not exist, without that link (said on stderr).")] = False,
    workers: WorkersOption = 1,
    db: DbOption = None,
    neo4j: Neo4jOption = None,
) -> None:
    """Analyse video files and link them to motion patterns; exit 1 if any file failed."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from kdcvg.graph.clips import discover, ingest_clips
    from kdcvg.graph.embeddings import default_embedder

    files, _ = discover(paths)
    home = store_config(db, neo4j).home
    with (
        store_from_options(db, neo4j) as store,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            transient=True,
        ) as bar,
    ):
        files_task = bar.add_task("files", total=len(files), note="")
        frames_task = bar.add_task("frames", total=None, note="")

        def on_frames(path: str, frames: int) -> None:
            bar.update(frames_task, advance=frames, note=Path(path).name)

        def on_file(path: str, frames: int) -> None:
            bar.update(files_task, advance=1, note=Path(path).name)

        summary = ingest_clips(
            store,
            paths,
            home,
            default_embedder(),
            manifest=manifest,
            workers=workers,
            progress=on_file,
            on_frames=on_frames,
            sidecars_on=not no_sidecars,
            ignore_missing=ignore_product,
        )
    typer.echo(
        f"ingested {len(summary.ingested)}, unchanged {len(summary.unchanged)}, "
        f"failed {len(summary.failed)}"
    )
    if summary.downloaded:
        typer.echo(f"downloaded {len(summary.downloaded)} files into {home / 'downloads'}")
    for note in summary.notes:
        print(f"note: {note}", file=sys.stderr)
    for path, reason in summary.failed:
        print(
            f"failed: {reason if reason.startswith(path) else f'{path}: {reason}'}", file=sys.stderr
        )
    if summary.failed:
        raise typer.Exit(1)

