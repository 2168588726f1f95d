"""Motion descriptor speed: frames analysed per second, and the ratio to bare Farneback.

The floor is OpenCV's Farneback on the same grey frames alone; the descriptor
pipeline adds RGB->grey, the per-pair statistics and the aggregation. Frames are
decoded once, before timing, so decoding is in neither number. Medians of
`--repeats` runs (timings on shared machines swing).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/motion.py [--video PATH] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from kdcvg.generation.video import iter_frames, probe
from kdcvg.graph.motion import DEFAULT_SETTINGS, analysis_rate, describe_frames, farneback, to_grey

DEFAULT_VIDEO = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / "clips"
    / "cockatoo-handheld.mp4"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    info = probe(args.video)
    rate = analysis_rate(info.duration_s, info.fps)
    frames = list(iter_frames(args.video, sample_fps=rate, max_side=DEFAULT_SETTINGS.max_side))
    greys = [to_grey(f) for f in frames]
    bare, full = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        for a, b in zip(greys, greys[1:], strict=False):
            farneback(a, b)
        bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        describe_frames(frames, rate)
        full.append(time.perf_counter() - t)
    b, f = statistics.median(bare), statistics.median(full)
    print(
        f"video {args.video.name}: {len(frames)} frames of "
        f"{frames[0].shape[1]}x{frames[0].shape[0]} "
        f"at {rate:.1f} fps"
    )
    print(f"bare Farneback      : {len(frames) / b:8.1f} frames/s")
    print(f"descriptor pipeline : {len(frames) / f:8.1f} frames/s")
    print(f"ratio pipeline/bare : {f / b:8.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()
