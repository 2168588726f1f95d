"""One ad, end to end: job -> references -> generator -> files + metrics.

Split in two so that batch workers never touch the graph: `prepare_job` does every
graph read (product, selling points, references) in the process that holds the
store and returns plain data; `render_job` turns that into files anywhere.
`generate ad` and `generate batch` both go through these two functions.

Example:
    >>> with store_from_options(None, None) as store:  # doctest: +SKIP
    ...     job = AdJob("p1", ("sp-p1-1",), format="9:16", duration_s=6)
    ...     sidecar = generate_ad(store, job, Path("out/ad.mp4"))
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdcvg.errors import GenerationError
from kdcvg.generation import outputs
from kdcvg.generation.backends import BACKENDS, get_generator
from kdcvg.generation.base import DURATIONS_S, FORMATS, AdJob, ProgressCallback
from kdcvg.generation.fallback import FallbackReferences
from kdcvg.generation.references import CuratedReferences, ReferenceSource, load_product
from kdcvg.retrieval.scenes import ProductInfo, Scene

if TYPE_CHECKING:
    from kdcvg.graph.store import GraphReader

DEFAULT_K = 3  # references kept per scene (the first is rendered, all are recorded)
MAX_SCENES = 6


@dataclass(frozen=True)
class PreparedJob:
    """Everything a renderer needs, as plain picklable data (no store, no driver).

    Args:
        job: the request.
        product: the product read from the graph.
        scenes: one per selling point, references best first.
        source: the reference source's description (for provenance).
        retrieve_s: seconds the graph reads took.
    """

    job: AdJob
    product: ProductInfo
    scenes: tuple[Scene, ...]
    source: dict[str, Any] = field(default_factory=dict)
    retrieve_s: float = 0.0


def parse_size(text: str) -> tuple[int, int]:
    """'1080x1920' -> (1080, 1920).

    Raises:
        GenerationError: not WIDTHxHEIGHT with even positive numbers.
    """
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as e:
        raise GenerationError(f"size {text!r} is not WIDTHxHEIGHT (for example 1080x1920)") from e
    if w < 64 or h < 64 or w % 2 or h % 2 or w > 4096 or h > 4096:
        raise GenerationError(f"size {text!r}: width and height must be even, 64 to 4096")
    return w, h


def output_size(job: AdJob, size: tuple[int, int] | None = None) -> tuple[int, int]:
    """The frame size of a job: the format's default, or `size` when it has the format's aspect.

    Raises:
        GenerationError: `size` does not have the aspect of the job's format.
    """
    default = FORMATS[job.format]
    if size is None:
        return default
    if abs(size[0] / size[1] - default[0] / default[1]) > 0.01:
        raise GenerationError(
            f"size {size[0]}x{size[1]} does not have the {job.format} aspect of format "
            f"{job.format!r} (for example {default[0]}x{default[1]})"
        )
    return size


def check_job(job: AdJob) -> None:
    """Reject a job whose fields are out of range, before any graph read or rendering.

    Raises:
        GenerationError: naming the field, the value and what is allowed.
    """
    if not job.product_id:
        raise GenerationError("job has no product id")
    if not job.selling_points:
        raise GenerationError("job has no selling point: give at least one id or text")
    if len(job.selling_points) > MAX_SCENES:
        raise GenerationError(
            f"job has {len(job.selling_points)} selling points; at most {MAX_SCENES} fit one ad"
        )
    if any(not str(s).strip() for s in job.selling_points):
        raise GenerationError("job has an empty selling point")
    if job.format not in FORMATS:
        raise GenerationError(f"format {job.format!r} is not one of {', '.join(FORMATS)}")
    if job.duration_s not in DURATIONS_S:
        raise GenerationError(
            f"duration {job.duration_s} s is not one of {', '.join(map(str, DURATIONS_S))}"
        )
    if job.backend not in BACKENDS:
        raise GenerationError(f"unknown backend {job.backend!r}; known backends: "
                              f"{', '.join(BACKENDS)}")
    if not 0 <= job.seed < 2**32:
        raise GenerationError(f"seed {job.seed} is outside 0 .. 2**32-1")


def prepare_job(
    store: GraphReader, job: AdJob, source: ReferenceSource | None = None, k: int = DEFAULT_K,
    strict: bool = False,
) -> PreparedJob:
    """Read the product and retrieve each selling point's references.

    A selling point with no reference falls back to the product's photos, then to a
    designed text scene (`FallbackReferences`), unless `strict`; a source that is
    already a `FallbackReferences` keeps its own `strict`.

    Raises:
        GenerationError: bad job fields, unknown product, an unknown selling point; in
            strict mode, a selling point with nothing retrieved (`NoReferenceError`).
    """
    check_job(job)
    started = time.perf_counter()
    if source is None:
        from kdcvg.graph.embeddings import default_embedder

        source = CuratedReferences(store, embedder_factory=default_embedder)
    if job.backend != "compose" and "home" not in job.options:
        # backends that cache (MR-LoRAs) keep their files in the store folder
        job = replace(job, options={**job.options, "home": str(store.home)})
    product = load_product(store, job.product_id)
    if not isinstance(source, FallbackReferences):
        source = FallbackReferences(source, store, strict)
    source = source.for_ad()  # each photo of the product once per ad
    scenes = tuple(source.scene(product, str(sp).strip(), k) for sp in job.selling_points)
    return PreparedJob(job, product, scenes, source.describe(), time.perf_counter() - started)


def scene_records(scenes: tuple[Scene, ...]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The sidecar's scenes (references, suggested motion, fallback) and its fallbacks list."""
    rows = outputs.scenes_record(scenes)
    fallbacks = []
    for i, (row, scene) in enumerate(zip(rows, scenes, strict=True)):
        row["suggested_motion"] = [list(p) for p in scene.suggested]
        row["fallback"] = scene.fallback
        if scene.fallback:
            row["fallback_reason"] = scene.fallback_reason
            row["palette"] = [list(c) for c in scene.palette]
            fallbacks.append({"index": i, "selling_point_id": scene.selling_point_id,
                              "text": scene.text, "fallback": scene.fallback,
                              "reason": scene.fallback_reason})
    return rows, fallbacks


