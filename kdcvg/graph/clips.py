"""Clip ingest: probe, keyframe sheet, motion descriptor, pattern links, graph write.

Videos and stills (product photos: jpg, png, webp) alike: a still becomes a Clip of
`kind: "still"` with the same ids, sidecars, manifests, product link and thumbnail,
and no motion descriptor or motion links (the compose renderer gives it a camera
move). A manifest row may name a `url` instead of a `file`: it is downloaded once
into the store's `downloads/` (`kdcvg.graph.fetch`, bounded and checked).

Analysis (`analyse_file`) is pure computation on one file and runs in worker
processes (`spawn`: the embedded JVM lives only in the parent). The parent
checks content hashes, builds an `IngestBatch` per file and writes it with
`write_batch`, so each file goes in completely or not at all.

Sidecars: `<video>.json` beside the file (e.g. `pour.mp4.json`), or rows of a
CSV manifest with columns `file,id,caption,product,selling_points,tags` and
optionally `url` (`selling_points`: `sp-1:0.9;sp-2`, weight 1.0 when left out;
`tags`: `a;b`).
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kdcvg.errors import KdcvgError, VideoError
from kdcvg.jsonl import loads
from kdcvg.media.motion import (
    DEFAULT_SETTINGS,
    DEFAULT_THRESHOLDS,
    DETECTABLE_PATTERNS,
    FlowSettings,
    analysis_rate,
    classify,
    describe_frames,
    named_fields,
)
from kdcvg.validation import (
    CLIP_NUMBER_BOUNDS,
    NAME_MAX_CHARS,
    TEXT_MAX_CHARS,
    InputError,
    check_id,
    check_number,
    check_text,
    safe_child,
    shown,
)

if TYPE_CHECKING:
    from kdcvg.graph.store import Store

KEYFRAMES = 4
FRAME_REPORT_EVERY = 8  # analysed frames between live frame reports
ClipProgress = Callable[[str, int], None]  # (file done, frames analysed in it)
FrameProgress = Callable[[str, int], None]  # (file being analysed, frames since the last call)

# set in each pool worker by `_init_worker`: where live frame counts go (spawn-safe queue)
_FRAME_QUEUE: Any = None


class ClipError(KdcvgError):
    """A video file or its sidecar cannot be ingested."""


@dataclass(frozen=True)
class Sidecar:
    """What a curator says about a file: all optional."""

    id: str | None = None
    caption: str | None = None
    product: str | None = None
    selling_points: tuple[tuple[str, float], ...] = ()
    tags: tuple[str, ...] = ()
    url: str | None = None  # a manifest row's download


@dataclass
class ClipAnalysis:
    """One analysed file: the Clip row and its automatic motion links."""

    path: str
    row: dict[str, Any]
    patterns: list[tuple[str, float]]
    frames: int
    sidecar: Sidecar


@dataclass
class ClipIngestSummary:
    """What `ingest_clips` did: ids written, ids unchanged, (path, reason) failures."""

    ingested: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was ignored, and why
    downloaded: list[str] = field(default_factory=list)  # URLs fetched in this run


def slug(name: str) -> str:
    """Default clip id of a file: its name without suffixes, lower-case, other runs -> "-"."""
    stem = Path(name).name.split(".")[0]
    text = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
    return text or "clip"


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Video and image files under `paths` (files as given, folders searched recursively),
    and failures."""
    from kdcvg.media.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    found: list[Path] = []
    failed: list[tuple[str, str]] = []
    for p in paths:
        if p.is_dir():
            try:
                found += sorted(
                    f for f in p.rglob("*")
                    if f.suffix.lower() in VIDEO_SUFFIXES + IMAGE_SUFFIXES and f.is_file()
                )
            except OSError as e:
                failed.append((str(p), f"folder cannot be read ({e.strerror})"))
        elif p.exists():
            found.append(p)
        else:
            failed.append((str(p), "no such file or folder"))
    return found, failed


