"""Batch jobs as Ray tasks: on a local Ray runtime (`--ray auto`) or a Ray cluster.

The driver (the process running `kdcvg generate batch`) keeps everything that
`--workers` keeps: it reads the graph (`prepare_job`), owns the manifest and writes
every ad's files, each under a temporary name renamed when complete. A Ray task gets
a `PreparedJob` (plain data: no database, no driver), renders it into a temporary
folder of its own node and returns the bytes of the MP4 and poster with the sidecar
record. Compose tasks ask Ray for CPUs, diffusers tasks for a GPU.

Reference clips reach the workers by path (`transfer="path"`: the clip files are at
the same path on every node, shared storage) or through Ray's object store
(`"object-store"`: the driver puts each clip file once, a task writes the ones it
needs into its temporary folder and records the original paths in the sidecar).

A worker that dies mid-job (killed, out of memory, its node lost) has its task run
again by Ray, at most `max_retries` more times; a small actor counts the attempts so
that the manifest says which attempt runs where. Ray is an optional extra
(`pip install 'kdcvg[ray]'`), imported only here and only when asked for.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kdcvg.errors import GenerationError, KdcvgError
from kdcvg.generation.backends import CPU_BACKENDS
from kdcvg.generation.batch_job import BatchJob, result_fields
from kdcvg.generation.outputs import OutputPaths, write_ad
from kdcvg.generation.pipeline import PreparedJob, render_job

LOCAL = "auto"  # `--ray auto`: start a private Ray runtime on this machine
TRANSFERS = ("path", "object-store")
INSTALL = "pip install 'kdcvg[ray]'"
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Signals whose native (C) handlers the embedded graph server's JVM relies on: HotSpot
# turns some SIGSEGVs into NullPointerExceptions and safepoints. `ray.init` installs its
# own crash handlers for them and `ray.shutdown` resets them to the default, after which
# the JVM in this process dies at its next null check; so they are put back.
_NATIVE_SIGNALS = ("SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGABRT", "SIGTRAP", "SIGUSR2",
                   "SIGQUIT")
_SIGACTION_BYTES = 256  # larger than any platform's `struct sigaction`, kept opaque


@dataclass(frozen=True)
class RaySettings:
    """How a batch runs on Ray.

    Args:
        address: "auto" starts a local Ray runtime for the run (stopped at its end);
            anything else is the address of a running Ray cluster to join
            (`ray://head:10001`, or `head:6379` from a node of the cluster).
        transfer: how reference clips reach workers: "path" (shared storage) or
            "object-store" (Ray's object store).
        num_cpus: CPUs of the local runtime (None: all of this machine's); "auto" only.
        cpus_per_job: CPUs a compose task asks for.
        gpus_per_job: GPUs a diffusers task asks for.
        max_retries: how many times Ray runs a job again when its worker dies.
        poll_s: how often the driver looks for started and finished tasks.
    """

    address: str = LOCAL
    transfer: str = "path"
    num_cpus: int | None = None
    cpus_per_job: float = 1.0
    gpus_per_job: float = 1.0
    max_retries: int = 2
    poll_s: float = 0.25

    def __post_init__(self) -> None:
        if not self.address.strip():
            raise GenerationError("--ray needs 'auto' or a Ray cluster address, got an empty text")
        if self.transfer not in TRANSFERS:
            raise GenerationError(f"--ray-transfer {self.transfer!r} is not one of "
                                  f"{', '.join(TRANSFERS)}")
        if self.num_cpus is not None and (self.address != LOCAL or self.num_cpus < 1):
            raise GenerationError(f"num_cpus {self.num_cpus} applies to a local runtime "
                                  "(--ray auto) only, and must be at least 1")
        if self.max_retries < 0:
            raise GenerationError(f"max_retries must be 0 or more, got {self.max_retries}")

    @property
    def local(self) -> bool:
        return self.address == LOCAL

    def resources(self, backend: str) -> dict[str, float]:
        """What one task of `backend` asks Ray for: CPUs for compose, a GPU for the rest."""
        if backend in CPU_BACKENDS:
            return {"num_cpus": self.cpus_per_job}
        return {"num_cpus": 1.0, "num_gpus": self.gpus_per_job}


def import_ray() -> Any:
    """The `ray` module.

    Raises:
        GenerationError: ray is not installed (the message says how to install it).
    """
    try:
        import ray
    except ImportError as e:
        raise GenerationError(f"--ray needs the optional package 'ray', which is not "
                              f"installed: {INSTALL}") from e
    return ray


def native_signal_actions() -> dict[int, bytes]:
    """The process's C-level signal actions for `_NATIVE_SIGNALS` (opaque bytes; {} where
    libc has no `sigaction`)."""
    import ctypes

    try:
        sigaction = ctypes.CDLL(None, use_errno=True).sigaction
    except (OSError, AttributeError):
        return {}
    actions = {}
    for name in _NATIVE_SIGNALS:
        signum = getattr(signal, name, None)
        if signum is not None:
            buffer = ctypes.create_string_buffer(_SIGACTION_BYTES)
            if sigaction(int(signum), None, buffer) == 0:
                actions[int(signum)] = buffer.raw
    return actions


def _restore_native_signal_actions(actions: dict[int, bytes]) -> None:
    """Put back the C-level signal actions `native_signal_actions` read."""
    import ctypes

    if actions:
        sigaction = ctypes.CDLL(None, use_errno=True).sigaction
        for signum, raw in actions.items():
            sigaction(signum, ctypes.create_string_buffer(raw, _SIGACTION_BYTES), None)


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Refuse a cluster address nothing answers at, before Ray waits minutes for it.

    Raises:
        GenerationError: not `[ray://]host:port`, or no connection within `timeout_s`.
    """
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise GenerationError(f"--ray {address!r} is not 'auto' or a Ray cluster address "
                              "(head:6379, or ray://head:10001)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise GenerationError(f"cannot reach the Ray cluster at {address} ({reason}); is "
                              "`ray start --head` running there?") from e


@contextmanager
def ray_runtime(settings: RaySettings) -> Iterator[Any]:
    """Ray, started (`auto`) or joined for the length of a `with` block, then shut down.

    A local runtime is quiet (no dashboard, worker output not copied to the terminal,
    errors only) and keeps its logs and its workers' temporary files in a temporary
    folder removed at the end. kdcvg's own Ctrl-C/SIGTERM handling stays in place
    (`ray.init` installs its own SIGTERM handler, which is undone here), and so do the
    native crash-signal handlers of an embedded graph server's JVM in this process.

    Raises:
        GenerationError: ray is missing, or the runtime cannot be started or joined
            (a cluster address that does not answer is refused within 5 s).
    """
    ray = import_ray()
    if not settings.local:
        check_reachable(settings.address)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # never phone home from a CLI run
    handlers = {s: signal.getsignal(s) for s in _STOP_SIGNALS}
    native = native_signal_actions()
    temp = tempfile.mkdtemp(prefix="kdcvg-ray-") if settings.local else None
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                               "logging_level": "ERROR"}
    if settings.local:
        # the workers' temporary folders too: a worker killed mid-job leaves its files
        # there, and the whole folder goes when the run ends
        work = Path(temp) / "work"  # type: ignore[arg-type]
        work.mkdir()
        options |= {"address": "local", "num_cpus": settings.num_cpus, "_temp_dir": temp,
                    "runtime_env": {"env_vars": {"TMPDIR": str(work)}}}
    else:
        options |= {"address": settings.address}
    try:
        ray.init(**options)
    except Exception as e:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
        where = "a local Ray runtime" if settings.local else f"the Ray cluster at {settings.address}"
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise GenerationError(f"cannot start or join {where} ({first})") from e
    finally:
        _restore_native_signal_actions(native)
        for signum, handler in handlers.items():
            if handler is not None:
                signal.signal(signum, handler)
    try:
        yield ray
    finally:
        ray.shutdown()
        _restore_native_signal_actions(native)
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)


