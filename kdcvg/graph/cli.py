"""`kdcvg graph ...`: curate and query the ACKB. Commands parse, call library code and print."""

from __future__ import annotations

import json
import math
import signal
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from kdcvg.cli_options import parse_pairs
from kdcvg.errors import ValidationError
from kdcvg.graph.cli_common import (
    DbOption,
    JsonOption,
    Neo4jOption,
    running_server,
    store_config,
    store_from_options,
)
from kdcvg.graph.queries import ANALYST

graph_app = typer.Typer(help="Curate and query the knowledge graph (ACKB).", no_args_is_help=True)


def _finite(value: Any, replaced: list[int]) -> Any:
    """`value` with every NaN or infinity (at any depth) as None, counted in `replaced`."""
    if isinstance(value, float) and not math.isfinite(value):
        replaced[0] += 1
        return None
    if isinstance(value, dict):
        return {k: _finite(v, replaced) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v, replaced) for v in value]
    return value


OUTPUT_FORMATS = ("table", "csv", "json")
FormatOption = Annotated[str | None, typer.Option(
    "--format", help="Output: table (for people; ids are never cut), csv or json "
    "[default: table, or json with --json].", show_default=False)]


def output_format(fmt: str | None, as_json: bool) -> str:
    """The output format from `--format` and `--json`.

    Raises:
        typer.BadParameter: an unknown format, or --json with another format.
    """
    if fmt is None:
        return "json" if as_json else "table"
    if fmt not in OUTPUT_FORMATS:
        raise typer.BadParameter(f"{fmt!r} is not one of {', '.join(OUTPUT_FORMATS)}",
                                 param_hint="--format")
    if as_json and fmt != "json":
        raise typer.BadParameter(f"--json asks for json but --format says {fmt}",
                                 param_hint="--format")
    return fmt


def _is_id_column(values: list[Any]) -> bool:
    """A column of single-token texts (ids, names): never wrapped or cut."""
    texts = [v for v in values if v is not None]
    return bool(texts) and all(isinstance(v, str) and v and not any(c.isspace() for c in v)
                               for v in texts)


def print_rows(rows: list[dict[str, Any]], as_json: bool | str, title: str | None = None
               ) -> None:
    """A table for people, CSV or JSON for programs; vectors are summarised in tables.

    `as_json` is True/False (`--json`) or a format name from `output_format`. Table
    columns of ids are kept whole (other columns wrap instead); CSV writes lists as JSON.
    JSON output is always valid JSON: NaN and infinities (which JSON cannot write) are
    printed as null, and a note on stderr says how many.
    """
    fmt = as_json if isinstance(as_json, str) else ("json" if as_json else "table")
    if fmt == "json":
        replaced = [0]
        clean = _finite(rows, replaced)
        typer.echo(json.dumps(clean, indent=2, default=str, allow_nan=False))
        if replaced[0]:
            typer.echo(f"note: {replaced[0]} non-finite number(s) (NaN or Infinity) printed as "
                       "null: JSON has no such numbers", err=True)
        return
    columns = list(rows[0]) if rows else []
    if fmt == "csv":
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row[c] is None else json.dumps(row[c], default=str)
                             if isinstance(row[c], list | dict) else row[c] for c in columns])
        typer.echo(buffer.getvalue(), nl=False)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    cells_by_row = []
    for row in rows:
        cells = []
        for column in columns:
            value = row[column]
            if isinstance(value, list) and len(value) > 8:
                value = f"[{len(value)} values]"
            cells.append("" if value is None else str(value))
        cells_by_row.append(cells)
    for i, column in enumerate(columns):
        values = [row[column] for row in rows]
        if _is_id_column(values):
            width = max(len(column), *(len(cells[i]) for cells in cells_by_row))
            table.add_column(column, no_wrap=True, min_width=width, overflow="fold")
        else:
            table.add_column(column, overflow="fold")
    for cells in cells_by_row:
        table.add_row(*cells)
    Console().print(table if rows else "(no rows)")


def _parse_params(params: list[str]) -> dict[str, Any]:
    """`k=v` pairs; a value that parses as JSON (number, list, true) is taken as such."""
    return parse_pairs(params, "--param", lists=True)


@graph_app.command()
def init(db: DbOption = None, neo4j: Neo4jOption = None) -> None:
    """Create the schema (uniqueness constraints, vector indexes); safe to run again."""
    with store_from_options(db, neo4j):
        typer.echo("schema ready")


