"""Many ads from a job file, resumably.

A job file is JSONL (one object a line) or CSV (a header row). Fields: `product`
(required), `selling_points` (list, or `|`-separated in CSV) or `selling_point`,
`id`, `format`, `duration`, `backend`, `seed`, `size` (WIDTHxHEIGHT), `model`
and `options` (an object; JSON text in CSV). Problems are reported with row numbers.

The output folder holds `<id>.mp4/.jpg/.json` per job and `manifest.json`, the
state of every job (pending, running on Ray, done, failed with its reason),
rewritten atomically after each change. A job is finished when its sidecar exists (it is written last)
and the job's spec hash matches; a run started again skips those. Graph reads
happen in this process; rendering runs here, in `spawn` worker processes, or as
Ray tasks (`ray_batch.py`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdcvg.errors import GenerationError, KdcvgError, ValidationError
from kdcvg.generation.backends import CPU_BACKENDS
from kdcvg.generation.base import AdJob
from kdcvg.generation.batch_job import BatchJob, result_fields
from kdcvg.generation.outputs import NoSpaceError, OutputPaths, now_iso, write_error
from kdcvg.generation.pipeline import (
    PreparedJob,
    check_job,
    output_size,
    parse_size,
    prepare_job,
    render_job,
)
from kdcvg.generation.references import ReferenceSource
from kdcvg.jsonl import loads, parse_lines
from kdcvg.validation import (
    NAME_MAX_CHARS,
    OPTION_MAX_CHARS,
    TEXT_MAX_CHARS,
    InputError,
    check_id,
    check_number,
    check_options,
    check_text,
)

if TYPE_CHECKING:
    from kdcvg.generation.ray_batch import RaySettings
    from kdcvg.graph.store import GraphReader

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "kdcvg.batch/1"
FIELDS = ("id", "product", "selling_points", "selling_point", "format", "duration", "backend",
          "seed", "size", "model", "options")

ProgressHook = Callable[[str, str, str], None]  # (job id, state, detail)


@dataclass(frozen=True)
class BadRow:
    """A row of a job file that cannot run, and why."""

    file: str
    row: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file} row {self.row}: {self.reason}"


@dataclass
class BatchSummary:
    """What a run did: per-job states and reasons, in job-file order."""

    jobs: list[dict[str, Any]] = field(default_factory=list)
    stopped: str | None = None  # why the batch stopped before its last job (disk full, ...)

    def count(self, state: str) -> int:
        return sum(1 for j in self.jobs if j["state"] == state)

    @property
    def failed(self) -> int:
        return self.count("failed")


def _records(path: Path) -> list[tuple[int, dict[str, Any] | str]]:
    """(row number, record or a problem) per non-empty row of a CSV or JSONL file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise GenerationError(f"job file {path}: cannot read it ({e})") from e
    out: list[tuple[int, dict[str, Any] | str]] = []
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
        try:
            for record in reader:
                row = reader.line_num
                if None in record:
                    out.append((row, "has more cells than the header"))
                elif any(v not in (None, "") for v in record.values()):
                    out.append((row, {k: v for k, v in record.items() if v not in (None, "")}))
        except csv.Error as e:
            raise GenerationError(f"job file {path}: malformed CSV at line {reader.line_num} "
                                  f"({e})") from e
        return out
    if path.suffix.lower() not in (".jsonl", ".ndjson", ".json"):
        raise GenerationError(f"job file {path}: expected a .jsonl or .csv file")
    values, problems = parse_lines(text)  # one object per line, each problem at its line
    out += [(row, value if isinstance(value, dict) else "is not a JSON object")
            for row, value in values]
    out += [(row, f"is not valid JSON ({reason.removeprefix('malformed JSON (')}")
            for row, reason in problems]
    return sorted(out, key=lambda item: item[0])


def _text(record: dict[str, Any], name: str, default: str, limit: int = NAME_MAX_CHARS) -> str:
    value = record.get(name, default)
    return check_text(name, value, limit, multiline=False)