class AttemptCounter:
    """A Ray actor: each task reports its start here; the driver drains the reports.

    The count per job is the attempt number (Ray runs a task again when its worker
    died), which the manifest records with the node and process of the attempt.
    """

    def __init__(self) -> None:
        self.attempts: dict[str, int] = {}
        self.events: list[dict[str, Any]] = []

    def started(self, job_id: str, host: str, pid: int) -> int:
        self.attempts[job_id] = self.attempts.get(job_id, 0) + 1
        self.events.append({"job": job_id, "attempt": self.attempts[job_id], "host": host,
                            "pid": pid})
        return self.attempts[job_id]

    def drain(self) -> list[dict[str, Any]]:
        events, self.events = self.events, []
        return events


def _localised(prepared: PreparedJob, files: dict[str, Path]) -> PreparedJob:
    """`prepared` with each reference's uri replaced by its local copy in `files`."""
    scenes = tuple(replace(s, references=tuple(
        replace(r, uri=str(files.get(r.uri, r.uri))) for r in s.references))
        for s in prepared.scenes)
    return replace(prepared, scenes=scenes)


def _restored(value: Any, originals: dict[str, str]) -> Any:
    """A sidecar record with every local copy's path put back to the clip's own uri."""
    if isinstance(value, str):
        return originals.get(value, value)
    if isinstance(value, dict):
        return {k: _restored(v, originals) for k, v in value.items()}
    if isinstance(value, list):
        return [_restored(v, originals) for v in value]
    return value