SIDECAR_FIELDS = ("id", "caption", "product", "selling_points", "tags")
MAX_TAGS = 20
MAX_SELLING_POINTS = 50


def _weight(value: Any, where: str, sp: str) -> float:
    try:
        w = check_number(f"selling point {sp} weight", value)
    except InputError as e:
        raise ClipError(f"{where}: {e}") from e
    if not 0.0 < w <= 1.0:
        raise ClipError(f"{where}: selling point weight must be in (0, 1], got {w}")
    return float(w)


def _parse_links(text: str, where: str) -> tuple[tuple[str, float], ...]:
    links = []
    for part in filter(None, (s.strip() for s in text.split(";"))):
        sp, _, weight = part.partition(":")
        sp = _checked(check_id, where, "selling_points", sp.strip())
        try:
            w = float(weight) if weight else 1.0
        except ValueError as e:
            raise ClipError(f"{where}: selling point weight {weight!r} is not a number") from e
        links.append((sp, _weight(w, where, sp)))
    return tuple(links)


def _checked(check: Callable[..., Any], where: str, *args: Any) -> Any:
    """`check(*args)` with its `InputError` as a `ClipError` at `where`."""
    try:
        return check(*args)
    except InputError as e:
        raise ClipError(f"{where}: {e}") from e


def _sidecar(where: str, clip_id: Any, caption: Any, product: Any,
             links: tuple[tuple[str, float], ...], tags: Any) -> Sidecar:
    """A checked sidecar: the id rule for ids, the text rules for caption and tags."""
    if not isinstance(tags, list | tuple) or len(tags) > MAX_TAGS:
        raise ClipError(f"{where}: tags must be a list of at most {MAX_TAGS} texts, got "
                        f"{shown(tags)}")
    if len(links) > MAX_SELLING_POINTS:
        raise ClipError(f"{where}: selling_points has {len(links)} entries, the limit is "
                        f"{MAX_SELLING_POINTS}")
    return Sidecar(
        id=None if clip_id is None else _checked(check_id, where, "id", clip_id),
        caption=None if caption is None else _checked(check_text, where, "caption", caption),
        product=None if product is None else _checked(check_id, where, "product", product),
        selling_points=links,
        tags=tuple(_checked(check_text, where, f"tags: item {i}", t, NAME_MAX_CHARS)
                   for i, t in enumerate(tags, start=1)),
    )


def read_sidecar(video: Path) -> Sidecar:
    """The `<video>.json` beside a file, or an empty sidecar when there is none.

    Ids (`id`, `product`, selling points) follow the id rule of `kdcvg.validation`;
    unknown fields are refused.

    Raises:
        ClipError: the JSON is malformed or a field is unknown, of the wrong type or
            breaks its rule (the message names the sidecar and the field).
    """
    path = video.with_name(video.name + ".json")
    if not path.exists():
        return Sidecar()
    try:
        data = loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ClipError(f"{path}: sidecar is not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise ClipError(f"{path}: sidecar must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(SIDECAR_FIELDS))
    if unknown:
        raise ClipError(f"{path}: {unknown[0]}: unknown sidecar field (expected "
                        f"{', '.join(SIDECAR_FIELDS)})")
    sps = data.get("selling_points", [])
    if not isinstance(sps, list):
        raise ClipError(f"{path}: selling_points must be a list of ids or {{id, weight}} objects")
    links = []
    for item in sps:
        if isinstance(item, str):
            links.append((_checked(check_id, str(path), "selling_points", item), 1.0))
        elif isinstance(item, dict) and "id" in item and set(item) <= {"id", "weight"}:
            sp = _checked(check_id, str(path), "selling_points: id", item["id"])
            links.append((sp, _weight(item.get("weight", 1.0), str(path), sp)))
        else:
            raise ClipError(
                f"{path}: selling_points entry {shown(item)} is neither an id nor {{id, weight}}"
            )
    return _sidecar(str(path), data.get("id"), data.get("caption"), data.get("product"),
                    tuple(links), data.get("tags", []))


