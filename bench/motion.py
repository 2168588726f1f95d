"""Motion descriptor speed and clip-ingest memory.

`speed` (default): frames analysed per second by the descriptor pipeline and its
ratio to the floor, OpenCV's Farneback alone on the same grey frames. Frames are
decoded once, before timing, so decoding is in neither number; the two are timed
alternately in each repeat and the ratio is the median of the per-repeat ratios
(timings on shared machines swing, ratios from one run hold).

`memory`: makes one-minute 720p H.264 files in a temporary folder, runs the real
`kdcvg clips ingest FOLDER --workers N --db TMP` as a child process, and samples
the resident memory of it and all its descendants (spawn workers, the embedded
graph server's JVM lives in the parent) every 0.1 s; the peak of the sum is the
number. `--distinct` files are encoded, the rest are hard links to them under
other names (distinct clip ids, same bytes: each is decoded and analysed again).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/motion.py speed [--video PATH] [--repeats 9]
    HF_HUB_OFFLINE=1 .venv/bin/python bench/motion.py memory [--files 100] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from kdcvg.media.motion import DEFAULT_SETTINGS, analysis_rate, describe_frames, farneback, to_grey
from kdcvg.media.video import iter_frames, probe, write_mp4

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT / ".." / "shared" / "data" / "clips"
DEFAULT_VIDEOS = [CLIPS / "cockatoo-handheld.mp4", CLIPS / "water-pour.mp4"]


def speed(videos: list[Path], repeats: int) -> None:
    for video in videos:
        info = probe(video)
        rate = analysis_rate(info.duration_s, info.fps)
        frames = list(iter_frames(video, sample_fps=rate, max_side=DEFAULT_SETTINGS.max_side))
        greys = [to_grey(f) for f in frames]
        describe_frames(frames, rate)  # warm caches and lazy imports
        bare, full, ratios = [], [], []
        for _ in range(repeats):
            t = time.perf_counter()
            for a, b in zip(greys, greys[1:], strict=False):
                farneback(a, b)
            bare.append(time.perf_counter() - t)
            t = time.perf_counter()
            describe_frames(frames, rate)
            full.append(time.perf_counter() - t)
            ratios.append(full[-1] / bare[-1])
        b, f = statistics.median(bare), statistics.median(full)
        h, w = frames[0].shape[:2]
        print(f"video {video.name}: {len(frames)} frames of {w}x{h} at {rate:.1f} fps")
        print(f"  bare Farneback      : {len(frames) / b:8.1f} frames/s")
        print(f"  descriptor pipeline : {len(frames) / f:8.1f} frames/s")
        print(
            f"  ratio pipeline/bare : {statistics.median(ratios):8.2f}x median of {repeats} "
            f"(min {min(ratios):.2f}, max {max(ratios):.2f}; target <= 1.3x)"
        )


def _minute_of_720p(seed: int, fps: int) -> Iterator[np.ndarray]:
    """60 s of 1280x720 frames: a textured world panning and drifting (real motion to analyse)."""
    import cv2

    rng = np.random.default_rng(seed)
    world = cv2.resize(
        (rng.random((90, 160, 3)) * 255).astype(np.uint8), (2560, 1440), cv2.INTER_CUBIC
    )
    for i in range(60 * fps):
        t = i / fps
        x = int(640 + 600 * np.sin(t / 7 + seed))
        y = int(360 + 300 * np.sin(t / 11 + seed))
        yield world[y : y + 720, x : x + 1280]


def _tree_rss(proc: object) -> int:
    import psutil

    total = 0
    for p in [proc, *proc.children(recursive=True)]:  # type: ignore[attr-defined]
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def memory(files: int, distinct: int, workers: int, fps: int) -> None:
    import psutil

    with tempfile.TemporaryDirectory(prefix="kdcvg-bench-") as tmp:
        folder = Path(tmp) / "footage"
        folder.mkdir()
        t = time.perf_counter()
        made = [folder / f"minute-{i:03d}.mp4" for i in range(min(distinct, files))]
        for i, path in enumerate(made):
            write_mp4(path, _minute_of_720p(i, fps), fps)
        for i in range(len(made), files):
            os.link(made[i % len(made)], folder / f"minute-{i:03d}.mp4")
        size = sum(p.stat().st_size for p in made) / len(made) / 2**20
        print(
            f"{files} files of 60 s 1280x720 at {fps} fps ({len(made)} encoded, "
            f"{size:.1f} MiB each) made in {time.perf_counter() - t:.0f} s"
        )
        cmd = [
            str(Path(sys.executable).parent / "kdcvg"),
            "clips",
            "ingest",
            str(folder),
            "--workers",
            str(workers),
            "--db",
            str(Path(tmp) / "ackb"),
        ]
        t = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        proc = psutil.Process(child.pid)
        peak = 0
        while child.poll() is None:
            try:
                peak = max(peak, _tree_rss(proc))
            except psutil.Error:
                pass
            time.sleep(0.1)
        out = child.stdout.read() if child.stdout else ""
        wall = time.perf_counter() - t
        print(f"kdcvg clips ingest --workers {workers}: exit {child.returncode} in {wall:.0f} s")
        print("  " + "\n  ".join(line for line in out.splitlines() if line.strip())[-2000:])
        print(f"  peak RSS of the process tree : {peak / 2**20:8.0f} MiB (target < 2048 MiB)")
        print(f"  per file                     : {wall / files:8.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode")
    sp = sub.add_parser("speed", help="descriptor frames/s and ratio to bare Farneback")
    sp.add_argument("--video", type=Path, action="append", help="repeatable")
    sp.add_argument("--repeats", type=int, default=9)
    mp = sub.add_parser("memory", help="peak RSS of `clips ingest` over one-minute 720p files")
    mp.add_argument("--files", type=int, default=100)
    mp.add_argument("--distinct", type=int, default=2, help="files encoded; the rest are links")
    mp.add_argument("--workers", type=int, default=2)
    mp.add_argument("--fps", type=int, default=24)
    args = parser.parse_args()
    if args.mode == "memory":
        memory(args.files, args.distinct, args.workers, args.fps)
    else:
        speed(getattr(args, "video", None) or DEFAULT_VIDEOS, getattr(args, "repeats", 9))


if __name__ == "__main__":
    main()
