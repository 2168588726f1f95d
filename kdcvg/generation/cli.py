"""`kdcvg generate ...`: one ad, a batch of ads, the HTML report (and MKR's distill).

Handlers parse options, call `kdcvg.generation.pipeline` / `batch` / `report` and
print; library errors (`KdcvgError`) become one line on stderr and exit 1.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kdcvg.cli_options import id_option, parse_pairs, text_option
from kdcvg.errors import GenerationError
from kdcvg.generation.diffusion.cli import distill_app
from kdcvg.graph.cli_common import DbOption, Neo4jOption, running_server, store_from_options

if TYPE_CHECKING:
    from kdcvg.graph.store import GraphReader
    from kdcvg.remote import Server

generate_app = typer.Typer(
    help="Generate ad videos from the knowledge base: one ad, a batch, a report.",
    no_args_is_help=True,
)

BackendOption = Annotated[str, typer.Option("--backend", help="Generator: compose (no weights) "
                                            "or diffusers (MKR).")]
ModelOption = Annotated[str | None, typer.Option("--model", help="Backend model folder "
                                                 "(diffusers), passed as option model=PATH.")]
OptionsOption = Annotated[list[str] | None, typer.Option(
    "--option", "-o", help="Backend setting key=value (repeatable; values parse as JSON when "
    "they can: numbers, true/false, null; text otherwise, at most 1024 characters), e.g. "
    "-o steps=20 -o cta='Buy now'.")]
ClipModelOption = Annotated[Path | None, typer.Option(
    "--clip-model", help="Local CLIP folder for the CLIP score; without it the score is "
    "recorded as not computed.", exists=True, file_okay=False)]
SourceOption = Annotated[str, typer.Option("--references", help="Reference source: sar "
                                           "(the trained retriever), curated (EXPRESSES links), "
                                           "or auto (sar when trained for this graph, else "
                                           "curated; the sidecar records which).")]
StrictOption = Annotated[bool, typer.Option(
    "--strict", help="Fail when a selling point has no reference, instead of falling back to "
    "the product's photos, then a designed text scene.")]


def parse_options(pairs: list[str] | None, model: str | None = None) -> dict[str, Any]:
    """`["steps=20", "cta=Buy now"]` -> `{"steps": 20, "cta": "Buy now"}`, plus `model`.

    Raises:
        typer.BadParameter: an item without `=`, or a value that breaks the option rules
            of `kdcvg.cli_options.parse_pairs` (an object, NaN, over-long text ...).
    """
    options = parse_pairs(pairs, "--option")
    if model is not None:
        options["model"] = model
    return options


def check_before_start(job: Any, out: Path, size: str | None) -> tuple[int, int] | None:
    """Every check `generate ad` can make without the graph (`pipeline.check_ad`)."""
    from kdcvg.generation.pipeline import check_ad

    return check_ad(job, out, size)


def _source(name: str, store: GraphReader, strict: bool = False) -> Any:
    from kdcvg.generation.fallback import source_for

    return source_for(name, store, strict)


def remote_job(server: Server, kind: str, request: dict[str, Any]) -> dict[str, Any]:
    """Run a generation job (`ad` or `batch`) on a running server; its result.

    Raises:
        RemoteError: the server refused the job, the job failed (its one-line error), or
            the server stopped before it finished.
    """
    from kdcvg.remote import RemoteError

    job = server.call("POST", f"/api/jobs/{kind}", request)
    while job["state"] in ("queued", "running"):
        previous = job
        job = server.call("GET", f"/api/jobs/{job['id']}", params={"wait": 2})
        if job["state"] == "queued" and previous["state"] == "running":
            break  # the server is stopping: it went back to the queue
    if job["state"] == "failed" and job.get("result") is None:
        raise RemoteError(job["error"])
    if job["state"] not in ("done", "failed"):
        raise RemoteError(f"the kdcvg server at {server.url} stopped before job {job['id']} "
                          "finished; what was done is kept: run the command again")
    result: dict[str, Any] = job["result"]
    return result


def fallback_lines(record: dict[str, Any]) -> list[str]:
    """One line per scene of an ad that fell back, saying how and why."""
    return [f"scene {f['index'] + 1} ({f['text']!r}) fell back to "
            f"{'a photo of the product' if f['fallback'] == 'still' else 'a designed text scene'}"
            f": {f['reason']}" for f in record.get("fallbacks", [])]


@generate_app.command("ad")
def ad(
    product: Annotated[str, typer.Option("--product", help="Product id (list them with "
                                         "`kdcvg graph query products`).",
                                         callback=id_option)],
    selling_point: Annotated[list[str], typer.Option(
        "--selling-point", "-s", help="Selling point id or free text; repeat for several "
        "scenes, in order.", callback=text_option)],
    out: Annotated[Path, typer.Option("--out", help="Output .mp4 (poster .jpg and sidecar "
                                      ".json are written beside it).")],
    format: Annotated[str, typer.Option("--format", help="9:16, 1:1 or 16:9.")] = "9:16",
    duration: Annotated[int, typer.Option("--duration", help="Seconds: 6, 15 or 30.")] = 6,
    backend: BackendOption = "compose",
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same bytes.")] = 0,
    size: Annotated[str | None, typer.Option("--size", help="WIDTHxHEIGHT with the format's "
                                             "aspect, e.g. 1080x1920 [default: 720x1280 for "
                                             "9:16].")] = None,
    model: ModelOption = None,
    option: OptionsOption = None,
    clip_model: ClipModelOption = None,
    references: SourceOption = "auto",
    strict: StrictOption = False,
    db: DbOption = None,
    neo4j: Neo4jOption = None,
) -> None:
    """Generate one ad: a scene per selling point, then a call to action.

    Example: kdcvg generate ad --product p1 -s sp-p1-1 -s "Fits any bag" --out ad.mp4
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from kdcvg.generation.base import AdJob
    from kdcvg.generation.pipeline import generate_ad

    job = AdJob(product_id=product, selling_points=tuple(selling_point), format=format,
                duration_s=duration, seed=seed, backend=backend,
                options=parse_options(option, model))
    frame_size = check_before_start(job, out, size)  # before the ~5 s server start
    server = running_server(db, neo4j)
    with ExitStack() as stack:
        bar = stack.enter_context(Progress(
            TextColumn("[bold]rendering"), BarColumn(),
            TextColumn("{task.completed}/{task.total}"), TimeRemainingColumn(), transient=True))
        task = bar.add_task("frames", total=None)
        if server is not None:
            record = remote_job(server, "ad", {
                "product": product, "selling_points": list(job.selling_points),
                "format": format, "duration": duration, "seed": seed, "backend": backend,
                "size": size, "options": dict(job.options), "references": references,
                "strict": strict, "out": str(Path(out).absolute()),
                "clip_model": str(clip_model.absolute()) if clip_model else None})["record"]
        else:
            store = stack.enter_context(store_from_options(db, neo4j))
            record = generate_ad(
                store, job, out, source=_source(references, store, strict), size=frame_size,
                clip_model=clip_model,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    m = record["metrics"]
    typer.echo(f"wrote {out} ({record['output']['size'][0]}x{record['output']['size'][1]}, "
               f"{record['output']['duration_s']} s) with {Path(out).with_suffix('.jpg').name} "
               f"and {Path(out).with_suffix('.json').name}")
    typer.echo(f"dynamic degree {m.get('dynamic_degree')}, motion smoothness "
               f"{m.get('motion_smoothness')}, temporal consistency "
               f"{m.get('temporal_consistency')}, motion fidelity {m.get('motion_fidelity')}, "
               f"CLIP score {m.get('clip_score') if m.get('clip_score') is not None else 'n/a'}")
    for line in fallback_lines(record):
        typer.echo(line)


def _ray_settings(address: str | None, transfer: str, workers: int | None) -> Any:
    """`RaySettings` from the batch options (None without --ray); ray must be installed.

    Raises:
        typer.BadParameter: --ray-transfer or --workers without a use.
        GenerationError: ray is missing (one line with the install command), a bad value,
            a cluster address nothing answers at.
    """
    if address is None:
        if transfer != "path":
            raise typer.BadParameter("--ray-transfer applies with --ray only",
                                     param_hint="--ray-transfer")
        return None
    from kdcvg.generation.ray_batch import LOCAL, RaySettings, check_reachable, import_ray

    if workers is not None and address != LOCAL:
        raise typer.BadParameter("--workers sizes a local Ray runtime (--ray auto); a cluster "
                                 "has the CPUs and GPUs of its nodes", param_hint="--workers")
    settings = RaySettings(address=address, transfer=transfer, num_cpus=workers)
    import_ray()
    if not settings.local:
        check_reachable(address)
    return settings


@generate_app.command("batch")
def batch(
    jobs: Annotated[Path, typer.Argument(help="Job file (.jsonl or .csv), one ad per row.",
                                         exists=True, dir_okay=False)],
    out: Annotated[Path, typer.Option("--out", help="Output folder (manifest.json and the "
                                      "ads).")],
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Parallel render processes (CPU backends) [default: 1]; with --ray "
        "auto, the CPUs of the local Ray runtime [default: all of this machine's].",
        min=1)] = None,
    ray: Annotated[str | None, typer.Option(
        "--ray", help="Run each job as a Ray task: auto (a local Ray runtime for this run) or "
        "the address of a Ray cluster (ray://head:10001, or head:6379 on one of its nodes). "
        "Needs pip install 'kdcvg[ray]'.")] = None,
    ray_transfer: Annotated[str, typer.Option(
        "--ray-transfer", help="How reference clips reach Ray workers: path (the same path on "
        "every node: shared storage) or object-store (sent through Ray).")] = "path",
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Run the good rows when some "
                                           "are bad (otherwise nothing runs).")] = False,
    clip_model: ClipModelOption = None,
    references: SourceOption = "auto",
    strict: StrictOption = False,
    db: DbOption = None,
    neo4j: Neo4jOption = None,
) -> None:
    """Generate every job of a job file; a second run skips finished jobs.

    Example: kdcvg generate batch examples/jobs.jsonl --out out/batch --workers 2
    """
    ray_settings = _ray_settings(ray, ray_transfer, workers)  # before the server starts
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from kdcvg.generation.batch import BatchSummary, parse_jobs, run_batch

    total = len(parse_jobs(jobs)[0])
    server = running_server(db, neo4j)
    if server is not None and ray_settings is not None:
        # the server runs jobs on its own queue; a Ray run needs this process as its driver
        raise GenerationError("--ray drives the batch from this process, but `kdcvg serve` "
                              "holds this store; stop the server, or drop --ray to send the "
                              "batch to it")
    console = Console(stderr=True)
    with ExitStack() as stack:
        bar = stack.enter_context(Progress(
            TextColumn("[bold]jobs"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[last]}"), console=console, transient=True))
        task = bar.add_task("jobs", total=total, last="")
        if server is not None:
            result = remote_job(server, "batch", {
                "jobs_file": str(jobs.absolute()), "out": str(Path(out).absolute()),
                "workers": workers or 1, "skip_bad": skip_bad, "references": references,
                "strict": strict,
                "clip_model": str(clip_model.absolute()) if clip_model else None})
            summary = BatchSummary(jobs=result["jobs"], stopped=result["stopped"])
        else:
            store = stack.enter_context(store_from_options(db, neo4j))

            def hook(job_id: str, state: str, detail: str) -> None:
                if state in ("done", "failed", "skipped"):
                    bar.advance(task)
                bar.update(task, last=f"{job_id}: {state}")

            summary = run_batch(store, jobs, out, workers=workers or 1, skip_bad=skip_bad,
                                clip_model=str(clip_model) if clip_model else None,
                                source=_source(references, store, strict), progress=hook,
                                ray=ray_settings)
    table = Table(title=f"{jobs.name} -> {out}")
    for column in ("row", "job", "state", "detail"):
        table.add_column(column)
    for j in summary.jobs:
        table.add_row(str(j["row"]), j["id"], j["state"], j.get("detail") or "")
    Console().print(table)
    for j in summary.jobs:  # whole reasons, unwrapped, one line each
        if j["state"] == "failed":
            typer.echo(f"failed: {j.get('detail')}", err=True)
    typer.echo(f"{summary.count('done')} done, {summary.count('skipped')} skipped, "
               f"{summary.failed} failed; manifest: {Path(out) / 'manifest.json'}")
    if summary.stopped:
        typer.echo(f"error: the batch stopped: {summary.stopped}; "
                   f"{summary.count('not run')} jobs not run", err=True)
    if summary.failed or summary.stopped:
        raise typer.Exit(1)


@generate_app.command("report")
def report(
    folder: Annotated[Path, typer.Argument(help="Folder of generated ads (their .json "
                                           "sidecars).", exists=True, file_okay=False)],
    out: Annotated[Path | None, typer.Option("--out", help="HTML file [default: "
                                             "FOLDER/report.html].")] = None,
) -> None:
    """Write a self-contained HTML page: a card per ad with player, references, metrics."""
    from kdcvg.generation.report import write_report

    path, count = write_report(folder, out)
    typer.echo(f"wrote {path} ({count} ads); open it in a browser")


# MKR's motion-prior distillation lives with the diffusers backend (a light module).
generate_app.add_typer(distill_app)
