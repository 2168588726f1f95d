"""Generation speed: compose against the encoder floor, and batch workers 2 against 1.

1. compose renders a 15 s 1080x1920 30 fps ad (three scenes from real clips when
   ../shared is present, synthetic ones otherwise) and writes it through the outputs
   layer; the baseline encodes the same number of ready-made 1080x1920 frames with no
   compositing (the encoder floor). Printed: frames/s, the real-time factor, the ratio
   to the floor.
2. A batch of 20 six-second 9:16 jobs on a temporary embedded ACKB, `--workers 2`
   against `--workers 1`, metrics included: the speed-up ratio.
Peak memory (this process and its children, max RSS) is printed at the end.

Run: HF_HUB_OFFLINE=1 .venv/bin/python bench/generate.py [--jobs 20] [--skip-batch]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED_CLIPS = ROOT.parent / "shared" / "data" / "clips"
sys.path.insert(0, str(ROOT))


def _clips(folder: Path) -> list[Path]:
    names = ("water-pour.mp4", "bottles-on-table.mp4", "produce-conveyor.gif")
    if all((SHARED_CLIPS / n).exists() for n in names):
        return [SHARED_CLIPS / n for n in names]
    from tests.generation.adkit import write_pan_clip, write_still_clip

    return [write_pan_clip(folder / "pan.mp4", seconds=6), write_still_clip(folder / "still.mp4"),
            write_pan_clip(folder / "pan2.mp4", seconds=6, speed=2)]


def bench_compose(folder: Path) -> dict[str, float]:
    from kdcvg.generation.base import AdJob
    from kdcvg.generation.compose import ComposeGenerator
    from kdcvg.generation.outputs import OutputPaths, encode
    from kdcvg.media import video
    from kdcvg.retrieval.scenes import ProductInfo, Reference, Scene

    clips = _clips(folder)
    texts = ("Pours smoothly, never spills a drop", "Glass bottles, 100% recyclable",
             "Fresh from the farm to the shelf")
    scenes = [Scene(t, f"sp{i}", (Reference(f"c{i}", str(c), "", 1.0),))
              for i, (t, c) in enumerate(zip(texts, clips, strict=True))]
    job = AdJob("p1", tuple(s.selling_point_id or "" for s in scenes), "9:16", 15, seed=0)
    size = (1080, 1920)
    product = ProductInfo("p1", "AquaPure Bottle", "AquaPure")

    started = time.perf_counter()
    generated = ComposeGenerator().generate(job, product, scenes, size)
    encode(generated, OutputPaths.for_video(folder / "compose.mp4"), size)
    compose_s = time.perf_counter() - started
    frames = generated.num_frames

    # the floor: the same number of frames, already made, straight into the encoder
    rng = np.random.default_rng(0)
    base = np.ascontiguousarray(np.repeat(np.repeat(
        rng.integers(0, 255, (120, 68, 3), dtype=np.uint8), 16, axis=0), 16, axis=1)[:1920, :1080])
    shifted = [np.roll(base, 8 * i, axis=1) for i in range(30)]
    started = time.perf_counter()
    video.write_mp4(folder / "floor.mp4", (shifted[i % 30] for i in range(frames)), 30.0)
    floor_s = time.perf_counter() - started
    return {"frames": frames, "compose_s": compose_s, "compose_fps": frames / compose_s,
            "realtime_factor": (frames / 30.0) / compose_s, "floor_s": floor_s,
            "floor_fps": frames / floor_s, "compose_over_floor": compose_s / floor_s}


def bench_batch(folder: Path, jobs: int) -> dict[str, float]:
    from kdcvg.config import StoreConfig
    from kdcvg.generation.batch import run_batch
    from kdcvg.generation.references import CuratedReferences
    from kdcvg.graph.store import open_store
    from tests.generation.adkit import PRODUCT, SP_COLD, SP_POUR, build_ackb

    job_file = folder / "jobs.jsonl"
    job_file.write_text("".join(json.dumps({"id": f"j{i:02d}", "product": PRODUCT,
                                            "selling_points": [SP_POUR, SP_COLD], "seed": i})
                                + "\n" for i in range(jobs)))
    times = {}
    with open_store(StoreConfig(db=folder / "ackb")) as store:
        build_ackb(store, folder)
        for workers in (1, 2):
            started = time.perf_counter()
            summary = run_batch(store, job_file, folder / f"out{workers}", workers=workers,
                                source=CuratedReferences(store))
            times[workers] = time.perf_counter() - started
            assert summary.count("done") == jobs, summary.jobs
    return {"jobs": jobs, "workers1_s": times[1], "workers2_s": times[2],
            "speedup": times[1] / times[2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--skip-batch", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        c = bench_compose(folder)
        print(f"compose 15 s 1080x1920 ad: {c['frames']} frames in {c['compose_s']:.1f} s = "
              f"{c['compose_fps']:.1f} frames/s, {c['realtime_factor']:.2f}x real time")
        print(f"encoder floor (same frames, no compositing): {c['floor_s']:.1f} s = "
              f"{c['floor_fps']:.1f} frames/s; compose / floor = {c['compose_over_floor']:.2f}")
        if not args.skip_batch:
            b = bench_batch(folder, args.jobs)
            print(f"batch of {b['jobs']} 6 s 720x1280 jobs (metrics included): --workers 1 "
                  f"{b['workers1_s']:.1f} s, --workers 2 {b['workers2_s']:.1f} s, speed-up "
                  f"{b['speedup']:.2f}x")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak memory: {own:.0f} MiB (this process), {children:.0f} MiB (largest worker)")


if __name__ == "__main__":
    main()
