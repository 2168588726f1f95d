"""Generation jobs of `kdcvg serve`: queued, run one at a time on a worker thread.

A job is one ad (`generate_ad`) or a batch (`run_batch` and its manifest). Each has
a folder `<store folder>/ads/<job id>/` holding `job.json` (its request, state, result
or error, rewritten atomically) and, unless the caller named another output folder
(the CLI forwarding `generate ad|batch --out`), its files: `<name>.mp4/.jpg/.json`, or
a batch's `jobs.jsonl`, `manifest.json` and ads.

States: `queued`, `running`, `done`, `failed` (with the one-line error), `stopped`.
When the server stops, the running job ends after its current ad: a batch leaves its
manifest with the unfinished jobs `pending`, exactly as an interrupted `generate
batch`; the job goes back to `queued` and the next start of the server resumes it
(finished ads are skipped). A job writing to a caller's folder is `stopped` instead:
its caller was told, and runs the command again.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdcvg.errors import BusyError, ConflictError, KdcvgError, NotFoundError
from kdcvg.validation import check_id, safe_child

if TYPE_CHECKING:
    from kdcvg.graph.store import Store

JOB_FILE = "job.json"
JOBS_NAME = "jobs.jsonl"  # a batch's job rows, when the request carried them
MAX_QUEUED = 64
STATES = ("queued", "running", "done", "failed", "stopped")
FINISHED = ("done", "failed", "stopped")
log = logging.getLogger("kdcvg.serve")


class _Stop(BaseException):
    """Raised in the worker between two ads of a batch when the server stops."""


def new_job_id() -> str:
    """`job-<UTC time>-<random>`: sortable by submission time, never guessed."""
    return f"job-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"


class JobQueue:
    """The job queue of one server; its worker thread starts with it.

    Args:
        store: the open store the jobs read their references from.
        root: the folder that holds one folder per job (`<store folder>/ads`).
    """

    def __init__(self, store: Store, root: Path) -> None:
        self.store = store
        self.root = root
        self._jobs: dict[str, dict[str, Any]] = {}
        self._done: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._stopping = threading.Event()
        self._load()
        self._worker = threading.Thread(target=self._work, name="kdcvg-jobs", daemon=True)
        self._worker.start()

    # -- records ---------------------------------------------------------------------------

    def _folder(self, job_id: str) -> Path:
        return safe_child(self.root, check_id("job", job_id))

    def _save(self, job: dict[str, Any]) -> None:
        folder = self._folder(job["id"])
        folder.mkdir(parents=True, exist_ok=True)
        job["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        tmp = folder / f".{JOB_FILE}.partial"
        tmp.write_text(json.dumps(job, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, folder / JOB_FILE)

    def _load(self) -> None:
        """Jobs of earlier runs: unfinished ones of the ads folder are queued again."""
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob(f"*/{JOB_FILE}")):
            try:
                job = json.loads(path.read_text(encoding="utf-8"))
                check_id("job", job["id"])
            except (OSError, ValueError, KeyError, KdcvgError):
                continue
            if job.get("state") in ("queued", "running"):
                job["state"] = "stopped" if job.get("caller_folder") else "queued"
                self._save(job)
            self._jobs[job["id"]] = job
            self._done[job["id"]] = threading.Event()
            if job["state"] == "queued":
                self._queue.put(job["id"])
            else:
                self._done[job["id"]].set()

    def get(self, job_id: str) -> dict[str, Any]:
        """The job's record (a copy).

        Raises:
            NotFoundError: no job has this id.
        """
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFoundError(f"no job {job_id!r} on this server; list them with "
                                    "GET /api/jobs")
            return dict(job)

    def all(self) -> list[dict[str, Any]]:
        """Every job's record, newest first, without results."""
        with self._lock:
            jobs = [{k: v for k, v in j.items() if k != "result"} for j in self._jobs.values()]
        return sorted(jobs, key=lambda j: j["id"], reverse=True)

    def wait(self, job_id: str, seconds: float) -> dict[str, Any]:
        """The job's record once it finished, or after `seconds` (whichever comes first)."""
        self.get(job_id)
        self._done[job_id].wait(max(0.0, min(seconds, 30.0)))
        return self.get(job_id)

    def folder(self, job_id: str) -> Path:
        """Where the job's files are (its own folder, or the caller's)."""
        job = self.get(job_id)
        return Path(job["caller_folder"]) if job.get("caller_folder") else self._folder(job_id)

    # -- submit ----------------------------------------------------------------------------

    def submit(self, kind: str, request: dict[str, Any], caller_folder: Path | None = None
               ) -> dict[str, Any]:
        """Queue a checked request; its record.

        Args:
            kind: "ad" or "batch".
            request: the checked request (see `kdcvg.serve.api`).
            caller_folder: the output folder a local caller named; None: the job's folder.

        Raises:
            BusyError: the queue is full, or the server is stopping.
            ConflictError: an unfinished job writes to the same folder.
        """
        if self._stopping.is_set():
            raise BusyError("the server is stopping; submit the job again once it runs")
        with self._lock:
            waiting = sum(1 for j in self._jobs.values() if j["state"] in ("queued", "running"))
            if waiting >= MAX_QUEUED:
                raise BusyError(f"{waiting} jobs are waiting (at most {MAX_QUEUED}); "
                                "submit again when some have finished")
            if caller_folder is not None:
                for other in self._jobs.values():
                    if (other["state"] in ("queued", "running")
                            and other.get("caller_folder") == str(caller_folder)):
                        raise ConflictError(f"job {other['id']} is still writing to "
                                            f"{caller_folder}; wait for it to finish")
            job: dict[str, Any] = {
                "id": new_job_id(), "kind": kind, "state": "queued", "request": request,
                "caller_folder": str(caller_folder) if caller_folder else None,
                "result": None, "error": None,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
            self._save(job)
            self._jobs[job["id"]] = job
            self._done[job["id"]] = threading.Event()
        self._queue.put(job["id"])
        return dict(job)

    def write_rows(self, job_id: str, rows: list[dict[str, Any]]) -> Path:
        """Write a batch request's job rows into the job's folder (`jobs.jsonl`)."""
        path = self._folder(job_id) / JOBS_NAME
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return path

    # -- run -------------------------------------------------------------------------------

    def _set(self, job_id: str, **fields: Any) -> None:
        with self._lock:
            job = self._jobs[job_id]
            job.update(fields)
            self._save(job)
            if job["state"] in FINISHED or (job["state"] == "queued" and self._stopping.is_set()):
                self._done[job_id].set()

    def _work(self) -> None:
        while not self._stopping.is_set():
            job_id = self._queue.get()
            if job_id is None or self._stopping.is_set():
                break
            self._set(job_id, state="running", error=None)
            job = self.get(job_id)
            try:
                result = self._run(job)
            except _Stop:
                self._set(job_id, state="stopped" if job.get("caller_folder") else "queued")
                break
            except KdcvgError as e:
                self._set(job_id, state="failed", error=str(e))
            except Exception as e:  # a bug: logged in full, one line for the caller
                log.exception("job %s failed unexpectedly", job_id)
                self._set(job_id, state="failed",
                          error=f"job {job_id} failed unexpectedly ({type(e).__name__}: {e}); "
                          "the server's log has the traceback")
            else:
                failed = result.get("failed") or result.get("stopped")
                self._set(job_id, state="failed" if failed else "done", result=result)

    def _run(self, job: dict[str, Any]) -> dict[str, Any]:
        from kdcvg.generation.fallback import source_for

        request = job["request"]
        store = self.store
        source = source_for(request.get("references", "auto"), store,
                            bool(request.get("strict", False)))
        folder = self.folder(job["id"])
        if job["kind"] == "ad":
            from kdcvg.generation.pipeline import generate_ad

            record = generate_ad(store, ad_job(request), safe_child(folder, request["name"]),
                                 source=source, size=_size(request.get("size")),
                                 clip_model=request.get("clip_model"))
            return {"record": record, "files": _files_of(request["name"])}
        from kdcvg.generation.batch import run_batch

        def hook(job_id: str, state: str, detail: str) -> None:
            if state == "running" and self._stopping.is_set():
                raise _Stop  # between two ads: the manifest keeps the rest pending

        jobs_file = request.get("jobs_file") or str(self._folder(job["id"]) / JOBS_NAME)
        summary = run_batch(store, jobs_file, folder, workers=int(request.get("workers", 1)),
                            skip_bad=bool(request.get("skip_bad", False)),
                            clip_model=request.get("clip_model"), source=source, progress=hook)
        return {"jobs": summary.jobs, "stopped": summary.stopped, "failed": summary.failed,
                "manifest": "manifest.json"}

    def stop(self) -> None:
        """Stop after the running job's current ad; queued jobs stay queued for the next start."""
        self._stopping.set()
        self._queue.put(None)
        self._worker.join()
        with self._lock:
            for job_id, job in self._jobs.items():
                if job["state"] == "queued":
                    self._done[job_id].set()  # callers waiting on it hear that it did not run


def ad_job(request: dict[str, Any]) -> Any:
    """The `AdJob` of a checked ad request."""
    from kdcvg.generation.base import AdJob

    return AdJob(product_id=request["product"], selling_points=tuple(request["selling_points"]),
                 format=request["format"], duration_s=request["duration"], seed=request["seed"],
                 backend=request["backend"], options=dict(request["options"]))


def _size(text: str | None) -> tuple[int, int] | None:
    from kdcvg.generation.pipeline import parse_size

    return parse_size(text) if text else None


def _files_of(name: str) -> list[str]:
    stem = Path(name).stem
    return [f"{stem}.mp4", f"{stem}.jpg", f"{stem}.json"]