@graph_app.command()
def stats(db: DbOption = None, neo4j: Neo4jOption = None, as_json: JsonOption = False) -> None:
    """Counts per label and relationship type, and embedding coverage (as the analyst)."""
    server = running_server(db, neo4j)
    if server is not None:
        result = server.call("GET", "/api/stats")
    else:
        with store_from_options(db, neo4j, ANALYST) as store:
            result = store.stats()
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    rows = [{"label": label, "nodes": c["nodes"], "with_embedding": c["with_embedding"],
             "coverage": f"{c['with_embedding'] / c['nodes']:.0%}" if c["nodes"] else "-"}
            for label, c in result["nodes"].items()]
    print_rows(rows, False, "nodes")
    print_rows([{"type": t, "relationships": n} for t, n in result["relationships"].items()],
               False, "relationships")


@graph_app.command()
def queries() -> None:
    """List the analyst queries in cypher/ with what they return and their parameters."""
    from kdcvg.graph.store import analyst_queries

    print_rows([{"name": q.name, "params": ", ".join(q.params), "returns": q.description}
                for q in analyst_queries()],
               False, "named queries")


@graph_app.command()
def query(
    name: Annotated[str, typer.Argument(help="Query name (a file in cypher/); see `graph queries`.")],
    param: Annotated[list[str], typer.Option("--param", "-p", help="k=v, repeatable.")] = [],  # noqa: B006
    db: DbOption = None, neo4j: Neo4jOption = None, as_json: JsonOption = False,
    fmt: FormatOption = None,
) -> None:
    """Run a named analyst query (see `graph queries`) as the read-only analyst and print its rows."""
    out = output_format(fmt, as_json)
    from kdcvg.graph.store import check_analyst_params

    params = _parse_params(param)
    check_analyst_params(name, params)
    server = running_server(db, neo4j)
    if server is not None:
        rows = server.call("POST", f"/api/queries/{name}", {"params": params})["rows"]
    else:
        with store_from_options(db, neo4j, ANALYST) as store:
            rows = store.analyst_query(name, **params)
    print_rows(rows, out, name)


@graph_app.command()
def cypher(
    text: Annotated[str, typer.Argument(help="Read-only Cypher, e.g. \"MATCH (p:Product) RETURN p.id\".")],
    param: Annotated[list[str], typer.Option("--param", "-p", help="k=v, repeatable.")] = [],  # noqa: B006
    db: DbOption = None, neo4j: Neo4jOption = None, as_json: JsonOption = False,
    fmt: FormatOption = None,
) -> None:
    """Run ad-hoc Cypher as the read-only analyst (the server refuses writes and file reads)."""
    out = output_format(fmt, as_json)
    params = _parse_params(param)
    server = running_server(db, neo4j)
    if server is not None:
        rows = server.call("POST", "/api/cypher", {"text": text, "params": params})["rows"]
    else:
        with store_from_options(db, neo4j, ANALYST) as store:
            rows = store.cypher(text, params)
    print_rows(rows, out)


