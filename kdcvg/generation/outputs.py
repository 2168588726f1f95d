"""An ad's files: the MP4, a poster JPEG and a JSON sidecar with full provenance.

For `ad.mp4` the front end writes `ad.jpg` (poster) and `ad.json` (sidecar). Each
goes to a temporary name and is renamed when complete; the sidecar comes last, so
its presence means the whole ad is finished, and any failure removes whatever
this ad had written so far. Frames of any size are fitted to the requested size
(smart crop plus padding, the same as compose), so backends that return small
square frames need not care about formats.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import platform
import queue
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

from kdcvg.errors import GenerationError, VideoError
from kdcvg.generation.base import GeneratedVideo
from kdcvg.generation.framing import crop_window, fit_frame
from kdcvg.media import video
from kdcvg.retrieval.scenes import Scene

SIDECAR_SCHEMA = "kdcvg.ad/1"
PACKAGES = ("kdcvg", "numpy", "av", "opencv-python-headless", "pillow", "torch", "diffusers",
            "transformers", "torchmetrics", "neo4j", "arcadedb-embedded")
POSTER_AT = 0.4  # the poster is the frame this far into the ad
THUMB_WIDTH = 160
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class NoSpaceError(GenerationError):
    """An ad's file could not be written because its file system is full (or over quota).

    Nothing of the ad is left behind; later ads in the same folder would fail the same way.
    """


def write_error(path: Path, error: OSError) -> GenerationError:
    """One line for a file that could not be written; a `NoSpaceError` when the disk is full."""
    reason = error.strerror or str(error)
    if error.errno in _NO_SPACE:
        return NoSpaceError(f"cannot write {path}: {reason}; free space there (or choose "
                            "another --out) and run again")
    return GenerationError(f"cannot write {path} ({reason})")


@dataclass(frozen=True)
class OutputPaths:
    """The three files of one ad."""

    video: Path
    poster: Path
    sidecar: Path

    @classmethod
    def for_video(cls, out: str | os.PathLike[str]) -> OutputPaths:
        p = Path(out)
        return cls(p, p.with_suffix(".jpg"), p.with_suffix(".json"))

    def all(self) -> tuple[Path, Path, Path]:
        return self.video, self.poster, self.sidecar


def check_output(out: str | os.PathLike[str]) -> OutputPaths:
    """Check that an ad can be written at `out` before any work is done.

    Raises:
        GenerationError: not an .mp4 name, the folder is missing or not writable.
    """
    p = Path(out)
    if p.suffix.lower() != ".mp4":
        raise GenerationError(f"output {p}: the file name must end in .mp4")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise GenerationError(f"output folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise GenerationError(f"output folder {folder} is not writable; choose another --out")
    if p.is_dir():
        raise GenerationError(f"output {p} is a folder; give a file name ending in .mp4")
    return OutputPaths.for_video(p)


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that shape the output (None: not installed)."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = None
    versions["python"] = platform.python_version()
    return versions


def _fitted(frames: Iterator[np.ndarray], size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Frames at exactly `size`; a crop window fixed on the first frame keeps framing steady."""
    window: tuple[float, float, float, float] | None = None
    for frame in frames:
        h, w = frame.shape[:2]
        if (w, h) == size:
            yield frame
            continue
        if window is None:
            window = tuple(float(v) for v in crop_window([frame], (w, h), size))  # type: ignore[assignment]
        yield fit_frame(frame, size, window=window)