def _job_from(record: dict[str, Any], row: int, csv_file: bool) -> BatchJob:
    """Build a job from one record; raises KdcvgError (GenerationError, InputError) naming
    the field."""
    unknown = sorted(set(record) - set(FIELDS))
    if unknown:
        raise GenerationError(f"unknown field {unknown[0]!r} (known: {', '.join(FIELDS)})")
    if "product" not in record:
        raise GenerationError("field 'product' is missing")
    product = check_id("product", record["product"])
    sps: Any = record.get("selling_points", record.get("selling_point"))
    if sps is None:
        raise GenerationError("field 'selling_points' (or 'selling_point') is missing")
    if isinstance(sps, str):
        sps = [s.strip() for s in sps.split("|")] if csv_file or "|" in sps else [sps]
    if not isinstance(sps, list) or not all(isinstance(s, str) for s in sps):
        raise GenerationError("field 'selling_points' must be a list of strings")
    sps = [check_text(f"selling_points: item {i}", s, TEXT_MAX_CHARS, multiline=False)
           for i, s in enumerate(sps, start=1)]
    options = record.get("options", {})
    if isinstance(options, str):
        try:
            options = loads(options)
        except ValueError as e:
            raise GenerationError(f"field 'options' is not a JSON object ({e})") from e
    if not isinstance(options, dict):
        raise GenerationError("field 'options' must be an object")
    if "model" in record:
        options = {**options, "model": _text(record, "model", "", OPTION_MAX_CHARS)}
    options = check_options("options", options)
    duration = int(check_number("duration", record.get("duration", 6), int, 1, 3600))
    seed = int(check_number("seed", record.get("seed", 0), int, 0, 2**32 - 1))
    job_id = check_id("id", record.get("id", f"job-{row:04d}"))
    job = AdJob(product_id=product, selling_points=tuple(sps),
                format=_text(record, "format", "9:16"), duration_s=duration, seed=seed,
                backend=_text(record, "backend", "compose"), options=options)
    check_job(job)
    size = parse_size(_text(record, "size", "")) if "size" in record else None
    output_size(job, size)
    return BatchJob(row, job_id, job, size)


def parse_jobs(path: str | os.PathLike[str]) -> tuple[list[BatchJob], list[BadRow]]:
    """Read a job file; returns the valid jobs and one problem line per bad row.

    Raises:
        GenerationError: the file cannot be read or has no rows.
    """
    p = Path(path)
    jobs: list[BatchJob] = []
    problems: list[BadRow] = []
    seen: dict[str, int] = {}
    records = _records(p)
    if not records:
        raise GenerationError(f"job file {p} has no jobs")
    for row, record in records:
        if isinstance(record, str):
            problems.append(BadRow(p.name, row, record))
            continue
        try:
            job = _job_from(record, row, p.suffix.lower() == ".csv")
        except (GenerationError, InputError) as e:
            problems.append(BadRow(p.name, row, str(e)))
            continue
        if job.id in seen:
            problems.append(BadRow(p.name, row, f"id {job.id!r} repeats row {seen[job.id]}"))
            continue
        seen[job.id] = row
        jobs.append(job)
    return jobs, problems