def read_manifest(path: Path) -> dict[str, Sidecar]:
    """CSV manifest rows by resolved file path (relative paths are relative to the manifest).

    Every row is checked before any file is analysed, so a bad row writes nothing.

    Raises:
        ClipError: unreadable file, missing `file` column, or a bad id, text or weight
            (line named).
    """
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ClipError(f"{path}: manifest cannot be read ({e})") from e
    if rows and "file" not in rows[0][1] and "url" not in rows[0][1]:
        raise ClipError(f"{path}: manifest needs a 'file' or 'url' column, found "
                        f"{', '.join(rows[0][1])}")
    out = {}
    for n, row in rows:
        where = f"{path}:{n}"
        if None in row:
            raise ClipError(f"{where}: more cells than header columns")
        sidecar = _sidecar(
            where, row.get("id") or None, row.get("caption") or None,
            row.get("product") or None, _parse_links(row.get("selling_points") or "", where),
            [t for t in (row.get("tags") or "").split(";") if t],
        )
        if row.get("url"):
            url = _checked(check_text, where, "url", row["url"], TEXT_MAX_CHARS)
            out[f"url:{url}"] = replace(sidecar, url=url)
            continue
        name = _checked(check_text, where, "file", row.get("file"), TEXT_MAX_CHARS)
        out[str((path.parent / name).resolve())] = sidecar
    return out