def render_job(
    prepared: PreparedJob,
    out: str | Path,
    *,
    size: tuple[int, int] | None = None,
    clip_model: str | Path | None = None,
    progress: ProgressCallback | None = None,
    measure: bool = True,
) -> dict[str, Any]:
    """Render a prepared job to `out` (.mp4) plus poster and sidecar; returns the sidecar.

    Nothing half-written remains on failure: files written so far are removed.

    Raises:
        GenerationError: unwritable output, a backend failure, a missing reference file.
    """
    paths = outputs.check_output(out)
    job = prepared.job
    frame_size = output_size(job, size)
    started = time.perf_counter()
    replaced = False
    try:
        generator = get_generator(job.backend)
        generated = generator.generate(job, prepared.product, prepared.scenes, frame_size, progress)
        written = outputs.encode(generated, paths, frame_size)
        replaced = True
        render_s = time.perf_counter() - started
        t = time.perf_counter()
        metrics: dict[str, Any] = {"computed": False}
        if measure:
            from kdcvg.generation.metrics import measure as measure_video

            metrics = measure_video(paths.video, prepared.scenes, generated.metadata,
                                    clip_model=clip_model)
        metrics_s = time.perf_counter() - t
        scenes, fallbacks = scene_records(prepared.scenes)
        record = {
            "schema": outputs.SIDECAR_SCHEMA,
            "video": paths.video.name,
            "poster": paths.poster.name,
            "job": {"product": job.product_id, "selling_points": list(job.selling_points),
                    "format": job.format, "duration_s": job.duration_s, "seed": job.seed,
                    "backend": job.backend, "options": dict(job.options)},
            "product": prepared.product.__dict__,
            "output": written | {"duration_s": round(written["frames"] / written["fps"], 3)},
            "scenes": scenes,
            "fallbacks": fallbacks,
            "references": prepared.source,
            "backend": {"name": job.backend, "metadata": generated.metadata},
            "metrics": metrics,
            "versions": outputs.package_versions(),
            "timings": {"retrieve_s": round(prepared.retrieve_s, 3),
                        "render_encode_s": round(render_s, 3), "metrics_s": round(metrics_s, 3),
                        "total_s": round(prepared.retrieve_s + time.perf_counter() - started, 3)},
            "created_at": outputs.now_iso(),
        }
        outputs.write_sidecar(paths.sidecar, record)
    except BaseException:
        # files of an earlier ad at this name survive a failure before the MP4 was replaced
        outputs.remove_partial(paths, finished=replaced)
        raise
    return record


def generate_ad(
    store: GraphReader,
    job: AdJob,
    out: str | Path,
    *,
    source: ReferenceSource | None = None,
    size: tuple[int, int] | None = None,
    clip_model: str | Path | None = None,
    progress: ProgressCallback | None = None,
    on_prepared: Callable[[PreparedJob], None] | None = None,
    strict: bool = False,
) -> dict[str, Any]:
    """Prepare and render one ad; see `prepare_job` and `render_job`."""
    check_job(job)
    outputs.check_output(out)
    output_size(job, size)
    prepared = prepare_job(store, job, source, strict=strict)
    if on_prepared is not None:
        on_prepared(prepared)
    return render_job(prepared, out, size=size, clip_model=clip_model, progress=progress)


def check_ad(job: AdJob, out: str | Path, size: str | None) -> tuple[int, int] | None:
    """Every check one ad allows without the graph: job fields, output path, size, options.

    `kdcvg generate ad` runs it before the graph server starts; `kdcvg serve` before it
    queues the job.

    Returns:
        The frame size (None: the format's default).

    Raises:
        GenerationError: a bad job field, output path, size or backend option.
    """
    check_job(job)
    outputs.check_output(out)
    frame_size = parse_size(size) if size else None
    output_size(job, frame_size)
    if job.backend == "compose":
        from kdcvg.generation.compose import ComposeSettings

        ComposeSettings.from_options(dict(job.options))
    elif job.backend == "diffusers":
        from kdcvg.generation.diffusion.backend import parse_options as parse_mkr_options

        parse_mkr_options(job.options)
    return frame_size