def render_task(prepared: PreparedJob, job_id: str, size: tuple[int, int] | None,
                clip_model: str | None, clips: dict[str, Any], counter: Any) -> dict[str, Any]:
    """The body of a job's Ray task: render into a temporary folder, return the bytes.

    Args:
        prepared: the job with its references (plain data).
        job_id: names the files (`<job_id>.mp4`), as the driver will.
        size: frame size (None: the format's default).
        clip_model: a CLIP folder present on every node, or None.
        clips: clip uri -> object reference of its bytes (object-store transfer), or {}.
        counter: the `AttemptCounter` actor.

    Returns:
        {"record", "video", "poster"} or, for a job that cannot be made, {"error": line}.
    """
    import ray

    # not waited for: a task blocked in ray.get lends its CPU to another task
    counter.started.remote(job_id, socket.gethostname(), os.getpid())
    with tempfile.TemporaryDirectory(prefix="kdcvg-job-") as tmp:
        folder = Path(tmp)
        originals: dict[str, str] = {}
        if clips:
            local: dict[str, Path] = {}
            for i, (uri, data) in enumerate(zip(clips, ray.get(list(clips.values())),
                                                strict=True)):
                local[uri] = folder / f"clip-{i}{Path(uri).suffix}"
                local[uri].write_bytes(data)
                originals[str(local[uri])] = uri
            prepared = _localised(prepared, local)
        out = folder / f"{job_id}.mp4"
        try:
            record = render_job(prepared, out, size=size, clip_model=clip_model)
        except KdcvgError as e:
            return {"error": str(e)}
        paths = OutputPaths.for_video(out)
        return {"record": _restored(record, originals), "video": paths.video.read_bytes(),
                "poster": paths.poster.read_bytes()}


def _clip_refs(ray: Any, prepared: PreparedJob, cache: dict[str, Any]) -> dict[str, Any]:
    """Object references of the clip files a job reads, each file put once per run."""
    refs: dict[str, Any] = {}
    for scene in prepared.scenes:
        for ref in scene.references:
            if ref.uri in refs or not os.path.isfile(ref.uri):
                continue  # a missing file fails in the renderer with its own message
            if ref.uri not in cache:
                try:
                    cache[ref.uri] = ray.put(Path(ref.uri).read_bytes())
                except OSError as e:
                    raise GenerationError(f"reference clip {ref.clip_id!r}: cannot read "
                                          f"{ref.uri} ({e.strerror})") from e
            refs[ref.uri] = cache[ref.uri]
    return refs


