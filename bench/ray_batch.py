"""Batch generation on Ray against `--workers 2`: jobs per minute on the same jobs.

A temporary embedded ACKB (the generation tests' product, two selling points, real
synthetic clips) and N six-second 720x1280 compose jobs, metrics included. Each round
runs the same job file into a fresh folder with `workers=2` (spawned processes) and
with a local Ray runtime of 2 CPUs (`--ray auto --workers 2`), in alternating order.
The Ray time includes starting and stopping the runtime, as a user's command does;
Ray's start-and-stop alone is measured too (an empty run). Printed: seconds and jobs
per minute per round and mode, the median ratio Ray / workers.

Run: HF_HUB_OFFLINE=1 .venv/bin/python bench/ray_batch.py [--jobs 20] [--rounds 2]
      [--transfer path|object-store]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from kdcvg.config import StoreConfig
    from kdcvg.generation.batch import run_batch
    from kdcvg.generation.ray_batch import RaySettings, ray_runtime
    from kdcvg.generation.references import CuratedReferences
    from kdcvg.graph.store import open_store
    from tests.generation.adkit import PRODUCT, SP_COLD, SP_POUR, build_ackb

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--transfer", default="path", choices=("path", "object-store"))
    args = parser.parse_args()
    settings = RaySettings(num_cpus=2, transfer=args.transfer)
    with tempfile.TemporaryDirectory(prefix="kb", dir="/tmp") as tmp:
        folder = Path(tmp)
        job_file = folder / "jobs.jsonl"
        job_file.write_text("".join(json.dumps({"id": f"j{i:02d}", "product": PRODUCT,
                                                "selling_points": [SP_POUR, SP_COLD], "seed": i})
                                    + "\n" for i in range(args.jobs)))
        started = time.perf_counter()
        with ray_runtime(settings):
            pass
        ray_start_stop = time.perf_counter() - started
        print(f"local Ray runtime (2 CPUs) start + stop alone: {ray_start_stop:.1f} s")
        ratios = []
        with open_store(StoreConfig(db=folder / "ackb")) as store:
            build_ackb(store, folder)
            source = CuratedReferences(store)
            for r in range(args.rounds):
                seconds = {}
                order = ("workers", "ray") if r % 2 == 0 else ("ray", "workers")
                for mode in order:
                    out = folder / f"out-{mode}-{r}"
                    started = time.perf_counter()
                    summary = run_batch(store, job_file, out, workers=2, source=source,
                                        ray=settings if mode == "ray" else None)
                    seconds[mode] = time.perf_counter() - started
                    assert summary.count("done") == args.jobs, summary.jobs
                    print(f"round {r + 1}, {mode:7s}: {args.jobs} jobs in {seconds[mode]:.1f} s "
                          f"= {60 * args.jobs / seconds[mode]:.1f} jobs/min")
                ratios.append(seconds["workers"] / seconds["ray"])
    print(f"--ray auto / --workers 2 throughput, median of {len(ratios)}: "
          f"{statistics.median(ratios):.2f}x (transfer {args.transfer})")


if __name__ == "__main__":
    main()