def content_hash(path: Path) -> str:
    """sha256 of the file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _keep_keyframes(
    frames: Iterator[np.ndarray], expected: int, out: list[np.ndarray]
) -> Iterator[np.ndarray]:
    """Pass frames through, keeping about `KEYFRAMES` evenly spaced ones in `out`."""
    wanted = {int(round(i * max(0, expected - 1) / (KEYFRAMES - 1))) for i in range(KEYFRAMES)}
    last = None
    for i, frame in enumerate(frames):
        if i in wanted:
            out.append(frame)
        last = frame
        yield frame
    if last is not None and len(out) < KEYFRAMES and (not out or out[-1] is not last):
        out.append(last)


def analyse_file(
    path: str,
    sidecar: Sidecar,
    thumbs: str,
    settings: FlowSettings = DEFAULT_SETTINGS,
    on_frames: FrameProgress | None = None,
) -> ClipAnalysis:
    """Probe, describe and classify one file; write its keyframe sheet. Runs in a worker.

    Args:
        path: the video file.
        sidecar: what a curator says about it.
        thumbs: folder of keyframe sheets.
        settings: flow settings.
        on_frames: called as `(path, n)` every `FRAME_REPORT_EVERY` analysed frames and
            once at the end with the rest (live progress).

    Raises:
        VideoError: unreadable, truncated, empty or frameless file (message names the file).
    """
    from kdcvg.media.video import IMAGE_SUFFIXES, contact_sheet, iter_frames, probe, write_jpeg

    p = Path(path)
    if p.suffix.lower() in IMAGE_SUFFIXES:
        return analyse_still(p, sidecar, thumbs, on_frames)
    info = probe(p)
    for name, (kind, lo, hi) in CLIP_NUMBER_BOUNDS.items():  # a crafted header says NaN fps
        try:
            check_number(name, getattr(info, name), kind, lo, hi)
        except InputError as e:
            raise VideoError(f"{p}: the file's {e}") from e
    rate = analysis_rate(info.duration_s, info.fps, settings)
    expected = max(2, int(info.duration_s * rate))
    keys: list[np.ndarray] = []
    count = reported = 0

    def tick() -> None:
        nonlocal count, reported
        count += 1
        if on_frames is not None and count - reported >= FRAME_REPORT_EVERY:
            on_frames(path, count - reported)
            reported = count

    frames = _keep_keyframes(
        iter_frames(p, sample_fps=rate, max_side=settings.max_side), expected, keys
    )
    try:
        descriptor = describe_frames(frames, rate, settings=settings, on_frame=tick)
    except VideoError as e:
        if "at least 2 frames" in str(e):
            raise VideoError(f"{p}: fewer than 2 decodable frames, cannot measure motion") from e
        raise
    finally:
        if on_frames is not None and count > reported:
            on_frames(path, count - reported)
    if not np.all(np.isfinite(descriptor)):  # never store NaN: it poisons SAR's training
        raise VideoError(f"{p}: the motion descriptor is not finite; the file's frames "
                         "cannot be measured")
    clip_id = sidecar.id or slug(p.name)
    Path(thumbs).mkdir(parents=True, exist_ok=True)
    thumb = safe_child(thumbs, f"{clip_id}.jpg")
    write_jpeg(thumb, contact_sheet(keys[:KEYFRAMES], columns=KEYFRAMES, tile_width=128))
    row: dict[str, Any] = {
        "id": clip_id,
        "uri": str(p.resolve()),
        "caption": sidecar.caption or p.stem.replace("_", " ").replace("-", " "),
        "duration_s": round(info.duration_s, 3),
        "fps": round(info.fps, 3),
        "width": info.width,
        "height": info.height,
        "motion": [round(float(x), 6) for x in descriptor],
        "content_hash": content_hash(p),
        "thumb": str(thumb.resolve()),
        **named_fields(descriptor),
    }
    row |= _sidecar_fields(sidecar)
    return ClipAnalysis(str(p), row, classify(descriptor, DEFAULT_THRESHOLDS), count, sidecar)


def _sidecar_fields(sidecar: Sidecar) -> dict[str, Any]:
    """The clip-row fields a sidecar gives when it has them: its product and tags."""
    fields: dict[str, Any] = {}
    if sidecar.product:
        fields["product"] = sidecar.product
    if sidecar.tags:
        fields["tags"] = list(sidecar.tags)
    return fields


def analyse_still(
    p: Path, sidecar: Sidecar, thumbs: str, on_frames: FrameProgress | None = None
) -> ClipAnalysis:
    """Decode a still fully and write its thumbnail: a Clip of kind "still", no motion.

    Raises:
        VideoError: unreadable, truncated or oversized image (message names the file).
    """
    from kdcvg.media.video import read_image, write_jpeg

    image = read_image(p)
    height, width = image.shape[:2]
    clip_id = sidecar.id or slug(p.name)
    Path(thumbs).mkdir(parents=True, exist_ok=True)
    thumb = safe_child(thumbs, f"{clip_id}.jpg")
    small = read_image(p, max_side=256)
    write_jpeg(thumb, small)
    if on_frames is not None:
        on_frames(str(p), 1)
    row: dict[str, Any] = {
        "id": clip_id,
        "uri": str(p.resolve()),
        "caption": sidecar.caption or p.stem.replace("_", " ").replace("-", " "),
        "kind": "still",
        "width": int(width),
        "height": int(height),
        "content_hash": content_hash(p),
        "thumb": str(thumb.resolve()),
    }
    row |= _sidecar_fields(sidecar)
    return ClipAnalysis(str(p), row, [], 1, sidecar)


def _init_worker(queue: Any) -> None:
    """Pool initializer: a worker reports live frame counts into the parent's queue."""
    global _FRAME_QUEUE
    _FRAME_QUEUE = queue


def _to_queue(path: str, frames: int) -> None:
    _FRAME_QUEUE.put((path, frames))


def _analyse_safely(
    path: str, sidecar: Sidecar, thumbs: str, on_frames: FrameProgress | None = None
) -> ClipAnalysis | str:
    """`analyse_file` for a pool: an expected failure comes back as its one-line reason."""
    if on_frames is None and _FRAME_QUEUE is not None:
        on_frames = _to_queue
    try:
        return analyse_file(path, sidecar, thumbs, on_frames=on_frames)
    except KdcvgError as e:
        return str(e).splitlines()[0]
    except (OSError, ValueError, RuntimeError) as e:  # the decoder's own, rarely
        return f"{path}: analysis failed ({type(e).__name__}: {e})"