@graph_app.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(help="CSV or JSONL files of records.",
                                                exists=True, dir_okay=False, readable=True)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would change; write nothing.")] = False,
    bulk: Annotated[bool, typer.Option("--bulk", help="Fast first load into an empty embedded "
                                       "database (still validated, all or nothing).")] = False,
    skip_duplicates: Annotated[bool, typer.Option(
        "--skip-duplicates", help="Leave out selling points that repeat another of the same "
        "product (cosine >= 0.92); they are reported either way.")] = False,
    skip_boilerplate: Annotated[bool, typer.Option(
        "--skip-boilerplate", help="Leave out selling points whose text many products share; "
        "they are reported either way.")] = False,
    link_motion: Annotated[bool, typer.Option(
        "--link-motion/--no-link-motion", help="Link the new selling points to motion patterns "
        "(automatic SUGGESTS, as `graph link-motion`).")] = True,
    db: DbOption = None, neo4j: Neo4jOption = None, as_json: JsonOption = False,
) -> None:
    """Validate, then write curator files: one transaction per file, merged on ids.

    Near-duplicate and boilerplate selling points are reported (and left out with
    --skip-duplicates / --skip-boilerplate); unchanged texts keep their embeddings; new
    selling points are linked to the motion patterns they suggest.
    """
    from rich.progress import Progress

    from kdcvg.graph.embeddings import default_embedder
    from kdcvg.graph.hygiene import review
    from kdcvg.graph.ingest import diff_batch, prefill_embeddings, write_batch
    from kdcvg.graph.records import read_batch

    batches = []
    problems: list[str] = []
    for path in files:  # every file is checked before any is written
        try:
            batches.append((path, read_batch(path)))
        except ValidationError as e:
            problems.extend(e.problems)
    if problems:
        raise ValidationError(problems, "ingest")
    reports = {}
    target = store_config(db, neo4j)
    with ExitStack() as stack:
        if dry_run and target.neo4j_uri is None and not target.db.exists():
            # No database yet, so it is empty: compare against an empty one in a throwaway
            # folder rather than create the user's folder in a run that must leave no trace.
            db = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kdcvg-dry-run-")))
        store = stack.enter_context(store_from_options(db, neo4j))
        hygiene = {}
        linked: list[str] = []
        for path, batch in batches:
            existing = prefill_embeddings(store, batch)
            batch, found = review(batch, default_embedder().embed, skip_duplicates,
                                  skip_boilerplate)
            hygiene[str(path)] = found
            linked += found.embedded  # new or changed texts: the rest keep their links
            if dry_run:
                reports[str(path)] = diff_batch(store, batch).as_dict()
                reports[str(path)]["hygiene"] = found.as_dict()
                continue
            total = sum(batch.counts().values())
            with Progress(transient=True, disable=as_json) as bar:
                task = bar.add_task(f"{path.name}", total=total)

                def advance(n: int, bar: Progress = bar, task: Any = task) -> None:
                    bar.advance(task, n)

                if bulk:
                    from kdcvg.graph.bulk import bulk_load

                    report = bulk_load(store, batch, default_embedder(), advance)
                else:
                    report = write_batch(store, batch, default_embedder(), advance,
                                         existing=existing)
            report.embedded += len(found.embedded)
            reports[str(path)] = report.as_dict() | {"hygiene": found.as_dict()}
        motion = None
        if link_motion and not dry_run and linked:
            from kdcvg.graph.link_motion import link_motion as run_linker

            motion = run_linker(store, default_embedder(), selling_points=linked)
    if as_json:
        typer.echo(json.dumps(reports | ({"motion_links": motion.as_dict()} if motion else {}),
                              indent=2))
        return
    for path_name, found in hygiene.items():
        for line in found.lines():
            typer.echo(f"{path_name}: {line}", err=True)
    for path_name, summary in reports.items():
        if dry_run:
            rows = [{"kind": k, "create": summary["created"][k], "change": summary["changed"][k],
                     "unchanged": summary["unchanged"][k]} for k in summary["created"]]
            print_rows(rows, False, f"{path_name} (dry run: nothing written)")
        else:
            parts = ", ".join(f"{n} {k}" for k, n in summary["written"].items()) or "nothing"
            same = sum(summary["unchanged"].values())
            typer.echo(f"{path_name}: merged {parts}; {same} rows unchanged; "
                       f"{summary['embedded']} embeddings computed")
    if motion is not None:
        from kdcvg.graph.link_motion_cli import motion_summary

        typer.echo(motion_summary(motion))


@graph_app.command("add-selling-point")
def add_selling_point(
    text: Annotated[str, typer.Argument(help="The selling point, as an ad would say it.")],
    product: Annotated[str, typer.Option("--product", help="Product id.")],
    force: Annotated[bool, typer.Option("--force", help="Add even if a near-duplicate exists.")] = False,
    threshold: Annotated[float, typer.Option("--threshold", min=0.0, max=1.0,
                                             help="Cosine similarity that counts as a near-duplicate.")] = 0.92,
    db: DbOption = None, neo4j: Neo4jOption = None,
) -> None:
    """Add a selling point to a product; near-duplicates of its existing ones are refused."""
    server = running_server(db, neo4j)
    if server is not None:
        added = server.call("POST", "/api/selling-points", {
            "product": product, "text": text, "force": force, "threshold": threshold})
    else:
        from kdcvg.graph.curate import add_selling_point as add
        from kdcvg.graph.embeddings import default_embedder

        with store_from_options(db, neo4j) as store:
            added = add(store, default_embedder(), product, text, force=force,
                        threshold=threshold).__dict__
    near = (f" (nearest: {added['nearest']}, cosine {added['similarity']:.2f})"
            if added["nearest"] else "")
    typer.echo(f"added {added['id']}{near}")