class Manifest:
    """The state of every job of an output folder, saved atomically after each change."""

    def __init__(self, folder: Path, jobs_file: str) -> None:
        self.path = folder / MANIFEST
        self.data: dict[str, Any] = {"schema": MANIFEST_SCHEMA, "jobs_file": jobs_file, "jobs": {}}
        if self.path.exists():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise GenerationError(f"{self.path} is not a readable manifest ({e}); "
                                      "move it away to start afresh") from e
            if loaded.get("schema") == MANIFEST_SCHEMA:
                self.data["jobs"] = loaded.get("jobs", {})
        self.data["jobs_file"] = jobs_file

    def get(self, job_id: str) -> dict[str, Any]:
        entry: dict[str, Any] = self.data["jobs"].get(job_id, {})
        return entry

    def set(self, job_id: str, **fields: Any) -> None:
        self.data["jobs"][job_id] = {**self.get(job_id), **fields, "updated_at": now_iso()}
        self.save()

    def save(self) -> None:
        """Write the manifest atomically (temporary name, then rename).

        Raises:
            GenerationError: it cannot be written (`NoSpaceError` when the disk is full);
                the manifest saved before stays as it was.
        """
        tmp = self.path.with_name(f".{MANIFEST}.partial")
        try:
            tmp.write_text(json.dumps(self.data, indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as e:
            raise write_error(self.path, e) from e
        finally:
            tmp.unlink(missing_ok=True)


def is_finished(folder: Path, job: BatchJob, manifest: Manifest) -> bool:
    """Whether a job's ad exists complete (sidecar written last) and from the same spec."""
    paths = OutputPaths.for_video(job.video(folder))
    entry = manifest.get(job.id)
    return (paths.sidecar.exists() and paths.video.exists()
            and entry.get("state") == "done" and entry.get("spec") == job.spec)


def _render_worker(prepared: PreparedJob, out: str, size: tuple[int, int] | None,
                   clip_model: str | None) -> dict[str, Any]:
    """Runs in a worker process: no graph access, only plain data in and out."""
    return result_fields(render_job(prepared, out, size=size, clip_model=clip_model))


def run_batch(
    store: GraphReader,
    jobs_file: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    workers: int = 1,
    skip_bad: bool = False,
    clip_model: str | None = None,
    source: ReferenceSource | None = None,
    progress: ProgressHook | None = None,
    ray: RaySettings | None = None,
) -> BatchSummary:
    """Generate every job of `jobs_file` into `out_dir`, skipping finished ones.

    A job that fails is recorded (summary and manifest) and the batch goes on. When the
    disk is full, or the manifest can no longer be saved, it stops: the jobs it did not
    reach are `not run` in the summary (still `pending` in the manifest, so a rerun makes
    them) and `summary.stopped` says why.

    With `ray`, `workers` is not used: every job runs as a Ray task
    (`kdcvg.generation.ray_batch`), the manifest also records each attempt as `running`
    with its node and process, and the files are still written here, under temporary
    names.

    Raises:
        ValidationError: bad rows without `skip_bad` (nothing runs).
        GenerationError: unreadable job file, unwritable output folder, workers < 1.
    """
    if workers < 1:
        raise GenerationError(f"--workers must be at least 1, got {workers}")
    jobs, problems = parse_jobs(jobs_file)
    if problems and not skip_bad:
        raise ValidationError([str(b) for b in problems],
                              f"job file {jobs_file} (use --skip-bad to run the good rows)")
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GenerationError(f"output folder {folder}: cannot create it ({e.strerror})") from e
    if not os.access(folder, os.W_OK | os.X_OK):
        raise GenerationError(f"output folder {folder} is not writable; choose another --out")
    manifest = Manifest(folder, str(jobs_file))
    hook = progress or (lambda _id, _state, _detail: None)
    summary = BatchSummary()
    order: dict[str, dict[str, Any]] = {}
    stop: list[str] = []  # why the batch stopped early, once it has

    def finish(job_id: str, state: str, detail: str, **fields: Any) -> bool:
        """Record a job's end in the summary and the manifest; False: stop the batch."""
        order[job_id].update(state=state, detail=detail, **fields)
        hook(job_id, state, detail)
        try:
            manifest.set(job_id, state=state, error=detail if state == "failed" else None,
                         **fields)
        except GenerationError as e:  # nothing more can be recorded, so nothing more runs
            stop.append(f"the manifest cannot be saved ({e})")
        return not stop

    def failed(job: BatchJob, error: KdcvgError) -> bool:
        finish(job.id, "failed", f"job {job.id} (row {job.row}): {error}")
        if isinstance(error, NoSpaceError) and not stop:  # every later ad would fail alike
            stop.append(f"the disk is full (job {job.id})")
        return not stop

    for bad in problems:  # only with --skip-bad
        job_id = f"row-{bad.row:04d}"
        order[job_id] = {"id": job_id, "row": bad.row}
        finish(job_id, "failed", f"bad row {bad.row}: {bad.reason}", row=bad.row)

    todo: list[tuple[BatchJob, PreparedJob]] = []
    for job in jobs:
        order[job.id] = {"id": job.id, "row": job.row}
        if stop:
            continue
        if is_finished(folder, job, manifest):
            order[job.id].update(state="skipped", detail="finished earlier")
            hook(job.id, "skipped", "finished earlier")
            continue
        try:
            manifest.set(job.id, row=job.row, state="pending", spec=job.spec,
                         video=f"{job.id}.mp4", error=None)
        except GenerationError as e:
            stop.append(f"the manifest cannot be saved ({e})")
            continue
        try:
            todo.append((job, prepare_job(store, job.job, source)))
        except KdcvgError as e:
            failed(job, e)

    if ray is not None:
        if todo and not stop:
            _run_on_ray(todo, folder, ray, clip_model, finish, failed, hook, manifest, stop)
        todo = []  # Ray ran them all
    parallel = [(j, p) for j, p in todo if j.job.backend in CPU_BACKENDS] if workers > 1 else []
    in_pool = {j.id for j, _ in parallel}
    serial = [(j, p) for j, p in todo if j.id not in in_pool]
    for job, prepared in serial:
        if stop:
            break
        hook(job.id, "running", "")
        started = time.perf_counter()
        try:
            result = _render_worker(prepared, str(job.video(folder)), job.size, clip_model)
        except KdcvgError as e:
            failed(job, e)
            continue
        finish(job.id, "done", f"{time.perf_counter() - started:.1f} s", **result)
    if parallel and not stop:
        _run_parallel(parallel, folder, workers, clip_model, finish, failed, hook)
    for entry in order.values():  # jobs the batch did not reach after it stopped
        if "state" not in entry:
            entry.update(state="not run", detail=f"the batch stopped: {stop[0]}")
    summary.jobs = sorted(order.values(), key=lambda j: j["row"])
    summary.stopped = stop[0] if stop else None
    return summary


def _run_on_ray(
    todo: list[tuple[BatchJob, PreparedJob]],
    folder: Path,
    ray: RaySettings,
    clip_model: str | None,
    finish: Callable[..., bool],
    failed: Callable[[BatchJob, KdcvgError], bool],
    hook: ProgressHook,
    manifest: Manifest,
    stop: list[str],
) -> None:
    """Run every prepared job as a Ray task; each attempt that starts is recorded."""
    from kdcvg.generation.ray_batch import run_on_ray

    def running(job_id: str, detail: str, **fields: Any) -> bool:
        """Record an attempt that started on a Ray worker; False: stop the batch."""
        hook(job_id, "running", detail)
        try:
            manifest.set(job_id, state="running", **fields)
        except GenerationError as e:
            stop.append(f"the manifest cannot be saved ({e})")
        return not stop

    if clip_model is not None:  # workers may start elsewhere: an absolute path
        clip_model = str(Path(clip_model).resolve())
    run_on_ray(todo, folder, ray, clip_model, finish, failed, running)


def _run_parallel(
    todo: list[tuple[BatchJob, PreparedJob]],
    folder: Path,
    workers: int,
    clip_model: str | None,
    finish: Callable[..., bool],
    failed: Callable[[BatchJob, KdcvgError], bool],
    hook: ProgressHook,
) -> None:
    """Render jobs in `spawn` worker processes (the parent keeps the graph server).

    When the batch stops (disk full, Ctrl-C), queued jobs are cancelled and only the
    ones already rendering are waited for.
    """
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    try:
        running: dict[Future[dict[str, Any]], BatchJob] = {}
        for job, prepared in todo:
            future = pool.submit(_render_worker, prepared, str(job.video(folder)),
                                 job.size, clip_model)
            running[future] = job
            hook(job.id, "queued", "")
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                job = running.pop(future)
                try:
                    result = future.result()
                except KdcvgError as e:
                    go_on = failed(job, e)
                except Exception as e:  # a worker that died takes its job with it
                    go_on = failed(job, GenerationError(f"worker failed ({e})"))
                else:
                    go_on = finish(job.id, "done", f"{result['seconds']:.1f} s", **result)
                if not go_on:
                    for queued in running:
                        queued.cancel()
                    running = {f: j for f, j in running.items() if not f.cancelled()}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