def _drain(queue: Any, on_frames: FrameProgress | None) -> None:
    import queue as queue_module

    while True:
        try:
            path, frames = queue.get_nowait()
        except queue_module.Empty:
            return
        if on_frames is not None:
            on_frames(path, frames)


def _analyses(
    jobs: list[tuple[str, Sidecar]],
    thumbs: str,
    workers: int,
    on_frames: FrameProgress | None = None,
) -> Iterator[tuple[str, ClipAnalysis | str]]:
    """Analysis results as files finish: in this process, or in a `spawn` pool.

    Pool workers send live frame counts through a queue handed over at their start
    (the only way a spawn child may share one); the parent drains it while it waits.
    """
    if workers <= 1:
        for path, sidecar in jobs:
            yield path, _analyse_safely(path, sidecar, thumbs, on_frames)
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(queue,)
    ) as pool:
        pending = {
            pool.submit(_analyse_safely, path, sidecar, thumbs): path for path, sidecar in jobs
        }
        try:
            while pending:
                done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                _drain(queue, on_frames)
                for fut in done:
                    yield pending.pop(fut), fut.result()
        except BaseException:  # Ctrl-C, SIGTERM or a failure: drop the files not started
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    _drain(queue, on_frames)
    queue.close()


def _batch_for(analysis: ClipAnalysis, curated: set[str], missing_patterns: set[str]) -> Any:
    from kdcvg.graph.motion_patterns import MOTION_PATTERNS
    from kdcvg.graph.records import IngestBatch

    batch = IngestBatch()
    row = analysis.row
    batch.add_node("Clip", dict(row), where=analysis.path)
    vocab = {m.name: m for m in MOTION_PATTERNS}
    for name, score in analysis.patterns:
        if name in missing_patterns:
            batch.add_node("MotionPattern", vocab[name].row())
        if name not in curated:  # a curator's link beats the classifier's
            batch.add_link(
                "HAS_MOTION",
                row["id"],
                name,
                {"score": score, "source": "auto"},
                where=analysis.path,
            )
    if analysis.sidecar.product:
        batch.add_link("SHOWS", row["id"], analysis.sidecar.product, where=analysis.path)
    for sp, weight in analysis.sidecar.selling_points:
        batch.add_link(
            "EXPRESSES", row["id"], sp, {"weight": weight, "source": "curated"}, where=analysis.path
        )
    return batch