@graph_app.command()
def link(
    clip: Annotated[str, typer.Option("--clip", help="Clip id.")],
    selling_point: Annotated[str, typer.Option("--selling-point", help="SellingPoint id.")],
    weight: Annotated[float, typer.Option("--weight", min=0.0, max=1.0, help="How strongly.")] = 1.0,
    db: DbOption = None, neo4j: Neo4jOption = None,
) -> None:
    """Curate a link: this clip expresses this selling point (source: curated)."""
    server = running_server(db, neo4j)
    if server is not None:
        server.call("POST", "/api/links", {"clip": clip, "selling_point": selling_point,
                                           "weight": weight})
    else:
        from kdcvg.graph.curate import link_clip

        with store_from_options(db, neo4j) as store:
            link_clip(store, clip, selling_point, weight)
    typer.echo(f"linked {clip} -[:EXPRESSES {{weight: {weight}, source: curated}}]-> {selling_point}")


@graph_app.command()
def export(
    out: Annotated[Path, typer.Argument(help="Output .pt file; ids go beside it as .ids.json.")],
    fmt: Annotated[str, typer.Option("--format", help="Export format (pyg: a HeteroData).")] = "pyg",
    db: DbOption = None, neo4j: Neo4jOption = None,
) -> None:
    """Export the graph for training (PyTorch Geometric HeteroData)."""
    if fmt != "pyg":
        raise typer.BadParameter(f"{fmt!r} is not supported; expected pyg", param_hint="--format")
    from kdcvg.graph.export import export_graph, save_export

    with store_from_options(db, neo4j) as store:
        data, id_maps = export_graph(store)
    ids = save_export(data, id_maps, out)
    sizes = ", ".join(f"{nt} {len(keys)}" for nt, keys in id_maps.items())
    typer.echo(f"wrote {out} ({sizes}; {data.num_edges} edges) and {ids}")


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


@graph_app.command()
def serve(
    db: DbOption = None,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Bolt port on 127.0.0.1.")] = 7687,
    studio: Annotated[bool, typer.Option("--studio", help="Also open ArcadeDB's HTTP API (and Studio, "
                                         "where installed) on a loopback port; log in as the "
                                         "read-only analyst.")] = False,
) -> None:
    """Run the embedded server in the foreground so several commands can share it (Ctrl-C stops)."""
    from kdcvg.config import resolve_store
    from kdcvg.graph.server import ANALYST_USER, EMBEDDED_DATABASE, EmbeddedServer
    from kdcvg.graph.store import open_store

    config = resolve_store(db=db or resolve_store().db)
    server = EmbeddedServer(config.db, bolt_port=port, studio=studio).start()
    try:
        server.lock.record(server.uri)
        credentials = server.write_credentials()
        served = config.__class__(neo4j_uri=server.uri, user=server.auth[0],
                                  password=server.password, database=EMBEDDED_DATABASE)
        with open_store(served, init=False) as store:
            store.server = server  # so that init_schema makes the vector indexes in-process
            store.init_schema()
        typer.echo(f"serving {config.db} on {server.uri} (database {EMBEDDED_DATABASE})")
        typer.echo(f"other kdcvg commands: --neo4j {server.uri}  (they read the credentials "
                   "from the database folder)")
        typer.echo(f"credentials (user {ANALYST_USER}: read-only; user root: read-write) are in "
                   f"{credentials}, readable by you only")
        if server.http_url:
            typer.echo(f"HTTP API and Studio: {server.http_url} (log in as {ANALYST_USER})")
        # Ctrl-C (or `kill -INT`) stops it cleanly. Set explicitly: a shell starts background
        # jobs with SIGINT ignored. SIGTERM raises `kdcvg.interrupts.Interrupted` (see `main`),
        # which stops the server on the way out too.
        signal.signal(signal.SIGINT, _interrupt)
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        typer.echo("stopping")
    finally:
        server.stop()


# the motion linker's command lives beside it (kdcvg/graph/link_motion_cli.py)
from kdcvg.graph.link_motion_cli import link_motion_command  # noqa: E402

graph_app.command("link-motion")(link_motion_command)
