"""Video decoding and encoding: the one place that touches video (and still image) files.

PyAV ships its own FFmpeg libraries, so no system ffmpeg is needed. Decoding is
streaming (one frame in memory at a time); priors, analysers and renderers
receive RGB uint8 arrays of shape (H, W, 3).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from kdcvg.errors import VideoError

ENCODER_THREADS = 4
VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".mkv", ".gif", ".avi", ".m4v")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")  # stills: product photos
MAX_IMAGE_PIXELS = 64 * 2**20  # a still larger than this is refused (decompression bombs)


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, read from its container."""

    path: str
    duration_s: float
    fps: float
    width: int
    height: int
    frame_count: int  # estimated from duration and fps when the container does not say


def _open(path: str | os.PathLike[str]):  # type: ignore[no-untyped-def]
    import av

    p = Path(path)
    if not p.exists():
        raise VideoError(f"{p}: no such file")
    if p.is_dir():
        raise VideoError(f"{p}: is a folder, expected a video file")
    if p.stat().st_size == 0:
        raise VideoError(f"{p}: file is empty (0 bytes)")
    try:
        container = av.open(str(p))
    except (av.error.FFmpegError, UnicodeDecodeError, OSError) as e:
        raise VideoError(f"{p}: not a readable video ({e})") from e
    if not container.streams.video:
        container.close()
        raise VideoError(f"{p}: has no video stream")
    return container


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Read duration, fps, size and frame count without decoding frames.

    Raises:
        VideoError: the file is missing, empty, unreadable or has no video stream.
    """
    container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        fps = float(rate)
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        else:
            duration = 0.0
        frames = stream.frames or int(round(duration * fps))
        if duration <= 0 and frames:
            duration = frames / fps
        width, height = stream.codec_context.width, stream.codec_context.height
    finally:
        container.close()
    if width <= 0 or height <= 0:
        raise VideoError(f"{path}: video stream has no frame size")
    return VideoInfo(str(path), duration, fps, width, height, frames)


def iter_frames(
    path: str | os.PathLike[str],
    *,
    sample_fps: float | None = None,
    max_side: int | None = None,
    max_frames: int | None = None,
) -> Iterator[np.ndarray]:
    """Decode frames one at a time as RGB uint8 arrays (H, W, 3).

    Args:
        path: video file.
        sample_fps: keep about this many frames per second (None: every frame).
        max_side: downscale so that the longer side is at most this (None: keep size).
        max_frames: stop after this many yielded frames.

    Raises:
        VideoError: the file cannot be opened or decoding fails mid-way.
    """
    import av

    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        width, height = stream.codec_context.width, stream.codec_context.height
        out_w, out_h = _scaled_size(width, height, max_side)
        next_t = 0.0
        yielded = 0
        for frame in container.decode(stream):
            if sample_fps is not None:
                t = float(frame.time) if frame.time is not None else yielded / sample_fps
                if t + 1e-6 < next_t:
                    continue
                next_t = max(next_t + 1.0 / sample_fps, t)
            if (out_w, out_h) != (frame.width, frame.height):
                frame = frame.reformat(width=out_w, height=out_h)
            yield frame.to_ndarray(format="rgb24")
            yielded += 1
            if max_frames is not None and yielded >= max_frames:
                return
    except av.error.FFmpegError as e:
        raise VideoError(f"{path}: decoding failed ({e})") from e
    finally:
        container.close()


def _scaled_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    # even sizes keep every pixel format happy
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def write_mp4(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    fps: float,
    *,
    crf: int = 20,
    preset: str = "veryfast",
) -> int:
    """Encode RGB uint8 frames (H, W, 3) as H.264/yuv420p MP4, atomically.

    Frames go to a temporary name beside `path`, renamed on success, so a killed
    run never leaves a half-written file under the final name. The encoder's
    thread count and options are fixed, so the same frames give the same bytes.

    Returns:
        The number of frames written.

    Raises:
        VideoError: no frames, odd or changing frame size, or the encoder failed.
    """
    import av

    out = Path(path)
    tmp = out.with_name(f".{out.name}.partial")
    written = 0
    try:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = None
            for frame in frames:
                if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                    raise VideoError(
                        f"{out}: frames must be uint8 (H, W, 3), got {frame.dtype} {frame.shape}"
                    )
                h, w = frame.shape[:2]
                if stream is None:
                    if h % 2 or w % 2:
                        raise VideoError(f"{out}: H.264 needs even frame sizes, got {w}x{h}")
                    stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
                    # a fixed thread count: x264 is deterministic for a given count, so the
                    # bytes do not depend on the machine's cores (and 4 threads are ~3x faster)
                    stream.thread_count = ENCODER_THREADS
                    # mbtree off: x264's lookahead otherwise makes the bytes vary between runs
                    stream.options = {"crf": str(crf), "preset": preset, "tune": "fastdecode",
                                      "x264-params": "mbtree=0"}
                elif (w, h) != (stream.width, stream.height):
                    raise VideoError(
                        f"{out}: frame {written} is {w}x{h}, expected {stream.width}x{stream.height}"
                    )
                video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                for packet in stream.encode(video_frame):
                    container.mux(packet)
                written += 1
            if stream is None:
                raise VideoError(f"{out}: no frames to write")
            for packet in stream.encode():
                container.mux(packet)
        os.replace(tmp, out)
    except av.error.FFmpegError as e:
        raise VideoError(f"{out}: encoding failed ({e})") from e
    finally:
        if tmp.exists():
            tmp.unlink()
    return written


def write_jpeg(path: str | os.PathLike[str], image: np.ndarray, quality: int = 88) -> None:
    """Write an RGB uint8 image (H, W, 3) as JPEG, atomically."""
    from PIL import Image

    out = Path(path)
    tmp = out.with_name(f".{out.name}.partial")
    Image.fromarray(image).save(tmp, format="JPEG", quality=quality)
    os.replace(tmp, out)


def contact_sheet(frames: list[np.ndarray], columns: int = 4, tile_width: int = 160) -> np.ndarray:
    """Tile frames into one RGB image (a keyframe strip or a review sheet)."""
    import cv2

    if not frames:
        raise VideoError("contact sheet needs at least one frame")
    h, w = frames[0].shape[:2]
    tile_h = max(2, int(round(tile_width * h / w)))
    tiles = [cv2.resize(f, (tile_width, tile_h), interpolation=cv2.INTER_AREA) for f in frames]
    rows = (len(tiles) + columns - 1) // columns
    sheet = np.zeros((rows * tile_h, columns * tile_width, 3), dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        sheet[r * tile_h:(r + 1) * tile_h, c * tile_width:(c + 1) * tile_width] = tile
    return sheet


def read_image(path: str | os.PathLike[str], max_side: int | None = None) -> np.ndarray:
    """Decode a still image (jpg, png, webp) fully into RGB uint8 (H, W, 3).

    Args:
        path: the image file.
        max_side: downscale so that the longer side is at most this (None: keep size).

    Raises:
        VideoError: missing, empty, not an image, truncated, or over `MAX_IMAGE_PIXELS`.
    """
    import warnings

    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise VideoError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise VideoError(f"{p}: file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as img:
                if img.width * img.height > MAX_IMAGE_PIXELS:
                    raise VideoError(f"{p}: image is {img.width}x{img.height}, over the "
                                     f"{MAX_IMAGE_PIXELS} pixel limit")
                img.load()  # decodes every byte: a truncated file fails here
                rgb = img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as e:
        raise VideoError(f"{p}: not a readable image ({e})") from e
    if max_side is not None and max(rgb.size) > max_side:
        scale = max_side / max(rgb.size)
        rgb = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))),
                         Image.Resampling.LANCZOS)
    return np.asarray(rgb)