def ingest_clips(
    store: Store,
    paths: Iterable[Path],
    home: Path,
    embedder: Any,
    *,
    manifest: Path | None = None,
    workers: int = 1,
    progress: ClipProgress | None = None,
    on_frames: FrameProgress | None = None,
    sidecars_on: bool = True,
    ignore_missing: bool = False,
    fetch_limits: Any = None,
) -> ClipIngestSummary:
    """Analyse video and image files and write them to the graph, one all-or-nothing
    batch per file.

    Args:
        store: an open `Store`.
        paths: video and image files and folders.
        home: the store folder; keyframe sheets go to `home / "thumbs"`, downloads to
            `home / "downloads"`.
        embedder: embeds captions (and new motion-pattern descriptions).
        manifest: optional CSV manifest (see the module docstring).
        workers: analysis processes (1: in this process).
        progress: called with (path, frames analysed) as each file finishes.
        on_frames: called with (path, frames) while files are analysed (live counts).
        sidecars_on: False ignores sidecars and the manifest's fields (ids from file
            names, no product or selling-point links); manifest URLs are still fetched.
        ignore_missing: a product or selling point a sidecar names that does not exist is
            left out (said in `notes`) instead of failing the file.
        fetch_limits: `kdcvg.graph.fetch.FetchLimits` for manifest URLs (None: defaults).

    Returns:
        Ids written, ids unchanged (same content hash), and (path, reason) failures;
        a failed file writes nothing. A changed file loses the automatic motion links
        its new analysis no longer earns; curated links are never touched.
    """
    from kdcvg.graph.ingest import existing_nodes, write_batch

    if workers < 1:
        raise ClipError(f"--workers must be at least 1, got {workers}")
    summary = ClipIngestSummary()
    files, summary.failed = discover(paths)
    sidecars = read_manifest(manifest) if manifest is not None else {}
    jobs: list[tuple[str, Sidecar]] = []
    for sc in sidecars.values():
        if sc.url is None:
            continue
        from kdcvg.graph.fetch import DEFAULT_LIMITS, FetchError, fetch

        try:
            local, new = fetch(sc.url, home / "downloads", fetch_limits or DEFAULT_LIMITS)
        except FetchError as e:
            summary.failed.append((sc.url, str(e)))
            continue
        if new:
            summary.downloaded.append(sc.url)
        jobs.append((str(local), sc if sidecars_on else Sidecar()))
    for f in files:
        try:
            if not sidecars_on:
                jobs.append((str(f), Sidecar()))
                continue
            jobs.append((str(f), sidecars.get(str(f.resolve())) or read_sidecar(f)))
        except ClipError as e:
            summary.failed.append((str(f), str(e)))
    products = {sc.product for _, sc in jobs if sc.product}
    known_products = set(existing_nodes(store, "Product", sorted(products))) if products else set()
    selling = {sp for _, sc in jobs for sp, _ in sc.selling_points}
    known_sps = set(existing_nodes(store, "SellingPoint", sorted(selling))) if selling else set()
    ready = []
    for path, sc in jobs:
        if ignore_missing:
            gone = [sp for sp, _ in sc.selling_points if sp not in known_sps]
            if sc.product and sc.product not in known_products:
                summary.notes.append(f"{path}: product {sc.product!r} does not exist; "
                                     "ingested without its product link")
                sc = replace(sc, product=None)
            if gone:
                summary.notes.append(f"{path}: selling point {gone[0]!r}"
                                     f"{f' and {len(gone) - 1} more' if len(gone) > 1 else ''} "
                                     "does not exist; ingested without those links")
                sc = replace(sc, selling_points=tuple(
                    (sp, w) for sp, w in sc.selling_points if sp in known_sps))
            ready.append((path, sc))
        elif sc.product and sc.product not in known_products:
            summary.failed.append(
                (
                    path,
                    f"{path}: sidecar names product {sc.product!r}, which "
                    "does not exist; ingest the product first",
                )
            )
        elif missing := [sp for sp, _ in sc.selling_points if sp not in known_sps]:
            summary.failed.append(
                (
                    path,
                    f"{path}: sidecar names selling point {missing[0]!r}, "
                    "which does not exist; ingest it first",
                )
            )
        else:
            ready.append((path, sc))
    missing_patterns = set(DETECTABLE_PATTERNS) - set(
        existing_nodes(store, "MotionPattern", list(DETECTABLE_PATTERNS))
    )
    thumbs = str(home / "thumbs")
    for path, result in _analyses(ready, thumbs, workers, on_frames):
        if isinstance(result, str):
            summary.failed.append((path, result))
            if progress:
                progress(path, 0)
            continue
        clip_id = result.row["id"]
        old = store.query("clip_hashes", ids=[clip_id])
        if old and old[0]["content_hash"] == result.row["content_hash"]:
            summary.unchanged.append(clip_id)
        else:
            curated = {r["pattern"] for r in store.query("clip_curated_motion", ids=[clip_id])}
            try:
                if old:  # before the write: if it fails, the old hash makes a retry redo all
                    store.write(
                        "clip_prune_auto_motion",
                        clip=clip_id,
                        keep=[name for name, _ in result.patterns],
                    )
                write_batch(store, _batch_for(result, curated, missing_patterns), embedder)
            except KdcvgError as e:
                summary.failed.append((path, f"{path}: not written ({str(e).splitlines()[0]})"))
            else:
                missing_patterns -= {name for name, _ in result.patterns}
                summary.ingested.append(clip_id)
        if progress:
            progress(path, result.frames)
    return summary