def _start_counter(ray: Any) -> Any:
    """The `AttemptCounter` actor, checked to answer: the workers can import kdcvg.

    Raises:
        GenerationError: the workers cannot run kdcvg's code (not installed there).
    """
    counter = ray.remote(num_cpus=0)(AttemptCounter).remote()
    try:
        ray.get(counter.drain.remote())
    except ray.exceptions.RayError as e:
        lines = [line.strip() for line in str(e).splitlines() if "Error:" in line]
        raise GenerationError(f"Ray workers cannot run kdcvg ({lines[-1] if lines else e}); "
                              "install the same kdcvg, with its extra ray, on every node") from e
    return counter


def run_on_ray(
    todo: list[tuple[BatchJob, PreparedJob]],
    folder: Path,
    settings: RaySettings,
    clip_model: str | None,
    finish: Callable[..., bool],
    failed: Callable[[BatchJob, KdcvgError], bool],
    running: Callable[..., bool],
) -> None:
    """Run prepared jobs as Ray tasks and write their ads into `folder` as they finish.

    Args:
        todo: the jobs and their prepared data, in job-file order.
        folder: the output folder.
        settings: where and how to run.
        clip_model: a CLIP folder present on every node, or None.
        finish: records a finished job (`run_batch`'s); False: stop the batch.
        failed: records a failed job; False: stop the batch.
        running: records an attempt that started (job id, detail, manifest fields).

    When the batch stops (disk full, manifest unwritable, Ctrl-C), the tasks not
    finished are cancelled; their jobs stay pending in the manifest.
    """
    with ray_runtime(settings) as ray:
        gpus = float(ray.cluster_resources().get("GPU", 0))
        counter = _start_counter(ray)
        task = ray.remote(render_task)
        cache: dict[str, Any] = {}
        pending: dict[Any, BatchJob] = {}
        try:
            for job, prepared in todo:
                asks = settings.resources(job.job.backend)
                if asks.get("num_gpus", 0) > gpus:
                    if not failed(job, GenerationError(
                            f"backend {job.job.backend!r} asks Ray for {asks['num_gpus']:g} GPU "
                            f"per job, but the Ray cluster has {gpus:g}; join a cluster with "
                            "GPUs, or run it without --ray")):
                        return
                    continue
                clips = _clip_refs(ray, prepared, cache) if settings.transfer == "object-store" else {}
                ref = task.options(max_retries=settings.max_retries, **asks).remote(
                    prepared, job.id, job.size, clip_model, clips, counter)
                pending[ref] = job
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=settings.poll_s)
                live = {j.id for j in pending.values()}
                for event in ray.get(counter.drain.remote()):
                    if event["job"] not in live:  # reported after its result came back
                        continue
                    detail = f"attempt {event['attempt']} on {event['host']} (pid {event['pid']})"
                    if not running(event["job"], detail, attempt=event["attempt"],
                                   worker={"host": event["host"], "pid": event["pid"]}):
                        return
                for ref in ready:
                    if not _collect(ray, ref, pending.pop(ref), folder, settings, finish, failed):
                        return
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)


def _collect(ray: Any, ref: Any, job: BatchJob, folder: Path, settings: RaySettings,
             finish: Callable[..., bool], failed: Callable[[BatchJob, KdcvgError], bool]) -> bool:
    """Write a finished task's ad (or record why it failed); False: stop the batch."""
    try:
        result = ray.get(ref)
    except ray.exceptions.RayTaskError as e:  # a bug in the task, not a dead worker
        cause = e.cause if e.cause is not None else e
        return failed(job, GenerationError(f"worker failed ({type(cause).__name__}: "
                                           f"{(str(cause).splitlines() or [''])[0]})"))
    except ray.exceptions.RayError as e:  # the worker died on every attempt
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return failed(job, GenerationError(f"the worker died {settings.max_retries + 1} times "
                                           f"({type(e).__name__}: {first})"))
    if "error" in result:
        return failed(job, GenerationError(result["error"]))
    record = result["record"]
    try:
        write_ad(OutputPaths.for_video(job.video(folder)), result["video"], result["poster"],
                 record)
    except KdcvgError as e:
        return failed(job, e)
    fields = result_fields(record)
    return finish(job.id, "done", f"{fields['seconds']:.1f} s", **fields)