def _prefetch(frames: Iterator[np.ndarray], depth: int = 6) -> Iterator[np.ndarray]:
    """Render frames in a second thread while the encoder works: both release the GIL."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for f in frames:
                if stop.is_set():
                    return
                q.put(f)
            q.put(done)
        except BaseException as e:  # handed to the consumer, raised there
            q.put(e)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)


def encode(
    generated: GeneratedVideo, paths: OutputPaths, size: tuple[int, int]
) -> dict[str, Any]:
    """Write the MP4 and the poster of a generated video; returns what was written.

    Raises:
        GenerationError: the backend yielded a wrong number of frames or bad frames.
    """
    poster_index = int(generated.num_frames * POSTER_AT)
    poster: list[np.ndarray] = []
    count = 0

    def tap() -> Iterator[np.ndarray]:
        nonlocal count
        for frame in _prefetch(_fitted(generated.frames, size)):
            if count == poster_index:
                poster.append(frame.copy())
            count += 1
            yield frame

    try:
        written = video.write_mp4(paths.video, tap(), generated.fps)
    except VideoError as e:
        if isinstance(e.__cause__, OSError) and e.__cause__.errno in _NO_SPACE:
            raise write_error(paths.video, e.__cause__) from e
        raise GenerationError(str(e)) from e
    if written != generated.num_frames:
        paths.video.unlink(missing_ok=True)
        raise GenerationError(
            f"backend promised {generated.num_frames} frames but yielded {written}"
        )
    blank = np.zeros((size[1], size[0], 3), np.uint8)
    try:
        video.write_jpeg(paths.poster, poster[0] if poster else blank)
    except OSError as e:
        raise write_error(paths.poster, e) from e
    return {"frames": written, "fps": generated.fps, "size": list(size)}


def thumbnail(uri: str) -> str | None:
    """A small JPEG of a clip's first frame as a data URI (None when unreadable)."""
    import io

    from PIL import Image

    try:
        frame = next(video.iter_frames(uri, max_side=THUMB_WIDTH * 2, max_frames=1))
    except (VideoError, StopIteration):
        return None
    img = Image.fromarray(frame)
    img.thumbnail((THUMB_WIDTH, THUMB_WIDTH))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def scenes_record(
    scenes: list[Scene] | tuple[Scene, ...], thumbs: bool = True
) -> list[dict[str, Any]]:
    """The scenes and their retrieved references, as written into the sidecar."""
    out = []
    for scene in scenes:
        refs = []
        for ref in scene.references:
            row = asdict(ref)
            row["motion_patterns"] = [list(p) for p in ref.motion_patterns]
            row["distortions"] = list(ref.distortions)
            row.pop("motion")
            row["has_motion"] = ref.motion is not None
            if thumbs:
                row["thumbnail"] = thumbnail(ref.uri)
            refs.append(row)
        out.append({"text": scene.text, "selling_point_id": scene.selling_point_id,
                    "references": refs})
    return out


def write_sidecar(path: Path, record: dict[str, Any]) -> None:
    """Write the sidecar JSON atomically (temporary name, then rename).

    Raises:
        GenerationError: it cannot be written (`NoSpaceError` when the disk is full).
    """
    tmp = path.with_name(f".{path.name}.partial")
    try:
        tmp.write_text(json.dumps(record, indent=2, sort_keys=False, default=str) + "\n",
                       encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        raise write_error(path, e) from e
    finally:
        tmp.unlink(missing_ok=True)


def write_ad(paths: OutputPaths, video_bytes: bytes, poster_bytes: bytes,
             record: dict[str, Any]) -> None:
    """Write an ad rendered elsewhere (a Ray worker) from its bytes, as `render_job` would.

    Each file goes to a temporary name and is renamed when complete; the sidecar comes
    last. A failure removes whatever this ad had written; an earlier ad at this name
    survives a failure before its MP4 was replaced.

    Raises:
        GenerationError: a file cannot be written (`NoSpaceError` when the disk is full).
    """
    replaced = False
    try:
        for path, data in ((paths.video, video_bytes), (paths.poster, poster_bytes)):
            tmp = path.with_name(f".{path.name}.partial")
            try:
                tmp.write_bytes(data)
                os.replace(tmp, path)
            except OSError as e:
                raise write_error(path, e) from e
            replaced = True
        write_sidecar(paths.sidecar, record)
    except BaseException:
        remove_partial(paths, finished=replaced)
        raise


def remove_partial(paths: OutputPaths, finished: bool = True) -> None:
    """Remove what an unfinished ad wrote, so that nothing half-done remains.

    Args:
        paths: the ad's files.
        finished: whether its MP4 had already been renamed into place (then the poster and
            sidecar beside it belong to this ad too and go with it).
    """
    for p in paths.all():
        if finished:
            p.unlink(missing_ok=True)
        p.with_name(f".{p.name}.partial").unlink(missing_ok=True)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
